package server

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/internal/testkit"
)

// Helpers for the hot-reload tests: a server running in-process exactly
// as main runs it (start, the watcher, the serve loop), and the ways users
// and deployments rewrite a config file.

// liveApp is moreweb running in-process on the config file conf.
type liveApp struct {
	a       *Server
	conf    string
	logs    *testkit.SyncBuffer
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
	l := &liveApp{conf: conf, logs: &testkit.SyncBuffer{}, signals: make(chan os.Signal, 1), exited: make(chan int, 1)}
	l.a, err = Start(cfg, Options{Reload: LoadFile(conf), Log: l.logs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopWatch := context.WithCancel(context.Background())
	changes := l.a.Watch(ctx, conf, debounce)
	go func() { l.exited <- l.a.Serve(l.signals, changes) }()
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
func (l *liveApp) count(s string) int { return l.logs.Count(s) }

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
