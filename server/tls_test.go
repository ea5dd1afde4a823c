package server

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moreweb/moreweb/internal/testkit"
)

// tlsSites is three HTTPS sites on one TLS listener, and a plain listener
// for the redirect: a.test (its own certificate, also valid for
// shared.test), *.b.test (a wildcard certificate) and a default site,
// whose certificate names default.test.
type tlsSites struct {
	app         *liveApp
	plain, tls  string // the listeners' bound addresses
	dir, config string
}

func startTLSSites(t *testing.T, extra string) *tlsSites {
	t.Helper()
	return startTLSSitesWith(t, extra, nil)
}

// startTLSSitesWith is startTLSSites with prepare run on the directory
// before the server starts.
func startTLSSitesWith(t *testing.T, extra string, prepare func(*testing.T, string)) *tlsSites {
	t.Helper()
	dir := t.TempDir()
	testkit.WriteTree(t, dir, map[string]string{
		"a/index.html":       "site a",
		"a/big.bin":          strings.Repeat("0123456789abcdef", 1<<18), // 4 MiB
		"b/index.html":       "site b",
		"shared/index.html":  "site shared",
		"default/index.html": "site default",
	})
	testkit.WriteCert(t, dir, "a", "a.test", "shared.test")
	testkit.WriteCert(t, dir, "b", "*.b.test")
	testkit.WriteCert(t, dir, "shared", "shared.test")
	testkit.WriteCert(t, dir, "default", "default.test")
	plain, secure := testkit.FreeAddr(t), testkit.FreeAddr(t)
	conf := filepath.Join(dir, "site.toml")
	testkit.WriteTree(t, dir, map[string]string{"site.toml": fmt.Sprintf(`
[server]
access_log = "off"
read_header_timeout = "1s"
shutdown_timeout = "2s"

[[listener]]
name = "plain"
address = %q

[[listener]]
name = "tls"
address = %q
tls = true

[[vhost]]
hosts = ["a.test"]
root = "a"
https_redirect = true
hsts = "max-age=63072000; includeSubDomains"
[vhost.tls]
cert = "a.pem"
key = "a.key"

[[vhost]]
hosts = ["*.b.test"]
root = "b"
listeners = ["tls"]
[vhost.tls]
cert = "b.pem"
key = "b.key"

[[vhost]]
hosts = ["shared.test"]
root = "shared"
listeners = ["tls"]
[vhost.tls]
cert = "shared.pem"
key = "shared.key"

[[vhost]]
default = true
root = "default"
[vhost.tls]
cert = "default.pem"
key = "default.key"
%s`, plain, secure, extra)})
	if prepare != nil {
		prepare(t, dir)
	}
	app := runApp(t, conf, 50*time.Millisecond)
	return &tlsSites{app: app, plain: app.addr(t, plain), tls: app.addr(t, secure), dir: dir, config: conf}
}

// handshake connects with sni and returns the names of the certificate
// the server presented, or the handshake's error.
func handshake(t *testing.T, addr, sni string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.ServerName = sni
	cfg.RootCAs = testkit.TestCA(t).Pool
	if sni == "" {
		cfg.InsecureSkipVerify = true // no name to verify; the names are checked by hand
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	tc, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err == nil {
		t.Cleanup(func() { tc.Close() })
	}
	return tc, err
}

func presented(tc *tls.Conn) string {
	return strings.Join(tc.ConnectionState().PeerCertificates[0].DNSNames, ",")
}

// get sends one request for host on tc and returns the response.
func get(t *testing.T, tc net.Conn, host, path string) (*http.Response, string) {
	t.Helper()
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(tc, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host)
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func TestTLSCertificateIsChosenBySNILikeAHost(t *testing.T) {
	s := startTLSSites(t, "")
	for _, c := range []struct{ sni, want string }{
		{"a.test", "a.test,shared.test"},
		{"A.Test", "a.test,shared.test"},
		{"x.b.test", "*.b.test"},
		{"shared.test", "shared.test"},
		{"unknown.test", "default.test"},
		{"", "default.test"},
	} {
		cfg := &tls.Config{}
		if c.sni != "x.b.test" && c.sni != "a.test" && c.sni != "A.Test" && c.sni != "shared.test" {
			cfg.InsecureSkipVerify = true // the default site's name is not the one asked for
		}
		tc, err := handshake(t, s.tls, c.sni, cfg)
		if err != nil {
			t.Errorf("SNI %q: %v", c.sni, err)
			continue
		}
		if got := presented(tc); got != c.want {
			t.Errorf("SNI %q: certificate for %s, want %s", c.sni, got, c.want)
		}
	}
}

func TestTLSUnknownNameWithoutADefaultSiteFailsWithUnrecognizedName(t *testing.T) {
	dir := t.TempDir()
	testkit.WriteTree(t, dir, map[string]string{"a/index.html": "a"})
	testkit.WriteCert(t, dir, "a", "a.test")
	addr := testkit.FreeAddr(t)
	testkit.WriteTree(t, dir, map[string]string{"site.toml": fmt.Sprintf(`
[server]
access_log = "off"
[[listener]]
name = "tls"
address = %q
tls = true
[[vhost]]
hosts = ["a.test"]
root = "a"
[vhost.tls]
cert = "a.pem"
key = "a.key"
`, addr)})
	app := runApp(t, filepath.Join(dir, "site.toml"), time.Second)
	_, err := handshake(t, app.addr(t, addr), "other.test", &tls.Config{InsecureSkipVerify: true})
	if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
		t.Fatalf("handshake for a name no site has: %v, want the unrecognized_name alert", err)
	}
	if tc, err := handshake(t, app.addr(t, addr), "a.test", nil); err != nil {
		t.Fatalf("a.test: %v", err)
	} else if _, body := get(t, tc, "a.test", "/"); body != "a" {
		t.Fatalf("a.test: %q", body)
	}
}

func TestRFC9110_15_5_20_HostNotCoveredByTheConnectionsCertificateAnswers421(t *testing.T) {
	s := startTLSSites(t, "")
	tc, err := handshake(t, s.tls, "a.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := get(t, tc, "a.test", "/"); resp.StatusCode != 200 || body != "site a" {
		t.Fatalf("a.test: %d %q", resp.StatusCode, body)
	}
	// Covered by a.test's certificate, but another site's name: that
	// site answers.
	if resp, body := get(t, tc, "shared.test", "/"); resp.StatusCode != 200 || body != "site shared" {
		t.Fatalf("shared.test on a.test's connection: %d %q", resp.StatusCode, body)
	}
	// Not covered: the client could not have verified this server for it.
	if resp, _ := get(t, tc, "x.b.test", "/"); resp.StatusCode != 421 {
		t.Fatalf("x.b.test on a.test's connection: %d, want 421", resp.StatusCode)
	}
}

func TestTLSVersionsBelow12AndSuitesWithoutForwardSecrecyAreRefused(t *testing.T) {
	s := startTLSSites(t, "")
	if _, err := handshake(t, s.tls, "a.test", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("TLS 1.1 handshake succeeded")
	}
	rsaKex := &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}
	if _, err := handshake(t, s.tls, "a.test", rsaKex); err == nil {
		t.Error("TLS 1.2 with only non-forward-secret or CBC suites succeeded")
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		tc, err := handshake(t, s.tls, "a.test", &tls.Config{MinVersion: v, MaxVersion: v, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Errorf("%s: %v", tls.VersionName(v), err)
			continue
		}
		if st := tc.ConnectionState(); st.NegotiatedProtocol != "h2" {
			t.Errorf("%s: ALPN chose %q, want h2", tls.VersionName(v), st.NegotiatedProtocol)
		}
		tc, err = handshake(t, s.tls, "a.test", &tls.Config{MinVersion: v, MaxVersion: v, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Errorf("%s, http/1.1 only: %v", tls.VersionName(v), err)
			continue
		}
		if st := tc.ConnectionState(); st.NegotiatedProtocol != "http/1.1" {
			t.Errorf("%s: ALPN chose %q for a client offering http/1.1 alone", tls.VersionName(v), st.NegotiatedProtocol)
		}
	}
}

func TestPlainHTTPSentToATLSPortAnswers400InPlainText(t *testing.T) {
	s := startTLSSites(t, "")
	nc, err := net.DialTimeout("tcp", s.tls, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "https://") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

func TestTLSHandshakeIsBoundedByReadHeaderTimeout(t *testing.T) {
	s := startTLSSites(t, "")
	for _, half := range []string{"", "\x16\x03\x01\x02\x00\x01"} {
		nc, err := net.DialTimeout("tcp", s.tls, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(nc, half)
		start := time.Now()
		n, _ := io.Copy(io.Discard, nc)
		d := time.Since(start)
		nc.Close()
		// read_header_timeout is 1s; a silent connection may also wait
		// in the kernel's deferred accept first.
		if d > 4*time.Second || n != 0 && half == "" {
			t.Errorf("handshake %q: closed after %v (%d bytes), want about 1s", half, d, n)
		}
	}
}

// The three ways certificate files get replaced in the field.
var certificateSwaps = []struct {
	name string
	// prepare lays out a.pem and a.key as this way keeps them, before the
	// server starts; nil leaves them plain files.
	prepare func(t *testing.T, dir string)
	// swap puts the pair in newDir (a.pem, a.key) in place of the served one.
	swap func(t *testing.T, dir, newDir string)
}{
	{"rename over (certbot's own files, cp to a temporary name then mv)", nil, func(t *testing.T, dir, newDir string) {
		for _, f := range []string{"a.key", "a.pem"} {
			if err := os.Rename(filepath.Join(newDir, f), filepath.Join(dir, f)); err != nil {
				t.Fatal(err)
			}
		}
	}},
	{"written in place (cp, an editor that truncates)", nil, func(t *testing.T, dir, newDir string) {
		for _, f := range []string{"a.key", "a.pem"} {
			b, err := os.ReadFile(filepath.Join(newDir, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}},
	{"..data symlink swapped (a mounted Kubernetes Secret)", func(t *testing.T, dir string) {
		// a.pem -> ..data/a.pem, ..data -> ..v1, as the kubelet lays it out.
		v1 := filepath.Join(dir, "..v1")
		if err := os.Mkdir(v1, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"a.key", "a.pem"} {
			if err := os.Rename(filepath.Join(dir, f), filepath.Join(v1, f)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join("..data", f), filepath.Join(dir, f)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}, func(t *testing.T, dir, newDir string) {
		if err := os.Rename(newDir, filepath.Join(dir, "..v2")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("..v2", filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}},
}

func TestCertificateFileReplacedIsUsedByNewHandshakesWithin2sWithoutAReload(t *testing.T) {
	for _, way := range certificateSwaps {
		t.Run(way.name, func(t *testing.T) {
			s := startTLSSitesWith(t, "", way.prepare)
			before, err := handshake(t, s.tls, "a.test", nil)
			if err != nil {
				t.Fatal(err)
			}
			oldSerial := before.ConnectionState().PeerCertificates[0].SerialNumber
			leaf := testkit.TestCA(t).Issue(t, time.Now().Add(48*time.Hour), "a.test", "shared.test")
			// On the same file system as the served files, so that a rename
			// is one.
			newDir, err := os.MkdirTemp(s.dir, "new")
			if err != nil {
				t.Fatal(err)
			}
			leaf.Write(t, newDir, "a")
			way.swap(t, s.dir, newDir)
			waitSerial(t, s.tls, leaf.Serial.String(), oldSerial.String())
			// The connection made before the swap keeps working.
			if _, body := get(t, before, "a.test", "/"); body != "site a" {
				t.Fatalf("old connection: %q", body)
			}
			if strings.Contains(s.app.logs.String(), `"reloaded`) {
				t.Fatalf("a config reload happened:\n%s", s.app.logs)
			}

			// A broken pair in its place keeps the one served, and says so.
			errors := s.app.count("do not load")
			if err := os.WriteFile(filepath.Join(s.dir, "a.pem"), []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			s.app.waitLog(t, "do not load", errors)
			tc, err := handshake(t, s.tls, "a.test", nil)
			if err != nil {
				t.Fatalf("handshake after a broken pair was written: %v", err)
			}
			if got := tc.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(leaf.Serial) != 0 {
				t.Fatalf("after a broken pair was written: serial %v, want the last good one %v", got, leaf.Serial)
			}
		})
	}
}

// waitSerial handshakes for a.test until the certificate with serial want
// is presented, for at most the 2 s new handshakes may take to see a swap.
func waitSerial(t *testing.T, addr, want, old string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		tc, err := handshake(t, addr, "a.test", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.ConnectionState().PeerCertificates[0].SerialNumber.String() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still the old certificate (serial %s) 2s after the files were replaced", old)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHTTPSRedirectSends308ToTheTLSListenerButNotACMEChallenges(t *testing.T) {
	s := startTLSSites(t, "")
	_, tlsPort, _ := net.SplitHostPort(s.tls)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", "http://"+s.plain+"/form?x=1&y=2", strings.NewReader("a=b"))
	req.Host = "a.test:8080"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://a.test:" + tlsPort + "/form?x=1&y=2"; resp.StatusCode != 308 || resp.Header.Get("Location") != want {
		t.Fatalf("%d Location %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS sent over plain HTTP")
	}
	req, _ = http.NewRequest("GET", "http://"+s.plain+"/.well-known/acme-challenge/token", nil)
	req.Host = "a.test"
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 308 {
		t.Fatal("an ACME challenge path was redirected")
	}
}

func TestHSTSIsSentOnHTTPSResponsesOnly_RFC6797_7_2(t *testing.T) {
	s := startTLSSites(t, "")
	tc, err := handshake(t, s.tls, "a.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/missing"} {
		resp, _ := get(t, tc, "a.test", path)
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" {
			t.Errorf("%s over TLS: Strict-Transport-Security %q", path, got)
		}
	}
	// b.test has no hsts.
	tb, err := handshake(t, s.tls, "x.b.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, tb, "x.b.test", "/"); resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS on a site that has none")
	}
}

// RFC 9112 §9.6: a response that closes the connection must reach the
// client even when it sent more than was read; over TLS too, the close is
// a half-close after close_notify and a short read of what is still
// coming, not a reset that would destroy the response in flight.
func TestRFC9112_9_6_TLSResponseBeforeCloseSurvivesUnreadInput(t *testing.T) {
	s := startTLSSites(t, "")
	extra := strings.Repeat("X-Filler: "+strings.Repeat("y", 1000)+"\r\n", 60)
	for i := 0; i < 5; i++ {
		tc, err := handshake(t, s.tls, "a.test", nil)
		if err != nil {
			t.Fatal(err)
		}
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(tc, "GET /big.bin HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a.test\r\n%s\r\n", extra)
		// A slow reader: the response is still in the server's socket
		// buffer when the server is done with the connection.
		time.Sleep(200 * time.Millisecond)
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil || n != 4<<20 {
			t.Fatalf("attempt %d: %d of %d bytes, %v", i, n, 4<<20, err)
		}
		tc.Close()
	}
}
