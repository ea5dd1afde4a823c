package static

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/moreweb/moreweb/handlers"
)

// pathPolicySite has something behind every rule of the path policy, and a
// secret outside the root that symlinks point at.
func pathPolicySite(t *testing.T) string {
	t.Helper()
	base := writeTree(t, map[string]string{
		"root/a.txt":                    "A",
		"root/.env":                     "dotfile",
		"root/.git/config":              "git",
		"root/.well-known/security.txt": "contact",
		"root/.well-known/.hidden":      "hidden",
		"root/sub/b.txt":                "B",
		"root/sub/.hidden":              "sub-hidden",
		"outside/secret.txt":            "secret",
		"outside/dir/secret2.txt":       "secret2",
		"root/evil.com/sub/":            "",
		"root/sidecar-out.txt":          "plain",
	})
	root := filepath.Join(base, "root")
	links := map[string]string{
		"out.txt":            filepath.Join(base, "outside/secret.txt"), // absolute, leaves the root
		"outrel":             "../outside/dir",                          // relative, leaves the root
		"in.txt":             "a.txt",                                   // relative, stays inside
		"inabs.txt":          filepath.Join(root, "a.txt"),              // absolute, stays inside
		"sidecar-out.txt.gz": filepath.Join(base, "outside/secret.txt"),
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// Nothing leaves the root unless symlinks may, and dotfiles (.env, .git)
// are private except /.well-known/, which ACME and security.txt need.
func TestNothingOutsideTheRootNorADotfileIsServedUnlessAllowed(t *testing.T) {
	root := pathPolicySite(t)
	strict := newStatic(t, Options{Root: root})
	dotfiles := newStatic(t, Options{Root: root, ServeDotfiles: true})
	follow := newStatic(t, Options{Root: root, FollowSymlinks: true})
	tests := []struct {
		name   string
		h      *Static
		target string
		status int
		body   string
	}{
		{"plain file", strict, "/a.txt", 200, "A"},
		{"dot-dot cleaned by the parser stays inside", strict, "/../outside/secret.txt", 404, ""},
		{"encoded dot-dot stays inside", strict, "/%2e%2e/%2e%2e/outside/secret.txt", 404, ""},
		{"encoded slash and dot-dot", strict, "/sub%2f..%2f..%2foutside%2fsecret.txt", 404, ""},
		{"dotfile hidden", strict, "/.env", 404, ""},
		{"dot directory hidden", strict, "/.git/config", 404, ""},
		{"nested dotfile hidden", strict, "/sub/.hidden", 404, ""},
		{"encoded dotfile hidden", strict, "/%2eenv", 404, ""},
		{"well-known served", strict, "/.well-known/security.txt", 200, "contact"},
		{"dotfile under well-known hidden", strict, "/.well-known/.hidden", 404, ""},
		{"well-known only at the top", strict, "/sub/.well-known/x", 404, ""},
		{"symlink inside the root followed", strict, "/in.txt", 200, "A"},
		{"absolute symlink refused by os.Root", strict, "/inabs.txt", 404, ""},
		{"symlink out of the root refused", strict, "/out.txt", 404, ""},
		{"directory symlink out of the root refused", strict, "/outrel/secret2.txt", 404, ""},
		{"sidecar symlink out of the root ignored", strict, "/sidecar-out.txt", 200, "plain"},
		{"dotfiles served when allowed", dotfiles, "/.env", 200, "dotfile"},
		{"nested dotfile served when allowed", dotfiles, "/sub/.hidden", 200, "sub-hidden"},
		{"dotfiles allowed still refuses symlinks out", dotfiles, "/out.txt", 404, ""},
		{"follow: symlink out of the root", follow, "/out.txt", 200, "secret"},
		{"follow: directory symlink out", follow, "/outrel/secret2.txt", 200, "secret2"},
		{"follow: dotfiles still hidden", follow, "/.env", 404, ""},
		{"follow: dot-dot still stays inside", follow, "/../outside/secret.txt", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := do(t, tt.h, "GET", tt.target, "Accept-Encoding: gzip")
			if got := status(rec, err); got != tt.status {
				t.Fatalf("status %d, want %d (err %v)", got, tt.status, err)
			}
			if tt.status == 200 && rec.Body.String() != tt.body {
				t.Errorf("body %q, want %q", rec.Body.String(), tt.body)
			}
			if err != nil && err != handlers.ErrNotFound {
				t.Errorf("error %v, want handlers.ErrNotFound so a Chain falls through", err)
			}
		})
	}
}

// TestCheckPathKeepsDotSegmentsAndNULFromTheFileSystem is the second line of
// defence behind the parser: whatever reaches the handler, "..", "." and NUL
// never reach the file system.
func TestCheckPathKeepsDotSegmentsAndNULFromTheFileSystem(t *testing.T) {
	tests := []struct {
		path     string
		dotfiles bool
		name     string
		ok       bool
	}{
		{"/", false, ".", true},
		{"/a/b.txt", false, "a/b.txt", true},
		{"/a/", false, "a/", true},
		{"", false, "", false},
		{"a.txt", false, "", false},
		{"*", false, "", false},
		{"/a/../b", true, "", false},
		{"/..", true, "", false},
		{"/./a", true, "", false},
		{"/a/.", true, "", false},
		{"/a\x00b", true, "", false},
		{"/.x", false, "", false},
		{"/.x", true, ".x", true},
		{"/.well-known", false, ".well-known", true},
		{"/.well-known/a", false, ".well-known/a", true},
		{"/a/.well-known/a", false, "", false},
		{"/.well-known/..", true, "", false},
	}
	for _, tt := range tests {
		b, ok := checkPath([]byte(tt.path), tt.dotfiles)
		if name := string(b); name != tt.name || ok != tt.ok {
			t.Errorf("checkPath(%q, %v) = %q, %v; want %q, %v", tt.path, tt.dotfiles, b, ok, tt.name, tt.ok)
		}
	}
}

// Missing is 404, forbidden 403, anything else 500 with the cause kept for
// the log.
func TestOpenErrorsAre404Or403ElseA500KeepingTheCause(t *testing.T) {
	escape := errors.New("path escapes from parent")
	tests := []struct {
		err    error
		status int
	}{
		{&fs.PathError{Op: "openat", Path: "x", Err: syscall.ENOENT}, 404},
		{&fs.PathError{Op: "openat", Path: "x", Err: syscall.ENOTDIR}, 404},
		{&fs.PathError{Op: "openat", Path: "x", Err: syscall.ELOOP}, 404},
		{&fs.PathError{Op: "openat", Path: "x", Err: escape}, 404},
		{&fs.PathError{Op: "openat", Path: "x", Err: syscall.EACCES}, 403},
		{&fs.PathError{Op: "openat", Path: "x", Err: syscall.EPERM}, 403},
		{&fs.PathError{Op: "openat", Path: "x", Err: syscall.EMFILE}, 500},
		{&fs.PathError{Op: "openat", Path: "x", Err: syscall.EIO}, 500},
		{errors.New("strange"), 500},
	}
	for _, tt := range tests {
		err := openError(tt.err)
		if got := handlers.StatusOf(err); got != tt.status {
			t.Errorf("openError(%v) = %d, want %d", tt.err, got, tt.status)
		}
		if tt.status == 500 && !errors.Is(err, tt.err) {
			t.Errorf("openError(%v) lost the cause: %v", tt.err, err)
		}
	}
}

func TestUnreadableFileIs403(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	root := writeTree(t, map[string]string{"locked.txt": "x"})
	if err := os.Chmod(filepath.Join(root, "locked.txt"), 0); err != nil {
		t.Fatal(err)
	}
	rec, err := do(t, newStatic(t, Options{Root: root}), "GET", "/locked.txt")
	if got := status(rec, err); got != 403 {
		t.Fatalf("status %d, want 403", got)
	}
}

// A directory without its slash answers 301 to the path with one, query
// kept, from the raw path so nothing decoded is echoed.
func TestDirectoryWithoutTrailingSlashRedirectsWithTheQueryKept(t *testing.T) {
	root := writeTree(t, map[string]string{
		"sub/index.html":      "sub index",
		"a dir/x.txt":         "x",
		"evil.com/sub/x.txt":  "x",
		"colon:dir/x.txt":     "x",
		"file.txt":            "f",
		"nested/deeper/x.txt": "x",
	})
	s := newStatic(t, Options{Root: root})
	tests := []struct {
		name, method, target, location string
	}{
		{"plain", "GET", "/sub", "./sub/"},
		{"HEAD too", "HEAD", "/sub", "./sub/"},
		{"query kept", "GET", "/sub?x=1&y=%0D%0A", "./sub/?x=1&y=%0D%0A"},
		{"escaped name kept escaped", "GET", "/a%20dir", "./a%20dir/"},
		{"nested", "GET", "/nested/deeper", "./deeper/"},
		{"no protocol-relative redirect", "GET", "//evil.com/sub", "./sub/"},
		{"colon not read as a scheme", "GET", "/colon:dir", "./colon:dir/"},
		{"encoded slash keeps its raw segment", "GET", "/nested%2Fdeeper", "./nested%2Fdeeper/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := do(t, s, tt.method, tt.target)
			if got := status(rec, err); got != 301 {
				t.Fatalf("status %d, want 301 (err %v)", got, err)
			}
			if got := rec.Head.Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
			if rec.ContentLength != 0 {
				t.Errorf("Content-Length %d, want 0", rec.ContentLength)
			}
		})
	}
	t.Run("with slash serves the index", func(t *testing.T) {
		rec, err := do(t, s, "GET", "/sub/")
		if status(rec, err) != 200 || rec.Body.String() != "sub index" {
			t.Fatalf("got %d %q", status(rec, err), rec.Body.String())
		}
	})
	t.Run("file with a slash is 404", func(t *testing.T) {
		rec, err := do(t, s, "GET", "/file.txt/")
		if got := status(rec, err); got != 404 {
			t.Fatalf("status %d, want 404", got)
		}
	})
}

// Index files are tried in order; a directory with an index name is skipped;
// without an index and listing the directory is 404.
func TestIndexFilesAreTriedInOrderSkippingDirectories(t *testing.T) {
	root := writeTree(t, map[string]string{
		"index.html":              "root index",
		"both/index.htm":          "htm",
		"both/default.txt":        "txt",
		"second/default.txt":      "second",
		"dirnamed/index.htm/x":    "not an index",
		"dirnamed/default.txt":    "after the directory",
		"none/other.txt":          "o",
		"default/index.html":      "default name",
		"default/index.html.gz":   "gz",
		"default/ignored.htm":     "x",
		"dotindex/.index.html":    "dot",
		"dotindex/unrelated.html": "x",
	})
	idx := []string{"index.htm", "default.txt"}
	tests := []struct {
		name   string
		index  []string
		target string
		status int
		body   string
		ctype  string
	}{
		{"nil means index.html", nil, "/", 200, "root index", "text/html; charset=utf-8"},
		{"nil means index.html in a subdirectory", nil, "/default/", 200, "default name", "text/html; charset=utf-8"},
		{"first in order wins", idx, "/both/", 200, "htm", "text/html; charset=utf-8"},
		{"second when the first is missing", idx, "/second/", 200, "second", "text/plain; charset=utf-8"},
		{"directory named like an index skipped", idx, "/dirnamed/", 200, "after the directory", "text/plain; charset=utf-8"},
		{"no index, no listing", idx, "/none/", 404, "", ""},
		{"empty list means none", []string{}, "/", 404, "", ""},
		{"configured dot index served", []string{".index.html"}, "/dotindex/", 200, "dot", "text/html; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStatic(t, Options{Root: root, Index: tt.index})
			rec, err := do(t, s, "GET", tt.target)
			if got := status(rec, err); got != tt.status {
				t.Fatalf("status %d, want %d (err %v)", got, tt.status, err)
			}
			if tt.status != 200 {
				return
			}
			if rec.Body.String() != tt.body {
				t.Errorf("body %q, want %q", rec.Body.String(), tt.body)
			}
			if got := rec.Head.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if rec.Head.Get("ETag") == "" || rec.Head.Get("Last-Modified") == "" {
				t.Error("index file served without validators")
			}
		})
	}
}

func TestNewRejectsABadRootOrIndexName(t *testing.T) {
	root := writeTree(t, map[string]string{"f.txt": "x"})
	tests := []struct {
		name string
		o    Options
	}{
		{"relative root", Options{Root: "site"}},
		{"missing root", Options{Root: filepath.Join(root, "missing")}},
		{"root is a file", Options{Root: filepath.Join(root, "f.txt")}},
		{"missing root, following symlinks", Options{Root: filepath.Join(root, "missing"), FollowSymlinks: true}},
		{"root is a file, following symlinks", Options{Root: filepath.Join(root, "f.txt"), FollowSymlinks: true}},
		{"index with a slash", Options{Root: root, Index: []string{"a/index.html"}}},
		{"index dot-dot", Options{Root: root, Index: []string{".."}}},
		{"empty index name", Options{Root: root, Index: []string{""}}},
	}
	for _, tt := range tests {
		if s, err := New(tt.o); err == nil {
			s.Close()
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
}
