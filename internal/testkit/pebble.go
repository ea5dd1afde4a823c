package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	pebble, dns := needPebble(t)
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
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		mgmtPort, err := freePort()
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
		cmd := exec.Command(pebble, "-config", cfgFile, "-dnsserver", dns)
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

// pebbleTools are pebble and its DNS server, built once per test binary.
var pebbleTools = &toolBuild{name: "pebble", pkgs: []string{pebblePkg, challtestsrvPkg}}

// dnsServer is the DNS server, shared by every test of the binary.
var dnsServer struct {
	once sync.Once
	addr string // challtestsrv's DNS address
	err  error
}

// needPebble builds the tools and starts the DNS server on first use and
// returns pebble's binary and the DNS server's address.
func needPebble(t testing.TB) (pebble, dns string) {
	t.Helper()
	bins := pebbleTools.need(t)
	dnsServer.once.Do(func() { dnsServer.addr, dnsServer.err = startChalltestsrv(bins[1]) })
	if dnsServer.err != nil {
		t.Fatalf("pebble-challtestsrv: %v", dnsServer.err)
	}
	return bins[0], dnsServer.addr
}

func startChalltestsrv(challtestsrv string) (string, error) {
	var failed error
	for attempt := 0; attempt < 3; attempt++ {
		dnsPort, err := freePort()
		if err != nil {
			return "", err
		}
		mgmtPort, err := freePort()
		if err != nil {
			return "", err
		}
		dns, mgmt := fmt.Sprintf("127.0.0.1:%d", dnsPort), fmt.Sprintf("127.0.0.1:%d", mgmtPort)
		out := &SyncBuffer{}
		cmd := exec.Command(challtestsrv,
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

func writeFile(t testing.TB, name string, b []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, b, perm); err != nil {
		t.Fatal(err)
	}
}
