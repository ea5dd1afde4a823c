package listener

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/internal/lifetime"
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
	t      transport
	remote string
	// life is the Ctx of the connection's requests.
	life lifetime.Lifetime
	// sendContinue is w.sendContinue bound once, the body's Continue hook.
	sendContinue func() error
	// idlePeek is tryIdlePeek bound once, for waits over TLS.
	idlePeek func(fd uintptr) bool
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
	c.idlePeek = c.tryIdlePeek
	c.w.sendMore = c.w.trySendMore
	c.w.owner = c
	c.sendContinue = c.w.sendContinue
	return c
}}

// setReadDeadline sets the socket's read deadline and remembers it.
func (c *conn) setReadDeadline(t time.Time) {
	if c.t.tls != nil {
		// A TLS read can write: crypto/tls answers a client's KeyUpdate
		// from inside Read. A client that asks for updates and never
		// reads would block that write for good, past every read
		// deadline, so over TLS a read is bounded in both directions.
		c.t.conn.SetDeadline(t)
		c.w.writeDeadline = t
	} else {
		c.t.conn.SetReadDeadline(t)
	}
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
		c.remote = c.t.conn.RemoteAddr().String()
	}
	return c.remote
}

// waitIdle waits for the next request's first bytes holding no buffer.
// On a plain socket the read is tried with a pooled buffer, and when the
// socket has nothing the buffer goes back to the pool before the goroutine
// parks. That costs no system call over a plain Read, which also tries
// once before parking. Over TLS see waitIdleRecords.
func (c *conn) waitIdle() error {
	switch {
	case c.t.socket == nil:
		return c.rd.WaitForData()
	case !c.t.plaintext:
		return c.waitIdleRecords()
	}
	if err := c.t.socket.Read(c.idleRead); err != nil {
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

// waitIdleRecords is waitIdle over TLS. The record layer may already hold
// the next request, decrypted from bytes that arrived with the last one,
// where the socket's readiness cannot show it: a read under a deadline
// already past takes such bytes without touching the socket. Otherwise
// the wait is for the socket to become readable, with no buffer held,
// and the read follows.
func (c *conn) waitIdleRecords() error {
	c.t.conn.SetReadDeadline(time.Unix(1, 0))
	err := c.rd.WaitForData()
	c.t.conn.SetReadDeadline(c.readDeadline)
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	c.rd.Release()
	if err := c.t.socket.Read(c.idlePeek); err != nil {
		return err
	}
	return c.rd.WaitForData()
}

// tryIdlePeek reports the socket readable without consuming a byte.
func (c *conn) tryIdlePeek(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EINTR
}

// serveConn serves nc until it closes. The caller has counted it in s.wg.
// This is the protocol seam: accept, then the TLS handshake and its ALPN
// choice, or on a plain listener with http2 the preface of h2c, then the
// protocol: HTTP/1.1 or HTTP/2.
func (s *server) serveConn(nc net.Conn) {
	snap := s.snap.Load()
	if snap.certs != nil {
		s.serveTLS(nc, &snap.settings)
		return
	}
	if snap.http2 && h2cPreface(nc, snap.settings.ReadHeaderTimeout) {
		s.serveH2(newTransport(nc))
		return
	}
	s.serveHTTP1(newTransport(nc))
}

// serveHTTP1 runs the HTTP/1.1 connection loop on t.
func (s *server) serveHTTP1(t transport) {
	c := connPool.Get().(*conn)
	c.srv, c.t, c.served = s, t, 0
	c.remote = "" // formatted on first use: most connections never need it
	c.life.Renew()
	c.readDeadline = time.Time{}
	c.w.raw = nil
	if t.plaintext {
		c.w.raw = t.socket
	}
	c.w.writeDeadline = time.Time{}
	c.w.unsentCapped = false
	c.state.Store(stateIdle)
	c.rd.Reset(t.conn, s.snap.Load().settings.Limits)
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
			if p := c.srv.sup.idlePoller(); p != nil && p.park(c) {
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
	c.life.End()
	if !c.w.upgraded {
		if c.t.tls != nil && c.t.tls.sock != nil {
			c.t.tls.sock.closeSoon()
		}
		c.t.conn.Close()
	}
	c.rd.Release()
	c.w.releaseBuffer()
	c.w.req, c.w.conn, c.w.raw, c.srv = nil, nil, nil, nil
	c.t = transport{}
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
	// The newest config serves this request, and its resources stay open
	// until the request is done.
	snap, ok := s.acquire()
	if !ok {
		return stepClose // the listener is gone, and its config with it
	}
	defer snap.owner.release()
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
		req.Body.Continue = c.sendContinue
	}
	w := &c.w
	req.Received = start
	w.reset(c.t.conn, req, set.WriteTimeout, start)
	keepAlive := req.KeepAlive && !s.draining.Load() &&
		(set.MaxRequestsPerConn <= 0 || c.served < set.MaxRequestsPerConn)
	if !keepAlive || req.ContentLength > maxDrain {
		w.closeAfter = true
	}
	hreq := c.request(req, start)
	h, site, herr := s.answer(snap, w, hreq, c.t.covers)
	if errors.Is(herr, handlers.ErrPanic) {
		w.closeAfter = true
	}
	if errors.Is(herr, handlers.ErrResponseCut) {
		w.abort()
	}
	if w.upgraded {
		if snap.access != nil {
			snap.access.Log(uint32(c.t.fd), c.remoteAddr(), site, hreq, w.status, w.sent, time.Since(start))
		}
		return stepClose // the socket is the handler's
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
		w.reset(c.t.conn, req, set.WriteTimeout, time.Now())
		w.closeAfter = true
		s.answerInvalidHeader(snap, h, w, hreq, site)
		werr = w.finish()
	}
	if snap.access != nil {
		snap.access.Log(uint32(c.t.fd), c.remoteAddr(), site, hreq, w.status, w.sent, time.Since(start))
	}
	if werr != nil {
		if errors.Is(werr, errAborted) {
			// The site logged why; a reset tells the client its
			// response is broken, also where a close would not (an
			// HTTP/1.0 body that ends with the connection).
			if c.t.tcp != nil {
				c.t.tcp.SetLinger(0)
			}
			return stepClose
		}
		c.logConnError("writing response", werr)
		if c.t.tcp != nil && errors.Is(werr, os.ErrDeadlineExceeded) {
			// The client stopped reading: reset rather than leave an
			// orphaned socket holding megabytes of unsent response in
			// the kernel for minutes (nginx's reset_timedout_connection).
			c.t.tcp.SetLinger(0)
		}
		return stepClose
	}
	if w.closeAfter {
		if !req.Body.Done() || c.rd.Buffered() > 0 || unreadInput(c.t.socket) {
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

var errMisdirected = &handlers.Error{Status: 421}

// request fills the neutral request from the parsed head; every slice
// still points into the read buffer, so nothing is copied. It lives in the
// response's exchange, taken by w.reset.
func (c *conn) request(p *parser.Request, received time.Time) *handlers.Request {
	r := &c.w.ex.req
	*r = handlers.Request{
		Method:        p.Method,
		Target:        p.Target,
		RawPath:       p.RawPath,
		Path:          p.Path,
		RawQuery:      p.RawQuery,
		Host:          p.Host,
		Header:        &p.Header,
		Body:          p.Body,
		ContentLength: p.ContentLength,
		Proto:         protoName(p),
		RemoteAddr:    c.t.peer(),
		TLS:           c.t.tlsState(),
		Received:      received,
		Ctx:           &c.life,
	}
	return r
}

func protoName(p *parser.Request) string {
	if p.ProtoMinor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

// logHandlerError logs a 5xx the site answered, with the stack when a
// handler panicked.
func (s *server) logHandlerError(site string, status int, err error) {
	var pe *handlers.PanicError
	if errors.As(err, &pe) {
		s.log.Error("handler panicked", zap.String("site", site),
			zap.String("panic", fmt.Sprint(pe.Value)), zap.ByteString("stack", pe.Stack))
		return
	}
	s.log.Error("handler failed", zap.String("site", site), zap.Int("status", status), zap.Error(err))
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
	w.reset(c.t.conn, nil, snap.settings.WriteTimeout, time.Now())
	w.closeAfter = true
	snap.pages.WriteError(w, nil, status)
	if err := w.finish(); err != nil {
		c.logConnError("writing error response", err)
		return
	}
	if snap.access != nil {
		snap.access.Log(uint32(c.t.fd), c.remoteAddr(), "", nil, status, w.sent, time.Since(start))
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
	tcp := c.t.tcp
	if tcp == nil {
		return
	}
	if tc, ok := c.t.conn.(*tls.Conn); ok {
		if c.t.tls.sock != nil {
			c.t.tls.sock.closeSoon()
		}
		tc.CloseWrite() // close_notify, then the TCP half-close
	} else {
		tcp.CloseWrite()
	}
	// What the client still sends is read below the TLS layer: it is
	// only discarded, and it need not be whole records.
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
