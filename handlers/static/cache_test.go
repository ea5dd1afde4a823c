package static

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moreweb/moreweb/handlers/handlertest"
)

// testClock is a clock the test moves. It starts an hour ahead of the wall
// clock, so that every file a test writes has "settled" (is older than
// racyWindow) and small files are held in memory, as deployed files are.
type testClock struct{ ns atomic.Int64 }

func settle(now *func() time.Time) *testClock {
	c := &testClock{}
	c.ns.Store(time.Now().Add(time.Hour).UnixNano())
	*now = c.now
	return c
}

// served is the tree s serves from now, to look into its cache.
func served(s *Static) *files { return &s.cur.Load().files }

func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// countingFS counts what reaches the file system; every open is followed
// by an fstat, so opens counts both.
type countingFS struct {
	fileSystem
	opens, stats atomic.Int64
}

func (c *countingFS) open(name string) (*os.File, error) {
	c.opens.Add(1)
	return c.fileSystem.open(name)
}

func (c *countingFS) stat(name string) (fs.FileInfo, error) {
	c.stats.Add(1)
	return c.fileSystem.stat(name)
}

func (c *countingFS) take() (opens, stats int64) { return c.opens.Swap(0), c.stats.Swap(0) }

func count(fl *files) *countingFS {
	c := &countingFS{fileSystem: fl.fsys}
	fl.fsys = c
	return c
}

// get serves GET target and returns the body, failing the test on anything
// but want.
func get(t *testing.T, s *Static, target string, want int, header ...string) *handlertest.Recorder {
	t.Helper()
	rec, err := do(t, s, "GET", target, header...)
	if got := status(rec, err); got != want {
		t.Fatalf("GET %s: %d, want %d (%v)", target, got, want, err)
	}
	checkBodyLength(t, "GET", rec)
	return rec
}

// A hot small file is what a site serves most, so it must cost no open and
// no fstat per request: within revalidateAfter nothing at all, and after it
// one stat (plus the sidecar probes), never an open.
func TestCacheServesAHotSmallFileWithoutOpenOrStat(t *testing.T) {
	root := writeTree(t, map[string]string{"css/style.css": "body{}", "index.html": "home"})
	s := newStatic(t, Options{Root: root})
	clock := settle(&s.now)
	fsys := count(served(s))

	for _, target := range []string{"/css/style.css", "/"} {
		t.Run(target, func(t *testing.T) {
			get(t, s, target, 200)
			fsys.take()
			for range 100 {
				rec := get(t, s, target, 200)
				if rec.Body.Len() == 0 {
					t.Fatal("empty body")
				}
			}
			if opens, stats := fsys.take(); opens != 0 || stats != 0 {
				t.Errorf("100 hot requests: %d opens, %d stats; want none", opens, stats)
			}
			clock.advance(revalidateAfter)
			for range 100 {
				get(t, s, target, 200)
			}
			if opens, stats := fsys.take(); opens != 0 || stats > 4+1 {
				t.Errorf("after revalidateAfter: %d opens, %d stats; want 0 opens, one stat and the sidecar probes", opens, stats)
			}
		})
	}
	rec := get(t, s, "/", 304, "If-None-Match: "+get(t, s, "/", 200).Head.Get("ETag"))
	if rec.Body.Len() != 0 {
		t.Error("304 with a body")
	}
	if opens, _ := fsys.take(); opens != 0 {
		t.Errorf("revalidation of a hot file opened it %d times", opens)
	}
}

// TestCacheBigFileOpenedPerRequest: a file over maxBodyBytes is never held
// in memory; it is opened per request (for sendfile) and so is never served
// stale, not even for a rewrite that keeps its size.
func TestCacheBigFileOpenedPerRequest(t *testing.T) {
	big := strings.Repeat("a", maxBodyBytes+1)
	root := writeTree(t, map[string]string{"big.bin": big})
	s := newStatic(t, Options{Root: root})
	clock := settle(&s.now)
	fsys := count(served(s))
	if rec := get(t, s, "/big.bin", 200); rec.Body.String() != big {
		t.Fatal("wrong body")
	}
	if e := served(s).cache.get("big.bin"); e == nil || e.inMemory {
		t.Fatalf("entry %+v: want one, not in memory", e)
	}
	fsys.take()
	get(t, s, "/big.bin", 200)
	if opens, _ := fsys.take(); opens != 1 {
		t.Errorf("%d opens for one request of a big file, want 1", opens)
	}
	clock.advance(time.Millisecond) // well within revalidateAfter
	p := filepath.Join(root, "big.bin")
	other := strings.Repeat("b", len(big))
	must(t, os.WriteFile(p, []byte(other), 0o644))
	must(t, os.Chtimes(p, testTime.Add(time.Minute), testTime.Add(time.Minute)))
	if rec := get(t, s, "/big.bin", 200); rec.Body.String() != other {
		t.Error("big file served stale")
	}
}

// A changed small file is served fresh at most revalidateAfter after the
// change, whether it was rewritten in place with the same size and another
// mtime, with another size, replaced by rename, or removed. Until then the
// cached copy is served whole and consistent: its own bytes, length and
// ETag.
func TestCacheServesAChangedFileFreshAfterTheRevalidationInterval(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, p string)
		body   string // "" for 404
	}{
		{"same size, new mtime", func(t *testing.T, p string) {
			must(t, os.WriteFile(p, []byte("version-2"), 0o644))
			must(t, os.Chtimes(p, testTime.Add(time.Minute), testTime.Add(time.Minute)))
		}, "version-2"},
		{"same size, same mtime", func(t *testing.T, p string) {
			must(t, os.WriteFile(p, []byte("version-2"), 0o644))
			must(t, os.Chtimes(p, testTime, testTime)) // the ctime still moves
		}, "version-2"},
		{"new size", func(t *testing.T, p string) {
			must(t, os.WriteFile(p, []byte("v3, longer than before"), 0o644))
		}, "v3, longer than before"},
		{"shrunk to nothing", func(t *testing.T, p string) {
			must(t, os.WriteFile(p, nil, 0o644))
		}, ""},
		{"replaced by rename", func(t *testing.T, p string) {
			tmp := p + ".tmp"
			must(t, os.WriteFile(tmp, []byte("renamed!!"), 0o644))
			must(t, os.Chtimes(tmp, testTime, testTime))
			must(t, os.Rename(tmp, p))
		}, "renamed!!"},
		{"grown past the memory limit", func(t *testing.T, p string) {
			must(t, os.WriteFile(p, []byte(strings.Repeat("x", maxBodyBytes+10)), 0o644))
		}, strings.Repeat("x", maxBodyBytes+10)},
		{"removed", func(t *testing.T, p string) { must(t, os.Remove(p)) }, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, map[string]string{"f.txt": "version-1"})
			s := newStatic(t, Options{Root: root})
			clock := settle(&s.now)
			first := get(t, s, "/f.txt", 200)
			if e := served(s).cache.get("f.txt"); e == nil || !e.inMemory {
				t.Fatal("a settled small file is not held in memory")
			}
			tt.change(t, filepath.Join(root, "f.txt"))

			clock.advance(revalidateAfter - time.Millisecond)
			stale := get(t, s, "/f.txt", 200)
			if stale.Body.String() != "version-1" || stale.Head.Get("ETag") != first.Head.Get("ETag") {
				t.Errorf("within revalidateAfter: %q %s; want the cached copy whole", stale.Body.String(), stale.Head.Get("ETag"))
			}

			clock.advance(time.Millisecond)
			if tt.body == "404" {
				get(t, s, "/f.txt", 404)
				return
			}
			fresh := get(t, s, "/f.txt", 200)
			if fresh.Body.String() != tt.body {
				t.Errorf("after revalidateAfter: %d bytes %.20q, want %.20q", fresh.Body.Len(), fresh.Body.String(), tt.body)
			}
			if fresh.Head.Get("ETag") == first.Head.Get("ETag") {
				t.Error("new content under the old ETag")
			}
			if tt.body != "" {
				r := get(t, s, "/f.txt", 206, "Range: bytes=1-1", "If-Range: "+fresh.Head.Get("ETag"))
				if r.Body.String() != tt.body[1:2] {
					t.Errorf("range of the new content: %q", r.Body.String())
				}
			}
		})
	}
}

// A file written moments ago is not held in memory, so a rewrite within the
// same timestamp tick, same size, is not missed: it is served at once. Once
// settled, the file is taken into memory.
func TestCacheDoesNotHoldAFileWrittenMomentsAgo(t *testing.T) {
	root := writeTree(t, map[string]string{"f.txt": "aaaa"})
	s := newStatic(t, Options{Root: root})
	now := time.Now()
	s.now = func() time.Time { return now }
	get(t, s, "/f.txt", 200)
	if e := served(s).cache.get("f.txt"); e == nil || e.inMemory {
		t.Fatalf("entry %+v: a racy file must not be held in memory", e)
	}
	p := filepath.Join(root, "f.txt")
	fi := statFile(t, p)
	must(t, os.WriteFile(p, []byte("bbbb"), 0o644))
	must(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))
	if rec := get(t, s, "/f.txt", 200); rec.Body.String() != "bbbb" {
		t.Errorf("rewrite of a racy file: %q", rec.Body.String())
	}
	now = now.Add(racyWindow + revalidateAfter)
	get(t, s, "/f.txt", 200)
	if e := served(s).cache.get("f.txt"); e == nil || !e.inMemory {
		t.Error("not held in memory once settled")
	}
}

func statFile(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// The cache never serves what the path policy refuses. Refused names never
// reach it; a symlink retargeted out of the root stops being served once the
// entry is revalidated (through os.Root, like an open); an index file
// removed from a cached directory is noticed.
func TestCacheNeverServesWhatThePathPolicyRefuses(t *testing.T) {
	base := writeTree(t, map[string]string{
		"root/a.txt":     "A",
		"root/sub/x.txt": "X",
		"root/.env":      "dot",
		"outside/s.txt":  "secret",
		"outside/x.txt":  "secret x",
		"root/in.txt":    "->a.txt",
		"root/dirlink":   "->sub",
	})
	root := filepath.Join(base, "root")
	s := newStatic(t, Options{Root: root})
	clock := settle(&s.now)

	get(t, s, "/.env", 404)
	get(t, s, "/%2eenv", 404)
	if n, _ := served(s).cache.len(); n != 0 {
		t.Errorf("%d entries after refused paths", n)
	}

	get(t, s, "/in.txt", 200)
	get(t, s, "/dirlink/x.txt", 200)
	retarget := func(link, target string) {
		p := filepath.Join(root, link)
		must(t, os.Remove(p))
		must(t, os.Symlink(target, p))
	}
	retarget("in.txt", filepath.Join(base, "outside/s.txt"))
	retarget("dirlink", "../outside")
	clock.advance(revalidateAfter)
	for _, target := range []string{"/in.txt", "/dirlink/x.txt"} {
		if rec, err := do(t, s, "GET", target); status(rec, err) != 404 {
			t.Errorf("%s after its symlink left the root: %d %q", target, status(rec, err), rec.Body.String())
		}
	}

	// The same names through a site that follows symlinks: its own cache.
	follow := newStatic(t, Options{Root: root, FollowSymlinks: true})
	settle(&follow.now)
	if rec, _ := do(t, follow, "GET", "/in.txt"); rec.Body.String() != "secret" {
		t.Errorf("follow_symlinks site: %q", rec.Body.String())
	}
	if rec, err := do(t, s, "GET", "/in.txt"); status(rec, err) != 404 {
		t.Error("strict site served what the following one cached")
	}
}

// A directory's entry remembers its index file; an index removed, or one
// that appears earlier in the list, is seen within revalidateAfter; a
// directory without its slash is still redirected.
func TestCacheNoticesADirectoryIndexAddedOrRemoved(t *testing.T) {
	root := writeTree(t, map[string]string{"d/index.html": "html", "d/x": "x"})
	s := newStatic(t, Options{Root: root, Index: []string{"index.htm", "index.html"}, Listing: true})
	clock := settle(&s.now)
	if rec := get(t, s, "/d/", 200); rec.Body.String() != "html" {
		t.Fatalf("index: %q", rec.Body.String())
	}
	get(t, s, "/d", 301)
	must(t, os.WriteFile(filepath.Join(root, "d/index.htm"), []byte("htm"), 0o644))
	clock.advance(revalidateAfter)
	if rec := get(t, s, "/d/", 200); rec.Body.String() != "htm" {
		t.Errorf("new first index: %q", rec.Body.String())
	}
	must(t, os.Remove(filepath.Join(root, "d/index.htm")))
	must(t, os.Remove(filepath.Join(root, "d/index.html")))
	clock.advance(revalidateAfter)
	if rec := get(t, s, "/d/", 200); !strings.Contains(rec.Body.String(), "<title>Index of /d/</title>") {
		t.Errorf("no index left: want the listing, got %.60q", rec.Body.String())
	}
}

// When the index the directory's entry names has gone and its own entry has
// expired, the directory is looked at again at once rather than answering
// 404.
func TestCacheLooksAgainAtADirectoryWhoseIndexHasGone(t *testing.T) {
	root := writeTree(t, map[string]string{"d/index.htm": "htm", "d/index.html": "html"})
	s := newStatic(t, Options{Root: root, Index: []string{"index.htm", "index.html"}})
	clock := settle(&s.now)
	get(t, s, "/d/", 200)
	must(t, os.Remove(filepath.Join(root, "d/index.htm")))
	served(s).cache.drop(served(s).cache.get("d/index.htm")) // as if evicted
	clock.advance(time.Millisecond)
	if rec := get(t, s, "/d/", 200); rec.Body.String() != "html" {
		t.Errorf("got %q, want the next index", rec.Body.String())
	}
}

// A sidecar added next to a cached file is offered, and one removed stops
// being offered (and Vary goes), within revalidateAfter.
func TestCacheNoticesASidecarAddedOrRemoved(t *testing.T) {
	root := writeTree(t, map[string]string{"app.js": "plain"})
	s := newStatic(t, Options{Root: root})
	clock := settle(&s.now)
	if rec := get(t, s, "/app.js", 200, "Accept-Encoding: gzip"); rec.Head.Has("Vary") {
		t.Fatal("Vary without a sidecar")
	}
	must(t, os.WriteFile(filepath.Join(root, "app.js.gz"), []byte("GZ"), 0o644))
	clock.advance(revalidateAfter)
	rec := get(t, s, "/app.js", 200, "Accept-Encoding: gzip")
	if rec.Body.String() != "GZ" || rec.Head.Get("Content-Encoding") != "gzip" || rec.Head.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("added sidecar: %q %q %q", rec.Body.String(), rec.Head.Get("Content-Encoding"), rec.Head.Get("Vary"))
	}
	if e := served(s).cache.get("app.js.gz"); e == nil || !e.inMemory {
		t.Error("the sidecar is not cached itself")
	}
	must(t, os.Remove(filepath.Join(root, "app.js.gz")))
	clock.advance(revalidateAfter)
	rec = get(t, s, "/app.js", 200, "Accept-Encoding: gzip")
	if rec.Body.String() != "plain" || rec.Head.Has("Content-Encoding") {
		t.Errorf("removed sidecar: %q %q", rec.Body.String(), rec.Head.Get("Content-Encoding"))
	}
	rec = get(t, s, "/app.js", 200, "Accept-Encoding: gzip")
	if rec.Head.Has("Vary") {
		t.Error("still varies after the only sidecar went")
	}
}

// A sidecar that is opened per request and has gone is never sent; the file
// itself is, at once.
func TestCacheNeverSendsABigSidecarThatHasGone(t *testing.T) {
	big := strings.Repeat("z", maxBodyBytes+1)
	root := writeTree(t, map[string]string{"app.js": "plain", "app.js.gz": big})
	s := newStatic(t, Options{Root: root})
	settle(&s.now)
	if rec := get(t, s, "/app.js", 200, "Accept-Encoding: gzip"); rec.Body.String() != big {
		t.Fatal("the gzip sidecar was not sent")
	}
	must(t, os.Remove(filepath.Join(root, "app.js.gz")))
	rec := get(t, s, "/app.js", 200, "Accept-Encoding: gzip")
	if rec.Body.String() != "plain" || rec.Head.Has("Content-Encoding") {
		t.Fatalf("after removal: %q %q", rec.Body.String(), rec.Head.Get("Content-Encoding"))
	}
}

// The cache never holds more entries or bytes than its limits, however many
// files are asked for.
func TestCacheStaysWithinItsEntryAndByteLimits(t *testing.T) {
	files := map[string]string{}
	for i := range 40 {
		files["f"+strconv.Itoa(i)] = strings.Repeat("x", 1000)
	}
	root := writeTree(t, files)
	s := newStatic(t, Options{Root: root})
	settle(&s.now)
	for _, limits := range []struct {
		entries int
		bytes   int64
	}{{5, 1 << 20}, {100, 3500}} {
		served(s).cache = newFileCache(limits.entries, limits.bytes)
		for name := range files {
			get(t, s, "/"+name, 200)
			if n, b := served(s).cache.len(); n > limits.entries || b > limits.bytes {
				t.Fatalf("%d entries, %d bytes; limits %d, %d", n, b, limits.entries, limits.bytes)
			}
		}
	}
}

// TestCacheEvictsLeastRecentlyValidated: with fewer entries than the
// sample, eviction is exact.
func TestCacheEvictsLeastRecentlyValidated(t *testing.T) {
	c := newFileCache(3, 1<<20)
	mk := func(name string, checked int64) *entry {
		e := &entry{name: name}
		e.checked.Store(checked)
		c.put(e)
		return e
	}
	mk("a", 30)
	mk("b", 10)
	mk("c", 20)
	mk("d", 5) // the newest is never its own victim
	if c.get("b") != nil || c.get("a") == nil || c.get("c") == nil || c.get("d") == nil {
		t.Errorf("wrong victim: a=%v b=%v c=%v d=%v", c.get("a") != nil, c.get("b") != nil, c.get("c") != nil, c.get("d") != nil)
	}
}

// The path map's File is cached like a root's files.
func TestMappedFileIsCachedLikeARootsFiles(t *testing.T) {
	root := writeTree(t, map[string]string{"page.html": "v1"})
	p := filepath.Join(root, "page.html")
	h := File(p).(*fileHandler)
	clock := settle(&h.now)
	fsys := count(&h.files)
	do(t, h, "GET", "/x")
	fsys.take()
	for range 10 {
		if rec, _ := do(t, h, "GET", "/x"); rec.Body.String() != "v1" {
			t.Fatalf("body %q", rec.Body.String())
		}
	}
	if opens, stats := fsys.take(); opens+stats != 0 {
		t.Errorf("%d opens, %d stats for a hot mapped file", opens, stats)
	}
	must(t, os.WriteFile(p, []byte("v2"), 0o644))
	clock.advance(revalidateAfter)
	if rec, _ := do(t, h, "GET", "/x"); rec.Body.String() != "v2" {
		t.Errorf("after a change: %q", rec.Body.String())
	}
}

// TestConcurrentRequestsGetWhatTheyDeclareWhileSidecarsChange runs requests
// while a sidecar comes and goes (by rename, as deployments should replace
// files) and the clock runs twenty times fast, so entries are revalidated
// and replaced under load: for the race detector, and for the invariant that
// the declared length is what is written.
func TestConcurrentRequestsGetWhatTheyDeclareWhileSidecarsChange(t *testing.T) {
	for _, big := range []bool{false, true} {
		t.Run("big="+strconv.FormatBool(big), func(t *testing.T) {
			gzBody := "GZ"
			if big {
				gzBody = strings.Repeat("G", maxBodyBytes+1)
			}
			root := writeTree(t, map[string]string{"app.js": "plain", "app.js.br": "BR", "gz.tmp": gzBody})
			s := newStatic(t, Options{Root: root})
			start := time.Now()
			s.now = func() time.Time { return start.Add(time.Hour + 20*time.Since(start)) }
			concurrentServing(t, s, root, gzBody)
		})
	}
}

func concurrentServing(t *testing.T, s *Static, root, gzBody string) {
	req := handlertest.Request(t, "GET /app.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br;q=0.5\r\n\r\n")
	stop := make(chan struct{})
	errs := make(chan string, 100)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		gz, tmp := filepath.Join(root, "app.js.gz"), filepath.Join(root, "gz.tmp")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var err error
			if i%2 == 0 {
				if err = os.Link(tmp, gz+".new"); err == nil {
					err = os.Rename(gz+".new", gz)
				}
			} else {
				err = os.Remove(gz)
			}
			if err != nil {
				errs <- "the sidecar did not change: " + err.Error()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec := handlertest.NewRecorder()
				if err := s.Serve(rec, req); err != nil {
					errs <- err.Error()
					return
				}
				body := rec.Body.String()
				ok := body == "plain" || body == "BR" && rec.Head.Get("Content-Encoding") == "br" ||
					body == gzBody && rec.Head.Get("Content-Encoding") == "gzip"
				if !ok || rec.ContentLength != int64(len(body)) {
					errs <- "declared " + strconv.FormatInt(rec.ContentLength, 10) + ", wrote " + strconv.Quote(body[:min(len(body), 10)]) +
						" as " + strconv.Quote(rec.Head.Get("Content-Encoding"))
					return
				}
			}
		}()
	}
	time.Sleep(150 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
