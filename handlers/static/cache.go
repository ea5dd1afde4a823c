package static

import (
	"io/fs"
	"sync"
	"time"
)

// sidecarCache remembers which precompressed sidecars exist next to a file,
// so that a hot file costs one open and one fstat per request instead of
// three more stats for FILE.br, FILE.zst and FILE.gz — most of which fail,
// and every failure allocates an error. (That is the part of issue 4 point 5
// this package does; the file itself is still opened per request, because
// sendfile reads from the descriptor's offset, which requests cannot share.)
//
// An entry is trusted while the file it was probed for keeps its size,
// mtime and inode, and for at most sidecarTTL: a sidecar added or removed
// without touching the original is noticed within that time, and one that
// disappears is never served because the sidecar itself is opened per
// request (see forget).
type sidecarCache struct {
	mu      sync.RWMutex
	entries map[string]sidecarEntry
	max     int
}

type sidecarEntry struct {
	id      fileID
	found   sidecars
	expires int64 // UnixNano
}

// fileID is what changes when a file is rewritten or replaced.
type fileID struct {
	size  int64
	mtime int64
	ino   uint64
}

func idOf(fi fs.FileInfo) fileID {
	return fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ino: inode(fi)}
}

const (
	sidecarTTL        = time.Second
	sidecarCacheLimit = 4096 // entries per root; ~100 bytes each
)

func newSidecarCache(max int) *sidecarCache {
	return &sidecarCache{entries: make(map[string]sidecarEntry), max: max}
}

// lookup returns the sidecars of name, whose current FileInfo is fi,
// probing fsys only when the cached answer is missing, stale or expired.
func (c *sidecarCache) lookup(fsys fileSystem, name string, fi fs.FileInfo, now time.Time) sidecars {
	id, t := idOf(fi), now.UnixNano()
	c.mu.RLock()
	e, ok := c.entries[name]
	c.mu.RUnlock()
	if ok && e.id == id && t < e.expires {
		return e.found
	}
	found := probeSidecars(fsys, name)
	c.mu.Lock()
	if _, exists := c.entries[name]; !exists && len(c.entries) >= c.max {
		// Evict an arbitrary entry: map iteration order is unspecified,
		// which is good enough to keep the size bounded without an LRU
		// list to update on every hit.
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[name] = sidecarEntry{id: id, found: found, expires: t + int64(sidecarTTL)}
	c.mu.Unlock()
	return found
}

// forget drops name's entry, when a sidecar it listed could not be opened.
func (c *sidecarCache) forget(name string) {
	c.mu.Lock()
	delete(c.entries, name)
	c.mu.Unlock()
}

func (c *sidecarCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
