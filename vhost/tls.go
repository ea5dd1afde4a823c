package vhost

import (
	"crypto/tls"
	"strings"

	"github.com/moreweb/moreweb/handlers"
)

// CertSource gives a site's certificate for a TLS handshake: a pair of
// files kept live, or certificates obtained by ACME.
type CertSource interface {
	// Certificate returns the certificate to present to hello; nil and an
	// error when there is none (yet), which fails the handshake.
	Certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error)
}

// Certificate chooses the certificate of a handshake the way a request's
// site is chosen: the ClientHello's SNI routed like a Host (exact, longest
// wildcard, the default site), the default site's when there is no SNI. It
// returns nil, nil when no site fits, which crypto/tls answers with the
// unrecognized_name alert. It makes *Table a listener.Certifier.
func (t *Table) Certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := t.def
	if hello.ServerName != "" {
		s, _ = t.Lookup([]byte(hello.ServerName))
	}
	if s == nil || s.certs == nil {
		return nil, nil
	}
	return s.certs.Certificate(hello)
}

// hsts adds Strict-Transport-Security to the responses sent over TLS only:
// a browser ignores it over plain HTTP (RFC 6797 §8.1), and sending it there
// would tell an active attacker nothing useful but cost every response.
func hsts(value string) handlers.Middleware {
	return func(next handlers.Handler) handlers.Handler {
		return handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
			if r.TLS != nil {
				w.Header().SetCanonical("Strict-Transport-Security", value)
			}
			return next.Serve(w, r)
		})
	}
}

// acmeChallengePrefix is where HTTP-01 challenges are asked for (RFC 8555
// §8.3); they must be answered over plain HTTP, so they are never
// redirected.
const acmeChallengePrefix = "/.well-known/acme-challenge/"

// httpsRedirect answers every request that came over plain HTTP with a 308
// to the same URL over HTTPS: 308 rather than 301 so that a POST stays a
// POST with its body. port returns the port of the site's first TLS
// listener ("" for 443, which the URL leaves out); it is asked per request
// because a listener on port 0 has its port only once it is bound.
func httpsRedirect(port func() string) handlers.Middleware {
	return func(next handlers.Handler) handlers.Handler {
		return handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
			if r.TLS != nil || strings.HasPrefix(string(r.Path), acmeChallengePrefix) {
				return next.Serve(w, r)
			}
			host := stripPort(r.Host) // the plain listener's port is replaced
			if len(host) == 0 {
				return &handlers.Error{Status: 400}
			}
			loc := make([]byte, 0, 8+len(host)+6+len(r.RawPath)+1+len(r.RawQuery))
			loc = append(loc, "https://"...)
			loc = append(loc, host...)
			if p := port(); p != "" && p != "443" {
				loc = append(loc, ':')
				loc = append(loc, p...)
			}
			path := r.RawPath
			if len(path) == 0 || path[0] != '/' {
				path = []byte("/") // "*" or an empty path
			}
			loc = append(loc, path...)
			if len(r.RawQuery) > 0 {
				loc = append(loc, '?')
				loc = append(loc, r.RawQuery...)
			}
			h := w.Header()
			h.SetCanonical("Location", string(loc))
			h.SetCanonical("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(308)
			if r.Method != "HEAD" {
				w.Write([]byte("Moved permanently to HTTPS: " + string(loc) + "\n"))
			}
			return nil
		})
	}
}
