package certs

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

const (
	// pollInterval is the fallback re-check for file systems that lose or
	// never send events (NFS, some container overlays); with settling and
	// retries it keeps a change within the 2 s the server promises.
	pollInterval = time.Second
	// settleDelay lets a burst of events (truncate then write, a rename
	// after a write, certbot replacing four symlinks) end before loading.
	settleDelay = 50 * time.Millisecond
	// retryInterval is how often a new pair that does not load is tried
	// again while it may still be in the middle of being written.
	retryInterval = 100 * time.Millisecond
	// quietBeforeError is how long a failing pair must stay unchanged
	// before it is taken as broken, not half-written, and logged.
	quietBeforeError = 500 * time.Millisecond
)

// Pair is a certificate and key kept in step with their files.
type Pair struct {
	cur atomic.Pointer[tls.Certificate]

	certFile, keyFile string // as given: loaded, stat'ed and logged this way
	log               *zap.Logger
	opt               watchOptions

	stop      chan struct{}
	exited    chan struct{}
	closeOnce sync.Once

	// Counters for tests, which must wait for what the watcher did rather
	// than sleep and hope.
	checks   atomic.Int64 // checks made, by event, retry or poll
	failures atomic.Int64 // load attempts that failed

	// Owned by the run goroutine.
	fw         *fsnotify.Watcher // nil while events are unavailable
	fwFailed   bool              // creating a watcher failed and was logged
	names      map[string]bool   // absolute paths whose events matter
	loaded     stamp             // the files as they were when cur was loaded
	failing    bool              // the files changed and do not load
	failStamp  stamp             // the files as they were when failing began
	failSince  time.Time
	failLogged bool // failStamp's failure has been logged
}

type watchOptions struct {
	poll     time.Duration
	noEvents bool // poll only, as on a file system without events
}

// WatchPair loads the pair now (returning LoadPair's error if that fails) and then
// follows the files until Close: written in place, renamed over (editors, certbot),
// a Kubernetes Secret's "..data" symlink swap, or a symlink retargeted (certbot's
// live/ -> ../../archive/). New handshakes see a changed pair within 2 seconds.
//
// A new pair that does not load is taken as still being written and retried; only
// when it has stayed unchanged for about 500 ms and still fails is it logged, once,
// at Error level. The old pair keeps serving meanwhile. A swap is logged at Info.
// log may be nil.
//
// The directories holding the two paths are watched, and so are those of the
// files the paths resolve to when they are symlinks; a stat of both paths about
// every second covers file systems where events are lost.
func WatchPair(certFile, keyFile string, log *zap.Logger) (*Pair, error) {
	return watchPair(certFile, keyFile, log, watchOptions{poll: pollInterval})
}

func watchPair(certFile, keyFile string, log *zap.Logger, opt watchOptions) (*Pair, error) {
	if log == nil {
		log = zap.NewNop()
	}
	p := &Pair{
		certFile: certFile,
		keyFile:  keyFile,
		log:      log,
		opt:      opt,
		stop:     make(chan struct{}),
		exited:   make(chan struct{}),
	}
	// Stamped before loading: a change made in between is then seen as a
	// change, at worst loading the same pair twice.
	p.loaded = p.stamp()
	c, err := LoadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	p.cur.Store(c)
	// Armed before returning, so that a change made once WatchPair has
	// returned sends an event.
	p.syncWatches()
	go p.run()
	return p, nil
}

// Certificate returns the current pair. It is lock-free and does not
// allocate: it runs on every TLS handshake.
func (p *Pair) Certificate() *tls.Certificate { return p.cur.Load() }

// Close stops the watching and waits until its goroutine and watcher are
// gone. It may be called more than once; Certificate still returns the
// last pair after it.
func (p *Pair) Close() error {
	p.closeOnce.Do(func() { close(p.stop) })
	<-p.exited
	return nil
}

func (p *Pair) run() {
	defer close(p.exited)
	defer func() {
		if p.fw != nil {
			p.fw.Close()
			p.fw = nil
		}
	}()

	poll := time.NewTicker(p.opt.poll)
	defer poll.Stop()
	soon := time.NewTimer(time.Hour)
	soon.Stop()
	defer soon.Stop()
	var due time.Time // when soon fires; zero when it is stopped
	force := false    // an event named the files: load even if the stamps agree
	schedule := func(d time.Duration) {
		at := time.Now().Add(d)
		if due.IsZero() || at.Before(due) {
			soon.Reset(d)
			due = at
		}
	}

	for {
		// The watcher may come and go; nil channels block.
		var events <-chan fsnotify.Event
		var errs <-chan error
		if p.fw != nil {
			events, errs = p.fw.Events, p.fw.Errors
		}
		var retry time.Duration
		select {
		case <-p.stop:
			return
		case ev, ok := <-events:
			if !ok {
				p.dropWatcher()
				continue
			}
			if p.names[filepath.Clean(ev.Name)] {
				force = true
				schedule(settleDelay)
			}
			continue
		case err, ok := <-errs:
			if !ok {
				p.dropWatcher()
				continue
			}
			// An overflowed queue loses events: look now.
			p.log.Warn("certificate watcher error; checking the files", zap.String("cert", p.certFile), zap.Error(err))
			force = true
			schedule(0)
			continue
		case <-soon.C:
			due = time.Time{}
			retry = p.check(force)
			force = false
		case <-poll.C:
			retry = p.check(false)
		}
		if retry > 0 {
			schedule(retry)
		}
	}
}

// check loads the pair when the files changed (or when force is set, since
// a stamp can miss a rewrite within the file system's time granularity). It
// returns when to check again, or 0 to wait for the next event or poll.
func (p *Pair) check(force bool) time.Duration {
	p.checks.Add(1)
	p.syncWatches()
	st := p.stamp()
	if !force && st.same(p.loaded) {
		p.failing = false
		return 0
	}
	if !force && p.failing && p.failLogged && st.same(p.failStamp) {
		return 0 // reported already; nothing new to try
	}
	c, err := LoadPair(p.certFile, p.keyFile)
	if err == nil {
		p.loaded, p.failing = st, false
		if !sameChain(c, p.cur.Load()) {
			p.cur.Store(c)
			p.log.Info("certificate reloaded",
				zap.String("cert", p.certFile),
				zap.Strings("names", leafNames(c)),
				zap.Time("not_after", c.Leaf.NotAfter))
		}
		return 0
	}
	p.failures.Add(1)
	now := time.Now()
	if !p.failing || !st.same(p.failStamp) {
		p.failing, p.failStamp, p.failSince, p.failLogged = true, st, now, false
	}
	if p.failLogged {
		return 0
	}
	if now.Sub(p.failSince) < quietBeforeError {
		return retryInterval
	}
	p.failLogged = true
	p.log.Error("certificate files changed but do not load; still serving the previous certificate",
		zap.String("cert", p.certFile),
		zap.String("key", p.keyFile),
		zap.Error(err))
	return 0
}

func sameChain(a, b *tls.Certificate) bool {
	if a == nil || b == nil || len(a.Certificate) != len(b.Certificate) {
		return false
	}
	for i := range a.Certificate {
		if !bytes.Equal(a.Certificate[i], b.Certificate[i]) {
			return false
		}
	}
	return true
}

func leafNames(c *tls.Certificate) []string {
	names := append([]string(nil), c.Leaf.DNSNames...)
	for _, ip := range c.Leaf.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// syncWatches makes the watched directories those of the two paths and of
// the files they now resolve to, and records the names whose events count.
// A directory that cannot be watched yet is tried again at the next check.
func (p *Pair) syncWatches() {
	names := make(map[string]bool)
	dirs := make(map[string]bool)
	for _, f := range []string{p.certFile, p.keyFile} {
		abs, err := filepath.Abs(f)
		if err != nil {
			continue
		}
		dir := filepath.Dir(abs)
		names[abs] = true
		names[filepath.Join(dir, "..data")] = true // a Kubernetes Secret's swap
		dirs[dir] = true
		if target, err := filepath.EvalSymlinks(abs); err == nil && target != abs {
			names[target] = true
			dirs[filepath.Dir(target)] = true
		}
	}
	for d := range dirs {
		names[d] = true // the directory itself going away
	}
	p.names = names

	if p.opt.noEvents {
		return
	}
	if p.fw == nil {
		fw, err := fsnotify.NewWatcher()
		if err != nil {
			if !p.fwFailed {
				p.fwFailed = true
				p.log.Warn("cannot watch certificate files for changes; checking them every second instead",
					zap.String("cert", p.certFile), zap.Error(err))
			}
			return
		}
		p.fw, p.fwFailed = fw, false
	}
	have := make(map[string]bool)
	for _, d := range p.fw.WatchList() {
		have[d] = true
		if !dirs[d] {
			p.fw.Remove(d) // may be gone already: an old Secret revision
		}
	}
	for d := range dirs {
		if !have[d] {
			p.fw.Add(d)
		}
	}
}

// dropWatcher forgets a watcher that stopped; the next check makes another.
func (p *Pair) dropWatcher() {
	p.fw.Close()
	p.fw = nil
}

// stamp is what a cheap look at the two files sees.
type stamp struct{ cert, key fileStamp }

type fileStamp struct {
	fi  os.FileInfo // of the file the path resolves to; nil when err is set
	err string
}

func (p *Pair) stamp() stamp {
	return stamp{statFile(p.certFile), statFile(p.keyFile)}
}

func statFile(name string) fileStamp {
	fi, err := os.Stat(name)
	if err != nil {
		return fileStamp{err: err.Error()}
	}
	return fileStamp{fi: fi}
}

func (a stamp) same(b stamp) bool { return a.cert.same(b.cert) && a.key.same(b.key) }

func (a fileStamp) same(b fileStamp) bool {
	if a.fi == nil || b.fi == nil {
		return a.fi == nil && b.fi == nil && a.err == b.err
	}
	// SameFile compares device and inode where the system has them.
	return os.SameFile(a.fi, b.fi) && a.fi.Size() == b.fi.Size() &&
		a.fi.ModTime().Equal(b.fi.ModTime()) && a.fi.Mode() == b.fi.Mode()
}
