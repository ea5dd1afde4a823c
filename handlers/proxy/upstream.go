package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moreweb/moreweb/parser"
)

// Backend is one address a route sends requests to.
type Backend struct {
	// Network is "tcp" or "unix".
	Network string
	// Address is host:port, or the socket's absolute path.
	Address string
	// Name is the address as the config wrote it, for logs and metrics.
	Name string
}

// passiveDownFor is how long a backend that failed to connect is skipped.
const passiveDownFor = 10 * time.Second

// maxIdlePerBackend bounds the idle keep-alive connections kept to one
// backend: enough for every client connection of a busy core to find one,
// few enough that a reload or a burst leaves little behind.
const maxIdlePerBackend = 128

// idleTimeout is how long an idle connection is kept. Backends close
// their idle ones after a while (nginx 75 s, Node 5 s); one they closed is
// found dead on its next use and the request retried on a new one.
const idleTimeout = 60 * time.Second

// upstream is a backend with its pool of idle connections and its health.
type upstream struct {
	Backend
	connectTimeout time.Duration

	inflight  atomic.Int64 // requests under way, for least_conn
	downUntil atomic.Int64 // UnixNano: skipped until then after a failed connect
	checkDown atomic.Bool  // the active check's last answer was not 2xx

	mu     sync.Mutex
	idle   []*backendConn // most recently used last
	closed bool
}

// up reports whether the backend may be chosen now.
func (u *upstream) up(now int64) bool {
	return now >= u.downUntil.Load() && !u.checkDown.Load()
}

// backendConn is one connection to a backend.
type backendConn struct {
	nc     net.Conn
	rd     *parser.ResponseReader
	u      *upstream
	reused bool
	idleAt time.Time
	closed bool

	raw      syscall.RawConn // for quiet; nil where there is none
	peek     func(fd uintptr)
	peekBuf  [1]byte
	readable bool
}

var errClosed = errors.New("proxy: upstream closed by a reload")

// get returns an idle connection, or dials a new one. A dial failure marks
// the backend down for passiveDownFor.
func (u *upstream) get(ctx context.Context, now time.Time) (*backendConn, error) {
	u.mu.Lock()
	for len(u.idle) > 0 {
		bc := u.idle[len(u.idle)-1]
		u.idle[len(u.idle)-1] = nil
		u.idle = u.idle[:len(u.idle)-1]
		u.mu.Unlock()
		if now.Sub(bc.idleAt) < idleTimeout && bc.quiet() {
			bc.reused = true
			return bc, nil
		}
		bc.close()
		u.mu.Lock()
	}
	closed := u.closed
	u.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	return u.dial(ctx)
}

func (u *upstream) dial(ctx context.Context) (*backendConn, error) {
	d := net.Dialer{Timeout: u.connectTimeout}
	nc, err := d.DialContext(ctx, u.Network, u.Address)
	if err != nil {
		u.downUntil.Store(time.Now().Add(passiveDownFor).UnixNano())
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	bc := &backendConn{nc: nc, rd: parser.NewResponseReader(nc, responseLimits), u: u}
	if sc, ok := nc.(syscall.Conn); ok {
		if bc.raw, err = sc.SyscallConn(); err == nil {
			bc.peek = bc.peekIdle
		}
	}
	return bc, nil
}

// quiet reports whether an idle connection has nothing to read. A backend
// sends nothing unasked: bytes there would be taken for the response to
// the next request sent (a backend that wrote past its response's end
// poisons the next one, RFC 9112 §6.3), and an end of file is a
// connection it closed. Either way it is not reused.
func (bc *backendConn) quiet() bool {
	if bc.raw == nil {
		return true
	}
	bc.readable = false
	bc.raw.Control(bc.peek) // Control, not Read: the deadline may have passed
	return !bc.readable
}

// peekIdle is quiet's look at the socket, made once per connection so
// that a look allocates nothing.
func (bc *backendConn) peekIdle(fd uintptr) {
	_, _, err := syscall.Recvfrom(int(fd), bc.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	bc.readable = err != syscall.EAGAIN // a byte, the end, or an error
}

// put gives a connection whose exchange ended cleanly back to the pool.
func (u *upstream) put(bc *backendConn, now time.Time) {
	// Its deadline is left as it is: the next exchange sets its own
	// before any read or write.
	bc.rd.Release()
	bc.idleAt = now
	u.mu.Lock()
	if u.closed || len(u.idle) >= maxIdlePerBackend {
		u.mu.Unlock()
		bc.close()
		return
	}
	u.idle = append(u.idle, bc)
	u.mu.Unlock()
}

// close ends the pool: idle connections close now, busy ones when their
// exchange ends.
func (u *upstream) close() {
	u.mu.Lock()
	idle := u.idle
	u.idle, u.closed = nil, true
	u.mu.Unlock()
	for _, bc := range idle {
		bc.close()
	}
}

// close ends the connection; only its exchange calls it, once or more.
func (bc *backendConn) close() {
	if bc.closed {
		return
	}
	bc.closed = true
	bc.nc.Close()
	bc.rd.Release()
}

// responseLimits bound a backend's response head: larger than a client's
// request head may be (backends send big cookies and CSP fields), and
// still bounded.
var responseLimits = parser.ResponseLimits{
	MaxHeaderBytes:   64 << 10,
	MaxHeaderCount:   200,
	MaxChunkExtBytes: 1024,
	MaxTrailerBytes:  16 << 10,
}
