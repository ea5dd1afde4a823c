package listener

import (
	"bytes"
	"errors"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/moreweb/moreweb/h2"
	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// h2conn is an HTTP/2 connection of this listener: the h2 package runs the
// protocol, and every stream's request comes back here to be routed and
// answered under the newest snapshot, as an HTTP/1.1 request is.
type h2conn struct {
	srv  *server
	t    transport
	conn *h2.Conn

	// coverMu guards the transport's cache of the last name its
	// certificate was found to cover: streams ask concurrently.
	coverMu sync.Mutex
}

// serveH2 runs an HTTP/2 connection on t. The caller has counted it in
// s.wg and holds its connection slot; both are given back when it ends.
func (s *server) serveH2(t transport) {
	set := &s.snap.Load().settings
	hc := &h2conn{srv: s, t: t}
	hc.conn = h2.NewConn(t.conn, h2.Options{
		Serve:             hc.serve,
		Refuse:            hc.refuse,
		Limits:            set.Limits,
		ReadHeaderTimeout: set.ReadHeaderTimeout,
		IdleTimeout:       set.IdleTimeout,
		WriteTimeout:      set.WriteTimeout,
		RemoteAddr:        t.peer(),
		TLS:               t.tlsState(),
		Log:               s.log,
		Ended:             hc.ended,
	})
	s.mu.Lock()
	s.h2conns[hc] = struct{}{}
	draining := s.draining.Load()
	s.mu.Unlock()
	if draining {
		hc.conn.Shutdown()
	}
	// Serve returns when the connection first goes idle, and this
	// goroutine, which did the handshake, ends; hc.ended is the end.
	hc.conn.Serve()
}

// ended is the last of an HTTP/2 connection.
func (hc *h2conn) ended(err error) {
	s := hc.srv
	if err != nil && !isExpectedH2End(err) {
		s.log.Debug("http2 connection ended", zap.String("remote", hc.remoteAddr()), zap.Error(err))
	}
	s.mu.Lock()
	delete(s.h2conns, hc)
	s.mu.Unlock()
	s.sup.releaseSlot()
	s.wg.Done()
}

func isExpectedH2End(err error) bool {
	return isExpectedNetError(err) || strings.HasPrefix(err.Error(), "http2:")
}

// serve answers one stream's request: the same steps as an HTTP/1.1
// request after its head is read (conn.serveOne).
func (hc *h2conn) serve(w *h2.ResponseWriter, r *handlers.Request) {
	s := hc.srv
	snap, ok := s.acquire()
	if !ok {
		w.WriteHeader(503)
		w.Finish()
		return
	}
	defer snap.owner.release()
	h, site, herr := s.answer(snap, w, r, hc.covers)
	if errors.Is(herr, handlers.ErrResponseCut) {
		w.Abort()
	}
	werr := w.Finish()
	if errors.Is(werr, parser.ErrInvalidHeader) && w.Restart() {
		s.answerInvalidHeader(snap, h, w, r, site)
		w.Finish()
	}
	if snap.access != nil {
		snap.access.Log(uint32(hc.t.fd), hc.remoteAddr(), site, r, w.Status(), w.Sent(), time.Since(r.Received))
	}
}

// refuse answers a request the h2 package could not take as it came.
func (hc *h2conn) refuse(w *h2.ResponseWriter, r *handlers.Request, status int) {
	snap := hc.srv.snap.Load()
	snap.pages.WriteError(w, nil, status)
	w.Finish()
	if snap.access != nil {
		snap.access.Log(uint32(hc.t.fd), hc.remoteAddr(), "", nil, status, w.Sent(), time.Since(r.Received))
	}
}

func (hc *h2conn) remoteAddr() string {
	if p := hc.t.peer(); p.IsValid() {
		return p.String()
	}
	return hc.t.conn.RemoteAddr().String()
}

func (hc *h2conn) covers(host []byte) bool {
	if hc.t.tls == nil || hc.t.tls.cert == nil || hc.t.tls.cert.Leaf == nil {
		return true
	}
	hc.coverMu.Lock()
	defer hc.coverMu.Unlock()
	return hc.t.covers(host)
}

// answer routes r and has its site answer on w: the steps every protocol
// takes once a request is read. An error no site page rendered gets the
// server's page here; it is returned for what it means to the protocol (a
// panic ends an HTTP/1.1 connection).
func (s *server) answer(snap *snapshot, w handlers.ResponseWriter, r *handlers.Request, covers func(host []byte) bool) (h handlers.Handler, site string, herr error) {
	h, site, routed := snap.router.Route(r.Host)
	switch {
	case snap.acme != nil && bytes.HasPrefix(r.Path, challengePrefix) && answerChallenge(snap.acme, w, r):
	case !routed || !covers(r.Host):
		herr = errMisdirected
	case len(r.Path) == 1 && r.Path[0] == '*':
		// OPTIONS * asks about the server, not a resource (RFC 9110 §9.3.7).
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		w.WriteHeader(204)
	default:
		herr = serveSafely(h, w, r)
	}
	if herr != nil {
		status := handlers.StatusOf(herr)
		if !w.Written() {
			// Only errors with no site to render them get here: 421,
			// or a site handler that is not an error page layer.
			snap.pages.WriteError(w, r, status)
		}
		if status >= 500 {
			s.logHandlerError(site, status, herr)
		}
	}
	return h, site, herr
}

// answerInvalidHeader replaces a response whose head a handler made
// unsendable (CR or LF in a value, which would split it) with a 500: the
// site's page when it renders its own, else the server's.
func (s *server) answerInvalidHeader(snap *snapshot, h handlers.Handler, w handlers.ResponseWriter, r *handlers.Request, site string) {
	s.log.Error("handler set an invalid header field", zap.String("site", site))
	if ew, ok := h.(handlers.ErrorWriter); ok {
		ew.WriteError(w, r, 500)
	} else {
		snap.pages.WriteError(w, r, 500)
	}
}

// serveSafely runs the site's handler. A site's error page layer recovers
// its own panics and renders its page; this is the last guard, for a
// handler that has none, so that no panic ends the process.
func serveSafely(h handlers.Handler, w handlers.ResponseWriter, r *handlers.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &handlers.Error{Status: 500, Err: &handlers.PanicError{Value: p, Stack: debug.Stack()}}
		}
	}()
	return h.Serve(w, r)
}

// h2cPreface reports whether a new plain connection starts with the HTTP/2
// preface (h2c with prior knowledge), looking at its first bytes without
// consuming them, so that either protocol then reads them. It waits up to
// read_header_timeout for enough bytes to tell.
func h2cPreface(nc net.Conn, timeout time.Duration) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	nc.SetReadDeadline(time.Now().Add(timeout))
	defer nc.SetReadDeadline(time.Time{})
	var buf [len(h2.Preface)]byte
	is := false
	raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err == syscall.EAGAIN || err == syscall.EINTR {
			return false
		}
		if err != nil || n <= 0 {
			return true
		}
		if string(buf[:n]) == h2.Preface[:n] {
			if n == len(buf) {
				is = true
				return true
			}
			return false // a prefix of the preface so far: wait for more bytes
		}
		switch http1RequestLine(buf[:n]) {
		case lineHTTP1:
			return true
		case lineNotHTTP1:
			// Neither protocol's start: HTTP/2 refuses it with a GOAWAY,
			// which is what a client that meant h2 can read.
			is = true
			return true
		}
		return n == len(buf) // undecided: wait for more, up to the preface's length
	})
	return is
}

type lineKind uint8

const (
	lineUndecided lineKind = iota
	lineHTTP1
	lineNotHTTP1
)

// http1RequestLine tells from a connection's first bytes whether they
// start an HTTP/1 request line: a method token, a space, then a target in
// one of its forms (origin "/", asterisk "*", absolute "http", or the
// authority a CONNECT names).
func http1RequestLine(b []byte) lineKind {
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		for _, c := range b {
			if !isMethodByte(c) {
				return lineNotHTTP1
			}
		}
		return lineUndecided
	}
	if sp == 0 {
		return lineNotHTTP1
	}
	for _, c := range b[:sp] {
		if !isMethodByte(c) {
			return lineNotHTTP1
		}
	}
	rest := b[sp+1:]
	if len(rest) == 0 {
		return lineUndecided
	}
	switch {
	case rest[0] == '/' || rest[0] == '*':
		return lineHTTP1
	case string(b[:sp]) == "CONNECT":
		return lineHTTP1
	}
	const scheme = "http"
	k := min(len(rest), len(scheme))
	if strings.EqualFold(string(rest[:k]), scheme[:k]) {
		if k < len(scheme) {
			return lineUndecided
		}
		return lineHTTP1
	}
	return lineNotHTTP1
}

// isMethodByte is a tchar (RFC 9110 §5.6.2), the bytes of a method.
func isMethodByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
