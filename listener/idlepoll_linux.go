package listener

import (
	"sync"
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
type idlePoller struct {
	epfd int

	mu    sync.Mutex
	conns map[int32]*conn // parked connections by socket
}

var (
	pollerOnce   sync.Once
	sharedPoller *idlePoller // nil where epoll could not be set up
)

func idlePollerInstance() *idlePoller {
	pollerOnce.Do(func() {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return
		}
		p := &idlePoller{epfd: epfd, conns: make(map[int32]*conn)}
		go p.watch()
		go p.expire()
		sharedPoller = p
	})
	return sharedPoller
}

// park hands c to the poller; false means the caller must wait itself.
func (p *idlePoller) park(c *conn) bool {
	if c.t.fd < 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: c.t.fd}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(c.t.fd), &ev); err != nil {
		return false
	}
	p.conns[c.t.fd] = c
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
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for now := range tick.C {
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
