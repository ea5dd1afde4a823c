package static

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A cache or a resuming download compares the validators of every answer,
// so a 206 and a 304 carry the same strong ETag and Last-Modified as the
// 200.
func TestStrongETagAndLastModifiedOn200And206And304_RFC9110_8_8(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		root := writeTree(t, map[string]string{"f.txt": "0123456789"})
		s := newStaticMode(t, mode, Options{Root: root})
		first, _ := do(t, s, "GET", "/f.txt")
		etag := first.Head.Get("ETag")
		if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 3 {
			t.Fatalf("ETag %q is not a strong entity-tag", etag)
		}
		for _, hdr := range [][]string{nil, {"Range: bytes=0-1"}, {"If-None-Match: " + etag}} {
			rec, err := do(t, s, "GET", "/f.txt", hdr...)
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.Head.Get("ETag"); got != etag {
				t.Errorf("%d: ETag %q, want %q", rec.Code, got, etag)
			}
			if got := rec.Head.Get("Last-Modified"); got != testDate {
				t.Errorf("%d: Last-Modified %q, want %q", rec.Code, got, testDate)
			}
		}
	})
}

// The tag changes when the file does, even when only the inode tells (same
// size and mtime, replaced by rename).
func TestETagChangesWhenTheFileDoes_RFC9110_8_8_3(t *testing.T) {
	root := writeTree(t, map[string]string{"f.txt": "0123456789"})
	s := newStatic(t, Options{Root: root})
	p := filepath.Join(root, "f.txt")
	etag := func() string {
		rec, err := do(t, s, "GET", "/f.txt")
		if err != nil {
			t.Fatal(err)
		}
		return rec.Head.Get("ETag")
	}
	seen := map[string]string{etag(): "original"}
	change := func(what string, fn func()) {
		fn()
		e := etag()
		if prev, ok := seen[e]; ok {
			t.Errorf("after %s the ETag %s is the one seen after %s", what, e, prev)
		}
		seen[e] = what
	}
	change("a new mtime", func() { must(t, os.Chtimes(p, testTime.Add(time.Hour), testTime.Add(time.Hour))) })
	change("new content", func() { must(t, os.WriteFile(p, []byte("01234"), 0o644)) })
	change("replacement with the same size and mtime", func() {
		must(t, os.Chtimes(p, testTime, testTime))
		before := etag()
		tmp := filepath.Join(root, "tmp")
		must(t, os.WriteFile(tmp, []byte("abcde"), 0o644))
		must(t, os.Chtimes(tmp, testTime, testTime))
		keep := filepath.Join(root, "keep") // hold the old inode so it is not reused
		must(t, os.Link(p, keep))
		must(t, os.Rename(tmp, p))
		seen[before] = "mtime restored"
	})
}

// Each precondition on its own, then together, where the order of
// evaluation (§13.2.2) decides the answer.
func TestPreconditionsAnswer200Or304Or412InTheRFCsOrder_RFC9110_13(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		root := writeTree(t, map[string]string{"f.txt": "0123456789"})
		s := newStaticMode(t, mode, Options{Root: root})
		first, _ := do(t, s, "GET", "/f.txt")
		etag := first.Head.Get("ETag")
		weak := "W/" + etag
		const other = `"not-the-tag"`
		const invalid = "Fri, 32 Mar 2024 12:00:00 GMT"
		futureDate := time.Now().Add(48 * time.Hour).UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")
		tests := []struct {
			name   string
			method string
			header []string
			status int
		}{
			{"13.1.1 If-Match matching tag", "GET", []string{"If-Match: " + etag}, 200},
			{"13.1.1 If-Match star", "GET", []string{"If-Match: *"}, 200},
			{"13.1.1 If-Match list with the tag", "GET", []string{"If-Match: " + other + ", " + etag}, 200},
			{"13.1.1 If-Match in a second field line", "GET", []string{"If-Match: " + other, "If-Match: " + etag}, 200},
			{"13.1.1 If-Match other tag", "GET", []string{"If-Match: " + other}, 412},
			{"13.1.1 If-Match compares strongly", "GET", []string{"If-Match: " + weak}, 412},
			{"13.1.1 If-Match garbage matches nothing", "GET", []string{"If-Match: garbage"}, 412},
			{"13.1.1 If-Match on HEAD", "HEAD", []string{"If-Match: " + other}, 412},
			{"13.1.4 If-Unmodified-Since equal", "GET", []string{"If-Unmodified-Since: " + testDate}, 200},
			{"13.1.4 If-Unmodified-Since later", "GET", []string{"If-Unmodified-Since: " + afterDate}, 200},
			{"13.1.4 If-Unmodified-Since earlier", "GET", []string{"If-Unmodified-Since: " + beforeDate}, 412},
			{"13.1.4 If-Unmodified-Since invalid is ignored", "GET", []string{"If-Unmodified-Since: yesterday"}, 200},
			{"13.1.4 If-Unmodified-Since ignored under If-Match", "GET", []string{"If-Match: " + etag, "If-Unmodified-Since: " + beforeDate}, 200},
			{"13.1.2 If-None-Match matching tag", "GET", []string{"If-None-Match: " + etag}, 304},
			{"13.1.2 If-None-Match compares weakly", "GET", []string{"If-None-Match: " + weak}, 304},
			{"13.1.2 If-None-Match list", "GET", []string{"If-None-Match: " + other + ", " + weak}, 304},
			{"13.1.2 If-None-Match list without spaces", "GET", []string{"If-None-Match: " + other + "," + etag}, 304},
			{"13.1.2 If-None-Match star", "GET", []string{"If-None-Match: *"}, 304},
			{"13.1.2 If-None-Match on HEAD", "HEAD", []string{"If-None-Match: " + etag}, 304},
			{"13.1.2 If-None-Match other tag", "GET", []string{"If-None-Match: " + other}, 200},
			{"13.1.2 tag with a comma inside", "GET", []string{`If-None-Match: "a,b"`}, 200},
			{"13.1.3 If-Modified-Since equal", "GET", []string{"If-Modified-Since: " + testDate}, 304},
			{"13.1.3 If-Modified-Since later", "GET", []string{"If-Modified-Since: " + afterDate}, 304},
			{"13.1.3 If-Modified-Since earlier", "GET", []string{"If-Modified-Since: " + beforeDate}, 200},
			{"13.1.3 If-Modified-Since RFC 850 date", "GET", []string{"If-Modified-Since: Friday, 01-Mar-24 12:00:00 GMT"}, 304},
			{"13.1.3 If-Modified-Since asctime date", "GET", []string{"If-Modified-Since: Fri Mar  1 12:00:00 2024"}, 304},
			{"13.1.3 If-Modified-Since invalid is ignored", "GET", []string{"If-Modified-Since: " + invalid}, 200},
			{"13.1.3 If-Modified-Since in the future is ignored", "GET", []string{"If-Modified-Since: " + futureDate}, 200},
			{"13.1.3 If-Modified-Since on HEAD", "HEAD", []string{"If-Modified-Since: " + testDate}, 304},
			{"13.2.2 If-None-Match wins over If-Modified-Since", "GET", []string{"If-None-Match: " + other, "If-Modified-Since: " + testDate}, 200},
			{"13.2.2 If-Match is evaluated first", "GET", []string{"If-Match: " + other, "If-None-Match: " + etag}, 412},
			{"13.2.2 If-Unmodified-Since before If-None-Match", "GET", []string{"If-Unmodified-Since: " + beforeDate, "If-None-Match: " + etag}, 412},
			{"13.2.2 If-Match passes, If-None-Match matches", "GET", []string{"If-Match: " + etag, "If-None-Match: " + etag}, 304},
			{"13.2.2 conditions before ranges", "GET", []string{"If-None-Match: " + etag, "Range: bytes=0-1"}, 304},
			{"13.2.2 412 before 416", "GET", []string{"If-Match: " + other, "Range: bytes=100-"}, 412},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec, err := do(t, s, tt.method, "/f.txt", tt.header...)
				if got := status(rec, err); got != tt.status {
					t.Fatalf("status %d, want %d (err %v)", got, tt.status, err)
				}
				checkBodyLength(t, tt.method, rec)
			})
		}
	})
}

// A 304 carries the fields a 200 would that caches update from (ETag,
// Last-Modified, Vary) and no body; the browser-style revalidation with the
// first response's ETag gets it.
func TestNotModifiedCarriesTheCacheFieldsOfA200AndNoBody_RFC9110_15_4_5(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		root := writeTree(t, map[string]string{"app.js": "let x = 1", "app.js.gz": "GZ"})
		s := newStaticMode(t, mode, Options{Root: root})
		first, err := do(t, s, "GET", "/app.js", "Accept-Encoding: gzip, deflate, br, zstd")
		if err != nil || first.Code != 200 {
			t.Fatalf("first: %d %v", first.Code, err)
		}
		rec, err := do(t, s, "GET", "/app.js", "Accept-Encoding: gzip, deflate, br, zstd",
			"If-None-Match: "+first.Head.Get("ETag"), "If-Modified-Since: "+first.Head.Get("Last-Modified"))
		if err != nil || rec.Code != 304 {
			t.Fatalf("revalidation: %d %v", rec.Code, err)
		}
		for _, name := range []string{"ETag", "Last-Modified", "Vary"} {
			if got, want := rec.Head.Get(name), first.Head.Get(name); got != want || got == "" {
				t.Errorf("304 %s %q, 200 had %q", name, got, want)
			}
		}
		if rec.Body.Len() != 0 {
			t.Errorf("304 with a %d-byte body", rec.Body.Len())
		}
		if rec.ContentLength > 0 {
			t.Errorf("304 declares Content-Length %d", rec.ContentLength)
		}
		// The identity variant's tag does not validate the gzip variant.
		plain, _ := do(t, s, "GET", "/app.js")
		rec, _ = do(t, s, "GET", "/app.js", "Accept-Encoding: gzip", "If-None-Match: "+plain.Head.Get("ETag"))
		if rec.Code != 200 || rec.Head.Get("Content-Encoding") != "gzip" {
			t.Errorf("identity tag against gzip variant: %d %q, want 200 gzip", rec.Code, rec.Head.Get("Content-Encoding"))
		}
	})
}

// A file dated after the clock is sent as modified now, never later.
func TestLastModifiedIsNeverLaterThanNow_RFC9110_8_8_2_1(t *testing.T) {
	root := writeTree(t, map[string]string{"f.txt": "x"})
	future := time.Now().Add(24 * time.Hour)
	must(t, os.Chtimes(filepath.Join(root, "f.txt"), future, future))
	rec, _ := do(t, newStatic(t, Options{Root: root}), "GET", "/f.txt")
	lm, err := time.Parse(time.RFC1123, rec.Head.Get("Last-Modified"))
	if err != nil {
		t.Fatal(err)
	}
	if lm.After(time.Now()) {
		t.Errorf("Last-Modified %v is in the future", lm)
	}
}
