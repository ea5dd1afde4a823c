package static

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/compress"
)

// files is where a handler's files come from, and what it remembers about
// them between requests.
type files struct {
	fsys   fileSystem
	cache  *fileCache
	misses missCache
	index  []string // the names that serve a directory; none for File
	// compress is the site's on-the-fly codings, in its order; none: off.
	compress []compress.Coding
}

// clock is the time for r: the test clock now, else when r arrived (a
// request is served within moments of that), else the time now.
func clock(now func() time.Time, r *handlers.Request) time.Time {
	if now != nil {
		return now()
	}
	if !r.Received.IsZero() {
		return r.Received
	}
	return time.Now()
}

// fileSystem is where names are opened. Names come from checkPath or from
// the handler's own configuration, never raw from the client.
type fileSystem interface {
	open(name string) (*os.File, error)
	stat(name string) (fs.FileInfo, error)
}

// rootFS confines every lookup, symlinks included, to the root directory:
// the kernel-backed walk of os.Root refuses any path that would leave it.
// Names are relative to the root ("." is the root itself).
type rootFS struct{ root *os.Root }

func (r rootFS) open(name string) (*os.File, error) {
	return r.root.OpenFile(name, openFlags, 0)
}

func (r rootFS) stat(name string) (fs.FileInfo, error) { return r.root.Stat(name) }

// absFS opens absolute paths from the configuration as they are (File).
type absFS struct{}

func (absFS) open(name string) (*os.File, error)    { return os.OpenFile(name, openFlags, 0) }
func (absFS) stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// openStat opens name and describes it. Everything a request learns about the
// file system goes through here, through fileSystem.stat and through the
// cache, which is filled from both.
func openStat(fsys fileSystem, name string) (*os.File, fs.FileInfo, error) {
	f, err := fsys.open(name)
	if err != nil {
		return nil, nil, openError(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, &handlers.Error{Status: 500, Err: err}
	}
	// A device, socket or FIFO under the root is not content: reading one
	// could block or never end.
	if !fi.Mode().IsRegular() && !fi.IsDir() {
		f.Close()
		return nil, nil, handlers.ErrNotFound
	}
	return f, fi, nil
}

// openError turns a failed open into the status to answer: what does not
// exist, or may not be reached by this path, is 404; what exists but may not
// be read is 403; anything else (EMFILE, EIO) is the server's fault.
func openError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return handlers.ErrNotFound
	case errors.Is(err, fs.ErrPermission):
		return handlers.ErrForbidden
	case errors.Is(err, os.ErrClosed):
		// A request that outlived its root's handle (Close, or the
		// grace period after the root was replaced): not the client's
		// doing, and not a statement that the file is missing.
		return &handlers.Error{Status: 500, Err: err}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOTDIR, syscall.ELOOP, syscall.ENAMETOOLONG, syscall.EINVAL:
			return handlers.ErrNotFound
		}
		return &handlers.Error{Status: 500, Err: err}
	}
	// os.Root reports a path that escapes it (through ".." or a symlink,
	// absolute symlinks included) with an unexported, non-errno error.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return handlers.ErrNotFound
	}
	return &handlers.Error{Status: 500, Err: err}
}

// checkPath turns the request path into a name for fileSystem, or refuses
// it. The parser has already decoded it and removed dot-segments; this is a
// second line of defence, so a parser bug cannot become a traversal. The
// name is a slice of p (or "."), so that a cache hit allocates nothing.
func checkPath(p []byte, dotfiles bool) ([]byte, bool) {
	if len(p) == 0 || p[0] != '/' {
		return nil, false
	}
	for start := 1; start < len(p); {
		end := start
		for end < len(p) && p[end] != '/' {
			if p[end] == 0 {
				return nil, false
			}
			end++
		}
		seg := p[start:end]
		if len(seg) > 0 && seg[0] == '.' {
			if string(seg) == "." || string(seg) == ".." {
				return nil, false
			}
			// RFC 8615 well-known URIs (ACME challenges, security.txt)
			// are meant to be fetched even where dotfiles are private.
			wellKnown := start == 1 && string(seg) == ".well-known"
			if !dotfiles && !wellKnown {
				return nil, false
			}
		}
		start = end + 1
	}
	if len(p) == 1 {
		return rootName, true
	}
	return p[1:], true
}

// rootName is the root directory's name for fileSystem.
var rootName = []byte(".")
