//go:build !unix

package static

import (
	"errors"
	"io/fs"
	"os"
)

const openFlags = os.O_RDONLY

func inode(fs.FileInfo) uint64 { return 0 }

func openDir(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: errors.New("not a directory")}
	}
	return f, nil
}

// followFS opens names through the root path here: without openat the
// directory held open only pins the identity the path is compared with.
func followFS(dir *os.File) (fileSystem, error) { return pathFS(dir.Name()), nil }

// pathFS joins names to the directory's path and lets the OS follow links
// wherever they lead; checkPath has already refused "..", so only a
// symlink can leave the directory.
type pathFS string

func (d pathFS) open(name string) (*os.File, error) {
	return os.OpenFile(string(d)+"/"+name, openFlags, 0)
}

func (d pathFS) stat(name string) (fs.FileInfo, error) { return os.Stat(string(d) + "/" + name) }
