package listener

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Keep-alive connections wait for their next request on an epoll set of
// moreweb's own, watched by one dispatcher goroutine, instead of each
// parking in Go's poller. The reason is order. Go's poller hands back a
// batch of ready sockets newest first, so under load the request that
// arrived last in a batch is answered first and the first waits for the
// whole batch: latency spreads evenly from zero to twice the mean. epoll's
// own ready list is first-in first-out, and the dispatcher wakes the
// waiting connections in that order, so each waits about one batch, as in
// nginx's or H2O's event loop (p99 of 1 KiB keep-alive requests with 64
// connections: see docs/BENCHMARKS.md).
//
// A socket joins the set (edge-triggered, once, on its first wait) and
// leaves it when it is closed. Its conn's ready field is the handshake
// between the connection's goroutine and the dispatcher:
//
//	readyNone    nothing pending, nobody waiting
//	readyWaiting the goroutine waits on wake
//	readyPending bytes arrived while the goroutine was busy
//
// Whoever moves it out of readyWaiting sends the one token on wake.
const (
	readyNone int32 = iota
	readyWaiting
	readyPending
)

// epollET is EPOLLET as the uint32 that EpollEvent holds (package syscall
// declares it as a negative int).
const epollET = 1 << 31

type readyDispatcher struct {
	epfd int
	raw  syscall.RawConn // the epoll descriptor in Go's poller, to sleep on
	file *os.File        // keeps raw's descriptor open

	conns   sync.Map // int32 socket -> *conn
	nextSeq atomic.Uint32

	events    []syscall.EpollEvent
	woken     []*conn
	harvestFn func(fd uintptr) bool
}

var (
	dispatcherOnce sync.Once
	dispatcher     *readyDispatcher // nil where it could not be set up
)

func readyDispatcherInstance() *readyDispatcher {
	dispatcherOnce.Do(func() {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return
		}
		if err := syscall.SetNonblock(epfd, true); err != nil {
			syscall.Close(epfd)
			return
		}
		f := os.NewFile(uintptr(epfd), "moreweb-ready")
		raw, err := f.SyscallConn()
		if err != nil {
			f.Close()
			return
		}
		d := &readyDispatcher{epfd: epfd, raw: raw, file: f, events: make([]syscall.EpollEvent, 256)}
		d.harvestFn = d.harvest
		go d.loop()
		dispatcher = d
	})
	return dispatcher
}

func (d *readyDispatcher) loop() {
	for {
		if err := d.raw.Read(d.harvestFn); err != nil {
			return
		}
	}
}

// harvest takes what is ready without blocking; with nothing, it returns
// false and Go's poller parks the dispatcher until the set is readable.
func (d *readyDispatcher) harvest(uintptr) bool {
	n := d.collect()
	if n <= 0 {
		return false
	}
	// A woken goroutine takes the scheduler's next slot and pushes the one
	// there before it to the back of the run queue: waking the oldest last
	// makes the queue run oldest first.
	if len(d.woken) > 0 {
		for _, c := range d.woken[1:] {
			c.wake <- struct{}{}
		}
		d.woken[0].wake <- struct{}{}
	}
	clear(d.woken)
	// A full batch may have left more behind; otherwise the set is empty
	// and the dispatcher can park at once: an event that slipped in since
	// leaves the set readable, and Go's poller does not miss it.
	return n == len(d.events)
}

// collect reads the set's ready list, oldest first, records every
// connection it names as ready, and leaves in d.woken, in that order, those
// whose goroutines wait. It returns how many events it read.
func (d *readyDispatcher) collect() int {
	n, err := syscall.EpollWait(d.epfd, d.events, 0)
	if err != nil || n <= 0 {
		return 0
	}
	d.woken = d.woken[:0]
	for _, ev := range d.events[:n] {
		v, ok := d.conns.Load(ev.Fd)
		if !ok {
			continue
		}
		c := v.(*conn)
		if c.readySeq.Load() != uint32(ev.Pad) {
			continue // a closed connection's socket number, reused
		}
		if c.markReady() {
			d.woken = append(d.woken, c)
		}
	}
	return n
}

// markReady records that c's socket has bytes, and reports whether c's
// goroutine is waiting and must be woken.
func (c *conn) markReady() bool {
	for {
		switch c.ready.Load() {
		case readyWaiting:
			if c.ready.CompareAndSwap(readyWaiting, readyNone) {
				return true
			}
		case readyNone:
			if c.ready.CompareAndSwap(readyNone, readyPending) {
				return false
			}
		default:
			return false
		}
	}
}

// register adds c's socket to the set, once per connection.
func (d *readyDispatcher) register(c *conn) error {
	seq := d.nextSeq.Add(1)
	c.readySeq.Store(seq)
	d.conns.Store(c.fd, c)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLHUP | epollET, Fd: c.fd, Pad: int32(seq)}
	var err error
	if cerr := c.raw.Control(func(fd uintptr) {
		err = syscall.EpollCtl(d.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	}); cerr != nil {
		err = cerr
	}
	if err != nil {
		d.conns.CompareAndDelete(c.fd, c)
		return err
	}
	c.inReadySet = true
	return nil
}

// unregister forgets c before its socket closes (closing the socket takes
// it out of the epoll set), so that a reused socket number is not taken
// for c.
func (d *readyDispatcher) unregister(c *conn) {
	if c.inReadySet {
		d.conns.CompareAndDelete(c.fd, c)
		c.inReadySet = false
	}
}

// wait blocks c's goroutine until its socket has bytes, until, or a kick;
// nil means "read again".
func (d *readyDispatcher) wait(c *conn, until time.Time) error {
	if !c.inReadySet {
		if err := d.register(c); err != nil {
			return err
		}
	}
	c.readyUntil.Store(until.UnixNano())
	if !c.ready.CompareAndSwap(readyNone, readyWaiting) {
		c.ready.Store(readyNone) // bytes came while we were busy
		return nil
	}
	if c.state.Load() == stateClosing {
		// Shutdown claimed c between its last look and now; its kick may
		// have found nobody waiting.
		if c.ready.CompareAndSwap(readyWaiting, readyNone) {
			return os.ErrDeadlineExceeded
		}
		<-c.wake
		return nil
	}
	// The timer is moved only when it is idle or more than a quarter of
	// the handoff interval off: most waits of a busy connection reuse it
	// as it is. One that fires early rearms itself (readyTimeout).
	if at := c.readyTimerAt.Load(); at == 0 || until.UnixNano()-at < 0 || until.UnixNano()-at > int64(handoffAfter/4) {
		if c.readyTimer == nil {
			c.readyTimer = time.AfterFunc(time.Until(until), c.readyTimeoutFn)
		} else {
			c.readyTimer.Reset(time.Until(until))
		}
		c.readyTimerAt.Store(until.UnixNano())
	}
	<-c.wake
	if c.timedOut.Load() {
		c.timedOut.Store(false)
		return os.ErrDeadlineExceeded
	}
	return nil
}

// readyTimeout is c's timer callback: it rearms itself while the current
// wait has time left, and otherwise goes idle and ends the wait, if any.
// A wait that began just as it fired may be ended early: that connection
// only moves to the idle poller sooner.
func (c *conn) readyTimeout() {
	until := c.readyUntil.Load()
	if left := until - time.Now().UnixNano(); left > 0 {
		c.readyTimerAt.Store(until)
		c.readyTimer.Reset(time.Duration(left))
		return
	}
	c.readyTimerAt.Store(0)
	if c.ready.CompareAndSwap(readyWaiting, readyNone) {
		c.timedOut.Store(true)
		c.wake <- struct{}{}
	}
}

// kickReady wakes c's goroutine if it waits in the dispatcher.
func (c *conn) kickReady() {
	if c.ready.CompareAndSwap(readyWaiting, readyNone) {
		c.wake <- struct{}{}
	}
}
