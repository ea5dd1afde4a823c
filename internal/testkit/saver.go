package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Saver rewrites one config file in turn by each of the ways it happens
// in practice.
type Saver struct {
	T    testing.TB
	Path string
	n    int
}

// SaveMethods are the ways a config gets rewritten.
var SaveMethods = []string{"rename", "truncate", "symlink"}

// Save writes data to the config by method.
func (s *Saver) Save(method, data string) {
	s.T.Helper()
	s.n++
	switch method {
	case "rename": // vim, VS Code, sed -i: a temp file renamed over the config
		tmp := filepath.Join(filepath.Dir(s.Path), fmt.Sprintf(".site.toml.%d.swp", s.n))
		if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
			s.T.Fatal(err)
		}
		if err := os.Rename(tmp, s.Path); err != nil {
			s.T.Fatal(err)
		}
	case "truncate": // an editor writing in place (through a symlink, if it is one)
		f, err := os.OpenFile(s.Path, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			s.T.Fatal(err)
		}
		half := len(data) / 2
		for _, part := range []string{data[:half], data[half:]} {
			if _, err := f.WriteString(part); err != nil {
				f.Close()
				s.T.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			s.T.Fatal(err)
		}
	case "symlink": // a Kubernetes ConfigMap update
		s.configMapSwap(data)
	default:
		s.T.Fatalf("unknown save method %q", method)
	}
}

// configMapSwap writes data as a new ConfigMap revision: a ..<rev>
// directory, the ..data symlink swapped to it by renaming a new symlink
// over it, the old revision removed. The config file is made the
// ConfigMap's symlink ..data/site.toml if a rename-save replaced it.
func (s *Saver) configMapSwap(data string) {
	dir := filepath.Dir(s.Path)
	rev := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", s.n%60, s.n)
	if err := os.Mkdir(filepath.Join(dir, rev), 0o755); err != nil {
		s.T.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, rev, filepath.Base(s.Path)), []byte(data), 0o644); err != nil {
		s.T.Fatal(err)
	}
	dataLink := filepath.Join(dir, "..data")
	old, _ := os.Readlink(dataLink)
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(rev, tmp); err != nil {
		s.T.Fatal(err)
	}
	if err := os.Rename(tmp, dataLink); err != nil {
		s.T.Fatal(err)
	}
	if fi, err := os.Lstat(s.Path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		lnk := s.Path + ".lnk"
		if err := os.Symlink(filepath.Join("..data", filepath.Base(s.Path)), lnk); err != nil {
			s.T.Fatal(err)
		}
		if err := os.Rename(lnk, s.Path); err != nil {
			s.T.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			s.T.Fatal(err)
		}
	}
}
