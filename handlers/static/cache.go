package static

import (
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/compress"
)

// The file cache remembers, per name, what serving it needs: whether it is
// a directory and which index file serves it, a file's validators and
// precompressed sidecars, and the content of a small file. A hot small file
// then costs no system call at all: no open, no fstat, no read — head and
// body leave in the one write the listener makes.
//
// What is cached, by size:
//
//   - A regular file of at most maxBodyBytes is held in memory and written
//     from there with w.Write. An *os.File cannot be shared between
//     concurrent requests (sendfile reads from the descriptor's offset), and
//     for a body this small a copy costs less than open+fstat+close.
//   - A larger file is opened per request, so that its body can go to the
//     socket by sendfile from a descriptor of its own; the entry saves the
//     sidecar probes, and the fstat on the fresh descriptor is compared
//     with the entry, so what is sent always matches its ETag and length.
//   - A directory remembers which of the index names exists in it.
//   - A name not found is remembered for revalidateAfter too, apart from
//     the entries (misses.go); 403 and other failures are not cached.
//
// Staleness is bounded by revalidation, not by events: an entry is trusted
// for revalidateAfter, then the next request that finds it claims it and
// stats the name again (one stat per entry per interval, however hot) and
// compares size, mtime, ctime and inode (fileID). Anything that replaces,
// rewrites, renames over, chmods or re-links the file changes one of them.
// So a change is served at most revalidateAfter late (plus the time an
// in-flight request takes); a big file, opened per request, is never
// served stale. fsnotify would cut the window to the event latency, but
// needs a watch per directory (inotify limits), sees nothing through a
// renamed parent or a retargeted symlink higher up, and would still need
// this check as a backstop.
//
// A file whose mtime or ctime is within racyWindow of now is not held in
// memory ("racy git"): timestamps have a coarse granularity, so a rewrite
// with the same size in the same tick would look unchanged. Such a file is
// opened per request until it has settled; the next revalidation then loads
// it.
//
// The cache never widens what may be served. Keys are names that checkPath
// accepted, entries are made only from files the handler's fileSystem
// opened (os.Root confinement and the symlink policy included), each
// directory a root path names has its own cache (root.go), and
// revalidation goes through the same fileSystem: a symlink retargeted out
// of the root stops being served within one interval.
//
// The cache is bounded in entries and in bytes of content. When full, it
// evicts the least recently validated of a few entries sampled at random
// (hot entries are revalidated every interval, cold ones are not), so a hit
// updates nothing shared.
//
// Lookups take no lock: the entries live in a sync.Map, whose reads are
// lock-free, so connections on different cores never wait for one another
// on a hit (an RWMutex read lock, by contrast, bounces one counter between
// cores: 15 ns against 6 per lookup on two cores). Writers — a load, a
// revalidation that found a change, an eviction — serialise on mu, which
// also guards the bookkeeping.
type fileCache struct {
	entries sync.Map // name -> *entry

	mu         sync.Mutex
	slots      []*entry // every published entry, for sampling; entry.slot indexes it
	bytes      int64    // sum of len(body) over entries
	maxEntries int
	maxBytes   int64
}

const (
	// revalidateAfter is how long an entry is trusted without a stat: the
	// most a change to a small file is served late.
	revalidateAfter = time.Second
	// racyWindow is how old a file's mtime and ctime must be before its
	// content is held in memory: over any file system's timestamp
	// granularity (a jiffy on Linux, two seconds on FAT).
	racyWindow = 2 * time.Second
	// maxBodyBytes is the largest file held in memory.
	maxBodyBytes = 64 << 10
	// Bounds for a site's root, and for a path map's single file (which
	// may have three sidecars).
	rootCacheEntries = 4096
	rootCacheBytes   = 16 << 20
	fileCacheEntries = 8
	fileCacheBytes   = 4 * maxBodyBytes
	// evictSample is how many entries eviction compares.
	evictSample = 5
)

// entry is what the cache knows about one name. It is immutable once
// published, except for checked; a change to the file makes a new entry.
type entry struct {
	name string
	id   fileID
	dir  bool

	// index is, for a directory, the name of the index file to serve,
	// or "" when none exists.
	index string

	// body is a small file's content when inMemory; otherwise the file is
	// opened per request.
	body     []byte
	inMemory bool

	side      sidecars
	sideNames [len(codings)]string // name + extension, for those in side

	// ctype is the file's Content-Type, and compressible whether that
	// type gains from compression: both fixed by the name, so found once.
	ctype        string
	compressible bool

	v      validators // for the file sent as it is
	codedV validators // for the file sent as a sidecar of its own coding
	coding string     // the coding its extension names, if any

	checked atomic.Int64 // UnixNano: when it was last known to match the file

	// coded are the file compressed on the fly, by coding, made at first
	// use under making: the body when it is held in memory, and always the
	// coding's validators.
	coded  [compress.Gzip + 1]atomic.Pointer[codedForm]
	making sync.Mutex

	slot     int   // index in fileCache.slots, under fileCache.mu
	memBytes int64 // body and coded bodies, under fileCache.mu
}

// codedForm is an entry's file in one coding: its validators, and its
// compressed body when the file is held in memory and compressing made
// it smaller (nil otherwise: the file is sent as it is).
type codedForm struct {
	v    validators
	body []byte
}

// fileID is what changes when a file is rewritten or replaced; the ETag is
// made from it. The ctime catches what the others can miss: a rewrite that
// keeps the size and sets the mtime back (touch -d, rsync --times), or
// lands in the same timestamp tick; it also moves on chmod and link, which
// costs a client one full response, not a wrong one.
type fileID struct {
	size  int64
	mtime int64
	ctime int64 // 0 where the platform does not say
	ino   uint64
}

func idOf(fi fs.FileInfo) fileID {
	return fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ctime: ctimeOf(fi), ino: inode(fi)}
}

func newFileCache(maxEntries int, maxBytes int64) *fileCache {
	return &fileCache{maxEntries: maxEntries, maxBytes: maxBytes}
}

// getBytes looks name up without allocating.
func (c *fileCache) getBytes(name []byte) *entry { return c.get(lookupKey(name)) }

// lookupKey views b as a string without copying it, for a sync.Map lookup:
// the map only compares the key and keeps nothing of it. Never store it.
func lookupKey(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (c *fileCache) get(name string) *entry {
	if v, ok := c.entries.Load(name); ok {
		return v.(*entry)
	}
	return nil
}

// put publishes e, replacing any entry for its name, and evicts until the
// cache is within its bounds again.
func (c *fileCache) put(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.get(e.name); old != nil {
		c.bytes -= old.memBytes
		e.slot = old.slot
		c.slots[e.slot] = e
	} else {
		e.slot = len(c.slots)
		c.slots = append(c.slots, e)
	}
	c.entries.Store(e.name, e)
	e.memBytes = int64(len(e.body))
	c.bytes += e.memBytes
	for len(c.slots) > c.maxEntries || c.bytes > c.maxBytes {
		if !c.evictLocked(e) {
			break
		}
	}
}

// evictLocked drops the least recently validated of evictSample distinct
// entries, other than keep, and reports whether there was one. The sample
// is a run of slots from a random start; slots are in no meaningful order
// (removal moves the last one into the gap), and a cache of evictSample
// entries or fewer is compared whole.
func (c *fileCache) evictLocked(keep *entry) bool {
	var victim *entry
	n := len(c.slots)
	start := rand.IntN(n)
	for i := range min(evictSample, n) {
		e := c.slots[(start+i)%n]
		if e == keep {
			continue
		}
		if victim == nil || e.checked.Load() < victim.checked.Load() {
			victim = e
		}
	}
	if victim == nil { // keep alone is over the bounds
		return false
	}
	c.removeLocked(victim)
	return true
}

// removeLocked unpublishes e, which must be published.
func (c *fileCache) removeLocked(e *entry) {
	c.entries.CompareAndDelete(e.name, e)
	last := c.slots[len(c.slots)-1]
	c.slots[e.slot] = last
	last.slot = e.slot
	c.slots[len(c.slots)-1] = nil
	c.slots = c.slots[:len(c.slots)-1]
	c.bytes -= e.memBytes
}

// account counts n more bytes held by e, a compressed form made after it
// was published, and evicts others to stay within bounds. An entry no
// longer published is not counted: it goes with its forms.
func (c *fileCache) account(e *entry, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.get(e.name) != e {
		return
	}
	e.memBytes += n
	c.bytes += n
	for c.bytes > c.maxBytes {
		if !c.evictLocked(e) {
			break
		}
	}
}

// clear empties the cache.
func (c *fileCache) clear() {
	c.mu.Lock()
	c.entries.Clear()
	clear(c.slots)
	c.slots = c.slots[:0]
	c.bytes = 0
	c.mu.Unlock()
}

// drop removes e, unless its name has a newer entry already.
func (c *fileCache) drop(e *entry) {
	c.mu.Lock()
	if c.get(e.name) == e {
		c.removeLocked(e)
	}
	c.mu.Unlock()
}

func (c *fileCache) len() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.slots), c.bytes
}

// openPath is openName for a name that checkPath returned as bytes: a hit
// allocates nothing.
func (fl *files) openPath(name []byte, now time.Time) (*entry, *os.File, error) {
	if e := fl.cache.getBytes(name); e != nil {
		return fl.use(e, now)
	}
	if fl.misses.recent(name, now) {
		return nil, nil, handlers.ErrNotFound
	}
	return fl.load(string(name), now)
}

// openName finds name in the cache or on disk. It returns the entry and,
// for a regular file whose body is not in memory, the file opened for this
// request (the caller closes it). Errors are openError's: 404, 403 or 500.
func (fl *files) openName(name string, now time.Time) (*entry, *os.File, error) {
	if e := fl.cache.get(name); e != nil {
		return fl.use(e, now)
	}
	return fl.load(name, now)
}

// use serves from a cached entry, revalidating it first when its interval
// is over.
func (fl *files) use(e *entry, now time.Time) (*entry, *os.File, error) {
	t := now.UnixNano()
	if last := e.checked.Load(); t-last >= int64(revalidateAfter) {
		// The first request to see the entry expired revalidates it;
		// those racing with it go on with the entry as it is.
		if e.checked.CompareAndSwap(last, t) && !fl.stillCurrent(e, now) {
			fl.cache.drop(e)
			return fl.load(e.name, now)
		}
	}
	if e.dir || e.inMemory {
		return e, nil, nil
	}
	f, fi, err := openStat(fl.fsys, e.name)
	if err != nil {
		fl.cache.drop(e)
		return nil, nil, err
	}
	if fi.IsDir() || idOf(fi) != e.id {
		// Changed since the entry was made: start again from the file
		// just opened, which is what this request will send.
		return fl.build(e.name, f, fi, now)
	}
	return e, f, nil
}

// stillCurrent stats e's name again and reports whether e still describes
// it. A directory's index is looked for again only when the directory
// changed (an entry added, removed or renamed changes its mtime); a file's
// sidecars are probed again every time, since adding one does not touch the
// file.
func (fl *files) stillCurrent(e *entry, now time.Time) bool {
	fi, err := fl.fsys.stat(e.name)
	if err != nil || fi.IsDir() != e.dir || idOf(fi) != e.id {
		return false
	}
	if e.dir {
		return true
	}
	if !fi.Mode().IsRegular() {
		return false
	}
	if !e.inMemory && e.id.size <= maxBodyBytes && !racy(fi, now) {
		return false // settled since: load it into memory
	}
	side, _ := probeSidecars(fl.fsys, e.name)
	return side == e.side
}

// load opens name and makes its entry.
func (fl *files) load(name string, now time.Time) (*entry, *os.File, error) {
	f, fi, err := openStat(fl.fsys, name)
	if err != nil {
		if err == handlers.ErrNotFound {
			fl.misses.add(name, now)
		}
		return nil, nil, err
	}
	return fl.build(name, f, fi, now)
}

// build makes and publishes the entry for name from f, just opened, and fi,
// its fstat. It returns f still open when the body is to be read from it,
// and closes it otherwise.
func (fl *files) build(name string, f *os.File, fi fs.FileInfo, now time.Time) (*entry, *os.File, error) {
	e := &entry{name: name, id: idOf(fi), dir: fi.IsDir()}
	e.checked.Store(now.UnixNano())
	if e.dir {
		f.Close()
		f = nil
		// Only a directory asked for with its slash is served by an
		// index; without it, it is redirected.
		if name == "." || strings.HasSuffix(name, "/") {
			e.index = fl.findIndex(name)
		}
		fl.cache.put(e)
		return e, nil, nil
	}
	e.side, e.sideNames = probeSidecars(fl.fsys, name)
	e.ctype = ContentType(name)
	e.compressible = compress.Compressible(e.ctype)
	e.v = newValidators(e.id, "", now)
	for _, c := range codings {
		if len(name) > len(c.ext) && name[len(name)-len(c.ext):] == c.ext {
			e.coding = c.token
			e.codedV = newValidators(e.id, c.token, now)
		}
	}
	if e.id.size <= maxBodyBytes && !racy(fi, now) {
		if body, ok := readWhole(f, fi); ok {
			f.Close()
			f = nil
			e.body, e.inMemory = body, true
		}
	}
	fl.cache.put(e)
	return e, f, nil
}

// racy reports whether fi changed too recently for its timestamps to tell
// the next change apart.
func racy(fi fs.FileInfo, now time.Time) bool {
	latest := max(fi.ModTime().UnixNano(), ctimeOf(fi))
	return now.UnixNano()-latest < int64(racyWindow)
}

// readWhole reads f, whose fstat was fi, from offset 0 (pread, leaving the
// offset for sendfile should this fail), and checks with a second fstat
// that the file did not change while it was read: growing, shrinking or
// being rewritten moves its size, mtime or ctime.
func readWhole(f *os.File, fi fs.FileInfo) ([]byte, bool) {
	buf := make([]byte, fi.Size())
	if _, err := f.ReadAt(buf, 0); err != nil {
		return nil, false
	}
	after, err := f.Stat()
	if err != nil || idOf(after) != idOf(fi) {
		return nil, false
	}
	return buf, true
}

// findIndex returns the first index name in dir (".", or a name ending in
// "/") that is a regular file, or that cannot be looked at (openName then
// answers 403); names that are missing, directories or special files are
// skipped.
func (fl *files) findIndex(dir string) string {
	for _, idx := range fl.index {
		name := idx
		if dir != "." {
			name = dir + idx // dir ends in "/" here
		}
		fi, err := fl.fsys.stat(name)
		switch {
		case err == nil && fi.Mode().IsRegular():
			return name
		case err == nil:
			continue
		case openError(err) == handlers.ErrNotFound:
			continue
		}
		return name
	}
	return ""
}

// codedAs returns e in coding c, compressed at the coding's best level at
// first use and kept with the entry (so dropped with it when the file
// changes). Concurrent first uses wait for one compression.
func (fl *files) codedAs(e *entry, c compress.Coding, now time.Time) *codedForm {
	slot := &e.coded[c]
	if cf := slot.Load(); cf != nil {
		return cf
	}
	e.making.Lock()
	defer e.making.Unlock()
	if cf := slot.Load(); cf != nil {
		return cf
	}
	cf := &codedForm{v: newValidators(e.id, c.Token(), now)}
	if e.inMemory {
		if data := compress.Encode(c, e.body); len(data) < len(e.body) {
			cf.body = data
		}
	}
	slot.Store(cf)
	if cf.body != nil {
		fl.cache.account(e, int64(len(cf.body)))
	}
	return cf
}

// validatorsAs returns e's validators when it is sent with coding ("" for
// the file as it is). Both usual cases were made with the entry.
func (e *entry) validatorsAs(coding string, now time.Time) *validators {
	switch coding {
	case "":
		return &e.v
	case e.coding:
		return &e.codedV
	}
	// A sidecar whose extension names another coding: unreachable with
	// the names probeSidecars builds.
	v := newValidators(e.id, coding, now)
	return &v
}
