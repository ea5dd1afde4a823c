package static

import (
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"time"
)

// A site's root is followed by its path, not held by its first directory.
// Deployments publish a site by replacing the root as a whole: a symlink
// retargeted to a new release (current -> releases/124, swapped by renaming
// a new link over it), a directory renamed into place, or a directory
// deleted and made again. The os.Root opened at start would keep serving
// the old directory, or a deleted one, for as long as the process lives.
//
// So what the path names is looked at on the request path, at most once
// per revalidateAfter, as the file cache revalidates its entries: the
// first request after the interval stats the path and compares its device
// and inode with the directory held open. A request in between costs two
// atomic loads, no system call, no allocation. When the path names another
// directory, that one is opened and published as the new tree in one
// atomic store, with a cache of its own; when it names none, a tree that
// answers 404 is, and the path is looked at again every interval until a
// directory is back.
//
// Each request takes the tree once and serves from it alone, and every
// name is opened relative to the tree's directory handle (os.Root, or with
// follow_symlinks an open directory and openat), never through the path.
// So a response is all of the old directory or all of the new one, never a
// file from each, a moment in a swap when the path names nothing does not
// fail requests, and an old tree's entries cannot leak into the new one's
// cache. The handle also pins the directory's inode: one deleted and made
// again cannot come back under the same inode number and pass for the one
// being served.

// tree is one directory the root path named, with what is cached of it.
type tree struct {
	files
	// dir holds the directory open: the *os.Root of fsys, or with
	// follow_symlinks the *os.File names are opened relative to. It is
	// nil when the path named no directory that could be opened.
	dir io.Closer
	// fi describes dir (by its handle, not by the path, which may have
	// moved on between the open and the stat), or, for a tree without
	// one, what the path named then: nil for nothing.
	fi fs.FileInfo

	// due is when the root path is to be looked at next (UnixNano).
	due atomic.Int64

	// suspect is set, under Static.mu, when the path named nothing at the
	// last look while dir was being served.
	suspect bool
}

const (
	// retireAfter is how long a replaced directory's handle stays open.
	// A request uses its tree's handle only until it writes its head,
	// and after that just the descriptors it opened, which closing the
	// handle does not touch; and a call in progress holds the handle
	// (os.Root, RawConn.Control) past a close. So a minute is far more than any request needs, and
	// still bounds what a root swapped every second can keep open.
	// Counting the requests in each tree would be exact, but it would put
	// two atomic adds on one shared counter in every request, which is
	// what the lock-free cache is there to avoid; leaving the handle to
	// the garbage collector would tie descriptors to a GC cycle that a
	// server allocating nothing per request may not run for minutes.
	retireAfter = time.Minute
	// confirmGoneAfter is how soon a root path found naming nothing is
	// looked at again before the site answers 404. `ln -sfn` and
	// `rm -r www && mv new www` leave the path empty for a moment; the
	// old tree keeps serving through it.
	confirmGoneAfter = 100 * time.Millisecond
)

// current returns the tree to serve a request received at now, looking at
// the root path first when it is due.
func (s *Static) current(now time.Time) *tree {
	t := s.cur.Load()
	ns, due := now.UnixNano(), t.due.Load()
	// A due more than two intervals ahead means the wall clock was set
	// back; look now rather than wait for it to catch up. Within that,
	// requests received a moment before the last look do not look again.
	if ns < due && due-ns <= 2*int64(revalidateAfter) {
		return t
	}
	// The request that moves due on looks; those racing with it serve
	// the tree as it is.
	if !t.due.CompareAndSwap(due, ns+int64(revalidateAfter)) {
		return t
	}
	t, msg, err := s.look(t, now)
	if msg != "" && s.log != nil {
		s.log(msg, err)
	}
	return t
}

// look compares what the root path names now with t, the tree serving,
// and returns the tree to serve from now on, with what to log about the
// change ("" for none).
func (s *Static) look(t *tree, now time.Time) (_ *tree, msg string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.cur.Load(); cur != t || s.closed {
		return cur, "", nil
	}
	fi, statErr := os.Stat(s.dir)
	if t.names(fi, statErr) {
		t.suspect = false
		return t, "", nil
	}
	if statErr != nil && t.dir != nil && !t.suspect {
		t.suspect = true
		t.due.Store(now.Add(confirmGoneAfter).UnixNano())
		return t, "", nil
	}
	nt, err := s.openTree(now)
	if t.dir != nil && nt.dir != nil && os.SameFile(nt.fi, t.fi) {
		// The stat failed but the directory is still there after all.
		nt.release()
		t.suspect = false
		return t, "", nil
	}
	s.cur.Store(nt)
	s.retire(t)
	switch {
	case err != nil:
		return nt, "site root gone; answering 404 until it is back", err
	case t.dir == nil:
		return nt, "site root back", nil
	}
	return nt, "site root replaced; serving the directory its path names now", nil
}

// names reports whether fi and err, from a stat of the root path, describe
// what t was made from.
func (t *tree) names(fi fs.FileInfo, err error) bool {
	if t.fi == nil || err != nil {
		return t.fi == nil && err != nil
	}
	if !os.SameFile(fi, t.fi) {
		return false
	}
	// A directory that could not be opened is tried again once its
	// permissions change.
	return t.dir != nil || fi.Mode() == t.fi.Mode()
}

// openTree opens the directory the root path names now. When there is none
// that can be opened, it returns why, and a tree that answers 404.
func (s *Static) openTree(now time.Time) (*tree, error) {
	t := &tree{files: files{index: s.index, compress: s.compress, cache: newFileCache(rootCacheEntries, rootCacheBytes)}}
	t.due.Store(now.Add(revalidateAfter).UnixNano())
	var err error
	if s.follow {
		err = t.openFollowing(s.dir)
	} else {
		err = t.openRoot(s.dir)
	}
	if err != nil {
		t.fi, _ = os.Stat(s.dir)
		t.fsys = goneFS{}
		return t, err
	}
	return t, nil
}

func (t *tree) openRoot(path string) error {
	root, err := os.OpenRoot(path)
	if err != nil {
		return err
	}
	if t.fi, err = root.Stat("."); err != nil {
		root.Close()
		return err
	}
	t.dir, t.fsys = root, rootFS{root}
	return nil
}

func (t *tree) openFollowing(path string) error {
	dir, err := openDir(path)
	if err != nil {
		return err
	}
	if t.fi, err = dir.Stat(); err == nil {
		t.fsys, err = followFS(dir)
	}
	if err != nil {
		dir.Close()
		return err
	}
	t.dir = dir
	return nil
}

// retire drops what t cached and closes its directory handle after
// s.retireAfter, or at Close if that comes first. Called with s.mu held.
func (s *Static) retire(t *tree) {
	t.cache.clear()
	t.misses.clear()
	if t.dir == nil {
		return
	}
	s.retired[t] = time.AfterFunc(s.retireAfter, func() {
		s.mu.Lock()
		_, ok := s.retired[t]
		delete(s.retired, t)
		s.mu.Unlock()
		if ok {
			t.release()
		}
	})
}

// release closes t's directory handle and drops its cache.
func (t *tree) release() error {
	t.cache.clear()
	t.misses.clear()
	if t.dir == nil {
		return nil
	}
	return t.dir.Close()
}

// goneFS is the file system of a root path that names no directory: every
// name is missing.
type goneFS struct{}

func (goneFS) open(string) (*os.File, error)    { return nil, fs.ErrNotExist }
func (goneFS) stat(string) (fs.FileInfo, error) { return nil, fs.ErrNotExist }
