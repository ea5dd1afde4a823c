package server

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

const compressSites = `
[[listener]]
name = "web"
address = "127.0.0.1:0"

[[vhost]]
hosts = ["on.test"]
root = "www"

[vhost.paths]
"/page" = { file = "www/page.tmpl", template = true }

[[vhost]]
hosts = ["off.test"]
root = "www"
compress = []

[[vhost]]
hosts = ["notransform.test"]
root = "www"

[vhost.headers]
"Cache-Control" = "no-transform"
`

var compressFiles = map[string]string{
	"www/style.css": strings.Repeat("body { margin: 0 } ", 100),
	"www/page.tmpl": strings.Repeat("<p>{{.Path}}</p>\n", 100),
}

// A site compresses its text by default, files and templates alike, over
// a real connection; compress = [] and a site's own no-transform turn it
// off, and every one of those responses still varies on Accept-Encoding.
func TestSitesCompressByDefaultAndNotWhenOffOrNoTransform(t *testing.T) {
	s := serveSite(t, compressSites, compressFiles)
	for _, tt := range []struct {
		host, target, coding string
		want                 string
	}{
		{"on.test", "/style.css", "zstd", compressFiles["www/style.css"]},
		{"on.test", "/page", "zstd", strings.Repeat("<p>/page</p>\n", 100)},
		{"off.test", "/style.css", "", compressFiles["www/style.css"]},
		{"notransform.test", "/style.css", "", compressFiles["www/style.css"]},
	} {
		resp, body := s.do("GET", tt.host, tt.target, "Accept-Encoding: gzip, br, zstd")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != tt.coding {
			t.Errorf("%s%s: %d, Content-Encoding %q, want %q", tt.host, tt.target, resp.StatusCode, resp.Header.Get("Content-Encoding"), tt.coding)
			continue
		}
		if tt.coding == "zstd" {
			zr, err := zstd.NewReader(bytes.NewReader([]byte(body)))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			zr.Close()
			if err != nil {
				t.Fatalf("%s%s: %v", tt.host, tt.target, err)
			}
			body = string(plain)
		}
		if body != tt.want {
			t.Errorf("%s%s: body %.40q…", tt.host, tt.target, body)
		}
		if tt.host != "off.test" && resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("%s%s: Vary %q", tt.host, tt.target, resp.Header.Get("Vary"))
		}
	}
}
