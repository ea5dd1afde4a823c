package static

import (
	"sync"
	"time"
)

// missCache remembers, for revalidateAfter, names that were not found, so
// that a hot missing path (a favicon a site lacks, a scanner's probe
// repeated) costs no failed open per request. It is the same bound as for
// a changed file: a file that appears is served within a second. Kept apart
// from the file cache so that a flood of random missing names can never
// evict the entries of files that exist; when full it simply starts over.
type missCache struct {
	mu    sync.RWMutex
	names map[string]int64 // name -> UnixNano of the failed open
}

const maxMisses = 1024

// recent reports whether name was missing less than revalidateAfter ago.
// Indexing with string(name) does not allocate.
func (m *missCache) recent(name []byte, now time.Time) bool {
	m.mu.RLock()
	t, ok := m.names[string(name)]
	m.mu.RUnlock()
	return ok && now.UnixNano()-t < int64(revalidateAfter)
}

func (m *missCache) add(name string, now time.Time) {
	m.mu.Lock()
	if m.names == nil || len(m.names) >= maxMisses {
		m.names = make(map[string]int64, 64)
	}
	m.names[name] = now.UnixNano()
	m.mu.Unlock()
}
