package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moreweb/moreweb/config"
)

// Helpers for the hot-reload tests: a server running in-process exactly
// as main runs it (start, the watcher, the serve loop), and the ways users
// and deployments rewrite a config file.

// liveApp is moreweb running in-process on the config file conf.
type liveApp struct {
	a       *app
	conf    string
	logs    *syncBuffer
	signals chan os.Signal
	exited  chan int
}

// runApp starts the server on conf with its watcher and serve loop, as
// main does, and stops it (SIGTERM) when the test ends.
func runApp(t *testing.T, conf string, debounce time.Duration) *liveApp {
	t.Helper()
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	l := &liveApp{conf: conf, logs: &syncBuffer{}, signals: make(chan os.Signal, 1), exited: make(chan int, 1)}
	l.a, err = start(cfg, reloadFrom(conf), l.logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopWatch := context.WithCancel(context.Background())
	changes := l.a.watch(ctx, conf, debounce)
	go func() { l.exited <- l.a.serve(l.signals, changes) }()
	t.Cleanup(func() {
		l.signals <- syscall.SIGTERM
		select {
		case <-l.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("server did not stop; log:\n%s", l.logs)
		}
		stopWatch()
		for range changes {
		}
	})
	return l
}

// addr is the address the listener configured as cfgAddr really has.
func (l *liveApp) addr(t *testing.T, cfgAddr string) string {
	t.Helper()
	a, ok := l.a.sup.Addrs()[cfgAddr]
	if !ok {
		t.Fatalf("no listener on %s", cfgAddr)
	}
	return a.String()
}

// count is how many log lines contain s.
func (l *liveApp) count(s string) int { return l.logs.count(s) }

// waitLog waits until more than n log lines contain s, and returns the
// last of them.
func (l *liveApp) waitLog(t *testing.T, s string, n int) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for l.count(s) <= n {
		if time.Now().After(deadline) {
			t.Fatalf("no new %q in the log:\n%s", s, l.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	last := ""
	for _, line := range strings.Split(l.logs.String(), "\n") {
		if strings.Contains(line, s) {
			last = line
		}
	}
	return last
}

// writeFiles writes path -> content under dir, making directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// saver rewrites one config file in turn by each of the ways it happens
// in practice.
type saver struct {
	t    *testing.T
	path string
	n    int
}

// saveMethods are the ways a config gets rewritten.
var saveMethods = []string{"rename", "truncate", "symlink"}

// save writes data to the config by method.
func (s *saver) save(method, data string) {
	s.t.Helper()
	s.n++
	switch method {
	case "rename": // vim, VS Code, sed -i: a temp file renamed over the config
		tmp := filepath.Join(filepath.Dir(s.path), fmt.Sprintf(".site.toml.%d.swp", s.n))
		if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
			s.t.Fatal(err)
		}
		if err := os.Rename(tmp, s.path); err != nil {
			s.t.Fatal(err)
		}
	case "truncate": // an editor writing in place (through a symlink, if it is one)
		f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			s.t.Fatal(err)
		}
		half := len(data) / 2
		f.WriteString(data[:half])
		f.WriteString(data[half:])
		f.Close()
	case "symlink": // a Kubernetes ConfigMap update
		s.configMapSwap(data)
	default:
		s.t.Fatalf("unknown save method %q", method)
	}
}

// configMapSwap writes data as a new ConfigMap revision: a ..<rev>
// directory, the ..data symlink swapped to it by renaming a new symlink
// over it, the old revision removed. The config file is made the
// ConfigMap's symlink ..data/site.toml if a rename-save replaced it.
func (s *saver) configMapSwap(data string) {
	dir := filepath.Dir(s.path)
	rev := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", s.n%60, s.n)
	if err := os.Mkdir(filepath.Join(dir, rev), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, rev, filepath.Base(s.path)), []byte(data), 0o644); err != nil {
		s.t.Fatal(err)
	}
	dataLink := filepath.Join(dir, "..data")
	old, _ := os.Readlink(dataLink)
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(rev, tmp); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, dataLink); err != nil {
		s.t.Fatal(err)
	}
	if fi, err := os.Lstat(s.path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		lnk := s.path + ".lnk"
		if err := os.Symlink(filepath.Join("..data", filepath.Base(s.path)), lnk); err != nil {
			s.t.Fatal(err)
		}
		if err := os.Rename(lnk, s.path); err != nil {
			s.t.Fatal(err)
		}
	}
	if old != "" {
		os.RemoveAll(filepath.Join(dir, old))
	}
}
