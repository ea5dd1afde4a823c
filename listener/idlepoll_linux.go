package listener

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// An idle keep-alive connection on Linux costs no goroutine at all: once it
// has waited longer than handoffAfter, its socket joins one epoll set that
// a single goroutine watches, and the connection gets a goroutine again
// only when a request arrives. What remains per idle connection is the
// conn struct and Go's socket bookkeeping, about two KiB.
//
// The sockets stay registered with Go's own poller as well; readiness
// here only says when to resume, and the read itself goes through Go.
//
// Each Supervisor has its own poller, started by the first connection that
// parks and stopped when Shutdown has ended every connection, so that a
// process (or a test) that stops its server keeps no goroutine or
// descriptor of it.
type idlePoller struct {
	epfd int
	// wake is a pipe in the epoll set: a byte written to wake[1] is how
	// stop gets watch out of a wait with no timeout, which closing epfd
	// would not do.
	wake [2]int
	done chan struct{} // closed by stop, for expire
	wg   sync.WaitGroup

	mu      sync.Mutex
	conns   map[int32]*conn // parked connections by socket
	stopped bool
}

// idleOwner is a Supervisor's poller; the zero value has none yet.
type idleOwner struct {
	mu     sync.Mutex // held to start or stop the poller
	poller atomic.Pointer[idlePoller]
}

// idlePoller returns the supervisor's poller, starting it on first use;
// nil when epoll could not be set up, and connections wait on goroutines.
func (sup *Supervisor) idlePoller() *idlePoller {
	if p := sup.idle.poller.Load(); p != nil {
		return p
	}
	sup.idle.mu.Lock()
	defer sup.idle.mu.Unlock()
	if p := sup.idle.poller.Load(); p != nil {
		return p
	}
	p, err := newIdlePoller()
	if err != nil {
		return nil // tried again at the next park: EMFILE passes
	}
	sup.idle.poller.Store(p)
	return p
}

// runningPoller is the supervisor's poller if one was started: a
// connection that was never handed one cannot be parked in it.
func (sup *Supervisor) runningPoller() *idlePoller { return sup.idle.poller.Load() }

// stopIdlePoller stops the supervisor's poller, once every connection has
// ended; a later park starts a new one.
func (sup *Supervisor) stopIdlePoller() {
	sup.idle.mu.Lock()
	defer sup.idle.mu.Unlock()
	if p := sup.idle.poller.Swap(nil); p != nil {
		p.stop()
	}
}

func newIdlePoller() (*idlePoller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &idlePoller{epfd: epfd, done: make(chan struct{}), conns: make(map[int32]*conn)}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wake[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, err
	}
	p.wg.Add(2)
	go p.watch()
	go p.expire()
	return p, nil
}

func (p *idlePoller) closeFDs() {
	syscall.Close(p.epfd)
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
}

// stop ends both goroutines and closes the descriptors, after them, so that
// watch never waits on a number the kernel has given to another file.
// Shutdown has taken and closed every parked connection by now; one still
// here would be closed rather than kept forever.
func (p *idlePoller) stop() {
	p.mu.Lock()
	p.stopped = true
	left := make([]*conn, 0, len(p.conns))
	for _, c := range p.conns {
		left = append(left, c)
	}
	for _, c := range left {
		p.takeLocked(c)
	}
	p.mu.Unlock()
	close(p.done)
	syscall.Write(p.wake[1], []byte{0})
	p.wg.Wait()
	p.closeFDs()
	for _, c := range left {
		c.close()
	}
}

// park hands c to the poller; false means the caller must wait itself.
func (p *idlePoller) park(c *conn) bool {
	if c.t.fd < 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: c.t.fd}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(c.t.fd), &ev); err != nil {
		return false
	}
	p.conns[c.t.fd] = c
	// closeIdle marks a connection closing before it looks for it here;
	// one it marked on the way in would be found by neither, and would
	// stay until its idle time is up.
	if c.state.Load() == stateClosing {
		p.takeLocked(c)
		return false
	}
	return true
}

// take removes c from the poller if it is parked there, so that the caller
// may close it; false means it is not (or no longer) parked.
func (p *idlePoller) take(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.takeLocked(c)
}

func (p *idlePoller) takeLocked(c *conn) bool {
	if c.t.fd < 0 || p.conns[c.t.fd] != c {
		return false
	}
	delete(p.conns, c.t.fd)
	syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(c.t.fd), nil)
	return true
}

// watch resumes each parked connection whose socket becomes readable (a
// request, or the client closing) on a goroutine of its own.
func (p *idlePoller) watch() {
	defer p.wg.Done()
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return
		}
		for i := 0; i < n; i++ {
			if events[i].Fd == int32(p.wake[0]) {
				return
			}
			p.mu.Lock()
			c := p.conns[events[i].Fd]
			ok := c != nil && p.takeLocked(c)
			p.mu.Unlock()
			if ok {
				go c.run()
			}
		}
	}
}

// expire closes parked connections whose idle time is up. A second's
// precision is plenty for timeouts counted in tens of seconds.
func (p *idlePoller) expire() {
	defer p.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var now time.Time
		select {
		case now = <-tick.C:
		case <-p.done:
			return
		}
		var due []*conn
		p.mu.Lock()
		for _, c := range p.conns {
			if now.After(c.idleUntil) {
				due = append(due, c)
			}
		}
		for _, c := range due {
			p.takeLocked(c)
		}
		p.mu.Unlock()
		for _, c := range due {
			c.close()
		}
	}
}

// rawFD returns the descriptor behind a socket, or -1.
func rawFD(raw syscall.RawConn) int32 {
	if raw == nil {
		return -1
	}
	fd := int32(-1)
	raw.Control(func(s uintptr) { fd = int32(s) })
	return fd
}
