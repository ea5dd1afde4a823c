// Package static serves files under a root directory: index files,
// directory listings, validators and conditional requests (RFC 9110 §8.8,
// §13), byte ranges (§14) and precompressed sidecars (FILE.br, FILE.zst,
// FILE.gz), with a symlink and dotfile policy.
//
// Errors are returned, never rendered: a missing file is handlers.ErrNotFound
// so that a Chain can fall through, and the error page layer answers the
// rest.
package static

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/compress"
)

// Options configure a static root.
type Options struct {
	// Root is the absolute directory whose files are served. It is
	// followed: when the path comes to name another directory (a symlink
	// retargeted, a directory renamed into its place, deleted and made
	// again), that one is served, within about a second.
	Root string
	// Index names the files that serve a directory, tried in order. Nil
	// means ["index.html"]; an empty, non-nil slice means none.
	Index []string
	// Listing answers a directory that has no index file with an HTML list
	// of its entries; without it such a directory is 404.
	Listing bool
	// FollowSymlinks lets symlinks point outside Root. Without it a symlink
	// is followed only while it stays inside Root (and must be relative).
	FollowSymlinks bool
	// ServeDotfiles serves paths with a segment starting with "." (.git,
	// .env, .htpasswd). Without it they are 404, except /.well-known/.
	ServeDotfiles bool
	// Log, if set, is told when Root is found to name another directory,
	// none, or one again: once for each change, with err set when the
	// root answers 404 from then on. It is called on the request that
	// noticed, so it should not block.
	Log func(msg string, err error)
	// Compress are the codings files of a compressible type may be
	// compressed with on the fly, in the site's order of preference; none
	// turns it off. A small file is compressed once per coding and kept
	// with it in the cache; a larger one as it is sent.
	Compress []compress.Coding
}

// Static serves the files under one root. It is safe for concurrent use.
type Static struct {
	cur      atomic.Pointer[tree] // what the root path named when last looked at
	dir      string
	follow   bool
	index    []string
	listing  bool
	dotfiles bool
	compress []compress.Coding
	log      func(msg string, err error)
	now      func() time.Time // the clock, nil for the request's; tests move it

	// retireAfter is how long a replaced tree's directory handle stays
	// open for the requests that may still be using it.
	retireAfter time.Duration

	mu      sync.Mutex // serialises looking at the root path, retiring and Close
	retired map[*tree]*time.Timer
	closed  bool
}

// New checks o and opens the root. A root that cannot be opened now is an
// error; one that goes away later answers 404 until it is back.
func New(o Options) (*Static, error) {
	if !filepath.IsAbs(o.Root) {
		return nil, fmt.Errorf("static: root %q is not an absolute path", o.Root)
	}
	s := &Static{
		dir:         filepath.Clean(o.Root),
		follow:      o.FollowSymlinks,
		listing:     o.Listing,
		dotfiles:    o.ServeDotfiles,
		compress:    append([]compress.Coding(nil), o.Compress...),
		log:         o.Log,
		retireAfter: retireAfter,
		retired:     map[*tree]*time.Timer{},
	}
	if o.Index == nil {
		s.index = []string{"index.html"}
	} else {
		s.index = append([]string(nil), o.Index...)
	}
	for _, name := range s.index {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			return nil, fmt.Errorf("static: index %q is not a file name", name)
		}
	}
	t, err := s.openTree(time.Now())
	if err != nil {
		return nil, fmt.Errorf("static: root: %w", err)
	}
	s.cur.Store(t)
	return s, nil
}

// Close releases the root's directory handles, those of the directories it
// named before included, and the cached files. Requests still being served
// may fail after it, so call it once the snapshot that used s has drained.
func (s *Static) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for t, timer := range s.retired {
		timer.Stop()
		delete(s.retired, t)
		t.release()
	}
	return s.cur.Load().release()
}

// Serve answers GET, HEAD and OPTIONS for the file or directory at the
// request path. Existence is checked before the method so that a POST to a
// missing file falls through a Chain as 404, and 405 means "this exists but
// is static".
func (s *Static) Serve(w handlers.ResponseWriter, r *handlers.Request) error {
	name, ok := checkPath(r.Path, s.dotfiles)
	if !ok {
		return handlers.ErrNotFound
	}
	now := clock(s.now, r)
	fl := &s.current(now).files
	e, f, err := fl.openPath(name, now)
	if err != nil {
		return err
	}
	if f != nil {
		defer f.Close()
	}
	if done, err := checkMethod(w, r); done {
		return err
	}
	if !e.dir {
		return fl.serveFile(w, r, e, f, now)
	}
	if r.Path[len(r.Path)-1] != '/' {
		return redirectToDir(w, r)
	}
	return s.serveDir(w, r, fl, e, now)
}

// serveDir answers for a directory asked for with its slash: its index
// file, else a listing when allowed, else 404. The entry says which index
// name exists; if that file has gone since (or turned into a directory),
// the directory is looked at again, once. fl is the tree the request
// started in, so that every file it serves comes from one directory.
func (s *Static) serveDir(w handlers.ResponseWriter, r *handlers.Request, fl *files, e *entry, now time.Time) error {
	for again := true; e.index != ""; again = false {
		ie, f, err := fl.openName(e.index, now)
		if err == nil && !ie.dir {
			if f != nil {
				defer f.Close()
			}
			return fl.serveFile(w, r, ie, f, now)
		}
		if err != nil && err != handlers.ErrNotFound {
			return err
		}
		if !again {
			break
		}
		fl.cache.drop(e)
		if e, f, err = fl.load(e.name, now); err != nil {
			return err
		}
		if !e.dir { // replaced by a file under our feet
			if f != nil {
				f.Close()
			}
			return handlers.ErrNotFound
		}
	}
	if s.listing {
		return s.serveListing(w, r, fl.fsys, e.name)
	}
	return handlers.ErrNotFound
}

// File serves the file at path (absolute) whatever the request path, with
// the same methods, validators, ranges, sidecars and content type as Static.
// The path map uses it, compressing on the fly with codings as Static does
// with Options.Compress. A missing file, or a directory, is 404.
func File(path string, codings ...compress.Coding) handlers.Handler {
	return &fileHandler{path: path, files: files{fsys: absFS{}, compress: codings, cache: newFileCache(fileCacheEntries, fileCacheBytes)}}
}

type fileHandler struct {
	files
	path string
	now  func() time.Time // the clock, nil for the request's; tests move it
}

func (h *fileHandler) Serve(w handlers.ResponseWriter, r *handlers.Request) error {
	now := clock(h.now, r)
	e, f, err := h.openName(h.path, now)
	if err != nil {
		return err
	}
	if f != nil {
		defer f.Close()
	}
	if done, err := checkMethod(w, r); done {
		return err
	}
	if e.dir {
		return handlers.ErrNotFound
	}
	return h.serveFile(w, r, e, f, now)
}

const allowed = "GET, HEAD, OPTIONS"

// checkMethod answers OPTIONS and refuses what static content cannot do;
// done is false for GET and HEAD, which the caller goes on to serve.
func checkMethod(w handlers.ResponseWriter, r *handlers.Request) (done bool, err error) {
	switch r.Method {
	case "GET", "HEAD":
		return false, nil
	case "OPTIONS":
		h := w.Header()
		h.Set("Allow", allowed)
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(204)
		return true, nil
	}
	w.Header().Set("Allow", allowed)
	return true, handlers.ErrMethodNotAllowed
}

// redirectToDir sends a directory asked for without its trailing slash to
// the path with one, so that relative links inside its index resolve. The
// Location is relative ("./name/") and built from the raw path: nothing
// decoded is echoed, a "//host" path cannot become a protocol-relative
// redirect, and a name with a colon cannot be read as a scheme.
func redirectToDir(w handlers.ResponseWriter, r *handlers.Request) error {
	seg := r.RawPath[bytes.LastIndexByte(r.RawPath, '/')+1:]
	loc := make([]byte, 0, 4+len(seg)+len(r.RawQuery))
	loc = append(loc, "./"...)
	if len(seg) > 0 {
		loc = append(loc, seg...)
	} else {
		// Unreachable with the parser's cleaning (a raw path ending in
		// "/" keeps its slash), but never redirect to ourselves.
		p := r.Path
		loc = appendEscapedSegment(loc, p[bytes.LastIndexByte(p, '/')+1:])
	}
	loc = append(loc, '/')
	if len(r.RawQuery) > 0 {
		loc = append(loc, '?')
		loc = append(loc, r.RawQuery...)
	}
	h := w.Header()
	h.Set("Location", string(loc))
	h.Set("X-Content-Type-Options", "nosniff")
	w.SetContentLength(0)
	w.WriteHeader(301)
	return nil
}

var (
	_ handlers.Handler = (*Static)(nil)
	_ handlers.Handler = (*fileHandler)(nil)
)
