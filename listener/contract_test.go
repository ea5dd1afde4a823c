package listener

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moreweb/moreweb/handlers"
)

// RFC 9110 §15.2: a handler's interim 103 Early Hints leaves before the
// final response, with the fields set so far, which the final head keeps.
// An HTTP/1.0 client is never sent a 1xx.
func TestInterimResponseLeavesBeforeTheFinal_RFC9110_15_2(t *testing.T) {
	hints := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(103)
		_, err := w.WriteString("page")
		return err
	})
	ts := startServer(t, testRouter{"": hints}, nil)
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	line, err := c.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 103 Early Hints\r\n" {
		t.Fatalf("first line %q, %v; want the 103", line, err)
	}
	interim, err := http.ReadResponse(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\n"+readHead(t, c.br))), nil)
	if err != nil || interim.Header.Get("Link") == "" {
		t.Fatalf("103 fields: %v, %v", interim, err)
	}
	resp, body := c.response("GET")
	if resp.StatusCode != 200 || body != "page" || resp.Header.Get("Link") == "" {
		t.Fatalf("final: %d %q Link %q", resp.StatusCode, body, resp.Header.Get("Link"))
	}

	c10 := ts.dial(t)
	c10.send("GET / HTTP/1.0\r\n\r\n")
	line, err = c10.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200 ") {
		t.Fatalf("HTTP/1.0 client got %q, %v; want the final response first", line, err)
	}
}

// readHead reads header lines up to the blank line, returning them.
func readHead(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String()
		}
	}
}

// Flush sends the head and the body so far at once: the client reads the
// first part while the handler still waits to write the rest.
func TestFlushSendsWhatIsWrittenAtOnce(t *testing.T) {
	release := make(chan struct{})
	stream := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteString("data: one\n\n")
		if err := w.Flush(); err != nil {
			return err
		}
		<-release
		_, err := w.WriteString("data: two\n\n")
		return err
	})
	ts := startServer(t, testRouter{"": stream}, nil)
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("framing %v, want chunked for a body of unknown length", resp.TransferEncoding)
	}
	first := make([]byte, len("data: one\n\n"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "data: one\n\n" {
		t.Fatalf("first event %q, %v", first, err)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "data: two\n\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

// RFC 9112 §7.1.2: trailer fields follow the last chunk. Asking for the
// trailer makes even a small body chunked, so that it can carry them.
func TestTrailerFollowsTheLastChunk_RFC9112_7_1_2(t *testing.T) {
	withTrailer := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		tr := w.Trailer()
		w.WriteString("body")
		tr.Set("Checksum", "abc123")
		return nil
	})
	ts := startServer(t, testRouter{"": withTrailer}, nil)
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := c.response("GET")
	if body != "body" || resp.Trailer.Get("Checksum") != "abc123" {
		t.Fatalf("body %q trailer %v", body, resp.Trailer)
	}
	// The connection is still good for another request.
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := c.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("second request: %d", resp.StatusCode)
	}
}

// RFC 9110 §10.1.1: "100 Continue" goes out through the response writer
// when the handler first reads the body, and is counted among the bytes
// the connection sent.
func TestContinueIsSentByTheWriterWhenTheBodyIsRead_RFC9110_10_1_1(t *testing.T) {
	echo := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	ts := startServer(t, testRouter{"": echo}, nil)
	c := ts.dial(t)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	line, err := c.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q, %v; want 100 Continue before the body is sent", line, err)
	}
	if blank, _ := c.br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("100 Continue carries fields: %q", blank)
	}
	c.send("hello")
	if resp, body := c.response("POST"); resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

// RFC 9110 §7.8: Upgrade answers 101 and hands the socket over; bytes the
// client sent right behind its request reach the new protocol first.
func TestUpgradeHandsTheConnectionOver_RFC9110_7_8(t *testing.T) {
	upgrade := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		up, ok := handlers.As[handlers.Upgrader](w)
		if !ok {
			return &handlers.Error{Status: 501}
		}
		w.Header().Set("Upgrade", "echo")
		w.Header().Set("Connection", "Upgrade")
		conn, err := up.Upgrade()
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = io.Copy(conn, conn) // echo until the client half-closes
		return err
	})
	ts := startServer(t, testRouter{"": upgrade}, nil)
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly ")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "echo" {
		t.Fatalf("%v %v", resp, err)
	}
	c.send("late")
	c.nc.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c.br)
	if err != nil || string(got) != "early late" {
		t.Fatalf("echoed %q, %v", got, err)
	}
}

// A request's Ctx ends when the server starts to stop, so a handler that
// waits gives up instead of holding the shutdown.
func TestRequestContextEndsWhenTheServerStops(t *testing.T) {
	waiting := make(chan struct{})
	wait := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		done := r.Done()
		close(waiting)
		select {
		case <-done:
			_, err := w.WriteString("gave up")
			return err
		case <-time.After(10 * time.Second):
			return &handlers.Error{Status: 504}
		}
	})
	ts := startServer(t, testRouter{"": wait}, nil)
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-waiting
	stopped := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ts.sup.Shutdown(ctx)
		close(stopped)
	}()
	if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "gave up" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		t.Fatal("shutdown still waiting for the handler")
	}
}

// The same HTTP/1.1 loop serves a *tls.Conn: keep-alive, pipelined
// requests (which the record layer may hold decrypted, out of sight of the
// socket's readiness), and a request after an idle wait long enough to
// park the connection without a goroutine.
func TestTLSConnectionIsServedByTheHTTP1Loop(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, nil)
	var srv *server
	ts.sup.mu.Lock()
	for _, s := range ts.sup.servers {
		srv = s
	}
	ts.sup.mu.Unlock()

	cert := selfSignedCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		tc := tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{cert}})
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return
		}
		srv.sup.slots <- struct{}{}
		srv.wg.Add(1)
		srv.serveConn(tc)
	}()

	tc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(tc)
	read := func(want string) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("%d %q, want %q", resp.StatusCode, body, want)
		}
	}
	io.WriteString(tc, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
	read("/one")
	io.WriteString(tc, "GET /two HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\n\r\n")
	read("/two")
	read("/three")
	// Two records back to back: the second may be read off the socket
	// together with the first and wait inside the record layer.
	io.WriteString(tc, "GET /five HTTP/1.1\r\nHost: x\r\n\r\n")
	io.WriteString(tc, "GET /six HTTP/1.1\r\nHost: x\r\n\r\n")
	read("/five")
	read("/six")
	time.Sleep(3 * handoffAfter)
	io.WriteString(tc, "GET /four HTTP/1.1\r\nHost: x\r\n\r\n")
	read("/four")
}

func selfSignedCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
