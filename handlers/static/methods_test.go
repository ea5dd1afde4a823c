package static

import (
	"path/filepath"
	"testing"

	"github.com/moreweb/moreweb/handlers"
)

// GET, HEAD and OPTIONS are served and the rest get 405 with Allow, but only
// for something that exists, so a Chain still falls through on 404.
func TestOnlyGETHEADAndOPTIONSAreServedOthersAre405WithAllow_RFC9110_15_5_6(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		root := writeTree(t, map[string]string{"a.txt": "hello", "dir/x": "x"})
		s := newStaticMode(t, mode, Options{Root: root})
		file := fileMode(filepath.Join(root, "a.txt"), mode)
		tests := []struct {
			name    string
			h       handlers.Handler
			method  string
			target  string
			status  int
			allow   bool
			bodyLen int
		}{
			{"GET", s, "GET", "/a.txt", 200, false, 5},
			{"HEAD has GET's headers, no body", s, "HEAD", "/a.txt", 200, false, 0},
			{"OPTIONS answers 204 with Allow", s, "OPTIONS", "/a.txt", 204, true, 0},
			{"OPTIONS on a directory", s, "OPTIONS", "/dir/", 204, true, 0},
			{"POST is 405", s, "POST", "/a.txt", 405, true, 0},
			{"PUT is 405", s, "PUT", "/a.txt", 405, true, 0},
			{"DELETE is 405", s, "DELETE", "/a.txt", 405, true, 0},
			{"PATCH on a directory is 405", s, "PATCH", "/dir", 405, true, 0},
			{"POST to a missing file is 404", s, "POST", "/missing", 404, false, 0},
			{"File: GET", file, "GET", "/anything", 200, false, 5},
			{"File: OPTIONS", file, "OPTIONS", "/anything", 204, true, 0},
			{"File: POST is 405", file, "POST", "/anything", 405, true, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec, err := do(t, tt.h, tt.method, tt.target)
				if got := status(rec, err); got != tt.status {
					t.Fatalf("status %d, want %d (err %v)", got, tt.status, err)
				}
				if got := rec.Head.Get("Allow"); tt.allow && got != "GET, HEAD, OPTIONS" {
					t.Errorf("Allow %q", got)
				} else if !tt.allow && got != "" {
					t.Errorf("unexpected Allow %q", got)
				}
				if rec.Body.Len() != tt.bodyLen {
					t.Errorf("body %d bytes, want %d", rec.Body.Len(), tt.bodyLen)
				}
				if rec.Written() && rec.Head.Get("X-Content-Type-Options") != "nosniff" {
					t.Error("no X-Content-Type-Options: nosniff")
				}
				checkBodyLength(t, tt.method, rec)
			})
		}

		t.Run("HEAD and GET carry the same header", func(t *testing.T) {
			get, _ := do(t, s, "GET", "/a.txt")
			head, _ := do(t, s, "HEAD", "/a.txt")
			if get.ContentLength != head.ContentLength || get.Head.Len() != head.Head.Len() {
				t.Fatalf("GET %d fields, length %d; HEAD %d fields, length %d",
					get.Head.Len(), get.ContentLength, head.Head.Len(), head.ContentLength)
			}
			for i := 0; i < get.Head.Len(); i++ {
				if get.Head.At(i) != head.Head.At(i) {
					t.Errorf("field %d: GET %v, HEAD %v", i, get.Head.At(i), head.Head.At(i))
				}
			}
		})
	})
}

func TestContentTypeFollowsTheExtensionElseOctetStream(t *testing.T) {
	tests := []struct{ name, want string }{
		{"index.html", "text/html; charset=utf-8"},
		{"INDEX.HTM", "text/html; charset=utf-8"},
		{"style.css", "text/css; charset=utf-8"},
		{"app.js", "text/javascript; charset=utf-8"},
		{"mod.mjs", "text/javascript; charset=utf-8"},
		{"data.json", "application/json"},
		{"notes.txt", "text/plain; charset=utf-8"},
		{"feed.xml", "text/xml; charset=utf-8"},
		{"logo.svg", "image/svg+xml"},
		{"photo.JPG", "image/jpeg"},
		{"pic.png", "image/png"},
		{"pic.webp", "image/webp"},
		{"pic.avif", "image/avif"},
		{"favicon.ico", "image/vnd.microsoft.icon"},
		{"font.woff2", "font/woff2"},
		{"app.wasm", "application/wasm"},
		{"doc.pdf", "application/pdf"},
		{"clip.mp4", "video/mp4"},
		{"site.webmanifest", "application/manifest+json"},
		{"archive.tar.gz", "application/gzip"},
		{"/a.dir/README", octetStream},
		{"Makefile", octetStream},
		{"file.", octetStream},
		{"file.unknownext", octetStream},
		{"file.averyveryverylongextension", octetStream},
		{".bashrc", octetStream},
	}
	for _, tt := range tests {
		if got := ContentType(tt.name); got != tt.want {
			t.Errorf("ContentType(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// The path map's single file gets the same treatment as a file under a root;
// a missing file or a directory is 404.
func TestMappedFileIsServedLikeAFileUnderARoot(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		root := writeTree(t, map[string]string{
			"page.css":    "body{}",
			"page.css.br": "BR",
			"dir/x":       "x",
		})
		h := fileMode(filepath.Join(root, "page.css"), mode)
		rec, err := do(t, h, "GET", "/elsewhere", "Accept-Encoding: br")
		if err != nil || rec.Code != 200 {
			t.Fatalf("got %d, %v", rec.Code, err)
		}
		for name, want := range map[string]string{
			"Content-Type":     "text/css; charset=utf-8",
			"Content-Encoding": "br",
			"Vary":             "Accept-Encoding",
			"Accept-Ranges":    "bytes",
		} {
			if got := rec.Head.Get(name); got != want {
				t.Errorf("%s %q, want %q", name, got, want)
			}
		}
		etag := rec.Head.Get("ETag")
		rec, err = do(t, h, "GET", "/elsewhere", "Accept-Encoding: br", "If-None-Match: "+etag)
		if status(rec, err) != 304 {
			t.Errorf("revalidation: %d, want 304", status(rec, err))
		}
		rec, err = do(t, h, "GET", "/", "Range: bytes=1-")
		if status(rec, err) != 206 || rec.Body.String() != "ody{}" {
			t.Errorf("range: %d %q", status(rec, err), rec.Body.String())
		}
		for _, p := range []string{"missing.css", "dir"} {
			rec, err := do(t, fileMode(filepath.Join(root, p), mode), "GET", "/")
			if got := status(rec, err); got != 404 {
				t.Errorf("File(%s): %d, want 404", p, got)
			}
		}
	})
}
