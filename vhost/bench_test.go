package vhost

import (
	"strings"
	"testing"
	"time"

	"github.com/moreweb/moreweb/handlers/handlertest"
)

// What on-the-fly compression costs a client that sends no
// Accept-Encoding: the same file through a whole site (routing, headers,
// compression middleware, static handler, error pages), with compression
// on and off.
func BenchmarkSitePlainClient(b *testing.B) {
	files := map[string]string{"www/page.html": strings.Repeat("x", 16<<10)}
	for _, mode := range []struct{ name, key string }{
		{"compress-off", "compress = []"},
		{"compress-on", ""},
	} {
		b.Run(mode.name, func(b *testing.B) {
			tables, _ := buildLogged(b, files, `
[[listener]]
name = "web"
address = "127.0.0.1:18080"

[[vhost]]
hosts = ["example.com"]
root = "www"
`+mode.key+"\n", nil)
			web := tables["web"]
			// Deployed files have settled, and small ones are served from
			// memory: a file is taken as settled two seconds after its
			// last change.
			time.Sleep(2100 * time.Millisecond)
			site, ok := web.Lookup([]byte("example.com"))
			if !ok {
				b.Fatal("no site")
			}
			req := handlertest.Request(b, "GET /page.html HTTP/1.1\nHost: example.com\n\n")
			w := &handlertest.Discard{}
			b.ReportAllocs()
			for b.Loop() {
				w.Reset()
				if err := site.Handler.Serve(w, req); err != nil || w.Code != 200 {
					b.Fatalf("status %d, %v", w.Code, err)
				}
			}
		})
	}
}
