package config

import (
	"crypto/sha256"
	"os"
	"time"
)

// DefaultSettle is how long a config file that failed to load must then
// stay unchanged before the failure is believed. A writer that pauses
// between writes for longer than the watcher's debounce leaves a
// half-written file behind for a moment; twice the debounce covers a
// writer that is slow, without keeping a real mistake from the log for
// long.
const DefaultSettle = 2 * DefaultDebounce

// settleRounds bounds how often LoadSettled reads a file that keeps
// changing, so that a file rewritten without pause still gets an answer.
const settleRounds = 5

// LoadSettled is Load for a file that may be caught in the middle of a
// save. A load that fails is not the answer yet: LoadSettled waits settle
// and looks again. If the file is as it was (same size, modification time
// and contents), the failure stands; if it changed, the new file is loaded
// instead, and judged the same way. A load that succeeds returns at once.
func LoadSettled(path string, settle time.Duration) (*Config, error) {
	data, err := readConfig(path)
	seen := stampOf(path, data, err)
	for round := 1; ; round++ {
		if err == nil {
			var cfg *Config
			if cfg, err = Parse(path, data); err == nil {
				return cfg, nil
			}
		}
		if round == settleRounds {
			return nil, err
		}
		time.Sleep(settle)
		again, againErr := readConfig(path)
		now := stampOf(path, again, againErr)
		if now == seen {
			return nil, err
		}
		data, err, seen = again, againErr, now
	}
}

// stamp tells two reads of a config file apart.
type stamp struct {
	size    int64
	modTime int64 // nanoseconds
	sum     [32]byte
	err     string // why the file could not be read, "" when it could
}

// stampOf stamps the result of one read of path. The file is statted after
// the read: a write between the two changes the next stamp either way.
func stampOf(path string, data []byte, err error) stamp {
	if err != nil {
		return stamp{err: err.Error()}
	}
	st := stamp{size: int64(len(data)), sum: sha256.Sum256(data)}
	if fi, err := os.Stat(path); err == nil {
		st.size, st.modTime = fi.Size(), fi.ModTime().UnixNano()
	}
	return st
}
