package vhost

import "github.com/moreweb/moreweb/handlers"

// Table routes one listener's requests to its sites by host. It is built
// once per config snapshot and never changed, so connections read it
// without locks.
type Table struct {
	exact    map[string]*Site
	wildcard map[string]*Site // "*.example.org" is keyed "example.org"
	def      *Site            // nil when the listener has no default
}

// maxHost is the longest name a site can claim (RFC 1035 §2.3.4: 253
// characters without the trailing dot). A longer host matches no name, so
// it needs no room in the lookup buffer.
const maxHost = 253

// Route is Lookup as the connection loops want it: the site's handler and
// its name for the log. It makes *Table a listener.Router.
func (t *Table) Route(host []byte) (h handlers.Handler, site string, ok bool) {
	s, ok := t.Lookup(host)
	if !ok {
		return nil, "", false
	}
	return s.Handler, s.Name, true
}

// Lookup returns the site for a request's host: the Host header's, or the
// absolute-form target's, as the parser chose it. The match ignores case, a
// port and one trailing dot. An exact name beats a wildcard, a longer
// wildcard suffix beats a shorter one, and anything else goes to the
// listener's default. false means there is no default: the listener answers
// 421 Misdirected Request (RFC 9110 §15.5.20).
//
// Lookup runs for every request and does not allocate.
func (t *Table) Lookup(host []byte) (*Site, bool) {
	var buf [maxHost]byte
	name, ok := normalize(&buf, host)
	if ok && len(name) > 0 {
		if s := t.exact[string(name)]; s != nil {
			return s, true
		}
		// The suffix after each dot, longest first, so that for
		// a.b.example.org "*.b.example.org" beats "*.example.org". The
		// name itself is never tried: "*.example.org" is not for
		// example.org.
		for i, c := range name {
			if c != '.' {
				continue
			}
			if s := t.wildcard[string(name[i+1:])]; s != nil {
				return s, true
			}
		}
	}
	return t.def, t.def != nil
}

// normalize lower-cases host into buf without its port and one trailing
// dot. ok is false when the name cannot be one a site claims (too long), in
// which case only the default applies.
func normalize(buf *[maxHost]byte, host []byte) ([]byte, bool) {
	host = stripPort(host)
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	if len(host) > len(buf) {
		return nil, false
	}
	for i, c := range host {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(host)], true
}

// stripPort removes ":port" from host (RFC 9110 §7.2: Host is uri-host
// [":" port]). The colons inside an IP-literal ("[::1]:8080") are not a
// port's; the literal keeps its brackets and, as sites claim DNS names
// only, goes to the default.
func stripPort(host []byte) []byte {
	if len(host) > 0 && host[0] == '[' {
		for i, c := range host {
			if c == ']' {
				return host[:i+1]
			}
		}
		return host
	}
	for i := len(host) - 1; i >= 0; i-- {
		switch c := host[i]; {
		case c == ':':
			return host[:i]
		case c < '0' || c > '9':
			return host
		}
	}
	return host
}
