package vhost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/internal/testkit"
)

// build writes files (name -> content) and site.toml into a fresh directory,
// loads the config the way the server does and builds its tables.
func build(t testing.TB, files map[string]string, toml string) map[string]*Table {
	t.Helper()
	tables, _ := buildLogged(t, files, toml, nil)
	return tables
}

// buildLogged is build with log told what the sites notice, and returns
// the directory too.
func buildLogged(t testing.TB, files map[string]string, toml string, log Logger) (map[string]*Table, string) {
	t.Helper()
	dir := testkit.Tree(t, files)
	testkit.WriteTree(t, dir, map[string]string{"site.toml": toml})
	cfg, err := config.Load(filepath.Join(dir, "site.toml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	routes, err := Build(cfg, Options{Log: log})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Cleanup(func() {
		if err := routes.Close(); err != nil {
			t.Errorf("closing the routes: %v", err)
		}
	})
	return routes.Tables, dir
}

// writeFiles writes files (name -> content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var routingFiles = map[string]string{"www/index.html": "hi"}

const routingConfig = `
[[listener]]
name = "web"
address = "127.0.0.1:18080"

[[listener]]
name = "alt"
address = "127.0.0.1:18081"

[[listener]]
name = "unused"
address = "127.0.0.1:18082"

[[vhost]]
hosts = ["example.com", "www.example.com"]
listeners = ["web"]
root = "www"

[[vhost]]
hosts = ["*.example.org"]
listeners = ["web"]
root = "www"

[[vhost]]
hosts = ["*.b.example.org"]
listeners = ["web"]
root = "www"

[[vhost]]
hosts = ["a.example.org"]
listeners = ["web"]
root = "www"

[[vhost]]
default = true
listeners = ["web"]
root = "www"

[[vhost]]
hosts = ["alt.example", "example.com"]
listeners = ["alt"]
root = "www"
`

// Host matching is case-insensitive and ignores the port and a trailing
// dot, as the Host field allows all three; an exact name beats a wildcard;
// among wildcards the longest suffix wins; *.example.org matches
// a.example.org and a.b.example.org, not example.org; no match goes to the
// listener's default.
func TestHostRoutesToTheExactNameElseTheLongestWildcardElseTheDefault(t *testing.T) {
	web := build(t, routingFiles, routingConfig)["web"]
	tests := []struct{ host, site string }{
		{"example.com", "example.com"},
		{"EXAMPLE.Com", "example.com"},
		{"www.example.com", "example.com"},
		{"example.com:8080", "example.com"},
		{"example.com.", "example.com"},
		{"Example.COM.:443", "example.com"},
		{"example.com:", "example.com"},
		// Wildcards.
		{"x.example.org", "*.example.org"},
		{"x.y.example.org", "*.example.org"},
		{"X.Example.Org:81", "*.example.org"},
		{"example.org", "default"},
		{"xexample.org", "default"},
		// Exact beats wildcard.
		{"a.example.org", "a.example.org"},
		{"A.EXAMPLE.ORG.", "a.example.org"},
		// Longest suffix wins.
		{"x.b.example.org", "*.b.example.org"},
		{"x.y.b.example.org", "*.b.example.org"},
		{"b.example.org", "*.example.org"},
		// Everything else: the default.
		{"", "default"},
		{"unknown.test", "default"},
		{"127.0.0.1:18080", "default"},
		{"[::1]:18080", "default"},
		{"[::1]", "default"},
		{"com", "default"},
		{"example.com..", "default"},
		{strings.Repeat("a.", 200) + "example.com", "default"},
	}
	for _, tt := range tests {
		s, ok := web.Lookup([]byte(tt.host))
		if !ok {
			t.Errorf("%q: no site, want %s", tt.host, tt.site)
			continue
		}
		if s.Name != tt.site {
			t.Errorf("%q: routed to %s, want %s", tt.host, s.Name, tt.site)
		}
	}
}

// With no default on the listener, a host that matches no vhost gets 421
// Misdirected Request, which Lookup reports as false. Each
// listener has its own table: example.com is a different site on "alt",
// and the other "web" sites are not served there.
func TestUnmatchedHostOnAListenerWithoutDefaultIsMisdirected_RFC9110_15_5_20(t *testing.T) {
	tables := build(t, routingFiles, routingConfig)
	alt := tables["alt"]
	for host, want := range map[string]string{"alt.example": "alt.example", "EXAMPLE.COM:18081": "alt.example"} {
		if s, ok := alt.Lookup([]byte(host)); !ok || s.Name != want {
			t.Errorf("alt %q: %v %v, want %s", host, s, ok, want)
		}
	}
	webSite, _ := tables["web"].Lookup([]byte("example.com"))
	altSite, _ := alt.Lookup([]byte("example.com"))
	if webSite == altSite {
		t.Error("example.com is the same site on both listeners")
	}
	for _, host := range []string{"a.example.org", "x.example.org", "www.example.com", "", "other"} {
		if s, ok := alt.Lookup([]byte(host)); ok {
			t.Errorf("alt %q: routed to %s, want 421", host, s.Name)
		}
	}
	// A listener no vhost is on has a table that refuses everything.
	if unused := tables["unused"]; unused == nil {
		t.Error("no table for the unused listener")
	} else if _, ok := unused.Lookup([]byte("example.com")); ok {
		t.Error("unused listener routed a request")
	}
	if len(tables) != 3 {
		t.Errorf("%d tables, want one per listener", len(tables))
	}
}

// A vhost's listeners key is optional: without it the vhost is on every
// listener, so a one-site config need not name its listener twice.
func TestVhostWithoutListenersIsOnEveryListener(t *testing.T) {
	tables := build(t, routingFiles, `
[[listener]]
name = "a"
address = "127.0.0.1:18080"
[[listener]]
name = "b"
address = "127.0.0.1:18081"
[[vhost]]
hosts = ["example.com"]
root = "www"
`)
	sa, okA := tables["a"].Lookup([]byte("example.com"))
	sb, okB := tables["b"].Lookup([]byte("example.com"))
	if !okA || !okB || sa != sb {
		t.Errorf("a: %v %v, b: %v %v; want the same site on both", sa, okA, sb, okB)
	}
}

// Route runs for every request: it must not allocate, whatever the host.
func TestRouteDoesNotAllocate(t *testing.T) {
	web := build(t, routingFiles, routingConfig)["web"]
	hosts := [][]byte{
		[]byte("Example.COM:8080"), []byte("x.y.b.example.org."), []byte("unknown.test"),
		[]byte(""), []byte("[::1]:80"), []byte(strings.Repeat("a", 300)),
	}
	for _, h := range hosts {
		if n := testing.AllocsPerRun(100, func() { web.Lookup(h) }); n != 0 {
			t.Errorf("Route(%q): %v allocs, want 0", h, n)
		}
	}
}

func BenchmarkRoute(b *testing.B) {
	t := &Table{exact: map[string]*Site{"example.com": {Name: "example.com"}}, wildcard: map[string]*Site{"example.org": {Name: "*.example.org"}}}
	for _, host := range []string{"example.com", "Www.Deep.Example.Org:8080"} {
		b.Run(host, func(b *testing.B) {
			h := []byte(host)
			b.ReportAllocs()
			for b.Loop() {
				t.Lookup(h)
			}
		})
	}
}

// The host normalisation, on its own.
func TestNormalizeLowercasesAndDropsThePortAndTrailingDot(t *testing.T) {
	tests := []struct {
		in, out string
		ok      bool
	}{
		{"Example.COM", "example.com", true},
		{"example.com:80", "example.com", true},
		{"example.com.:80", "example.com", true},
		{"[::1]:80", "[::1]", true},
		{"[::1", "[::1", true},
		{"a:b", "a:b", true},
		{".", "", true},
		{strings.Repeat("a", 253), strings.Repeat("a", 253), true},
		{strings.Repeat("a", 253) + ".:8080", strings.Repeat("a", 253), true},
		{strings.Repeat("a", 254), "", false},
	}
	for _, tt := range tests {
		var buf [maxHost]byte
		got, ok := normalize(&buf, []byte(tt.in))
		if string(got) != tt.out || ok != tt.ok {
			t.Errorf("normalize(%q) = %q %v, want %q %v", tt.in, got, ok, tt.out, tt.ok)
		}
	}
}
