// Package testkit holds what the tests of several packages share: a
// buffer that a server's log and a test can use at once, file trees
// written in one call, free loopback addresses, a test CA, pebble, a
// local ACME CA, and h2spec, the HTTP/2 conformance tester. Nothing
// outside tests imports it.
package testkit

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer safe for a server's output and a test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Count is how many lines contain sub.
func (s *SyncBuffer) Count(sub string) int {
	n := 0
	for _, line := range strings.Split(s.String(), "\n") {
		if strings.Contains(line, sub) {
			n++
		}
	}
	return n
}

// WaitCount waits up to 5 s until at least n lines contain sub and returns
// how many do. A change is logged after it takes effect, so a test that
// has seen the effect must still wait for the line.
func (s *SyncBuffer) WaitCount(t testing.TB, sub string, n int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := s.Count(sub)
		if got >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines with %q, want %d:\n%s", got, sub, n, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WriteTree creates files under dir: path (slash-separated) -> content. A
// path ending in "/" is a directory; content starting with "->" makes a
// symlink to the rest. Parent directories are created as needed.
func WriteTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// WriteTreeAt is WriteTree with every file and directory that files names
// dated mtime. The dates are set once everything is written, since
// creating a file moves its directory's date; a symlink's target keeps its
// own.
func WriteTreeAt(t testing.TB, dir string, files map[string]string, mtime time.Time) {
	t.Helper()
	WriteTree(t, dir, files)
	for name, content := range files {
		if strings.HasPrefix(content, "->") {
			continue
		}
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(name)), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// Tree is WriteTree into a new temporary directory, which it returns.
func Tree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	WriteTree(t, dir, files)
	return dir
}

// Get asks addr for path with the given Host, following no redirect, and
// returns the status and body.
func Get(t testing.TB, addr, host, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := (&http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// WaitForLine waits up to 5 s until the file at path has a line
// containing want.
func WaitForLine(t testing.TB, path, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if data, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if strings.Contains(line, want) {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never got %q", path, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WriteSite writes a one-site config listening on addr, whose root www/
// serves body as its index, with the access log off; it returns the
// config's path.
func WriteSite(t testing.TB, dir, addr, body string) string {
	t.Helper()
	WriteTree(t, dir, map[string]string{"www/index.html": body, "site.toml": `
[server]
access_log = "off"
shutdown_timeout = "5s"

[[listener]]
name = "web"
address = "` + addr + `"

[[vhost]]
hosts = ["example.test"]
default = true
root = "www"
`})
	return filepath.Join(dir, "site.toml")
}
