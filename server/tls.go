package server

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/moreweb/moreweb/certs"
	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/vhost"
)

// pairSource serves a site's certificate files, kept live by their watcher.
type pairSource struct{ p *certs.Pair }

func (s pairSource) Certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.p.Certificate(), nil
}

// fixedPair is a pair loaded once, for -t, which serves nothing.
type fixedPair struct{ c *tls.Certificate }

func (s fixedPair) Certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.c, nil }

// watchedCerts opens a TLS site's certificate source for a serving
// snapshot: its files, watched for as long as the snapshot lives, or the
// ACME manager's certificates for its names.
func watchedCerts(log *zap.Logger, ref *acmeRef) func(v *config.Vhost) (vhost.CertSource, io.Closer, error) {
	log = log.Named("certs")
	return func(v *config.Vhost) (vhost.CertSource, io.Closer, error) {
		if v.TLS.ACME {
			if ref == nil {
				return nil, nil, errors.New("acme = true but no ACME manager")
			}
			return acmeSource{m: ref.m, hosts: v.Hosts}, nil, nil
		}
		p, err := certs.WatchPair(v.TLS.Cert, v.TLS.Key, log)
		if err != nil {
			return nil, nil, err
		}
		return pairSource{p}, p, nil
	}
}

// loadedCerts is watchedCerts without the watching, for -t.
func loadedCerts(v *config.Vhost) (vhost.CertSource, io.Closer, error) {
	if v.TLS.ACME {
		return checkOnly{}, nil, nil
	}
	c, err := certs.LoadPair(v.TLS.Cert, v.TLS.Key)
	if err != nil {
		return nil, nil, err
	}
	return fixedPair{c}, nil, nil
}

// boundPort returns the port a listener is bound to, so that a redirect
// to HTTPS names the right port even for a listener on port 0. The port is
// looked up once per listener, at the first redirect (the listener is bound
// by then), not on every request.
func (s *Server) boundPort(cfg *config.Config) func(listener string) string {
	addrOf := map[string]string{}
	ports := map[string]*atomic.Pointer[string]{}
	for _, l := range cfg.Listeners {
		addrOf[l.Name] = l.Address
		ports[l.Name] = new(atomic.Pointer[string])
	}
	return func(name string) string {
		cached := ports[name]
		if cached == nil {
			return ""
		}
		if p := cached.Load(); p != nil {
			return *p
		}
		addr := addrOf[name]
		a, bound := s.sup.Addrs()[addr]
		if bound {
			addr = a.String()
		}
		_, port, _ := net.SplitHostPort(addr)
		if bound {
			cached.Store(&port)
		}
		return port
	}
}
