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
//
// Like the file cache, lookups take no lock (sync.Map); adds serialise on mu.
type missCache struct {
	names sync.Map // name -> int64, UnixNano of the failed open

	mu    sync.Mutex
	count int // names added since the last start-over
}

const maxMisses = 1024

// recent reports whether name was missing less than revalidateAfter ago.
func (m *missCache) recent(name []byte, now time.Time) bool {
	v, ok := m.names.Load(lookupKey(name))
	return ok && now.UnixNano()-v.(int64) < int64(revalidateAfter)
}

func (m *missCache) add(name string, now time.Time) {
	m.mu.Lock()
	if m.count >= maxMisses {
		m.names.Clear()
		m.count = 0
	}
	if _, loaded := m.names.Swap(name, now.UnixNano()); !loaded {
		m.count++
	}
	m.mu.Unlock()
}

func (m *missCache) clear() {
	m.mu.Lock()
	m.names.Clear()
	m.count = 0
	m.mu.Unlock()
}
