//go:build !linux

package static

import "io/fs"

// ctimeOf is 0 where the field has another name or does not exist: the
// cache then compares size, mtime and inode only.
func ctimeOf(fs.FileInfo) int64 { return 0 }
