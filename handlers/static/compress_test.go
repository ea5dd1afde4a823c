package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/moreweb/moreweb/handlers/compress"
	"github.com/moreweb/moreweb/handlers/handlertest"
)

// decode undoes a Content-Encoding with the coding's standard decoder.
func decode(t testing.TB, coding string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch coding {
	case "":
		return b
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("zstd: %v", err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("unknown coding %q", coding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", coding, err)
	}
	return out
}

// page is compressible text well over compress.MinSize; big is over the
// size kept in memory, so it is compressed as it is sent.
var (
	page = strings.Repeat("<p>moreweb compresses text once and keeps it.</p>\n", 100)
	big  = strings.Repeat("<li>a line of a long page, item of a list</li>\n", 3000)
)

func compressSite(t *testing.T, mode string) *Static {
	dir := writeTree(t, map[string]string{
		"page.html": page, "big.html": big, "tiny.html": "<p>hi</p>", "logo.png": page,
	})
	return newStaticMode(t, mode, Options{Root: dir, Compress: compress.Default})
}

func TestEachCodingRoundTripsThroughItsStandardDecoder(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		s := compressSite(t, mode)
		for _, name := range []string{"/page.html", "/big.html"} {
			want := page
			if name == "/big.html" {
				want = big
			}
			for _, coding := range []string{"zstd", "br", "gzip"} {
				rec, err := do(t, s, "GET", name, "Accept-Encoding: "+coding)
				if status(rec, err) != 200 || rec.Head.Get("Content-Encoding") != coding {
					t.Fatalf("%s %s: %d, Content-Encoding %q", name, coding, status(rec, err), rec.Head.Get("Content-Encoding"))
				}
				if got := decode(t, coding, rec.Body.Bytes()); string(got) != want {
					t.Fatalf("%s %s: decoded body differs (%d bytes, want %d)", name, coding, len(got), len(want))
				}
				if rec.Body.Len() >= len(want)/2 {
					t.Errorf("%s %s: %d bytes for %d of text", name, coding, rec.Body.Len(), len(want))
				}
				if rec.Head.Get("Vary") != "Accept-Encoding" {
					t.Errorf("%s %s: Vary %q", name, coding, rec.Head.Get("Vary"))
				}
			}
		}
	})
}

// RFC 9110 §12.5.3: q-values decide, ties go to the site's order, q=0
// refuses, and identity wins when the client prefers it.
func TestCodingIsNegotiatedWithQValuesAndTheSitesOrder_RFC9110_12_5_3(t *testing.T) {
	s := compressSite(t, "memory")
	for _, tt := range []struct{ accept, want string }{
		{"gzip, deflate, br, zstd", "zstd"},
		{"gzip, br", "br"},
		{"gzip;q=1, br;q=0.5", "gzip"},
		{"zstd;q=0, br;q=0, gzip", "gzip"},
		{"*", "zstd"},
		{"*;q=0.5, identity", ""},
		{"identity", ""},
		{"deflate", ""},
		{"", ""},
	} {
		var header []string
		if tt.accept != "" {
			header = append(header, "Accept-Encoding: "+tt.accept)
		}
		rec, err := do(t, s, "GET", "/page.html", header...)
		if status(rec, err) != 200 || rec.Head.Get("Content-Encoding") != tt.want {
			t.Errorf("Accept-Encoding %q: %d, Content-Encoding %q, want %q", tt.accept, status(rec, err), rec.Head.Get("Content-Encoding"), tt.want)
		}
		if rec.Head.Get("Vary") != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary %q", tt.accept, rec.Head.Get("Vary"))
		}
	}
	site := newStaticMode(t, "memory", Options{Root: s.dir, Compress: []compress.Coding{compress.Gzip, compress.Brotli}})
	if rec, _ := do(t, site, "GET", "/page.html", "Accept-Encoding: br, gzip, zstd"); rec.Head.Get("Content-Encoding") != "gzip" {
		t.Errorf("a site preferring gzip sent %q", rec.Head.Get("Content-Encoding"))
	}
}

func TestResponsesThatAreNotCompressed(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		s := compressSite(t, mode)
		off := newStaticMode(t, mode, Options{Root: s.dir})
		for _, tt := range []struct {
			name   string
			h      *Static
			target string
			header []string
			vary   bool
		}{
			{"an image type", s, "/logo.png", nil, false},
			{"under 256 bytes", s, "/tiny.html", nil, false},
			{"a range request", s, "/page.html", []string{"Range: bytes=0-9"}, true},
			{"no-transform asked", s, "/page.html", []string{"Cache-Control: no-transform"}, true},
			{"compression off for the site", off, "/page.html", nil, false},
		} {
			rec, err := do(t, tt.h, "GET", tt.target, append([]string{"Accept-Encoding: gzip, br, zstd"}, tt.header...)...)
			if st := status(rec, err); st != 200 && st != 206 || rec.Head.Get("Content-Encoding") != "" {
				t.Errorf("%s: %d, Content-Encoding %q", tt.name, st, rec.Head.Get("Content-Encoding"))
			}
			if got := rec.Head.Get("Vary") == "Accept-Encoding"; got != tt.vary {
				t.Errorf("%s: Vary %q", tt.name, rec.Head.Get("Vary"))
			}
		}
	})
}

// RFC 9110 §8.8.3: each coding is a representation with its own strong
// tag; If-None-Match with the tag of the coding being sent answers 304,
// and a tag of another coding does not.
func TestEachCodingHasItsOwnETagAndAnswers304ForIt(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		s := compressSite(t, mode)
		tags := map[string]string{}
		for _, coding := range []string{"identity", "zstd", "br", "gzip"} {
			rec, _ := do(t, s, "GET", "/page.html", "Accept-Encoding: "+coding)
			tag := rec.Head.Get("ETag")
			if !strings.HasPrefix(tag, `"`) {
				t.Fatalf("%s: ETag %q is not strong", coding, tag)
			}
			for other, ot := range tags {
				if ot == tag {
					t.Fatalf("%s and %s share the ETag %s", coding, other, tag)
				}
			}
			tags[coding] = tag
		}
		for coding, tag := range tags {
			rec, err := do(t, s, "GET", "/page.html", "Accept-Encoding: "+coding, "If-None-Match: "+tag)
			if status(rec, err) != 304 || rec.Head.Get("ETag") != tag || rec.Head.Get("Vary") != "Accept-Encoding" {
				t.Errorf("%s with its own tag: %d, ETag %q, Vary %q", coding, status(rec, err), rec.Head.Get("ETag"), rec.Head.Get("Vary"))
			}
			for other, ot := range tags {
				if other == coding {
					continue
				}
				if rec, err := do(t, s, "GET", "/page.html", "Accept-Encoding: "+coding, "If-None-Match: "+ot); status(rec, err) != 200 {
					t.Errorf("%s with %s's tag: %d, want 200", coding, other, status(rec, err))
				}
			}
		}
	})
}

func TestHEADAnswersTheFieldsOfGETForEachCoding(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		s := compressSite(t, mode)
		for _, name := range []string{"/page.html", "/big.html"} {
			for _, coding := range []string{"identity", "zstd", "br", "gzip"} {
				get, _ := do(t, s, "GET", name, "Accept-Encoding: "+coding)
				raw := "HEAD " + name + " HTTP/1.1\r\nHost: example.com\r\nAccept-Encoding: " + coding + "\r\n\r\n"
				head := handlertest.NewRecorder()
				head.Method = "HEAD"
				if err := s.Serve(head, handlertest.Request(t, raw)); err != nil {
					t.Fatal(err)
				}
				if head.ContentLength != get.ContentLength || head.Body.Len() != 0 {
					t.Errorf("%s %s: HEAD length %d, GET %d; HEAD body %d bytes", name, coding, head.ContentLength, get.ContentLength, head.Body.Len())
				}
				for _, f := range []string{"Content-Encoding", "ETag", "Vary", "Content-Type", "Last-Modified", "Accept-Ranges"} {
					if head.Head.Get(f) != get.Head.Get(f) {
						t.Errorf("%s %s: HEAD %s %q, GET %q", name, coding, f, head.Head.Get(f), get.Head.Get(f))
					}
				}
			}
		}
	})
}

// A rewritten file is never served from the compressed copy of the old
// one, and the copies count in the cache's memory bound.
func TestChangedFileIsNeverServedFromAStaleCompressedCopy(t *testing.T) {
	s := compressSite(t, "memory")
	clock := settle(&s.now)
	rec, _ := do(t, s, "GET", "/page.html", "Accept-Encoding: gzip")
	if string(decode(t, "gzip", rec.Body.Bytes())) != page {
		t.Fatal("first response")
	}
	_, before := served(s).cache.len()
	do(t, s, "GET", "/page.html", "Accept-Encoding: br")
	if _, after := served(s).cache.len(); after <= before {
		t.Errorf("the cache holds %d bytes after a brotli copy was made, %d before", after, before)
	}

	changed := strings.ReplaceAll(page, "once", "ONCE")
	if err := os.WriteFile(filepath.Join(s.dir, "page.html"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	// Past the revalidation interval and the racy window.
	clock.ns.Add(int64(time.Hour))
	for _, coding := range []string{"gzip", "br", "zstd"} {
		rec, _ := do(t, s, "GET", "/page.html", "Accept-Encoding: "+coding)
		if got := decode(t, coding, rec.Body.Bytes()); string(got) != changed {
			t.Errorf("%s after the change: the old content", coding)
		}
	}
}

func TestSidecarWinsOverCompressingOnTheFly(t *testing.T) {
	dir := writeTree(t, map[string]string{"app.js": page, "app.js.gz": "handmade gzip"})
	s := newStaticMode(t, "memory", Options{Root: dir, Compress: compress.Default})
	rec, err := do(t, s, "GET", "/app.js", "Accept-Encoding: gzip")
	if status(rec, err) != 200 || rec.Head.Get("Content-Encoding") != "gzip" || rec.Body.String() != "handmade gzip" {
		t.Fatalf("%d %q %q", status(rec, err), rec.Head.Get("Content-Encoding"), rec.Body.String())
	}
	// A coding with no sidecar is still made on the fly.
	if rec, _ := do(t, s, "GET", "/app.js", "Accept-Encoding: br"); string(decode(t, "br", rec.Body.Bytes())) != page {
		t.Fatal("br next to a gzip sidecar")
	}
	// Weighed equally, the sidecar goes before the site's first coding;
	// a higher weight still chooses.
	rec, _ = do(t, s, "GET", "/app.js", "Accept-Encoding: gzip, deflate, br, zstd")
	if rec.Head.Get("Content-Encoding") != "gzip" || rec.Body.String() != "handmade gzip" {
		t.Fatalf("equal weights: %q %q", rec.Head.Get("Content-Encoding"), rec.Body.String())
	}
	rec, _ = do(t, s, "GET", "/app.js", "Accept-Encoding: gzip;q=0.5, zstd")
	if rec.Head.Get("Content-Encoding") != "zstd" || string(decode(t, "zstd", rec.Body.Bytes())) != page {
		t.Fatalf("zstd weighed higher: %q", rec.Head.Get("Content-Encoding"))
	}
}

// Whatever the content, the decoded body is the file.
func FuzzCompressedBodyDecodesToTheFile(f *testing.F) {
	f.Add([]byte(page), uint8(0))
	f.Add([]byte(big), uint8(1))
	f.Add(bytes.Repeat([]byte{0}, 300), uint8(2))
	codings := []string{"zstd", "br", "gzip"}
	f.Fuzz(func(t *testing.T, content []byte, which uint8) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "f.txt"), content, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, mode := range bodyModes {
			s := newStaticMode(t, mode, Options{Root: dir, Compress: compress.Default})
			coding := codings[int(which)%len(codings)]
			rec, err := do(t, s, "GET", "/f.txt", "Accept-Encoding: "+coding)
			if status(rec, err) != 200 {
				t.Fatalf("%s: %d", mode, status(rec, err))
			}
			if got := decode(t, rec.Head.Get("Content-Encoding"), rec.Body.Bytes()); !bytes.Equal(got, content) {
				t.Fatalf("%s %s: decoded body is not the file", mode, coding)
			}
		}
	})
}
