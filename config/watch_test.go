package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// The watcher tests change files the way editors and Kubernetes do and
// count what Watch reports: exactly one change per burst, none for noise.

// testDebounce is the production debounce: the timings tested are the
// ones users get.
const testDebounce = DefaultDebounce

// watchLog collects what the watcher logs.
type watchLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *watchLog) add(msg string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		msg += ": " + err.Error()
	}
	l.lines = append(l.lines, msg)
}

func (l *watchLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

type watchRun struct {
	t       *testing.T
	changes <-chan struct{}
	log     *watchLog
	cancel  context.CancelFunc
}

func startWatch(t *testing.T, path string, opt WatchOptions) *watchRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &watchRun{t: t, log: &watchLog{}, cancel: cancel}
	if opt.Debounce == 0 {
		opt.Debounce = testDebounce
	}
	opt.Log = r.log.add
	r.changes = Watch(ctx, path, opt)
	t.Cleanup(func() {
		cancel()
		for range r.changes { // closed once the watcher has stopped
		}
	})
	return r
}

// expectChange waits for one reported change, then makes sure no second
// one follows for the same burst.
func (r *watchRun) expectChange(what string) {
	r.t.Helper()
	select {
	case <-r.changes:
	case <-time.After(3 * time.Second):
		r.t.Fatalf("%s: no change reported; watcher said:\n%s", what, r.log)
	}
	r.expectNone(what+" (a second report)", 3*testDebounce)
}

func (r *watchRun) expectNone(what string, d time.Duration) {
	r.t.Helper()
	select {
	case <-r.changes:
		r.t.Fatalf("%s: unexpected change reported; watcher said:\n%s", what, r.log)
	case <-time.After(d):
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// renameOver saves the way vim, VS Code and sed -i do: a temporary file in
// the same directory, renamed over the original.
func renameOver(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp~"
	write(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatchSeesASaveByRenameOver(t *testing.T) {
	t.Parallel() // the watcher tests spend their time waiting
	path := filepath.Join(t.TempDir(), "site.toml")
	write(t, path, "v1")
	r := startWatch(t, path, WatchOptions{})
	renameOver(t, path, "v2")
	r.expectChange("rename over")
	renameOver(t, path, "v3")
	r.expectChange("second rename over")
}

func TestWatchSeesASaveByTruncateThenWrite(t *testing.T) {
	t.Parallel() // the watcher tests spend their time waiting
	path := filepath.Join(t.TempDir(), "site.toml")
	write(t, path, "version one")
	r := startWatch(t, path, WatchOptions{})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // an editor between truncate and write
	if _, err := f.WriteString("version "); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := f.WriteString("two"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r.expectChange("truncate and write")
}

// configMap lays out a directory as the kubelet does for a mounted
// ConfigMap: each revision in its own ..<timestamp> directory, ..data a
// symlink to the current one, and each key a symlink through ..data.
type configMap struct {
	t   *testing.T
	dir string
	rev int
}

func newConfigMap(t *testing.T, files map[string]string) *configMap {
	m := &configMap{t: t, dir: t.TempDir()}
	m.update(files)
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(m.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// update writes a new revision and swaps ..data to it atomically (a new
// symlink renamed over the old), then removes the old revision.
func (m *configMap) update(files map[string]string) {
	m.t.Helper()
	m.rev++
	old := ""
	if target, err := os.Readlink(filepath.Join(m.dir, "..data")); err == nil {
		old = filepath.Join(m.dir, target)
	}
	rev := "..2026_01_01_00_00_0" + string(rune('0'+m.rev%10)) + "." + strings.Repeat("x", m.rev)
	if err := os.Mkdir(filepath.Join(m.dir, rev), 0o755); err != nil {
		m.t.Fatal(err)
	}
	for name, data := range files {
		write(m.t, filepath.Join(m.dir, rev, name), data)
	}
	tmp := filepath.Join(m.dir, "..data_tmp")
	if err := os.Symlink(rev, tmp); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(m.dir, "..data")); err != nil {
		m.t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			m.t.Fatal(err)
		}
	}
}

func TestWatchSeesAConfigMapSymlinkSwap(t *testing.T) {
	t.Parallel() // the watcher tests spend their time waiting
	m := newConfigMap(t, map[string]string{"site.toml": "v1", "404.html": "not found"})
	r := startWatch(t, filepath.Join(m.dir, "site.toml"), WatchOptions{})

	m.update(map[string]string{"site.toml": "v2", "404.html": "not found"})
	r.expectChange("..data swapped to a new site.toml")

	// Only another key changed: site.toml's bytes are the same, but it is
	// a new revision, and the page may be one the config names.
	m.update(map[string]string{"site.toml": "v2", "404.html": "gone"})
	r.expectChange("..data swapped, another key changed")

	// Noise in the directory is not a change.
	write(t, filepath.Join(m.dir, "unrelated"), "x")
	if err := os.Chmod(filepath.Join(m.dir, "..data"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.expectNone("unrelated file written", 3*testDebounce)
}

func TestWatchSeesAFileDeletedThenRecreated(t *testing.T) {
	t.Parallel() // the watcher tests spend their time waiting
	path := filepath.Join(t.TempDir(), "site.toml")
	write(t, path, "v1")
	r := startWatch(t, path, WatchOptions{})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	r.expectNone("file deleted", 4*testDebounce)
	if !strings.Contains(r.log.String(), "waiting for it to come back") {
		t.Errorf("deletion not logged:\n%s", r.log)
	}
	write(t, path, "v1") // the same bytes: its return is still news
	r.expectChange("file recreated")
	if !strings.Contains(r.log.String(), "config file is back") {
		t.Errorf("return not logged:\n%s", r.log)
	}
}

func TestWatchBurstIsDebouncedToOneChange(t *testing.T) {
	t.Parallel() // the watcher tests spend their time waiting
	path := filepath.Join(t.TempDir(), "site.toml")
	write(t, path, "v0")
	r := startWatch(t, path, WatchOptions{})
	// Saves 15ms apart: a scheduling hiccup of ten times that on a busy
	// machine would still count as one burst.
	for i := range 20 {
		if i%2 == 0 {
			renameOver(t, path, "v"+string(rune('a'+i)))
		} else {
			write(t, path, "v"+string(rune('a'+i)))
		}
		time.Sleep(15 * time.Millisecond)
	}
	r.expectChange("20 saves 15ms apart")
}

func TestWatchFileWrittenWithoutPauseIsStillChecked(t *testing.T) {
	t.Parallel() // the watcher tests spend their time waiting
	path := filepath.Join(t.TempDir(), "site.toml")
	write(t, path, "v0")
	r := startWatch(t, path, WatchOptions{})
	seen := 0
	for i := range 50 { // 2.5 s, never quiet for the debounce
		write(t, path, "v"+strings.Repeat("x", i))
		select {
		case <-r.changes:
			seen++
		case <-time.After(50 * time.Millisecond):
		}
	}
	if seen < 2 {
		t.Fatalf("%d changes reported while the file was written for 2.5 s without a pause, want one a second", seen)
	}
}

func TestWatchIgnoresOtherFiles(t *testing.T) {
	t.Parallel() // the watcher tests spend their time waiting
	dir := t.TempDir()
	path := filepath.Join(dir, "site.toml")
	write(t, path, "v1")
	r := startWatch(t, path, WatchOptions{})
	write(t, filepath.Join(dir, "other.toml"), "x")
	renameOver(t, filepath.Join(dir, "notes.txt"), "y")
	if err := os.Remove(filepath.Join(dir, "other.toml")); err != nil {
		t.Fatal(err)
	}
	r.expectNone("other files changed", 4*testDebounce)
	// A touch (attributes only) with the same bytes is not a change.
	if err := os.Chtimes(path, time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
	r.expectNone("config touched", 4*testDebounce)
}

func TestWatchRearmsAfterWatcherError(t *testing.T) {
	t.Parallel() // the watcher tests spend their time waiting
	path := filepath.Join(t.TempDir(), "site.toml")
	write(t, path, "v1")
	armed := make(chan *fsnotify.Watcher, 10)
	r := startWatch(t, path, WatchOptions{armed: func(w *fsnotify.Watcher) { armed <- w }})
	first := <-armed
	first.Errors <- errors.New("injected failure")
	select {
	case w := <-armed:
		if w == first {
			t.Fatal("re-armed with the failed watcher")
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("not re-armed; watcher said:\n%s", r.log)
	}
	if !strings.Contains(r.log.String(), "injected failure") {
		t.Errorf("error not logged:\n%s", r.log)
	}
	// The re-arm checks the file; it did not change, so nothing is sent.
	r.expectNone("re-armed, file unchanged", 3*testDebounce)
	renameOver(t, path, "v2")
	r.expectChange("save after re-arm")
}

func TestWatchChangeWhileDisarmedIsSeen(t *testing.T) {
	t.Parallel() // the watcher tests spend their time waiting
	path := filepath.Join(t.TempDir(), "site.toml")
	write(t, path, "v1")
	armed := make(chan *fsnotify.Watcher, 10)
	r := startWatch(t, path, WatchOptions{armed: func(w *fsnotify.Watcher) { armed <- w }})
	first := <-armed
	first.Close() // events stop: the watcher must notice and re-arm
	write(t, path, "v2")
	select {
	case <-armed:
	case <-time.After(3 * time.Second):
		t.Fatalf("not re-armed; watcher said:\n%s", r.log)
	}
	r.expectChange("file changed while the watcher was down")
}

func TestWatchDirectoryRemovedAndRecreated(t *testing.T) {
	t.Parallel() // the watcher tests spend their time waiting
	dir := filepath.Join(t.TempDir(), "conf")
	path := filepath.Join(dir, "site.toml")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, path, "v1")
	r := startWatch(t, path, WatchOptions{})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	r.expectNone("directory removed", 3*testDebounce)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, path, "v2")
	r.expectChange("directory and file back")
}

func TestWatchFollowsSymlinkToAnotherDirectory(t *testing.T) {
	t.Parallel() // the watcher tests spend their time waiting
	real := filepath.Join(t.TempDir(), "real.toml")
	write(t, real, "v1")
	path := filepath.Join(t.TempDir(), "site.toml")
	if err := os.Symlink(real, path); err != nil {
		t.Fatal(err)
	}
	r := startWatch(t, path, WatchOptions{})
	renameOver(t, real, "v2")
	r.expectChange("target saved by rename")
	write(t, real, "v3")
	r.expectChange("target written in place")
}

func TestWatchSameBytesSavedAgainIsReported(t *testing.T) {
	t.Parallel() // the watcher tests spend their time waiting
	// Saving without a change is how a user retries a reload that failed
	// for a reason outside the file (a busy port): it is reported.
	path := filepath.Join(t.TempDir(), "site.toml")
	write(t, path, "v1")
	r := startWatch(t, path, WatchOptions{})
	renameOver(t, path, "v1")
	r.expectChange("same bytes saved again")
}

// A save between reading the config and arming the watcher sends no event
// the watcher can see: given what was read (Since), Watch compares once it
// is armed and reports the difference; with no difference, it stays quiet.
func TestWatchReportsASaveMadeBeforeItWasArmed(t *testing.T) {
	t.Parallel() // the watcher tests spend their time waiting
	dir := newSite(t)
	src := `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
hosts = ["a.example"]
root = "site"
`
	path := writeConfig(t, dir, src)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}

	unchanged := startWatch(t, path, WatchOptions{Since: &cfg.FileSum})
	unchanged.expectNone("file as it was read", 3*testDebounce)
	unchanged.cancel()

	renameOver(t, path, strings.Replace(src, `"site"`, `"pages"`, 1))
	r := startWatch(t, path, WatchOptions{Since: &cfg.FileSum})
	r.expectChange("saved after it was read, before Watch")

	// Without Since, the file as Watch finds it is the baseline: the same
	// save goes unseen, which is why the caller passes what it read.
	blind := startWatch(t, path, WatchOptions{})
	blind.expectNone("no Since", 3*testDebounce)
}

func TestWatchStopsWhenContextEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "site.toml")
	write(t, path, "v1")
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	changes := Watch(ctx, path, WatchOptions{Debounce: testDebounce})
	cancel()
	select {
	case _, ok := <-changes:
		if ok {
			t.Fatal("a change reported after cancel")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDiagnosticAtPlacesListenerAddress(t *testing.T) {
	src := []byte("[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\n\n[[listener]]\nname = \"b\"\naddress = \"127.0.0.1:2\"\n")
	d := DiagnosticAt("site.toml", src, "cannot listen", "listener", 1, "address")
	if got, want := d.String(), "site.toml:7:11: listener[1].address: cannot listen"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	d = DiagnosticAt("site.toml", src, "x", "server", "access_log")
	if got, want := d.String(), "site.toml: server.access_log: x"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
