package testkit

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// A local ACME CA for tests: pebble, with pebble-challtestsrv as the DNS
// server that tells pebble every name is 127.0.0.1, so that any name
// under a made-up domain validates against a server on loopback. Both are
// tool dependencies of the module (go.mod's tool block).
//
// Any package's test may call Pebble: the tools are built at most once per
// test binary, and the DNS server started once per binary and left
// running until the binary ends, since without a TestMain nothing else
// knows when the last test is done.

const (
	pebblePkg       = "github.com/letsencrypt/pebble/v2/cmd/pebble"
	challtestsrvPkg = "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv"
)

// PebbleOptions say where a pebble validates and what it issues.
type PebbleOptions struct {
	// HTTPPort and TLSPort are the ports on 127.0.0.1 pebble asks for
	// HTTP-01 and TLS-ALPN-01 validations on: the server under test
	// listens there, and may bind them after Pebble returns (pebble's own
	// ports are never these).
	HTTPPort, TLSPort int
	// Validity is how long issued certificates last, in whole seconds;
	// 0 is pebble's 90 days.
	Validity time.Duration
}

// PebbleCA is one running pebble, stopped when its test ends.
type PebbleCA struct {
	// CAURL is the ACME directory URL, for [acme] ca.
	CAURL string
	// CARootFile is a PEM file of the root behind pebble's own HTTPS
	// (TestCA's), for [acme] ca_root.
	CARootFile string
	// Issuers holds pebble's issuing root, which the certificates it
	// issues chain to: a client's RootCAs for the server under test.
	Issuers *x509.CertPool

	out *SyncBuffer
}

// Orders is how many orders pebble has taken.
func (p *PebbleCA) Orders() int { return p.out.Count("Added order") }

// Validations is how many authorizations pebble found valid, by any
// challenge.
func (p *PebbleCA) Validations() int { return p.out.Count("set VALID by completed challenge") }

// HTTPValidations is how many HTTP-01 validation requests pebble made,
// three a challenge (it validates from three goroutines at once);
// TLS-ALPN-01 ones it does not log.
func (p *PebbleCA) HTTPValidations() int { return p.out.Count("Attempting to validate w/ HTTP") }

// Log is what pebble has written so far.
func (p *PebbleCA) Log() string { return p.out.String() }

// Pebble starts a pebble for the test. It skips the test only when the
// tools cannot be built for lack of network; any other trouble fails it.
// Every order must be validated (no authorization is reused) and
// validation starts at once (no random sleep), so that a certificate
// proves its challenge was answered and arrives within a second or two.
func Pebble(t testing.TB, o PebbleOptions) *PebbleCA {
	t.Helper()
	dns := needPebble(t)
	dir := t.TempDir()
	ca := TestCA(t)
	p := &PebbleCA{CARootFile: filepath.Join(dir, "pebble-https-root.pem"), out: &SyncBuffer{}}
	writeFile(t, p.CARootFile, ca.PEM, 0o644)
	leaf := ca.Issue(t, time.Now().Add(24*time.Hour), "localhost", "127.0.0.1")
	certFile, keyFile := leaf.Write(t, dir, "pebble-https")
	https := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, DisableKeepAlives: true},
		Timeout:   5 * time.Second,
	}

	validity := int64(o.Validity / time.Second)
	if validity == 0 {
		validity = 90 * 24 * 3600
	}
	var tries []string
	for attempt := 0; attempt < 3; attempt++ {
		// pebble binds its ports itself: a port taken in between shows as
		// pebble not coming up, and the next attempt has other ports. The
		// validation ports are free too until the server under test binds
		// them, which is after pebble is up: pebble must not take them.
		port, err := freePort(o.HTTPPort, o.TLSPort)
		if err != nil {
			t.Fatal(err)
		}
		mgmtPort, err := freePort(o.HTTPPort, o.TLSPort, port)
		if err != nil {
			t.Fatal(err)
		}
		cfg := map[string]any{"pebble": map[string]any{
			"listenAddress":           fmt.Sprintf("127.0.0.1:%d", port),
			"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmtPort),
			"certificate":             certFile,
			"privateKey":              keyFile,
			"httpPort":                o.HTTPPort,
			"tlsPort":                 o.TLSPort,
			"ocspResponderURL":        "",
			"keyAlgorithm":            "ecdsa",
			// One profile, since pebble picks one at random for orders
			// that name none.
			"profiles": map[string]any{"default": map[string]any{"description": "test", "validityPeriod": validity}},
		}}
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfgFile := filepath.Join(dir, "pebble-config.json")
		writeFile(t, cfgFile, b, 0o600)

		out := &SyncBuffer{}
		cmd := exec.Command(tools.pebble, "-config", cfgFile, "-dnsserver", dns)
		cmd.Env = append(os.Environ(),
			"PEBBLE_VA_NOSLEEP=1",
			"PEBBLE_WFE_NONCEREJECT=0",
			"PEBBLE_AUTHZREUSE=0")
		cmd.Stdout, cmd.Stderr = out, out
		exited, err := startChild(cmd)
		if err != nil {
			t.Fatal(err)
		}
		stop := func() { cmd.Process.Kill(); <-exited }

		p.CAURL = fmt.Sprintf("https://127.0.0.1:%d/dir", port)
		roots := fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmtPort)
		var lastErr error
		up := poll(15*time.Second, exited, func() bool {
			if _, lastErr = fetch(https, p.CAURL); lastErr != nil {
				return false
			}
			var root []byte
			if root, lastErr = fetch(https, roots); lastErr != nil {
				return false
			}
			p.Issuers = x509.NewCertPool()
			return p.Issuers.AppendCertsFromPEM(root)
		})
		if up {
			p.out = out
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("pebble's output:\n%s", out)
				}
			})
			return p
		}
		stop()
		tries = append(tries, fmt.Sprintf("attempt %d (%v):\n%s", attempt+1, lastErr, out))
	}
	t.Fatalf("pebble did not come up:\n%s", strings.Join(tries, "\n"))
	return nil
}

// tools are the built binaries and the DNS server, shared by every test
// of the binary.
var tools struct {
	buildOnce            sync.Once
	pebble, challtestsrv string
	buildErr             error
	offline              bool // buildErr is for want of network

	dnsOnce sync.Once
	dns     string // challtestsrv's DNS address
	dnsErr  error
}

// needPebble builds the tools and starts the DNS server on first use and
// returns the DNS server's address.
func needPebble(t testing.TB) string {
	t.Helper()
	tools.buildOnce.Do(buildTools)
	if tools.buildErr != nil {
		if tools.offline {
			t.Skipf("pebble could not be built without network: %v", tools.buildErr)
		}
		t.Fatal(tools.buildErr)
	}
	tools.dnsOnce.Do(func() { tools.dns, tools.dnsErr = startChalltestsrv() })
	if tools.dnsErr != nil {
		t.Fatalf("pebble-challtestsrv: %v", tools.dnsErr)
	}
	return tools.dns
}

// networkTrouble is what the go command says when it cannot fetch modules.
var networkTrouble = regexp.MustCompile(`dial tcp|no such host|network is unreachable|connection refused|i/o timeout|TLS handshake timeout|Temporary failure in name resolution|GOPROXY=off`)

// buildTools puts the binaries in a directory of the user's cache named
// after what they are built from (the module's go.mod and go.sum, the Go
// version and platform, not where the checkout is), so that test
// binaries, runs and worktrees share one build; a change of any of those
// builds anew, and builds nobody used for a while are removed then. The
// user's cache rather than the shared temporary directory, where another
// user could have put binaries under the expected name first.
func buildTools() {
	env, err := exec.Command("go", "env", "GOMOD", "GOVERSION", "GOOS", "GOARCH").Output()
	if err != nil {
		tools.buildErr = fmt.Errorf("go env: %v", err)
		return
	}
	gomod, platform, _ := strings.Cut(string(env), "\n")
	gomod = strings.TrimSpace(gomod)
	h := sha256.New()
	h.Write([]byte(platform))
	for _, f := range []string{gomod, strings.TrimSuffix(gomod, ".mod") + ".sum"} {
		b, err := os.ReadFile(f)
		if err != nil {
			tools.buildErr = fmt.Errorf("the module's files: %v", err)
			return
		}
		h.Write(b)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]

	parent, err := os.UserCacheDir()
	if err == nil {
		parent = filepath.Join(parent, "moreweb-test")
		err = os.MkdirAll(parent, 0o700)
	}
	shared := err == nil
	if !shared {
		// No cache to share: one build for this binary, left behind.
		parent = os.TempDir()
	}
	final := filepath.Join(parent, "pebble-"+key)
	if shared && complete(final) {
		// The date says when it was last used, for pruneBuilds.
		now := time.Now()
		os.Chtimes(final, now, now)
		useTools(final)
		return
	}
	if shared {
		pruneBuilds(parent)
	}
	tmp, err := os.MkdirTemp(parent, "pebble-build-")
	if err != nil {
		tools.buildErr = err
		return
	}
	out, err := exec.Command("go", "build", "-o", tmp+string(filepath.Separator), pebblePkg, challtestsrvPkg).CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		tools.buildErr = fmt.Errorf("go build %s %s: %v\n%s", pebblePkg, challtestsrvPkg, err, out)
		tools.offline = networkTrouble.Match(out)
		return
	}
	// The directory appears whole or not at all; a binary that built the
	// same thing at the same time and renamed first wins.
	dir := tmp
	if shared {
		if err := os.Rename(tmp, final); err == nil || complete(final) {
			os.RemoveAll(tmp)
			dir = final
		}
	}
	useTools(dir)
}

// pruneBuilds removes the builds nobody used for two weeks (their module
// files changed since, or the checkout is gone), and what builds that
// died halfway left. A test binary that is using one of them keeps its
// running copies.
func pruneBuilds(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() {
			continue
		}
		age := time.Since(info.ModTime())
		switch {
		case strings.HasPrefix(e.Name(), "pebble-build-") && age > 24*time.Hour,
			!strings.HasPrefix(e.Name(), "pebble-build-") && strings.HasPrefix(e.Name(), "pebble-") && age > 14*24*time.Hour:
			os.RemoveAll(filepath.Join(parent, e.Name()))
		}
	}
}

func toolFiles(dir string) (pebble, challtestsrv string) {
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	return filepath.Join(dir, "pebble"+exe), filepath.Join(dir, "pebble-challtestsrv"+exe)
}

func useTools(dir string) { tools.pebble, tools.challtestsrv = toolFiles(dir) }

func complete(dir string) bool {
	a, b := toolFiles(dir)
	for _, f := range []string{a, b} {
		if fi, err := os.Stat(f); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

func startChalltestsrv() (string, error) {
	var failed error
	for attempt := 0; attempt < 3; attempt++ {
		dnsPort, err := freePort()
		if err != nil {
			return "", err
		}
		mgmtPort, err := freePort(dnsPort)
		if err != nil {
			return "", err
		}
		dns, mgmt := fmt.Sprintf("127.0.0.1:%d", dnsPort), fmt.Sprintf("127.0.0.1:%d", mgmtPort)
		out := &SyncBuffer{}
		cmd := exec.Command(tools.challtestsrv,
			"-http01", "", "-https01", "", "-doh", "", "-tlsalpn01", "",
			"-dnsserver", dns,
			"-management", mgmt,
			"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
		cmd.Stdout, cmd.Stderr = out, out
		exited, err := startChild(cmd)
		if err != nil {
			return "", err
		}
		// The TCP side of the DNS server comes up with the UDP side.
		if poll(10*time.Second, exited, func() bool {
			c, err := net.DialTimeout("tcp", dns, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		}) {
			return dns, nil
		}
		cmd.Process.Kill()
		<-exited
		failed = fmt.Errorf("not answering on %s:\n%s", dns, out)
	}
	return "", failed
}

// startChild starts cmd and returns a channel closed once it has exited.
// Pdeathsig is sent when the thread that started the child ends, not the
// process, so the start and the wait run on one goroutine locked to its
// thread for the child's life: the runtime then never retires that thread
// under a child that is still needed.
func startChild(cmd *exec.Cmd) (exited <-chan struct{}, err error) {
	cmd.SysProcAttr = childProcAttr()
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			cmd.Wait()
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return done, nil
}

// poll calls ok until it holds, d passes, or exited closes.
func poll(d time.Duration, exited <-chan struct{}, ok func() bool) bool {
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

func fetch(c *http.Client, url string) ([]byte, error) {
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

// freePort is a loopback port nobody held a moment ago, for a program
// that binds it itself, other than the ports in avoid: the kernel may
// well hand out again a port that was just given and released.
func freePort(avoid ...int) (int, error) {
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !slices.Contains(avoid, p) {
			return p, nil
		}
	}
}

func writeFile(t testing.TB, name string, b []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, b, perm); err != nil {
		t.Fatal(err)
	}
}
