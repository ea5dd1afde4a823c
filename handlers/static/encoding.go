package static

import (
	"github.com/moreweb/moreweb/handlers/compress"
)

// codings are the precompressed sidecars looked for next to a file, in the
// order preferred when the client weighs them equally: brotli compresses web
// text best, zstd is close and cheap to decode, gzip is understood by all.
var codings = [...]struct {
	token, ext string
	c          compress.Coding
}{
	{"br", ".br", compress.Brotli},
	{"zstd", ".zst", compress.Zstd},
	{"gzip", ".gz", compress.Gzip},
}

// sidecars records which of codings exist as regular files next to a file.
type sidecars [len(codings)]bool

func (s *sidecars) any() bool { return s[0] || s[1] || s[2] }

// probeSidecars looks for every sidecar, not just the one the client would
// take: any of them existing makes the response vary on Accept-Encoding,
// whatever this client accepts. It returns the names of those found, so
// that serving one does not build its name again.
func probeSidecars(fsys fileSystem, name string) (found sidecars, names [len(codings)]string) {
	for i, c := range codings {
		sname := name + c.ext
		if fi, err := fsys.stat(sname); err == nil && fi.Mode().IsRegular() {
			found[i], names[i] = true, sname
		}
	}
	return found, names
}

// offer lists the codings e can be sent in, in the order the client's
// equal weights are settled by: the sidecars first, since a file
// compressed by hand wins over one compressed here (in the site's order,
// then their own), then what the site compresses on the fly when otf
// says e may be.
func (fl *files) offer(e *entry, otf bool) (list [len(codings)]compress.Coding, n int) {
	seen := [compress.Gzip + 1]bool{}
	add := func(c compress.Coding) {
		if !seen[c] {
			seen[c] = true
			list[n] = c
			n++
		}
	}
	for _, c := range fl.compress {
		if e.side.has(c) {
			add(c)
		}
	}
	for i, c := range codings {
		if e.side[i] {
			add(c.c)
		}
	}
	if otf {
		for _, c := range fl.compress {
			add(c)
		}
	}
	return list, n
}

// has reports whether the sidecar of coding c exists.
func (s *sidecars) has(c compress.Coding) bool { return sidecarIndex(c) >= 0 && s[sidecarIndex(c)] }

// sidecarIndex is c's index in codings, or -1.
func sidecarIndex(c compress.Coding) int {
	for i := range codings {
		if codings[i].c == c {
			return i
		}
	}
	return -1
}
