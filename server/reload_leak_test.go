package server

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/internal/testkit"
)

// TestReloadDoesNotLeak reloads a running server 1000 times between two
// configs that differ in everything a reload rebuilds: sites (each with a
// static root, an os.Root holding a directory descriptor), a template,
// error pages, one listener swapped for another, the access log file and
// format, the log format, a reverse proxy with its pool and health
// checks, while clients keep requesting. After a settle,
// the process has as many goroutines and open file descriptors as after
// the first reload.
//
// Each snapshot's resources are closed by the request that last used it,
// so this holds without the garbage collector: the test turns it off, so
// that no finalizer can close what the server forgot to.
func TestReloadDoesNotLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 reloads")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	dir := t.TempDir()
	web, secure, extraA, extraB := testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t)
	testkit.WriteTree(t, dir, map[string]string{
		"www1/index.html": "one",
		"www2/index.html": "two",
		"www3/index.html": "three",
		"hello.tmpl":      "hello {{.Host}}",
		"404.html":        "not here",
	})
	// Each snapshot watches its certificate files; the watchers must close
	// with it.
	testkit.WriteCert(t, dir, "site", "a.test", "b.test", "c.test")
	// And each has a proxy pool and a health checker, which must close
	// with it too.
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "backend")
	}))
	defer backend.Close()
	site := func(sites [2]string, extra, access, format, logFormat string) string {
		return fmt.Sprintf(`[server]
access_log = %q
access_log_format = %q
log_format = %q
shutdown_timeout = "100ms"

[[listener]]
name = "web"
address = %q

[[listener]]
name = "extra"
address = %q

[[listener]]
name = "secure"
address = %q
tls = true

[[vhost]]
hosts = ["a.test"]
default = true
root = "www1"

[vhost.tls]
cert = "site.pem"
key = "site.key"

[vhost.paths]
"/hello" = { file = "hello.tmpl", template = true }

[vhost.error_pages]
404 = "404.html"

[[vhost.proxy]]
path = "/api/*"
to = [%q]
health_path = "/healthz"

[[vhost]]
hosts = [%q]
root = %q

[vhost.tls]
cert = "site.pem"
key = "site.key"
`, access, format, logFormat, web, extra, secure, backend.URL, sites[0], sites[1])
	}
	testkit.WriteTree(t, dir, map[string]string{
		"a.toml": site([2]string{"c.test", "www2"}, extraA, filepath.Join(dir, "a.log"), "json", "console"),
		"b.toml": site([2]string{"b.test", "www3"}, extraB, filepath.Join(dir, "b.log"), "combined", "json"),
	})
	files := []string{filepath.Join(dir, "a.toml"), filepath.Join(dir, "b.toml")}
	cfg, err := config.Load(files[0])
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	n := 0
	a, err := Start(cfg, Options{Reload: func() (*config.Config, error) {
		n++
		return config.Load(files[n%2])
	}, Log: logs})
	if err != nil {
		t.Fatal(err)
	}
	defer a.shutdown(os.Interrupt, nil)
	addr := a.sup.Addrs()[web].String()
	secureAddr := a.sup.Addrs()[secure].String()

	// A keep-alive client that stays connected through every reload, and
	// a request on a new connection now and then.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	ask := func(path string) string {
		t.Helper()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: a.test\r\n\r\n", path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("keep-alive request after %d reloads: %v", n, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(body)
	}
	reload := func() {
		t.Helper()
		before := strings.Count(logs.String(), "\n")
		a.Reload("test")
		if out := logs.String(); strings.Count(out, "\n") != before+1 || !strings.Contains(out[strings.LastIndex(out[:len(out)-1], "\n")+1:], "reloaded") {
			t.Fatalf("reload %d did not log one successful reload:\n%s", n, out[max(0, len(out)-2000):])
		}
	}

	reload()
	ask("/hello")
	// The snapshot in use keeps one idle connection to the backend (two
	// descriptors in this process, with the backend's end), at the start
	// as at the end.
	ask("/api/x")
	g0, fd0 := settle(t, 0, 0)
	peak := fd0

	// The load: keep-alive clients asking all along, each request holding
	// the snapshot it started with while reloads replace it.
	stop := make(chan struct{})
	var load sync.WaitGroup
	failures := make(chan string, 16)
	for i := 0; i < 3; i++ {
		load.Add(1)
		go func() {
			defer load.Done()
			keepAliveLoad(addr, stop, failures)
		}()
	}
	for i := 1; i <= 1000; i++ {
		reload()
		if i%50 == 0 {
			if got := ask("/hello"); got != "hello a.test" {
				t.Fatalf("after %d reloads: %q", i, got)
			}
			if _, body := testkit.Get(t, addr, "a.test", "/"); body != "one" {
				t.Fatalf("after %d reloads: %q", i, body)
			}
			if got := ask("/api/x"); got != "backend" {
				t.Fatalf("proxied after %d reloads: %q", i, got)
			}
			tc, err := tls.Dial("tcp", secureAddr, &tls.Config{ServerName: "a.test", RootCAs: testkit.TestCA(t).Pool})
			if err != nil {
				t.Fatalf("HTTPS after %d reloads: %v", i, err)
			}
			if _, body := get(t, tc, "a.test", "/"); body != "one" {
				t.Fatalf("HTTPS after %d reloads: %q", i, body)
			}
			tc.Close()
			peak = max(peak, openFDs(t))
		}
	}
	close(stop)
	load.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	g, fd := settle(t, g0, fd0)
	t.Logf("after the first reload: %d goroutines, %d fds; after 1000 more: %d goroutines, %d fds (at most %d fds open while reloading)", g0, fd0, g, fd, peak)
	if g > g0+2 || fd > fd0 {
		t.Fatalf("leak: goroutines %d -> %d, fds %d -> %d", g0, g, fd0, fd)
	}
}

// settle lets drains finish (shutdown_timeout is 100ms) and counts
// goroutines and descriptors. With a baseline, it waits until the counts
// come down to it, for at most a few seconds.
func settle(t *testing.T, g0, fd0 int) (g, fd int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		// testkit.Get's pooled keep-alive connection is the client's, not
		// a leak.
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		time.Sleep(300 * time.Millisecond)
		g, fd = runtime.NumGoroutine(), openFDs(t)
		if g0 == 0 || (g <= g0+2 && fd <= fd0) || time.Now().After(deadline) {
			return g, fd
		}
	}
}

// keepAliveLoad asks for "/" of a.test on one keep-alive connection after
// another until stop, reporting any answer that is not the site's.
func keepAliveLoad(addr string, stop <-chan struct{}, failures chan<- string) {
	report := func(f string) {
		select {
		case failures <- f:
		default:
		}
	}
	for {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			report(fmt.Sprintf("load: dial: %v", err))
			return
		}
		br := bufio.NewReader(nc)
		for i := 0; i < 100; i++ {
			select {
			case <-stop:
				nc.Close()
				return
			default:
			}
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				report(fmt.Sprintf("load: %v", err))
				nc.Close()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "one" {
				report(fmt.Sprintf("load: %d %q", resp.StatusCode, body))
			}
		}
		nc.Close()
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(entries)
}
