package server

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/moreweb/moreweb/certs/acme"
	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/listener"
)

// acmeRef is the ACME manager, shared by the server and by every snapshot
// whose sites it serves certificates to. The manager outlives a reload
// that keeps the [acme] settings, so names stay ordered, renewed and
// served through it; a reload that changes the settings makes a new one,
// and the old closes once the last snapshot using it is gone.
type acmeRef struct {
	opts config.ACME
	m    *acme.Manager

	mu   sync.Mutex
	refs int
}

func (r *acmeRef) take() *acmeRef {
	r.mu.Lock()
	r.refs++
	r.mu.Unlock()
	return r
}

func (r *acmeRef) release() error {
	r.mu.Lock()
	r.refs--
	last := r.refs == 0
	r.mu.Unlock()
	if last {
		return r.m.Close()
	}
	return nil
}

// acmeNames are the names cfg wants certificates ordered for.
func acmeNames(cfg *config.Config) []string {
	var names []string
	for _, v := range cfg.Vhosts {
		if v.TLS != nil && v.TLS.ACME {
			names = append(names, v.Hosts...)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// acmeFor returns the manager a snapshot of cfg uses, with a reference
// taken for that snapshot: the running one when the [acme] settings are
// the same, a new one when they changed, nil when no site uses ACME.
// Called with mu held.
func (a *Server) acmeFor(cfg *config.Config) (*acmeRef, error) {
	if len(acmeNames(cfg)) == 0 {
		return nil, nil
	}
	if a.acme != nil && sameACME(a.acme.opts, cfg.ACME) {
		return a.acme.take(), nil
	}
	m, err := acme.New(acme.Options{
		Email:      cfg.ACME.Email,
		CA:         cfg.ACME.CA,
		CARoot:     cfg.ACME.CARoot,
		Storage:    cfg.ACME.Storage,
		Challenges: cfg.ACME.Challenges,
		Log:        a.log,
	})
	if err != nil {
		return nil, err
	}
	return &acmeRef{opts: cfg.ACME, m: m, refs: 1}, nil
}

func sameACME(a, b config.ACME) bool {
	return a.Email == b.Email && a.CA == b.CA && a.CARoot == b.CARoot && a.Storage == b.Storage &&
		slices.Equal(a.Challenges, b.Challenges)
}

// useACME makes r the server's manager once cfg serves, and gives it
// cfg's names: new ones are ordered in the background, dropped ones are
// no longer renewed. Called with mu held.
func (a *Server) useACME(r *acmeRef, cfg *config.Config) {
	if r != a.acme {
		old := a.acme
		a.acme = nil
		if r != nil {
			a.acme = r.take()
		}
		if old != nil {
			old.release()
		}
	}
	if a.acme == nil {
		return
	}
	if err := a.acme.m.Manage(acmeNames(cfg)); err != nil {
		a.log.Error("acme: the names to order certificates for were refused", zap.Error(err))
	}
}

// acmeSource serves an ACME site's certificates, and the TLS-ALPN-01
// validation handshakes for its names.
type acmeSource struct {
	m     *acme.Manager
	hosts []string
}

// Certificate is the certificate for the name asked for when it is one of
// the site's. A hello that reached this site as the listener's default
// (another name, or none) gets the certificate of the site's first name,
// as a site with certificate files would present its one pair; the name
// asked for is never ordered.
func (s acmeSource) Certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if !slices.Contains(s.hosts, strings.ToLower(hello.ServerName)) && !slices.Contains(hello.SupportedProtos, listener.ALPNChallenge) {
		h := *hello
		h.ServerName = s.hosts[0]
		return s.m.Certificate(&h)
	}
	return s.m.Certificate(hello)
}

// acmeChallenges answers HTTP-01 validations on plain listeners.
type acmeChallenges struct{ m *acme.Manager }

func (c acmeChallenges) Challenge(host, path []byte) ([]byte, bool) {
	return c.m.HTTPChallenge(string(host), string(path))
}

var _ listener.Challenger = acmeChallenges{}

// errNotServing is what an ACME site's certificate source says under -t,
// which checks the config and orders nothing.
var errNotServing = errors.New("acme: certificates are ordered only by a running server")

type checkOnly struct{}

func (checkOnly) Certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return nil, errNotServing
}
