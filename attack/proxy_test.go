package attack

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moreweb/moreweb/parser"
)

// The reverse proxy (handlers/proxy) under attack from both sides: clients
// that try to smuggle a request past it to the backend or to spoof who
// they are, and backends that try to split, inject into or poison the
// responses it gives clients. The backends are raw TCP listeners on
// loopback that record every byte moreweb sends them; what they received
// is read again with net/http, a parser that is not moreweb's.

// backend is a raw-TCP backend on a loopback port. Each connection moreweb
// opens is recorded and played by handle; the connection closes when
// handle returns.
type backend struct {
	addr  string
	mu    sync.Mutex
	conns []*backendConn
	wg    sync.WaitGroup
}

// backendConn is one connection from moreweb to a backend: reads through
// br are recorded.
type backendConn struct {
	net.Conn
	n    int           // 0 for the backend's first connection
	br   *bufio.Reader // reads the connection through the recording
	mu   sync.Mutex
	raw  bytes.Buffer  // every byte moreweb sent on it
	done chan struct{} // closed once handle returned and the connection closed
}

func (c *backendConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.raw.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

// received is every byte moreweb sent on the connection so far.
func (c *backendConn) received() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.raw.Bytes())
}

// drain records what moreweb still sends until it closes the connection.
func (c *backendConn) drain() { io.Copy(io.Discard, c.br) }

func startBackend(t testing.TB, handle func(c *backendConn)) *backend {
	t.Helper()
	return startBackendSized(t, 64<<10, handle) // room for any head moreweb sends
}

// startBackendSized is startBackend with a read buffer of size bytes per
// connection, for tests that count the heap.
func startBackendSized(t testing.TB, size int, handle func(c *backendConn)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{addr: ln.Addr().String()}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := &backendConn{Conn: nc, done: make(chan struct{})}
			c.br = bufio.NewReaderSize(c, size)
			b.mu.Lock()
			c.n = len(b.conns)
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer close(c.done)
				defer nc.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for _, c := range b.connections() {
			c.Conn.Close()
		}
		b.wg.Wait()
	})
	return b
}

func (b *backend) connections() []*backendConn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*backendConn(nil), b.conns...)
}

// waitClosed waits until moreweb has closed every connection it opened to
// b and b has recorded all they carried: call it after stopping moreweb.
func (b *backend) waitClosed(t testing.TB) {
	t.Helper()
	for _, c := range b.connections() {
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("backend connection %d still open 5s after moreweb stopped; it carried %q", c.n, truncate(c.received()))
		}
	}
}

// url is b as an item of a [[vhost.proxy]] to.
func (b *backend) url() string { return `"http://` + b.addr + `"` }

// The proxy site: example.com, the default site, proxied whole; the
// suites add routes of their own in front of "/*".
const proxySiteTOML = `
[[listener]]
name = "web"
address = "127.0.0.1:0"

[[vhost]]
hosts = ["example.com"]
default = true

[vhost.error_pages]
502 = "errors/502.html"
504 = "errors/504.html"
`

// The site's own error pages, so that a test can tell moreweb's 502 from
// a backend's.
const (
	proxy502Page = "PROXY-BAD-GATEWAY-PAGE"
	proxy504Page = "PROXY-GATEWAY-TIMEOUT-PAGE"
)

// startProxySite serves proxySiteTOML with routes ([[vhost.proxy]] tables,
// from proxyRoute) and serverDefaults overridden by over.
func startProxySite(t testing.TB, over map[string]string, routes ...string) *server {
	t.Helper()
	files := siteFilesWith(map[string]string{"errors/502.html": proxy502Page, "errors/504.html": proxy504Page})
	return startTOML(t, serverTable(over)+proxySiteTOML+strings.Join(routes, ""), files)
}

// proxyRoute is a [[vhost.proxy]] table sending path to b, with extra
// lines (TOML) in it.
func proxyRoute(path string, b *backend, extra string) string {
	return fmt.Sprintf("\n[[vhost.proxy]]\npath = %q\nto = [%s]\n%s\n", path, b.url(), extra)
}

// forwarded is one request as a backend received it.
type forwarded struct {
	conn, seq int
	head      string // the head as it came, blank line included
	method    string
	target    string // the request-target as it came
	host      string
	header    http.Header
	body      []byte
	bodyErr   error // the body ended short: moreweb gave up on it
	trailer   http.Header
}

// recorder is a backend's view of the requests it was sent: each read
// with net/http and answered with its sequence number, and every byte
// that was not a well-framed request.
type recorder struct {
	mu       sync.Mutex
	reqs     []*forwarded // by seq
	problems []string
	client   string // the address moreweb must give as the client's; "127.0.0.1" when empty
}

func (rec *recorder) problem(format string, args ...any) {
	rec.mu.Lock()
	rec.problems = append(rec.problems, fmt.Sprintf(format, args...))
	rec.mu.Unlock()
}

func (rec *recorder) requests() []*forwarded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*forwarded(nil), rec.reqs...)
}

func (rec *recorder) report(t testing.TB) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, p := range rec.problems {
		t.Error(p)
	}
}

// homeAnswer is the recording backend's usual answer: the home page, with
// the request's sequence number; a smuggled request gets the page that
// gives it away.
func homeAnswer(f *forwarded) string {
	body := homeBody
	if strings.Contains(f.target, "smuggled") {
		body = smuggledMarker
	}
	if f.method == "HEAD" {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Backend-Seq: %d\r\nContent-Length: %d\r\n\r\n", f.seq, len(body))
	}
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Backend-Seq: %d\r\nContent-Length: %d\r\n\r\n%s", f.seq, len(body), body)
}

// serve plays a recording backend on c: every request is read with
// net/http, its head checked, recorded and answered by answer, until
// moreweb closes the connection. Bytes that are not a whole request are a
// problem.
func (rec *recorder) serve(c *backendConn, answer func(f *forwarded) string) {
	for {
		if _, err := c.br.Peek(1); err != nil {
			return // closed between two requests: nothing left over
		}
		peeked, err := peekHead(c.br)
		if err != nil {
			c.drain()
			rec.problem("backend connection %d: bytes that are no request head (%v); the connection carried %q", c.n, err, truncate(c.received()))
			return
		}
		head := string(peeked) // before ReadRequest reuses the buffer
		req, err := http.ReadRequest(c.br)
		if err != nil {
			c.drain()
			rec.problem("backend connection %d: net/http cannot read the request (%v); the connection carried %q", c.n, err, truncate(c.received()))
			return
		}
		f := &forwarded{conn: c.n, head: head, method: req.Method, target: req.RequestURI, host: req.Host, header: req.Header}
		f.body, f.bodyErr = io.ReadAll(req.Body)
		f.trailer = req.Trailer
		for _, p := range rec.headProblems(f.head) {
			rec.problem("backend connection %d: %s in\n%s", c.n, p, f.head)
		}
		rec.mu.Lock()
		f.seq = len(rec.reqs)
		rec.reqs = append(rec.reqs, f)
		rec.mu.Unlock()
		if f.bodyErr != nil {
			c.drain() // and the test decides whether a cut body was right
			return
		}
		if _, err := io.WriteString(c, answer(f)); err != nil {
			return
		}
	}
}

// peekHead returns the request head at the start of br, blank line
// included, without consuming it.
func peekHead(br *bufio.Reader) ([]byte, error) {
	for {
		buf, _ := br.Peek(br.Buffered())
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			return buf[:i+4], nil
		}
		if br.Buffered() == br.Size() {
			return nil, errors.New("head larger than the backend's buffer")
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return nil, err
		}
	}
}

// requestLine is a request line as moreweb should write it: origin form
// (or "*"), HTTP/1.1.
var requestLine = regexp.MustCompile(`^[!#$%&'*+\-.^_` + "`" + `|~0-9A-Za-z]+ (/[!-~]*|\*) HTTP/1\.1$`)

// wellFormedFieldLine reports whether line is "name: value" as moreweb
// writes field lines: a token (RFC 9110 §5.6.2), one space, and a value of
// HTAB, SP, VCHAR and obs-text only (§5.5). It reads bytes: the suites'
// headerLine regexp reads runes, so it refuses obs-text that is not UTF-8.
func wellFormedFieldLine(line string) bool {
	name, value, ok := strings.Cut(line, ": ")
	return ok && isToken(name) && fieldValueBytes(value)
}

// wellFormedStatusLine: "HTTP/1.1 ddd reason", status 100-599.
func wellFormedStatusLine(line string) bool {
	return len(line) >= 13 && line[:9] == "HTTP/1.1 " && line[9] >= '1' && line[9] <= '5' &&
		isDigitByte(line[10]) && isDigitByte(line[11]) && line[12] == ' ' && fieldValueBytes(line[13:])
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigitByte(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func fieldValueBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\t' && (c < 0x20 || c == 0x7f) {
			return false
		}
	}
	return true
}

func isDigitByte(c byte) bool { return '0' <= c && c <= '9' }

// ownedFields are the fields moreweb sets itself or drops, read as a
// CGI-style gateway reads names (upper case, '-' as '_'): a client's field
// that reads as one of them must not reach the backend in any spelling.
var ownedFields = []string{
	"HOST", "CONTENT_LENGTH", "TRANSFER_ENCODING", "CONNECTION", "KEEP_ALIVE", "PROXY_CONNECTION",
	"UPGRADE", "TE", "EXPECT", "PROXY_AUTHORIZATION", "PROXY_AUTHENTICATE", "HTTP2_SETTINGS",
	"X_FORWARDED_FOR", "X_FORWARDED_PROTO", "X_FORWARDED_HOST", "X_REAL_IP", "FORWARDED",
}

// headProblems checks a head moreweb sent a backend: CRLF line ends and
// well-formed lines only; one Host; one framing field at most, and never
// Content-Length with Transfer-Encoding (RFC 9112 §6.1); no hop-by-hop
// field (RFC 9110 §7.6.1) but "TE: trailers" and the pair an upgrade
// needs; exactly one each of moreweb's X-Forwarded-For (the client's
// address), -Proto and -Host, and no Forwarded or X-Real-IP from an
// untrusted client; no field whose name reads as one of those with '_'
// for '-'.
func (rec *recorder) headProblems(head string) []string {
	var out []string
	client := rec.client
	if client == "" {
		client = "127.0.0.1"
	}
	lines := strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
	if !requestLine.MatchString(lines[0]) {
		out = append(out, fmt.Sprintf("request line %q", lines[0]))
	}
	count := map[string]int{}
	value := map[string]string{}
	for _, line := range lines[1:] {
		if !wellFormedFieldLine(line) {
			out = append(out, fmt.Sprintf("malformed field line %q", line))
			continue
		}
		name, v, _ := strings.Cut(line, ": ")
		canon := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if strings.Contains(name, "_") {
			for _, owned := range ownedFields {
				if canon == owned {
					out = append(out, fmt.Sprintf("field %q, which a CGI-style gateway reads as %s", line, owned))
				}
			}
		}
		count[canon]++
		value[canon] = v
	}
	switch {
	case count["HOST"] != 1:
		out = append(out, fmt.Sprintf("%d Host fields", count["HOST"]))
	case count["CONTENT_LENGTH"] > 0 && count["TRANSFER_ENCODING"] > 0:
		out = append(out, "Content-Length with Transfer-Encoding")
	case count["CONTENT_LENGTH"] > 1 || count["TRANSFER_ENCODING"] > 1:
		out = append(out, "repeated framing fields")
	case count["TRANSFER_ENCODING"] == 1 && value["TRANSFER_ENCODING"] != "chunked":
		out = append(out, fmt.Sprintf("Transfer-Encoding %q", value["TRANSFER_ENCODING"]))
	}
	upgrade := count["UPGRADE"] == 1 && count["CONNECTION"] == 1 && value["CONNECTION"] == "Upgrade"
	for _, hop := range []string{"CONNECTION", "KEEP_ALIVE", "PROXY_CONNECTION", "UPGRADE", "TE", "EXPECT",
		"PROXY_AUTHORIZATION", "PROXY_AUTHENTICATE", "HTTP2_SETTINGS", "FORWARDED", "X_REAL_IP"} {
		switch {
		case count[hop] == 0:
		case hop == "TE" && count[hop] == 1 && value[hop] == "trailers":
		case (hop == "CONNECTION" || hop == "UPGRADE") && upgrade:
		default:
			out = append(out, fmt.Sprintf("hop-by-hop or spoofable field %s (%d times)", hop, count[hop]))
		}
	}
	if count["X_FORWARDED_FOR"] != 1 || value["X_FORWARDED_FOR"] != client {
		out = append(out, fmt.Sprintf("X-Forwarded-For %d times, last %q: want once, %q", count["X_FORWARDED_FOR"], value["X_FORWARDED_FOR"], client))
	}
	for _, f := range []string{"X_FORWARDED_PROTO", "X_FORWARDED_HOST"} {
		if count[f] != 1 {
			out = append(out, fmt.Sprintf("%s %d times", f, count[f]))
		}
	}
	return out
}

// viewed is a request as moreweb's own parser reads it.
type viewed struct {
	method, path, query, host string
	body                      []byte // as far as it could be read
	bodyErr                   error
}

// morewebReading is how moreweb's parser (with the suites' limits:
// max_header_bytes and max_body_bytes of serverDefaults) reads raw as one
// connection: the requests, in order, up to the first it refuses, the
// first whose body it cannot read, or the last of a connection that does
// not persist.
func morewebReading(raw string) []viewed {
	lim := parser.DefaultLimits()
	lim.MaxHeaderBytes = 16384
	lim.MaxBodyBytes = 65536
	rd := parser.NewReader(strings.NewReader(raw), lim)
	defer rd.Release()
	var out []viewed
	for {
		req, err := rd.ReadRequest()
		if err != nil {
			return out
		}
		v := viewed{method: req.Method, path: string(req.Path), query: string(req.RawQuery), host: string(req.Host)}
		keep := req.KeepAlive
		v.body, v.bodyErr = io.ReadAll(req.Body)
		out = append(out, v)
		if v.bodyErr != nil || !keep {
			return out
		}
	}
}

// checkProxied holds what the backend received for raw (sent on one
// client connection) against moreweb's reading of raw and the answers the
// client got: each request moreweb read reached the backend once, framed
// as moreweb read it (method, path, query, Host, body), or not at all;
// every request the backend got is one moreweb read and answered with the
// backend's answer; nothing else reached it.
func checkProxied(t *testing.T, raw string, stream []byte, rec *recorder) {
	t.Helper()
	rec.report(t)
	view := morewebReading(raw)
	asked := false // for the smuggled page itself: then it is no smuggling
	for _, v := range view {
		asked = asked || strings.Contains(v.path, "smuggled")
	}
	if !asked && bytes.Contains(stream, []byte(smuggledMarker)) {
		t.Errorf("the smuggled request was answered:\n%q", stream)
	}
	rs, err := parseFinalResponses(stream)
	if err != nil {
		t.Fatalf("unparseable answer (%v):\n%q", err, stream)
	}
	got := rec.requests()
	answered := make([]bool, len(got))
	for k, r := range rs {
		seqText := r.Header.Get("X-Backend-Seq")
		if k >= len(view) {
			// Past what moreweb could read: its refusal of it, once.
			if seqText != "" || r.StatusCode < 400 || k > len(view) {
				t.Errorf("answer %d (%d, backend seq %q) to a request moreweb's parser never read", k, r.StatusCode, seqText)
			}
			continue
		}
		if seqText == "" {
			continue // moreweb answered itself: the request went nowhere
		}
		seq, _ := strconv.Atoi(seqText)
		if seq < 0 || seq >= len(got) || answered[seq] {
			t.Errorf("answer %d carries backend seq %q: no such request, or answered twice", k, seqText)
			continue
		}
		answered[seq] = true
		if p := framingDiffers(got[seq], view[k]); p != "" {
			t.Errorf("request %d reached the backend framed differently from moreweb's reading: %s", k, p)
		}
		if r.StatusCode != 200 || r.body != homeBody {
			t.Errorf("answer %d: %d %q, want the backend's", k, r.StatusCode, r.body)
		}
	}
	for seq, f := range got {
		if answered[seq] {
			continue
		}
		// A body moreweb stopped reading may reach the backend in part,
		// on a connection moreweb then closes: never as a whole request.
		last := len(view) - 1
		if f.bodyErr != nil && last >= 0 && view[last].bodyErr != nil && f.method == view[last].method &&
			bytes.HasPrefix(view[last].body, f.body) {
			continue
		}
		t.Errorf("the backend got a request no answer accounts for (body error %v):\n%s%q", f.bodyErr, f.head, truncate(f.body))
	}
	if t.Failed() {
		t.Logf("moreweb's reading: %s", describeView(view))
		t.Logf("answers: %s", describe(rs))
	}
}

// framingDiffers compares a request the backend got with moreweb's
// reading of it.
func framingDiffers(f *forwarded, v viewed) string {
	u, err := url.ParseRequestURI(f.target)
	switch {
	case v.bodyErr != nil:
		return fmt.Sprintf("moreweb could not read its body (%v), yet the backend got it whole", v.bodyErr)
	case f.bodyErr != nil:
		return fmt.Sprintf("its body ended short at the backend: %v", f.bodyErr)
	case err != nil:
		return fmt.Sprintf("target %q: %v", f.target, err)
	case f.method != v.method:
		return fmt.Sprintf("method %q, moreweb read %q", f.method, v.method)
	case u.Path != v.path || u.RawQuery != v.query:
		return fmt.Sprintf("target %q, moreweb read path %q query %q", f.target, v.path, v.query)
	case f.host != v.host:
		return fmt.Sprintf("Host %q, moreweb read %q", f.host, v.host)
	case !bytes.Equal(f.body, v.body):
		return fmt.Sprintf("body %q, moreweb read %q", truncate(f.body), truncate(v.body))
	case len(f.trailer) > 0:
		return fmt.Sprintf("trailer fields %v", f.trailer)
	}
	return ""
}

func describeView(view []viewed) string {
	var parts []string
	for _, v := range view {
		s := fmt.Sprintf("%s %s?%s body %q", v.method, v.path, v.query, truncate(v.body))
		if v.bodyErr != nil {
			s += fmt.Sprintf(" (body error %v)", v.bodyErr)
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("%d requests [%s]", len(view), strings.Join(parts, ", "))
}

// parseFinalResponses is parseResponses without the interim (1xx)
// responses: the 100 Continue moreweb sends a client that asked for it.
func parseFinalResponses(stream []byte) ([]response, error) {
	rs, err := parseResponses(stream)
	var out []response
	for _, r := range rs {
		if r.StatusCode >= 200 {
			out = append(out, r)
		}
	}
	return out, err
}

// proxySmugglingShapes are the shapes only a proxy has to get right, on
// top of the tables the other suites play: targets in absolute form, the
// framing fields named as hop-by-hop, upgrades with a body, pipelines of
// requests with bodies, bodies longer than the proxy's copy buffer.
var proxySmugglingShapes = []struct {
	name string
	raw  string
}{
	{"absolute-form target", "GET http://example.com/a?b=1 HTTP/1.1\r\nHost: example.com\r\n\r\n" + follow},
	{"absolute-form target with another Host", "GET http://example.com/a HTTP/1.1\r\nHost: other.example\r\n\r\n" + follow},
	{"absolute-form target for another host", "GET http://other.example/a HTTP/1.1\r\nHost: example.com\r\n\r\n" + follow},
	{"absolute-form target without a path", "GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n" + follow},
	{"absolute-form https target with a port", "GET https://example.com:443/x HTTP/1.1\r\nHost: example.com\r\n\r\n" + follow},
	{"absolute-form target with a body hiding a request", "POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(smug)) + smug + follow},
	{"CONNECT", "CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n" + follow},
	{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n" + follow},
	{"dot segments and double slashes", "GET /a/./b/../c/%2e%2e//d?q=%2e%2e HTTP/1.1\r\nHost: example.com\r\n\r\n" + follow},
	{"three pipelined", follow + follow + follow},
	{"pipelined bodies", "POST /a HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /b HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("wor") + chunk("ld") + "0\r\n\r\n" +
		"PUT /c HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n" + follow},
	{"Connection names Content-Length", reqHead + "Connection: Content-Length\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(smug)) + smug + follow},
	{"Connection names Transfer-Encoding", reqHead + "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n" + follow},
	{"Connection names Host", reqHead + "Connection: Host\r\n\r\n" + follow},
	{"Connection names X-Forwarded-For", reqHead + "Connection: close, X-Forwarded-For\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"},
	{"every hop-by-hop field", reqHead + "Connection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n" +
		"TE: trailers, gzip\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nX-Hop: 1\r\n\r\n" + follow},
	{"h2c upgrade", reqHead + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n" + follow},
	{"upgrade with a body hiding a request", reqHead + "Connection: Upgrade\r\nUpgrade: websocket\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(smug)) + smug + follow},
	{"upgrade with a chunked body", reqHead + "Connection: Upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n" + follow},
	{"request trailer fields", "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("hello") +
		"0\r\nContent-Length: 46\r\nX-Forwarded-For: 6.6.6.6\r\nTransfer-Encoding: identity\r\n\r\n" + follow},
	{"Expect 100-continue pipelined", "POST / HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello" + follow},
	{"HTTP/1.0 keep-alive pipelined", "GET / HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\n\r\n" +
		"POST / HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello" + follow},
	{"HTTP/1.0 body then a request", "POST / HTTP/1.0\r\nHost: example.com\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(smug)) + smug + smug},
	{"Content-Length body over the copy buffer", "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 50000\r\n\r\n" + strings.Repeat("b", 50000) + follow},
	{"chunked body over the copy buffer", "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n" +
		chunk(strings.Repeat("c", 20000)) + chunk(strings.Repeat("d", 20000)) + "0\r\n\r\n" + follow},
	{"chunked body broken past the copy buffer", "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n" +
		chunk(strings.Repeat("c", 40000)) + "5\r\nhelloXX0\r\n\r\n" + smug},
	{"Content-Length body cut past the copy buffer", "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 60000\r\n\r\n" + strings.Repeat("b", 40000)},
}

// TestProxySmugglingShapesReachTheBackendOnceAsMorewebReadThem_RFC9112_11_2
// (request smuggling) plays every smuggling shape of the other suites,
// and the proxy's own, through moreweb to a recording backend: each request moreweb's parser
// reads reaches the backend exactly once and framed as moreweb read it, or
// not at all; nothing else reaches it (no second request hidden in a
// body, no leftover bytes); and no head it gets has Content-Length with
// Transfer-Encoding, a hop-by-hop field or a spoofed X-Forwarded-For.
func TestProxySmugglingShapesReachTheBackendOnceAsMorewebReadThem_RFC9112_11_2(t *testing.T) {
	type shape struct{ name, raw string }
	var shapes []shape
	for _, tt := range smugglingTests {
		shapes = append(shapes, shape{"smuggling/" + tt.name, tt.raw})
	}
	for _, tt := range bodyAbuseTests {
		shapes = append(shapes, shape{"body/" + tt.name, tt.raw})
	}
	for _, tt := range sizeAbuseTests {
		shapes = append(shapes, shape{"size/" + tt.name, tt.raw})
	}
	for _, tt := range proxySmugglingShapes {
		shapes = append(shapes, shape{"proxy/" + tt.name, tt.raw})
	}
	for _, sh := range shapes {
		for _, piece := range []int{0, 7} {
			name := sh.name
			if piece > 0 {
				if len(sh.raw) > 2048 {
					continue // split heads are what matter, and big ones take long
				}
				name += "/split"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				rec := &recorder{}
				be := startBackend(t, func(c *backendConn) { rec.serve(c, homeAnswer) })
				s := startProxySite(t, nil, proxyRoute("/*", be, ""))
				stream := s.exchange(t, sh.raw, piece)
				s.stop() // closes moreweb's idle backend connections
				be.waitClosed(t)
				checkProxied(t, sh.raw, stream, rec)
				if log := s.errLog.String(); strings.Contains(log, "panicked") {
					t.Errorf("a handler panicked:\n%s", grepLines(log, "panicked"))
				}
			})
		}
	}
}

// injected is in every field a hostile backend tries to slip into the
// response moreweb gives its client; it must never appear there.
const injected = "injected-9d1e"

// okTail ends a hostile head that is otherwise a plain 200.
const okTail = "Content-Length: 2\r\n\r\nok"

// fakeResponse is a whole second response, for backends that try to make
// moreweb take bytes past a response's end for the answer to the next
// request (response queue poisoning).
const fakeResponse = "HTTP/1.1 200 OK\r\nSet-Cookie: " + injected + "=1\r\nContent-Length: 4\r\n\r\nFAKE"

// hostileResponses are backend answers that are not one well-formed
// HTTP/1.1 response, or that two parsers could read differently: each is
// answered 502 with nothing of the backend's head passed on.
var hostileResponses = []struct {
	name string
	raw  string
}{
	// Field values that would end a line or the head for some parser.
	{"CR inside a value", "HTTP/1.1 200 OK\r\nX-A: a\rSet-Cookie: " + injected + "=1\r\n" + okTail},
	{"LF inside a value", "HTTP/1.1 200 OK\r\nX-A: a\nSet-Cookie: " + injected + "=1\r\n" + okTail},
	{"CR CR LF", "HTTP/1.1 200 OK\r\nX-A: a\r\r\nSet-Cookie: " + injected + "=1\r\n" + okTail},
	{"bare LF line ends", "HTTP/1.1 200 OK\nSet-Cookie: " + injected + "=1\nContent-Length: 2\n\nok"},
	{"bare LF ending the head", "HTTP/1.1 200 OK\r\nSet-Cookie: " + injected + "=1\r\nContent-Length: 2\r\n\nok"},
	{"bare LF after the status line", "HTTP/1.1 200 OK\nSet-Cookie: " + injected + "=1\r\n" + okTail},
	{"NUL inside a value", "HTTP/1.1 200 OK\r\nX-A: a\x00Set-Cookie: " + injected + "=1\r\n" + okTail},
	{"NUL in a name", "HTTP/1.1 200 OK\r\nX-" + injected + "\x00: 1\r\n" + okTail},
	{"escape in a value", "HTTP/1.1 200 OK\r\nX-" + injected + ": \x1b[31m\r\n" + okTail},
	{"DEL in a value", "HTTP/1.1 200 OK\r\nX-" + injected + ": a\x7fb\r\n" + okTail},
	// Field names.
	{"space inside a name", "HTTP/1.1 200 OK\r\nX " + injected + ": 1\r\n" + okTail},
	{"space before the colon", "HTTP/1.1 200 OK\r\nSet-Cookie : " + injected + "=1\r\n" + okTail},
	{"tab before the colon", "HTTP/1.1 200 OK\r\nSet-Cookie\t: " + injected + "=1\r\n" + okTail},
	{"empty name", "HTTP/1.1 200 OK\r\n: " + injected + "\r\n" + okTail},
	{"colon as a name", "HTTP/1.1 200 OK\r\n:: " + injected + "\r\n" + okTail},
	{"no colon", "HTTP/1.1 200 OK\r\nSet-Cookie " + injected + "=1\r\n" + okTail},
	{"slash in a name", "HTTP/1.1 200 OK\r\nX/" + injected + ": 1\r\n" + okTail},
	{"non-ASCII in a name", "HTTP/1.1 200 OK\r\nX-\xc3\xa9" + injected + ": 1\r\n" + okTail},
	// obs-fold (RFC 9112 §5.2: a proxy must not pass it on).
	{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n Set-Cookie: " + injected + "=1\r\n" + okTail},
	{"obs-fold with a tab", "HTTP/1.1 200 OK\r\nX-A: a\r\n\tX-" + injected + ": 1\r\n" + okTail},
	{"first field line folded", "HTTP/1.1 200 OK\r\n X-" + injected + ": 1\r\n" + okTail},
	// Framing two parsers could read two ways (RFC 9112 §6.1, §6.3).
	{"Content-Length and Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + fakeResponse},
	{"Transfer-Encoding and Content-Length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n" + fakeResponse},
	{"Transfer-Encoding: gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunk(fakeResponse) + "0\r\n\r\n"},
	{"Transfer-Encoding: chunked, gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" + chunk(fakeResponse) + "0\r\n\r\n"},
	{"Transfer-Encoding twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(fakeResponse) + "0\r\n\r\n"},
	{"Transfer-Encoding: identity", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n" + fakeResponse},
	{"Transfer-Encoding: xchunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n" + chunk(fakeResponse) + "0\r\n\r\n"},
	{"Transfer-Encoding in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(fakeResponse) + "0\r\n\r\n"},
	{"Content-Length negative", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n" + fakeResponse},
	{"Content-Length wrapping to 2", "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551618\r\n\r\nok" + fakeResponse},
	{"Content-Length over int64", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\nok" + fakeResponse},
	{"Content-Length of 30 digits", "HTTP/1.1 200 OK\r\nContent-Length: 100000000000000000000000000000\r\n\r\nok" + fakeResponse},
	{"Content-Length with a plus sign", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok" + fakeResponse},
	{"Content-Length in hex", "HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok" + fakeResponse},
	{"Content-Length empty", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nok" + fakeResponse},
	{"Content-Length list of two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2, 62\r\n\r\nok" + fakeResponse},
	{"two different Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 62\r\n\r\nok" + fakeResponse},
	// Status lines that are no HTTP/1.x (RFC 9112 §4, RFC 9110 §15).
	{"HTTP/2.0", "HTTP/2.0 200 OK\r\nX-" + injected + ": 1\r\n" + okTail},
	{"HTTP/1.2", "HTTP/1.2 200 OK\r\nX-" + injected + ": 1\r\n" + okTail},
	{"HTTP/0.9", "HTTP/0.9 200 OK\r\nX-" + injected + ": 1\r\n" + okTail},
	{"HTTP/3.0", "HTTP/3.0 200 OK\r\nX-" + injected + ": 1\r\n" + okTail},
	{"lower-case version", "http/1.1 200 OK\r\nX-" + injected + ": 1\r\n" + okTail},
	{"version without minor", "HTTP/1 200 OK\r\nX-" + injected + ": 1\r\n" + okTail},
	{"ICY", "ICY 200 OK\r\nX-" + injected + ": 1\r\n" + okTail},
	{"status 99", "HTTP/1.1 99 Early\r\nX-" + injected + ": 1\r\n" + okTail},
	{"status 099", "HTTP/1.1 099 Early\r\nX-" + injected + ": 1\r\n" + okTail},
	{"status 600", "HTTP/1.1 600 Late\r\nX-" + injected + ": 1\r\n" + okTail},
	{"status 000", "HTTP/1.1 000 Zero\r\nX-" + injected + ": 1\r\n" + okTail},
	{"status of four digits", "HTTP/1.1 2000 OK\r\nX-" + injected + ": 1\r\n" + okTail},
	{"status of letters", "HTTP/1.1 2OO OK\r\nX-" + injected + ": 1\r\n" + okTail},
	{"no status", "HTTP/1.1\r\nX-" + injected + ": 1\r\n" + okTail},
	{"two spaces before the status", "HTTP/1.1  200 OK\r\nX-" + injected + ": 1\r\n" + okTail},
	{"no space after the status", "HTTP/1.1 200OK\r\nX-" + injected + ": 1\r\n" + okTail},
	{"CR in the reason", "HTTP/1.1 200 O\rX-" + injected + ": 1\r\n" + okTail},
	{"NUL in the reason", "HTTP/1.1 200 O\x00K\r\nX-" + injected + ": 1\r\n" + okTail},
	{"no status line", "X-" + injected + ": 1\r\n" + okTail},
	{"TLS", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03X-" + injected},
	// Heads over the proxy's bounds (64 KiB, 200 fields).
	{"head over 64 KiB", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\nX-" + injected + ": 1\r\n" + okTail},
	{"head over 64 KiB in many fields", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-F: "+strings.Repeat("f", 1000)+"\r\n", 70) + "X-" + injected + ": 1\r\n" + okTail},
	{"201 fields", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-F: 1\r\n", 201) + "X-" + injected + ": 1\r\n" + okTail},
	// A protocol switch nobody asked for (RFC 9110 §15.2.2).
	{"101 unasked", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + injected + "\r\nConnection: Upgrade\r\n\r\n" + fakeResponse},
	// Nothing usable before the close.
	{"nothing", ""},
	{"head cut short", "HTTP/1.1 200 OK\r\nX-" + injected + ": 1\r\nContent-Le"},
	{"status line cut short", "HTTP/1.1 20"},
	{"103 then garbage", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nSSH-2.0-OpenSSH_9.2 X-" + injected + "\r\n\r\n"},
}

// cannedBackend answers every request with answer and closes.
func cannedBackend(t testing.TB, answer string) *backend {
	return startBackend(t, func(c *backendConn) {
		if _, err := http.ReadRequest(c.br); err != nil {
			return
		}
		io.WriteString(c, answer)
	})
}

// homeBackend answers every request with the home page: the "/*" route of
// the suites' proxy sites, so that healthy works on them.
func homeBackend(t testing.TB) *backend {
	rec := &recorder{}
	return startBackend(t, func(c *backendConn) { rec.serve(c, homeAnswer) })
}

// checkNoInjection fails if the client's stream carries anything a hostile
// backend tried to slip in, or a head line that is not well-formed.
func checkNoInjection(t *testing.T, stream []byte) {
	t.Helper()
	if bytes.Contains(bytes.ToLower(stream), []byte(injected)) || bytes.Contains(stream, []byte("FAKE")) {
		t.Errorf("the backend's injection reached the client:\n%q", truncate(stream))
	}
	for rest := stream; len(rest) > 0; {
		head, after, found := bytes.Cut(rest, []byte("\r\n\r\n"))
		if !found {
			break
		}
		lines := strings.Split(string(head), "\r\n")
		if !wellFormedStatusLine(lines[0]) {
			break // a body, not a head
		}
		for _, line := range lines[1:] {
			if !wellFormedFieldLine(line) {
				t.Errorf("malformed response field line %q", line)
			}
		}
		rest = after
	}
}

// TestProxyAnswers502ToEveryMalformedOrAmbiguousBackendResponse_RFC9112_11_1
// has backends answer with CR, LF or NUL inside fields, bad field names,
// obs-fold, both framings, unknown codings, bad lengths, status lines that
// are no HTTP/1.1, oversized heads and a protocol switch nobody asked
// for: the client gets moreweb's own 502 and nothing of the backend's
// head (RFC 9112 §11.1: response splitting).
func TestProxyAnswers502ToEveryMalformedOrAmbiguousBackendResponse_RFC9112_11_1(t *testing.T) {
	var routes []string
	for i, tt := range hostileResponses {
		routes = append(routes, proxyRoute(fmt.Sprintf("/hostile/%d/*", i), cannedBackend(t, tt.raw), `response_header_timeout = "5s"`))
	}
	routes = append(routes, proxyRoute("/*", homeBackend(t), ""))
	s := startProxySite(t, nil, routes...)
	t.Run("responses", func(t *testing.T) {
		for i, tt := range hostileResponses {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				stream := s.exchange(t, fmt.Sprintf("GET /hostile/%d/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", i), 0)
				checkNoInjection(t, stream)
				rs, err := parseFinalResponses(stream)
				if err != nil || len(rs) != 1 {
					t.Fatalf("%s (%v):\n%q", describe(rs), err, truncate(stream))
				}
				if rs[0].StatusCode != 502 || rs[0].body != proxy502Page {
					t.Errorf("got %d %q, want moreweb's 502", rs[0].StatusCode, truncate([]byte(rs[0].body)))
				}
			})
		}
	})
	s.healthy(t)
}

// maxInterimPassed is how many interim responses moreweb may pass on
// before a final one: a backend that sends more is flooding the client
// (net/http's client gives up after 5).
const maxInterimPassed = 64

// TestProxyBoundsAFloodOfInterimResponses_RFC9110_15_2 has a backend send
// 10000 103 Early Hints before its 200: moreweb passes on a bounded number
// of them (maxInterimPassed), then answers 502 or the final response.
func TestProxyBoundsAFloodOfInterimResponses_RFC9110_15_2(t *testing.T) {
	const flood = 10000
	interim := "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
	be := cannedBackend(t, strings.Repeat(interim, flood)+"HTTP/1.1 200 OK\r\n"+okTail)
	s := startProxySite(t, nil, proxyRoute("/flood", be, ""), proxyRoute("/*", homeBackend(t), ""))
	stream := s.exchange(t, "GET /flood HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", 0)
	rs, err := parseResponses(stream)
	if err != nil || len(rs) == 0 {
		t.Fatalf("%s (%v)", describe(rs), err)
	}
	passed := 0
	for _, r := range rs[:len(rs)-1] {
		if r.StatusCode == 103 {
			passed++
		}
	}
	final := rs[len(rs)-1]
	t.Logf("moreweb passed %d of %d interim responses (%d bytes), then %d", passed, flood, len(stream), final.StatusCode)
	if passed > maxInterimPassed {
		t.Errorf("moreweb passed %d interim responses on to the client, more than %d: a backend can flood clients through it", passed, maxInterimPassed)
	}
	if !(final.StatusCode == 200 && final.body == "ok") && final.StatusCode != 502 {
		t.Errorf("final answer %d %q, want the backend's 200 or moreweb's 502", final.StatusCode, final.body)
	}
	s.healthy(t)
}

// rxQueued is the number of bytes waiting to be read on this process's
// socket from localPort to remotePort (the rx_queue of /proc/net/tcp).
func rxQueued(localPort, remotePort int) int {
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 5 || hexPort(f[1]) != localPort || hexPort(f[2]) != remotePort {
				continue
			}
			_, rx, _ := strings.Cut(f[4], ":")
			n, _ := strconv.ParseUint(rx, 16, 32)
			return int(n)
		}
	}
	return 0
}

// TestProxyNeverForwardsBytesPastABackendResponse_RFC9112_6_3: a backend
// sends more than its Content-Length, a fake second response behind its
// body, in the same write or after the response is done. RFC 9112 §6.3: a
// client "MUST NOT process, cache, or forward such extra data as a
// separate response". The client gets exactly the declared body, and the
// next request goes to a fresh backend connection and gets the right
// answer, not the fake one (no response queue poisoning).
func TestProxyNeverForwardsBytesPastABackendResponse_RFC9112_6_3(t *testing.T) {
	for _, later := range []bool{false, true} {
		name := "in the same write"
		if later {
			name = "once the response is done"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sendFake := make(chan struct{})
			var firstConnRequests atomic.Int64
			be := startBackend(t, func(c *backendConn) {
				if c.n > 0 {
					for {
						if _, err := http.ReadRequest(c.br); err != nil {
							return
						}
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nfresh-ok!")
					}
				}
				if _, err := http.ReadRequest(c.br); err != nil {
					return
				}
				firstConnRequests.Add(1)
				if later {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
					<-sendFake
					io.WriteString(c, fakeResponse)
				} else {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"+fakeResponse)
				}
				// Keep the connection open, and count what else comes on it.
				for {
					if _, err := http.ReadRequest(c.br); err != nil {
						return
					}
					firstConnRequests.Add(1)
				}
			})
			s := startProxySite(t, nil, proxyRoute("/*", be, ""))
			ask := func() []byte {
				return s.exchange(t, "GET /x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", 0)
			}
			stream := ask()
			checkNoInjection(t, stream)
			rs, err := parseResponses(stream)
			if err != nil || len(rs) != 1 || rs[0].StatusCode != 200 || rs[0].body != "hello" {
				t.Fatalf("first answer: %s (%v):\n%q", describe(rs), err, stream)
			}
			if later {
				// The fake arrives on the pooled connection while it is
				// idle: wait until the kernel holds it for moreweb.
				close(sendFake)
				first := be.connections()[0]
				local := first.RemoteAddr().(*net.TCPAddr).Port
				remote := first.LocalAddr().(*net.TCPAddr).Port
				for deadline := time.Now().Add(5 * time.Second); rxQueued(local, remote) < len(fakeResponse); {
					if time.Now().After(deadline) {
						t.Fatal("the fake response never reached moreweb's socket")
					}
					time.Sleep(time.Millisecond)
				}
			}
			stream = ask()
			checkNoInjection(t, stream)
			rs, err = parseResponses(stream)
			if err != nil || len(rs) != 1 || rs[0].StatusCode != 200 || rs[0].body != "fresh-ok!" {
				t.Errorf("second answer: %s (%v), want the fresh connection's:\n%q", describe(rs), err, stream)
			}
			if n := firstConnRequests.Load(); n != 1 {
				t.Errorf("the poisoned backend connection carried %d requests, want 1", n)
			}
			if n := len(be.connections()); n != 2 {
				t.Errorf("%d backend connections, want 2", n)
			}
		})
	}
}

// incompleteResponses are backend responses that end before their body
// does: a chunked body without its last chunk, a chunk cut short or
// malformed, a body shorter than its Content-Length.
var incompleteResponses = []struct {
	name string
	raw  string
}{
	{"chunked, nothing of the body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
	{"chunked, no last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("hello")},
	{"chunked, cut inside a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("hello") + "10\r\nhel"},
	{"chunked, malformed chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("hello") + "zz\r\nhello\r\n0\r\n\r\n"},
	{"chunked, chunk longer than its size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"},
	{"chunked, large then cut", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(strings.Repeat("x", 40000))},
	{"Content-Length, nothing of the body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"},
	{"Content-Length, body short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"},
	{"Content-Length far past the body", "HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\nhello"},
}

// TestProxyNeverCompletesAResponseTheBackendLeftIncomplete_RFC9112_8: a
// proxy that receives an incomplete response "MUST record the message as
// incomplete" (RFC 9112 §8); passing it on as a complete one (a last
// chunk, or a Content-Length of what arrived) would have clients and
// caches keep a truncated file. The client gets moreweb's 502 or a
// response it can tell was cut: its body ends short and the connection
// closes.
func TestProxyNeverCompletesAResponseTheBackendLeftIncomplete_RFC9112_8(t *testing.T) {
	var routes []string
	for i, tt := range incompleteResponses {
		routes = append(routes, proxyRoute(fmt.Sprintf("/cut/%d/*", i), cannedBackend(t, tt.raw), ""))
	}
	routes = append(routes, proxyRoute("/*", homeBackend(t), ""))
	s := startProxySite(t, nil, routes...)
	t.Run("responses", func(t *testing.T) {
		for i, tt := range incompleteResponses {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				// Keep-alive: a response taken as complete would leave
				// the connection open for the next one.
				nc := s.dial(t)
				defer nc.Close()
				fmt.Fprintf(nc, "GET /cut/%d/x HTTP/1.1\r\nHost: example.com\r\n\r\n", i)
				br := bufio.NewReader(nc)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					if isClosed(err) || errors.Is(err, io.ErrUnexpectedEOF) {
						return // closed without an answer: nothing taken as whole
					}
					t.Fatal(err)
				}
				body, berr := io.ReadAll(resp.Body)
				if resp.StatusCode == 502 && string(body) == proxy502Page && berr == nil {
					return
				}
				if berr == nil {
					t.Errorf("the client got a complete %d with a %d-byte body %q (framed %v, length %d) for a response the backend left incomplete",
						resp.StatusCode, len(body), truncate(body), resp.TransferEncoding, resp.ContentLength)
				}
			})
		}
	})
	s.healthy(t)
}

// TestProxyHoldsNoWholeBodyBetweenASlowBackendAndASlowClient: 50 clients
// ask through moreweb for 10 MiB each from a backend that trickles the
// bodies out in small writes, and stop reading after the head. Whatever
// the backend manages to send then is in kernel buffers or in moreweb's:
// moreweb's heap grows by its per-connection buffers, never by the bodies:
// they are streamed, never held whole. Then the clients read on, and every
// body arrives whole.
func TestProxyHoldsNoWholeBodyBetweenASlowBackendAndASlowClient(t *testing.T) {
	const (
		conns   = 50
		size    = 10 << 20
		perConn = 256 << 10 // heap allowed per connection: buffers, far less than a body
	)
	block := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB
	var written atomic.Int64
	be := startBackendSized(t, 4096, func(c *backendConn) {
		c.Conn.(*net.TCPConn).SetWriteBuffer(16 << 10)
		for {
			req, err := http.ReadRequest(c.br)
			if err != nil {
				return
			}
			if req.URL.Path != "/big" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"+homeBody)
				continue
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", size)
			for sent := 0; sent < size; sent += len(block) {
				if _, err := c.Write(block); err != nil {
					return
				}
				written.Add(int64(len(block)))
			}
		}
	})
	s := startProxySite(t, map[string]string{"access_log": `"off"`, "log_level": `"info"`}, proxyRoute("/*", be, ""))
	for range 3 {
		s.healthy(t) // warm the pools up
	}
	baseHeap, baseStacks := heapAndStacks()

	heads := make(chan error, conns)
	readOn := make(chan struct{})
	results := make(chan error, conns)
	var clientRead atomic.Int64
	for range conns {
		nc := s.dialSmallBuffer(t)
		t.Cleanup(func() { nc.Close() })
		go func() {
			nc.SetDeadline(time.Now().Add(20 * time.Second))
			io.WriteString(nc, "GET /big HTTP/1.1\r\nHost: example.com\r\n\r\n")
			br := bufio.NewReaderSize(nc, 4096)
			resp, err := http.ReadResponse(br, nil)
			if err == nil && (resp.StatusCode != 200 || resp.ContentLength != size) {
				err = fmt.Errorf("%d, length %d", resp.StatusCode, resp.ContentLength)
			}
			heads <- err
			if err != nil {
				return
			}
			<-readOn
			buf := make([]byte, len(block))
			for n := 0; n < size; n += len(buf) {
				if _, err := io.ReadFull(resp.Body, buf); err != nil {
					results <- fmt.Errorf("after %d bytes: %v", n, err)
					return
				}
				if !bytes.Equal(buf, block) {
					results <- fmt.Errorf("body differs after %d bytes", n)
					return
				}
				clientRead.Add(int64(len(buf)))
			}
			results <- nil
		}()
	}
	for range conns {
		if err := <-heads; err != nil {
			t.Fatal(err)
		}
	}
	// The clients read nothing more: wait until the backends cannot send
	// more either (every buffer between them full), or have sent whole
	// bodies (moreweb held them). Nothing but the count standing still
	// tells that, so it is polled.
	var last int64 = -1
	for still := 0; still < 5; {
		time.Sleep(20 * time.Millisecond)
		if w := written.Load(); w == last {
			still++
		} else {
			last, still = w, 0
		}
	}
	heap, stacks := heapAndStacks()
	growth := int64(heap) - int64(baseHeap)
	t.Logf("stalled: the backends sent %.1f MiB (%.0f KiB a connection), the clients read none of it; the heap grew %.1f MiB (%.0f KiB a connection), stacks %.1f MiB",
		float64(last)/(1<<20), float64(last)/conns/1024, float64(growth)/(1<<20), float64(growth)/conns/1024, float64(int64(stacks)-int64(baseStacks))/(1<<20))
	if growth > conns*perConn {
		t.Errorf("the heap grew %.1f MiB for %d stalled connections, more than %d KiB each: bodies are being held", float64(growth)/(1<<20), conns, perConn>>10)
	}
	close(readOn)
	start := time.Now()
	for range conns {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
	t.Logf("then %d MiB reached the clients in %v", clientRead.Load()>>20, time.Since(start).Round(time.Millisecond))
	s.healthy(t)
}

// heapAndStacks are the live heap, after a collection, and the stacks in
// use: what this process holds.
func heapAndStacks() (heap, stacks uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse
}

// spoofs are client claims about who the client is, in every spelling a
// backend might read: each must be dropped, and moreweb's own
// X-Forwarded-* sent instead, once.
var spoofs = []struct {
	name   string
	fields string // header lines, each ending in CRLF
}{
	{"X-Forwarded-For", "X-Forwarded-For: 6.6.6.6\r\n"},
	{"X-Forwarded-For chain", "X-Forwarded-For: 6.6.6.6, 127.0.0.1\r\n"},
	{"X-Forwarded-For twice", "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 6.6.6.7\r\n"},
	{"X-Forwarded-For empty then spoofed", "X-Forwarded-For:\r\nX-Forwarded-For: 6.6.6.6\r\n"},
	{"x-forwarded-for", "x-forwarded-for: 6.6.6.6\r\n"},
	{"X-FORWARDED-FOR", "X-FORWARDED-FOR: 6.6.6.6\r\n"},
	{"X_Forwarded_For", "X_Forwarded_For: 6.6.6.6\r\n"},
	{"X-Forwarded_For", "X-Forwarded_For: 6.6.6.6\r\n"},
	{"X-Forwarded-For named in Connection", "Connection: X-Forwarded-For\r\nX-Forwarded-For: 6.6.6.6\r\n"},
	{"X-Real-IP", "X-Real-IP: 6.6.6.6\r\n"},
	{"x-real-ip", "x-real-ip: 6.6.6.6\r\n"},
	{"X_Real_IP", "X_Real_IP: 6.6.6.6\r\n"},
	{"Forwarded", "Forwarded: for=6.6.6.6;proto=https;host=evil.example\r\n"},
	{"Forwarded IPv6", "Forwarded: for=\"[2001:db8::6]:6666\", for=6.6.6.6\r\n"},
	{"forwarded twice", "forwarded: for=6.6.6.6\r\nFORWARDED: by=6.6.6.6\r\n"},
	{"X-Forwarded-Host", "X-Forwarded-Host: evil.example\r\n"},
	{"X_Forwarded_Host", "X_Forwarded_Host: evil.example\r\n"},
	{"X-Forwarded-Proto", "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n"},
	{"all at once", "X-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\n"},
}

// TestProxyDropsAnUntrustedClientsForwardingClaims_RFC7239_8_1: a client
// that is no trusted proxy cannot tell the backend it is someone else
// (RFC 7239 §8.1: such fields are only as good as who set them):
// its X-Forwarded-For, X-Real-IP and Forwarded (and X-Forwarded-Host and
// -Proto) never reach the backend as given, in any case or with '_' for
// '-'; the backend gets one X-Forwarded-For, the client's own address.
// Played from two loopback addresses (so the address is the peer's, not a
// constant), with no trusted_proxies and with some that do not cover the
// client; in a plain request, an HTTP/1.0 one, an absolute-form one and a
// chunked body's trailer.
func TestProxyDropsAnUntrustedClientsForwardingClaims_RFC7239_8_1(t *testing.T) {
	for _, tt := range []struct {
		name, from, trusted string
	}{
		{"no trusted proxies", "127.0.0.1", ""},
		{"from another address", "127.0.0.2", ""},
		{"trusted proxies elsewhere", "127.0.0.3", `["10.0.0.0/8", "127.0.0.1/32", "::1/128"]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{client: tt.from}
			be := startBackend(t, func(c *backendConn) { rec.serve(c, homeAnswer) })
			over := map[string]string{}
			if tt.trusted != "" {
				over["trusted_proxies"] = tt.trusted
			}
			s := startProxySite(t, over, proxyRoute("/*", be, ""))
			var sent []string
			for i, sp := range spoofs {
				for j, form := range []string{
					"GET /spoof/%d HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n%s\r\n",
					"GET /spoof/%d HTTP/1.0\r\nHost: example.com\r\n%s\r\n",
					"GET http://example.com/spoof/%d HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n%s\r\n",
				} {
					sent = append(sent, fmt.Sprintf(form, i*10+j, sp.fields))
				}
				trailer := fmt.Sprintf("POST /spoof/%d HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n", i*10+3) +
					chunk("body") + "0\r\n" + sp.fields + "\r\n"
				sent = append(sent, trailer)
			}
			for _, raw := range sent {
				d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(tt.from)}}
				nc, err := d.Dial("tcp", s.addr)
				if err != nil {
					t.Fatal(err)
				}
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(nc, raw)
				stream, _ := io.ReadAll(nc)
				nc.Close()
				rs, err := parseResponses(stream)
				if err != nil || len(rs) != 1 || rs[0].StatusCode != 200 {
					t.Errorf("%q: %s (%v)", raw, describe(rs), err)
				}
			}
			s.stop()
			be.waitClosed(t)
			rec.report(t)
			got := rec.requests()
			if len(got) != len(sent) {
				t.Errorf("the backend got %d requests for %d sent", len(got), len(sent))
			}
			for _, f := range got {
				if strings.Contains(f.head, "6.6.6") || strings.Contains(f.head, "2001:db8") || strings.Contains(f.head, "evil.example") || len(f.trailer) > 0 {
					t.Errorf("a client's claim reached the backend:\n%s%v", f.head, f.trailer)
				}
				if h, p := f.header.Get("X-Forwarded-Host"), f.header.Get("X-Forwarded-Proto"); h != "example.com" || p != "http" {
					t.Errorf("X-Forwarded-Host %q, -Proto %q, want example.com and http", h, p)
				}
			}
		})
	}
}

// fuzzAnswer is what the fuzz backend answers one request with, and
// whether it then keeps the connection open (so that only moreweb's
// timeouts end an incomplete answer) or closes it.
type fuzzAnswer struct {
	raw  []byte
	hold bool
}

// fuzzAnswers hands each fuzz input to the backend connection its request
// names: "/fuzz/<n>" -> fuzzAnswer.
var fuzzAnswers sync.Map

// fuzzTimeout is the fuzz route's response_header_timeout.
const fuzzTimeout = 100 * time.Millisecond

// FuzzProxyBackendResponse has a backend answer with arbitrary bytes, then
// close the connection or hold it open: moreweb answers its client with
// well-formed responses (net/http reads them; interim ones first), every
// head line well-formed, a body that is whole or cut by a close, and
// nothing after the final response; or it closes without a word. It never
// panics, and answers within twice its response_header_timeout (one wait
// for the head, one for a piece of the body) and slack: it never hangs.
func FuzzProxyBackendResponse(f *testing.F) {
	for _, tt := range hostileResponses {
		f.Add([]byte(tt.raw), false)
	}
	for _, tt := range incompleteResponses {
		f.Add([]byte(tt.raw), false)
	}
	for _, tt := range stallingResponses {
		f.Add([]byte(tt.raw), true)
	}
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\n" + okTail,
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + fakeResponse,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n" + chunk("hello") + "0\r\nX-T: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=\"q\"\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nto the close",
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n" + okTail,
		"HTTP/1.1 200 OK\r\nConnection: X-Secret, close\r\nX-Secret: 1\r\nKeep-Alive: 5\r\n" + okTail,
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n",
		"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 \r\n" + okTail,
		"HTTP/1.1 200\r\n" + okTail,
		"HTTP/1.0 200 \xc9\r\n0:\xc9\r\nX-A: \xff \x80\r\n\r\n0", // obs-text, not UTF-8: well-formed
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	be := startBackend(f, func(c *backendConn) {
		for {
			req, err := http.ReadRequest(c.br)
			if err != nil {
				return
			}
			a, ok := fuzzAnswers.Load(req.URL.Path)
			if !ok {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"+homeBody)
				continue
			}
			c.Write(a.(fuzzAnswer).raw)
			if !a.(fuzzAnswer).hold {
				return
			}
		}
	})
	s := startProxySite(f, map[string]string{"access_log": `"off"`, "log_level": `"error"`},
		proxyRoute("/*", be, fmt.Sprintf("response_header_timeout = %q", fuzzTimeout)))
	var next atomic.Int64
	f.Fuzz(func(t *testing.T, answer []byte, hold bool) {
		path := fmt.Sprintf("/fuzz/%d", next.Add(1))
		// The backend's own copy: the fuzzing engine reuses answer once
		// this returns, and nothing orders its writes after the backend's
		// read but the network.
		fuzzAnswers.Store(path, fuzzAnswer{bytes.Clone(answer), hold})
		defer fuzzAnswers.Delete(path)
		nc := s.dial(t)
		defer nc.Close()
		start := time.Now()
		nc.SetDeadline(start.Add(5 * time.Second))
		fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", path)
		stream, err := io.ReadAll(nc)
		nc.(*net.TCPConn).SetLinger(0) // no TIME_WAIT: a fuzz run makes many connections
		if d := time.Since(start); err != nil && !isClosed(err) || d > 2*fuzzTimeout+slack {
			t.Fatalf("moreweb took %v to answer (%v), and sent %q", d, err, truncate(stream))
		}
		checkWellFormedAnswer(t, stream)
		if bytes.Contains(stream, []byte("HTTP/1.1 500 ")) {
			if log := s.errLog.String(); strings.Contains(log, "panicked") {
				t.Fatalf("a handler panicked:\n%s", grepLines(log, "panicked"))
			}
		}
	})
}

// checkWellFormedAnswer: stream is empty, or interim responses and one
// final response that net/http reads, with well-formed head lines, whose
// body is whole or ends at a close, and nothing after it.
func checkWellFormedAnswer(t *testing.T, stream []byte) {
	t.Helper()
	if len(stream) == 0 {
		return
	}
	br := bufio.NewReader(bytes.NewReader(stream))
	for {
		head, err := peekHead(br)
		if err != nil {
			t.Fatalf("no whole head (%v): %q", err, truncate(stream))
		}
		lines := strings.Split(strings.TrimSuffix(string(head), "\r\n\r\n"), "\r\n")
		if !wellFormedStatusLine(lines[0]) {
			t.Errorf("status line %q", lines[0])
		}
		for _, line := range lines[1:] {
			if !wellFormedFieldLine(line) {
				t.Errorf("malformed field line %q", line)
			}
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("net/http cannot read the answer (%v): %q", err, truncate(stream))
		}
		if resp.StatusCode == 101 {
			t.Fatalf("a 101 nobody asked for reached the client: %q", truncate(stream))
		}
		if resp.StatusCode < 200 {
			continue
		}
		if _, err := io.ReadAll(resp.Body); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("body: %v: %q", err, truncate(stream))
		}
		if rest, _ := io.ReadAll(br); len(rest) > 0 {
			t.Fatalf("%d bytes after the final response: %q", len(rest), truncate(stream))
		}
		return
	}
}

// stallingResponses are backends that send part of a response, then
// nothing, keeping the connection open.
var stallingResponses = []struct {
	name string
	raw  string
}{
	{"nothing", ""},
	{"part of the status line", "HTTP/1.1 20"},
	{"part of the head", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"},
	{"a 103, then nothing", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"},
	{"the head of a Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"},
	{"the head of a chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
	{"the head of a body to the close", "HTTP/1.0 200 OK\r\n\r\n"},
	{"part of a Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"},
	{"part of a chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("hello")},
	{"part of a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nhello"},
}

// TestProxyGivesUpOnAStalledBackendWithinItsTimeout: a backend that stops
// sending, anywhere in its response, and keeps the connection open, holds
// the client no longer than response_header_timeout (300ms here) for the
// head and as long again for each piece of the body: the client gets
// moreweb's 504, or the response cut by a close.
func TestProxyGivesUpOnAStalledBackendWithinItsTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	var routes []string
	for i, tt := range stallingResponses {
		be := startBackend(t, func(c *backendConn) {
			if _, err := http.ReadRequest(c.br); err != nil {
				return
			}
			io.WriteString(c, tt.raw)
			c.drain() // until moreweb gives up
		})
		routes = append(routes, proxyRoute(fmt.Sprintf("/stall/%d/*", i), be, fmt.Sprintf("response_header_timeout = %q", timeout)))
	}
	routes = append(routes, proxyRoute("/*", homeBackend(t), ""))
	s := startProxySite(t, nil, routes...)
	t.Run("responses", func(t *testing.T) {
		for i, tt := range stallingResponses {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				stream := s.exchange(t, fmt.Sprintf("GET /stall/%d/x HTTP/1.1\r\nHost: example.com\r\n\r\n", i), 0)
				d := time.Since(start)
				if d > 2*timeout+slack {
					t.Errorf("the client was held %v (the exchange's own deadline is 10s)", d)
				}
				rs, err := parseFinalResponses(stream)
				switch {
				case err == nil && len(rs) == 1 && rs[0].StatusCode == 504 && rs[0].body == proxy504Page:
				case len(rs) == 1 && rs[0].StatusCode == 200 && errors.Is(err, io.ErrUnexpectedEOF):
					// Cut: the head had gone, the body ends short at the close.
				default:
					t.Errorf("after %v: %s (%v), want moreweb's 504 or a cut:\n%q", d, describe(rs), err, truncate(stream))
				}
			})
		}
	})
	s.healthy(t)
}
