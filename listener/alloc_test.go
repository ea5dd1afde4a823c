package listener

import (
	"bytes"
	"io"
	"math"
	"path/filepath"
	"testing"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/handlers"
)

var kilobyte = bytes.Repeat([]byte("x"), 1024)

var fixedKB = handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
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
	ts := startServer(t, testRouter{"": fixedKB}, unlimitedRequests)
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
// response over loopback, client and server in this process, with the
// access log off and on (JSON and combined, to a file).
func BenchmarkKeepAliveSmallResponse(b *testing.B) {
	for _, format := range []string{"off", "json", "combined"} {
		b.Run("accesslog="+format, func(b *testing.B) {
			t := &testing.T{}
			ts := startServer(t, testRouter{"": fixedKB}, unlimitedRequests)
			if format != "off" {
				al, err := OpenAccessLog(filepath.Join(b.TempDir(), "access.log"), format)
				if err != nil {
					b.Fatal(err)
				}
				defer al.Close()
				if _, err := ts.sup.Apply(ts.cfg, map[string]Router{ts.cfg.Listeners[0].Name: testRouter{"": fixedKB}}, al); err != nil {
					b.Fatal(err)
				}
			}
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
			b.StopTimer()
			c.nc.Close()
			ts.sup.Shutdown(b.Context())
		})
	}
}

// unlimitedRequests lifts the per-connection request cap, so that a
// benchmark can keep one connection for all its iterations.
func unlimitedRequests(c *config.Config) { c.Server.MaxRequestsPerConnection = math.MaxInt32 }
