//go:build unix

package static

import (
	"io/fs"
	"os"
	"syscall"
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
