package server

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"golang.org/x/net/http2"

	"github.com/moreweb/moreweb/internal/testkit"
)

// h2Client opens one HTTP/2 connection with sni and returns a client
// bound to it, which sends every request on it whatever its host: the way
// a browser coalesces connections.
func h2Client(t *testing.T, addr, sni string) *http2.ClientConn {
	t.Helper()
	tc, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, RootCAs: testkit.TestCA(t).Pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	cc, err := (&http2.Transport{}).NewClientConn(tc)
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

func h2Get(t *testing.T, cc *http2.ClientConn, host, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://"+host+path, nil)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func TestHTTP2OverTLSServesTheSameSitesAsHTTP1(t *testing.T) {
	s := startTLSSites(t, "")
	cc := h2Client(t, s.tls, "a.test")
	resp, body := h2Get(t, cc, "a.test", "/")
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || body != "site a" {
		t.Fatalf("%s %d %q", resp.Proto, resp.StatusCode, body)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatal("the site's HSTS field is missing over HTTP/2")
	}
	if resp, _ := h2Get(t, cc, "a.test", "/missing"); resp.StatusCode != 404 {
		t.Fatalf("missing file: %d", resp.StatusCode)
	}
	// A range of the big file, then the whole of it through flow control.
	req, _ := http.NewRequest("GET", "https://a.test/big.bin", nil)
	req.Header.Set("Range", "bytes=16-31")
	r, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 206 || string(part) != "0123456789abcdef" {
		t.Fatalf("range: %d %q", r.StatusCode, part)
	}
	if _, big := h2Get(t, cc, "a.test", "/big.bin"); len(big) != 4<<20 {
		t.Fatalf("big file over h2: %d bytes", len(big))
	}
}

func TestRFC9110_15_5_20_HTTP2StreamForAHostTheCertificateDoesNotCoverAnswers421(t *testing.T) {
	s := startTLSSites(t, "")
	cc := h2Client(t, s.tls, "a.test")
	// a.test's certificate also names shared.test: coalescing is allowed.
	if resp, body := h2Get(t, cc, "shared.test", "/"); resp.StatusCode != 200 || body != "site shared" {
		t.Fatalf("shared.test on a.test's connection: %d %q", resp.StatusCode, body)
	}
	if resp, _ := h2Get(t, cc, "x.b.test", "/"); resp.StatusCode != 421 {
		t.Fatalf("x.b.test on a.test's connection: %d, want 421", resp.StatusCode)
	}
	// The connection goes on serving its own name.
	if resp, _ := h2Get(t, cc, "a.test", "/"); resp.StatusCode != 200 {
		t.Fatalf("a.test after a 421: %d", resp.StatusCode)
	}
}

// http2 = false on a TLS listener takes h2 out of ALPN, and a reload turns
// it off and on again for new connections while a connection made before
// keeps its protocol and is served on.
func TestHTTP2OffOnATLSListenerTakesH2OutOfALPNAcrossReloads(t *testing.T) {
	s := startTLSSites(t, "")
	alpn := func() string {
		t.Helper()
		tc, err := handshake(t, s.tls, "a.test", &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		return tc.ConnectionState().NegotiatedProtocol
	}
	if p := alpn(); p != "h2" {
		t.Fatalf("by default ALPN chose %q, want h2", p)
	}
	before := h2Client(t, s.tls, "a.test")

	text, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	reload := func(conf string) {
		t.Helper()
		n := s.app.count("\treloaded\t")
		if err := os.WriteFile(s.config, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		s.app.waitLog(t, "\treloaded\t", n)
	}
	reload(strings.Replace(string(text), "tls = true\n", "tls = true\nhttp2 = false\n", 1))
	if p := alpn(); p != "http/1.1" {
		t.Fatalf("with http2 = false ALPN chose %q, want http/1.1", p)
	}
	if resp, body := h2Get(t, before, "a.test", "/"); resp.StatusCode != 200 || body != "site a" {
		t.Fatalf("the h2 connection made before the reload: %d %q", resp.StatusCode, body)
	}
	reload(string(text))
	if p := alpn(); p != "h2" {
		t.Fatalf("after http2 = false was taken out, ALPN chose %q, want h2", p)
	}
}
