package vhost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/handlertest"
	"github.com/moreweb/moreweb/parser"
)

var siteFiles = map[string]string{
	"site/index.html":    "<h1>home</h1>",
	"site/about":         "static about",
	"site/moved":         "static moved",
	"pages/about.html":   "mapped about",
	"pages/kittens.html": `<p>{{.Query.Get "size"}} kittens for {{.Host}}</p>`,
	"pages/broken.html":  `before {{template "nope" .}}`,
	"errors/404.html":    "custom 404",
	"errors/500.html":    "custom 500",
}

const siteConfig = `
[[listener]]
name = "web"
address = "127.0.0.1:18080"

[[vhost]]
hosts = ["example.com", "www.example.com"]
root = "site"

[vhost.paths]
"/about" = "pages/about.html"
"/moved" = "pages/about.html"
"/kittens" = { file = "pages/kittens.html", template = true }
"/broken" = { file = "pages/broken.html", template = true }

[vhost.error_pages]
404 = "errors/404.html"
500 = "errors/500.html"

[vhost.headers]
"cache-control" = "public, max-age=60"
"X-Site" = "one"

[[vhost.redirect]]
from = "/moved"
to = "/about"

[[vhost.redirect]]
from = "/old/*"
to = "/new/"
status = 308

[[vhost]]
hosts = ["paths.example"]

[vhost.paths]
"/only" = "pages/about.html"
`

type response struct {
	status   int
	body     string
	location string
}

func serveSite(t *testing.T, tables map[string]*Table, raw string) (*handlertest.Recorder, error) {
	t.Helper()
	r := handlertest.Request(t, raw)
	s, ok := tables["web"].Lookup(r.Host)
	if !ok {
		t.Fatalf("%q: no site", r.Host)
	}
	w := handlertest.NewRecorder()
	return w, s.Handler.Serve(w, r)
}

// Inside a vhost the handlers answer in order: redirects, then the path map
// (exact path), then the static root. Along the way templates render with
// the query, a template that fails answers 500, and the site's error pages
// serve its errors with the original status.
func TestInsideAVhostRedirectsBeatThePathMapWhichBeatsTheRoot(t *testing.T) {
	tables := build(t, siteFiles, siteConfig)
	tests := []struct {
		target string
		want   response
	}{
		// A redirect beats the path map and the static file of the same path.
		{"/moved", response{301, "", "/about"}},
		{"/old/a/b?x=1", response{308, "", "/new/a/b?x=1"}},
		// The path map beats the static root.
		{"/about", response{200, "mapped about", ""}},
		{"/kittens?size=%3Cbig%3E", response{200, "<p>&lt;big&gt; kittens for example.com</p>", ""}},
		// The static root serves the rest.
		{"/", response{200, "<h1>home</h1>", ""}},
		// Errors get the site's page with their own status.
		{"/missing", response{404, "custom 404", ""}},
		{"/about/", response{404, "custom 404", ""}},
		{"/broken", response{500, "custom 500", ""}},
	}
	// Every case twice: as the HTTP/1.1 parser presents the request, and
	// as a protocol that builds handlers.Request without it (HTTP/2 will).
	protocols := map[string]func(target string) (*handlertest.Recorder, error){
		"http1": func(target string) (*handlertest.Recorder, error) {
			return serveSite(t, tables, "GET "+target+" HTTP/1.1\nHost: example.com\n\n")
		},
		"test-protocol": func(target string) (*handlertest.Recorder, error) {
			r := handlertest.NewRequest(t, "GET", target, "Host: example.com")
			s, ok := tables["web"].Lookup(r.Host)
			if !ok {
				t.Fatalf("%q: no site", r.Host)
			}
			return handlertest.Serve(s.Handler, r)
		},
	}
	for name, serve := range protocols {
		t.Run(name, func(t *testing.T) {
			for _, tt := range tests {
				checkSiteAnswer(t, tt.target, tt.want, serve)
			}
		})
	}
}

func checkSiteAnswer(t *testing.T, target string, want response, serve func(string) (*handlertest.Recorder, error)) {
	t.Helper()
	w, err := serve(target)
	if w.Code != want.status {
		t.Errorf("%s: status %d (err %v), want %d", target, w.Code, err, want.status)
		return
	}
	if want.body != "" && w.Body.String() != want.body {
		t.Errorf("%s: body %q, want %q", target, w.Body.String(), want.body)
	}
	if got := w.Head.Get("Location"); got != want.location {
		t.Errorf("%s: Location %q, want %q", target, got, want.location)
	}
	// The error is returned for the log, the page already written.
	if (want.status >= 400) != (err != nil) {
		t.Errorf("%s: status %d returned %v", target, w.Code, err)
	}
	if w.Head.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: no nosniff", target)
	}
}

// [vhost.headers] are added to every response of the vhost, redirects and
// error pages included, since a policy such as Cache-Control or a security
// header means nothing if an error page escapes it.
func TestVhostHeadersAreOnEveryResponse(t *testing.T) {
	tables := build(t, siteFiles, siteConfig)
	for _, target := range []string{"/", "/about", "/kittens", "/moved", "/missing", "/broken"} {
		w, _ := serveSite(t, tables, "GET "+target+" HTTP/1.1\nHost: www.example.com\n\n")
		if w.Head.Get("Cache-Control") != "public, max-age=60" || w.Head.Get("X-Site") != "one" {
			t.Errorf("%s (%d): Cache-Control %q X-Site %q", target, w.Code, w.Head.Get("Cache-Control"), w.Head.Get("X-Site"))
		}
	}
}

// A site without its own page for a status gets the built-in page, still
// with the original status; a 405 keeps its Allow.
func TestSiteWithoutAPageForAStatusGetsTheBuiltinPage(t *testing.T) {
	tables := build(t, siteFiles, siteConfig)
	w, err := serveSite(t, tables, "DELETE /about HTTP/1.1\nHost: example.com\nContent-Length: 0\n\n")
	if w.Code != 405 || err == nil {
		t.Fatalf("status %d err %v, want 405", w.Code, err)
	}
	if !strings.Contains(w.Head.Get("Allow"), "GET") {
		t.Errorf("Allow %q", w.Head.Get("Allow"))
	}
	if !strings.Contains(w.Body.String(), "405 Method Not Allowed") {
		t.Errorf("body %q, want the built-in 405 page", w.Body.String())
	}
}

// A vhost with no root serves its path map and answers 404 for the rest.
func TestVhostWithoutRootServesItsPathMapAnd404ForTheRest(t *testing.T) {
	tables := build(t, siteFiles, siteConfig)
	w, err := serveSite(t, tables, "GET /only HTTP/1.1\nHost: paths.example\n\n")
	if err != nil || w.Body.String() != "mapped about" {
		t.Errorf("/only: %d %q %v", w.Code, w.Body.String(), err)
	}
	w, err = serveSite(t, tables, "GET / HTTP/1.1\nHost: paths.example\n\n")
	if w.Code != 404 || !strings.Contains(w.Body.String(), "404 Not Found") || err == nil {
		t.Errorf("/: %d %q %v, want the built-in 404", w.Code, w.Body.String(), err)
	}
}

// The access log names the vhost by its first host (or "default" for a
// default site without hosts), so that aliases log as one site.
func TestSiteIsNamedByItsFirstHost(t *testing.T) {
	tables := build(t, siteFiles, siteConfig)
	if s, _ := tables["web"].Lookup([]byte("www.example.com")); s.Name != "example.com" {
		t.Errorf("name %q, want example.com", s.Name)
	}
}

// The headers middleware canonicalises names once, when the site is built,
// so that setting them costs no allocation per request.
func TestHeaderNamesAreCanonicalisedWhenTheSiteIsBuilt(t *testing.T) {
	mw := withHeaders([]config.HeaderField{{Name: "cache-control", Value: "no-store"}, {Name: "x-FRAME-options", Value: "DENY"}})
	h, ok := mw(handlers.Chain{}).(*headerSetter)
	if !ok {
		t.Fatalf("middleware made %T, want *headerSetter", h)
	}
	for _, f := range h.fields {
		if parser.CanonicalName(f.Name) != f.Name {
			t.Errorf("field %q is not canonical", f.Name)
		}
	}
}

// RFC 9110 §15.5.17: a 416 carries Content-Range "bytes */LEN", also when
// the error page replaces the body; validators of the file do not describe
// the page and are dropped.
func TestRangeNotSatisfiableKeepsContentRangeOnTheErrorPage_RFC9110_15_5_17(t *testing.T) {
	tables := build(t, siteFiles, siteConfig)
	w, err := serveSite(t, tables, "GET /index.html HTTP/1.1\nHost: example.com\nRange: bytes=1000-\n\n")
	if w.Code != 416 || err == nil {
		t.Fatalf("status %d err %v, want 416", w.Code, err)
	}
	if got := w.Head.Get("Content-Range"); got != "bytes */13" {
		t.Errorf("Content-Range %q, want bytes */13", got)
	}
	if w.Head.Get("ETag") != "" || w.Head.Get("Last-Modified") != "" {
		t.Errorf("ETag %q Last-Modified %q on the error page", w.Head.Get("ETag"), w.Head.Get("Last-Modified"))
	}
	if !strings.Contains(w.Body.String(), "416") {
		t.Errorf("body %q, want the built-in 416 page", w.Body.String())
	}
}

// TestSiteRootChangesAreLoggedWithSiteAndRoot: what a site's static root
// notices reaches Build's logger once, named by the site and the root as
// configured; the site answers its own 404 page meanwhile.
func TestSiteRootChangesAreLoggedWithSiteAndRoot(t *testing.T) {
	type line struct {
		site, root, msg string
		warn            bool
	}
	var lines []line
	log := func(site, root, msg string, err error) { lines = append(lines, line{site, root, msg, err != nil}) }
	tables, dir := buildLogged(t, siteFiles, siteConfig, log)
	root := filepath.Join(dir, "site")
	// The request's arrival is the handler's clock, so the intervals pass
	// without sleeping.
	start := time.Now()
	at := func(d time.Duration, target string) *handlertest.Recorder {
		t.Helper()
		r := handlertest.Request(t, "GET "+target+" HTTP/1.1\nHost: example.com\n\n")
		r.Received = start.Add(d)
		s, _ := tables["web"].Lookup(r.Host)
		w := handlertest.NewRecorder()
		s.Handler.Serve(w, r)
		return w
	}
	if w := at(0, "/"); w.Body.String() != "<h1>home</h1>" {
		t.Fatalf("before: %d %q", w.Code, w.Body.String())
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	at(1500*time.Millisecond, "/")
	if w := at(1700*time.Millisecond, "/"); w.Code != 404 || w.Body.String() != "custom 404" {
		t.Errorf("root gone: %d %q", w.Code, w.Body.String())
	}
	at(3*time.Second, "/")
	if len(lines) != 1 || lines[0] != (line{"example.com", root, lines[0].msg, true}) || !strings.Contains(lines[0].msg, "gone") {
		t.Errorf("logged %+v, want one warning for example.com, root %s", lines, root)
	}
}

// A site serves the error page bytes its config snapshot read and hashed:
// the file edited on disk after the load changes neither what that
// snapshot's site serves nor its hash, and the next load serves and hashes
// the new bytes.
func TestSiteServesTheErrorPageBytesItsSnapshotHashed(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, siteFiles)
	writeFiles(t, dir, map[string]string{"site.toml": siteConfig})
	load := func() *config.Config {
		t.Helper()
		cfg, err := config.Load(filepath.Join(dir, "site.toml"))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	serve404 := func(cfg *config.Config) string {
		t.Helper()
		routes, err := Build(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer routes.Close()
		w, _ := serveSite(t, routes.Tables, "GET /nope HTTP/1.1\nHost: example.com\n\n")
		if w.Code != 404 {
			t.Fatalf("status %d, want 404", w.Code)
		}
		return w.Body.String()
	}

	before := load()
	writeFiles(t, dir, map[string]string{"errors/404.html": "edited 404"})
	if body := serve404(before); body != "custom 404" {
		t.Errorf("the snapshot loaded before the edit serves %q, want the page it read", body)
	}
	after := load()
	if after.Hash == before.Hash {
		t.Error("the edited page did not change the hash")
	}
	if body := serve404(after); body != "edited 404" {
		t.Errorf("the snapshot loaded after the edit serves %q", body)
	}
	writeFiles(t, dir, map[string]string{"errors/404.html": "custom 404"})
	if load().Hash != before.Hash {
		t.Error("the same page bytes hash differently: the hash is not of the bytes served")
	}
}
