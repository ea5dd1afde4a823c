package listener

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// A connection goes through these phases, once per request:
//
//	waitRequest: idle until the first byte of a request (idle timeout,
//	             or the header timeout for a new connection)
//	readHead:    the head must be complete within the header timeout,
//	             counted from that first byte
//	route:       Host -> site, against the newest config snapshot
//	handle:      the site's handler writes the response
//	finish:      the response is completed and flushed; the unread body
//	             is drained or the connection closed; then keep-alive
//	             loops to waitRequest, anything else closes.
type conn struct {
	srv    *server
	nc     net.Conn
	remote string
	raw    syscall.RawConn // nil for connections that are not sockets
	fd     int32           // the socket's descriptor, -1 if unknown
	// idleRead is tryIdleRead bound to this conn; idleN and idleErr are
	// its results.
	idleRead func(fd uintptr) bool
	idleN    int
	idleErr  error
	// idleUntil is when the current wait for a request times out.
	idleUntil time.Time
	// readDeadline is the socket's read deadline as this goroutine last
	// set it (shutdown may move it sooner, from another goroutine).
	readDeadline time.Time
	rd           parser.Reader
	w            responseWriter
	state        atomic.Int32
	served       int
}

const (
	stateIdle int32 = iota
	stateActive
	stateClosing
)

// maxDrain is how much of an unread request body is read and discarded to
// keep a connection alive; beyond it the connection is closed instead.
const maxDrain = 256 << 10

var connPool = sync.Pool{New: func() any {
	c := new(conn)
	c.idleRead = c.tryIdleRead
	c.w.sendMore = c.w.trySendMore
	return c
}}

// setReadDeadline sets the socket's read deadline and remembers it.
func (c *conn) setReadDeadline(t time.Time) {
	c.nc.SetReadDeadline(t)
	c.readDeadline = t
}

// armHandoff bounds the wait for the next request by handoffAfter. A
// deadline already set between three quarters of that and all of it is
// left alone: on a busy connection the next request arrives long before,
// and most requests then skip the timer update.
func (c *conn) armHandoff(now time.Time) {
	want := now.Add(handoffAfter)
	if d := want.Sub(c.readDeadline); d < 0 || d > handoffAfter/4 {
		c.setReadDeadline(want)
	}
}

// remoteAddr is the client's address as text, for the logs.
func (c *conn) remoteAddr() string {
	if c.remote == "" {
		c.remote = c.nc.RemoteAddr().String()
	}
	return c.remote
}

// waitIdle waits for the next request's first bytes holding no buffer: the
// read is tried with a pooled buffer, and when the socket has nothing the
// buffer goes back to the pool before the goroutine parks. That costs no
// syscall over a plain Read, which also tries once before parking.
func (c *conn) waitIdle() error {
	if c.raw == nil {
		return c.rd.WaitForData()
	}
	if err := c.raw.Read(c.idleRead); err != nil {
		return err
	}
	if c.idleErr != nil {
		return c.idleErr
	}
	if c.idleN <= 0 {
		return io.EOF
	}
	c.rd.Advance(c.idleN)
	return nil
}

// tryIdleRead is waitIdle's callback, made into a method value once per
// connection so that waiting does not allocate a closure per request.
func (c *conn) tryIdleRead(fd uintptr) bool {
	c.idleN, c.idleErr = syscall.Read(int(fd), c.rd.Space())
	if c.idleErr == syscall.EAGAIN || c.idleErr == syscall.EINTR {
		c.rd.Release()
		return false // park until readable, then try again
	}
	return true
}

// serveConn serves nc until it closes. The caller has counted it in s.wg.
func (s *server) serveConn(nc net.Conn) {
	c := connPool.Get().(*conn)
	c.srv, c.nc, c.served = s, nc, 0
	c.remote = "" // formatted on first use: most connections never need it
	c.readDeadline = time.Time{}
	c.raw = nil
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	c.fd = socketFD(c)
	c.w.raw = c.raw
	c.w.writeDeadline = time.Time{}
	c.w.unsentCapped = false
	c.state.Store(stateIdle)
	c.rd.Reset(nc, s.snap.Load().settings.Limits)
	s.track(c, true)
	c.run()
}

// handoffAfter is how long a connection waits for its next request on the
// goroutine that served the last one. A longer wait continues on a fresh
// goroutine, whose small stack is all an idle connection then costs; the
// serving goroutine's grown stack goes back to be reused. Busy clients
// send their next request well within it and never pay for the switch.
const handoffAfter = 20 * time.Millisecond

type step uint8

const (
	stepNext    step = iota // serve the next request on this goroutine
	stepHandoff             // wait for the next request on a fresh goroutine
	stepClose               // the connection is over
)

func (c *conn) run() {
	for {
		switch c.serveOne() {
		case stepHandoff:
			if p := idlePollerInstance(); p != nil && p.park(c) {
				return
			}
			go c.waitParked()
			return
		case stepClose:
			c.close()
			return
		}
	}
}

// waitParked is the long idle wait, on a fresh goroutine.
func (c *conn) waitParked() {
	c.setReadDeadline(c.idleUntil)
	if c.state.Load() == stateClosing {
		c.close() // shutdown claimed the connection before the deadline moved
		return
	}
	if err := c.waitIdle(); err != nil {
		c.logConnError("waiting for request", err)
		c.close()
		return
	}
	c.run()
}

func (c *conn) close() {
	s := c.srv
	s.track(c, false)
	c.nc.Close()
	c.rd.Release()
	c.w.releaseBuffer()
	c.w.req, c.w.conn, c.w.raw, c.nc, c.srv, c.raw = nil, nil, nil, nil, nil, nil
	connPool.Put(c)
	s.sup.releaseSlot()
	s.wg.Done()
}

// serveOne handles one request and says what the connection does next.
func (c *conn) serveOne() step {
	s := c.srv
	snap := s.snap.Load()
	set := &snap.settings

	// waitRequest
	if c.rd.Buffered() == 0 {
		wait := set.IdleTimeout
		if c.served == 0 {
			// Under deferred accepts a new connection with nothing to
			// read has already been silent in the kernel that long.
			wait = set.ReadHeaderTimeout - set.deferral
		}
		now := time.Now()
		c.idleUntil = now.Add(wait)
		if wait > handoffAfter {
			c.armHandoff(now)
		} else {
			c.setReadDeadline(now.Add(wait))
		}
		c.w.releaseBuffer()
		if err := c.waitIdle(); err != nil {
			if wait > handoffAfter && errors.Is(err, os.ErrDeadlineExceeded) && c.state.Load() == stateIdle {
				return stepHandoff
			}
			c.logConnError("waiting for request", err)
			return stepClose
		}
	}
	if !c.state.CompareAndSwap(stateIdle, stateActive) {
		return stepClose // shutting down: the server claimed this idle connection
	}
	defer c.state.CompareAndSwap(stateActive, stateIdle)

	// readHead, under the newest config: a reload may have changed limits
	snap = s.snap.Load()
	set = &snap.settings
	c.rd.SetLimits(set.Limits)
	start := time.Now()
	if !c.rd.HeadBuffered() {
		// Only a head still arriving needs the header deadline; most come
		// whole in their first packet.
		c.setReadDeadline(start.Add(set.ReadHeaderTimeout))
	}
	req, err := c.rd.ReadRequest()
	snap = s.snap.Load() // the newest config serves this request
	set = &snap.settings
	if err != nil {
		c.refuse(snap, err, start)
		return stepClose
	}
	c.served++

	// route and handle
	if req.ContentLength != 0 {
		c.setReadDeadline(start.Add(set.IdleTimeout)) // for the body
	}
	if req.ExpectContinue {
		req.Body.Continue = c.nc
	}
	w := &c.w
	req.Received = start
	w.reset(c.nc, req, set.WriteTimeout, start)
	keepAlive := req.KeepAlive && !s.draining.Load() &&
		(set.MaxRequestsPerConn <= 0 || c.served < set.MaxRequestsPerConn)
	if !keepAlive || req.ContentLength > maxDrain {
		w.closeAfter = true
	}
	h, site, ok := snap.router.Route(req.Host)
	var herr error
	switch {
	case !ok:
		herr = errMisdirected
	case req.Form == parser.AsteriskForm:
		// OPTIONS * asks about the server, not a resource (RFC 9110 §9.3.7).
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		w.WriteHeader(204)
	default:
		herr = c.safeServe(h, req)
	}
	if herr != nil {
		status := handlers.StatusOf(herr)
		if !w.Written() {
			snap.pages.Write(w, req, status)
		}
		if status >= 500 {
			s.log.Error("handler failed", zap.String("site", site), zap.Int("status", status), zap.Error(herr))
		}
		if errors.Is(herr, errPanicked) {
			w.closeAfter = true
		}
	}
	if req.ExpectContinue && !req.Body.Done() {
		// The client may still be waiting to send a body nobody asked
		// for; only closing ends that cleanly.
		w.closeAfter = true
	}
	if s.draining.Load() {
		w.closeAfter = true // shutting down: this is the connection's last answer
	}
	werr := w.finish()
	if errors.Is(werr, parser.ErrInvalidHeader) && w.sent == 0 {
		// A header value with CR or LF would split the response; the
		// site gets a 500 instead, and nothing of what it set is sent.
		s.log.Error("handler set an invalid header field", zap.String("site", site))
		w.reset(c.nc, req, set.WriteTimeout, time.Now())
		w.closeAfter = true
		snap.pages.Write(w, req, 500)
		werr = w.finish()
	}
	if snap.access != nil {
		snap.access.Log(uint32(c.fd), c.remoteAddr(), site, req, w.status, w.sent, time.Since(start))
	}
	if werr != nil {
		c.logConnError("writing response", werr)
		if tcp, ok := c.nc.(*net.TCPConn); ok && errors.Is(werr, os.ErrDeadlineExceeded) {
			// The client stopped reading: reset rather than leave an
			// orphaned socket holding megabytes of unsent response in
			// the kernel for minutes (nginx's reset_timedout_connection).
			tcp.SetLinger(0)
		}
		return stepClose
	}
	if w.closeAfter {
		if !req.Body.Done() || c.rd.Buffered() > 0 || unreadInput(c.raw) {
			// The client may still be sending; see lingerClose.
			c.lingerClose()
		}
		return stepClose
	}
	if !req.Body.Done() {
		c.setReadDeadline(time.Now().Add(set.ReadHeaderTimeout))
	}
	if !req.Body.Drain(maxDrain) {
		return stepClose
	}
	return stepNext
}

var (
	errMisdirected = &handlers.Error{Status: 421}
	errPanicked    = errors.New("handler panicked")
)

// safeServe runs the handler; a panic becomes a 500, logged with its stack.
func (c *conn) safeServe(h handlers.Handler, req *parser.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.srv.log.Error("handler panicked",
				zap.String("panic", fmt.Sprint(p)),
				zap.ByteString("stack", debug.Stack()))
			err = &handlers.Error{Status: 500, Err: errPanicked}
		}
	}()
	return h.Serve(&c.w, req)
}

// refuse answers a request that could not be read: the one place where
// parser errors become statuses on the wire.
func (c *conn) refuse(snap *snapshot, err error, start time.Time) {
	var pe *parser.Error
	status := 0
	switch {
	case errors.As(err, &pe):
		status = pe.Status
	case errors.Is(err, os.ErrDeadlineExceeded) && c.rd.Buffered() > 0:
		status = 408 // a head started and never finished
	default:
		c.logConnError("reading request", err)
		return
	}
	w := &c.w
	w.reset(c.nc, nil, snap.settings.WriteTimeout, time.Now())
	w.closeAfter = true
	snap.pages.Write(w, nil, status)
	if err := w.finish(); err != nil {
		c.logConnError("writing error response", err)
		return
	}
	if snap.access != nil {
		snap.access.Log(uint32(c.fd), c.remoteAddr(), "", nil, status, w.sent, time.Since(start))
	}
	if ce := c.srv.log.Check(zap.DebugLevel, "request refused"); ce != nil {
		ce.Write(zap.String("remote", c.remoteAddr()), zap.Int("status", status), zap.Error(err))
	}
	c.lingerClose()
}

// lingerClose half-closes and reads briefly before the close, so that the
// response is not destroyed by a reset when the client has sent bytes we
// never read (RFC 9112 §9.6).
func (c *conn) lingerClose() {
	tcp, ok := c.nc.(*net.TCPConn)
	if !ok {
		return
	}
	tcp.CloseWrite()
	tcp.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.CopyN(io.Discard, tcp, 256<<10)
}

// logConnError logs network trouble at debug level when it is the ordinary
// kind (client gone, timeout, server closing) and at warn otherwise.
func (c *conn) logConnError(what string, err error) {
	if isExpectedNetError(err) {
		if ce := c.srv.log.Check(zap.DebugLevel, what); ce != nil {
			ce.Write(zap.String("remote", c.remoteAddr()), zap.Error(err))
		}
		return
	}
	c.srv.log.Warn(what, zap.String("remote", c.remoteAddr()), zap.Error(err))
}
