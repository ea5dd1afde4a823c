package listener

import (
	"bytes"
	"io"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/static"
	"github.com/moreweb/moreweb/internal/testkit"
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
				if _, err := ts.sup.Apply(ts.cfg, Snapshot{Errors: testPages, Routers: map[string]Router{ts.cfg.Listeners[0].Name: testRouter{"": fixedKB}}, Access: al}); err != nil {
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

// statusWatch is middleware of the shape compression and metrics take: it
// wraps the writer to see the status and passes everything else through.
// Its wrappers are pooled, so wrapping costs no allocation either.
type statusWatch struct {
	handlers.WriterWrapper
	status int
}

func (s *statusWatch) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

var statusWatches = sync.Pool{New: func() any { return new(statusWatch) }}

func watchStatus(next handlers.Handler) handlers.Handler {
	return handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		sw := statusWatches.Get().(*statusWatch)
		sw.ResponseWriter, sw.status = w, 0
		err := next.Serve(sw, r)
		sw.ResponseWriter = nil
		statusWatches.Put(sw)
		return err
	})
}

// A static file behind middleware that wraps the writer still leaves by
// sendfile (the wrapper passes ReadFrom through), and a small one still
// costs no allocation on the keep-alive path.
func TestWrappedWriterKeepsSendfileAndAllocatesNothing(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	root := testkit.Tree(t, map[string]string{"big.bin": string(big), "kb.html": string(kilobyte)})
	st, err := static.New(static.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ts := startServer(t, testRouter{"": watchStatus(st)}, unlimitedRequests)
	c := ts.dial(t)

	before := ts.sup.FileBodies()
	c.send("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := c.response("GET"); resp.StatusCode != 200 || !bytes.Equal([]byte(body), big) {
		t.Fatalf("big file: %d, %d bytes", resp.StatusCode, len(body))
	}
	if got := ts.sup.FileBodies() - before; got != 1 {
		t.Fatalf("%d file bodies sent by the kernel, want 1", got)
	}

	if raceEnabled {
		return // allocation counts need a build without -race
	}
	// The cache holds a file in memory once it has settled (its ctime is
	// older than the racy window) and it has been revalidated after that.
	time.Sleep(2200 * time.Millisecond)
	req := []byte("GET /kb.html HTTP/1.1\r\nHost: x\r\n\r\n")
	c.send(string(req))
	c.response("GET")
	time.Sleep(1100 * time.Millisecond)
	c.send(string(req))
	resp, _ := c.response("GET")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	buf := make([]byte, 8192)
	respLen := 0
	for i := 0; i < 2; i++ {
		c.nc.Write(req)
		n, _ := c.nc.Read(buf)
		for !bytes.HasSuffix(buf[:n], kilobyte[:16]) {
			m, err := c.nc.Read(buf[n:])
			if err != nil {
				t.Fatal(err)
			}
			n += m
		}
		respLen = n
	}
	allocs := testing.AllocsPerRun(200, func() { roundTrip(t, c, req, buf, respLen) })
	if allocs > 0 {
		t.Fatalf("%.1f allocations per request through a wrapping middleware, want 0", allocs)
	}
}
