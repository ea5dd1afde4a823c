package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// store is certmagic's FileStorage with its locks replaced. FileStorage keeps
// each lock file fresh from a goroutine that sleeps on after the lock is
// released and cannot be waited for, so a Manager using it could not promise
// that Close leaves nothing running. These locks keep the same files, in the
// same format and with the same staleness rule, so that a process using
// FileStorage on the same directory still excludes and is excluded; their
// refreshers are stopped and waited for by Unlock.
type store struct {
	*certmagic.FileStorage

	mu   sync.Mutex
	held map[string]*refresher
}

type refresher struct {
	stop chan struct{}
	done chan struct{}
}

// FileStorage's values, which its lock files are judged by.
const (
	lockFreshness = 5 * time.Second
	lockStaleAge  = 2 * lockFreshness
	lockPoll      = time.Second
)

// lockMeta is the content of FileStorage's lock files.
type lockMeta struct {
	Created time.Time `json:"created,omitempty"`
	Updated time.Time `json:"updated,omitempty"`
}

func newStore(dir string) *store {
	return &store{FileStorage: &certmagic.FileStorage{Path: dir}, held: make(map[string]*refresher)}
}

func (s *store) lockFile(name string) string {
	return filepath.Join(s.Path, "locks", certmagic.StorageKeys.Safe(name)+".lock")
}

// Lock blocks until the lock is had or ctx ends.
func (s *store) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.tryLock(name)
		if ok || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}

// TryLock shadows FileStorage's, whose locks would bring its refresher back.
func (s *store) TryLock(_ context.Context, name string) (bool, error) {
	return s.tryLock(name)
}

func (s *store) tryLock(name string) (bool, error) {
	file := s.lockFile(name)
	for {
		err := createLockFile(file)
		if err == nil {
			s.keepFresh(name, file)
			return true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return false, fmt.Errorf("creating lock file: %w", err)
		}
		stale, err := lockIsStale(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released between the two looks
		}
		if err != nil {
			return false, err
		}
		if !stale {
			return false, nil
		}
		// Its holder died without releasing it.
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("removing stale lock file: %w", err)
		}
	}
}

// Unlock releases a lock this store holds, or removes the file of one it
// does not, as FileStorage does.
func (s *store) Unlock(_ context.Context, name string) error {
	s.mu.Lock()
	r := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if r != nil {
		close(r.stop)
		<-r.done
	}
	return os.Remove(s.lockFile(name))
}

func (s *store) keepFresh(name, file string) {
	r := &refresher{stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	s.held[name] = r
	s.mu.Unlock()
	go func() {
		defer close(r.done)
		created := time.Now()
		t := time.NewTicker(lockFreshness)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-t.C:
				// A failed refresh only lets another process take the
				// lock as stale later, as with FileStorage; the next tick
				// tries again.
				_ = writeLockMeta(file, lockMeta{Created: created, Updated: time.Now()})
			}
		}
	}()
}

func createLockFile(file string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	now := time.Now()
	err = json.NewEncoder(f).Encode(lockMeta{Created: now, Updated: now})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
	}
	return err
}

// writeLockMeta replaces the file whole, so that a reader never sees it
// empty, which FileStorage takes for a crashed writer after a few looks.
func writeLockMeta(file string, meta lockMeta) error {
	tmp := file + ".refresh"
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// lockIsStale judges by the recorded refresh time, or by the file's own
// modification time while it is being written.
func lockIsStale(file string) (bool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return false, err
	}
	var meta lockMeta
	var ref time.Time
	if json.Unmarshal(b, &meta) == nil {
		ref = meta.Updated
		if ref.IsZero() {
			ref = meta.Created
		}
	}
	if ref.IsZero() {
		fi, err := os.Stat(file)
		if err != nil {
			return false, err
		}
		ref = fi.ModTime()
	}
	return time.Since(ref) > lockStaleAge, nil
}
