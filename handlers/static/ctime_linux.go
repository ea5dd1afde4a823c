package static

import (
	"io/fs"
	"syscall"
)

// ctimeOf is the inode's change time: it moves on every write, chmod,
// rename and link, even when the mtime is set back (touch -d, rsync
// --times), so the cache compares it as well as the fields of the ETag.
func ctimeOf(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ctim.Nano()
	}
	return 0
}
