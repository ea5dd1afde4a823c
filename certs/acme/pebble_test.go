package acme

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moreweb/moreweb/internal/testkit"
)

const testEmail = "admin@moreweb.test"

// waitFor polls ok until it holds or d passes.
func waitFor(d time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ok()
}

// env is one pebble with the two servers that play moreweb's part on the
// ports pebble validates on: plain HTTP answering through HTTPChallenge,
// and TLS whose GetCertificate is Certificate, both for the Manager in mgr.
type env struct {
	t        *testing.T
	ca       *testkit.PebbleCA
	tlsAddr  string
	mgr      atomic.Pointer[Manager]
	httpHits atomic.Int64
	alpnHits atomic.Int64
	// onHTTP, when set, runs for each challenge request before it is
	// answered, while pebble waits for the answer.
	onHTTP atomic.Pointer[func(host, path string)]
}

type envConfig struct {
	validity int // seconds; 0 for pebble's 90 days
}

func newEnv(t *testing.T, c envConfig) *env {
	t.Helper()
	e := &env{t: t}

	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(e.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	// Without keep-alive no connection of pebble's outlives its request,
	// which the goroutine count depends on.
	srv.SetKeepAlivesEnabled(false)
	go srv.Serve(httpLn)
	t.Cleanup(func() { srv.Close() })

	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.tlsAddr = tlsLn.Addr().String()
	tlsDone := make(chan struct{})
	go e.serveTLS(tlsLn, tlsDone)
	t.Cleanup(func() { tlsLn.Close(); <-tlsDone })

	e.ca = testkit.Pebble(t, testkit.PebbleOptions{
		HTTPPort: httpLn.Addr().(*net.TCPAddr).Port,
		TLSPort:  tlsLn.Addr().(*net.TCPAddr).Port,
		Validity: time.Duration(c.validity) * time.Second,
	})
	return e
}

func (e *env) serveHTTP(w http.ResponseWriter, r *http.Request) {
	e.httpHits.Add(1)
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	// The path as it came on the wire, as moreweb's parser hands it on.
	path, _, _ := strings.Cut(r.RequestURI, "?")
	if hook := e.onHTTP.Load(); hook != nil {
		(*hook)(host, path)
	}
	m := e.mgr.Load()
	if m == nil {
		http.NotFound(w, r)
		return
	}
	body, ok := m.HTTPChallenge(host, path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(body)
}

func (e *env) serveTLS(ln net.Listener, done chan struct{}) {
	defer close(done)
	cfg := &tls.Config{
		NextProtos: []string{"acme-tls/1", "http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if slices.Contains(hello.SupportedProtos, "acme-tls/1") {
				e.alpnHits.Add(1)
			}
			m := e.mgr.Load()
			if m == nil {
				return nil, errors.New("no manager")
			}
			return m.Certificate(hello)
		},
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			tc := tls.Server(c, cfg)
			if tc.Handshake() == nil {
				// Let the client read the handshake's end before the close.
				tc.Read(make([]byte, 1))
			}
		}()
	}
}

// options are the Manager's settings against this env's pebble.
func (e *env) options(storage string, challenges ...string) Options {
	return Options{
		Email:      testEmail,
		CA:         e.ca.CAURL,
		CARoot:     e.ca.CARootFile,
		Storage:    storage,
		Challenges: challenges,
		Log:        testLogger(e.t),
	}
}

// start makes a Manager, gives it to the env's servers, and closes it at the
// end of the test.
func (e *env) start(o Options) *Manager {
	e.t.Helper()
	m, err := New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mgr.Store(m)
	e.t.Cleanup(func() { m.Close() })
	return m
}

// orders counts the orders pebble has taken.
func (e *env) orders() int { return e.ca.Orders() }

// waitCert polls Certificate until the name has one, or fails the test.
func (e *env) waitCert(m *Manager, name string, d time.Duration) *x509.Certificate {
	e.t.Helper()
	var last error
	var leaf *x509.Certificate
	if !waitFor(d, func() bool {
		c, err := m.Certificate(&tls.ClientHelloInfo{ServerName: name})
		last = err
		if err == nil {
			leaf = c.Leaf
		}
		return err == nil
	}) {
		e.t.Fatalf("no certificate for %s after %v: %v", name, d, last)
	}
	return leaf
}

// handshake connects to the env's TLS server as a browser would for name,
// verifying the certificate against pebble's root, and returns the leaf.
func (e *env) handshake(name string) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", e.tlsAddr, &tls.Config{ServerName: name, RootCAs: e.ca.Issuers})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}
