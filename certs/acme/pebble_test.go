package acme

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The local CA: pebble, and pebble-challtestsrv as the DNS server that
// tells pebble every name is 127.0.0.1. Both are tool dependencies of the
// module, built once per test binary.
var tools struct {
	pebble, challtestsrv string
	err                  error // the build failed
	offline              bool  // ... for want of network
	dns                  string
}

const (
	pebblePkg       = "github.com/letsencrypt/pebble/v2/cmd/pebble"
	challtestsrvPkg = "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv"
	testEmail       = "admin@moreweb.test"
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "moreweb-acme-tools-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	buildTools(dir)
	if tools.err == nil {
		stop, err := startChalltestsrv()
		if err != nil {
			fmt.Fprintln(os.Stderr, "pebble-challtestsrv:", err)
			return 1
		}
		defer stop()
	}
	return m.Run()
}

// networkTrouble is what the go command says when it cannot fetch modules.
var networkTrouble = regexp.MustCompile(`dial tcp|no such host|network is unreachable|connection refused|i/o timeout|TLS handshake timeout|Temporary failure in name resolution|GOPROXY=off`)

func buildTools(dir string) {
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), pebblePkg, challtestsrvPkg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tools.err = fmt.Errorf("go build %s %s: %v\n%s", pebblePkg, challtestsrvPkg, err, out)
		tools.offline = networkTrouble.Match(out)
		return
	}
	tools.pebble = filepath.Join(dir, "pebble")
	tools.challtestsrv = filepath.Join(dir, "pebble-challtestsrv")
}

// needCA skips only when the CA could not be built for lack of network;
// any other build failure is the test's failure.
func needCA(t *testing.T) {
	t.Helper()
	if tools.err == nil {
		return
	}
	if tools.offline {
		t.Skipf("pebble could not be built without network: %v", tools.err)
	}
	t.Fatal(tools.err)
}

// freePort is a loopback port nobody held a moment ago. Programs that must
// bind a port themselves get one of these; a lost race shows as the program
// not coming up, which the callers retry.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startChalltestsrv() (stop func(), err error) {
	for attempt := 0; attempt < 3; attempt++ {
		dnsPort, err := freePort()
		if err != nil {
			return nil, err
		}
		mgmtPort, err := freePort()
		if err != nil {
			return nil, err
		}
		dns := fmt.Sprintf("127.0.0.1:%d", dnsPort)
		var out syncBuffer
		cmd := exec.Command(tools.challtestsrv,
			"-http01", "", "-https01", "", "-doh", "", "-tlsalpn01", "",
			"-dnsserver", dns,
			"-management", fmt.Sprintf("127.0.0.1:%d", mgmtPort),
			"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = childProcAttr()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() { cmd.Process.Kill(); <-exited }
		if waitFor(10*time.Second, exited, func() bool {
			c, err := net.DialTimeout("tcp", dns, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		}) {
			tools.dns = dns
			return stop, nil
		}
		stop()
		err = fmt.Errorf("not answering on %s:\n%s", dns, out.String())
		if attempt == 2 {
			return nil, err
		}
	}
	panic("unreachable")
}

// waitFor polls ok until it holds, the deadline passes, or exited closes.
func waitFor(d time.Duration, exited <-chan struct{}, ok func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return ok()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is one pebble with the two servers that play moreweb's part on the
// ports pebble validates on: plain HTTP answering through HTTPChallenge,
// and TLS whose GetCertificate is Certificate, both for the Manager in mgr.
type env struct {
	t        *testing.T
	dir      string
	caURL    string
	caRoot   string         // the PEM file of the CA behind pebble's own HTTPS
	issuers  *x509.CertPool // pebble's issuing root, what its certificates chain to
	tlsAddr  string
	pebble   *syncBuffer
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
	needCA(t)
	e := &env{t: t, dir: t.TempDir(), pebble: &syncBuffer{}}

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

	serverCert, rootPEM := makeServerCert(t)
	e.caRoot = filepath.Join(e.dir, "pebble-https-root.pem")
	writeFile(t, e.caRoot, rootPEM)
	certFile, keyFile := filepath.Join(e.dir, "pebble-cert.pem"), filepath.Join(e.dir, "pebble-key.pem")
	writeFile(t, certFile, serverCert.certPEM)
	writeFile(t, keyFile, serverCert.keyPEM)
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: mustPool(t, rootPEM)}}, Timeout: 5 * time.Second}
	t.Cleanup(https.CloseIdleConnections)

	validity := c.validity
	if validity == 0 {
		validity = 90 * 24 * 3600
	}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		mgmtPort, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Pebble map[string]any `json:"pebble"`
		}
		cfg.Pebble = map[string]any{
			"listenAddress":           fmt.Sprintf("127.0.0.1:%d", port),
			"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmtPort),
			"certificate":             certFile,
			"privateKey":              keyFile,
			"httpPort":                httpLn.Addr().(*net.TCPAddr).Port,
			"tlsPort":                 tlsLn.Addr().(*net.TCPAddr).Port,
			"ocspResponderURL":        "",
			"keyAlgorithm":            "ecdsa",
			// One profile, since pebble picks one at random for orders
			// that name none.
			"profiles": map[string]any{"default": map[string]any{"description": "test", "validityPeriod": validity}},
		}
		b, _ := json.Marshal(cfg)
		cfgFile := filepath.Join(e.dir, "pebble-config.json")
		writeFile(t, cfgFile, b)

		out := &syncBuffer{}
		cmd := exec.Command(tools.pebble, "-config", cfgFile, "-dnsserver", tools.dns)
		cmd.Env = append(os.Environ(),
			"PEBBLE_VA_NOSLEEP=1",
			"PEBBLE_WFE_NONCEREJECT=0",
			// Every order has to be validated, so that a certificate
			// proves the challenge was answered.
			"PEBBLE_AUTHZREUSE=0")
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = childProcAttr()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() { cmd.Process.Kill(); <-exited }

		e.caURL = fmt.Sprintf("https://127.0.0.1:%d/dir", port)
		mgmt := fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmtPort)
		var rootErr error
		up := waitFor(15*time.Second, exited, func() bool {
			if _, err := get(https, e.caURL); err != nil {
				return false
			}
			root, err := get(https, mgmt)
			if err != nil {
				rootErr = err
				return false
			}
			e.issuers = x509.NewCertPool()
			return e.issuers.AppendCertsFromPEM(root)
		})
		if up {
			e.pebble = out
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("pebble's output:\n%s", out.String())
				}
			})
			return e
		}
		stop()
		if attempt == 2 {
			t.Fatalf("pebble did not come up (%v):\n%s", rootErr, out.String())
		}
	}
}

func get(c *http.Client, url string) ([]byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", url, resp.Status)
	}
	return b, err
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
		CA:         e.caURL,
		CARoot:     e.caRoot,
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
func (e *env) orders() int {
	return strings.Count(e.pebble.String(), "Added order")
}

// waitCert polls Certificate until the name has one, or fails the test.
func (e *env) waitCert(m *Manager, name string, d time.Duration) *x509.Certificate {
	e.t.Helper()
	var last error
	var leaf *x509.Certificate
	if !waitFor(d, nil, func() bool {
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
	c, err := tls.DialWithDialer(d, "tcp", e.tlsAddr, &tls.Config{ServerName: name, RootCAs: e.issuers})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

type pemPair struct{ certPEM, keyPEM []byte }

// makeServerCert makes a CA and, signed by it, the certificate pebble serves
// its ACME API with.
func makeServerCert(t *testing.T) (leaf pemPair, rootPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "moreweb test CA for pebble's HTTPS"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "pebble"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemPair{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

func mustPool(t *testing.T, pemBytes []byte) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no certificate in PEM")
	}
	return p
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
