package listener

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

func TestRFC9112_9_3_PersistentConnectionServesManyRequests(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, nil)
	c := ts.dial(t)
	for _, p := range []string{"/a", "/b", "/c"} {
		c.send("GET " + p + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := c.response("GET")
		if resp.StatusCode != 200 || body != p || resp.Close {
			t.Fatalf("GET %s: %d %q close=%v", p, resp.StatusCode, body, resp.Close)
		}
	}
}

func TestRFC9112_9_3_2_PipelinedRequestsAnsweredInOrder(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, nil)
	c := ts.dial(t)
	c.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
		"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"/1", "/2", "/3"} {
		_, body := c.response("GET")
		if body != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
}

// A pipelined burst far larger than one read buffer is answered in full
// and promptly: a read that fills the buffer must not be taken for one
// that emptied the socket, or the rest would wait for an event that never
// comes.
func TestRFC9112_9_3_2_PipelinedBurstLargerThanBufferServedPromptly(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, nil)
	c := ts.dial(t)
	const n = 2000
	var burst strings.Builder
	for i := range n {
		fmt.Fprintf(&burst, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	start := time.Now()
	go io.WriteString(c.nc, burst.String())
	for i := range n {
		if _, body := c.response("GET"); body != fmt.Sprintf("/%d", i) {
			t.Fatalf("response %d: %q", i, body)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("%d pipelined requests took %v", n, d)
	}
}

// The sharpest case of the above: a burst whose first read fills the read
// buffer exactly at a request boundary. The last request is still in the
// socket, and no new bytes will arrive to announce it; it must be answered
// at once, not when the connection's wait times out. (A version of the
// wait that skipped reads on sockets it believed empty hung here.)
func TestRFC9112_9_3_2_RequestLeftBehindAFullReadIsAnswered(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, nil)
	var rd parser.Reader
	rd.Reset(nil, SettingsFrom(&ts.cfg.Server).Limits)
	size := len(rd.Space())
	rd.Release()
	const reqLen = 32 // "GET /00000 HTTP/1.1\r\nHost: x\r\n\r\n"
	if size%reqLen != 0 {
		t.Skipf("read buffer of %d bytes is not a multiple of %d", size, reqLen)
	}
	n := size/reqLen + 1
	var burst strings.Builder
	for i := range n {
		fmt.Fprintf(&burst, "GET /%05d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	worst := time.Duration(0)
	for range 5 {
		c := ts.dial(t)
		// One request first, so that the burst meets a connection that
		// has already waited once, as a keep-alive connection has.
		c.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
		c.response("GET")
		time.Sleep(5 * time.Millisecond)
		c.send(burst.String())
		var last time.Time
		for i := range n {
			if _, body := c.response("GET"); body != fmt.Sprintf("/%05d", i) {
				t.Fatalf("response %d: %q", i, body)
			}
			if i == n-2 {
				last = time.Now()
			}
		}
		worst = max(worst, time.Since(last))
	}
	if worst >= handoffAfter {
		t.Fatalf("the request after a full read waited %v", worst)
	}
}

func TestRFC9112_9_6_ConnectionCloseEndsConnection(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, nil)
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, _ := c.response("GET")
	if !resp.Close {
		t.Error("response lacks Connection: close")
	}
	if !c.closed() {
		t.Error("connection still open")
	}
}

func TestRFC9112_9_3_HTTP10ClosesUnlessKeepAlive(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, nil)
	c := ts.dial(t)
	c.send("GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, body := c.response("GET")
	if body != "/x" || resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("keep-alive 1.0: %q %q", body, resp.Header.Get("Connection"))
	}
	c.send("GET /y HTTP/1.0\r\n\r\n")
	if _, body := c.response("GET"); body != "/y" {
		t.Fatalf("second 1.0 request: %q", body)
	}
	if !c.closed() {
		t.Error("HTTP/1.0 without keep-alive left the connection open")
	}
}

func TestRFC9110_10_1_1_ExpectContinueSentOnlyWhenBodyRead(t *testing.T) {
	reader := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	ts := startServer(t, testRouter{"read": reader, "": text("ignored")}, nil)

	c := ts.dial(t)
	c.send("POST / HTTP/1.1\r\nHost: read\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	line, err := c.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("interim response: %q %v", line, err)
	}
	c.br.ReadString('\n')
	c.send("ping")
	if _, body := c.response("POST"); body != "ping" {
		t.Fatalf("echoed body %q", body)
	}

	c2 := ts.dial(t)
	c2.send("POST / HTTP/1.1\r\nHost: other\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	resp, body := c2.response("POST")
	if resp.StatusCode != 200 || body != "ignored" || !resp.Close {
		t.Fatalf("unread body: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
}

func TestRFC9112_MalformedRequestGets400AndCloseServerKeepsServing(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, nil)
	for name, raw := range map[string]string{
		"space before colon": "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
		"CL and TE":          "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"no Host":            "GET / HTTP/1.1\r\n\r\n",
		"garbage":            "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
	} {
		c := ts.dial(t)
		c.send(raw)
		resp, _ := c.response("GET")
		if resp.StatusCode != 400 || !resp.Close {
			t.Errorf("%s: %d close=%v", name, resp.StatusCode, resp.Close)
		}
		if !c.closed() {
			t.Errorf("%s: connection left open", name)
		}
	}
	c := ts.dial(t)
	c.send("GET /still HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.response("GET"); body != "/still" {
		t.Fatalf("after bad requests: %q", body)
	}
}

func TestRFC9112_LimitsAnswer414_431_413_505_501(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, func(c *config.Config) {
		c.Server.MaxHeaderBytes = 1024
		c.Server.MaxBodyBytes = 10
	})
	cases := []struct {
		name, raw string
		status    int
	}{
		{"414 target", "GET /" + strings.Repeat("a", 2000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"431 header", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 2000) + "\r\n\r\n", 431},
		{"413 body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", 413},
		{"505 version", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"501 coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
	}
	for _, tc := range cases {
		c := ts.dial(t)
		c.send(tc.raw)
		resp, _ := c.response("GET")
		if resp.StatusCode != tc.status {
			t.Errorf("%s: got %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
}

func TestUnknownHostWithoutDefaultGets421(t *testing.T) {
	ts := startServer(t, testRouter{"known": echoPath}, nil)
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: other\r\n\r\n")
	if resp, _ := c.response("GET"); resp.StatusCode != 421 {
		t.Fatalf("got %d", resp.StatusCode)
	}
	c.send("GET / HTTP/1.1\r\nHost: known\r\n\r\n")
	if resp, _ := c.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("known host after 421: %d", resp.StatusCode)
	}
}

func TestRFC9112_3_2_2_AbsoluteFormDecidesHost(t *testing.T) {
	ts := startServer(t, testRouter{"a": text("site a"), "b": text("site b")}, nil)
	c := ts.dial(t)
	c.send("GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, body := c.response("GET"); body != "site b" {
		t.Fatalf("got %q", body)
	}
}

func TestHandlerPanicAnswers500AndIsLogged(t *testing.T) {
	boom := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		panic("boom")
	})
	ts := startServer(t, testRouter{"boom": boom, "": echoPath}, nil)
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: boom\r\n\r\n")
	resp, _ := c.response("GET")
	if resp.StatusCode != 500 || !resp.Close {
		t.Fatalf("got %d close=%v", resp.StatusCode, resp.Close)
	}
	if ts.logs.FilterMessage("handler panicked").Len() != 1 {
		t.Error("panic not logged")
	}
	if e := ts.logs.FilterMessage("handler panicked").All(); len(e) == 1 && !strings.Contains(e[0].ContextMap()["stack"].(string), "conn.go") {
		t.Error("panic logged without its stack")
	}
	c2 := ts.dial(t)
	c2.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c2.response("GET"); body != "/ok" {
		t.Fatalf("after panic: %q", body)
	}
}

func TestRFC9110_9_3_2_HeadHasTheLengthOfGetButNoBody(t *testing.T) {
	ts := startServer(t, testRouter{"": text("twelve bytes")}, nil)
	c := ts.dial(t)
	c.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := c.response("HEAD")
	if resp.ContentLength != 12 || body != "" {
		t.Fatalf("HEAD: length %d body %q", resp.ContentLength, body)
	}
	if _, body := c.response("GET"); body != "twelve bytes" {
		t.Fatalf("GET after HEAD: %q", body)
	}
}

func TestRFC9112_7_1_LargeUnsizedBodyIsChunked(t *testing.T) {
	big := strings.Repeat("0123456789", 5000)
	stream := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		for i := 0; i < 50; i++ {
			if _, err := w.WriteString(big[i*1000 : (i+1)*1000]); err != nil {
				return err
			}
		}
		return nil
	})
	ts := startServer(t, testRouter{"": stream}, nil)
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := c.response("GET")
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || body != big {
		t.Fatalf("TE %v, body ok=%v", resp.TransferEncoding, body == big)
	}
	c.send("GET / HTTP/1.0\r\n\r\n")
	resp, body = c.response("GET")
	if len(resp.TransferEncoding) != 0 || body != big || !resp.Close {
		t.Fatalf("HTTP/1.0: TE %v close=%v body ok=%v", resp.TransferEncoding, resp.Close, body == big)
	}
}

func TestResponseSplittingHeaderValueRefused(t *testing.T) {
	evil := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		w.Header().Set("X-Evil", "a\r\nSet-Cookie: owned=1")
		_, err := w.WriteString("body")
		return err
	})
	ts := startServer(t, testRouter{"": evil}, nil)
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := c.response("GET")
	if resp.StatusCode != 500 || resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Evil") != "" {
		t.Fatalf("got %d, headers %v", resp.StatusCode, resp.Header)
	}
}

// RFC 9110 §6.6.1: an origin server with a clock sends Date on every
// response; the connection loop adds it, to handlers' answers and its own
// refusals alike. Its refusals (here a 400 for a request without Host)
// also say nosniff, as every site response does.
func TestEveryResponseHasDate_RFC9110_6_6_1(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, nil)
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n")
	for i, want := range []int{200, 400} {
		resp, _ := c.response("GET")
		if resp.StatusCode != want {
			t.Fatalf("response %d: status %d, want %d", i, resp.StatusCode, want)
		}
		if _, err := time.Parse(parser.TimeFormat, resp.Header.Get("Date")); err != nil {
			t.Errorf("response %d: Date %q: %v", i, resp.Header.Get("Date"), err)
		}
		if want == 400 && resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("the loop's 400 lacks nosniff")
		}
	}
}

// A file body larger than the buffer must take the kernel path (sendfile)
// and arrive byte-exact, also as a range.
func TestLargeFileBodyGoesThroughKernelCopy(t *testing.T) {
	data, serveFile := randomFileHandler(t, 8<<20+123)
	ts := startServer(t, testRouter{"": serveFile}, nil)
	before := ts.sup.FileBodies()
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.response("GET"); !bytes.Equal([]byte(body), data) {
		t.Fatalf("whole file differs (got %d bytes)", len(body))
	}
	c.send("GET /range HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.response("GET"); !bytes.Equal([]byte(body), data[1000:1000+5<<20]) {
		t.Fatalf("range differs (got %d bytes)", len(body))
	}
	if got := ts.sup.FileBodies() - before; got < 2 {
		t.Fatalf("kernel copy path taken %d times, want >= 2", got)
	}
}

func TestHeaderTimeoutClosesSlowClient(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, func(c *config.Config) {
		c.Server.ReadHeaderTimeout = 300 * time.Millisecond
	})
	c := ts.dial(t)
	start := time.Now()
	// A trickle that never finishes the head: the deadline counts from the
	// first byte and is not extended by later ones.
	for i := 0; i < 8; i++ {
		if _, err := c.nc.Write([]byte("G")); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, _ := c.response("GET")
	if resp.StatusCode != 408 {
		t.Fatalf("got %d", resp.StatusCode)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

func TestIdleTimeoutClosesKeepAliveConnection(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, func(c *config.Config) {
		c.Server.IdleTimeout = 200 * time.Millisecond
	})
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.response("GET")
	if !c.closed() {
		t.Fatal("idle connection not closed")
	}
}

func TestMaxConnectionsNewConnectionsWaitInBacklog(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, func(c *config.Config) {
		c.Server.MaxConnections = 1
	})
	first := ts.dial(t)
	first.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
	first.response("GET")

	second := ts.dial(t) // connects (kernel backlog) but is not served yet
	second.send("GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
	second.nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := second.br.ReadByte(); err == nil {
		t.Fatal("second connection served while the first holds the only slot")
	}
	first.nc.Close()
	second.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, body := second.response("GET"); body != "/2" {
		t.Fatalf("second after slot freed: %q", body)
	}
}

func TestGracefulShutdownFinishesInFlightAndClosesIdle(t *testing.T) {
	release := make(chan struct{})
	slow := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		<-release
		_, err := w.WriteString("done")
		return err
	})
	ts := startServer(t, testRouter{"slow": slow, "": echoPath}, nil)
	idle := ts.dial(t)
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.response("GET")

	busy := ts.dial(t)
	busy.send("GET / HTTP/1.1\r\nHost: slow\r\n\r\n")
	time.Sleep(100 * time.Millisecond)

	stopped := make(chan error)
	go func() {
		_, err := ts.sup.Shutdown(t.Context())
		stopped <- err
	}()
	if !idle.closed() {
		t.Error("idle connection not closed at shutdown")
	}
	close(release)
	resp, body := busy.response("GET")
	if body != "done" || !resp.Close {
		t.Fatalf("in-flight: %q close=%v", body, resp.Close)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

func TestReloadKeepsSocketAndSwitchesKeepAliveConnection(t *testing.T) {
	ts := startServer(t, testRouter{"": text("v1")}, nil)
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.response("GET"); body != "v1" {
		t.Fatal(body)
	}
	ch, err := ts.sup.Apply(ts.cfg, Snapshot{Errors: testPages, Routers: map[string]Router{ts.cfg.Listeners[0].Name: testRouter{"": text("v2")}}})
	if err != nil || len(ch.Kept) != 1 || len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("apply: %+v %v", ch, err)
	}
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.response("GET"); body != "v2" {
		t.Fatalf("keep-alive connection after reload: %q", body)
	}
}

func TestReloadWithUnbindableAddressChangesNothing(t *testing.T) {
	ts := startServer(t, testRouter{"": text("v1")}, nil)
	taken := ts.addr
	cfg := *ts.cfg
	cfg.Listeners = append(append([]config.Listener(nil), cfg.Listeners...), config.Listener{Name: "second", Address: "256.0.0.1:1"})
	_, err := ts.sup.Apply(&cfg, Snapshot{Errors: testPages, Routers: map[string]Router{cfg.Listeners[0].Name: testRouter{"": text("v2")}, "second": testRouter{}}})
	if err == nil {
		t.Fatal("apply with an unbindable address succeeded")
	}
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.response("GET"); body != "v1" {
		t.Fatalf("after failed reload on %s: %q", taken, body)
	}
}

func TestRFC9110_9_3_7_OptionsAsteriskAnswersForServer(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, nil)
	c := ts.dial(t)
	c.send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := c.response("OPTIONS")
	if resp.StatusCode != 204 || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" || body != "" {
		t.Fatalf("%d %q %q", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
}

func TestReloadAppliesNewLimitsToOpenConnections(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, nil)
	c := ts.dial(t)
	big := "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 3000) + "\r\n\r\n"
	c.send(big)
	if resp, _ := c.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("before reload: %d", resp.StatusCode)
	}
	cfg := *ts.cfg
	cfg.Server.MaxHeaderBytes = 1024
	if _, err := ts.sup.Apply(&cfg, Snapshot{Errors: testPages, Routers: map[string]Router{cfg.Listeners[0].Name: testRouter{"": echoPath}}}); err != nil {
		t.Fatal(err)
	}
	c.send(big)
	if resp, _ := c.response("GET"); resp.StatusCode != 431 {
		t.Fatalf("after lowering max_header_bytes: %d", resp.StatusCode)
	}
}

func TestMaxBodyBytesZeroRefusesEveryBody(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, func(c *config.Config) {
		c.Server.MaxBodyBytes = 0
	})
	c := ts.dial(t)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx")
	if resp, _ := c.response("POST"); resp.StatusCode != 413 {
		t.Fatalf("one-byte body: %d", resp.StatusCode)
	}
	c = ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := c.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("no body: %d", resp.StatusCode)
	}
}

func TestMaxRequestsPerConnectionFromConfig(t *testing.T) {
	ts := startServer(t, testRouter{"": echoPath}, func(c *config.Config) {
		c.Server.MaxRequestsPerConnection = 3
	})
	c := ts.dial(t)
	for i := 1; i <= 3; i++ {
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := c.response("GET"); resp.Close != (i == 3) {
			t.Fatalf("request %d: close=%v", i, resp.Close)
		}
	}
	if !c.closed() {
		t.Fatal("connection open after its last allowed request")
	}
}
