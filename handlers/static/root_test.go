package static

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moreweb/moreweb/handlers/handlertest"
	"github.com/moreweb/moreweb/internal/testkit"
)

// deployment is a site root replaced the way deploy tools replace one.
type deployment struct {
	t    *testing.T
	base string
	way  string
	n    int // releases published
	// emptyFor is the longest an mv swap left the root path naming
	// nothing, in nanoseconds: the moment between its two renames.
	emptyFor atomic.Int64
}

// replaceWays are the ways a root gets replaced: deleted and made again,
// a symlink to a release swapped by renaming a new link over it, and a
// directory renamed away and another renamed into its place.
var replaceWays = []string{"recreate", "symlink", "mv"}

func newDeployment(t *testing.T, way string, files map[string]string) *deployment {
	d := &deployment{t: t, base: t.TempDir(), way: way}
	d.publish(files)
	return d
}

// root is the path a site is configured with.
func (d *deployment) root() string {
	if d.way == "symlink" {
		return filepath.Join(d.base, "current")
	}
	return filepath.Join(d.base, "www")
}

// publish makes files the site's next release.
func (d *deployment) publish(files map[string]string) {
	t := d.t
	t.Helper()
	d.n++
	www := filepath.Join(d.base, "www")
	switch d.way {
	case "recreate":
		// Each file is renamed into the new directory whole, so that a
		// request never meets one half written: only a 404 while the
		// directory is missing or still filling.
		stage := filepath.Join(d.base, fmt.Sprintf("stage.%d", d.n))
		must(t, os.Mkdir(stage, 0o755))
		testkit.WriteTreeAt(t, stage, files, testTime)
		must(t, os.RemoveAll(www))
		must(t, os.Mkdir(www, 0o755))
		for name := range files {
			must(t, os.Rename(filepath.Join(stage, name), filepath.Join(www, name)))
		}
	case "symlink":
		rel := filepath.Join("releases", fmt.Sprint(d.n))
		must(t, os.MkdirAll(filepath.Join(d.base, rel), 0o755))
		testkit.WriteTreeAt(t, filepath.Join(d.base, rel), files, testTime)
		tmp := filepath.Join(d.base, "current.tmp")
		must(t, os.Symlink(rel, tmp))
		must(t, os.Rename(tmp, d.root()))
	case "mv":
		next := filepath.Join(d.base, "www.next")
		must(t, os.Mkdir(next, 0o755))
		testkit.WriteTreeAt(t, next, files, testTime)
		began := time.Now()
		if d.n > 1 {
			must(t, os.Rename(www, filepath.Join(d.base, fmt.Sprintf("www.old.%d", d.n))))
		}
		must(t, os.Rename(next, www))
		if gap := int64(time.Since(began)); gap > d.emptyFor.Load() {
			d.emptyFor.Store(gap)
		}
	default:
		t.Fatalf("unknown way %q", d.way)
	}
}

// rootModes are the two ways a root is served: confined by os.Root, and
// through the path with follow_symlinks.
var rootModes = []bool{false, true}

func modeName(follow bool) string {
	if follow {
		return "follow_symlinks"
	}
	return "os.Root"
}

// logLines records what a Static logs.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) log(msg string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		msg = "WARN " + msg + ": " + err.Error()
	}
	l.lines = append(l.lines, msg)
}

func (l *logLines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func bodyOf(t *testing.T, s *Static, target string) string {
	t.Helper()
	return get(t, s, target, 200).Body.String()
}

func releaseFiles(n int) map[string]string {
	return map[string]string{"index.html": fmt.Sprintf("release %d", n), "a.txt": fmt.Sprintf("a%d", n)}
}

func TestRootReplacedIsServedAsItNowIs(t *testing.T) {
	for _, way := range replaceWays {
		for _, follow := range rootModes {
			t.Run(way+"/"+modeName(follow), func(t *testing.T) {
				d := newDeployment(t, way, releaseFiles(1))
				logs := &logLines{}
				s := newStatic(t, Options{Root: d.root(), FollowSymlinks: follow, Log: logs.log})
				clock := settle(&s.now)
				if got := bodyOf(t, s, "/"); got != "release 1" {
					t.Fatalf("before: %q", got)
				}
				bodyOf(t, s, "/a.txt")
				for n := 2; n <= 3; n++ {
					d.publish(releaseFiles(n))
					if !follow && way != "recreate" {
						// Within the interval the directory held open
						// is served: the path is not looked at per
						// request.
						clock.advance(revalidateAfter / 2)
						if got := bodyOf(t, s, "/"); got != fmt.Sprintf("release %d", n-1) {
							t.Errorf("release %d, within the interval: %q", n, got)
						}
						clock.advance(revalidateAfter / 2)
					} else {
						clock.advance(revalidateAfter)
					}
					for target, want := range releaseFiles(n) {
						if target == "index.html" {
							target = ""
						}
						if got := bodyOf(t, s, "/"+target); got != want {
							t.Errorf("release %d: /%s is %q, want %q", n, target, got, want)
						}
					}
					if lines := logs.get(); len(lines) != n-1 || !strings.HasPrefix(lines[n-2], "site root replaced") {
						t.Errorf("release %d: logged %q, want one replacement more", n, lines)
					}
				}
			})
		}
	}
}

// TestRootReplacedDropsTheOldRootsCachedEntries: the entries and misses of
// the directory replaced are dropped with it, however fresh: a file cached
// a moment before the swap and a name found missing a moment before are
// both served from the new directory as soon as the swap is noticed.
func TestRootReplacedDropsTheOldRootsCachedEntries(t *testing.T) {
	for _, follow := range rootModes {
		t.Run(modeName(follow), func(t *testing.T) {
			d := newDeployment(t, "symlink", releaseFiles(1))
			s := newStatic(t, Options{Root: d.root(), FollowSymlinks: follow})
			clock := settle(&s.now)
			bodyOf(t, s, "/") // looks at the root path: the next look is an interval away
			clock.advance(revalidateAfter - 100*time.Millisecond)
			if got := bodyOf(t, s, "/a.txt"); got != "a1" {
				t.Fatalf("a.txt: %q", got)
			}
			get(t, s, "/new.txt", 404)
			old := s.cur.Load()
			if e := old.cache.get("a.txt"); e == nil || !e.inMemory {
				t.Fatal("a.txt is not cached in memory")
			}
			if !old.misses.recent([]byte("new.txt"), clock.now()) {
				t.Fatal("new.txt is not remembered as missing")
			}

			next := releaseFiles(2)
			next["new.txt"] = "new"
			d.publish(next)
			clock.advance(100 * time.Millisecond)
			if got := bodyOf(t, s, "/a.txt"); got != "a2" {
				t.Errorf("a.txt cached 100ms before the swap: %q, want a2", got)
			}
			if got := bodyOf(t, s, "/new.txt"); got != "new" {
				t.Errorf("new.txt missing 100ms before the swap: %q", got)
			}
			if n, b := old.cache.len(); n != 0 || b != 0 {
				t.Errorf("the old root's cache still holds %d entries, %d bytes", n, b)
			}
			if old.misses.recent([]byte("new.txt"), clock.now()) {
				t.Error("the old root's misses were kept")
			}
		})
	}
}

func TestRootGoneAnswers404AndComesBackByItself(t *testing.T) {
	for _, follow := range rootModes {
		t.Run(modeName(follow), func(t *testing.T) {
			d := newDeployment(t, "recreate", releaseFiles(1))
			logs := &logLines{}
			s := newStatic(t, Options{Root: d.root(), FollowSymlinks: follow, Log: logs.log})
			clock := settle(&s.now)
			bodyOf(t, s, "/")
			must(t, os.RemoveAll(d.root()))

			clock.advance(revalidateAfter)
			do(t, s, "GET", "/") // finds the path empty, and looks again shortly
			if lines := logs.get(); len(lines) != 0 {
				t.Errorf("logged at the first empty look: %q", lines)
			}
			clock.advance(confirmGoneAfter)
			for range 3 {
				get(t, s, "/", 404)
				get(t, s, "/a.txt", 404)
				clock.advance(revalidateAfter)
			}
			lines := logs.get()
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "WARN site root gone") || !strings.Contains(lines[0], "no such file") {
				t.Fatalf("want one warning that the root is gone, logged %q", lines)
			}

			testkit.WriteTreeAt(t, d.root(), releaseFiles(2), testTime)
			clock.advance(revalidateAfter)
			if got := bodyOf(t, s, "/"); got != "release 2" {
				t.Errorf("back: %q", got)
			}
			if lines := logs.get(); len(lines) != 2 || lines[1] != "site root back" {
				t.Errorf("logged %q, want the warning and then that it is back", lines)
			}
		})
	}
}

// TestRootEmptyForAMomentIsNotGone: `ln -sfn` removes the link and then
// makes the new one, and `rm -r www && mv new www` leaves no www for a
// moment. A look that falls in that moment keeps serving the directory held
// open, and looks again shortly; nothing is logged but the replacement.
func TestRootEmptyForAMomentIsNotGone(t *testing.T) {
	for _, follow := range rootModes {
		t.Run(modeName(follow), func(t *testing.T) {
			d := newDeployment(t, "symlink", releaseFiles(1))
			logs := &logLines{}
			s := newStatic(t, Options{Root: d.root(), FollowSymlinks: follow, Log: logs.log})
			clock := settle(&s.now)
			bodyOf(t, s, "/")
			must(t, os.Remove(d.root()))
			clock.advance(revalidateAfter)
			// a.txt was not asked for before: it is opened now, from
			// the directory held open, as the path names nothing.
			for target, want := range map[string]string{"/": "release 1", "/a.txt": "a1"} {
				rec, err := do(t, s, "GET", target)
				if status(rec, err) != 200 || rec.Body.String() != want {
					t.Errorf("%s while the link is missing: %d %q, want %q", target, status(rec, err), rec.Body.String(), want)
				}
			}
			must(t, os.MkdirAll(filepath.Join(d.base, "releases", "2"), 0o755))
			testkit.WriteTreeAt(t, filepath.Join(d.base, "releases", "2"), releaseFiles(2), testTime)
			must(t, os.Symlink(filepath.Join("releases", "2"), d.root()))
			clock.advance(confirmGoneAfter)
			if got := bodyOf(t, s, "/"); got != "release 2" {
				t.Errorf("after ln -sfn: %q", got)
			}
			if lines := logs.get(); len(lines) != 1 || !strings.HasPrefix(lines[0], "site root replaced") {
				t.Errorf("logged %q, want only the replacement", lines)
			}
		})
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

// TestRootReplacedManyTimesLeaksNoDescriptor: each replaced directory's
// handle is closed once its grace period is over.
func TestRootReplacedManyTimesLeaksNoDescriptor(t *testing.T) {
	d := newDeployment(t, "symlink", releaseFiles(1))
	s := newStatic(t, Options{Root: d.root()})
	s.retireAfter = 10 * time.Millisecond
	clock := settle(&s.now)
	bodyOf(t, s, "/")
	fd0 := openFDs(t)
	for n := 2; n <= 50; n++ {
		d.publish(releaseFiles(n))
		clock.advance(revalidateAfter)
		if got := bodyOf(t, s, "/"); got != fmt.Sprintf("release %d", n) {
			t.Fatalf("release %d: %q", n, got)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for openFDs(t) > fd0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if fd := openFDs(t); fd > fd0 {
		t.Errorf("after 49 swaps %d descriptors open, %d before", fd, fd0)
	}
}

// TestCloseReleasesEveryRootHandle: Close does not wait for the grace
// periods; the handles of the directories replaced are closed with the
// current one.
func TestCloseReleasesEveryRootHandle(t *testing.T) {
	d := newDeployment(t, "mv", releaseFiles(1))
	fd0 := openFDs(t)
	s, err := New(Options{Root: d.root()})
	if err != nil {
		t.Fatal(err)
	}
	clock := settle(&s.now)
	for n := 2; n <= 20; n++ {
		d.publish(releaseFiles(n))
		clock.advance(revalidateAfter)
		bodyOf(t, s, "/")
	}
	if fd := openFDs(t); fd < fd0+20 {
		t.Errorf("%d descriptors open with 19 handles in their grace period, %d before New", fd, fd0)
	}
	s.Close()
	if fd := openFDs(t); fd != fd0 {
		t.Errorf("after Close %d descriptors open, %d before New", fd, fd0)
	}
	if len(s.retired) != 0 {
		t.Errorf("%d retired trees left", len(s.retired))
	}
}

// TestRequestOutlivingItsRootHandleIs500: a request whose directory handle
// was closed under it (by Close, or a grace period it outlived) is the
// server's failure, not a file the client asked for that does not exist.
func TestRequestOutlivingItsRootHandleIs500(t *testing.T) {
	for _, follow := range rootModes {
		t.Run(modeName(follow), func(t *testing.T) {
			s := newStatic(t, Options{Root: writeTree(t, releaseFiles(1)), FollowSymlinks: follow})
			s.cur.Load().dir.Close()
			if rec, err := do(t, s, "GET", "/a.txt"); status(rec, err) != 500 {
				t.Errorf("%d, want 500 (%v)", status(rec, err), err)
			}
		})
	}
}

// TestRootSwapUnderConcurrentRequests replaces the root again and again
// while requests run, with the clock twenty times fast so that the path is
// looked at every 50ms: each answer is one release whole, a small file's
// and a big one's (sent from its descriptor) alike; only a deleted root
// may answer 404; and once the swaps stop the last release is served.
func TestRootSwapUnderConcurrentRequests(t *testing.T) {
	for _, way := range replaceWays {
		for _, follow := range rootModes {
			t.Run(way+"/"+modeName(follow), func(t *testing.T) {
				files := func(n int) map[string]string {
					c := string(rune('a' + n%26))
					return map[string]string{"index.html": "release " + c, "big.bin": strings.Repeat(c, maxBodyBytes+1)}
				}
				d := newDeployment(t, way, files(1))
				s := newStatic(t, Options{Root: d.root(), FollowSymlinks: follow})
				start := time.Now()
				s.now = func() time.Time { return start.Add(time.Hour + swapClockSpeed*time.Since(start)) }
				concurrentSwaps(t, s, d, files, way == "recreate")
			})
		}
	}
}

// swapClockSpeed is how much faster than real time the site's clock runs
// in the concurrent swap tests, so that a second's revalidation comes
// round many times while they run.
const swapClockSpeed = 20

// concurrentSwaps serves requests on four goroutines while releases are
// published, and checks each answer is one release whole. A 404 is allowed
// when the way of publishing deletes the root (may404), or when an mv swap
// left the path empty for longer than the site waits to confirm a root is
// gone (a loaded machine can pause the publisher between its renames).
func concurrentSwaps(t *testing.T, s *Static, d *deployment, files func(int) map[string]string, may404 bool) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var notFound atomic.Int64
	errs := make(chan string, 100)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := []string{"/index.html", "/big.bin"}[i%2]
			req := handlertest.Get(t, target)
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec := handlertest.NewRecorder()
				err := s.Serve(rec, req)
				if code := status(rec, err); code != 200 {
					if code != 404 {
						errs <- fmt.Sprintf("%s: %d %v", target, code, err)
						return
					}
					notFound.Add(1)
					continue
				}
				b := rec.Body.String()
				whole := rec.ContentLength == int64(len(b)) && len(b) > 0
				if target == "/big.bin" {
					whole = whole && len(b) == maxBodyBytes+1 && strings.Count(b, b[:1]) == len(b)
				} else {
					whole = whole && strings.HasPrefix(b, "release ") && len(b) == len("release a")
				}
				if !whole {
					errs <- fmt.Sprintf("%s: declared %d, got %d bytes starting %q", target, rec.ContentLength, len(b), b[:min(len(b), 12)])
					return
				}
			}
		}()
	}
	n := 1
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
		n++
		d.publish(files(n))
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if gap := swapClockSpeed * time.Duration(d.emptyFor.Load()); notFound.Load() > 0 && !may404 && gap < confirmGoneAfter {
		t.Errorf("%d answers were 404, though the root path named nothing for at most %v of the site's clock (it waits %v)",
			notFound.Load(), gap, confirmGoneAfter)
	}
	time.Sleep(60 * time.Millisecond) // over an interval of the fast clock
	if got := bodyOf(t, s, "/"); got != files(n)["index.html"] {
		t.Errorf("after the last swap: %q, want %q", got, files(n)["index.html"])
	}
}
