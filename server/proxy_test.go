package server

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// Reverse proxy, end to end: real backends (Go servers on loopback and on
// a unix socket, and raw sockets for the hostile ones), the real server,
// raw client requests.

// echoed is what the echo backend saw of a request.
type echoed struct {
	Method, Target, Host, Proto string
	Header                      http.Header
	BodySHA                     string
	BodyLen                     int64
	Chunked                     bool
}

func echoBackend(t *testing.T, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		e := echoed{Method: r.Method, Target: r.RequestURI, Host: r.Host, Proto: r.Proto, Header: r.Header,
			BodySHA: hex.EncodeToString(h.Sum(nil)), BodyLen: n, Chunked: len(r.TransferEncoding) > 0}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend", name)
		json.NewEncoder(w).Encode(e)
	})
}

// proxySite serves a site proxying "/app/*" (prefix stripped) and "/*" to
// the backends named by to (TOML array items), with extra lines in its
// [[vhost.proxy]] tables and [server] table.
func proxySite(t *testing.T, to, extraProxy, extraServer string) *site {
	t.Helper()
	conf := fmt.Sprintf(`
%s

[[listener]]
name = "web"
address = "127.0.0.1:0"

[[vhost]]
hosts = ["app.test"]

[vhost.error_pages]
502 = "502.html"

[[vhost.proxy]]
path = "/app/*"
to = [%s]
strip_prefix = true
%s

[[vhost.proxy]]
path = "/*"
to = [%s]
%s
`, extraServer, to, extraProxy, to, extraProxy)
	return serveSite(t, conf, map[string]string{"502.html": "site's own 502 page"})
}

func backendURL(ts *httptest.Server) string { return `"` + ts.URL + `"` }

func decodeEcho(t *testing.T, body string) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("backend's echo: %v: %q", err, body)
	}
	return e
}

// RFC 9110 §7.6.1: the backend gets the method, the target, the client's
// Host and its end-to-end fields, never the hop-by-hop ones, and
// X-Forwarded-* set by moreweb.
func TestProxyForwardsRequestAndDropsHopByHopFields_RFC9110_7_6_1(t *testing.T) {
	ts := httptest.NewServer(echoBackend(t, "a"))
	defer ts.Close()
	s := proxySite(t, backendURL(ts), "", "")
	resp, body := s.do("GET", "app.test", "/users/7?x=1&y=%20",
		"Connection: keep-alive, X-Private", "X-Private: secret", "Keep-Alive: timeout=5",
		"Proxy-Connection: keep-alive", "TE: trailers, deflate", "Upgrade-Insecure-Requests: 1",
		"X-Forwarded-For: 6.6.6.6", "X-Forwarded-Host: evil.test", "Cookie: a=1")
	if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "a" {
		t.Fatalf("%d %v %q", resp.StatusCode, resp.Header, body)
	}
	e := decodeEcho(t, body)
	if e.Method != "GET" || e.Target != "/users/7?x=1&y=%20" || e.Host != "app.test" || e.Proto != "HTTP/1.1" {
		t.Errorf("request line: %+v", e)
	}
	for _, f := range []string{"X-Private", "Keep-Alive", "Proxy-Connection", "Connection"} {
		if v, ok := e.Header[f]; ok {
			t.Errorf("backend got hop-by-hop %s: %q", f, v)
		}
	}
	if got := e.Header.Get("Te"); got != "trailers" {
		t.Errorf("TE %q, want only trailers", got)
	}
	if e.Header.Get("Upgrade-Insecure-Requests") != "1" || e.Header.Get("Cookie") != "a=1" {
		t.Errorf("end-to-end fields lost: %v", e.Header)
	}
	// The client is not a trusted proxy: its own claims are dropped.
	if got := e.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
	if e.Header.Get("X-Forwarded-Proto") != "http" || e.Header.Get("X-Forwarded-Host") != "app.test" {
		t.Errorf("X-Forwarded-Proto %q, -Host %q", e.Header.Get("X-Forwarded-Proto"), e.Header.Get("X-Forwarded-Host"))
	}
	// strip_prefix: "/app/users" reaches the backend as "/users".
	_, body = s.do("GET", "app.test", "/app/users?q=1")
	if e := decodeEcho(t, body); e.Target != "/users?q=1" {
		t.Errorf("strip_prefix: target %q", e.Target)
	}
	// A path with dot segments reaches the backend as moreweb read it.
	_, body = s.do("GET", "app.test", "/app/x/../users")
	if e := decodeEcho(t, body); e.Target != "/users" {
		t.Errorf("dot segments: target %q", e.Target)
	}
}

// A chain of X-Forwarded-For is kept only from a trusted proxy.
func TestProxyKeepsXForwardedForOnlyFromTrustedProxies(t *testing.T) {
	ts := httptest.NewServer(echoBackend(t, "a"))
	defer ts.Close()
	s := proxySite(t, backendURL(ts), "", `trusted_proxies = ["127.0.0.0/8"]`)
	_, body := s.do("GET", "app.test", "/", "X-Forwarded-For: 203.0.113.9", "X-Forwarded-Proto: https")
	e := decodeEcho(t, body)
	if got := e.Header.Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
	if got := e.Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("X-Forwarded-Proto %q", got)
	}
}

// Bodies are streamed to the backend framed by moreweb: a 1 MiB body
// arrives whole, whether the client sent it chunked or with a length.
func TestProxySendsRequestBodiesWholeFramedByItself_RFC9112_6(t *testing.T) {
	ts := httptest.NewServer(echoBackend(t, "a"))
	defer ts.Close()
	s := proxySite(t, backendURL(ts), "", "")
	payload := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	want := sha256.Sum256([]byte(payload))

	resp, body := s.raw("POST", "POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: "+fmt.Sprint(len(payload))+"\r\n\r\n"+payload)
	e := decodeEcho(t, body)
	if resp.StatusCode != 200 || e.BodyLen != int64(len(payload)) || e.BodySHA != hex.EncodeToString(want[:]) || e.Chunked {
		t.Errorf("Content-Length body: %d, %d bytes, chunked %v", resp.StatusCode, e.BodyLen, e.Chunked)
	}

	var chunked strings.Builder
	for i := 0; i < len(payload); i += 50000 {
		part := payload[i:min(i+50000, len(payload))]
		fmt.Fprintf(&chunked, "%x\r\n%s\r\n", len(part), part)
	}
	chunked.WriteString("0\r\n\r\n")
	resp, body = s.raw("POST", "POST /upload HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n"+chunked.String())
	e = decodeEcho(t, body)
	if resp.StatusCode != 200 || e.BodyLen != int64(len(payload)) || e.BodySHA != hex.EncodeToString(want[:]) || !e.Chunked {
		t.Errorf("chunked body: %d, %d bytes, chunked %v", resp.StatusCode, e.BodyLen, e.Chunked)
	}
	if e.Header.Get("Content-Length") != "" {
		t.Errorf("chunked body with a Content-Length: %q", e.Header.Get("Content-Length"))
	}
}

// A unix socket backend, and a response body streamed back.
func TestProxyReachesAUnixSocketBackend(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 3<<20)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, big)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	s := proxySite(t, `"unix:`+sock+`"`, "", "")
	resp, body := s.do("GET", "app.test", "/big")
	if resp.StatusCode != 200 || body != big {
		t.Errorf("%d, %d bytes", resp.StatusCode, len(body))
	}
}

// A stream of events reaches the client as the backend sends each event,
// not when the stream ends.
func TestProxyFlushesEventStreamsAsTheyArrive(t *testing.T) {
	next := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-time.After(5 * time.Second):
				return
			}
		}
	}))
	defer ts.Close()
	s := proxySite(t, backendURL(ts), "", "")
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(nc, "GET /events HTTP/1.1\r\nHost: app.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := rd.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: event %d\n", i) {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		rd.ReadString('\n')
		next <- struct{}{} // the backend sends the next only now
	}
}

// A backend that cannot be reached, or answers garbage, or a response two
// parsers could read differently, answers 502 through the site's page; one
// that does not answer in time 504.
func TestProxyBackendFailuresAnswer502And504(t *testing.T) {
	hostile := func(answer string) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					bufio.NewReader(c).ReadString('\n')
					if answer == "" {
						time.Sleep(2 * time.Second)
						return
					}
					io.WriteString(c, answer)
				}()
			}
		}()
		return `"http://` + ln.Addr().String() + `"`
	}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := `"http://` + closed.Addr().String() + `"`
	closed.Close()
	for _, tt := range []struct {
		name, to string
		status   int
	}{
		{"refused", refused, 502},
		{"garbage", hostile("SSH-2.0-OpenSSH_9.2\r\n\r\n"), 502},
		{"Content-Length and Transfer-Encoding", hostile("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 502},
		{"two lengths", hostile("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"), 502},
		{"split field", hostile("HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n"), 502},
		{"silent", hostile(""), 504},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := proxySite(t, tt.to, `response_header_timeout = "300ms"`, "")
			resp, body := s.do("GET", "app.test", "/")
			if resp.StatusCode != tt.status {
				t.Errorf("%d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 502 && body != "site's own 502 page" {
				t.Errorf("502 body %q", body)
			}
		})
	}
}

// A backend that dies in the middle of its body: the client's response
// ends broken (no last chunk, the connection cut), never padded or ended
// as if it were whole, whether the backend declared its length or not.
func TestProxyBackendDyingMidBodyCutsTheClientResponse(t *testing.T) {
	for _, tt := range []struct{ name, answer string }{
		{"with a length", "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("x", 1000)},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" + strings.Repeat("x", 1000) + "\r\n10\r\nxxxx"},
		{"chunked, cut between chunks", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					bufio.NewReader(c).ReadString('\n')
					io.WriteString(c, tt.answer)
					c.Close()
				}
			}()
			s := proxySite(t, `"http://`+ln.Addr().String()+`"`, "", "")
			nc, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(nc, "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				return // cut before the head: broken too
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if err == nil {
				t.Errorf("read %d bytes and a clean end: the cut went unnoticed", n)
			}
		})
	}
}

// round_robin spreads requests evenly; a backend that refuses connections
// is skipped (the request goes to another one), and then left alone.
func TestProxyRoundRobinSpreadsAndSkipsADeadBackend(t *testing.T) {
	var counts [3]atomic.Int64
	var urls []string
	for i := range 3 {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			counts[i].Add(1)
		}))
		defer ts.Close()
		urls = append(urls, backendURL(ts))
	}
	s := proxySite(t, strings.Join(urls, ", "), "", "")
	for range 30 {
		if resp, _ := s.do("GET", "app.test", "/"); resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
	}
	for i := range counts {
		if n := counts[i].Load(); n != 10 {
			t.Errorf("backend %d got %d of 30", i, n)
		}
	}

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := `"http://` + closed.Addr().String() + `"`
	closed.Close()
	s = proxySite(t, dead+", "+urls[0], "", "")
	before := counts[0].Load()
	for range 10 {
		if resp, _ := s.do("GET", "app.test", "/"); resp.StatusCode != 200 {
			t.Fatalf("with a dead backend: %d", resp.StatusCode)
		}
	}
	if got := counts[0].Load() - before; got != 10 {
		t.Errorf("the live backend got %d of 10", got)
	}
}

// With health_path, a backend whose check fails is not chosen, and is
// chosen again once its check passes.
func TestProxyActiveHealthChecksTakeABackendOutAndBack(t *testing.T) {
	var healthy atomic.Bool
	var served [2]atomic.Int64
	var urls []string
	for i := range 2 {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" {
				if i == 0 && !healthy.Load() {
					w.WriteHeader(503)
				}
				return
			}
			served[i].Add(1)
		}))
		defer ts.Close()
		urls = append(urls, backendURL(ts))
	}
	s := proxySite(t, strings.Join(urls, ", "), `health_path = "/healthz"`+"\n"+`health_interval = "50ms"`, "")
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Down: every request goes to the other one.
	time.Sleep(150 * time.Millisecond)
	for range 10 {
		s.do("GET", "app.test", "/")
	}
	if served[0].Load() != 0 || served[1].Load() != 10 {
		t.Fatalf("unhealthy backend served %d, healthy %d", served[0].Load(), served[1].Load())
	}
	healthy.Store(true)
	waitFor("the backend never came back", func() bool {
		s.do("GET", "app.test", "/")
		return served[0].Load() > 0
	})
}

// 103 Early Hints go ahead of the response; trailers follow its body.
func TestProxyPassesEarlyHintsAndTrailers_RFC8297(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(103)
		w.Header().Del("Link")
		w.Header().Set("Trailer", "X-Checksum")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
	}))
	defer ts.Close()
	s := proxySite(t, backendURL(ts), "", "")
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: app.test\r\nTE: trailers\r\nConnection: close\r\n\r\n")
	raw, _ := io.ReadAll(io.LimitReader(nc, 4096))
	text := string(raw)
	i103 := strings.Index(text, "HTTP/1.1 103")
	i200 := strings.Index(text, "HTTP/1.1 200")
	if i103 < 0 || i200 < i103 || !strings.Contains(text[i103:i200], "Link: </style.css>") {
		t.Errorf("no 103 with Link before the 200:\n%s", text)
	}
	if strings.Contains(text[i200:], "Link:") {
		t.Errorf("the 103's Link leaked into the 200:\n%s", text)
	}
	if !strings.Contains(text[i200:], "X-Checksum: abc") {
		t.Errorf("no trailer:\n%s", text)
	}
}

// A WebSocket (any HTTP/1.1 upgrade) is tunnelled once the backend
// answers 101, and a reload of the config does not cut it.
func TestProxyTunnelsAWebSocketAcrossAReload_RFC9110_7_8(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				rd := bufio.NewReader(c)
				req, err := http.ReadRequest(rd)
				if err != nil || req.Header.Get("Upgrade") != "websocket" {
					io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
					return
				}
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n")
				io.Copy(c, rd) // echo, frames or not
			}()
		}
	}()
	dir := t.TempDir()
	conf := filepath.Join(dir, "site.toml")
	write := func(header string) {
		os.WriteFile(conf, []byte(fmt.Sprintf(`
[server]
access_log = "off"
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
hosts = ["app.test"]
[vhost.headers]
"X-Version" = %q
[[vhost.proxy]]
path = "/ws"
to = ["http://%s"]
`, header, ln.Addr())), 0o644)
	}
	write("1")
	live := runApp(t, conf, 20*time.Millisecond)
	addr := live.addr(t, "127.0.0.1:0")

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "GET /ws HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	rd := bufio.NewReader(nc)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("%v %v", resp, err)
	}
	echo := func(msg string) {
		t.Helper()
		io.WriteString(nc, msg)
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(rd, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: %q %v", msg, buf, err)
		}
	}
	echo("before the reload")
	write("2")
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := (&site{t: t, addr: addr}).do("GET", "app.test", "/nothing-here")
		if resp.Header.Get("X-Version") == "2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reload never happened")
		}
		time.Sleep(20 * time.Millisecond)
	}
	echo("after the reload")
}

// Over HTTP/2 a response cut by its backend ends with a reset stream
// (RFC 9113 §8.1: a stream reset before END_STREAM is an incomplete
// response), and the connection serves on.
func TestProxyBackendDyingMidBodyResetsTheHTTP2Stream_RFC9113_8_1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rd := bufio.NewReader(c)
			req, err := http.ReadRequest(rd)
			if err != nil {
				c.Close()
				continue
			}
			if req.URL.Path == "/whole" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nwhole")
			} else {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
			}
			c.Close()
		}
	}()
	s := serveSite(t, `
[[listener]]
name = "web"
address = "127.0.0.1:0"
http2 = true

[[vhost]]
hosts = ["app.test"]

[[vhost.proxy]]
path = "/*"
to = ["http://`+ln.Addr().String()+`"]
`, nil)
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tr := &http2.Transport{AllowHTTP: true}
	cc, err := tr.NewClientConn(nc)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (string, error) {
		req, _ := http.NewRequest("GET", "http://app.test"+path, nil)
		resp, err := cc.RoundTrip(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get("/cut"); err == nil {
		t.Errorf("a cut response read whole: %q", body)
	}
	if body, err := get("/whole"); err != nil || body != "whole" {
		t.Errorf("the next stream: %q %v", body, err)
	}
}

// first sends everything to the first backend that is up; least_conn
// sends a request to the backend with the fewest in flight.
func TestProxyBalanceFirstAndLeastConn(t *testing.T) {
	release := make(chan struct{})
	var served [2]atomic.Int64
	var urls []string
	for i := range 2 {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served[i].Add(1)
			if r.URL.Path == "/slow" {
				<-release
			}
			fmt.Fprint(w, i)
		}))
		defer ts.Close()
		urls = append(urls, backendURL(ts))
	}
	s := proxySite(t, strings.Join(urls, ", "), `balance = "first"`, "")
	for range 5 {
		if _, body := s.do("GET", "app.test", "/"); body != "0" {
			t.Fatalf("first: answered by %q", body)
		}
	}

	s = proxySite(t, strings.Join(urls, ", "), `balance = "least_conn"`, "")
	done := make(chan string)
	go func() {
		_, body := s.do("GET", "app.test", "/slow")
		done <- body
	}()
	// Wait until the slow request is in flight on one backend.
	deadline := time.Now().Add(5 * time.Second)
	for served[0].Load()+served[1].Load() < 6 {
		if time.Now().After(deadline) {
			t.Fatal("the slow request never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	busy := "0"
	if served[1].Load() == 1 {
		busy = "1"
	}
	for range 4 {
		if _, body := s.do("GET", "app.test", "/"); body == busy {
			t.Errorf("least_conn sent a request to the busy backend %s", busy)
		}
	}
	close(release)
	<-done
}
