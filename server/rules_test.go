package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/internal/testkit"
)

// These tests hold the whole server to the rules a site's owner relies on
// (routing, static files, templates, error pages) over loopback: a config
// file in a temp dir, the real command's start-up path, raw requests on a
// socket.

type site struct {
	t    *testing.T
	addr string
}

// serveSite writes files (see testkit.WriteTree) and site.toml into a temp
// dir, starts the server in-process, and returns its address.
func serveSite(t *testing.T, toml string, files map[string]string) *site {
	t.Helper()
	dir := testkit.Tree(t, files)
	testkit.WriteTree(t, dir, map[string]string{"site.toml": "[server]\naccess_log = \"off\"\n" + toml})
	return &site{t: t, addr: serveConfigFile(t, filepath.Join(dir, "site.toml"))}
}

// serveConfigFile starts the server in-process from the config file conf,
// stops it when the test ends, and returns the address it listens on.
func serveConfigFile(t *testing.T, conf string) string {
	t.Helper()
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(cfg, Options{Reload: func() (*config.Config, error) { return config.Load(conf) }, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.sup.Shutdown(ctx)
	})
	for _, addr := range a.sup.Addrs() {
		return addr.String()
	}
	t.Fatal("no listener")
	return ""
}

// raw sends raw bytes on a new connection and reads one response.
func (s *site) raw(method, raw string) (*http.Response, string) {
	s.t.Helper()
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, raw); err != nil {
		s.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), &http.Request{Method: method})
	if err != nil {
		s.t.Fatalf("%q: %v", raw, err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// do sends method target to host with extra header lines.
func (s *site) do(method, host, target string, header ...string) (*http.Response, string) {
	s.t.Helper()
	raw := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n"
	for _, h := range header {
		raw += h + "\r\n"
	}
	return s.raw(method, raw+"\r\n")
}

const twoSites = `
[server.error_pages]
421 = "misdirected.html"
400 = "bad.html"

[[listener]]
name = "web"
address = "127.0.0.1:0"

[[vhost]]
hosts = ["example.com", "*.example.org", "*.deep.example.org"]
root = "a"

[vhost.paths]
"/about" = "pages/about.html"
"/page" = { file = "pages/hello.tmpl", template = true }
"/broken" = { file = "pages/broken.tmpl", template = true }

[vhost.error_pages]
404 = "a-errors/404.html"
405 = "a-errors/405.html"
500 = "a-errors/500.html"

[vhost.headers]
"Cache-Control" = "public, max-age=60"

[[vhost.redirect]]
from = "/about"
to = "/redirected"
status = 308

[[vhost.redirect]]
from = "/old/*"
to = "/new/"
status = 301

[[vhost]]
hosts = ["deep.example.org"]
root = "b"
`

var twoSitesFiles = map[string]string{
	"a/index.html":            "site A",
	"a/dir/index.html":        "dir index",
	"a/style.css":             "body{}",
	"a/blob.unknownext":       "??",
	"a/.secret":               "dotfile",
	"a/.well-known/acme":      "token",
	"a/escape":                "->../outside.txt",
	"outside.txt":             "OUTSIDE",
	"b/index.html":            "site B",
	"c/index.html":            "site C",
	"pages/about.html":        "about page",
	"pages/hello.tmpl":        `<p>{{.Query.Get "name"}}|{{.Path}}|{{.Host}}|{{.Method}}|{{.Header.Get "X-Test"}}</p>`,
	"pages/broken.tmpl":       `{{index .Query "x" 5}}`,
	"a-errors/404.html":       "custom 404",
	"a-errors/405.html":       "custom 405",
	"a-errors/500.html":       "custom 500",
	"misdirected.html":        "no such site",
	"bad.html":                "bad request page",
	"a/dir/sub/file.txt":      "in sub",
	"a/listing-off/readme.md": "no index here",
}

// withFiles is twoSitesFiles plus extra.
func withFiles(extra map[string]string) map[string]string {
	all := map[string]string{}
	for k, v := range twoSitesFiles {
		all[k] = v
	}
	for k, v := range extra {
		all[k] = v
	}
	return all
}

func TestHostMatchIgnoresCasePortAndTrailingDot(t *testing.T) {
	s := serveSite(t, twoSites, twoSitesFiles)
	for _, host := range []string{"example.com", "EXAMPLE.com", "example.com:8080", "example.com.", "Example.COM.:80"} {
		if _, body := s.do("GET", host, "/"); body != "site A" {
			t.Errorf("Host %q: %q", host, body)
		}
	}
}

func TestWildcardHostMatchesAnyDepthButNotTheBareDomain(t *testing.T) {
	s := serveSite(t, twoSites, twoSitesFiles)
	cases := map[string]string{
		"a.example.org":        "site A", // *.example.org
		"a.b.example.org":      "site A", // deeper names match too
		"deep.example.org":     "site B", // exact beats wildcard
		"x.deep.example.org":   "site A", // *.deep.example.org is the same site here: longest suffix
		"x.y.deep.example.org": "site A",
	}
	for host, want := range cases {
		if _, body := s.do("GET", host, "/"); body != want {
			t.Errorf("%s: %q, want %q", host, body, want)
		}
	}
	if resp, _ := s.do("GET", "example.org", "/"); resp.StatusCode != 421 {
		t.Errorf("example.org matched *.example.org: %d", resp.StatusCode)
	}
}

func TestLongestWildcardSuffixWins(t *testing.T) {
	s := serveSite(t, `
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
hosts = ["*.example.org"]
root = "a"
[[vhost]]
hosts = ["*.deep.example.org"]
root = "b"
`, twoSitesFiles)
	if _, body := s.do("GET", "x.deep.example.org", "/"); body != "site B" {
		t.Errorf("longest suffix: %q", body)
	}
	if _, body := s.do("GET", "x.example.org", "/"); body != "site A" {
		t.Errorf("shorter suffix: %q", body)
	}
}

func TestUnknownHostGoesToTheDefaultSiteElse421(t *testing.T) {
	s := serveSite(t, twoSites, twoSitesFiles)
	resp, body := s.do("GET", "unknown.test", "/")
	if resp.StatusCode != 421 || body != "no such site" {
		t.Fatalf("no default: %d %q", resp.StatusCode, body)
	}
	s = serveSite(t, twoSites+"\n[[vhost]]\nhosts = [\"c.test\"]\ndefault = true\nroot = \"c\"\n", twoSitesFiles)
	if _, body := s.do("GET", "unknown.test", "/"); body != "site C" {
		t.Fatalf("default: %q", body)
	}
}

func TestAbsoluteFormTargetDecidesTheHost_RFC9112_3_2_2(t *testing.T) {
	s := serveSite(t, twoSites, twoSitesFiles)
	if _, body := s.raw("GET", "GET http://deep.example.org/ HTTP/1.1\r\nHost: example.com\r\n\r\n"); body != "site B" {
		t.Fatalf("%q", body)
	}
}

func TestRedirectsComeFirstThenThePathMapThenTheRoot(t *testing.T) {
	s := serveSite(t, twoSites, twoSitesFiles)
	resp, _ := s.do("GET", "example.com", "/about")
	if resp.StatusCode != 308 || resp.Header.Get("Location") != "/redirected" {
		t.Fatalf("redirect first: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = s.do("GET", "example.com", "/old/a/b?x=1")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "/new/a/b?x=1" {
		t.Fatalf("prefix redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	s2 := serveSite(t, strings.Replace(twoSites, `from = "/about"`, `from = "/elsewhere"`, 1), twoSitesFiles)
	if _, body := s2.do("GET", "example.com", "/about"); body != "about page" {
		t.Fatalf("path map before root: %q", body)
	}
	if _, body := s2.do("GET", "example.com", "/style.css"); body != "body{}" {
		t.Fatalf("root last: %q", body)
	}
}

func TestStaticPathIsDecodedAndConfinedToTheRoot(t *testing.T) {
	s := serveSite(t, twoSites, twoSitesFiles)
	if _, body := s.do("GET", "example.com", "/%64ir/./sub/../sub/file%2Etxt"); body != "in sub" {
		t.Errorf("decoded path: %q", body)
	}
	for _, target := range []string{"/../outside.txt", "/%2e%2e/outside.txt", "/dir/..%2f..%2foutside.txt", "/escape", "/a%00b"} {
		resp, body := s.do("GET", "example.com", target)
		if strings.Contains(body, "OUTSIDE") || resp.StatusCode == 200 {
			t.Errorf("%s: %d %q", target, resp.StatusCode, body)
		}
	}
	follow := strings.Replace(twoSites, `root = "a"`, "root = \"a\"\nfollow_symlinks = true", 1)
	if _, body := serveSite(t, follow, twoSitesFiles).do("GET", "example.com", "/escape"); body != "OUTSIDE" {
		t.Errorf("follow_symlinks = true: %q", body)
	}
}

func TestDotfilesAreHiddenExceptWellKnown(t *testing.T) {
	s := serveSite(t, twoSites, twoSitesFiles)
	if resp, _ := s.do("GET", "example.com", "/.secret"); resp.StatusCode != 404 {
		t.Errorf(".secret: %d", resp.StatusCode)
	}
	if _, body := s.do("GET", "example.com", "/.well-known/acme"); body != "token" {
		t.Errorf(".well-known: %q", body)
	}
	dots := strings.Replace(twoSites, `root = "a"`, "root = \"a\"\nserve_dotfiles = true", 1)
	if _, body := serveSite(t, dots, twoSitesFiles).do("GET", "example.com", "/.secret"); body != "dotfile" {
		t.Errorf("serve_dotfiles = true: %q", body)
	}
}

func TestDirectoryRedirectsToItsSlashThenServesItsIndexOrListing(t *testing.T) {
	s := serveSite(t, twoSites, twoSitesFiles)
	resp, _ := s.do("GET", "example.com", "/dir?x=1")
	if resp.StatusCode != 301 || !strings.HasSuffix(resp.Header.Get("Location"), "dir/?x=1") {
		t.Errorf("no slash: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, body := s.do("GET", "example.com", "/dir/"); body != "dir index" {
		t.Errorf("index: %q", body)
	}
	if resp, body := s.do("GET", "example.com", "/listing-off/"); resp.StatusCode != 404 || body != "custom 404" {
		t.Errorf("no index, no listing: %d %q", resp.StatusCode, body)
	}
	listing := strings.Replace(twoSites, `root = "a"`, "root = \"a\"\nlisting = true", 1)
	if _, body := serveSite(t, listing, twoSitesFiles).do("GET", "example.com", "/listing-off/"); !strings.Contains(body, "readme.md") {
		t.Errorf("listing: %q", body)
	}
}

func TestStaticFilesCarryTheirContentTypeAndNosniff(t *testing.T) {
	s := serveSite(t, twoSites, twoSitesFiles)
	for target, want := range map[string]string{
		"/":                "text/html; charset=utf-8",
		"/style.css":       "text/css; charset=utf-8",
		"/blob.unknownext": "application/octet-stream",
	} {
		resp, _ := s.do("GET", "example.com", target)
		if got := resp.Header.Get("Content-Type"); got != want {
			t.Errorf("%s: %q, want %q", target, got, want)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", target)
		}
	}
}

func TestStaticFilesCarryValidatorsThatConditionalRequestsHonour_RFC9110_13(t *testing.T) {
	s := serveSite(t, twoSites, twoSitesFiles)
	resp, _ := s.do("GET", "example.com", "/style.css")
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag == "" || lm == "" {
		t.Fatalf("validators: %q %q", etag, lm)
	}
	if resp, body := s.do("GET", "example.com", "/style.css", "If-None-Match: "+etag); resp.StatusCode != 304 || body != "" {
		t.Errorf("If-None-Match: %d %q", resp.StatusCode, body)
	}
	if resp, _ := s.do("GET", "example.com", "/style.css", "If-Modified-Since: "+lm); resp.StatusCode != 304 {
		t.Errorf("If-Modified-Since: %d", resp.StatusCode)
	}
	if resp, _ := s.do("GET", "example.com", "/style.css", `If-Match: "nope"`); resp.StatusCode != 412 {
		t.Errorf("If-Match: %d", resp.StatusCode)
	}
	if resp, _ := s.do("GET", "example.com", "/style.css", "If-Unmodified-Since: Mon, 01 Jan 2001 00:00:00 GMT"); resp.StatusCode != 412 {
		t.Errorf("If-Unmodified-Since: %d", resp.StatusCode)
	}
}

func TestStaticFilesServeSingleMultipleAndUnsatisfiableRanges_RFC9110_14(t *testing.T) {
	s := serveSite(t, twoSites, withFiles(map[string]string{"a/digits.txt": "0123456789"}))
	resp, body := s.do("GET", "example.com", "/digits.txt", "Range: bytes=2-4")
	if resp.StatusCode != 206 || body != "234" || resp.Header.Get("Content-Range") != "bytes 2-4/10" || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("single: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Range"))
	}
	resp, body = s.do("GET", "example.com", "/digits.txt", "Range: bytes=0-1,8-9")
	if resp.StatusCode != 206 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges; boundary=") ||
		!strings.Contains(body, "Content-Range: bytes 0-1/10") || !strings.Contains(body, "Content-Range: bytes 8-9/10") {
		t.Errorf("multi: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, _ = s.do("GET", "example.com", "/digits.txt", "Range: bytes=50-60")
	if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */10" {
		t.Errorf("unsatisfiable: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	resp, body = s.do("GET", "example.com", "/digits.txt", "Range: bytes=2-4", `If-Range: "stale"`)
	if resp.StatusCode != 200 || body != "0123456789" {
		t.Errorf("If-Range mismatch: %d %q", resp.StatusCode, body)
	}
}

func TestPrecompressedSidecarIsServedForItsEncoding(t *testing.T) {
	s := serveSite(t, twoSites, withFiles(map[string]string{"a/app.js": "plain", "a/app.js.gz": "GZIPPED", "a/app.js.br": "BROTLI"}))
	resp, body := s.do("GET", "example.com", "/app.js", "Accept-Encoding: gzip, br")
	if body != "BROTLI" || resp.Header.Get("Content-Encoding") != "br" || resp.Header.Get("Vary") != "Accept-Encoding" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("br: %q %v", body, resp.Header)
	}
	if _, body := s.do("GET", "example.com", "/app.js", "Accept-Encoding: gzip"); body != "GZIPPED" {
		t.Errorf("gzip: %q", body)
	}
	if resp, body := s.do("GET", "example.com", "/app.js"); body != "plain" || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("identity: %q", body)
	}
}

func TestStaticFilesAnswerHEADAndOPTIONSAndOthersAre405(t *testing.T) {
	s := serveSite(t, twoSites, twoSitesFiles)
	resp, body := s.do("HEAD", "example.com", "/style.css")
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != 6 {
		t.Errorf("HEAD: %d %q %d", resp.StatusCode, body, resp.ContentLength)
	}
	resp, _ = s.do("OPTIONS", "example.com", "/style.css")
	if resp.StatusCode >= 300 || !strings.Contains(resp.Header.Get("Allow"), "GET") {
		t.Errorf("OPTIONS: %d %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, body = s.raw("DELETE", "DELETE /style.css HTTP/1.1\r\nHost: example.com\r\n\r\n")
	if resp.StatusCode != 405 || !strings.Contains(resp.Header.Get("Allow"), "GET") || body != "custom 405" {
		t.Errorf("DELETE: %d %q %q", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
}

func TestTemplatesRenderEscapedAndAFailureIsTheSites500(t *testing.T) {
	s := serveSite(t, twoSites, twoSitesFiles)
	_, body := s.do("GET", "example.com", "/page?name=%3Cscript%3E", "X-Test: hdr")
	if body != "<p>&lt;script&gt;|/page|example.com|GET|hdr</p>" {
		t.Errorf("render: %q", body)
	}
	if resp, body := s.do("GET", "example.com", "/broken"); resp.StatusCode != 500 || body != "custom 500" {
		t.Errorf("failing template: %d %q", resp.StatusCode, body)
	}
}

func TestErrorsGetTheSitesOrTheServersPageWithTheSiteHeaders(t *testing.T) {
	s := serveSite(t, twoSites, twoSitesFiles)
	resp, body := s.do("GET", "example.com", "/missing")
	if resp.StatusCode != 404 || body != "custom 404" {
		t.Errorf("site 404: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("vhost.headers on an error: %v", resp.Header)
	}
	if resp, _ := s.do("GET", "example.com", "/style.css"); resp.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("vhost.headers: %v", resp.Header)
	}
	resp, body = s.raw("GET", "GET / HTTP/1.1\r\nHost: example.com\r\nBad Header: x\r\n\r\n")
	if resp.StatusCode != 400 || body != "bad request page" || !resp.Close {
		t.Errorf("server error page: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	resp, body = s.raw("GET", "GET / HTTP/1.1\r\n\r\n")
	if resp.StatusCode != 400 || strings.Contains(body, "Host") {
		t.Errorf("missing Host: %d %q", resp.StatusCode, body)
	}
}
