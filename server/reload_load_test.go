package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/internal/testkit"
)

// Hot reload is only worth having if no client notices it. Clients keep
// sending requests, on keep-alive connections and on a new connection each,
// while the config is rewritten 50 times, alternating between two valid
// versions and saved by rename, by truncate-and-write and by a ConfigMap
// symlink swap in turn, with broken versions (syntax, unknown key, missing
// root, bad template, empty file, a port that cannot be bound) in between.
// No request may fail, no connection may be refused or cut, every answer
// must come from one of the two versions, and after the last write the last
// valid version must be serving.
func TestReloadUnderLoadFailsNoRequestAndEndsOnTheLastValidVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("the reload load test takes ~15 s")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "site.toml")
	web, extra := testkit.FreeAddr(t), testkit.FreeAddr(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	testkit.WriteTree(t, dir, map[string]string{
		"wwwA/index.html": "version A\n",
		"wwwB/index.html": "version B\n",
		"bad.tmpl":        "{{ .Oops ",
	})
	// A: one site on one listener, no access log, console log lines.
	versionA := fmt.Sprintf(`[server]
access_log = "off"
shutdown_timeout = "2s"

[[listener]]
name = "web"
address = %q

[[vhost]]
hosts = ["a.test"]
default = true
root = "wwwA"
`, web)
	// B: a second site and listener, an access log, JSON log lines.
	versionB := func(extraAddr string) string {
		return fmt.Sprintf(`[server]
access_log = "access.log"
access_log_format = "combined"
log_format = "json"
shutdown_timeout = "2s"

[[listener]]
name = "web"
address = %q

[[listener]]
name = "extra"
address = %q

[[vhost]]
hosts = ["a.test"]
listeners = ["web"]
default = true
root = "wwwB"

[[vhost]]
hosts = ["b.test"]
root = "wwwB"
`, web, extraAddr)
	}
	valid := []struct{ text, body string }{
		{versionB(extra), "version B\n"},
		{versionA, "version A\n"},
	}
	invalid := []struct{ name, text, want string }{
		{"syntax", strings.Replace(versionA, `root = "wwwA"`, `root = "wwwA`, 1), `site.toml:12:`},
		{"unknown key", strings.Replace(versionA, "root =", "rooot =", 1), `site.toml:12:1: vhost[0].rooot`},
		{"missing root", strings.Replace(versionA, `"wwwA"`, `"wwwZ"`, 1), `site.toml:12:8: vhost[0].root`},
		{"template", versionA + "\n[vhost.paths]\n\"/t\" = { file = \"bad.tmpl\", template = true }\n", `site.toml:15:`},
		{"port taken", versionB(taken.Addr().String()), `site.toml:13:11: listener[1].address: cannot listen on ` + taken.Addr().String()},
		{"empty", "", `site.toml`},
	}
	testkit.WriteTree(t, dir, map[string]string{"site.toml": versionA})

	live := runApp(t, conf, config.DefaultDebounce)
	addr := live.addr(t, web)
	bodies := map[string]bool{"version A\n": true, "version B\n": true}

	// The clients.
	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		answers  atomic.Int64
		failures atomic.Int64
		errMu    sync.Mutex
		errs     []string
	)
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 10 {
			errMu.Lock()
			errs = append(errs, fmt.Sprintf(format, args...))
			errMu.Unlock()
		}
	}
	const request = "GET / HTTP/1.1\r\nHost: a.test\r\nUser-Agent: reload-test\r\n\r\n"
	// check reads one response and reports its body, or fails.
	// check reads one answer; closed says the server ended the connection
	// after it (max_requests_per_connection), as it may.
	check := func(who string, br *bufio.Reader) (got string, closed, ok bool) {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			fail("%s: reading the response: %v", who, err)
			return "", false, false
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			fail("%s: reading the body: %v", who, err)
			return "", false, false
		case resp.StatusCode != 200 || !bodies[string(body)]:
			fail("%s: %d %q belongs to no valid version", who, resp.StatusCode, body)
			return "", false, false
		}
		answers.Add(1)
		return string(body), resp.Close, true
	}
	keepAliveSaw := make([]map[string]int, 3)
	for i := range keepAliveSaw {
		keepAliveSaw[i] = map[string]int{}
		wg.Add(1)
		go func() { // one connection until the server ends it
			defer wg.Done()
			who := fmt.Sprintf("keep-alive client %d", i)
			var nc net.Conn
			var br *bufio.Reader
			defer func() {
				if nc != nil {
					nc.Close()
				}
			}()
			for {
				if nc == nil {
					var err error
					if nc, err = net.Dial("tcp", addr); err != nil {
						fail("%s: dial: %v", who, err)
						return
					}
					br = bufio.NewReader(nc)
				}
				select {
				case <-stop:
					return
				default:
				}
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(nc, request); err != nil {
					fail("%s: write: %v", who, err)
					return
				}
				body, closed, ok := check(who, br)
				if !ok {
					return
				}
				keepAliveSaw[i][body]++
				if closed {
					nc.Close()
					nc = nil
				}
			}
		}()
	}
	for i := range 3 {
		wg.Add(1)
		go func() { // a new connection for every request
			defer wg.Done()
			who := fmt.Sprintf("new-connection client %d", i)
			for {
				select {
				case <-stop:
					return
				default:
				}
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					fail("%s: dial: %v", who, err)
					continue
				}
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(nc, strings.Replace(request, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)); err != nil {
					fail("%s: write: %v", who, err)
				} else {
					check(who, bufio.NewReader(nc))
				}
				nc.Close()
			}
		}()
	}

	// serving polls until the server answers want to a new request.
	serving := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, body := testkit.Get(t, addr, "a.test", "/"); body == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("still not serving %q; log:\n%s", want, live.logs)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	s := &testkit.Saver{T: t, Path: conf}
	began := time.Now()
	writes, lastValid := 0, ""
	nextMethod := func() string { writes++; return testkit.SaveMethods[writes%len(testkit.SaveMethods)] }
	breakIt := func(k int) {
		t.Helper()
		bad := invalid[k%len(invalid)]
		failed := live.count("reload failed")
		s.Save(nextMethod(), bad.text)
		line := live.waitLog(t, "reload failed", failed)
		if !strings.Contains(line, bad.want) {
			t.Errorf("%s: the failure does not say %q:\n%s", bad.name, bad.want, line)
		}
		if !strings.Contains(line, "serving") {
			t.Errorf("%s: the failure does not say which config serves:\n%s", bad.name, line)
		}
		// The previous version keeps serving.
		if _, body := testkit.Get(t, addr, "a.test", "/"); body != lastValid {
			t.Errorf("%s: after a failed reload the server answers %q, want %q", bad.name, body, lastValid)
		}
	}
	for i := range 50 {
		v := valid[i%2]
		s.Save(nextMethod(), v.text)
		serving(v.body)
		lastValid = v.body
		if i%4 == 1 {
			breakIt(i / 4)
		}
	}
	breakIt(4) // the last write is the unbindable port
	rewriting := time.Since(began)
	time.Sleep(2 * config.DefaultDebounce)
	close(stop)
	wg.Wait()

	for _, e := range errs {
		t.Error(e)
	}
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d failed requests or connections (of %d answered)", n, answers.Load())
	}
	for i, saw := range keepAliveSaw {
		if saw["version A\n"] == 0 || saw["version B\n"] == 0 {
			t.Errorf("keep-alive client %d never saw the config switch on its connection: %v", i, saw)
		}
	}
	if _, body := testkit.Get(t, addr, "a.test", "/"); body != lastValid {
		t.Errorf("after the last write the server answers %q, want the last valid version %q", body, lastValid)
	}
	if got := live.count(`reloaded`); got != 50 {
		t.Errorf("%d successful reloads logged, want 50:\n%s", got, live.logs)
	}
	stamp := regexp.MustCompile(`"took": ?"[0-9.]+[µmn]?s"`)
	for _, line := range strings.Split(live.logs.String(), "\n") {
		if strings.Contains(line, "reload") && !stamp.MatchString(line) {
			t.Errorf("a reload line without its duration: %s", line)
		}
	}
	t.Logf("%d answers, 0 failures; %d writes (%d invalid) in %v", answers.Load(), writes, writes-50, rewriting.Round(time.Millisecond))
}
