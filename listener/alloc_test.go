package listener

import (
	"bytes"
	"io"
	"testing"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

var kilobyte = bytes.Repeat([]byte("x"), 1024)

var fixedKB = handlers.HandlerFunc(func(w handlers.ResponseWriter, r *parser.Request) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.SetContentLength(int64(len(kilobyte)))
	_, err := w.Write(kilobyte)
	return err
})

// roundTrip sends one keep-alive request and reads its whole response into
// buf, without allocating on the client side.
func roundTrip(t testing.TB, c *client, req []byte, buf []byte, respLen int) {
	if _, err := c.nc.Write(req); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c.nc, buf[:respLen]); err != nil {
		t.Fatal(err)
	}
}

// The keep-alive small-response path allocates nothing per request: parser,
// routing, writer and connection loop all reuse per-connection storage.
func TestKeepAliveRequestPathDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	ts := startServer(t, testRouter{"": fixedKB}, nil)
	c := ts.dial(t)
	req := []byte("GET /index.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: wrk\r\n\r\n")
	c.send(string(req))
	resp, _ := c.response("GET")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	// The response length is fixed but for the Date line, which is too.
	c.nc.Write(req)
	buf := make([]byte, 4096)
	n, _ := c.nc.Read(buf)
	for n < 1024 || !bytes.HasSuffix(buf[:n], kilobyte[:16]) {
		m, err := c.nc.Read(buf[n:])
		if err != nil {
			t.Fatal(err)
		}
		n += m
	}
	respLen := n
	allocs := testing.AllocsPerRun(200, func() { roundTrip(t, c, req, buf, respLen) })
	if allocs > 0 {
		t.Fatalf("%.1f allocations per request, want 0", allocs)
	}
}

// BenchmarkKeepAliveSmallResponse is one keep-alive request and its 1 KiB
// response over loopback, client and server in this process.
func BenchmarkKeepAliveSmallResponse(b *testing.B) {
	t := &testing.T{}
	ts := startServer(t, testRouter{"": fixedKB}, nil)
	c := ts.dial(t)
	req := []byte("GET /index.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: wrk\r\n\r\n")
	buf := make([]byte, 4096)
	c.nc.Write(req)
	n, _ := c.nc.Read(buf)
	for n < 1024 || !bytes.HasSuffix(buf[:n], kilobyte[:16]) {
		m, _ := c.nc.Read(buf[n:])
		n += m
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		roundTrip(b, c, req, buf, n)
	}
}

// A body too large to buffer leaves with its head in one writev, still
// without allocating.
func TestLargeBodyWritevDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	body := bytes.Repeat([]byte("y"), 40<<10)
	h := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *parser.Request) error {
		w.SetContentLength(int64(len(body)))
		_, err := w.Write(body)
		return err
	})
	ts := startServer(t, testRouter{"": h}, nil)
	c := ts.dial(t)
	req := []byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	c.send(string(req))
	resp, got := c.response("GET")
	if resp.ContentLength != int64(len(body)) || got != string(body) {
		t.Fatalf("body differs: %d bytes", len(got))
	}
	c.nc.Write(req)
	buf := make([]byte, 64<<10)
	n := 0
	for n < len(body) || !bytes.HasSuffix(buf[:n], body[:64]) {
		m, err := c.nc.Read(buf[n:])
		if err != nil {
			t.Fatal(err)
		}
		n += m
	}
	if allocs := testing.AllocsPerRun(100, func() { roundTrip(t, c, req, buf, n) }); allocs > 0 {
		t.Fatalf("%.1f allocations per request", allocs)
	}
}
