package static

import (
	"io"
	"strings"
	"testing"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/handlertest"
	"github.com/moreweb/moreweb/parser"
)

// discardWriter is a ResponseWriter that keeps nothing, so a benchmark
// measures the handler rather than a recorder's buffer growing with the
// file.
type discardWriter struct {
	head    parser.ResponseHeader
	status  int
	written int64
	buf     [32 << 10]byte // its own, not io.Discard's pool, which the race detector empties at random
}

func (w *discardWriter) reset()                         { w.head.Reset(); w.status = 0; w.written = 0 }
func (w *discardWriter) Header() *parser.ResponseHeader { return &w.head }
func (w *discardWriter) SetContentLength(int64)         {}
func (w *discardWriter) Written() bool                  { return w.status != 0 }
func (w *discardWriter) Status() int                    { return w.status }

func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(200)
	w.written += int64(len(p))
	return len(p), nil
}

func (w *discardWriter) WriteString(s string) (int, error) {
	w.WriteHeader(200)
	w.written += int64(len(s))
	return len(s), nil
}

func (w *discardWriter) ReadFrom(r io.Reader) (int64, error) {
	w.WriteHeader(200)
	var total int64
	for {
		n, err := r.Read(w.buf[:])
		total += int64(n)
		if err == io.EOF {
			w.written += total
			return total, nil
		}
		if err != nil {
			w.written += total
			return total, err
		}
	}
}

var _ handlers.ResponseWriter = (*discardWriter)(nil)

func benchServe(b *testing.B, s *Static, raw string, want int) {
	req := handlertest.Request(b, raw)
	w := &discardWriter{}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.reset()
		if err := s.Serve(w, req); err != nil || w.status != want {
			b.Fatalf("status %d, %v", w.status, err)
		}
	}
}

func benchSite(b *testing.B, files map[string]string) *Static {
	return newStatic(b, Options{Root: writeTree(b, files)})
}

func BenchmarkStaticSmallFile(b *testing.B) {
	s := benchSite(b, map[string]string{"style.css": strings.Repeat("x", 1024)})
	benchServe(b, s, "GET /style.css HTTP/1.1\nHost: example.com\nAccept-Encoding: gzip, deflate, br, zstd\n\n", 200)
}

// BenchmarkStaticLargeFile shows that allocations do not grow with the
// file: the body is streamed, never held.
func BenchmarkStaticLargeFile(b *testing.B) {
	s := benchSite(b, map[string]string{"big.bin": strings.Repeat("x", 4<<20)})
	benchServe(b, s, "GET /big.bin HTTP/1.1\nHost: example.com\n\n", 200)
}

func BenchmarkStaticSidecar(b *testing.B) {
	s := benchSite(b, map[string]string{"app.js": strings.Repeat("x", 4096), "app.js.br": strings.Repeat("y", 1024)})
	benchServe(b, s, "GET /app.js HTTP/1.1\nHost: example.com\nAccept-Encoding: gzip, deflate, br, zstd\n\n", 200)
}

func BenchmarkStaticRevalidate(b *testing.B) {
	s := benchSite(b, map[string]string{"style.css": "x"})
	rec, err := do(b, s, "GET", "/style.css")
	if err != nil {
		b.Fatal(err)
	}
	benchServe(b, s, "GET /style.css HTTP/1.1\nHost: example.com\nIf-None-Match: "+rec.Head.Get("ETag")+"\n\n", 304)
}

func BenchmarkStaticRange(b *testing.B) {
	s := benchSite(b, map[string]string{"big.bin": strings.Repeat("x", 1<<20)})
	benchServe(b, s, "GET /big.bin HTTP/1.1\nHost: example.com\nRange: bytes=1000-5000\n\n", 206)
}

// TestAllocsDoNotGrowWithFileSize guards the streaming path: a 4 MiB file
// costs no more allocations than a 1 KiB one.
func TestAllocsDoNotGrowWithFileSize(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	root := writeTree(t, map[string]string{"small.bin": strings.Repeat("x", 1024), "big.bin": strings.Repeat("x", 4<<20)})
	s := newStatic(t, Options{Root: root})
	allocs := func(target string) float64 {
		req := handlertest.Get(t, target)
		w := &discardWriter{}
		return testing.AllocsPerRun(20, func() {
			w.reset()
			s.Serve(w, req)
		})
	}
	small, big := allocs("/small.bin"), allocs("/big.bin")
	if big > small {
		t.Errorf("%v allocations for 4 MiB, %v for 1 KiB", big, small)
	}
}
