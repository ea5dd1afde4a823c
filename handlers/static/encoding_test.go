package static

import (
	"testing"
)

// Accept-Encoding with q-values picks the precompressed file to send; every
// response for a file with a sidecar varies on Accept-Encoding.
func TestAcceptEncodingPicksThePrecompressedSidecar_RFC9110_12_5_3(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		root := writeTree(t, map[string]string{
			"app.js":         "plain",
			"app.js.br":      "BR",
			"app.js.zst":     "ZST",
			"app.js.gz":      "GZ",
			"only.css":       "plain css",
			"only.css.gz":    "GZ css",
			"none.txt":       "plain text",
			"dir.txt":        "plain",
			"dir.txt.br/x":   "a directory is not a sidecar",
			"index.html":     "home",
			"index.html.gz":  "GZ home",
			"data.json.zst":  "orphan sidecar",
			"archive.tar.gz": "a gzip file asked for by name",
		})
		s := newStaticMode(t, mode, Options{Root: root})
		tests := []struct {
			name     string
			target   string
			accept   []string
			body     string
			encoding string
			vary     bool
		}{
			{"no Accept-Encoding: the file itself", "/app.js", nil, "plain", "", true},
			{"browser list prefers br", "/app.js", []string{"gzip, deflate, br, zstd"}, "BR", "br", true},
			{"gzip only", "/app.js", []string{"gzip"}, "GZ", "gzip", true},
			{"zstd only", "/app.js", []string{"zstd"}, "ZST", "zstd", true},
			{"zstd preferred to gzip at equal q", "/app.js", []string{"gzip, zstd"}, "ZST", "zstd", true},
			{"q=0 refuses", "/app.js", []string{"br;q=0, gzip"}, "GZ", "gzip", true},
			{"higher q wins", "/app.js", []string{"br;q=0.5, gzip;q=0.8"}, "GZ", "gzip", true},
			{"q with three decimals", "/app.js", []string{"gzip;q=1.0, br;q=0.999"}, "GZ", "gzip", true},
			{"star accepts all", "/app.js", []string{"*"}, "BR", "br", true},
			{"star q=0 refuses all", "/app.js", []string{"*;q=0"}, "plain", "", true},
			{"star with one refused", "/app.js", []string{"*, br;q=0"}, "ZST", "zstd", true},
			{"identity only", "/app.js", []string{"identity"}, "plain", "", true},
			{"identity weighed above", "/app.js", []string{"br;q=0.5, identity"}, "plain", "", true},
			{"identity refused", "/app.js", []string{"br, identity;q=0"}, "BR", "br", true},
			{"lone low q still preferred to nothing", "/app.js", []string{"gzip;q=0.5"}, "GZ", "gzip", true},
			{"coding names ignore case", "/app.js", []string{"GZIP"}, "GZ", "gzip", true},
			{"x-gzip is gzip", "/app.js", []string{"x-gzip"}, "GZ", "gzip", true},
			{"invalid q ignores the element", "/app.js", []string{"br;q=2, gzip;q=0.1"}, "GZ", "gzip", true},
			{"too precise q ignores the element", "/app.js", []string{"br;q=0.0001"}, "plain", "", true},
			{"whitespace around parameters", "/app.js", []string{"br ; q=0.5 , gzip ; Q=0.4"}, "BR", "br", true},
			{"unknown coding only", "/app.js", []string{"deflate"}, "plain", "", true},
			{"empty field", "/app.js", []string{""}, "plain", "", true},
			{"several field lines", "/app.js", []string{"deflate", "gzip"}, "GZ", "gzip", true},
			{"only the sidecar that exists", "/only.css", []string{"br, zstd, gzip"}, "GZ css", "gzip", true},
			{"not accepted, still varies", "/only.css", []string{"br"}, "plain css", "", true},
			{"no sidecar, no Vary", "/none.txt", []string{"gzip, br"}, "plain text", "", false},
			{"a directory is not a sidecar", "/dir.txt", []string{"br"}, "plain", "", false},
			{"index file has sidecars too", "/", []string{"gzip"}, "GZ home", "gzip", true},
			{"a .gz asked for by name is not encoded", "/archive.tar.gz", []string{"gzip"}, "a gzip file asked for by name", "", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var hdr []string
				for _, a := range tt.accept {
					hdr = append(hdr, "Accept-Encoding: "+a)
				}
				rec, err := do(t, s, "GET", tt.target, hdr...)
				if err != nil || rec.Code != 200 {
					t.Fatalf("got %d, %v", rec.Code, err)
				}
				if rec.Body.String() != tt.body {
					t.Errorf("body %q, want %q", rec.Body.String(), tt.body)
				}
				if got := rec.Head.Get("Content-Encoding"); got != tt.encoding {
					t.Errorf("Content-Encoding %q, want %q", got, tt.encoding)
				}
				if got := rec.Head.Get("Vary"); (got == "Accept-Encoding") != tt.vary || (got != "" && !tt.vary) {
					t.Errorf("Vary %q, want it: %v", got, tt.vary)
				}
				want := ContentType(tt.target)
				if tt.target == "/" {
					want = ContentType("index.html")
				}
				if got := rec.Head.Get("Content-Type"); got != want {
					t.Errorf("Content-Type %q, want the original's %q", got, want)
				}
				checkBodyLength(t, "GET", rec)
			})
		}

		t.Run("orphan sidecar is not served", func(t *testing.T) {
			rec, err := do(t, s, "GET", "/data.json", "Accept-Encoding: zstd")
			if got := status(rec, err); got != 404 {
				t.Fatalf("status %d, want 404", got)
			}
		})
	})
}

// Each variant has its own ETag, and ranges, If-Range and 416 apply to the
// bytes of the variant sent.
func TestEachSidecarVariantHasItsOwnETagAndRanges(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		root := writeTree(t, map[string]string{"app.js": "plain text", "app.js.gz": "GZ"})
		s := newStaticMode(t, mode, Options{Root: root})
		plain, _ := do(t, s, "GET", "/app.js")
		gz, _ := do(t, s, "GET", "/app.js", "Accept-Encoding: gzip")
		if plain.Head.Get("ETag") == gz.Head.Get("ETag") {
			t.Fatalf("both variants have ETag %s", gz.Head.Get("ETag"))
		}

		rec, err := do(t, s, "GET", "/app.js", "Accept-Encoding: gzip", "Range: bytes=1-", "If-Range: "+gz.Head.Get("ETag"))
		if err != nil || rec.Code != 206 || rec.Body.String() != "Z" || rec.Head.Get("Content-Range") != "bytes 1-1/2" {
			t.Errorf("range of the gzip variant: %d %q %q %v", rec.Code, rec.Body.String(), rec.Head.Get("Content-Range"), err)
		}
		if rec.Head.Get("Content-Encoding") != "gzip" || rec.Head.Get("Vary") != "Accept-Encoding" {
			t.Errorf("206 of a variant: Content-Encoding %q, Vary %q", rec.Head.Get("Content-Encoding"), rec.Head.Get("Vary"))
		}

		rec, err = do(t, s, "GET", "/app.js", "Accept-Encoding: gzip", "Range: bytes=1-", "If-Range: "+plain.Head.Get("ETag"))
		if err != nil || rec.Code != 200 || rec.Body.String() != "GZ" {
			t.Errorf("If-Range with the other variant's tag: %d %q %v", rec.Code, rec.Body.String(), err)
		}

		rec, err = do(t, s, "GET", "/app.js", "Accept-Encoding: gzip", "Range: bytes=5-")
		if status(rec, err) != 416 || rec.Head.Get("Content-Range") != "bytes */2" || rec.Head.Get("Vary") != "Accept-Encoding" {
			t.Errorf("416 of a variant: %d, Content-Range %q, Vary %q", status(rec, err), rec.Head.Get("Content-Range"), rec.Head.Get("Vary"))
		}

		head, _ := do(t, s, "HEAD", "/app.js", "Accept-Encoding: gzip")
		if head.ContentLength != 2 || head.Head.Get("Content-Encoding") != "gzip" {
			t.Errorf("HEAD of a variant: length %d, Content-Encoding %q", head.ContentLength, head.Head.Get("Content-Encoding"))
		}
	})
}
