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
	rd     parser.Reader
	w      responseWriter
	state  atomic.Int32
	served int
}

const (
	stateIdle int32 = iota
	stateActive
	stateClosing
)

// maxDrain is how much of an unread request body is read and discarded to
// keep a connection alive; beyond it the connection is closed instead.
const maxDrain = 256 << 10

var connPool = sync.Pool{New: func() any { return new(conn) }}

func (s *server) serveConn(nc net.Conn) {
	c := connPool.Get().(*conn)
	c.srv, c.nc, c.served = s, nc, 0
	c.remote = nc.RemoteAddr().String()
	c.state.Store(stateIdle)
	snap := s.snap.Load()
	c.rd.Reset(nc, snap.settings.Limits)
	s.track(c, true)
	defer func() {
		s.track(c, false)
		nc.Close()
		c.rd.Release()
		c.w.req, c.w.conn, c.nc, c.srv = nil, nil, nil, nil
		connPool.Put(c)
		s.sup.releaseSlot()
	}()
	for c.serveOne() {
	}
}

// serveOne handles one request and reports whether the connection may carry
// another.
func (c *conn) serveOne() bool {
	s := c.srv
	snap := s.snap.Load()
	set := &snap.settings

	// waitRequest
	wait := set.IdleTimeout
	if c.served == 0 {
		wait = set.ReadHeaderTimeout
	}
	if c.rd.Buffered() == 0 {
		c.rd.Release()
	}
	c.nc.SetReadDeadline(time.Now().Add(wait))
	if err := c.rd.WaitForData(); err != nil {
		c.logConnError("waiting for request", err)
		return false
	}
	if !c.state.CompareAndSwap(stateIdle, stateActive) {
		return false // shutting down: the server claimed this idle connection
	}
	defer c.state.CompareAndSwap(stateActive, stateIdle)

	// readHead
	start := time.Now()
	c.nc.SetReadDeadline(start.Add(set.ReadHeaderTimeout))
	req, err := c.rd.ReadRequest()
	snap = s.snap.Load() // the newest config serves this request
	set = &snap.settings
	if err != nil {
		c.refuse(snap, err, start)
		return false
	}
	c.served++

	// route and handle
	c.nc.SetReadDeadline(time.Now().Add(set.IdleTimeout))
	if req.ExpectContinue {
		req.Body.Continue = c.nc
	}
	w := &c.w
	w.reset(c.nc, req, set.WriteTimeout)
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
		w.reset(c.nc, req, set.WriteTimeout)
		w.closeAfter = true
		snap.pages.Write(w, req, 500)
		werr = w.finish()
	}
	if snap.access != nil {
		snap.access.Log(c.remote, site, req, w.status, w.sent, time.Since(start))
	}
	if werr != nil {
		c.logConnError("writing response", werr)
		return false
	}
	if w.closeAfter {
		c.lingerClose()
		return false
	}
	c.nc.SetReadDeadline(time.Now().Add(set.ReadHeaderTimeout))
	return req.Body.Drain(maxDrain)
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
	w.reset(c.nc, nil, snap.settings.WriteTimeout)
	w.closeAfter = true
	snap.pages.Write(w, nil, status)
	if err := w.finish(); err != nil {
		c.logConnError("writing error response", err)
		return
	}
	if snap.access != nil {
		snap.access.Log(c.remote, "", nil, status, w.sent, time.Since(start))
	}
	if ce := c.srv.log.Check(zap.DebugLevel, "request refused"); ce != nil {
		ce.Write(zap.String("remote", c.remote), zap.Int("status", status), zap.Error(err))
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
			ce.Write(zap.String("remote", c.remote), zap.Error(err))
		}
		return
	}
	c.srv.log.Warn(what, zap.String("remote", c.remote), zap.Error(err))
}
