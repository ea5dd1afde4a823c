package certs

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// renameOver replaces name the way editors and certbot do: a new file
// beside it, renamed onto it.
func renameOver(t testing.TB, name string, data []byte) {
	t.Helper()
	tmp := name + ".new"
	writeFile(t, tmp, data)
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// symlinkOver points the symlink name at target atomically.
func symlinkOver(t testing.TB, target, name string) {
	t.Helper()
	tmp := name + ".tmp"
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// watch starts a Pair closed when the test ends, with its log observed.
func watch(t testing.TB, certFile, keyFile string) (*Pair, *observer.ObservedLogs) {
	t.Helper()
	return watchWith(t, certFile, keyFile, watchOptions{poll: pollInterval})
}

func watchWith(t testing.TB, certFile, keyFile string, opt watchOptions) (*Pair, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	p, err := watchPair(certFile, keyFile, zap.New(core), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, logs
}

// changeDeadline is the rule: new handshakes see a changed pair within 2 s.
const changeDeadline = 2 * time.Second

// waitForPair polls p until it serves want, failing the test if that takes
// longer than the rule allows counting from since.
func waitForPair(t testing.TB, p *Pair, want testCert, since time.Time) {
	t.Helper()
	for {
		got := p.Certificate()
		if got.Leaf.Equal(want.leaf) {
			return
		}
		if time.Since(since) > changeDeadline {
			t.Fatalf("after %v still serving serial %v, want %v", time.Since(since).Round(time.Millisecond), got.Leaf.SerialNumber, want.leaf.SerialNumber)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitUntil polls cond for up to d.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func errorLogs(logs *observer.ObservedLogs) []observer.LoggedEntry {
	return logs.FilterLevelExact(zapcore.ErrorLevel).All()
}

func TestWatchPairReturnsTheLoadError(t *testing.T) {
	t.Parallel()
	certFile, keyFile := writePair(t, t.TempDir(), leafFor(t, "example.com"))
	writeFile(t, keyFile, leafFor(t, "example.com").keyPEM)
	p, err := WatchPair(certFile, keyFile, nil)
	if err == nil {
		p.Close()
		t.Fatal("WatchPair loaded a mismatched pair")
	}
	if _, wantErr := LoadPair(certFile, keyFile); err.Error() != wantErr.Error() {
		t.Fatalf("error %v, want LoadPair's %v", err, wantErr)
	}
}

func TestWatchPairServesThePairAtOnceWithANilLog(t *testing.T) {
	t.Parallel()
	a := leafFor(t, "example.com")
	certFile, keyFile := writePair(t, t.TempDir(), a)
	p, err := WatchPair(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !p.Certificate().Leaf.Equal(a.leaf) {
		t.Fatal("not serving the pair in the files")
	}
}

func TestWatchPairPicksUpAnInPlaceWriteWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	certFile, keyFile := writePair(t, t.TempDir(), leafFor(t, "example.com"))
	p, logs := watch(t, certFile, keyFile)
	b := leafFor(t, "example.com", "www.example.com")
	writeFile(t, keyFile, b.keyPEM)
	writeFile(t, certFile, b.certPEM)
	waitForPair(t, p, b, time.Now())

	waitUntil(t, time.Second, "no \"certificate reloaded\" log", func() bool {
		return logs.FilterMessage("certificate reloaded").Len() == 1
	})
	e := logs.FilterMessage("certificate reloaded").All()[0]
	if e.Level != zapcore.InfoLevel {
		t.Errorf("logged at %v", e.Level)
	}
	f := e.ContextMap()
	if f["cert"] != certFile || !strings.Contains(fieldString(f["names"]), "www.example.com") || f["not_after"] == nil {
		t.Errorf("log fields %v, want the cert path, the leaf's names and NotAfter", f)
	}
}

func fieldString(v any) string {
	if v == nil {
		return ""
	}
	var b strings.Builder
	switch v := v.(type) {
	case []any:
		for _, s := range v {
			b.WriteString(s.(string) + " ")
		}
	case []string:
		b.WriteString(strings.Join(v, " "))
	}
	return b.String()
}

func TestWatchPairPicksUpARenameOverWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	certFile, keyFile := writePair(t, t.TempDir(), leafFor(t, "example.com"))
	p, _ := watch(t, certFile, keyFile)
	for range 2 { // the watch must survive the first replacement of the files
		b := leafFor(t, "example.com")
		renameOver(t, certFile, b.certPEM)
		renameOver(t, keyFile, b.keyPEM)
		waitForPair(t, p, b, time.Now())
	}
}

// kubeSecret lays out a Secret volume as the kubelet does: dir/tls.crt ->
// ..data/tls.crt, and ..data -> a timestamped directory holding the files.
type kubeSecret struct {
	t   *testing.T
	dir string
	rev string // the current timestamped directory
}

func (k *kubeSecret) write(c testCert, stamp string) {
	t := k.t
	rev := "..2026_01_02_15_04_05." + stamp
	writeFile(t, filepath.Join(k.dir, rev, "tls.crt"), c.certPEM)
	writeFile(t, filepath.Join(k.dir, rev, "tls.key"), c.keyPEM)
	symlinkOver(t, rev, filepath.Join(k.dir, "..data"))
	if k.rev == "" {
		for _, f := range []string{"tls.crt", "tls.key"} {
			if err := os.Symlink(filepath.Join("..data", f), filepath.Join(k.dir, f)); err != nil {
				t.Fatal(err)
			}
		}
	} else if err := os.RemoveAll(filepath.Join(k.dir, k.rev)); err != nil {
		t.Fatal(err)
	}
	k.rev = rev
}

func TestWatchPairPicksUpAKubernetesDataSymlinkSwapWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	k := &kubeSecret{t: t, dir: t.TempDir()}
	k.write(leafFor(t, "example.com"), "1")
	p, logs := watch(t, filepath.Join(k.dir, "tls.crt"), filepath.Join(k.dir, "tls.key"))
	for i, stamp := range []string{"2", "3"} { // the old revision's directory is gone each time
		b := leafFor(t, "example.com")
		k.write(b, stamp)
		waitForPair(t, p, b, time.Now())
		waitUntil(t, time.Second, "no reload log", func() bool { return logs.FilterMessage("certificate reloaded").Len() == i+1 })
	}
	if n := len(errorLogs(logs)); n != 0 {
		t.Fatalf("%d errors logged: %v", n, errorLogs(logs))
	}
}

// certbotLive lays out certbot's tree: live/<name>/ holds symlinks into
// archive/<name>/, where every renewal adds numbered files.
func certbotLive(t *testing.T, root string, c testCert, n int) (certFile, keyFile string) {
	t.Helper()
	archive := filepath.Join(root, "archive", "example.com")
	live := filepath.Join(root, "live", "example.com")
	writeFile(t, filepath.Join(archive, "fullchain"+itoa(n)+".pem"), c.certPEM)
	writeFile(t, filepath.Join(archive, "privkey"+itoa(n)+".pem"), c.keyPEM)
	if err := os.MkdirAll(live, 0o755); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(live, "fullchain.pem"), filepath.Join(live, "privkey.pem")
	// certbot moves the links one after the other: the chain first, so the
	// pair does not match for a moment.
	symlinkOver(t, "../../archive/example.com/fullchain"+itoa(n)+".pem", certFile)
	symlinkOver(t, "../../archive/example.com/privkey"+itoa(n)+".pem", keyFile)
	return certFile, keyFile
}

func itoa(n int) string { return string(rune('0' + n)) }

func TestWatchPairPicksUpACertbotSymlinkRetargetWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	certFile, keyFile := certbotLive(t, root, leafFor(t, "example.com"), 1)
	p, logs := watch(t, certFile, keyFile)
	for n := 2; n <= 3; n++ {
		b := leafFor(t, "example.com")
		certbotLive(t, root, b, n)
		waitForPair(t, p, b, time.Now())
	}
	if n := len(errorLogs(logs)); n != 0 {
		t.Fatalf("%d errors logged: %v", n, errorLogs(logs))
	}
}

func TestWatchPairPicksUpAnInPlaceWriteOfASymlinkTargetWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	certFile, keyFile := certbotLive(t, root, leafFor(t, "example.com"), 1)
	p, _ := watch(t, certFile, keyFile)
	b := leafFor(t, "example.com")
	writeFile(t, filepath.Join(root, "archive", "example.com", "privkey1.pem"), b.keyPEM)
	writeFile(t, filepath.Join(root, "archive", "example.com", "fullchain1.pem"), b.certPEM)
	waitForPair(t, p, b, time.Now())
}

func TestWatchPairPollingAloneSeesARenameOverWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	certFile, keyFile := writePair(t, t.TempDir(), leafFor(t, "example.com"))
	p, _ := watchWith(t, certFile, keyFile, watchOptions{poll: pollInterval, noEvents: true})
	b := leafFor(t, "example.com")
	renameOver(t, certFile, b.certPEM)
	renameOver(t, keyFile, b.keyPEM)
	waitForPair(t, p, b, time.Now())
}

func TestWatchPairKeepsTheOldPairAndLogsOnceWhenTheNewOneIsBroken(t *testing.T) {
	t.Parallel()
	a := leafFor(t, "example.com")
	certFile, keyFile := writePair(t, t.TempDir(), a)
	p, logs := watch(t, certFile, keyFile)
	renameOver(t, certFile, []byte("-----BEGIN CERTIFICATE-----\nhalf"))

	waitUntil(t, 3*time.Second, "the broken pair was not logged", func() bool { return len(errorLogs(logs)) > 0 })
	e := errorLogs(logs)[0]
	f := e.ContextMap()
	if f["cert"] != certFile || f["key"] != keyFile || !strings.Contains(f["error"].(string), "no PEM certificate") {
		t.Errorf("log fields %v, want both paths and LoadPair's error", f)
	}
	if !p.Certificate().Leaf.Equal(a.leaf) {
		t.Fatal("the old pair is no longer served")
	}
	// Two more polls of the unchanged broken files must stay quiet.
	checks := p.checks.Load()
	waitUntil(t, 3*pollInterval, "the watcher stopped checking", func() bool { return p.checks.Load() >= checks+2 })
	if n := len(errorLogs(logs)); n != 1 {
		t.Fatalf("the broken pair was logged %d times, want once", n)
	}
	if !p.Certificate().Leaf.Equal(a.leaf) {
		t.Fatal("the old pair is no longer served")
	}

	// Mending the files ends the episode.
	b := leafFor(t, "example.com")
	renameOver(t, keyFile, b.keyPEM)
	renameOver(t, certFile, b.certPEM)
	waitForPair(t, p, b, time.Now())
}

func TestWatchPairDoesNotLogACertificateWrittenBeforeItsKey(t *testing.T) {
	t.Parallel()
	certFile, keyFile := writePair(t, t.TempDir(), leafFor(t, "example.com"))
	p, logs := watch(t, certFile, keyFile)
	b := leafFor(t, "example.com")
	writeFile(t, certFile, b.certPEM)
	// The watcher must see the mismatch before the key comes.
	waitUntil(t, changeDeadline, "the watcher did not try the half-written pair", func() bool { return p.failures.Load() > 0 })
	writeFile(t, keyFile, b.keyPEM)
	waitForPair(t, p, b, time.Now())
	if n := len(errorLogs(logs)); n != 0 {
		t.Fatalf("%d errors logged for a pair in the middle of being written: %v", n, errorLogs(logs))
	}
}

func TestCertificateDoesNotAllocate(t *testing.T) {
	certFile, keyFile := writePair(t, t.TempDir(), leafFor(t, "example.com"))
	p, _ := watch(t, certFile, keyFile)
	if n := testing.AllocsPerRun(1000, func() { p.Certificate() }); n != 0 {
		t.Fatalf("Certificate allocates %v times", n)
	}
}

// TestHandshakesSeeTheNewPairWhileManyGoroutinesReadIt swaps pairs under
// concurrent readers (for the race detector) and checks what a TLS client
// is shown.
func TestHandshakesSeeTheNewPairWhileManyGoroutinesReadIt(t *testing.T) {
	t.Parallel()
	certFile, keyFile := writePair(t, t.TempDir(), leafFor(t, "example.com"))
	p, _ := watch(t, certFile, keyFile)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					if c := p.Certificate(); c == nil || c.Leaf == nil {
						t.Error("no certificate")
						return
					}
					// Handshakes come and go; a tight loop on one P would
					// starve the watcher rather than race with it.
					runtime.Gosched()
				}
			}
		})
	}
	defer wg.Wait()
	defer close(stop)

	b := leafFor(t, "example.com")
	renameOver(t, keyFile, b.keyPEM)
	renameOver(t, certFile, b.certPEM)
	waitForPair(t, p, b, time.Now())
	if got := handshake(t, p); !got.Equal(b.leaf) {
		t.Fatalf("a new handshake was shown serial %v, want %v", got.SerialNumber, b.leaf.SerialNumber)
	}
}

func handshake(t *testing.T, p *Pair) *x509.Certificate {
	t.Helper()
	sc, cc := net.Pipe()
	defer sc.Close()
	defer cc.Close()
	srv := tls.Server(sc, &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return p.Certificate(), nil },
	})
	go srv.Handshake()
	cli := tls.Client(cc, &tls.Config{ServerName: "example.com", InsecureSkipVerify: true})
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	return cli.ConnectionState().PeerCertificates[0]
}

func TestCloseIsIdempotentAndKeepsTheLastPair(t *testing.T) {
	t.Parallel()
	a := leafFor(t, "example.com")
	certFile, keyFile := writePair(t, t.TempDir(), a)
	p, _ := watch(t, certFile, keyFile)
	for range 2 {
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !p.Certificate().Leaf.Equal(a.leaf) {
		t.Fatal("Close dropped the pair")
	}
}

// TestCloseLeavesNoGoroutineAndNoFileDescriptor is not parallel: it counts
// what the whole process holds.
func TestCloseLeavesNoGoroutineAndNoFileDescriptor(t *testing.T) {
	root := t.TempDir()
	openFiles := func() int {
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd on this system")
		}
		return len(fds)
	}
	run := func() {
		certFile, keyFile := certbotLive(t, root, leafFor(t, "example.com"), 1)
		p, err := WatchPair(certFile, keyFile, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := leafFor(t, "example.com")
		certbotLive(t, root, b, 2) // watches on two directories, and a reload
		waitForPair(t, p, b, time.Now())
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	run() // the runtime's poller and the like are made once, on first use
	goroutines, fds := runtime.NumGoroutine(), openFiles()
	run()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > goroutines || openFiles() > fds {
		if time.Now().After(deadline) {
			t.Fatalf("after Close: %d goroutines, want %d; %d file descriptors, want %d",
				runtime.NumGoroutine(), goroutines, openFiles(), fds)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
