package acme

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/moreweb/moreweb/internal/testkit"
)

// obtainWithin bounds a first certificate: against a local pebble that
// validates at once it takes a second or two.
const obtainWithin = 30 * time.Second

func testLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel))
}

func hello(name string) *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{ServerName: name}
}

func TestManagedNameGetsCertificateByHTTP01(t *testing.T) {
	e := newEnv(t, envConfig{})
	m := e.start(e.options(t.TempDir(), "http-01"))
	const name = "a.moreweb.test"
	if err := m.Manage([]string{name}); err != nil {
		t.Fatal(err)
	}
	leaf := e.waitCert(m, name, obtainWithin)
	served, err := e.handshake(name)
	if err != nil {
		t.Fatalf("handshake for %s: %v", name, err)
	}
	if !served.Equal(leaf) {
		t.Fatalf("handshake presented serial %v, Certificate gives %v", served.SerialNumber, leaf.SerialNumber)
	}
	if served.VerifyHostname(name) != nil {
		t.Fatalf("served certificate is for %v, not %s", served.DNSNames, name)
	}
	if e.httpHits.Load() == 0 || e.alpnHits.Load() != 0 {
		t.Fatalf("validation requests: %d HTTP, %d TLS-ALPN; want HTTP only", e.httpHits.Load(), e.alpnHits.Load())
	}
}

func TestManagedNameGetsCertificateByTLSALPN01Alone(t *testing.T) {
	e := newEnv(t, envConfig{})
	m := e.start(e.options(t.TempDir(), "tls-alpn-01"))
	const name = "b.moreweb.test"
	if err := m.Manage([]string{name}); err != nil {
		t.Fatal(err)
	}
	leaf := e.waitCert(m, name, obtainWithin)
	served, err := e.handshake(name)
	if err != nil {
		t.Fatalf("handshake for %s: %v", name, err)
	}
	if !served.Equal(leaf) {
		t.Fatalf("handshake presented serial %v, Certificate gives %v", served.SerialNumber, leaf.SerialNumber)
	}
	if e.alpnHits.Load() == 0 || e.httpHits.Load() != 0 {
		t.Fatalf("validation requests: %d HTTP, %d TLS-ALPN; want TLS-ALPN only", e.httpHits.Load(), e.alpnHits.Load())
	}
}

func TestRestartServesStoredCertificateWithoutNewOrder(t *testing.T) {
	e := newEnv(t, envConfig{})
	storage := t.TempDir()
	const name = "c.moreweb.test"
	first := e.start(e.options(storage, "http-01", "tls-alpn-01"))
	if err := first.Manage([]string{name}); err != nil {
		t.Fatal(err)
	}
	before := e.waitCert(first, name, obtainWithin)
	first.Close()
	orders, hits := e.orders(), e.httpHits.Load()+e.alpnHits.Load()
	if orders != 1 {
		t.Fatalf("pebble took %d orders for one name", orders)
	}

	second := e.start(e.options(storage, "http-01", "tls-alpn-01"))
	// Preload serves the stored certificate before Manage is told the
	// name, and Manage carries it on without a gap.
	second.Preload([]string{name})
	if c, err := second.Certificate(hello(name)); err != nil || !c.Leaf.Equal(before) {
		t.Fatalf("Certificate after Preload: %v", err)
	}
	if err := second.Manage([]string{name}); err != nil {
		t.Fatal(err)
	}
	if c, err := second.Certificate(hello(name)); err != nil || !c.Leaf.Equal(before) {
		t.Fatalf("Certificate right after Manage: %v", err)
	}
	after := e.waitCert(second, name, 5*time.Second)
	if !after.Equal(before) {
		t.Fatalf("restart serves serial %v, the stored one is %v", after.SerialNumber, before.SerialNumber)
	}
	if n := e.orders(); n != orders {
		t.Fatalf("restart made %d new orders", n-orders)
	}
	if n := e.httpHits.Load() + e.alpnHits.Load(); n != hits {
		t.Fatalf("restart caused %d validation requests", n-hits)
	}
	if served, err := e.handshake(name); err != nil || !served.Equal(before) {
		t.Fatalf("handshake after restart: %v (err %v)", served, err)
	}
	second.Close()

	// What was preloaded for a config that never served is gone at the
	// next Manage.
	third := e.start(e.options(storage, "http-01", "tls-alpn-01"))
	third.Preload([]string{name})
	if err := third.Manage(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := third.Certificate(hello(name)); err == nil || !strings.Contains(err.Error(), "not a managed name") {
		t.Fatalf("a preloaded name Manage did not take is still served: %v", err)
	}
}

func TestRenewalGivesNewSerialBeforeOldExpires(t *testing.T) {
	const validity = 30 * time.Second
	e := newEnv(t, envConfig{validity: int(validity / time.Second)})
	m := e.start(e.options(t.TempDir(), "http-01"))
	const name = "d.moreweb.test"
	if err := m.Manage([]string{name}); err != nil {
		t.Fatal(err)
	}
	old := e.waitCert(m, name, obtainWithin)
	due := renewalDue(old)

	var renewed bool
	var at time.Time
	waitFor(time.Until(old.NotAfter), func() bool {
		c, err := m.Certificate(hello(name))
		if err != nil {
			t.Fatalf("while waiting for renewal: %v", err)
		}
		at = time.Now()
		renewed = !c.Leaf.Equal(old)
		return renewed
	})
	if !renewed {
		t.Fatalf("serial %v, which expires at %s, was not replaced before it expired", old.SerialNumber, old.NotAfter)
	}
	// A renewal is started only once a third of the lifetime is left; a
	// second of slack for the certificate times' whole seconds.
	if at.Before(due.Add(-time.Second)) {
		t.Fatalf("renewed at %s, before a third of the lifetime was left (%s)", at, due)
	}
	if served, err := e.handshake(name); err != nil || served.Equal(old) {
		t.Fatalf("handshake after renewal: old certificate or error %v", err)
	}
}

func TestDroppedNameIsNoLongerServedWhileAnotherStays(t *testing.T) {
	e := newEnv(t, envConfig{})
	m := e.start(e.options(t.TempDir(), "http-01"))
	const kept, dropped = "keep.moreweb.test", "drop.moreweb.test"
	if err := m.Manage([]string{kept, dropped}); err != nil {
		t.Fatal(err)
	}
	e.waitCert(m, kept, obtainWithin)
	e.waitCert(m, dropped, obtainWithin)

	if err := m.Manage([]string{kept}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Certificate(hello(dropped)); err == nil {
		t.Fatalf("Certificate still serves dropped %s", dropped)
	}
	if _, err := e.handshake(dropped); err == nil {
		t.Fatalf("handshake for dropped %s succeeded", dropped)
	}
	if _, err := m.Certificate(hello(kept)); err != nil {
		t.Fatalf("kept %s: %v", kept, err)
	}
	if _, err := e.handshake(kept); err != nil {
		t.Fatalf("handshake for kept %s: %v", kept, err)
	}

	// Taking it back serves the stored certificate again, without ordering.
	orders := e.orders()
	if err := m.Manage([]string{kept, dropped}); err != nil {
		t.Fatal(err)
	}
	e.waitCert(m, dropped, 5*time.Second)
	if n := e.orders(); n != orders {
		t.Fatalf("managing %s again made %d orders", dropped, n-orders)
	}
}

func TestUnmanagedServerNameErrorsAndCausesNoOrder(t *testing.T) {
	e := newEnv(t, envConfig{})
	storage := t.TempDir()
	m := e.start(e.options(storage, "http-01", "tls-alpn-01"))
	const managed, stranger = "e.moreweb.test", "stranger.moreweb.test"

	// Before anything is managed, and after.
	if _, err := m.Certificate(hello(stranger)); err == nil || !strings.Contains(err.Error(), "not a managed name") {
		t.Fatalf("Certificate(%s) with nothing managed: %v", stranger, err)
	}
	if err := m.Manage([]string{managed}); err != nil {
		t.Fatal(err)
	}
	e.waitCert(m, managed, obtainWithin)
	orders := e.orders()
	for _, sni := range []string{stranger, "", "moreweb.test", "x." + managed} {
		if _, err := m.Certificate(hello(sni)); err == nil {
			t.Errorf("Certificate(%q) served a certificate", sni)
		}
	}
	if _, err := e.handshake(stranger); err == nil {
		t.Fatalf("handshake for unmanaged %s succeeded", stranger)
	}
	// Certificate is synchronous and starts nothing, so an order it caused
	// would be in pebble's log by now.
	if n := e.orders(); n != orders {
		t.Fatalf("unmanaged names made %d orders", n-orders)
	}
	found := false
	filepath.WalkDir(storage, func(p string, _ os.DirEntry, _ error) error {
		found = found || strings.Contains(p, "stranger")
		return nil
	})
	if found {
		t.Fatalf("storage has something for %s", stranger)
	}
}

func TestManagedNameWithoutCertificateYetSaysSo(t *testing.T) {
	e := newEnv(t, envConfig{})
	m := e.start(e.options(t.TempDir(), "http-01"))
	block := make(chan struct{})
	hook := func(host, path string) { <-block }
	e.onHTTP.Store(&hook)
	defer close(block)
	const name = "f.moreweb.test"
	if err := m.Manage([]string{name}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Certificate(hello(name)); err == nil || !strings.Contains(err.Error(), "no certificate for") {
		t.Fatalf("Certificate before the CA answered: %v", err)
	}
}

func TestHTTPChallengeRefusesTraversalUnknownTokensAndOtherHosts(t *testing.T) {
	e := newEnv(t, envConfig{})
	m := e.start(e.options(t.TempDir(), "http-01"))
	const name, other = "g.moreweb.test", "h.moreweb.test"

	if _, ok := m.HTTPChallenge(name, "/.well-known/acme-challenge/abc"); ok {
		t.Fatal("answered before any challenge exists")
	}

	// Checked from inside pebble's validation request, while the challenge
	// is surely pending.
	var once sync.Once
	checked := make(chan []string, 1)
	hook := func(host, path string) {
		if host != name {
			return
		}
		once.Do(func() {
			var bad []string
			token := strings.TrimPrefix(path, "/.well-known/acme-challenge/")
			if _, ok := m.HTTPChallenge(host, path); !ok {
				bad = append(bad, "the real request itself was refused: "+path)
			}
			refused := []struct{ host, path string }{
				{name, "/.well-known/acme-challenge/../acme-challenge/" + token},
				{name, "/.well-known/acme-challenge/./" + token},
				{name, "/.well-known/acme-challenge//" + token},
				{name, "//.well-known/acme-challenge/" + token},
				{name, "/.well-known/acme-challenge/" + token + "/"},
				{name, "/.well-known/acme-challenge/" + token + "/.."},
				{name, "/.well-known/acme-challenge/" + token + "%2F"},
				{name, "/.well-known/acme-challenge/%" + strings.ToUpper(hexByte(token[0])) + token[1:]},
				{name, "/.well-known/acme-challenge/" + token + "?x=1"},
				{name, "/.well-known/acme-challenge/" + token[:len(token)-1]},
				{name, "/.well-known/acme-challenge/" + token + "A"},
				{name, "/.well-known/acme-challenge/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
				{name, "/.well-known/acme-challenge/"},
				{name, "/.well-known/" + token},
				{name, "/" + token},
				{other, path},
				{"stranger.moreweb.test", path},
				{name + ":80", path},
				{"", path},
			}
			for _, r := range refused {
				if body, ok := m.HTTPChallenge(r.host, r.path); ok {
					bad = append(bad, r.host+" "+r.path+" answered "+string(body))
				}
			}
			checked <- bad
		})
	}
	e.onHTTP.Store(&hook)
	if err := m.Manage([]string{name, other}); err != nil {
		t.Fatal(err)
	}
	e.waitCert(m, name, obtainWithin)
	select {
	case bad := <-checked:
		for _, b := range bad {
			t.Error(b)
		}
	default:
		t.Fatal("no validation request reached the HTTP server")
	}
}

func hexByte(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

func TestCADownLogsFailureAndManageReturnsAtOnce(t *testing.T) {
	// Nothing listens there.
	down := testkit.FreeAddr(t)
	core, logs := observer.New(zapcore.InfoLevel)
	o := Options{
		Email:      testEmail,
		CA:         "https://" + down + "/dir",
		Storage:    t.TempDir(),
		Challenges: []string{"http-01"},
		Log:        zap.New(zapcore.NewTee(core, testLogger(t).Core())),
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const name = "down.moreweb.test"
	start := time.Now()
	if err := m.Manage([]string{name}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Manage took %v with the CA down", d)
	}
	if _, err := m.Certificate(hello(name)); err == nil {
		t.Fatal("a certificate with the CA down")
	}
	var seen string
	if !waitFor(20*time.Second, func() bool {
		for _, entry := range logs.FilterLevelExact(zapcore.ErrorLevel).All() {
			line := entry.Message
			for _, f := range entry.Context {
				line += " " + f.Key + "=" + f.String
				if err, ok := f.Interface.(error); ok {
					line += err.Error()
				}
			}
			if strings.Contains(line, name) && strings.Contains(line, "connection refused") {
				seen = line
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no error logged with the name and the reason; logged:\n%v", logs.All())
	}
	t.Logf("logged: %s", seen)
	// Close must not wait for certmagic's retry a minute later.
	start = time.Now()
	m.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

func TestCloseLeavesNoGoroutineBehind(t *testing.T) {
	e := newEnv(t, envConfig{})
	// certmagic keeps one rate limiter goroutine per CA and account email
	// for the life of the process (acmeclient.go, "stop rate limiter when
	// it is garbage-collected" still a TODO); a first Manager brings it up
	// before the count is taken, since no Manager can stop it.
	pre := settledGoroutines(0, 0)
	warm := e.start(e.options(t.TempDir(), "http-01"))
	warm.Manage([]string{"warm.moreweb.test"})
	e.waitCert(warm, "warm.moreweb.test", obtainWithin)
	warm.Close()
	baseline := settledGoroutines(pre+1, 3*time.Second)
	if baseline > pre+1 {
		checkGoroutines(t, pre+1, "after the first Manager, beyond certmagic's rate limiter")
	}

	// A Manager that got certificates, dropped a name and renewed nothing.
	m := e.start(e.options(t.TempDir(), "http-01", "tls-alpn-01"))
	m.Manage([]string{"i.moreweb.test", "j.moreweb.test"})
	e.waitCert(m, "i.moreweb.test", obtainWithin)
	e.waitCert(m, "j.moreweb.test", obtainWithin)
	m.Manage([]string{"i.moreweb.test"})
	m.Close()
	m.Close()
	checkGoroutines(t, baseline, "after certificates were obtained")

	// One closed in the middle of an order: the validation request is held
	// until Close has returned.
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	hook := func(host, path string) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
	}
	e.onHTTP.Store(&hook)
	m = e.start(e.options(t.TempDir(), "http-01"))
	m.Manage([]string{"k.moreweb.test"})
	select {
	case <-arrived:
	case <-time.After(obtainWithin):
		t.Fatal("no validation request arrived")
	}
	m.Close()
	close(release)
	checkGoroutines(t, baseline, "after a close in the middle of an order")
}

// settledGoroutines waits for the goroutine count to stop falling and
// returns it; with limit > 0 it returns as soon as the count is at most limit.
func settledGoroutines(limit int, d time.Duration) int {
	if d == 0 {
		d = 2 * time.Second
	}
	deadline := time.Now().Add(d)
	n := runtime.NumGoroutine()
	for time.Now().Before(deadline) {
		if limit > 0 && n <= limit {
			return n
		}
		time.Sleep(20 * time.Millisecond)
		next := runtime.NumGoroutine()
		if limit == 0 && next == n {
			// Unchanged for a while is settled.
			stable := true
			for i := 0; i < 10 && stable; i++ {
				time.Sleep(20 * time.Millisecond)
				stable = runtime.NumGoroutine() == n
			}
			if stable {
				return n
			}
		}
		n = runtime.NumGoroutine()
	}
	return n
}

func checkGoroutines(t *testing.T, baseline int, when string) {
	t.Helper()
	// Connections end a moment after their last byte, which takes
	// milliseconds; the seconds are room for a loaded machine. Anything
	// lingering longer, like the five seconds FileStorage's lock refresher
	// sleeps on after a release, is caught.
	if n := settledGoroutines(baseline, 3*time.Second); n > baseline {
		var buf bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Fatalf("%s: %d goroutines, %d before the Manager:\n%s", when, n, baseline, buf.String())
	}
}

func TestNewRejectsIncompleteOptions(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{
		{Storage: dir, Challenges: []string{"http-01"}},
		{CA: "https://127.0.0.1:1/dir", Challenges: []string{"http-01"}},
		{CA: "https://127.0.0.1:1/dir", Storage: dir},
		{CA: "https://127.0.0.1:1/dir", Storage: dir, Challenges: []string{"dns-01"}},
		{CA: "https://127.0.0.1:1/dir", Storage: dir, Challenges: []string{"http-01"}, CARoot: filepath.Join(dir, "missing.pem")},
	} {
		if m, err := New(o); err == nil {
			m.Close()
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestNewCreatesStoragePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "acme")
	m, err := New(Options{CA: "https://127.0.0.1:1/dir", Storage: dir, Challenges: []string{"http-01"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("storage made %v", fi.Mode().Perm())
	}
}

func TestManageRefusesBadNamesAndKeepsTheSet(t *testing.T) {
	m, err := New(Options{CA: "https://127.0.0.1:1/dir", Storage: t.TempDir(), Challenges: []string{"http-01"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Manage([]string{"ok.moreweb.test"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"*.moreweb.test", "Upper.moreweb.test", "", "a..b", "trailing.dot.", "127.0.0.1", "sp ace.test"} {
		if err := m.Manage([]string{"ok.moreweb.test", bad}); err == nil {
			t.Errorf("Manage accepted %q", bad)
		}
	}
	if m.lookup("ok.moreweb.test") == nil {
		t.Fatal("a refused Manage changed the set")
	}
	m.Close()
	if err := m.Manage([]string{"ok.moreweb.test"}); err == nil {
		t.Fatal("Manage after Close accepted")
	}
}
