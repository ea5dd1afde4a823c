package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/internal/testkit"
)

// These tests read the one line each reload logs, and check the [server]
// settings that switch live with it.

// reloadSite is a config with the site a.test on listener web, plus the
// [server] keys in extra (line 4 on), access_log "off" unless extra says.
func reloadSite(web, extra string) string {
	if !strings.Contains(extra, "access_log =") {
		extra = "access_log = \"off\"\n" + extra
	}
	return fmt.Sprintf(`[server]
shutdown_timeout = "500ms"
log_format = "json"
%s
[[listener]]
name = "web"
address = %q

[[vhost]]
hosts = ["a.test"]
default = true
root = "www"
`, extra, web)
}

// startReload starts the server in-process on conf (reload by a.reload,
// no watcher) with its log lines in a buffer.
func startReload(t *testing.T, conf string) (*Server, *testkit.SyncBuffer) {
	t.Helper()
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	a, err := Start(cfg, Options{Reload: func() (*config.Config, error) { return config.Load(conf) }, Log: logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.shutdown(os.Interrupt, nil) })
	return a, logs
}

// lastLine decodes the last JSON log line.
func lastLine(t *testing.T, logs *testkit.SyncBuffer) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("last log line is not JSON (%v): %s", err, lines[len(lines)-1])
	}
	return m
}

func strs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func TestReloadLogsWhatChanged(t *testing.T) {
	dir := t.TempDir()
	web, extra := testkit.FreeAddr(t), testkit.FreeAddr(t)
	testkit.WriteTree(t, dir, map[string]string{"www/index.html": "hi"})
	conf := filepath.Join(dir, "site.toml")
	testkit.WriteTree(t, dir, map[string]string{"site.toml": reloadSite(web, "") + `
[[vhost]]
hosts = ["old.test"]
root = "www"
`})
	a, logs := startReload(t, conf)
	started := shortHash(a.cfg)

	testkit.WriteTree(t, dir, map[string]string{"site.toml": reloadSite(web, "idle_timeout = \"5s\"\nmax_connections = 50\n") + fmt.Sprintf(`
[[listener]]
name = "extra"
address = %q

[[vhost]]
hosts = ["new.test", "www.new.test"]
root = "www"
`, extra)})
	a.Reload("test")
	m := lastLine(t, logs)
	if m["level"] != "warn" || !strings.HasPrefix(fmt.Sprint(m["msg"]), "reloaded") {
		t.Fatalf("want a warning that reloaded: %v", m)
	}
	checks := map[string]string{
		"trigger":           "[test]",
		"sites_added":       "[new.test]",
		"sites_removed":     "[old.test]",
		"sites_kept":        "[a.test]",
		"listeners_added":   "[extra=" + extra + "]",
		"listeners_removed": "[]",
		"listeners_kept":    "[web=" + web + "]",
		"server_changed":    "[idle_timeout]",
		"restart_needed":    "[max_connections: 10000 until a restart, the file says 50]",
	}
	for key, want := range checks {
		got := m[key]
		if s, ok := got.(string); ok {
			got = []string{s}
		} else {
			got = strs(got)
		}
		if fmt.Sprint(got) != want {
			t.Errorf("%s = %v, want %s", key, got, want)
		}
	}
	if m["hash"] == started || m["took"] == nil {
		t.Errorf("hash %v (started as %s), took %v", m["hash"], started, m["took"])
	}

	// Back: the extra listener goes, and max_connections still needs the
	// restart only when the file differs from what runs.
	testkit.WriteTree(t, dir, map[string]string{"site.toml": reloadSite(web, "")})
	a.Reload("test")
	m = lastLine(t, logs)
	if m["level"] != "info" || fmt.Sprint(strs(m["listeners_removed"])) != "[extra="+extra+"]" || m["restart_needed"] != nil {
		t.Errorf("second reload: %v", m)
	}

	// Only a comment changed: skipped, and said so.
	testkit.WriteTree(t, dir, map[string]string{"site.toml": "# a comment\n" + reloadSite(web, "")})
	a.Reload("test")
	if m = lastLine(t, logs); m["msg"] != "reload skipped: config unchanged" {
		t.Errorf("comment-only change: %v", m)
	}
}

func TestReloadFailureSaysWhereAndWhatServes(t *testing.T) {
	dir := t.TempDir()
	web := testkit.FreeAddr(t)
	testkit.WriteTree(t, dir, map[string]string{"www/index.html": "hi", "site.toml": reloadSite(web, "")})
	conf := filepath.Join(dir, "site.toml")
	a, logs := startReload(t, conf)
	serving, since := shortHash(a.cfg), a.loadedAt.Format("2006-01-02T15:04:05.000Z0700") // zap's ISO8601

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, c := range []struct{ name, text, want string }{
		{"typo", strings.Replace(reloadSite(web, ""), "hosts", "hots", 1), conf + ":11:1: vhost[0].hots: unknown key"},
		{"port taken", reloadSite(web, "") + fmt.Sprintf("\n[[listener]]\nname = \"x\"\naddress = %q\n", taken.Addr()),
			conf + ":17:11: listener[1].address: cannot listen on " + taken.Addr().String()},
	} {
		testkit.WriteTree(t, dir, map[string]string{"site.toml": c.text})
		a.Reload("test")
		m := lastLine(t, logs)
		errs := strs(m["errors"])
		if m["level"] != "error" || len(errs) == 0 || !strings.HasPrefix(errs[0], c.want) {
			t.Errorf("%s: errors %q, want one starting %q", c.name, errs, c.want)
		}
		if m["serving"] != serving || m["serving_since"] != since {
			t.Errorf("%s: serving %v since %v, want %s since %s", c.name, m["serving"], m["serving_since"], serving, since)
		}
		if code, _ := testkit.Get(t, web, "a.test", "/"); code != 200 {
			t.Errorf("%s: the old config stopped serving: %d", c.name, code)
		}
	}
}

func TestReloadErrorsArePlaced(t *testing.T) {
	// An access log that config checked but that still cannot be opened
	// (it changed in between) is reported at its key.
	dir := t.TempDir()
	testkit.WriteTree(t, dir, map[string]string{"www/index.html": "hi", "site.toml": reloadSite("127.0.0.1:0", `access_log = "x.log"`)})
	cfg, err := config.Load(filepath.Join(dir, "site.toml"))
	if err != nil {
		t.Fatal(err)
	}
	got := describe(&placedError{key: []any{"server", "access_log"}, err: errors.New("cannot open the access log: boom")}, cfg)
	if want := cfg.File + ":4:14: server.access_log: cannot open the access log: boom"; len(got) != 1 || got[0] != want {
		t.Errorf("got %q, want %q", got, want)
	}
	got = describe(errors.New("vhost[0]: root: gone"), cfg)
	if want := cfg.File + ": vhost[0]: root: gone"; len(got) != 1 || got[0] != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReloadSwitchesLogsLive(t *testing.T) {
	dir := t.TempDir()
	web := testkit.FreeAddr(t)
	testkit.WriteTree(t, dir, map[string]string{"www/index.html": "hi", "site.toml": reloadSite(web, "")})
	conf := filepath.Join(dir, "site.toml")
	a, logs := startReload(t, conf)

	// access_log off -> a file: requests are logged there at once.
	first := filepath.Join(dir, "first.log")
	testkit.WriteTree(t, dir, map[string]string{"site.toml": reloadSite(web, fmt.Sprintf("access_log = %q", first))})
	a.Reload("test")
	testkit.Get(t, web, "a.test", "/one")
	testkit.WaitForLine(t, first, `"target":"/one"`)

	// Another file and format, and console log lines: the next request
	// goes to the new file as a combined line, the first file is closed
	// after shutdown_timeout, and the log speaks console.
	second := filepath.Join(dir, "second.log")
	testkit.WriteTree(t, dir, map[string]string{"site.toml": strings.Replace(
		reloadSite(web, fmt.Sprintf("access_log = %q\naccess_log_format = \"combined\"", second)),
		`log_format = "json"`, `log_format = "console"`, 1)})
	a.Reload("test")
	testkit.Get(t, web, "a.test", "/two")
	testkit.WaitForLine(t, second, `"GET /two HTTP/1.1" 404`)
	if data, err := os.ReadFile(first); err != nil {
		t.Fatal(err)
	} else if strings.Contains(string(data), "/two") {
		t.Errorf("a request after the switch went to the old access log")
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "\tINFO\treloaded\t") || !strings.Contains(last, `"server_changed": ["log_format", "access_log", "access_log_format"]`) {
		t.Errorf("the reload line is not in the new console format: %s", last)
	}
	// No request uses the old snapshot any more, so its access log closes
	// as soon as the reload retires it: only the new one stays open.
	deadline := time.Now().Add(2 * time.Second)
	for {
		a.accessMu.Lock()
		open := len(a.accessUsers)
		a.accessMu.Unlock()
		if open == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d access logs open, want only the new one", open)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// log_level = "error": info lines stop, errors still come.
	testkit.WriteTree(t, dir, map[string]string{"site.toml": reloadSite(web, `log_level = "error"`)})
	a.Reload("test")
	before := logs.String()
	testkit.WriteTree(t, dir, map[string]string{"site.toml": "# a comment\n" + reloadSite(web, `log_level = "error"`)})
	a.Reload("test") // skipped: an info line
	if logs.String() != before {
		t.Errorf("an info line at log_level error: %s", strings.TrimPrefix(logs.String(), before))
	}
	testkit.WriteTree(t, dir, map[string]string{"site.toml": "broken = "})
	a.Reload("test")
	if !strings.Contains(strings.TrimPrefix(logs.String(), before), "reload failed") {
		t.Errorf("the failure was not logged at log_level error")
	}
}

func TestReloadsAreSerialized(t *testing.T) {
	// SIGHUP, the watcher and anyone else may ask for reloads at once;
	// they run one at a time and the last one wins.
	dir := t.TempDir()
	web := testkit.FreeAddr(t)
	testkit.WriteTree(t, dir, map[string]string{"www/index.html": "one", "www2/index.html": "two"})
	testkit.WriteTree(t, dir, map[string]string{
		"one.toml": reloadSite(web, ""),
		"two.toml": strings.Replace(reloadSite(web, ""), `"www"`, `"www2"`, 1),
	})
	cfg, err := config.Load(filepath.Join(dir, "one.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	a, err := Start(cfg, Options{Reload: func() (*config.Config, error) {
		mu.Lock()
		n++
		name := []string{"one.toml", "two.toml"}[n%2]
		mu.Unlock()
		return config.Load(filepath.Join(dir, name))
	}, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.shutdown(os.Interrupt, nil) })
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				a.Reload("test")
			}
		}()
	}
	wg.Wait()
	_, body := testkit.Get(t, web, "a.test", "/")
	want := map[string]string{"one.toml": "one", "two.toml": "two"}[filepath.Base(a.cfg.File)]
	if body != want {
		t.Fatalf("serving %q, but the app thinks %s is loaded", body, a.cfg.File)
	}
}
