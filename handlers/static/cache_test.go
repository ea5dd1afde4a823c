package static

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/moreweb/moreweb/handlers/handlertest"
)

func statFile(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// TestSidecarCacheTTL: a sidecar added next to an unchanged file is noticed
// once the entry expires, not before.
func TestSidecarCacheTTL(t *testing.T) {
	root := writeTree(t, map[string]string{"app.js": "plain"})
	fsys := dirFS(root)
	c := newSidecarCache(8)
	fi := statFile(t, filepath.Join(root, "app.js"))
	t0 := time.Now()
	if got := c.lookup(fsys, "app.js", fi, t0); got.any() {
		t.Fatalf("sidecars %v before any exists", got)
	}
	os.WriteFile(filepath.Join(root, "app.js.gz"), []byte("GZ"), 0o644)
	if got := c.lookup(fsys, "app.js", fi, t0.Add(sidecarTTL/2)); got.any() {
		t.Errorf("entry re-probed before its TTL: %v", got)
	}
	if got := c.lookup(fsys, "app.js", fi, t0.Add(sidecarTTL)); !got[2] {
		t.Errorf("gzip sidecar not seen after the TTL: %v", got)
	}
}

// TestSidecarCacheInvalidatedByChange: rewriting the file (new size, mtime
// or inode) re-probes at once, whatever the TTL.
func TestSidecarCacheInvalidatedByChange(t *testing.T) {
	root := writeTree(t, map[string]string{"app.js": "plain"})
	fsys := dirFS(root)
	c := newSidecarCache(8)
	p := filepath.Join(root, "app.js")
	t0 := time.Now()
	c.lookup(fsys, "app.js", statFile(t, p), t0)
	os.WriteFile(p+".br", []byte("BR"), 0o644)
	os.WriteFile(p, []byte("rebuilt"), 0o644)
	if got := c.lookup(fsys, "app.js", statFile(t, p), t0.Add(time.Millisecond)); !got[0] {
		t.Errorf("brotli sidecar not seen after the file changed: %v", got)
	}
}

// TestSidecarCacheRemovedSidecar: a sidecar deleted while cached is never
// sent; the file itself is, and the next request looks again.
func TestSidecarCacheRemovedSidecar(t *testing.T) {
	root := writeTree(t, map[string]string{"app.js": "plain", "app.js.gz": "GZ"})
	s := newStatic(t, Options{Root: root})
	rec, _ := do(t, s, "GET", "/app.js", "Accept-Encoding: gzip")
	if rec.Body.String() != "GZ" {
		t.Fatalf("body %q, want the gzip sidecar", rec.Body.String())
	}
	os.Remove(filepath.Join(root, "app.js.gz"))
	rec, err := do(t, s, "GET", "/app.js", "Accept-Encoding: gzip")
	if err != nil || rec.Code != 200 || rec.Body.String() != "plain" || rec.Head.Has("Content-Encoding") {
		t.Fatalf("after removal: %d %q %q %v", rec.Code, rec.Body.String(), rec.Head.Get("Content-Encoding"), err)
	}
	rec, _ = do(t, s, "GET", "/app.js", "Accept-Encoding: gzip")
	if rec.Head.Has("Vary") {
		t.Error("still varies after the only sidecar went and the entry was dropped")
	}
}

// TestSidecarCacheBounded: the cache never holds more than its limit,
// however many files are asked for.
func TestSidecarCacheBounded(t *testing.T) {
	files := map[string]string{}
	for i := range 20 {
		files["f"+strconv.Itoa(i)] = "x"
	}
	root := writeTree(t, files)
	c := newSidecarCache(5)
	for name := range files {
		c.lookup(dirFS(root), name, statFile(t, filepath.Join(root, name)), time.Now())
		if c.len() > 5 {
			t.Fatalf("%d entries, limit 5", c.len())
		}
	}
}

// TestConcurrentServing runs requests while a sidecar comes and goes (by
// rename, as deployments should replace files), for the race detector and
// for the invariant that the declared length is what is written.
func TestConcurrentServing(t *testing.T) {
	root := writeTree(t, map[string]string{"app.js": "plain", "app.js.br": "BR", "gz.tmp": "GZ"})
	s := newStatic(t, Options{Root: root})
	req := handlertest.Request(t, "GET /app.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br;q=0.5\r\n\r\n")
	stop := make(chan struct{})
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
			if i%2 == 0 {
				os.Link(tmp, gz+".new")
				os.Rename(gz+".new", gz)
			} else {
				os.Remove(gz)
			}
		}
	}()
	errs := make(chan string, 100)
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
					body == "GZ" && rec.Head.Get("Content-Encoding") == "gzip"
				if !ok || rec.ContentLength != int64(len(body)) {
					errs <- "declared " + strconv.FormatInt(rec.ContentLength, 10) + ", wrote " + strconv.Quote(body) +
						" as " + strconv.Quote(rec.Head.Get("Content-Encoding"))
					return
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
