package h2

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// testServer serves h2c with prior knowledge on a loopback socket, with
// serve answering every request.
type testServer struct {
	addr  string
	ln    net.Listener
	mu    sync.Mutex
	conns []*Conn
	wg    sync.WaitGroup
}

func startServer(t *testing.T, o Options, serve func(w *ResponseWriter, r *handlers.Request)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, ln, o, serve)
}

// startTLSServer is startServer over TLS with cfg.
func startTLSServer(t *testing.T, cfg *tls.Config, o Options, serve func(w *ResponseWriter, r *handlers.Request)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, tls.NewListener(ln, cfg), o, serve)
}

func serveOn(t *testing.T, ln net.Listener, o Options, serve func(w *ResponseWriter, r *handlers.Request)) *testServer {
	ts := &testServer{addr: ln.Addr().String(), ln: ln}
	if o.ReadHeaderTimeout == 0 {
		o.ReadHeaderTimeout = 5 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 10 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 5 * time.Second
	}
	o.Serve = func(w *ResponseWriter, r *handlers.Request) {
		serve(w, r)
		w.Finish()
	}
	o.Refuse = func(w *ResponseWriter, r *handlers.Request, status int) {
		w.WriteHeader(status)
		w.Finish()
	}
	// Each connection is counted until it ends, not while Serve runs:
	// Serve returns when the connection first goes idle.
	ended := o.Ended
	o.Ended = func(err error) {
		if ended != nil {
			ended(err)
		}
		ts.wg.Done()
	}
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := NewConn(nc, o)
			ts.mu.Lock()
			ts.conns = append(ts.conns, c)
			ts.mu.Unlock()
			ts.wg.Add(1)
			go c.Serve()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		ts.mu.Lock()
		for _, c := range ts.conns {
			c.Shutdown()
		}
		ts.mu.Unlock()
		done := make(chan struct{})
		go func() { ts.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("connections still open 10 s after shutdown")
		}
	})
	return ts
}

// client is Go's HTTP/2 client speaking h2c with prior knowledge.
func client() *http.Client {
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http2.Transport{
			AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		},
	}
}

func fixed(body string) func(w *ResponseWriter, r *handlers.Request) {
	return func(w *ResponseWriter, r *handlers.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteString(body)
	}
}

func TestRFC9113_8_RequestReachesTheHandlerAsTheNeutralRequest(t *testing.T) {
	var got handlers.Request
	var agent string
	ts := startServer(t, Options{}, func(w *ResponseWriter, r *handlers.Request) {
		got = *r
		got.Path = bytes.Clone(r.Path)
		got.RawQuery = bytes.Clone(r.RawQuery)
		got.Host = bytes.Clone(r.Host)
		agent = string(r.Header.Get("user-agent"))
		w.Header().Set("X-Seen", "yes")
		w.WriteString("hello")
	})
	req, _ := http.NewRequest("GET", "http://"+ts.addr+"/a/../b%20c?x=1", nil)
	req.Header.Set("User-Agent", "test-agent")
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || string(body) != "hello" {
		t.Fatalf("%s %d %q", resp.Proto, resp.StatusCode, body)
	}
	if resp.Header.Get("X-Seen") != "yes" || resp.Header.Get("Date") == "" || resp.ContentLength != 5 {
		t.Fatalf("response header %v, length %d", resp.Header, resp.ContentLength)
	}
	if got.Method != "GET" || string(got.Path) != "/b c" || string(got.RawQuery) != "x=1" || string(got.Host) != ts.addr ||
		got.Proto != "HTTP/2.0" || got.ContentLength != 0 || agent != "test-agent" {
		t.Fatalf("request as seen: %s %q %q host %q %s length %d agent %q", got.Method, got.Path, got.RawQuery, got.Host, got.Proto, got.ContentLength, agent)
	}
}

func TestRFC9113_5_2_LargeBodiesStreamBothWaysUnderFlowControl(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	ts := startServer(t, Options{Limits: parser.Limits{MaxBodyBytes: 8 << 20}}, func(w *ResponseWriter, r *handlers.Request) {
		if r.Method == "POST" {
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%d %v", n, err)
			return
		}
		w.SetContentLength(int64(len(big)))
		w.ReadFrom(bytes.NewReader(big))
	})
	c := client()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			resp, err := c.Get("http://" + ts.addr + "/big")
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(b, big) {
				errs <- fmt.Errorf("download: %d bytes, want %d", len(b), len(big))
			}
		}()
		go func() {
			defer wg.Done()
			resp, err := c.Post("http://"+ts.addr+"/up", "application/octet-stream", bytes.NewReader(big))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != strconv.Itoa(len(big))+" <nil>" {
				errs <- fmt.Errorf("upload: handler read %q", b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRFC9113_5_1_2_ASlowStreamDoesNotStallTheOthers(t *testing.T) {
	release := make(chan struct{})
	ts := startServer(t, Options{}, func(w *ResponseWriter, r *handlers.Request) {
		if string(r.Path) == "/slow" {
			w.WriteString("first part ")
			w.Flush()
			<-release
		}
		w.WriteString("done")
	})
	c := client()
	slow, err := c.Get("http://" + ts.addr + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Body.Close()
	for i := 0; i < 20; i++ {
		resp, err := c.Get("http://" + ts.addr + "/fast")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "done" {
			t.Fatalf("fast stream: %q", b)
		}
	}
	close(release)
	b, _ := io.ReadAll(slow.Body)
	if string(b) != "first part done" {
		t.Fatalf("slow stream: %q", b)
	}
}

func TestRFC9113_6_8_ShutdownSendsGoAwayAndLetsStreamsInFlightFinish(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	ts := startServer(t, Options{}, func(w *ResponseWriter, r *handlers.Request) {
		close(started)
		<-release
		w.WriteString("finished")
	})
	c := client()
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := c.Get("http://" + ts.addr + "/")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{string(b), err}
	}()
	<-started
	ts.mu.Lock()
	conn := ts.conns[0]
	ts.mu.Unlock()
	conn.Shutdown()
	time.Sleep(50 * time.Millisecond)
	select {
	case <-conn.Done():
		t.Fatal("the connection closed with a stream in flight")
	default:
	}
	close(release)
	r := <-res
	if r.err != nil || r.body != "finished" {
		t.Fatalf("stream in flight: %q, %v", r.body, r.err)
	}
	select {
	case <-conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not close once its last stream ended")
	}
}

func TestIdleConnectionIsClosedWithGoAwayAfterIdleTimeout(t *testing.T) {
	ts := startServer(t, Options{IdleTimeout: 200 * time.Millisecond}, fixed("x"))
	rc := dialRaw(t, ts.addr)
	start := time.Now()
	f := rc.waitFor(t, func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
	if ga := f.(*http2.GoAwayFrame); ga.ErrCode != http2.ErrCodeNo {
		t.Fatalf("GOAWAY %v", ga.ErrCode)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
		t.Fatalf("GOAWAY after %v, idle timeout 200ms", d)
	}
}

// rawClient speaks frames to the server directly, for what a conformant
// client never sends.
type rawClient struct {
	nc  net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
	// dec follows the server's HPACK table through every header block
	// read; fields are the last block's.
	dec    *hpack.Decoder
	fields map[uint32][]hpack.HeaderField
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newRawClient(t, nc)
}

// newRawClient starts HTTP/2 on nc, a connection to the server.
func newRawClient(t *testing.T, nc net.Conn) *rawClient {
	t.Cleanup(func() { nc.Close() })
	rc := &rawClient{nc: nc, fr: http2.NewFramer(nc, nc)}
	rc.enc = hpack.NewEncoder(&rc.buf)
	rc.dec = hpack.NewDecoder(4096, nil)
	rc.fields = map[uint32][]hpack.HeaderField{}
	io.WriteString(nc, Preface)
	rc.fr.WriteSettings()
	return rc
}

func (rc *rawClient) block(fields ...string) []byte {
	rc.buf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		rc.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(rc.buf.Bytes())
}

func (rc *rawClient) get(id uint32, path string, end bool) error {
	return rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, EndStream: end,
		BlockFragment: rc.block(":method", "GET", ":scheme", "http", ":authority", "x.test", ":path", path)})
}

// waitFor reads frames until one satisfies ok, answering nothing.
func (rc *rawClient) waitFor(t *testing.T, ok func(http2.Frame) bool) http2.Frame {
	t.Helper()
	rc.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatalf("no such frame before %v", err)
		}
		if os.Getenv("H2DEBUG") != "" {
			t.Logf("%v", f)
		}
		if h, isHeaders := f.(*http2.HeadersFrame); isHeaders {
			fields, err := rc.dec.DecodeFull(h.HeaderBlockFragment())
			if err != nil {
				t.Fatalf("the server's header block does not decode: %v", err)
			}
			rc.fields[h.StreamID] = fields
		}
		if ok(f) {
			return f
		}
	}
}

func isGoAway(code http2.ErrCode) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		ga, ok := f.(*http2.GoAwayFrame)
		return ok && ga.ErrCode == code
	}
}

func isReset(id uint32, code http2.ErrCode) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		rs, ok := f.(*http2.RSTStreamFrame)
		return ok && rs.StreamID == id && rs.ErrCode == code
	}
}

// stillServes checks that a fresh connection gets answered.
func stillServes(t *testing.T, addr string) {
	t.Helper()
	resp, err := client().Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("another client after the attack: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("another client after the attack: %d", resp.StatusCode)
	}
}

func TestFloodsEndTheConnectionWithEnhanceYourCalm(t *testing.T) {
	floods := map[string]func(rc *rawClient){
		"PING (CVE-2019-9512)": func(rc *rawClient) {
			for i := 0; i < 1000; i++ {
				rc.fr.WritePing(false, [8]byte{byte(i)})
			}
		},
		"SETTINGS (CVE-2019-9515)": func(rc *rawClient) {
			for i := 0; i < 1000; i++ {
				rc.fr.WriteSettings()
			}
		},
		"empty DATA (CVE-2019-9518)": func(rc *rawClient) {
			rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true,
				BlockFragment: rc.block(":method", "POST", ":scheme", "http", ":authority", "x.test", ":path", "/")})
			for i := 0; i < 1000; i++ {
				rc.fr.WriteData(1, false, nil)
			}
		},
		"Rapid Reset (CVE-2023-44487)": func(rc *rawClient) {
			for id := uint32(1); id < 2000; id += 2 {
				rc.get(id, "/", true)
				rc.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			}
		},
		"tiny WINDOW_UPDATEs": func(rc *rawClient) {
			for i := 0; i < 1000; i++ {
				rc.fr.WriteWindowUpdate(0, 1)
			}
		},
		"CONTINUATION (CVE-2023-45288)": func(rc *rawClient) {
			rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: rc.block(":method", "GET")})
			for i := 0; i < 1000; i++ {
				rc.fr.WriteContinuation(1, false, nil)
			}
		},
	}
	release := make(chan struct{})
	defer close(release)
	ts := startServer(t, Options{}, func(w *ResponseWriter, r *handlers.Request) {
		if r.Method == "POST" {
			<-release
		}
		w.WriteString("ok")
	})
	for name, flood := range floods {
		t.Run(name, func(t *testing.T) {
			rc := dialRaw(t, ts.addr)
			go flood(rc)
			rc.waitFor(t, isGoAway(http2.ErrCodeEnhanceYourCalm))
			stillServes(t, ts.addr)
		})
	}
}

func TestHPACKBombIsAnswered431WithoutKeepingTheFields(t *testing.T) {
	ts := startServer(t, Options{Limits: parser.Limits{MaxHeaderBytes: 8192}}, fixed("ok"))
	rc := dialRaw(t, ts.addr)
	// One 4000-byte value enters the table, then each reference to it is
	// one byte of the block and 4 KB of decoded list.
	first := rc.block(":method", "GET", ":scheme", "http", ":authority", "x.test", ":path", "/", "x-big", strings.Repeat("b", 4000))
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, EndStream: true, BlockFragment: first})
	rc.buf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x.test"}, {":path", "/"}} {
		rc.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for i := 0; i < 1000; i++ {
		rc.enc.WriteField(hpack.HeaderField{Name: "x-big", Value: strings.Repeat("b", 4000)})
	}
	bomb := bytes.Clone(rc.buf.Bytes())
	if len(bomb) > 4096 {
		t.Fatalf("the bomb's block is %d bytes, meant to be small", len(bomb))
	}
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, EndHeaders: true, EndStream: true, BlockFragment: bomb})
	rc.waitFor(t, func(f http2.Frame) bool { h, ok := f.(*http2.HeadersFrame); return ok && h.StreamID == 3 })
	if fields := rc.fields[3]; len(fields) == 0 || fields[0].Value != "431" {
		t.Fatalf("bomb answered with %v", fields)
	}
	stillServes(t, ts.addr)
}

func TestRFC9113_8_1_1_MalformedRequestsResetTheStream(t *testing.T) {
	ts := startServer(t, Options{}, fixed("ok"))
	cases := map[string][]string{
		"upper-case name":       {":method", "GET", ":scheme", "http", ":path", "/", "X-Upper", "1"},
		"connection field":      {":method", "GET", ":scheme", "http", ":path", "/", "connection", "close"},
		"pseudo after regular":  {":method", "GET", ":scheme", "http", "accept", "*/*", ":path", "/"},
		"no :path":              {":method", "GET", ":scheme", "http"},
		"unknown pseudo":        {":method", "GET", ":scheme", "http", ":path", "/", ":status", "200"},
		"te other than trailer": {":method", "GET", ":scheme", "http", ":path", "/", "te", "gzip"},
		"value with newline":    {":method", "GET", ":scheme", "http", ":path", "/", "x-a", "a\nb"},
	}
	for name, fields := range cases {
		t.Run(name, func(t *testing.T) {
			rc := dialRaw(t, ts.addr)
			rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, EndStream: true, BlockFragment: rc.block(fields...)})
			rc.waitFor(t, isReset(1, http2.ErrCodeProtocol))
			// The connection goes on.
			rc.get(3, "/", true)
			rc.waitFor(t, func(f http2.Frame) bool { h, ok := f.(*http2.HeadersFrame); return ok && h.StreamID == 3 })
		})
	}
}

func TestRFC9113_5_1_DataOnAnIdleStreamIsAConnectionError(t *testing.T) {
	ts := startServer(t, Options{}, fixed("ok"))
	rc := dialRaw(t, ts.addr)
	rc.fr.WriteData(5, true, []byte("x"))
	rc.waitFor(t, isGoAway(http2.ErrCodeProtocol))
}

func TestRFC9113_8_1_1_BodyLongerThanContentLengthResetsTheStream(t *testing.T) {
	ts := startServer(t, Options{}, func(w *ResponseWriter, r *handlers.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteString("ok")
	})
	rc := dialRaw(t, ts.addr)
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true,
		BlockFragment: rc.block(":method", "POST", ":scheme", "http", ":path", "/", "content-length", "3")})
	rc.fr.WriteData(1, true, []byte("abcdef"))
	rc.waitFor(t, isReset(1, http2.ErrCodeProtocol))
}

func TestZeroWindowHoldIsCutAfterWriteTimeout(t *testing.T) {
	ts := startServer(t, Options{WriteTimeout: 300 * time.Millisecond}, func(w *ResponseWriter, r *handlers.Request) {
		w.Write(bytes.Repeat([]byte("z"), 100<<10))
	})
	rc := dialRaw(t, ts.addr)
	// A window of zero for every stream, and the connection's never grows.
	rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	rc.get(1, "/", true)
	start := time.Now()
	rc.waitFor(t, isReset(1, http2.ErrCodeCancel))
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("stream held %v past a 300ms write timeout", d)
	}
	stillServes(t, ts.addr)
}

func TestRFC9113_5_1_2_StreamsBeyondTheAdvertisedLimitAreRefused(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	ts := startServer(t, Options{}, func(w *ResponseWriter, r *handlers.Request) {
		<-release
	})
	rc := dialRaw(t, ts.addr)
	for id := uint32(1); id <= 2*MaxConcurrentStreams+1; id += 2 {
		rc.get(id, "/", true)
	}
	rc.get(2*MaxConcurrentStreams+3, "/", true)
	rc.waitFor(t, isReset(2*MaxConcurrentStreams+3, http2.ErrCodeRefusedStream))
}

func TestManyStreamsEachWithATinyWindowEndTheConnectionWithEnhanceYourCalm(t *testing.T) {
	ts := startServer(t, Options{}, func(w *ResponseWriter, r *handlers.Request) {
		w.Write(bytes.Repeat([]byte("t"), 64<<10))
	})
	rc := dialRaw(t, ts.addr)
	// Every stream may receive one byte, then one more per update: each
	// DATA frame the server makes carries a byte.
	rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	for id := uint32(1); id < 100; id += 2 {
		rc.get(id, "/", true)
	}
	go func() {
		for i := 0; i < 100; i++ {
			for id := uint32(1); id < 100; id += 2 {
				if rc.fr.WriteWindowUpdate(id, 1) != nil {
					return
				}
			}
		}
	}()
	rc.waitFor(t, isGoAway(http2.ErrCodeEnhanceYourCalm))
	stillServes(t, ts.addr)
}
