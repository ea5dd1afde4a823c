package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// maxReadFile bounds templates and error pages read at load time, so a
// path naming something huge fails the check instead of exhausting memory.
const maxReadFile = 8 << 20

// checkDir returns why path is not a directory moreweb can serve from, or "".
func checkDir(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return describe(path, err)
	}
	if !fi.IsDir() {
		return fmt.Sprintf("%q is not a directory", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return describe(path, err)
	}
	f.Close()
	return ""
}

// checkFile returns why path is not a file moreweb can serve, or "".
func checkFile(path string) string {
	f, msg := openRegular(path)
	if f != nil {
		f.Close()
	}
	return msg
}

// readFile returns the contents of path, or why it cannot be read.
func readFile(path string) ([]byte, string) {
	f, msg := openRegular(path)
	if msg != "" {
		return nil, msg
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxReadFile+1))
	if err != nil {
		return nil, describe(path, err)
	}
	if len(data) > maxReadFile {
		return nil, fmt.Sprintf("%q is larger than %d MiB", path, maxReadFile>>20)
	}
	return data, ""
}

// openRegular opens path for reading after checking it is a regular file:
// opening a FIFO would block, and a directory is a mistake.
func openRegular(path string) (*os.File, string) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, describe(path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Sprintf("%q is a directory, not a file", path)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Sprintf("%q is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, describe(path, err)
	}
	return f, ""
}

// describe words a filesystem error for a config message; the path is
// resolved already, so users see where a relative path led.
func describe(path string, err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%q does not exist", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("%q cannot be read: permission denied", path)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%q: %v", path, pe.Err)
	}
	return err.Error()
}
