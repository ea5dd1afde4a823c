package server

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moreweb/moreweb/certs/acme"
	"github.com/moreweb/moreweb/internal/testkit"
)

// The whole server against a local ACME CA (pebble): config file, Start,
// the watcher and the listeners, as main runs them. challtestsrv resolves
// every name to 127.0.0.1, so the names under moreweb.test validate
// against this process. Each test has its own pebble, so that its order
// count is its own, and its own names, since certmagic keeps pending
// challenges in one process-wide table.

// certWithin bounds a first certificate: pebble validates at once, and
// an order takes well under a second even under -race.
const certWithin = 30 * time.Second

// acmeEnv is a config directory for a server whose listeners are on the
// ports its pebble validates on.
type acmeEnv struct {
	ca         *testkit.PebbleCA
	dir        string
	storage    string
	challenges []string
	plain, tls string // configured addresses, 127.0.0.1:port
	conf       string
	saver      *testkit.Saver
}

// newACMEEnv makes the env and its pebble, which validates HTTP-01 on the
// plain listener, or on the port via returns when via is not nil: via is
// given the listeners' addresses, for something to stand between.
func newACMEEnv(t *testing.T, via func(plain, tls string) int, challenges ...string) *acmeEnv {
	t.Helper()
	e := &acmeEnv{dir: t.TempDir(), challenges: challenges}
	e.plain, e.tls = testkit.FreeAddr(t), testkit.FreeAddr(t)
	e.storage = filepath.Join(e.dir, "acme")
	e.conf = filepath.Join(e.dir, "site.toml")
	e.saver = &testkit.Saver{T: t, Path: e.conf}
	httpPort := port(t, e.plain)
	if via != nil {
		httpPort = via(e.plain, e.tls)
	}
	e.ca = testkit.Pebble(t, testkit.PebbleOptions{HTTPPort: httpPort, TLSPort: port(t, e.tls)})
	return e
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// acmeSite is a [[vhost]] with acme = true for name, whose root serves
// "site NAME" as its index; extra goes into the [[vhost]] table.
type acmeSite struct{ name, extra string }

// config is the whole file for sites. The log is at debug, where a
// failed handshake is logged with its reason.
func (e *acmeEnv) config(t *testing.T, sites ...acmeSite) string {
	t.Helper()
	var vhosts strings.Builder
	for _, s := range sites {
		testkit.WriteTree(t, e.dir, map[string]string{s.name + "/index.html": "site " + s.name})
		fmt.Fprintf(&vhosts, "\n[[vhost]]\nhosts = [%q]\nroot = %q\n%s\n[vhost.tls]\nacme = true\n", s.name, s.name, s.extra)
	}
	quoted := make([]string, len(e.challenges))
	for i, c := range e.challenges {
		quoted[i] = strconv.Quote(c)
	}
	return fmt.Sprintf(`
[server]
access_log = "off"
log_level = "debug"
read_header_timeout = "2s"
shutdown_timeout = "2s"

[acme]
email = "admin@moreweb.test"
ca = %q
ca_root = %q
storage = %q
challenges = [%s]

[[listener]]
name = "plain"
address = %q

[[listener]]
name = "tls"
address = %q
tls = true
%s`, e.ca.CAURL, e.ca.CARootFile, e.storage, strings.Join(quoted, ", "), e.plain, e.tls, vhosts.String())
}

// start writes the config for sites and runs the server on it.
func (e *acmeEnv) start(t *testing.T, sites ...acmeSite) *liveApp {
	t.Helper()
	if err := os.WriteFile(e.conf, []byte(e.config(t, sites...)), 0o644); err != nil {
		t.Fatal(err)
	}
	return runApp(t, e.conf, 50*time.Millisecond)
}

// stopApp stops l now, as SIGTERM does, leaving runApp's cleanup a
// server that has already exited.
func stopApp(t *testing.T, l *liveApp) {
	t.Helper()
	l.signals <- syscall.SIGTERM
	select {
	case code := <-l.exited:
		l.exited <- code
		if code != 0 {
			t.Fatalf("server exited %d; log:\n%s", code, l.logs)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("server did not stop; log:\n%s", l.logs)
	}
}

// dialACME is a browser's handshake for sni at addr, trusting pebble's
// issuer only; protos, when given, are the ALPN offer.
func dialACME(addr, sni string, roots *x509.CertPool, protos ...string) (*tls.Conn, error) {
	cfg := &tls.Config{ServerName: sni, RootCAs: roots, NextProtos: protos}
	if sni == "" {
		cfg.InsecureSkipVerify = true // nothing to verify against; the handshake must fail anyway
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	return tls.DialWithDialer(d, "tcp", addr, cfg)
}

// servedLeaf is the certificate presented for sni, verified, or the
// handshake's error.
func servedLeaf(addr, sni string, roots *x509.CertPool) (*x509.Certificate, error) {
	tc, err := dialACME(addr, sni, roots)
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	return tc.ConnectionState().PeerCertificates[0], nil
}

// waitServed polls handshakes for sni until one verifies, and returns the
// leaf and how long it took.
func waitServed(t *testing.T, addr, sni string, roots *x509.CertPool, within time.Duration) (*x509.Certificate, time.Duration) {
	t.Helper()
	began := time.Now()
	deadline := began.Add(within)
	for {
		leaf, err := servedLeaf(addr, sni, roots)
		if err == nil {
			return leaf, time.Since(began)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verified handshake for %s within %v: %v", sni, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getOver sends one request on a fresh TLS connection for sni.
func getOver(t *testing.T, addr, sni string, roots *x509.CertPool, path string) (int, string) {
	t.Helper()
	tc, err := dialACME(addr, sni, roots)
	if err != nil {
		t.Fatalf("handshake for %s: %v", sni, err)
	}
	defer tc.Close()
	resp, body := get(t, tc, sni, path)
	return resp.StatusCode, body
}

// rawGet sends target exactly as given, which net/http's client would
// not do for every form of it, and returns the status and body.
func rawGet(addr, host, target string) (int, string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %w", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// lineIndex is the index of the first log line containing every part, -1
// for none.
func lineIndex(l *liveApp, parts ...string) int {
next:
	for i, line := range strings.Split(l.logs.String(), "\n") {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		return i
	}
	return -1
}

// manager is the ACME manager the server holds now.
func manager(l *liveApp) *acme.Manager {
	l.a.mu.Lock()
	defer l.a.mu.Unlock()
	if l.a.acme == nil {
		return nil
	}
	return l.a.acme.m
}

// checkObtainedWhileServing is the first certificate of a fresh server:
// it serves at once, a handshake for the name fails with an alert until
// the certificate is there, the log says why, and then the handshake
// presents a certificate for the name chaining to pebble's issuer.
func checkObtainedWhileServing(t *testing.T, e *acmeEnv, name string) {
	t.Helper()
	app := e.start(t, acmeSite{name, ""})
	tlsAddr := app.addr(t, e.tls)

	// Issuance takes hundreds of milliseconds of round trips to pebble,
	// a local handshake a few: this one is before it.
	_, early := dialACME(tlsAddr, name, e.ca.Issuers)
	if early == nil {
		t.Fatalf("a handshake for %s right after start succeeded; the log:\n%s", name, app.logs)
	}
	if !strings.Contains(early.Error(), "remote error: tls:") {
		t.Fatalf("handshake before the certificate: %v, want an alert from the server", early)
	}
	if status, body := testkit.Get(t, app.addr(t, e.plain), name, "/"); status != 200 || body != "site "+name {
		t.Fatalf("plain GET while the certificate is ordered: %d %q", status, body)
	}

	leaf, took := waitServed(t, tlsAddr, name, e.ca.Issuers, certWithin)
	t.Logf("early handshake: %v; certificate served %v after the first try, serial %v", early, took, leaf.SerialNumber)
	if err := leaf.VerifyHostname(name); err != nil {
		t.Fatal(err)
	}
	tc, err := dialACME(tlsAddr, name, e.ca.Issuers)
	if err != nil {
		t.Fatal(err)
	}
	chain := tc.ConnectionState().VerifiedChains[0]
	tc.Close()
	if root := chain[len(chain)-1]; !strings.Contains(root.Subject.CommonName, "Pebble") {
		t.Fatalf("chain ends at %q, not pebble's root", root.Subject)
	}
	if status, body := getOver(t, tlsAddr, name, e.ca.Issuers, "/"); status != 200 || body != "site "+name {
		t.Fatalf("GET over the new certificate: %d %q", status, body)
	}

	failed := lineIndex(app, "TLS handshake failed", "no certificate for", name)
	obtaining := lineIndex(app, "no certificate in storage; obtaining one", name)
	serving := lineIndex(app, "serving certificate", name)
	if failed < 0 || obtaining < 0 || serving < 0 || failed > serving || obtaining > serving {
		t.Fatalf("the log does not tell the early handshake failed for want of the certificate being obtained (lines %d, %d, %d):\n%s",
			failed, obtaining, serving, app.logs)
	}
	if n := e.ca.Orders(); n != 1 {
		t.Fatalf("pebble took %d orders for one name", n)
	}
}

func TestACMESiteGetsItsCertificateByHTTP01WhileServing(t *testing.T) {
	e := newACMEEnv(t, nil, "http-01")
	checkObtainedWhileServing(t, e, "http01.moreweb.test")
	if n := e.ca.HTTPValidations(); n == 0 {
		t.Fatal("pebble made no HTTP-01 validation request")
	}
}

func TestACMESiteGetsItsCertificateByTLSALPN01Alone(t *testing.T) {
	e := newACMEEnv(t, nil, "tls-alpn-01")
	checkObtainedWhileServing(t, e, "alpn.moreweb.test")
	if n, v := e.ca.HTTPValidations(), e.ca.Validations(); n != 0 || v != 1 {
		t.Fatalf("pebble made %d HTTP-01 requests and %d validations; want TLS-ALPN-01's one alone", n, v)
	}
}

func TestACMERestartOnTheSameStorageServesTheStoredCertificateWithoutAnOrder(t *testing.T) {
	e := newACMEEnv(t, nil, "http-01", "tls-alpn-01")
	const name = "restart.moreweb.test"
	first := e.start(t, acmeSite{name, ""})
	before, took := waitServed(t, first.addr(t, e.tls), name, e.ca.Issuers, certWithin)
	t.Logf("first server: certificate after %v", took)
	stopApp(t, first)
	orders, validations := e.ca.Orders(), e.ca.Validations()
	if orders != 1 {
		t.Fatalf("pebble took %d orders for one name", orders)
	}

	second := runApp(t, e.conf, 50*time.Millisecond)
	// The stored certificate is read before the listeners open: the first
	// handshake gets it.
	after, err := servedLeaf(second.addr(t, e.tls), name, e.ca.Issuers)
	if err != nil {
		t.Fatalf("restarted server, first handshake: %v", err)
	}
	if !after.Equal(before) {
		t.Fatalf("restart serves serial %v, the stored one is %v", after.SerialNumber, before.SerialNumber)
	}
	if n, v := e.ca.Orders(), e.ca.Validations(); n != orders || v != validations {
		t.Fatalf("restart made %d orders and %d validations", n-orders, v-validations)
	}
	if second.count("obtaining") != 0 {
		t.Fatalf("the restarted server obtained something:\n%s", second.logs)
	}
}

func TestACMEReloadAddingANameOrdersItWithoutRestartingAnything(t *testing.T) {
	e := newACMEEnv(t, nil, "http-01")
	const kept, added = "kept.moreweb.test", "added.moreweb.test"
	app := e.start(t, acmeSite{kept, ""})
	tlsAddr := app.addr(t, e.tls)
	keptLeaf, _ := waitServed(t, tlsAddr, kept, e.ca.Issuers, certWithin)
	m := manager(app)
	// A connection from before the reload, to be answered after it.
	old, err := dialACME(tlsAddr, kept, e.ca.Issuers)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	reloads := app.count("reloaded")
	e.saver.Save("rename", e.config(t, acmeSite{kept, ""}, acmeSite{added, ""}))
	line := app.waitLog(t, "reloaded", reloads)
	if !strings.Contains(line, `"listeners_added": [], "listeners_removed": []`) || strings.Count(line, "="+e.plain) != 1 || strings.Count(line, "="+e.tls) != 1 {
		t.Fatalf("the reload did not keep both listeners as they were: %s", line)
	}
	addedLeaf, took := waitServed(t, tlsAddr, added, e.ca.Issuers, certWithin)
	t.Logf("added name served %v after the reload", took)
	if err := addedLeaf.VerifyHostname(added); err != nil {
		t.Fatal(err)
	}
	if leaf, err := servedLeaf(tlsAddr, kept, e.ca.Issuers); err != nil || !leaf.Equal(keptLeaf) {
		t.Fatalf("%s after the reload: %v (error %v), was serial %v", kept, leaf, err, keptLeaf.SerialNumber)
	}
	if _, body := get(t, old, kept, "/"); body != "site "+kept {
		t.Fatalf("the connection from before the reload: %q", body)
	}
	if manager(app) != m {
		t.Fatal("the reload replaced the ACME manager")
	}
	if n := e.ca.Orders(); n != 2 {
		t.Fatalf("pebble took %d orders, want one per name", n)
	}
}

func TestACMEReloadRemovingANameStopsServingItWhileTheOtherStays(t *testing.T) {
	e := newACMEEnv(t, nil, "http-01")
	const kept, removed = "stays.moreweb.test", "goes.moreweb.test"
	app := e.start(t, acmeSite{kept, ""}, acmeSite{removed, ""})
	tlsAddr := app.addr(t, e.tls)
	keptLeaf, _ := waitServed(t, tlsAddr, kept, e.ca.Issuers, certWithin)
	waitServed(t, tlsAddr, removed, e.ca.Issuers, certWithin)
	orders := e.ca.Orders()

	reloads := app.count("reloaded")
	e.saver.Save("rename", e.config(t, acmeSite{kept, ""}))
	app.waitLog(t, "reloaded", reloads)
	_, err := servedLeaf(tlsAddr, removed, e.ca.Issuers)
	if err == nil {
		t.Fatalf("%s is still served after the reload removed it", removed)
	}
	t.Logf("handshake for the removed name: %v", err)
	if leaf, err := servedLeaf(tlsAddr, kept, e.ca.Issuers); err != nil || !leaf.Equal(keptLeaf) {
		t.Fatalf("%s after the reload: error %v", kept, err)
	}
	if status, body := getOver(t, tlsAddr, kept, e.ca.Issuers, "/"); status != 200 || body != "site "+kept {
		t.Fatalf("%s after the reload: %d %q", kept, status, body)
	}
	// The manager is told once the new snapshot serves, so its line may
	// come a moment after the reload's.
	app.waitLog(t, "no longer managed", 0)
	if lineIndex(app, "no longer managed", removed) < 0 || lineIndex(app, "no longer managed", kept) >= 0 {
		t.Fatalf("the manager was not told which name left:\n%s", app.logs)
	}
	if n := e.ca.Orders(); n != orders || orders != 2 {
		t.Fatalf("orders: %d before the reload (want 2), %d after", orders, n)
	}
}

func TestACMEHTTPSRedirectLeavesHTTP01ValidationsAlone(t *testing.T) {
	e := newACMEEnv(t, nil, "http-01")
	const name = "redirect.moreweb.test"
	app := e.start(t, acmeSite{name, "https_redirect = true"})
	plain := app.addr(t, e.plain)
	// The site does redirect: pebble's request had to get past that.
	if status, _ := testkit.Get(t, plain, name, "/"); status != 308 {
		t.Fatalf("plain GET /: %d, want the redirect", status)
	}
	leaf, took := waitServed(t, app.addr(t, e.tls), name, e.ca.Issuers, certWithin)
	t.Logf("certificate with https_redirect on after %v, serial %v", took, leaf.SerialNumber)
	if n := e.ca.HTTPValidations(); n == 0 {
		t.Fatal("no HTTP-01 validation request was made")
	}
	if status, _ := testkit.Get(t, plain, name, "/.well-known/acme-challenge/unknown-token"); status == 308 {
		t.Fatal("a challenge path was redirected")
	}
}

// challengeProxy is where pebble sends HTTP-01 validations, passing them
// on to the server at to; the first one for host is held while probe
// runs, so that probe sees the challenge surely pending. Its port is none
// of avoid, the server's ports yet to be bound.
func challengeProxy(t *testing.T, to string, avoid []string, host string, probe func(to, token string)) (port int) {
	t.Helper()
	var ln net.Listener
	for ln == nil || slices.Contains(avoid, ln.Addr().String()) {
		if ln != nil {
			ln.Close()
		}
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	target, _ := url.Parse("http://" + to)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{DisableKeepAlives: true}
	var once sync.Once
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, _, _ := net.SplitHostPort(r.Host)
		if token, ok := strings.CutPrefix(r.URL.Path, "/.well-known/acme-challenge/"); ok && h == host {
			once.Do(func() { probe(to, token) })
		}
		rp.ServeHTTP(w, r)
	})}
	srv.SetKeepAlivesEnabled(false)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func TestACMEChallengePathsWithTraversalOrUnknownTokensAreNeverAnsweredWithAKeyAuthorization(t *testing.T) {
	const name = "traversal.moreweb.test"
	probed := make(chan []string, 1)
	// Runs in the proxy's goroutine, while pebble waits: it reports, the
	// test goroutine judges.
	probe := func(plain, token string) {
		var out []string
		status, keyAuth, err := rawGet(plain, name, "/.well-known/acme-challenge/"+token)
		if err != nil || status != 200 || !strings.HasPrefix(keyAuth, token+".") {
			probed <- []string{fmt.Sprintf("FAIL the validation's own path: %d %q %v", status, keyAuth, err)}
			return
		}
		// What the site itself has (certbot's webroot keeps files under
		// the challenge path) is what any of these may get.
		own := map[string]bool{"site " + name: true, "site's own challenge file": true, "site's own etc/passwd": true}
		c := "/.well-known/acme-challenge/"
		for _, target := range []string{
			c + "../../etc/passwd",
			c + "../../../../../../etc/passwd",
			c + "%2e%2e/%2e%2e/etc/passwd",
			c + "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
			c + "..%2f..%2fetc%2fpasswd",
			c + "%252e%252e%252fetc%252fpasswd",
			c + "..\\..\\etc\\passwd",
			c + token + "/../../../etc/passwd",
			c + token + "%00",
			c + token + "/",
			c + token + "%2F",
			c + "own.txt",
			c + token[:len(token)-1],
			c + token + "A",
			c + strings.Repeat("A", len(token)),
			c,
			"/.well-known/" + token,
			"/" + token,
			// The token itself in another spelling: only the exact path
			// may match (acme.Manager.HTTPChallenge's contract).
			c + "%" + fmt.Sprintf("%02X", token[0]) + token[1:],
			c + "./" + token,
			c + "x/../" + token,
			"/" + c + token,
			c + "/" + token,
			"/.well-known/%61cme-challenge/" + token,
		} {
			status, body, err := rawGet(plain, name, target)
			verdict := ""
			switch {
			case err != nil:
				verdict = err.Error()
			case strings.Contains(body, keyAuth) || strings.Contains(body, token+"."):
				verdict = "answered with the key authorization"
			case strings.Contains(body, "root:"):
				verdict = "answered with the system's /etc/passwd"
			case status == 200 && !own[body]:
				verdict = "200 with none of the site's files"
			case status != 200 && status != 404 && status != 400:
				verdict = "an unexpected status"
			}
			if verdict != "" {
				verdict = "FAIL " + verdict
			}
			out = append(out, fmt.Sprintf("%-52s %d %-30.30q %s", target, status, body, verdict))
		}
		for _, host := range []string{"other.moreweb.test", "x." + name, name + ".evil.test"} {
			status, body, err := rawGet(plain, host, c+token)
			verdict := ""
			if err != nil || strings.Contains(body, keyAuth) {
				verdict = fmt.Sprintf("FAIL %v", err)
			}
			out = append(out, fmt.Sprintf("Host %-47s %d %-30.30q %s", host, status, body, verdict))
		}
		probed <- out
	}

	e := newACMEEnv(t, func(plain, tls string) int {
		return challengeProxy(t, plain, []string{plain, tls}, name, probe)
	}, "http-01")
	testkit.WriteTree(t, e.dir, map[string]string{
		name + "/.well-known/acme-challenge/own.txt": "site's own challenge file",
		name + "/etc/passwd":                         "site's own etc/passwd",
	})
	app := e.start(t, acmeSite{name, ""})
	waitServed(t, app.addr(t, e.tls), name, e.ca.Issuers, certWithin)
	select {
	case lines := <-probed:
		for _, l := range lines {
			if strings.Contains(l, "FAIL") {
				t.Error(l)
			} else {
				t.Log(l)
			}
		}
	default:
		t.Fatal("the certificate came without a validation through the proxy")
	}
}

func TestACMENoNameIsEverOrderedForAnArbitrarySNI(t *testing.T) {
	e := newACMEEnv(t, nil, "http-01", "tls-alpn-01")
	const name = "sni.moreweb.test"
	// The default site gets every handshake no other site claims: the
	// way a stranger's name would reach the manager. It presents its own
	// name's certificate to them (which the client then cannot verify for
	// the stranger's name), and orders nothing.
	app := e.start(t, acmeSite{name, "default = true"})
	tlsAddr := app.addr(t, e.tls)
	waitServed(t, tlsAddr, name, e.ca.Issuers, certWithin)
	orders := e.ca.Orders()

	for _, c := range []struct {
		sni    string
		protos []string
	}{
		{"other.moreweb.test", nil},
		{"x." + name, nil},
		{"other.moreweb.test", []string{"acme-tls/1"}},
		{"", []string{"acme-tls/1"}},
	} {
		tc, err := dialACME(tlsAddr, c.sni, e.ca.Issuers, c.protos...)
		if err == nil {
			tc.Close()
			t.Errorf("handshake with SNI %q, ALPN %v succeeded", c.sni, c.protos)
			continue
		}
		t.Logf("SNI %q, ALPN %v: %v", c.sni, c.protos, err)
	}
	// Without SNI, the default site's certificate, as for certificate
	// files.
	if tc, err := dialACME(tlsAddr, "", e.ca.Issuers); err != nil {
		t.Errorf("handshake without SNI: %v", err)
	} else {
		if got := tc.ConnectionState().PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != name {
			t.Errorf("handshake without SNI: certificate for %v, want %s", got, name)
		}
		tc.Close()
	}
	// Whatever a handshake started would show within this: an order
	// of the managed name took well under it.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if n := e.ca.Orders(); n != orders {
			t.Fatalf("strangers' handshakes made %d orders:\n%s", n-orders, e.ca.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := servedLeaf(tlsAddr, name, e.ca.Issuers); err != nil {
		t.Fatalf("the managed name after the strangers: %v", err)
	}
	filepath.WalkDir(e.storage, func(p string, _ os.DirEntry, _ error) error {
		if strings.Contains(p, "other.") || strings.Contains(p, "x."+name) {
			t.Errorf("storage has %s", p)
		}
		return nil
	})
	for _, why := range [][]string{
		{"TLS handshake failed", "tls-alpn-01 for", "other.moreweb.test", "which is not a managed name"},
	} {
		if lineIndex(app, why...) < 0 {
			t.Errorf("no log line with %q", why)
		}
	}
	if lineIndex(app, "obtaining", "other.moreweb.test") >= 0 {
		t.Fatalf("the server set out to obtain a stranger's certificate:\n%s", app.logs)
	}
}
