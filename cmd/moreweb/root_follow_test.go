package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moreweb/moreweb/internal/testkit"
)

// TestCLISIGHUPReopensReplacedRootAtOnce: SIGHUP with the config file
// unchanged still rebuilds the sites, so a root swapped to a new release
// serves it at once, without waiting for the root to be looked at again;
// the reload says so in its one line.
func TestCLISIGHUPReopensReplacedRootAtOnce(t *testing.T) {
	dir, addr := t.TempDir(), testkit.FreeAddr(t)
	testkit.WriteTree(t, dir, map[string]string{"releases/1/index.html": "one", "releases/2/index.html": "two"})
	if err := os.Symlink(filepath.Join("releases", "1"), filepath.Join(dir, "current")); err != nil {
		t.Fatal(err)
	}
	conf := testkit.WriteSite(t, dir, addr, "unused")
	editFile(t, conf, `root = "www"`, `root = "current"`)
	p := startMoreweb(t, addr, "/", "-c", conf)
	if _, body := testkit.Get(t, addr, "example.test", "/"); body != "one" {
		t.Fatalf("before: %q", body)
	}

	tmp := filepath.Join(dir, "current.tmp")
	if err := os.Symlink(filepath.Join("releases", "2"), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "current")); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stderr.String(), "files reopened") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged:\n%s", p.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, body := testkit.Get(t, addr, "example.test", "/"); body != "two" {
		t.Errorf("right after SIGHUP: %q, want the new release", body)
	}
	out := p.stderr.String()
	// Had the reload kept the old site, only its look at the root path
	// could have found the new release, and it logs that.
	if strings.Contains(out, "site root replaced") {
		t.Errorf("the new release was found by the old site, not by the reload:\n%s", out)
	}
	if n := strings.Count(out, "files reopened"); n != 1 || strings.Contains(out, "reload skipped") ||
		!strings.Contains(out, "reloaded: config unchanged, files reopened\t{\"trigger\": \"SIGHUP\"") {
		t.Errorf("want one line for the reload, saying the files were reopened:\n%s", out)
	}
}
