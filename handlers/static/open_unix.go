//go:build unix

package static

import (
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// O_NONBLOCK keeps an open of a FIFO under the root from waiting for a
// writer; it has no effect on regular files and directories.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK

// inode makes the ETag change when a file is replaced by another one with
// the same size and mtime (rsync --times, tar extraction).
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// openDir opens the directory a root path names for follow_symlinks: a
// path that names a FIFO or a file fails at once.
func openDir(path string) (*os.File, error) {
	return os.OpenFile(path, openFlags|syscall.O_DIRECTORY, 0)
}

// followFS is for sites that allow symlinks to point anywhere. Names are
// opened relative to the directory dir holds open, and the kernel follows
// links wherever they lead; checkPath has already refused "..", so only a
// symlink can leave the directory. Going through dir rather than the path
// means a request serves from the one directory its tree was made from,
// even while the path is being swapped to another, as os.Root does.
func followFS(dir *os.File) (fileSystem, error) {
	rc, err := dir.SyscallConn()
	if err != nil {
		return nil, err
	}
	return heldDirFS{rc}, nil
}

// heldDirFS reaches its directory through RawConn.Control, which holds the
// descriptor for the call: once the directory is closed it fails with
// os.ErrClosed, where a bare descriptor number could by then name another
// directory opened since.
type heldDirFS struct{ dir syscall.RawConn }

func (d heldDirFS) open(name string) (*os.File, error) {
	fd, err := -1, error(nil)
	cerr := d.dir.Control(func(dirfd uintptr) {
		for {
			fd, err = unix.Openat(int(dirfd), name, openFlags|unix.O_CLOEXEC, 0)
			if err != unix.EINTR {
				return
			}
		}
	})
	if cerr != nil {
		// Control fails only once the directory is closed, and says so
		// with an error of the poller's that os.ErrClosed does not match.
		return nil, &fs.PathError{Op: "openat", Path: name, Err: os.ErrClosed}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "openat", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// stat opens name to describe it: there is no fstatat that returns an
// fs.FileInfo, and the cache compares what stat says with what an open's
// fstat said. Only revalidation and the sidecar probes come here.
func (d heldDirFS) stat(name string) (fs.FileInfo, error) {
	f, err := d.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}
