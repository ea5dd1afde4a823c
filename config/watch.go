package config

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long a config file must stay quiet after an event
// before Watch reports the change: long enough to cover an editor's
// truncate-then-write or write-temp-then-rename, short enough that a save
// applies well within a second.
const DefaultDebounce = 150 * time.Millisecond

// WatchOptions tune Watch. The zero value is ready to use.
type WatchOptions struct {
	// Debounce is the quiet time that ends a burst of events; 0 means
	// DefaultDebounce.
	Debounce time.Duration
	// Log receives what the watcher has to say, from its own goroutine:
	// a failure it recovers from (err != nil: the watcher failed and is
	// re-armed, a directory could not be watched yet) or a note (err ==
	// nil: the file is gone, the file is back). Nil discards them.
	Log func(msg string, err error)

	// Since, when set, is the SHA-256 of the contents the caller read from
	// the file before calling Watch (Config.FileSum). A save made after
	// that read and before the watcher was armed sends no event Watch can
	// see, so Watch compares once armed: different contents are reported
	// as a change, after the debounce like any other.
	Since *[32]byte

	// armed, when set, is called with each new fsnotify watcher once it
	// watches the directory. Tests use it to inject watcher errors.
	armed func(*fsnotify.Watcher)
}

// Watch watches the config file at path and sends on the returned channel
// once per burst of changes to it, until ctx ends; then the channel is
// closed. The channel holds one pending change: changes that come while the
// receiver is busy reloading are merged into one.
//
// Watch watches the file's directory, not the file, so that every way of
// saving is seen:
//
//   - writing in place or truncate-then-write (a Write on the file);
//   - writing a temporary file and renaming it over the config (vim, VS
//     Code, sed -i): a Create on the file's name;
//   - a Kubernetes ConfigMap update: path is a symlink through the
//     directory's "..data" symlink, which is itself replaced by a rename.
//     An event on ..data counts when the file, resolved through its
//     symlinks, is now a different file or has different contents. A new
//     ConfigMap revision is therefore reported even when only a page the
//     config names changed; the receiver's config hash tells the rest.
//   - when path is a symlink to a file in another directory, that
//     directory is watched too, for edits of the target.
//
// A write, create, rename or remove of the file itself (or of its target)
// is always reported when the burst ends with the file there, so that
// saving the same bytes again retries a reload that failed for a reason
// outside the file, such as a port that was busy. A Chmod alone, or an
// event on ..data or on the target's directory, is reported only when the
// fingerprint (the resolved target and the contents) changed. Events for
// other files are ignored.
//
// Watch never gives up. A deleted file is waited for: nothing is sent until
// it exists again, then its return is reported. A watcher error, or the
// directory itself being removed, closes the watcher and arms a new one,
// retrying with a backoff while the directory cannot be watched; after a
// re-arm the file is checked, since events may have been lost meanwhile.
//
// Watch arms the watcher before it returns, so any change made after it
// returns is seen; with opt.Since, so is one made since the caller read
// the file.
func Watch(ctx context.Context, path string, opt WatchOptions) <-chan struct{} {
	if opt.Debounce <= 0 {
		opt.Debounce = DefaultDebounce
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	path = filepath.Clean(path)
	w := &watcher{
		opt:  opt,
		path: path,
		dir:  filepath.Dir(path),
		data: filepath.Join(filepath.Dir(path), "..data"),
		out:  make(chan struct{}, 1),
	}
	// Arm first, then take the starting fingerprint: a change made in
	// between is then compared against, or reported by its event.
	armed := w.arm()
	st := w.check()
	w.last, w.missing = st.sum, st.missing
	if st.err == nil {
		w.retarget(st.target)
	}
	// A file gone since is waited for as always, and reported when back.
	missed := opt.Since != nil && !st.missing && (st.err != nil || st.contents != *opt.Since)
	go w.run(ctx, armed, missed)
	return w.out
}

// watchMaxDelay bounds how long a burst that never goes quiet can delay
// the check of the file.
const watchMaxDelay = time.Second

// Retry delays for arming a watcher: doubled after each failure that
// follows another within watchCalm, up to watchRetryMax.
const (
	watchRetryMin = 100 * time.Millisecond
	watchRetryMax = 5 * time.Second
	watchCalm     = 10 * time.Second
)

type watcher struct {
	opt  WatchOptions
	path string // absolute and clean
	dir  string // the directory holding path: always watched
	data string // dir/..data, the ConfigMap symlink

	fs        *fsnotify.Watcher // nil while disarmed
	target    string            // path resolved through its symlinks; "" when unknown
	targetDir string            // dir of target, watched too when it is not dir; "" when not watched

	last    [32]byte // fingerprint of the state last reported (or found at start)
	missing bool     // the file was missing when last checked

	out chan struct{}

	backoff     time.Duration
	lastFailure time.Time
}

// eventKind says what an fsnotify event means for the config file.
type eventKind int

const (
	ignore eventKind = iota
	weak             // report if the fingerprint changed
	strong           // report: the file itself was written, created, renamed or removed
	rearm            // the watched directory went away
)

func (w *watcher) run(ctx context.Context, armed, missed bool) {
	defer close(w.out)
	defer w.disarm()

	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	if !armed {
		retry.Reset(w.nextBackoff())
	}
	pending, force := false, false
	var began time.Time // the first event of the pending burst
	burst := func(k eventKind) {
		now := time.Now()
		if !pending {
			began = now
		}
		pending = true
		force = force || k == strong
		// Each event extends the quiet time, but a file written without
		// pause is still looked at every watchMaxDelay.
		debounce.Reset(min(w.opt.Debounce, max(0, began.Add(watchMaxDelay).Sub(now))))
	}
	failed := func(msg string, err error) {
		w.log(msg, err)
		w.disarm()
		retry.Reset(w.nextBackoff())
	}
	if missed {
		burst(strong)
	}

	for {
		var events <-chan fsnotify.Event
		var errs <-chan error
		if w.fs != nil {
			events, errs = w.fs.Events, w.fs.Errors
		}
		select {
		case <-ctx.Done():
			debounce.Stop()
			retry.Stop()
			return
		case ev, ok := <-events:
			if !ok {
				failed("config watcher stopped; re-arming", errors.New("fsnotify: event channel closed"))
				continue
			}
			switch k := w.classify(ev); k {
			case weak, strong:
				burst(k)
			case rearm:
				failed("config directory was removed or renamed; watching for it again", errors.New(ev.String()))
			}
		case err, ok := <-errs:
			if !ok {
				err = errors.New("fsnotify: error channel closed")
			}
			failed("config watcher failed; re-arming", err)
		case <-retry.C:
			if !w.arm() {
				retry.Reset(w.nextBackoff())
				continue
			}
			// Events may have been lost while disarmed: check the file.
			burst(weak)
		case <-debounce.C:
			if pending {
				w.settle(force)
			}
			pending, force = false, false
		}
	}
}

// classify says what ev means for the config file. It forgets the watch on
// the target's directory when that directory goes away.
func (w *watcher) classify(ev fsnotify.Event) eventKind {
	name := filepath.Clean(ev.Name)
	changed := ev.Op&^fsnotify.Chmod != 0 // not just attributes
	switch {
	case name == w.dir && ev.Has(fsnotify.Remove|fsnotify.Rename):
		return rearm
	case name == w.path, name == w.target && w.target != "":
		if changed {
			return strong
		}
		return weak
	case name == w.targetDir && w.targetDir != "":
		if ev.Has(fsnotify.Remove | fsnotify.Rename) {
			w.targetDir = "" // the kernel dropped that watch
		}
		return weak
	case name == w.data:
		return weak
	}
	return ignore
}

// settle runs at the end of a burst: it reports the change when force is
// set or the file's fingerprint moved, and waits quietly while the file is
// missing.
func (w *watcher) settle(force bool) {
	st := w.check()
	if st.missing {
		if !w.missing {
			w.missing = true
			w.log("config file is gone; waiting for it to come back", nil)
		}
		return
	}
	if st.err == nil {
		w.retarget(st.target)
	}
	back := w.missing
	if back {
		w.missing = false
		w.log("config file is back", nil)
	}
	// A file that cannot be read is reported too: the reload says why.
	if force || back || st.err != nil || st.sum != w.last {
		w.last = st.sum
		select {
		case w.out <- struct{}{}:
		default: // one is already pending
		}
	}
}

// state is what the watcher knows of the file at one moment.
type state struct {
	target   string   // path resolved through symlinks
	sum      [32]byte // SHA-256 of target and the contents
	contents [32]byte // SHA-256 of the contents alone
	missing  bool     // path, or a link on the way, does not exist
	err      error    // other failures to resolve or read
}

func (w *watcher) check() state {
	target, err := filepath.EvalSymlinks(w.path)
	if err != nil {
		return state{missing: errors.Is(err, fs.ErrNotExist), err: err}
	}
	data, err := os.ReadFile(target)
	if err != nil {
		return state{target: target, missing: errors.Is(err, fs.ErrNotExist), err: err}
	}
	h := sha256.New()
	h.Write([]byte(target))
	h.Write([]byte{0})
	h.Write(data)
	var st state
	st.target = target
	h.Sum(st.sum[:0])
	st.contents = sha256.Sum256(data)
	return st
}

// arm creates an fsnotify watcher on the directory, and on the target's
// directory when that is elsewhere. It reports whether it succeeded; on
// failure it has logged why.
func (w *watcher) arm() bool {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.log("cannot create a config watcher; retrying", err)
		return false
	}
	if err := fw.Add(w.dir); err != nil {
		fw.Close()
		w.log("cannot watch the config directory; retrying", err)
		return false
	}
	w.fs = fw
	w.targetDir = ""
	w.retarget(w.target)
	if w.opt.armed != nil {
		w.opt.armed(fw)
	}
	return true
}

func (w *watcher) disarm() {
	if w.fs != nil {
		w.fs.Close()
		w.fs = nil
	}
	w.targetDir = ""
}

// retarget records where path now leads and moves the watch on the
// target's directory with it.
func (w *watcher) retarget(target string) {
	w.target = target
	want := ""
	if target != "" && filepath.Dir(target) != w.dir {
		want = filepath.Dir(target)
	}
	if want == w.targetDir || w.fs == nil {
		return
	}
	if w.targetDir != "" {
		w.fs.Remove(w.targetDir) // may be gone already: a ConfigMap's old revision
		w.targetDir = ""
	}
	if want != "" && w.fs.Add(want) == nil {
		w.targetDir = want
	}
}

// nextBackoff is the delay before the next attempt to arm: it grows while
// failures follow each other and starts again after a calm spell.
func (w *watcher) nextBackoff() time.Duration {
	now := time.Now()
	if w.backoff == 0 || now.Sub(w.lastFailure) > watchCalm {
		w.backoff = watchRetryMin
	} else {
		w.backoff = min(2*w.backoff, watchRetryMax)
	}
	w.lastFailure = now
	return w.backoff
}

func (w *watcher) log(msg string, err error) {
	if w.opt.Log != nil {
		w.opt.Log(msg, err)
	}
}

// DiagnosticAt describes a problem that only shows once a checked config
// is put to use — a listener address that cannot be bound, an access log
// that cannot be opened during a reload — at the place of its key in src,
// the text of file. The key is given as its segments: names (strings) and
// array indexes (ints), as in DiagnosticAt(f, src, msg, "listener", 1,
// "address") for listener[1].address. A key not found in src is reported
// at its nearest enclosing table, or without a line.
func DiagnosticAt(file string, src []byte, msg string, key ...any) Diagnostic {
	var p keyPath
	for _, k := range key {
		switch k := k.(type) {
		case int:
			p = p.index(k)
		case string:
			p = p.key(k)
		}
	}
	d := Diagnostic{File: file, Key: p.String(), Msg: msg}
	if len(src) > 0 {
		d.Line, d.Col = newLocator(src).find(p, true)
	}
	return d
}
