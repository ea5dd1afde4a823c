package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The defaults of a [[vhost.proxy]] table.
const (
	defaultBalance               = "round_robin"
	defaultHealthInterval        = 10 * time.Second
	defaultConnectTimeout        = 5 * time.Second
	defaultResponseHeaderTimeout = 60 * time.Second
)

// proxies decodes a site's [[vhost.proxy]] tables. A proxy path may equal
// a [vhost.paths] key or a redirect's from: the site tries redirects, the
// path map, proxies and the static root in that order, so the earlier one
// wins and there is nothing to report.
func (c *checker) proxies(ts []*table) []Proxy {
	var ps []Proxy
	seen := map[string]int{}
	for i, t := range ts {
		p := Proxy{
			Balance:               defaultBalance,
			HealthInterval:        defaultHealthInterval,
			ConnectTimeout:        defaultConnectTimeout,
			ResponseHeaderTimeout: defaultResponseHeaderTimeout,
		}
		path, pp, ok := t.str("path")
		if ok {
			if msg := checkProxyPath(path); msg != "" {
				c.valueErrorf(pp, "%s", msg)
			} else if j, dup := seen[path]; dup {
				c.valueErrorf(pp, "%q is already proxied by %s", path, t.path[:len(t.path)-1].index(j))
			} else {
				seen[path] = i
			}
			p.Path = path
		} else if !t.has("path") {
			c.keyErrorf(pp, `missing; a proxy needs the path it serves, such as "/api/*" (or "/*" for everything)`)
		}
		p.To = c.upstreams(t)
		p.StripPrefix = t.boolean("strip_prefix", false)
		p.Balance = t.enum("balance", p.Balance, "round_robin", "least_conn", "first")
		if s, hp, ok := t.str("health_path"); ok {
			if msg := checkHealthPath(s); msg != "" {
				c.valueErrorf(hp, "%s", msg)
			} else {
				p.HealthPath = s
			}
		}
		p.HealthInterval = t.duration("health_interval", p.HealthInterval)
		p.ConnectTimeout = t.duration("connect_timeout", p.ConnectTimeout)
		p.ResponseHeaderTimeout = t.duration("response_header_timeout", p.ResponseHeaderTimeout)
		t.unknown()
		ps = append(ps, p)
	}
	return ps
}

// upstreams decodes a proxy's to: at least one backend, each once.
func (c *checker) upstreams(t *table) []Upstream {
	items, present := t.strings("to")
	p := t.path.key("to")
	if !present {
		c.keyErrorf(p, `missing; a proxy needs the backends it forwards to, such as to = ["http://127.0.0.1:3000"]`)
		return nil
	}
	if isMissing(t.m["to"]) {
		c.valueErrorf(p, `must name at least one backend, such as "http://127.0.0.1:3000" or "unix:/run/app.sock"`)
		return nil
	}
	var out []Upstream
	first := map[[2]string]int{}
	for _, it := range items {
		u, msg := parseUpstream(it.s)
		if msg != "" {
			c.valueErrorf(it.path, "%s", msg)
			continue
		}
		k := [2]string{u.Network, u.Address}
		if j, dup := first[k]; dup {
			c.valueErrorf(it.path, "%q is the same backend as to[%d]", it.s, j)
			continue
		}
		first[k] = indexOf(it.path)
		out = append(out, u)
	}
	return out
}

// indexOf is the array index that ends p, as in to[3].
func indexOf(p keyPath) int {
	n, _ := strconv.Atoi(strings.Trim(p[len(p)-1], "[]"))
	return n
}

// checkProxyPath returns why path cannot be matched against a request
// path, or "". Requests are matched on their decoded, cleaned path, so a
// path that cleaning would change could never match.
func checkProxyPath(path string) string {
	body := path // the exact path, or the prefix without its "*"
	if strings.HasSuffix(path, "/*") {
		body = path[:len(path)-1]
	}
	switch {
	case !strings.HasPrefix(path, "/"):
		return fmt.Sprintf("%q must start with \"/\"", path)
	case hasCTL(path, false):
		return "must not contain control characters"
	case strings.Contains(body, "*"):
		return fmt.Sprintf("%q: \"*\" may only end a prefix, as \"/*\"", path)
	case strings.ContainsAny(path, "?#"):
		return fmt.Sprintf("%q: a path has no query or fragment; \"?\" and \"#\" are not matched", path)
	}
	segs := strings.Split(body[1:], "/")
	for i, seg := range segs {
		if seg == "." || seg == ".." || seg == "" && i < len(segs)-1 {
			return fmt.Sprintf("%q never matches: requests are matched on their cleaned path, which has no empty, \".\" or \"..\" segment", path)
		}
	}
	return ""
}

// checkHealthPath returns why s cannot be the target of a health check,
// or "". It goes into a request line as it is, query included; "" turns
// health checks off.
func checkHealthPath(s string) string {
	switch {
	case s == "":
		return ""
	case !strings.HasPrefix(s, "/"):
		return fmt.Sprintf("%q must start with \"/\"", s)
	case hasCTL(s, false) || strings.Contains(s, " "):
		return fmt.Sprintf("%q must not contain spaces or control characters (escape them, as %%20)", s)
	}
	return ""
}

// parseUpstream reads one backend: "http://host:port" or
// "unix:/absolute/path".
func parseUpstream(s string) (Upstream, string) {
	u := Upstream{Name: s}
	if hasCTL(s, false) {
		return u, fmt.Sprintf("%q must not contain control characters", s)
	}
	if len(s) >= 5 && strings.EqualFold(s[:5], "unix:") {
		path := s[5:]
		switch {
		case path == "":
			return u, `"unix:" needs the socket's absolute path, as in "unix:/run/app.sock"`
		case strings.HasPrefix(path, "//"):
			return u, fmt.Sprintf("%q: write the socket's absolute path right after \"unix:\", with one leading slash, as in \"unix:/run/app.sock\"", s)
		case !filepath.IsAbs(path):
			// Not resolved against the config's directory like other
			// paths: a socket belongs to the backend, not to the site.
			return u, fmt.Sprintf("%q: the socket path must be absolute, as in \"unix:/run/app.sock\"", s)
		}
		u.Network, u.Address = "unix", filepath.Clean(path)
		return u, ""
	}

	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		if filepath.IsAbs(s) {
			return u, fmt.Sprintf("%q is not a backend address: write \"unix:%s\" for a socket", s, s)
		}
		if host, port, err := net.SplitHostPort(s); err == nil && host != "" && port != "" {
			return u, fmt.Sprintf("%q has no scheme: write \"http://%s\"", s, s)
		}
		return u, fmt.Sprintf("%q is not http://host:port or unix:/absolute/path", s)
	}
	switch strings.ToLower(scheme) {
	case "http":
	case "https":
		return u, fmt.Sprintf("%q: TLS to backends is not offered; use http:// to a backend on this machine or a trusted network, or a unix: socket", s)
	default:
		return u, fmt.Sprintf("%q: the scheme must be http://, or the address unix:/absolute/path", s)
	}
	if rest == "" {
		return u, fmt.Sprintf("%q needs a host and a port, as in \"http://127.0.0.1:3000\"", s)
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		what := map[byte]string{'/': "a path", '?': "a query", '#': "a fragment"}[rest[i]]
		return u, fmt.Sprintf("%q has %s; a backend is only http://host:port (requests keep their path; strip_prefix removes the proxy's prefix)", s, what)
	}
	if strings.Contains(rest, "@") {
		return u, fmt.Sprintf("%q: a backend address has no user name or password", s)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		if !strings.Contains(rest, ":") || strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]") {
			return u, fmt.Sprintf("%q needs a port, as in \"http://%s:3000\"", s, rest)
		}
		return u, fmt.Sprintf("%q is not http://host:port (an IPv6 address goes in brackets, as in \"http://[::1]:3000\")", s)
	}
	if port == "" {
		return u, fmt.Sprintf("%q needs a port, as in \"http://%s:3000\"", s, strings.TrimSuffix(rest, ":"))
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return u, fmt.Sprintf("%q: the port must be a number from 1 to 65535", s)
	}
	host, msg := backendHost(host, strings.HasPrefix(rest, "["))
	if msg != "" {
		return u, fmt.Sprintf("%q: %s", s, msg)
	}
	u.Network, u.Address = "tcp", net.JoinHostPort(host, strconv.FormatUint(n, 10))
	return u, ""
}

// backendHost checks the host of an http:// backend, bracketed when it was
// written in brackets, and returns it as dialed: an IP address in its
// canonical form, a name in lower case.
func backendHost(host string, bracketed bool) (string, string) {
	if host == "" {
		return "", "needs a host before the port"
	}
	if bracketed {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", fmt.Sprintf("[%s] is not an IPv6 address", host)
		}
		return ip.String(), ""
	}
	// Unbracketed, SplitHostPort has let no IPv6 address through.
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.String(), ""
	}
	if strings.Trim(host, "0123456789.") == "" {
		return "", fmt.Sprintf("%q is not an IPv4 address", host)
	}
	name := strings.ToLower(host)
	// Underscores are not in host names proper, but resolvers take them,
	// and container names (app_web_1) have them.
	if msg := checkDNSName(strings.ReplaceAll(strings.TrimSuffix(name, "."), "_", "u")); msg != "" {
		return "", fmt.Sprintf("%q is neither an IP address nor a host name: %s", host, msg)
	}
	return name, ""
}

// trustedProxies reads [server].trusted_proxies: CIDRs, or bare addresses
// that stand for themselves alone.
func trustedProxies(t *table, key string, def []netip.Prefix) []netip.Prefix {
	items, present := t.strings(key)
	if !present {
		return def
	}
	var out []netip.Prefix
	first := map[netip.Prefix]keyPath{}
	for _, it := range items {
		p, msg := parseTrustedProxy(it.s)
		if msg != "" {
			t.c.valueErrorf(it.path, "%s", msg)
			continue
		}
		if q, dup := first[p]; dup {
			t.c.valueErrorf(it.path, "%q is the same network as %s", it.s, q)
			continue
		}
		first[p] = it.path
		if p.Bits() == 0 {
			t.c.warnf(it.path, "%q trusts every %s client: any of them can set the address it is logged and limited by", it.s, family(p.Addr()))
		}
		out = append(out, p)
	}
	return out
}

// parseTrustedProxy reads "10.0.0.0/8", "fd00::/8" or a bare address.
func parseTrustedProxy(s string) (netip.Prefix, string) {
	addr, bits, isCIDR := strings.Cut(s, "/")
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, fmt.Sprintf("%q is not a CIDR such as \"10.0.0.0/8\" or \"fd00::/8\", nor an IP address", s)
	}
	if ip.Zone() != "" {
		return netip.Prefix{}, fmt.Sprintf("%q: a trusted network has no IPv6 zone", s)
	}
	n := ip.BitLen()
	if isCIDR {
		var err error
		n, err = strconv.Atoi(bits)
		if err != nil || n < 0 || n > ip.BitLen() || bits != strconv.Itoa(n) {
			return netip.Prefix{}, fmt.Sprintf("%q: the prefix length of an %s network is a number from 0 to %d", s, family(ip), ip.BitLen())
		}
	}
	if ip.Is4In6() {
		v4 := ip.Unmap().String()
		if isCIDR {
			if n < 96 {
				return netip.Prefix{}, fmt.Sprintf("%q is an IPv4-mapped IPv6 network; list IPv4 networks in their IPv4 form", s)
			}
			v4 += "/" + strconv.Itoa(n-96)
		}
		return netip.Prefix{}, fmt.Sprintf("%q is an IPv4-mapped IPv6 address; write %q (clients are compared in their IPv4 form)", s, v4)
	}
	p := netip.PrefixFrom(ip, n)
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Sprintf("%q has address bits set past /%d; write %q for the network, or %q for the one address", s, n, m.String(), netip.PrefixFrom(ip, ip.BitLen()).String())
	}
	return p, ""
}

func family(ip netip.Addr) string {
	if ip.Is4() {
		return "IPv4"
	}
	return "IPv6"
}
