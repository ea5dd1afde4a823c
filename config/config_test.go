package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// specExample is the annotated example config of the README, with its files present.
const specExample = `
[server]
log_level = "info"
log_format = "console"
access_log = "stdout"
access_log_format = "json"
read_header_timeout = "10s"
idle_timeout = "60s"
write_timeout = "60s"
shutdown_timeout = "15s"
max_header_bytes = 16384
max_body_bytes = 10485760
max_connections = 10000
max_requests_per_connection = 10000

[server.error_pages]
400 = "errors/404.html"

[[listener]]
name = "web"
address = "127.0.0.1:8080"

[[vhost]]
hosts = ["example.com", "www.example.com", "*.example.org"]
listeners = ["web"]
default = true
root = "site"
index = ["index.html"]
listing = false
follow_symlinks = false
serve_dotfiles = false

[vhost.paths]
"/about" = "pages/about.html"
"/kittens" = { file = "tmpl/ok.html", template = true }

[vhost.error_pages]
404 = "errors/404.html"
500 = "errors/500.html"

[vhost.headers]
"Cache-Control" = "public, max-age=60"

[[vhost.redirect]]
from = "/old"
to = "/new"
status = 301
`

func TestAnnotatedExampleConfigLoadsAsDocumented(t *testing.T) {
	cfg, dir := mustLoad(t, specExample)
	abs := func(p string) string { return filepath.Join(dir, filepath.FromSlash(p)) }
	if cfg.File != abs("site.toml") {
		t.Errorf("File = %q", cfg.File)
	}
	if len(cfg.Vhosts) != 1 {
		t.Fatalf("got %d vhosts", len(cfg.Vhosts))
	}
	v := cfg.Vhosts[0]
	if v.Paths[1].Template == nil || v.Paths[0].Template != nil {
		t.Errorf("templates: /about %v, /kittens %v", v.Paths[0].Template, v.Paths[1].Template)
	}
	v.Paths[1].Template = nil // compared below by the rest of its fields
	want := Vhost{
		Hosts:     []string{"example.com", "www.example.com", "*.example.org"},
		Listeners: []string{"web"},
		Default:   true,
		Root:      abs("site"),
		Index:     []string{"index.html"},
		Compress:  []string{"zstd", "br", "gzip"},
		Paths: []PathEntry{
			{URLPath: "/about", File: abs("pages/about.html")},
			{URLPath: "/kittens", File: abs("tmpl/ok.html")},
		},
		ErrorPages: ErrorPages{
			404: {Path: abs("errors/404.html"), Body: []byte(siteFiles["errors/404.html"])},
			500: {Path: abs("errors/500.html"), Body: []byte(siteFiles["errors/500.html"])},
		},
		Headers:   []HeaderField{{"Cache-Control", "public, max-age=60"}},
		Redirects: []Redirect{{From: "/old", To: "/new", Status: 301}},
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("vhost:\n got %+v\nwant %+v", v, want)
	}
	if got := cfg.Server.ErrorPages; !reflect.DeepEqual(got, ErrorPages{400: {Path: abs("errors/404.html"), Body: []byte("not found")}}) {
		t.Errorf("server error pages = %v", got)
	}
}

func TestOmittedKeysTakeTheirDocumentedDefaults(t *testing.T) {
	cfg, _ := mustLoad(t, `
[[listener]]
name = "a"
address = "127.0.0.1:0"
[[listener]]
name = "b"
address = "127.0.0.1:0"
[[vhost]]
hosts = ["example.com"]
root = "site"
[[vhost.redirect]]
from = "/x/*"
to = "/y/"
`)
	wantServer := Server{
		LogLevel: "info", LogFormat: "console", AccessLog: "stdout", AccessLogFormat: "json",
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, ShutdownTimeout: 15 * time.Second,
		MaxHeaderBytes: 16384, MaxBodyBytes: 10485760, MaxConnections: 10000, MaxRequestsPerConnection: 10000,
	}
	if !reflect.DeepEqual(cfg.Server, wantServer) {
		t.Errorf("server:\n got %+v\nwant %+v", cfg.Server, wantServer)
	}
	v := cfg.Vhosts[0]
	if !reflect.DeepEqual(v.Listeners, []string{"a", "b"}) {
		t.Errorf("listeners = %q, want every listener", v.Listeners)
	}
	if !reflect.DeepEqual(v.Index, []string{"index.html"}) {
		t.Errorf("index = %q", v.Index)
	}
	if v.Default || v.Listing || v.FollowSymlinks || v.ServeDotfiles {
		t.Errorf("booleans should default to false: %+v", v)
	}
	if v.Redirects[0].Status != 301 {
		t.Errorf("redirect status = %d, want 301", v.Redirects[0].Status)
	}
}

func TestHostsListenersPathsAndHeadersAreNormalised(t *testing.T) {
	cfg, _ := mustLoad(t, `
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
hosts = ["WWW.Example.COM.", "bücher.example", "*.Example.ORG", "www.example.com"]
listeners = ["web", "web"]
index = []
[vhost.paths]
"/z" = "pages/about.html"
"/a" = "pages/about.html"
"/m" = "pages/about.html"
[vhost.headers]
X-Z = "  padded\t"
X-A = "a"
`)
	v := cfg.Vhosts[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"hosts", v.Hosts, []string{"www.example.com", "xn--bcher-kva.example", "*.example.org"}},
		{"listeners", v.Listeners, []string{"web"}},
		{"index", v.Index, []string{}},
		{"paths", []string{v.Paths[0].URLPath, v.Paths[1].URLPath, v.Paths[2].URLPath}, []string{"/a", "/m", "/z"}},
		{"headers", v.Headers, []HeaderField{{"X-A", "a"}, {"X-Z", "padded"}}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

func TestSameHostOnDifferentListenersIsFine(t *testing.T) {
	cfg, _ := mustLoad(t, `
[[listener]]
name = "a"
address = "127.0.0.1:0"
[[listener]]
name = "b"
address = "127.0.0.1:0"
[[vhost]]
hosts = ["example.com"]
listeners = ["a"]
default = true
root = "site"
[[vhost]]
hosts = ["example.com"]
listeners = ["b"]
default = true
root = "site"
`)
	if len(cfg.Vhosts) != 2 {
		t.Fatalf("got %d vhosts", len(cfg.Vhosts))
	}
}

func TestRelativePathsResolveAgainstConfigDir(t *testing.T) {
	dir := newSite(t)
	confDir := filepath.Join(dir, "conf")
	if err := os.Mkdir(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, confDir, `
[server]
access_log = "../logs.txt"
[server.error_pages]
404 = "../errors/404.html"
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
hosts = ["example.com"]
root = "../site"
[vhost.paths]
"/t" = { file = "../tmpl/ok.html", template = true }
"/abs" = "`+filepath.Join(dir, "pages", "about.html")+`"
`)
	t.Chdir(t.TempDir()) // somewhere unrelated
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]string{
		"access_log": cfg.Server.AccessLog,
		"error page": cfg.Server.ErrorPages[404].Path,
		"root":       cfg.Vhosts[0].Root,
		"template":   cfg.Vhosts[0].Paths[1].File,
		"absolute":   cfg.Vhosts[0].Paths[0].File,
	}
	wants := map[string]string{
		"access_log": filepath.Join(dir, "logs.txt"),
		"error page": filepath.Join(dir, "errors", "404.html"),
		"root":       filepath.Join(dir, "site"),
		"template":   filepath.Join(dir, "tmpl", "ok.html"),
		"absolute":   filepath.Join(dir, "pages", "about.html"),
	}
	for k, w := range wants {
		if checks[k] != w {
			t.Errorf("%s = %q, want %q", k, checks[k], w)
		}
	}
}

func TestRelativeConfigPathIsMadeAbsolute(t *testing.T) {
	dir := newSite(t)
	writeConfig(t, dir, `
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
default = true
root = "site"
`)
	t.Chdir(dir)
	cfg, err := Load("site.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != filepath.Join(dir, "site.toml") || cfg.Vhosts[0].Root != filepath.Join(dir, "site") {
		t.Errorf("File = %q, Root = %q", cfg.File, cfg.Vhosts[0].Root)
	}
}

func TestMissingConfigFileIsOneDiagnosticNamingIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(path)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("err = %v, want one diagnostic", err)
	}
	if got, want := err.Error(), path+": no such file or directory"; got != want {
		t.Errorf("err = %q, want %q", got, want)
	}
}

func TestUnreadableRootIsError(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every directory")
	}
	dir := newSite(t)
	locked := filepath.Join(dir, "site")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	path := writeConfig(t, dir, `
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
default = true
root = "site"
`)
	_, err := Load(path)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err = %v", err)
	}
	checkDiags(t, list, path, []want{{5, 8, "vhost[0].root", "permission denied"}})
}

func TestHashIgnoresLayoutButNotMeaning(t *testing.T) {
	dir := newSite(t)
	load := func(src string) [32]byte {
		t.Helper()
		cfg, err := Load(writeConfig(t, dir, src))
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Hash
	}
	base := load(`
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
hosts = ["example.com"]
[vhost.paths]
"/t" = { file = "tmpl/ok.html", template = true }
`)
	relaid := load(`
# same thing, written differently
[[listener]]
address = "127.0.0.1:0"   # order of keys differs
name    = "web"

[[vhost]]
hosts = ["EXAMPLE.com."]
paths."/t".file = "tmpl/ok.html"
paths."/t".template = true
`)
	if base != relaid {
		t.Error("hash changed with layout only")
	}
	if changed := load(`
[[listener]]
name = "web"
address = "127.0.0.1:1"
[[vhost]]
hosts = ["example.com"]
[vhost.paths]
"/t" = { file = "tmpl/ok.html", template = true }
`); changed == base {
		t.Error("hash did not change with the address")
	}
	if err := os.WriteFile(filepath.Join(dir, "tmpl", "ok.html"), []byte("<p>{{.Host}}</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if load(`
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
hosts = ["example.com"]
[vhost.paths]
"/t" = { file = "tmpl/ok.html", template = true }
`) == base {
		t.Error("hash did not change with the template's contents")
	}
}

func TestZeroConfigServesOneDirectoryWithListingOnOneAddress(t *testing.T) {
	dir := newSite(t)
	t.Chdir(dir)
	cfg, err := ZeroConfig("site", "127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	want := Vhost{
		Listeners: []string{"default"},
		Default:   true,
		Root:      filepath.Join(dir, "site"),
		Index:     []string{"index.html"},
		Compress:  []string{"zstd", "br", "gzip"},
		Listing:   true,
	}
	if cfg.File != "" || !reflect.DeepEqual(cfg.Listeners, []Listener{{Name: "default", Address: "127.0.0.1:8080"}}) ||
		!reflect.DeepEqual(cfg.Vhosts, []Vhost{want}) || cfg.Server.MaxConnections != 10000 || cfg.Hash == [32]byte{} {
		t.Errorf("ZeroConfig = %+v", cfg)
	}

	_, err = ZeroConfig("missing", "localhost")
	if err == nil {
		t.Fatal("ZeroConfig accepted a missing root and a port-less address")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `-listen: "localhost" is not host:port`) ||
		!strings.HasPrefix(lines[1], `-root: "`+filepath.Join(dir, "missing")+`" does not exist`) {
		t.Errorf("errors = %q", lines)
	}
}

func TestDiagnosticReadsFileLineColKeyMessage(t *testing.T) {
	cases := []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{File: "a.toml", Line: 3, Col: 7, Key: "vhost[2].listeners[0]", Msg: `no listener named "wbe"`},
			`a.toml:3:7: vhost[2].listeners[0]: no listener named "wbe"`},
		{Diagnostic{File: "a.toml", Key: "listener", Msg: "no listener defined"}, "a.toml: listener: no listener defined"},
		{Diagnostic{File: "a.toml", Line: 2, Col: 1, Msg: "syntax"}, "a.toml:2:1: syntax"},
		{Diagnostic{Key: "-root", Msg: "bad"}, "-root: bad"},
	}
	for _, c := range cases {
		if got := c.d.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
	l := ErrorList{cases[0].d, cases[1].d}
	if got := l.Error(); got != cases[0].want+"\n"+cases[1].want {
		t.Errorf("Error() = %q", got)
	}
}

func TestParseWithoutPathResolvesAgainstWorkingDir(t *testing.T) {
	dir := newSite(t)
	t.Chdir(dir)
	cfg, err := Parse("", []byte("[[listener]]\nname = \"w\"\naddress = \":0\"\n[[vhost]]\ndefault = true\nroot = \"site\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != "" || cfg.Vhosts[0].Root != filepath.Join(dir, "site") {
		t.Errorf("File = %q, Root = %q", cfg.File, cfg.Vhosts[0].Root)
	}
	_, err = Parse("", []byte("nope"))
	if err == nil || !strings.HasPrefix(err.Error(), "<config>:") {
		t.Errorf("err = %v, want it to name <config>", err)
	}
}

// A file the config names more than once (a page for two statuses, a page
// that is also a template) is read once, so every use of it in a snapshot
// is the same version of it, and that version is what the hash covers.
func TestFileNamedTwiceIsReadOnceAndItsBytesHashed(t *testing.T) {
	const src = `
[server.error_pages]
400 = "tmpl/ok.html"
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
hosts = ["example.com"]
[vhost.paths]
"/t" = { file = "tmpl/ok.html", template = true }
[vhost.error_pages]
404 = "tmpl/ok.html"
500 = "errors/500.html"
`
	cfg, dir := mustLoad(t, src)
	server, site := cfg.Server.ErrorPages[400].Body, cfg.Vhosts[0].ErrorPages[404].Body
	if string(server) != siteFiles["tmpl/ok.html"] || &server[0] != &site[0] {
		t.Errorf("the file named twice was read twice: %q at %p and %q at %p", server, server, site, site)
	}
	if b := cfg.Vhosts[0].ErrorPages.Bodies(); len(b) != 2 || string(b[500]) != "oops" {
		t.Errorf("Bodies() = %v", b)
	}
	path := filepath.Join(dir, "site.toml")
	reload := func() [32]byte {
		t.Helper()
		c, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return c.Hash
	}
	if err := os.WriteFile(filepath.Join(dir, "errors", "500.html"), []byte("oops!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if reload() == cfg.Hash {
		t.Error("hash did not change with an error page's contents")
	}
	if err := os.WriteFile(filepath.Join(dir, "errors", "500.html"), []byte("oops"), 0o644); err != nil {
		t.Fatal(err)
	}
	if reload() != cfg.Hash {
		t.Error("the same bytes hash differently")
	}
}
