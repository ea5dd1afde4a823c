package config

import (
	"crypto/x509"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moreweb/moreweb/certs"
)

// DefaultACMECA is Let's Encrypt's production directory.
const DefaultACMECA = "https://acme-v02.api.letsencrypt.org/directory"

// expiryWarning is how close to its end a certificate file is warned
// about: enough time to renew it by hand before browsers refuse it.
const expiryWarning = 14 * 24 * time.Hour

// now is the clock the expiry warning is judged by; tests move it.
var now = time.Now

func defaultACME(dir string) ACME {
	return ACME{
		CA:         DefaultACMECA,
		Storage:    filepath.Join(dir, "acme"),
		Challenges: []string{"http-01", "tls-alpn-01"},
	}
}

func (c *checker) acme(t *table) ACME {
	a := defaultACME(c.dir)
	if t == nil {
		return a
	}
	if s, p, ok := t.str("email"); ok {
		if s != "" && (!strings.Contains(s, "@") || strings.ContainsAny(s, " \t\r\n<>")) {
			c.valueErrorf(p, "%q is not an email address", s)
		}
		a.Email = s
	}
	if s, p, ok := t.str("ca"); ok {
		if u, err := url.Parse(s); err != nil || u.Scheme != "https" || u.Host == "" {
			c.valueErrorf(p, "%q is not an https:// URL of an ACME directory", s)
		} else {
			a.CA = s
		}
	}
	if s, p, ok := t.str("ca_root"); ok {
		if abs, ok := c.resolve(p, s); ok {
			if msg := checkPEMCertificates(abs); msg != "" {
				c.valueErrorf(p, "%s", msg)
			} else {
				a.CARoot = abs
			}
		}
	}
	if s, p, ok := t.str("storage"); ok {
		if abs, ok := c.resolve(p, s); ok {
			if msg := checkStorage(abs); msg != "" {
				c.valueErrorf(p, "%s", msg)
			} else {
				a.Storage = abs
			}
		}
	}
	if items, present := t.strings("challenges"); present {
		a.Challenges = nil
		seen := map[string]bool{}
		for _, it := range items {
			switch it.s {
			case "http-01", "tls-alpn-01":
				if !seen[it.s] {
					seen[it.s] = true
					a.Challenges = append(a.Challenges, it.s)
				}
			case "dns-01":
				c.valueErrorf(it.path, "dns-01 is not offered; use http-01 or tls-alpn-01")
			default:
				c.valueErrorf(it.path, "%q is not one of http-01 or tls-alpn-01", it.s)
			}
		}
		if len(items) == 0 {
			c.valueErrorf(t.path.key("challenges"), "must name at least one of http-01 or tls-alpn-01")
		}
	}
	t.unknown()
	return a
}

// checkStorage accepts a directory, or a path that names nothing yet: the
// directory is made at start, by then perhaps on another machine than the
// one -t runs on.
func checkStorage(abs string) string {
	fi, err := os.Stat(abs)
	switch {
	case err == nil && !fi.IsDir():
		return abs + " is not a directory"
	case err != nil && !os.IsNotExist(err):
		return describe(abs, err)
	}
	return ""
}

func checkPEMCertificates(abs string) string {
	data, msg := readFile(abs)
	if msg != "" {
		return msg
	}
	if !strings.Contains(string(data), "-----BEGIN CERTIFICATE-----") {
		return abs + ": no PEM certificate in the file"
	}
	return ""
}

// vhostTLS decodes [vhost.tls]. Certificate files are loaded now, so -t
// finds a broken pair, and the pair is checked against the site's hosts.
func (c *checker) vhostTLS(t *table, hosts []item) *VhostTLS {
	if t == nil {
		return nil
	}
	v := &VhostTLS{}
	cert, certPath, hasCert := t.str("cert")
	key, keyPath, hasKey := t.str("key")
	v.ACME = t.boolean("acme", false)
	t.unknown()
	switch {
	case v.ACME && (t.has("cert") || t.has("key")):
		c.keyErrorf(t.path.key("acme"), "give either cert and key, or acme = true, not both")
		return v
	case v.ACME:
		c.checkACMEHosts(t.path.key("acme"), hosts)
		return v
	case !t.has("cert") && !t.has("key"):
		c.keyErrorf(t.path, "needs cert and key (PEM files), or acme = true")
		return v
	case !t.has("key"):
		c.keyErrorf(t.path.key("key"), "missing; cert needs the key file that goes with it")
		return v
	case !t.has("cert"):
		c.keyErrorf(t.path.key("cert"), "missing; key needs the certificate file that goes with it")
		return v
	case !hasCert || !hasKey:
		return v // a type error, reported
	}
	var ok bool
	if v.Cert, ok = c.resolve(certPath, cert); !ok {
		return v
	}
	if v.Key, ok = c.resolve(keyPath, key); !ok {
		return v
	}
	pair, err := certs.LoadPair(v.Cert, v.Key)
	if err != nil {
		p := certPath
		if strings.HasPrefix(err.Error(), v.Key+":") {
			p = keyPath
		}
		c.valueErrorf(p, "%v", err)
		return v
	}
	for _, h := range hosts {
		if !hostCovered(pair.Leaf, h.s) {
			c.warnf(h.path, "the certificate in %s does not cover %q; browsers will refuse it for that name", v.Cert, h.s)
		}
	}
	if certs.Expiring(pair.Leaf, now(), expiryWarning) {
		c.warnf(certPath, "the certificate in %s expires %s; replace it soon", v.Cert, pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return v
}

// hostCovered reports whether leaf is valid for every name host stands
// for: a wildcard host needs the same wildcard in the certificate.
func hostCovered(leaf *x509.Certificate, host string) bool {
	if !strings.HasPrefix(host, "*.") {
		return certs.Covers(leaf, host)
	}
	for _, n := range leaf.DNSNames {
		if strings.EqualFold(n, host) {
			return true
		}
	}
	return false
}

// checkACMEHosts refuses the names no public CA issues for by HTTP-01 or
// TLS-ALPN-01, so a config never sends orders that are bound to fail.
func (c *checker) checkACMEHosts(p keyPath, hosts []item) {
	if len(hosts) == 0 {
		c.valueErrorf(p, "acme needs the site's hosts to order a certificate for; a default site without hosts has none")
	}
	for _, h := range hosts {
		switch n := h.s; {
		case strings.HasPrefix(n, "*."):
			c.valueErrorf(h.path, "acme cannot order %q: a wildcard needs the DNS-01 challenge, which is not offered; list the names, or use cert and key", n)
		case n == "localhost" || strings.HasSuffix(n, ".localhost"):
			c.valueErrorf(h.path, "acme cannot order %q: no public CA issues for localhost names; use cert and key (moreweb dev-cert makes a local one)", n)
		case isIP(n):
			c.valueErrorf(h.path, "acme cannot order %q: an IP address; use cert and key", n)
		case !strings.Contains(n, "."):
			c.valueErrorf(h.path, "acme cannot order %q: a single-label name is not a public domain", n)
		}
	}
}

func isIP(host string) bool {
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil
}

// hsts checks a Strict-Transport-Security value (RFC 6797 §6.1): a field
// value whose max-age directive is required.
func (c *checker) hsts(p keyPath, s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if hasCTL(s, true) {
		c.valueErrorf(p, "%q has control characters; it is sent as a header value", s)
		return ""
	}
	for _, d := range strings.Split(s, ";") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		if strings.EqualFold(strings.TrimSpace(name), "max-age") {
			if n := strings.Trim(strings.TrimSpace(val), `"`); n == "" || strings.Trim(n, "0123456789") != "" {
				c.valueErrorf(p, "max-age must be a number of seconds, as in \"max-age=63072000; includeSubDomains\"")
				return ""
			}
			return s
		}
	}
	c.valueErrorf(p, "needs max-age, as in \"max-age=63072000; includeSubDomains\"")
	return ""
}

// checkTLS runs the TLS checks that compare sites with listeners.
func (c *checker) checkTLS(cfg *Config, vs []vhostSource) {
	tlsListener := map[string]bool{}
	for _, l := range cfg.Listeners {
		tlsListener[l.Name] = l.TLS
	}
	for i, v := range cfg.Vhosts {
		hasTLS := false
		for _, l := range v.Listeners {
			if tlsListener[l] {
				hasTLS = true
				if v.TLS == nil {
					c.keyErrorf(vs[i].table, "listener %q has tls = true, so this site needs a [vhost.tls] table (cert and key, or acme = true)", l)
				}
			}
		}
		if v.HTTPSRedirect && !hasTLS {
			c.valueErrorf(vs[i].redirect, "https_redirect needs the site on a listener with tls = true to send clients to")
		}
	}
}
