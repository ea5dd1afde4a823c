package static

import (
	"os"
	"path/filepath"
	"testing"
)

// A missing name costs one failed open a second however often it is asked
// for, and a file created under that name is served once the second is up.
func TestCacheRemembersMissForRevalidateInterval(t *testing.T) {
	root := writeTree(t, map[string]string{"index.html": "home"})
	s := newStatic(t, Options{Root: root})
	clock := settle(&s.now)
	fsys := count(served(s))

	get(t, s, "/favicon.ico", 404)
	fsys.take()
	for range 50 {
		get(t, s, "/favicon.ico", 404)
	}
	if opens, _ := fsys.take(); opens != 0 {
		t.Fatalf("50 repeated misses: %d opens, want none", opens)
	}
	if err := os.WriteFile(filepath.Join(root, "favicon.ico"), []byte("icon"), 0o644); err != nil {
		t.Fatal(err)
	}
	clock.advance(revalidateAfter)
	if rec := get(t, s, "/favicon.ico", 200); rec.Body.String() != "icon" {
		t.Fatalf("after the interval: %q", rec.Body.String())
	}
}

// Misses never push out entries of files that exist.
func TestCacheMissFloodKeepsFileEntries(t *testing.T) {
	root := writeTree(t, map[string]string{"index.html": "home"})
	s := newStatic(t, Options{Root: root})
	settle(&s.now)
	get(t, s, "/index.html", 200)
	for i := range 3 * maxMisses {
		get(t, s, "/missing-"+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676)), 404)
	}
	if n, _ := served(s).cache.len(); n == 0 {
		t.Fatal("the miss flood evicted the existing file's entry")
	}
}
