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

// TestSaveBeforeTheWatcherIsArmedIsApplied goes through start-up in main's
// order — read the file, bind the sockets, arm the watcher — with a save
// renamed in after the port answers and before the watcher is armed, the
// moment a client can first see the server. The watcher sends no event
// for it; the save must be applied all the same.
func TestSaveBeforeTheWatcherIsArmedIsApplied(t *testing.T) {
	dir, addr := t.TempDir(), testkit.FreeAddr(t)
	conf := testkit.WriteSite(t, dir, addr, "old")
	testkit.WriteTree(t, dir, map[string]string{"new/index.html": "new"})
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}

	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	a, err := Start(cfg, Options{Reload: LoadFile(conf), Log: logs})
	if err != nil {
		t.Fatal(err)
	}
	if _, body := testkit.Get(t, addr, "example.test", "/"); body != "old" {
		t.Fatalf("serving %q before the save", body)
	}
	(&testkit.Saver{T: t, Path: conf}).Save("rename", strings.Replace(string(data), `root = "www"`, `root = "new"`, 1))

	ctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	signals, exited := make(chan os.Signal, 1), make(chan int, 1)
	go func() { exited <- a.Serve(signals, a.Watch(ctx, conf, config.DefaultDebounce)) }()
	defer func() { signals <- syscall.SIGTERM; <-exited }()

	body := ""
	for deadline := time.Now().Add(3 * time.Second); body != "new" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		_, body = testkit.Get(t, addr, "example.test", "/")
	}
	if body != "new" {
		t.Fatalf("the save made before the watcher was armed was never applied; log:\n%s", logs)
	}
	// The reload is logged after its snapshot serves.
	logs.WaitCount(t, `"trigger": "file changed"`, 1)
}
