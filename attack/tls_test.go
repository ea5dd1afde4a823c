package attack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moreweb/moreweb/internal/testkit"
)

// Attacks on the TLS listener: handshakes that never finish, hellos no
// client would send, garbage where a record should be, records no client
// would write, and connections that go quiet once the handshake is done.
// read_header_timeout bounds the handshake from the accept, so most bounds
// below are the 1s of shortTimeouts plus slack.

// tlsClient trusts the test CA and asks for sni.
func tlsClient(t testing.TB, sni string) *tls.Config {
	return &tls.Config{ServerName: sni, RootCAs: testkit.TestCA(t).Pool}
}

// dialTLS completes a handshake on a new connection whose deadline bounds
// the whole exchange.
func (s *server) dialTLS(t testing.TB, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(nc, cfg)
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}

// getOn sends a GET for target on nc and reads the response; br is nc's
// reader, kept across requests on one connection.
func getOn(nc net.Conn, br *bufio.Reader, target string) (response, error) {
	if _, err := io.WriteString(nc, "GET "+target+" HTTP/1.1\r\nHost: example.com\r\n\r\n"); err != nil {
		return response{}, err
	}
	return readGET(br)
}

// readGET reads one response to a GET.
func readGET(br *bufio.Reader) (response, error) {
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		return response{}, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return response{resp, string(body)}, err
}

// tlsHealthyWithin is what healthyTLS allows: two round trips and the
// public-key operations of a handshake on both ends, under -race.
const tlsHealthyWithin = 2 * time.Second

// healthyTLS is healthy over a new HTTPS connection: the handshake and a
// normal request must succeed within tlsHealthyWithin.
func (s *server) healthyTLS(t testing.TB) {
	t.Helper()
	if err := s.askTLS(t); err != nil {
		t.Fatalf("after the attack: %v", err)
	}
	if log := s.errLog.String(); strings.Contains(log, "panic") {
		t.Fatalf("a panic during the attack:\n%s", grepLines(log, "panic"))
	}
}

func (s *server) askTLS(t testing.TB) error {
	start := time.Now()
	tc, err := s.dialTLS(t, tlsClient(t, "example.com"))
	if err != nil {
		return fmt.Errorf("handshake: %v", err)
	}
	defer tc.Close()
	tc.SetDeadline(start.Add(tlsHealthyWithin))
	r, err := getOn(tc, bufio.NewReader(tc), "/")
	if err != nil {
		return fmt.Errorf("no answer within %v: %v", tlsHealthyWithin, err)
	}
	if r.StatusCode != 200 || r.body != homeBody {
		return fmt.Errorf("%d %q", r.StatusCode, r.body)
	}
	return nil
}

// parkOneTLS keeps an HTTPS keep-alive connection idle long enough to be
// parked, so that the idle poller, which stays once started, is part of a
// baseline.
func (s *server) parkOneTLS(t testing.TB) {
	t.Helper()
	tc, err := s.dialTLS(t, tlsClient(t, "example.com"))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	br := bufio.NewReader(tc)
	for range 2 {
		if r, err := getOn(tc, br, "/"); err != nil || r.StatusCode != 200 {
			t.Fatalf("keep-alive request: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // well past the hand-off to the poller
	}
}

// settle waits for goroutines and descriptors to come back to base, and
// fails the test if they do not.
func settle(t testing.TB, base usage) {
	t.Helper()
	var after usage
	for deadline := time.Now().Add(5 * time.Second); ; {
		after = measure(t)
		if after.goroutines <= base.goroutines+2 && after.fds <= base.fds+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("goroutines %d -> %d, fds %d -> %d", base.goroutines, after.goroutines, base.fds, after.fds)
	if after.goroutines > base.goroutines+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines %d after, %d before:\n%s", after.goroutines, base.goroutines, buf[:runtime.Stack(buf, true)])
	}
	if after.fds > base.fds+2 {
		t.Errorf("open descriptors %d after, %d before", after.fds, base.fds)
	}
}

// heldConn is one hostile connection: when it connected and when the
// server ended it, what the server sent, and how the read ended.
type heldConn struct {
	kind      string
	connected time.Time
	closedAt  time.Time
	got       []byte
	err       error
}

// hold dials, lets play write (until done closes, if it keeps writing),
// and reads until the server closes or the client's own deadline, which
// lies past every bound checked: a read that ends there is a connection
// the server kept.
func (s *server) hold(t testing.TB, wg *sync.WaitGroup, kind string, deadline time.Duration, play func(nc net.Conn, done <-chan struct{})) *heldConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &heldConn{kind: kind, connected: time.Now()}
	nc.SetDeadline(c.connected.Add(deadline))
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer nc.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			var buf bytes.Buffer
			_, c.err = io.Copy(&buf, nc)
			c.got, c.closedAt = buf.Bytes(), time.Now()
		}()
		play(nc, done)
		<-done
	}()
	return c
}

// closedByServer reports whether a read ended because the server closed.
func (c *heldConn) closedByServer() bool { return c.err == nil || isClosed(c.err) }

// spread is the fastest, median and slowest of ds, for the logs.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	slices.Sort(ds)
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("%v / %v / %v", r(ds[0]), r(ds[len(ds)/2]), r(ds[len(ds)-1]))
}

// helloRecords is a real ClientHello from crypto/tls for example.com, as
// the records it sends; maxVersion 0 lets it offer TLS 1.3.
func helloRecords(t testing.TB, maxVersion uint16) []byte {
	return records(recordHandshake, captureHello(t, &tls.Config{ServerName: "example.com", MaxVersion: maxVersion}))
}

// TestTLSHandshakeFloodIsCutAtTheHeaderTimeoutWhileOthersAreServed holds
// 300 connections that never finish a ClientHello (silent, half a record
// header, a header and no body, half a hello, a hello trickled a byte at a
// time) while a normal HTTPS client keeps asking. Each is closed
// read_header_timeout after it connected, however it trickles, with
// nothing written to it; the normal client is answered throughout; and
// afterwards no socket, goroutine or descriptor is left over.
func TestTLSHandshakeFloodIsCutAtTheHeaderTimeoutWhileOthersAreServed(t *testing.T) {
	if testing.Short() {
		t.Skip("a flood of 300 connections in -short mode")
	}
	s := startTLSSite(t, shortTimeouts(map[string]string{"access_log": `"off"`, "log_level": `"info"`}), nil)
	hello := helloRecords(t, 0)
	for range 5 {
		s.healthyTLS(t) // warm up pools and the handshake's lazily built tables
	}
	s.parkOneTLS(t)
	s.waitNoStuckSockets(t, 5*time.Second)
	base := measure(t)

	writeOnce := func(b []byte) func(net.Conn, <-chan struct{}) {
		return func(nc net.Conn, done <-chan struct{}) { nc.Write(b) }
	}
	trickle := func(nc net.Conn, done <-chan struct{}) {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(hello); i++ {
			if _, err := nc.Write(hello[i : i+1]); err != nil {
				return
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}
	kinds := []struct {
		name string
		play func(net.Conn, <-chan struct{})
	}{
		{"silent", writeOnce(nil)},
		{"half a record header", writeOnce([]byte{recordHandshake, 3})},
		{"a record header, no body", writeOnce([]byte{recordHandshake, 3, 1, 2, 0})},
		{"half a ClientHello", writeOnce(hello[:len(hello)/2])},
		{"ClientHello a byte every 50ms", trickle},
	}
	const perKind = 60
	rht := time.Second
	var wg sync.WaitGroup
	var conns []*heldConn
	for i := range perKind * len(kinds) {
		k := kinds[i%len(kinds)]
		conns = append(conns, s.hold(t, &wg, k.name, rht+slack+2*time.Second, k.play))
	}

	var asked int
	var times []time.Duration
	for end := time.Now().Add(rht + rht/2); time.Now().Before(end); asked++ {
		start := time.Now()
		if err := s.askTLS(t); err != nil {
			t.Errorf("normal client during the flood: %v", err)
		}
		times = append(times, time.Since(start))
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("%d normal HTTPS requests during the flood of %d, fastest/median/slowest %s", asked, len(conns), spread(times))

	closed := map[string][]time.Duration{}
	for _, c := range conns {
		d := c.closedAt.Sub(c.connected)
		switch {
		case !c.closedByServer():
			t.Errorf("%s: still open %v after connecting (%v)", c.kind, d, c.err)
		case d > rht+slack || d < rht-100*time.Millisecond:
			t.Errorf("%s: closed %v after connecting, want about read_header_timeout = %v", c.kind, d, rht)
		case len(c.got) > 0:
			t.Errorf("%s: the server wrote %q", c.kind, truncate(c.got))
		}
		closed[c.kind] = append(closed[c.kind], d)
	}
	for _, k := range kinds {
		t.Logf("%-30s closed after %s (fastest/median/slowest)", k.name, spread(closed[k.name]))
	}
	s.waitNoStuckSockets(t, 3*time.Second)
	settle(t, base)
	s.healthyTLS(t)
}

// TestTLSHalfOpenHandshakeIsCutAtTheHeaderTimeout sends whole ClientHellos
// (TLS 1.3, TLS 1.2, and TLS 1.3 followed by the compatibility
// ChangeCipherSpec), reads the server's flight, and never sends Finished:
// the server has answered, holds the handshake's state, and must still
// give up read_header_timeout after the connect.
func TestTLSHalfOpenHandshakeIsCutAtTheHeaderTimeout(t *testing.T) {
	t.Parallel()
	s := startTLSSite(t, shortTimeouts(map[string]string{"access_log": `"off"`}), nil)
	h13, h12 := helloRecords(t, 0), helloRecords(t, tls.VersionTLS12)
	ccs := []byte{recordCCS, 3, 3, 0, 1, 1}
	kinds := []struct {
		name    string
		send    []byte
		version uint16
	}{
		{"TLS 1.3 ClientHello", h13, tls.VersionTLS13},
		{"TLS 1.2 ClientHello", h12, tls.VersionTLS12},
		{"TLS 1.3 ClientHello and ChangeCipherSpec", append(slices.Clone(h13), ccs...), tls.VersionTLS13},
	}
	const perKind = 40
	rht := time.Second
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		answers = map[string][]time.Duration{}
		closed  = map[string][]time.Duration{}
	)
	for i := range perKind * len(kinds) {
		k := kinds[i%len(kinds)]
		nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		connected := time.Now()
		nc.SetDeadline(connected.Add(rht + slack + 2*time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer nc.Close()
			if _, err := nc.Write(k.send); err != nil {
				t.Errorf("%s: %v", k.name, err)
				return
			}
			f := readFlight(nc, connected.Add(rht+slack+2*time.Second))
			if !f.serverHello || f.version != k.version {
				t.Errorf("%s: the server answered %v, want a %s ServerHello", k.name, f, tls.VersionName(k.version))
				return
			}
			answered := time.Since(connected)
			_, err := io.Copy(io.Discard, nc)
			d := time.Since(connected)
			switch {
			case err != nil && !isClosed(err):
				t.Errorf("%s: still open %v after connecting (%v)", k.name, d, err)
			case d > rht+slack || d < rht-100*time.Millisecond:
				t.Errorf("%s: closed %v after connecting, want about read_header_timeout = %v", k.name, d, rht)
			}
			mu.Lock()
			answers[k.name] = append(answers[k.name], answered)
			closed[k.name] = append(closed[k.name], d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, k := range kinds {
		t.Logf("%-42s x%d: answered after %s, closed after %s", k.name, perKind, spread(answers[k.name]), spread(closed[k.name]))
	}
	s.waitNoStuckSockets(t, 3*time.Second)
	s.healthyTLS(t)
}

// TestTLSConnectionQuietAfterTheHandshakeIsCutLikeAPlainOne: once the
// handshake is done, the header timeout counts again for the first
// request (silent, or trickled a record at a time) and idle_timeout after
// a response, exactly as on a plain connection; the server ends with
// close_notify and no data.
func TestTLSConnectionQuietAfterTheHandshakeIsCutLikeAPlainOne(t *testing.T) {
	t.Parallel()
	s := startTLSSite(t, shortTimeouts(nil), nil) // header 1s, idle 2s
	silent := func(t *testing.T, version uint16, requests int, low, high time.Duration) {
		cfg := tlsClient(t, "example.com")
		cfg.MinVersion, cfg.MaxVersion = version, version
		tc, err := s.dialTLS(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		br := bufio.NewReader(tc)
		for range requests {
			if r, err := getOn(tc, br, "/"); err != nil || r.StatusCode != 200 {
				t.Fatalf("request: %v", err)
			}
		}
		quiet := time.Now()
		n, err := io.Copy(io.Discard, br)
		d := time.Since(quiet)
		if err != nil {
			t.Fatalf("after %v and %d bytes: %v, want close_notify", d, n, err)
		}
		if n != 0 {
			t.Errorf("the server sent %d bytes", n)
		}
		if d < low || d > high {
			t.Errorf("closed %v after going quiet, want between %v and %v", d, low, high)
		}
		t.Logf("%s: closed %v after going quiet", tls.VersionName(version), d.Round(time.Millisecond))
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v)+" silent after the handshake", func(t *testing.T) {
			t.Parallel()
			silent(t, v, 0, 900*time.Millisecond, time.Second+idleSlack)
		})
		t.Run(tls.VersionName(v)+" idle after a response", func(t *testing.T) {
			t.Parallel()
			silent(t, v, 1, 1900*time.Millisecond, 2*time.Second+idleSlack)
		})
	}
	t.Run("head in one-byte records every 100ms", func(t *testing.T) {
		t.Parallel()
		tc, err := s.dialTLS(t, tlsClient(t, "example.com"))
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		first := time.Now()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			head := "GET / HTTP/1.1\r\nHost: example.com\r\nX-Slow: " + strings.Repeat("a", 1000)
			for i := 0; i < len(head); i++ {
				// Each Write is a record of its own.
				if _, err := io.WriteString(tc, head[i:i+1]); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(first)
		resp.Body.Close()
		if resp.StatusCode != 408 {
			t.Errorf("got %d, want 408", resp.StatusCode)
		}
		if d < 900*time.Millisecond || d > time.Second+slack {
			t.Errorf("cut %v after the first byte, want about read_header_timeout = 1s", d)
		}
	})
}

// TestTLSShutdownCutsPendingHandshakes: a stop does not wait for
// handshakes that are not going to finish; they are cut at once, long
// before their read_header_timeout or the stop's own deadline (5s, see
// server.stop).
func TestTLSShutdownCutsPendingHandshakes(t *testing.T) {
	t.Parallel()
	s := startTLSSite(t, shortTimeouts(map[string]string{"read_header_timeout": `"10s"`}), nil)
	h13 := helloRecords(t, 0)
	const n = 50
	var wg sync.WaitGroup
	closedAt := make([]time.Time, n)
	errs := make([]error, n)
	for i := range n {
		nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(8 * time.Second))
		nc.Write(h13)
		// A ServerHello shows the server is in the middle of this
		// handshake, waiting for a Finished that never comes.
		if f := readFlight(nc, time.Now().Add(5*time.Second)); !f.serverHello {
			t.Fatalf("no ServerHello: %v", f)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = io.Copy(io.Discard, nc)
			closedAt[i] = time.Now()
		}()
	}
	start := time.Now()
	s.stop()
	stopped := time.Since(start)
	wg.Wait()
	var ds []time.Duration
	for i := range n {
		if errs[i] != nil && !isClosed(errs[i]) {
			t.Errorf("handshake still open after the stop: %v", errs[i])
		}
		ds = append(ds, closedAt[i].Sub(start))
	}
	t.Logf("Stop returned after %v; the %d handshakes were cut after %s", stopped.Round(time.Millisecond), n, spread(ds))
	if stopped > 1500*time.Millisecond {
		t.Errorf("Stop took %v with %d handshakes pending, want them cut at once", stopped, n)
	}
}

// longName is a DNS-like name of exactly n bytes ending in suffix, made
// of labels of label bytes; the last is shorter, or a byte longer where a
// dot and a label would not fit.
func longName(n, label int, suffix string) string {
	want := n - len(suffix)
	b := make([]byte, 0, want)
	for c := byte('a'); len(b) < want; c = 'a' + (c-'a'+1)%26 {
		if len(b) > 0 {
			if want-len(b) == 1 {
				b = append(b, b[len(b)-1])
				break
			}
			b = append(b, '.')
		}
		b = append(b, bytes.Repeat([]byte{c}, min(label, want-len(b)))...)
	}
	return string(b) + suffix
}

// helloOutcome is what a test expects of a ClientHello: the certificate
// of one of the sites (and optionally the ALPN choice), or a refusal (an
// alert, or a close without one).
type helloOutcome struct {
	cert string // defaultCertName, wildCertName, or "" for a refusal
	alpn string
}

func (o helloOutcome) String() string {
	if o.cert == "" {
		return "a refusal"
	}
	return fmt.Sprintf("certificate %s, ALPN %q", o.cert, o.alpn)
}

// check says whether f is o; for a TLS 1.3 answer, whose certificate is
// encrypted, a ServerHello stands for any certificate.
func (o helloOutcome) check(f flight) error {
	refused := f.err == nil && (f.alert >= 0 || f.closed && !f.serverHello)
	switch {
	case f.err != nil:
		return f.err
	case o.cert == "" && refused:
		return nil
	case o.cert == "" || refused:
		return fmt.Errorf("got %v, want %v", f, o)
	case f.version == tls.VersionTLS13 && f.serverHello:
		return nil
	case f.cert == nil || strings.Join(f.cert.DNSNames, ",") != o.cert || f.alpn != o.alpn:
		return fmt.Errorf("got %v, want %v", f, o)
	}
	return nil
}

// TestTLSHugeOrMalformedSNIAndALPNGetARefusalOrASitesCertificate sends
// ClientHellos with server names and ALPN lists no real client sends: at
// and beyond the protocol's and DNS's length limits, with bytes a name
// cannot have, and framed wrongly. Each is answered at once with either a
// refusal or the certificate of the site the name routes to: names longer
// than a site can claim (253 bytes) get the default site's; and the
// server keeps serving. The TLS 1.2 hellos show the certificate chosen,
// which TLS 1.3 encrypts; each case is sent both ways.
func TestTLSHugeOrMalformedSNIAndALPNGetARefusalOrASitesCertificate(t *testing.T) {
	t.Parallel()
	s := startTLSSite(t, shortTimeouts(map[string]string{"access_log": `"off"`}), nil)
	templates := map[uint16]*hello{
		tls.VersionTLS12: parseHello(t, captureHello(t, &tls.Config{ServerName: "example.com", MaxVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})),
		tls.VersionTLS13: parseHello(t, captureHello(t, &tls.Config{ServerName: "example.com", NextProtos: []string{"http/1.1"}})),
	}
	// The longest host_name a ClientHello can frame: the extension block's
	// 16-bit length, less the other extensions and the server_name
	// extension's own headers (4 + 2 + 1 + 2 bytes).
	maxSNI := func(h *hello) int {
		n := 0xffff - 9
		for _, e := range h.exts {
			if e.typ != extServerName {
				n -= 4 + len(e.data)
			}
		}
		return n
	}
	var many, manyWithout []string
	for i := range 500 {
		many = append(many, fmt.Sprintf("x-proto-%03d", i))
	}
	manyWithout = slices.Clone(many)
	many = append(many, "http/1.1")
	var fill []string // 255-byte values up to about 60 KB, then http/1.1
	for range 235 {
		fill = append(fill, strings.Repeat("p", 255))
	}
	fill = append(fill, "http/1.1")

	def := helloOutcome{defaultCertName, "http/1.1"}
	wild := helloOutcome{wildCertName, "http/1.1"}
	refused := helloOutcome{}
	cases := []struct {
		name string
		edit func(h *hello) *hello
		want helloOutcome
	}{
		{"control: example.com", func(h *hello) *hello { return h }, def},
		{"control: a.wild.test", sni("a.wild.test"), wild},
		{"control: no server_name", func(h *hello) *hello { return h.with(extServerName, nil) }, def},
		{"253-byte name of 63-byte labels", sni(longName(253, 63, ".wild.test")), wild},
		{"254-byte name", sni(longName(254, 63, ".wild.test")), def},
		{"300-byte name", sni(longName(300, 63, ".wild.test")), def},
		{"64-byte label", sni(strings.Repeat("x", 64) + ".wild.test"), wild},
		{"200-byte label", sni(strings.Repeat("x", 200) + ".wild.test"), wild},
		{"one 240-byte label", sni(strings.Repeat("x", 240)), def},
		{"60000-byte name", sni(longName(60000, 63, ".wild.test")), def},
		{"60000-byte label", sni(strings.Repeat("x", 60000)), def},
		{"the longest name a hello can frame, over 64 KiB of hello", func(h *hello) *hello {
			return h.with(extServerName, serverNameExt(0, longName(maxSNI(h), 63, ".wild.test")))
		}, refused},
		{"upper case", sni("A.WILD.TEST"), wild},
		{"name with a port", sni("a.wild.test:443"), wild},
		{"IPv4 literal", sni("127.0.0.1"), def},
		{"IPv6 literal", sni("[::1]"), def},
		{"a wildcard as the name", sni("*.wild.test"), wild},
		{"NUL in a label", sni("a\x00b.wild.test"), wild},
		{"bytes not in UTF-8", sni("\xff\xfe.wild.test"), wild},
		{"trailing dot", sni("a.wild.test."), refused},
		{"empty name", sni(""), refused},
		{"two host_names", func(h *hello) *hello {
			return h.with(extServerName, serverNameExt(0, "a.wild.test", "example.com"))
		}, refused},
		{"unknown name type only", func(h *hello) *hello {
			return h.with(extServerName, serverNameExt(7, "a.wild.test"))
		}, def},
		{"server_name list longer than its extension", func(h *hello) *hello {
			b := serverNameExt(0, "a.wild.test")
			b[1] += 40
			return h.with(extServerName, b)
		}, refused},
		{"empty server_name extension", func(h *hello) *hello { return h.with(extServerName, []byte{}) }, refused},

		{"500 protocols, http/1.1 last", alpn(many...), def},
		{"500 protocols, none spoken", alpn(manyWithout...), refused},
		{"a 255-byte protocol, then http/1.1", alpn(strings.Repeat("p", 255), "http/1.1"), def},
		{"60 KB of 255-byte protocols, then http/1.1", alpn(fill...), def},
		{"60 KB of protocols and a name, over 64 KiB of hello", func(h *hello) *hello {
			h = alpn(fill...)(h)
			return h.with(extServerName, serverNameExt(0, longName(maxSNI(h), 63, ".wild.test")))
		}, refused},
		{"an empty protocol", alpn("", "http/1.1"), refused},
		{"ALPN list longer than its extension", func(h *hello) *hello {
			b := alpnExt("http/1.1")
			b[1] += 10
			return h.with(extALPN, b)
		}, refused},
		{"ALPN entry longer than the list", func(h *hello) *hello {
			b := alpnExt("http/1.1")
			b[2] = 200
			return h.with(extALPN, b)
		}, refused},
		{"empty ALPN extension", func(h *hello) *hello { return h.with(extALPN, []byte{}) }, refused},
	}
	for _, c := range cases {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			name := fmt.Sprintf("%s, %s", c.name, tls.VersionName(v))
			raw := records(recordHandshake, c.edit(templates[v]).message(t))
			f, took := s.sendHello(t, raw)
			if err := c.want.check(f); err != nil {
				t.Errorf("%s (%d-byte hello): %v", name, len(raw), err)
			} else if took > time.Second {
				t.Errorf("%s: answered after %v", name, took)
			} else if testing.Verbose() {
				t.Logf("%-70s %6d bytes: %v", name, len(raw), f)
			}
		}
	}

	// crypto/tls itself sends the legal extremes: the handshakes complete.
	for _, c := range []struct {
		name  string
		sni   string
		alpn  []string
		want  string
		proto string
	}{
		{"253-byte name", longName(253, 63, ".wild.test"), nil, wildCertName, ""},
		{"300-byte name", longName(300, 63, ".wild.test"), nil, defaultCertName, ""},
		{"60000-byte name", longName(60000, 63, ".wild.test"), nil, defaultCertName, ""},
		{"500 protocols", "example.com", many, defaultCertName, "http/1.1"},
		{"60 KB of protocols", "example.com", fill, defaultCertName, "http/1.1"},
	} {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			cfg := &tls.Config{ServerName: c.sni, NextProtos: c.alpn, InsecureSkipVerify: true, MinVersion: v, MaxVersion: v}
			tc, err := s.dialTLS(t, cfg)
			if err != nil {
				t.Errorf("crypto/tls, %s, %s: %v", c.name, tls.VersionName(v), err)
				continue
			}
			st := tc.ConnectionState()
			if got := strings.Join(st.PeerCertificates[0].DNSNames, ","); got != c.want || st.NegotiatedProtocol != c.proto {
				t.Errorf("crypto/tls, %s, %s: certificate %s, ALPN %q; want %s, %q", c.name, tls.VersionName(v), got, st.NegotiatedProtocol, c.want, c.proto)
			}
			if c.want == defaultCertName {
				if r, err := getOn(tc, bufio.NewReader(tc), "/"); err != nil || r.StatusCode != 200 {
					t.Errorf("crypto/tls, %s, %s: request: %v", c.name, tls.VersionName(v), err)
				}
			}
			tc.Close()
		}
	}
	s.healthyTLS(t)
}

func sni(name string) func(*hello) *hello {
	return func(h *hello) *hello { return h.with(extServerName, serverNameExt(0, name)) }
}

func alpn(protos ...string) func(*hello) *hello {
	return func(h *hello) *hello { return h.with(extALPN, alpnExt(protos...)) }
}

// sendHello writes a ClientHello's records on a new connection and reads
// the answer, for at most 3s: more is a hang.
func (s *server) sendHello(t testing.TB, raw []byte) (flight, time.Duration) {
	t.Helper()
	nc := s.dial(t)
	defer nc.Close()
	start := time.Now()
	go func() {
		// The server may refuse before the end of a long hello; what it
		// said is read below either way.
		nc.SetWriteDeadline(start.Add(3 * time.Second))
		nc.Write(raw)
	}()
	f := readFlight(nc, start.Add(3*time.Second))
	return f, time.Since(start)
}

// onlyAlerts reports whether b is nothing but whole TLS alert records.
func onlyAlerts(b []byte) bool {
	for len(b) > 0 {
		if len(b) < 7 || b[0] != recordAlert || b[3] != 0 || b[4] != 2 {
			return false
		}
		b = b[7:]
	}
	return true
}

// TestTLSGarbageIsRefusedPromptlyAndOnlyHTTPGetsA400 sends what is not a
// ClientHello: random bytes, well-formed record headers over random or
// empty bodies, records at and past the size limit, an SSLv2 hello,
// records of the wrong type, 10 MB of noise; and, for contrast, plain
// HTTP requests. Each connection is closed promptly, well before the
// header timeout (3s here, to tell the two apart), with at most TLS alerts
// written to it, except that what starts like an HTTP request line is told
// in plain text to use https://. The server keeps serving.
func TestTLSGarbageIsRefusedPromptlyAndOnlyHTTPGetsA400(t *testing.T) {
	t.Parallel()
	s := startTLSSite(t, shortTimeouts(map[string]string{"read_header_timeout": `"3s"`, "access_log": `"off"`}), nil)
	const prompt = 1500 * time.Millisecond
	rng := rand.New(rand.NewPCG(1, 2)) // the same noise every run
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	record := func(typ byte, vers uint16, body []byte) []byte {
		r := []byte{typ, byte(vers >> 8), byte(vers), byte(len(body) >> 8), byte(len(body))}
		return append(r, body...)
	}
	header := func(typ byte, n int) []byte { return []byte{typ, 3, 1, byte(n >> 8), byte(n)} }
	helloBody := func() []byte {
		b := noise(512)
		b[0], b[1], b[2], b[3] = msgClientHello, 0, 0x01, 0xfc // a ClientHello of 508 bytes of noise
		return b
	}
	// SSL 3.0: legacy_version 3.0 and no supported_versions extension,
	// which would override it.
	ssl3 := parseHello(t, captureHello(t, &tls.Config{ServerName: "example.com", MaxVersion: tls.VersionTLS12})).with(extSupportedVersions, nil)
	ssl3.head[0], ssl3.head[1] = 3, 0
	// An SSLv2-compatible CLIENT-HELLO (RFC 6101 appendix E.2): 2-byte
	// length with the top bit set, type 1, version 3.1, cipher specs,
	// no session id, a 16-byte challenge.
	sslv2 := []byte{0x80, 0x1f, 0x01, 0x03, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x10,
		0x00, 0x00, 0x2f, 0x00, 0x00, 0x35}
	sslv2 = append(sslv2, noise(16)...)
	random := noise(4096)
	random[0] = 0 // not a record type, not a method

	cases := []struct {
		name string
		send []byte
		http bool
	}{
		{"4 KB of noise", random, false},
		{"a handshake record of noise", append(header(recordHandshake, 512), noise(512)...), false},
		{"a ClientHello of noise", append(header(recordHandshake, 512), helloBody()...), false},
		{"a handshake record of length 0", header(recordHandshake, 0), false},
		{"a record of 2^14+2048 bytes, the most a header may claim", append(header(recordHandshake, 1<<14+2048), noise(1<<14+2048)...), false},
		{"a record header claiming 2^14+2049 bytes", header(recordHandshake, 1<<14+2049), false},
		{"a record header claiming 65535 bytes", header(recordHandshake, 0xffff), false},
		{"an SSLv2 CLIENT-HELLO", sslv2, false},
		{"an SSL 3.0 ClientHello", records(recordHandshake, ssl3.message(t)), false},
		{"a record of version 0xffff", record(recordHandshake, 0xffff, noise(64)), false},
		{"an alert first", record(recordAlert, 0x0301, []byte{2, alertHandshakeFailure}), false},
		{"a ChangeCipherSpec first", record(recordCCS, 0x0301, []byte{1}), false},
		{"application data first", record(recordAppData, 0x0303, noise(32)), false},
		{"a record type of 0", record(0, 0x0303, noise(32)), false},
		{"a lower-case request line", []byte("get / HTTP/1.1\r\nHost: example.com\r\n\r\n"), false},
		{"a GET", []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), true},
		{"an OPTIONS", []byte("OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n"), true},
		{"a CONNECT", []byte("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"), true},
		{"the HTTP/2 preface", []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), true},
	}
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc := s.dial(t)
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(3*time.Second + slack))
			start := time.Now()
			nc.Write(c.send) // the server may refuse before the end
			got, err := io.ReadAll(nc)
			d := time.Since(start)
			switch {
			case err != nil && !isClosed(err):
				t.Errorf("%s: not closed after %v: %v", c.name, d, err)
			case d > prompt:
				t.Errorf("%s: closed after %v, want at once", c.name, d)
			case c.http && (!bytes.HasPrefix(got, []byte("HTTP/1.1 400 ")) || !bytes.Contains(got, []byte("https://"))):
				t.Errorf("%s: got %q, want the plain-text 400", c.name, truncate(got))
			case !c.http && !onlyAlerts(got):
				t.Errorf("%s: got %q, want at most TLS alerts", c.name, truncate(got))
			default:
				t.Logf("%-60s closed after %v, %d bytes written to it", c.name, d.Round(time.Millisecond), len(got))
			}
		}()
	}
	for _, lead := range []struct {
		name string
		head []byte
	}{
		{"10 MB of noise", []byte{0}},
		{"a ClientHello header, then 10 MB of noise", header(recordHandshake, 1<<14)[:5:5]},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc := s.dial(t)
			defer nc.Close()
			start := time.Now()
			stop := make(chan struct{})
			sent := make(chan int64, 1)
			go func() {
				const total = 10 << 20
				var n int64
				defer func() { sent <- n }()
				src := rand.New(rand.NewPCG(3, 4))
				buf := make([]byte, 64<<10)
				m, err := nc.Write(lead.head)
				n += int64(m)
				for err == nil && n < total {
					select {
					case <-stop:
						return
					default:
					}
					for i := range buf {
						buf[i] = byte(src.Uint32())
					}
					m, err = nc.Write(buf[:min(len(buf), total-int(n))])
					n += int64(m)
				}
			}()
			got, err := io.ReadAll(nc)
			d := time.Since(start)
			close(stop)
			n := <-sent
			switch {
			case err != nil && !isClosed(err):
				t.Errorf("%s: not closed after %v: %v", lead.name, d, err)
			case d > prompt:
				t.Errorf("%s: closed after %v, want at once", lead.name, d)
			case !onlyAlerts(got):
				t.Errorf("%s: got %q, want at most TLS alerts", lead.name, truncate(got))
			default:
				t.Logf("%-60s closed after %v; %d KiB of it sent by then", lead.name, d.Round(time.Millisecond), n>>10)
			}
		}()
	}
	wg.Wait()
	s.waitNoStuckSockets(t, 3*time.Second)
	s.healthyTLS(t)
}

// TestTLSRecordFloodsAreBoundedAndTinyRecordsServed: crypto/tls writes a
// record per Write, so a request can arrive a byte per record; and, with
// the keys crypto/tls logs, records it never writes: empty ones and
// KeyUpdates, in floods and between the bytes of a request. What carries
// the request is served, within the header timeout; what only costs the
// server work is refused after the few that crypto/tls allows in a row.
func TestTLSRecordFloodsAreBoundedAndTinyRecordsServed(t *testing.T) {
	t.Parallel()
	s := startTLSSite(t, shortTimeouts(map[string]string{"access_log": `"off"`}), nil)
	t.Run("attacks", func(t *testing.T) { recordAttacks(t, s) })
	s.healthyTLS(t)
}

func recordAttacks(t *testing.T, s *server) {
	const request = "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
	served := func(t *testing.T, c *tls13Conn, start time.Time) {
		t.Helper()
		err := c.readUntil(start.Add(time.Second+slack), func() bool { return false })
		if c.alert != 0 { // close_notify, after the response
			t.Fatalf("alert %d, read error %v, %d bytes of data", c.alert, err, c.data.Len())
		}
		rs, err := parseResponses(c.data.Bytes())
		if err != nil || len(rs) != 1 || rs[0].StatusCode != 200 || rs[0].body != homeBody {
			t.Fatalf("%d responses, %v: %q", len(rs), err, truncate(c.data.Bytes()))
		}
	}
	refused := func(t *testing.T, c *tls13Conn, start time.Time) {
		t.Helper()
		err := c.readUntil(start.Add(time.Second+slack), func() bool { return false })
		d := time.Since(start)
		how := "alert unexpected_message"
		switch {
		case c.alert == alertUnexpectedMessage:
		case c.alert < 0 && isClosed(err):
			// The unread flood made the close a reset, which can
			// overtake the alert.
			how = "reset"
		default:
			t.Fatalf("alert %d, read error %v after %v, want unexpected_message", c.alert, err, d)
		}
		if d > time.Second {
			t.Errorf("refused after %v, want at once", d)
		}
		t.Logf("refused (%s) after %v; %d KeyUpdates answered first", how, d.Round(time.Millisecond), c.updates)
	}
	send := func(c *tls13Conn, b []byte) {
		go func() {
			c.nc.SetWriteDeadline(time.Now().Add(time.Second + slack))
			c.nc.Write(b) // a refusal can cut this short; the reader sees it
		}()
	}

	t.Run("request in one-byte records", func(t *testing.T) {
		t.Parallel()
		tc, err := s.dialTLS(t, tlsClient(t, "example.com"))
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		req := "GET / HTTP/1.1\r\nHost: example.com\r\nX-Pad: " + strings.Repeat("p", 3000) + "\r\n\r\n"
		start := time.Now()
		for i := 0; i < len(req); i++ {
			if _, err := io.WriteString(tc, req[i:i+1]); err != nil {
				t.Fatalf("after %d records: %v", i, err)
			}
		}
		r, err := readGET(bufio.NewReader(tc))
		if err != nil || r.StatusCode != 200 || r.body != homeBody {
			t.Fatalf("%v %v", r.Response, err)
		}
		t.Logf("%d records of one byte served in %v", len(req), time.Since(start).Round(time.Millisecond))
	})
	t.Run("thousands of empty records", func(t *testing.T) {
		t.Parallel()
		c := takeOverTLS13(t, s.dial(t))
		var b []byte
		for range 5000 {
			b = append(b, c.record(recordAppData, nil)...)
		}
		start := time.Now()
		send(c, b)
		refused(t, c, start)
	})
	t.Run("fifteen empty records before each byte of a request", func(t *testing.T) {
		t.Parallel()
		c := takeOverTLS13(t, s.dial(t))
		var b []byte
		for i := 0; i < len(request); i++ {
			for range 15 {
				b = append(b, c.record(recordAppData, nil)...)
			}
			b = append(b, c.record(recordAppData, []byte{request[i]})...)
		}
		start := time.Now()
		send(c, b)
		served(t, c, start)
	})
	t.Run("a thousand KeyUpdates asking for one back", func(t *testing.T) {
		t.Parallel()
		c := takeOverTLS13(t, s.dial(t))
		var b []byte
		for range 1000 {
			b = append(b, c.keyUpdate(true)...)
		}
		start := time.Now()
		send(c, b)
		refused(t, c, start)
		if c.updates > 17 {
			t.Errorf("the server answered %d KeyUpdates in a row", c.updates)
		}
	})
	t.Run("a KeyUpdate asking for one back before each byte of a request", func(t *testing.T) {
		t.Parallel()
		c := takeOverTLS13(t, s.dial(t))
		var b []byte
		for i := 0; i < len(request); i++ {
			b = append(b, c.keyUpdate(true)...)
			b = append(b, c.record(recordAppData, []byte{request[i]})...)
		}
		start := time.Now()
		send(c, b)
		served(t, c, start)
		if c.updates != len(request) {
			t.Errorf("the server answered %d of %d KeyUpdates", c.updates, len(request))
		}
	})
}

// TestTLSKeyUpdateRepliesCannotHoldAConnectionPastItsTimeouts: in TLS 1.3
// a KeyUpdate that asks for one back makes crypto/tls write a record from
// inside Read. A client that never reads fills the server's send buffer,
// and that write then blocks: it must be bounded by the same timeout as the
// read, or the header timeout never fires. crypto/tls allows 16 KeyUpdates
// in a row, so one byte of the request goes between every 16. And when
// shutdown_timeout ends a stop, cutting the connection must not wait for
// the blocked write (a close_notify would), or the stop hangs. The default
// read_header_timeout (10s) leaves room; the default max_header_bytes
// (16384) does too, barely, so the test allows more to be sure. Under
// -race the server may be too slow to fill its send buffer before the
// header timeout, and the test skips.
func TestTLSKeyUpdateRepliesCannotHoldAConnectionPastItsTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("fills the server's send buffer for 10 s")
	}
	s := startTLSSite(t, map[string]string{"access_log": `"off"`, "max_header_bytes": "65536"}, nil) // header 10s, shutdown 2s
	rht, shutdown := 10*time.Second, 2*time.Second
	nc := s.dialSmallBuffer(t)
	port := nc.LocalAddr().(*net.TCPAddr).Port
	c := takeOverTLS13(t, nc)
	nc.SetDeadline(time.Time{})
	head := "GET / HTTP/1.1\r\nHost: example.com\r\nX-Pad: " + strings.Repeat("p", 60000)
	// Push until a second before the header timeout: the server's send
	// buffer grows while it fills, so a first stall may pass; the records
	// sent after it keep the server writing until the buffer is at its
	// limit.
	first := time.Now()
	var pending []byte
	stalls, i := 0, 0
	for time.Since(first) < rht-time.Second {
		if len(pending) == 0 && i < len(head) {
			for range 16 {
				pending = append(pending, c.keyUpdate(true)...)
			}
			pending = append(pending, c.record(recordAppData, []byte{head[i]})...)
			i++
		}
		if len(pending) == 0 {
			break
		}
		nc.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := nc.Write(pending)
		pending = pending[n:]
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("after %d bytes of the head: %v", i, err)
			}
			stalls++
		}
	}
	t.Logf("%v after the first byte: %d bytes of the head and %d KeyUpdates sent; writes stalled %d times", time.Since(first).Round(time.Millisecond), i, 16*i, stalls)
	if stalls == 0 {
		t.Skipf("the server kept up with every KeyUpdate; its send buffer never filled (try without -race)")
	}
	time.Sleep(time.Until(first.Add(rht + slack)))
	if st := s.socketState(t, port); st == tcpEstablished {
		t.Errorf("the connection is still open %v after its first byte, read_header_timeout = %v", time.Since(first).Round(time.Millisecond), rht)
	}
	// What the moreweb command does on SIGTERM: Stop, bounded by
	// shutdown_timeout, after which the remaining connections are cut.
	start := time.Now()
	stopped := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdown)
		defer cancel()
		s.once.Do(func() { s.srv.Stop(ctx) })
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Logf("Stop returned after %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(shutdown + slack):
		t.Errorf("Stop has not returned %v after it began, shutdown_timeout = %v", time.Since(start).Round(time.Millisecond), shutdown)
		nc.Close() // which frees the write, and the stop
		<-stopped
	}
}
