//go:build !unix

package static

import (
	"io/fs"
	"os"
)

const openFlags = os.O_RDONLY

func inode(fs.FileInfo) uint64 { return 0 }
