// Package acme obtains and renews certificates from an ACME CA (RFC 8555)
// through certmagic, for names moreweb serves.
//
// moreweb answers the CA's validations on its own listeners: HTTP-01
// requests are passed to [Manager.HTTPChallenge], TLS-ALPN-01 handshakes
// reach [Manager.Certificate] through tls.Config.GetCertificate. For
// TLS-ALPN-01 the tls.Config must list "acme-tls/1" in NextProtos, since
// crypto/tls refuses a handshake whose ALPN offer it shares nothing with.
package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Options are the [acme] settings of the config file.
type Options struct {
	Email      string      // account contact, "" for none
	CA         string      // ACME directory URL
	CARoot     string      // PEM file of extra roots to trust for the CA's own HTTPS ("" = system roots); pebble needs it
	Storage    string      // directory for account key and certificates; created 0700 if missing
	Challenges []string    // subset of "http-01", "tls-alpn-01"
	Log        *zap.Logger // may be nil
}

const (
	challengeHTTP01    = "http-01"
	challengeTLSALPN01 = "tls-alpn-01"
	alpnProto          = "acme-tls/1"
	httpChallengePath  = "/.well-known/acme-challenge/"
)

// renewRecheck bounds every wait of a name's loop, so that a clock that did
// not advance the monotonic timer (a suspended machine) delays a renewal by
// at most this much.
const renewRecheck = 10 * time.Minute

// Manager obtains and renews certificates for the names it is told to manage.
type Manager struct {
	log       *zap.Logger
	cfg       *certmagic.Config
	cache     *certmagic.Cache
	storage   *store
	issuerKey string
	http01    bool
	tlsalpn01 bool

	// decoy holds the address certmagic's solvers are pointed at; see decoy.
	decoy *decoy

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.RWMutex
	names  map[string]*managed
	closed bool
	// preloaded are the stored certificates Preload read for names that
	// are about to be managed, served until Manage takes them over.
	preloaded map[string]*tls.Certificate

	closeOnce sync.Once
}

// managed is one name of the managed set. Its loop is the only writer of
// cert; Certificate reads it without a lock.
type managed struct {
	name   string
	cancel context.CancelFunc
	cert   atomic.Pointer[tls.Certificate]
}

// New checks o and prepares a Manager; it contacts nobody: the CA is first
// reached when Manage gives it names.
func New(o Options) (*Manager, error) {
	if o.CA == "" {
		return nil, errors.New("acme: no CA directory URL")
	}
	if o.Storage == "" {
		return nil, errors.New("acme: no storage directory")
	}
	var http01, tlsalpn01 bool
	for _, c := range o.Challenges {
		switch c {
		case challengeHTTP01:
			http01 = true
		case challengeTLSALPN01:
			tlsalpn01 = true
		default:
			return nil, fmt.Errorf("acme: unknown challenge type %q (want %q or %q)", c, challengeHTTP01, challengeTLSALPN01)
		}
	}
	if !http01 && !tlsalpn01 {
		return nil, errors.New("acme: no challenge type enabled")
	}
	var roots *x509.CertPool
	if o.CARoot != "" {
		var err error
		if roots, err = loadRoots(o.CARoot); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(o.Storage, 0o700); err != nil {
		return nil, fmt.Errorf("acme: storage: %w", err)
	}
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("acme")

	d, err := newDecoy()
	if err != nil {
		return nil, err
	}

	m := &Manager{
		log:       log,
		storage:   newStore(o.Storage),
		http01:    http01,
		tlsalpn01: tlsalpn01,
		decoy:     d,
		names:     make(map[string]*managed),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())

	// The cache is only there because certmagic.Config needs one (and it
	// starts a goroutine that Close stops): certificates are kept per name
	// in managed, so that nothing certmagic maintains by itself can renew
	// or serve a name after it left the set.
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return m.cfg, nil },
		Logger:           log,
	})
	m.cfg = certmagic.New(m.cache, certmagic.Config{
		RenewalWindowRatio: 1.0 / 3,
		// ARI would let the CA move renewals away from the one-third rule
		// the config promises.
		DisableARI: true,
		Storage:    m.storage,
		Logger:     log,
	})
	decoyPort := d.ln.Addr().(*net.TCPAddr).Port
	issuer := certmagic.NewACMEIssuer(m.cfg, certmagic.ACMEIssuer{
		CA:    o.CA,
		Email: o.Email,
		// Nobody is at a terminal to be asked: naming the CA in the config
		// is taken as agreeing to its terms.
		Agreed:                  true,
		TrustedRoots:            roots,
		DisableHTTPChallenge:    !http01,
		DisableTLSALPNChallenge: !tlsalpn01,
		// Challenges are answered from memory, by this process; nothing
		// about them needs to reach the disk.
		DisableDistributedSolvers: true,
		ListenHost:                "127.0.0.1",
		AltHTTPPort:               decoyPort,
		AltTLSALPNPort:            decoyPort,
		HTTPProxy:                 oneShotProxy,
		Logger:                    log,
	})
	m.cfg.Issuers = []certmagic.Issuer{issuer}
	m.issuerKey = issuer.IssuerKey()
	return m, nil
}

// oneShotProxy keeps certmagic's choice of proxy and marks every request to
// the CA as the last on its connection. The ACME client's transport is
// certmagic's own and has no idle timeout, so a kept-alive connection (and
// its goroutines) would outlive Close; ACME requests are rare enough that a
// connection each costs nothing that matters.
func oneShotProxy(r *http.Request) (*url.URL, error) {
	r.Close = true
	return http.ProxyFromEnvironment(r)
}

func loadRoots(file string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("acme: CA root: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("acme: CA root %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// Manage makes names (lower-case DNS names, never wildcards) exactly the managed set:
// names new to the set get a certificate in the background — obtained from the CA unless a
// valid one is already in Storage (a restart must NOT order again) — and are renewed when a
// third of their lifetime is left; names dropped from the set are no longer renewed or served.
// It returns at once (serving must not wait for the CA). Failures are logged with the name and
// the reason, retried with backoff (certmagic does this), and never stop anything. Safe to call
// again on each config reload, from any goroutine.
func (m *Manager) Manage(names []string) error {
	want := make(map[string]bool, len(names))
	var bad []string
	for _, n := range names {
		if !validName(n) {
			bad = append(bad, fmt.Sprintf("%q", n))
			continue
		}
		want[n] = true
	}
	if len(bad) > 0 {
		// Nothing changes, so that a config with a typo keeps the set it had.
		return fmt.Errorf("acme: not a lower-case DNS name without wildcard: %s", strings.Join(bad, ", "))
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("acme: manager is closed")
	}
	for n, e := range m.names {
		if !want[n] {
			e.cancel()
			delete(m.names, n)
			m.log.Info("no longer managed", zap.String("identifier", n))
		}
	}
	for n := range want {
		if m.names[n] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(m.ctx)
		e := &managed{name: n, cancel: cancel}
		if c := m.preloaded[n]; c != nil {
			e.cert.Store(c)
		}
		m.names[n] = e
		m.wg.Add(1)
		go m.tend(ctx, e)
	}
	// Whatever Manage did not take was preloaded for a config that never
	// served.
	clear(m.preloaded)
	return nil
}

// Preload reads from storage the certificates of names that have one and
// are not served yet, and serves them from now on, until Manage takes the
// names over. A config is made to serve before Manage can be told its
// names (Manage drops names, which must wait until the config serves), so
// without this a restart, or a reload onto a new Manager, would fail the
// handshakes that come in between. It orders and starts nothing; names
// without a stored certificate are left to Manage.
func (m *Manager) Preload(names []string) {
	loaded := make(map[string]*tls.Certificate)
	for _, n := range names {
		if !validName(n) {
			continue
		}
		if e := m.lookup(n); e != nil && e.cert.Load() != nil {
			continue
		}
		if c, err := m.load(m.ctx, n); err == nil {
			loaded[n] = c
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if m.preloaded == nil {
		m.preloaded = make(map[string]*tls.Certificate, len(loaded))
	}
	maps.Copy(m.preloaded, loaded)
}

// validName accepts what the config layer promises to give: lower-case DNS
// names, not IP addresses, without wildcard or trailing dot.
func validName(n string) bool {
	if n == "" || len(n) > 253 || strings.HasSuffix(n, ".") || net.ParseIP(n) != nil {
		return false
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func (m *Manager) lookup(name string) *managed {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.names[name]
}

// current is the certificate served for name: its loop's, or what Preload
// read while the name is not managed yet. managed reports whether name is
// either.
func (m *Manager) current(name string) (cert *tls.Certificate, managed bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e := m.names[name]; e != nil {
		return e.cert.Load(), true
	}
	c := m.preloaded[name]
	return c, c != nil
}

// Certificate is for tls.Config.GetCertificate. For a ClientHello offering ALPN "acme-tls/1"
// (a TLS-ALPN-01 validation) it returns the challenge certificate for a pending challenge of a
// managed name. Otherwise the current certificate for hello.ServerName if that name is managed
// and has one. It NEVER obtains a certificate for a name that is not managed (no on-demand
// issuance for arbitrary SNI) and never blocks on the CA; when a managed name has no
// certificate yet it returns an error saying so.
func (m *Manager) Certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	if slices.Contains(hello.SupportedProtos, alpnProto) {
		return m.challengeCertificate(hello, name)
	}
	if name == "" {
		return nil, errors.New("acme: ClientHello has no server name")
	}
	c, managed := m.current(name)
	if !managed {
		return nil, fmt.Errorf("acme: %q is not a managed name", name)
	}
	if c == nil {
		return nil, fmt.Errorf("acme: no certificate for %q yet", name)
	}
	if time.Now().After(c.Leaf.NotAfter) {
		return nil, fmt.Errorf("acme: certificate for %q expired at %s and is not renewed yet", name, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return c, nil
}

func (m *Manager) challengeCertificate(hello *tls.ClientHelloInfo, name string) (*tls.Certificate, error) {
	if !m.tlsalpn01 {
		return nil, errors.New("acme: tls-alpn-01 is not an enabled challenge")
	}
	// RFC 8737 section 3: a validation offers acme-tls/1 alone; a hello that
	// mixes it with other protocols is neither a validation nor a browser.
	if len(hello.SupportedProtos) != 1 {
		return nil, errors.New("acme: acme-tls/1 offered together with other protocols")
	}
	if m.lookup(name) == nil {
		return nil, fmt.Errorf("acme: tls-alpn-01 for %q, which is not a managed name", name)
	}
	chal, ok := certmagic.GetACMEChallenge(name)
	if !ok || chal.Type != challengeTLSALPN01 || chal.Identifier.Value != name {
		return nil, fmt.Errorf("acme: no pending tls-alpn-01 challenge for %q", name)
	}
	// certmagic logs the peer's address of every challenge handshake.
	if hello.Conn == nil {
		return nil, errors.New("acme: tls-alpn-01 ClientHello without a connection")
	}
	// certmagic keeps the challenge certificate it made when the challenge
	// was presented in an unexported field: this is the way to it.
	return m.cfg.GetCertificate(hello)
}

// HTTPChallenge answers an HTTP-01 validation request: host (without port) and the request path
// (which starts with "/.well-known/acme-challenge/"). ok is false when it is not a pending
// challenge's token for that host (the caller then answers 404). The token must be matched
// exactly: paths with "..", extra slashes, or encoded bytes never match anything.
func (m *Manager) HTTPChallenge(host, path string) (body []byte, ok bool) {
	if !m.http01 {
		return nil, false
	}
	token, found := strings.CutPrefix(path, httpChallengePath)
	// The token alphabet (RFC 8555 section 8.1) has no '.', '/' or '%', so
	// this alone turns away every traversal or encoded form.
	if !found || !base64URL(token) {
		return nil, false
	}
	host = strings.ToLower(host)
	if m.lookup(host) == nil {
		return nil, false
	}
	chal, found := certmagic.GetACMEChallenge(host)
	if !found || chal.Type != challengeHTTP01 || chal.Identifier.Value != host || chal.Token != token {
		return nil, false
	}
	return []byte(chal.KeyAuthorization), true
}

func base64URL(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Close stops renewals and background work; idempotent. No goroutine may be left behind that
// belongs to this Manager once Close returns (certmagic has a cache with its own goroutine:
// stop it).
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		// A closed Manager serves nothing, as it renews nothing.
		clear(m.names)
		clear(m.preloaded)
		m.mu.Unlock()
		m.cancel()
		// The loops return once certmagic's calls see the cancelled
		// context, which includes releasing their storage locks.
		m.wg.Wait()
		m.cache.Stop()
		m.decoy.close()
	})
	return nil
}
