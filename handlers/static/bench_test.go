package static

import (
	"strconv"
	"strings"
	"testing"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/compress"
	"github.com/moreweb/moreweb/handlers/handlertest"
)

func benchServe(b *testing.B, s *Static, raw string, want int) {
	req := handlertest.Request(b, raw)
	w := &handlertest.Discard{}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.Reset()
		if err := s.Serve(w, req); err != nil || w.Code != want {
			b.Fatalf("status %d, %v", w.Code, err)
		}
	}
}

// benchSite serves files that have settled, as deployed files have, so
// that small ones are served from the cache's memory as in production.
func benchSite(b *testing.B, files map[string]string) *Static {
	s := newStatic(b, Options{Root: writeTree(b, files)})
	settle(&s.now)
	return s
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

// BenchmarkStaticIndex is a site's home page, "/", through its index file.
func BenchmarkStaticIndex(b *testing.B) {
	s := benchSite(b, map[string]string{"index.html": strings.Repeat("x", 2048)})
	benchServe(b, s, "GET / HTTP/1.1\nHost: example.com\n\n", 200)
}

// BenchmarkStaticSize serves one file of each size: up to maxBodyBytes from
// memory, above it opened per request. Allocations stay flat within each
// regime, whatever the size.
func BenchmarkStaticSize(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			s := benchSite(b, map[string]string{"f.bin": strings.Repeat("x", size)})
			benchServe(b, s, "GET /f.bin HTTP/1.1\nHost: example.com\n\n", 200)
		})
	}
}

var benchSizes = []int{1 << 10, 16 << 10, maxBodyBytes, maxBodyBytes + 1, 1 << 20, 16 << 20}

func sizeName(n int) string {
	switch {
	case n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "MiB"
	case n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// TestAllocsDoNotGrowWithFileSize guards both paths: every size held in
// memory costs the same allocations (none), and every size opened per
// request costs the same few (the open), from 64 KiB + 1 to 16 MiB.
func TestAllocsDoNotGrowWithFileSize(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	files := map[string]string{}
	for _, size := range benchSizes {
		files[sizeName(size)] = strings.Repeat("x", size)
	}
	s := newStatic(t, Options{Root: writeTree(t, files)})
	settle(&s.now)
	allocs := func(size int) float64 {
		req := handlertest.Get(t, "/"+sizeName(size))
		w := &handlertest.Discard{}
		if err := s.Serve(w, req); err != nil { // fill the cache
			t.Fatal(err)
		}
		return testing.AllocsPerRun(20, func() {
			w.Reset()
			if err := s.Serve(w, req); err != nil || w.Sent != int64(size) {
				t.Fatalf("%d bytes written, %v", w.Sent, err)
			}
		})
	}
	var memory, opened []float64
	for _, size := range benchSizes {
		if size <= maxBodyBytes {
			memory = append(memory, allocs(size))
		} else {
			opened = append(opened, allocs(size))
		}
	}
	for _, a := range memory {
		if a != 0 {
			t.Errorf("from memory: %v allocations per request (sizes %v), want 0", memory, benchSizes)
			break
		}
	}
	for _, a := range opened {
		if a != opened[0] || a > 10 {
			t.Errorf("opened per request: %v allocations (sizes %v), want the same few for all", opened, benchSizes)
			break
		}
	}
}

// BenchmarkStaticSmallFileParallel serves one hot file from every P at
// once: cache hits must not contend, so ns/op falls as -cpu grows.
func BenchmarkStaticSmallFileParallel(b *testing.B) {
	s := benchSite(b, map[string]string{"style.css": strings.Repeat("x", 1024)})
	raw := "GET /style.css HTTP/1.1\nHost: example.com\n\n"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := handlertest.Request(b, raw)
		w := &handlertest.Discard{}
		for pb.Next() {
			w.Reset()
			if err := s.Serve(w, req); err != nil || w.Code != 200 {
				b.Errorf("status %d, %v", w.Code, err)
				return
			}
		}
	})
}

// BenchmarkStaticMissParallel is the same for a hot missing name.
func BenchmarkStaticMissParallel(b *testing.B) {
	s := benchSite(b, map[string]string{"style.css": "x"})
	raw := "GET /missing.css HTTP/1.1\nHost: example.com\n\n"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := handlertest.Request(b, raw)
		w := &handlertest.Discard{}
		for pb.Next() {
			w.Reset()
			if err := s.Serve(w, req); err != handlers.ErrNotFound {
				b.Errorf("got %v, want ErrNotFound", err)
				return
			}
		}
	})
}

// A client that sends no Accept-Encoding, to a site with and without
// on-the-fly compression: what compression costs those who do not use it.
func BenchmarkStaticPlainClient(b *testing.B) {
	files := map[string]string{"page.html": strings.Repeat("x", 16<<10)}
	for _, mode := range []struct {
		name    string
		codings []compress.Coding
	}{{"compress-off", nil}, {"compress-on", compress.Default}} {
		b.Run(mode.name, func(b *testing.B) {
			s := newStatic(b, Options{Root: writeTree(b, files), Compress: mode.codings})
			settle(&s.now)
			benchServe(b, s, "GET /page.html HTTP/1.1\nHost: example.com\n\n", 200)
		})
	}
}
