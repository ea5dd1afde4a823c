package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// exchange is one proxied request: the buffers it sends and copies with,
// pooled, so that a request costs no allocation of its own.
type exchange struct {
	h   *Handler
	rt  *route
	w   handlers.ResponseWriter
	r   *handlers.Request
	out []byte // the request head, and the body on its way out
	buf []byte // body copies, both ways

	bodySent  bool // the request body went out whole
	bodyBegun bool // some of the client's body was read: no second try
}

const copyBufSize = 32 << 10

var exchangePool = sync.Pool{New: func() any {
	return &exchange{out: make([]byte, 0, 4<<10), buf: make([]byte, copyBufSize)}
}}

func (ex *exchange) reset() {
	ex.h, ex.rt, ex.w, ex.r = nil, nil, nil, nil
	ex.out = ex.out[:0]
	ex.bodySent, ex.bodyBegun = false, false
}

// maxInterim bounds the 1xx responses passed on before the final one: a
// few 103s are Early Hints, thousands are a backend flooding the client.
const maxInterim = 16

var errInterimFlood = errors.New("proxy: backend sent too many interim responses")

var (
	errBackendBody    = errors.New("proxy: backend response body ended early")
	errUnexpectedUpgr = errors.New("proxy: backend switched protocols unasked")
	errNoUpgrader     = errors.New("proxy: the client's protocol cannot switch")
)

// run makes the exchange with one backend. A failure before any byte of
// the request left is a *notSentError, so that Serve may try another
// backend.
func (ex *exchange) run(u *upstream, now time.Time) error {
	bc, err := u.get(ex.r.Context(), now)
	if err != nil {
		return &notSentError{err}
	}
	for {
		err = ex.roundTrip(bc)
		stale, ok := err.(*staleError)
		if !ok {
			return err
		}
		// A kept-alive connection the backend had closed: the request
		// is sent again on a new one, when none of its body was taken.
		bc.close()
		if ex.bodyBegun {
			return &handlers.Error{Status: 502, Err: stale.err}
		}
		if bc, err = u.dial(ex.r.Context()); err != nil {
			return &notSentError{err}
		}
	}
}

// staleError is a reused connection that turned out closed before the
// backend answered anything.
type staleError struct{ err error }

func (e *staleError) Error() string { return "proxy: kept-alive connection closed: " + e.err.Error() }

// roundTrip sends the request on bc and answers the client with the
// response. bc is given back to its pool or closed.
func (ex *exchange) roundTrip(bc *backendConn) (err error) {
	r := ex.r
	keep := false
	defer func() {
		if keep {
			bc.u.put(bc, time.Now())
		} else if _, stale := err.(*staleError); !stale {
			bc.close()
		}
	}()

	upgrade := upgradeAsked(r)
	bodyLen := r.ContentLength
	if upgrade != nil {
		bodyLen = 0
	}
	ex.out = ex.appendRequestHead(ex.out[:0], bodyLen, upgrade)
	timeout := ex.rt.headerTimeout
	bc.nc.SetDeadline(time.Now().Add(timeout))
	sendErr := ex.sendBody(bc, bodyLen)
	if sendErr != nil {
		if he, ok := sendErr.(*handlers.Error); ok {
			return he // the client's body was at fault
		}
		if bc.reused && !ex.bodyBegun && isConnGone(sendErr) {
			return &staleError{sendErr}
		}
		// The backend may have answered before it stopped reading (a
		// 413 of its own): that answer is still read, briefly.
		bc.nc.SetReadDeadline(time.Now().Add(time.Second))
	}

	// The answer takes the backend a moment: the other connections run
	// first, so that the read finds it there instead of failing (EAGAIN)
	// into a park and a poller wake-up.
	runtime.Gosched()
	var resp *parser.Response
	for interim := 0; ; interim++ {
		if interim > maxInterim {
			return &handlers.Error{Status: 502, Err: errInterimFlood}
		}
		resp, err = bc.rd.ReadResponse(r.Method)
		if err != nil {
			switch {
			case sendErr != nil:
				return &handlers.Error{Status: 502, Err: errors.Join(sendErr, err)}
			case isTimeout(err):
				return &handlers.Error{Status: 504, Err: err}
			case bc.reused && !ex.bodyBegun && isConnGone(err):
				return &staleError{err}
			}
			return &handlers.Error{Status: 502, Err: err}
		}
		if resp.Status == 101 {
			if upgrade == nil {
				return &handlers.Error{Status: 502, Err: errUnexpectedUpgr}
			}
			return ex.tunnel(bc, resp)
		}
		if resp.Status >= 200 {
			break
		}
		ex.interim(resp)
	}

	ex.copyHead(resp)
	if err := ex.copyBody(bc, resp); err != nil {
		return err
	}
	// Bytes already read past the response's end answer no request: the
	// next request on the connection would take them for its response
	// (RFC 9112 §6.3), so the connection is not reused.
	keep = resp.KeepAlive && resp.Body.Done() && ex.bodySent && upgrade == nil && bc.rd.Buffered() == 0
	return nil
}

// sendBody writes the head and the request body, framed as the head said:
// copied to its declared length, or chunked when it has none.
func (ex *exchange) sendBody(bc *backendConn, bodyLen int64) error {
	if bodyLen == 0 {
		ex.bodySent = true
		_, err := bc.nc.Write(ex.out)
		return err
	}
	out := ex.out
	var sent int64
	for {
		room := ex.buf
		if bodyLen > 0 && int64(len(room)) > bodyLen-sent {
			room = room[:bodyLen-sent]
		}
		n, rerr := ex.r.Body.Read(room)
		if n > 0 {
			ex.bodyBegun = true
			sent += int64(n)
			if bodyLen < 0 {
				out = strconv.AppendInt(out, int64(n), 16)
				out = append(out, "\r\n"...)
				out = append(out, room[:n]...)
				out = append(out, "\r\n"...)
			} else {
				out = append(out, room[:n]...)
			}
		}
		done := rerr == io.EOF || (bodyLen > 0 && sent == bodyLen)
		if rerr != nil && rerr != io.EOF {
			ex.out = out[:0]
			return clientBodyError(rerr)
		}
		if done {
			if bodyLen < 0 {
				out = append(out, "0\r\n\r\n"...)
			} else if sent < bodyLen {
				ex.out = out[:0]
				return &handlers.Error{Status: 400, Err: io.ErrUnexpectedEOF}
			}
		}
		if done || len(out) >= copyBufSize {
			bc.nc.SetWriteDeadline(time.Now().Add(ex.rt.headerTimeout))
			if _, err := bc.nc.Write(out); err != nil {
				ex.out = out[:0]
				return err
			}
			out = out[:0]
		}
		if done {
			ex.out = out
			ex.bodySent = true
			bc.nc.SetDeadline(time.Now().Add(ex.rt.headerTimeout))
			return nil
		}
	}
}

// clientBodyError is the answer for a request body that could not be
// read: its own status when the parser gave one (400, 413).
func clientBodyError(err error) error {
	var pe *parser.Error
	if errors.As(err, &pe) {
		return &handlers.Error{Status: pe.Status, Err: err}
	}
	return &handlers.Error{Status: 400, Err: err}
}

// interim passes a 1xx on: 103 Early Hints and the others a client can
// use; 100 Continue is the proxy's own business with the client.
func (ex *exchange) interim(resp *parser.Response) {
	if resp.Status == 100 {
		return
	}
	h := ex.w.Header()
	mark := h.Len()
	for i := range resp.Header.Len() {
		f := resp.Header.At(i)
		if !isHopByHop(f.Name) {
			addField(h, f.Name, f.Value)
		}
	}
	ex.w.WriteHeader(resp.Status)
	// The fields of the interim answer are not the final one's.
	for h.Len() > mark {
		h.DelCanonical(h.At(h.Len() - 1).Name)
	}
}

// copyHead sets the client's response head from the backend's: status
// and fields but for the hop-by-hop ones and those the protocol writer
// sets itself (Date, the framing).
func (ex *exchange) copyHead(resp *parser.Response) {
	h := ex.w.Header()
	connection := resp.Header.Get("Connection")
	for i := range resp.Header.Len() {
		f := resp.Header.At(i)
		if isHopByHop(f.Name) || namedIn(connection, f.Name) || setByWriter(f.Name) {
			continue
		}
		addField(h, f.Name, f.Value)
	}
	if resp.ContentLength >= 0 && resp.Status != 204 && resp.Status != 304 {
		ex.w.SetContentLength(resp.ContentLength)
	}
	if resp.Chunked && resp.Header.Has("Trailer") {
		ex.w.Trailer() // asked before the head goes, so the body can carry them
	}
	ex.w.WriteHeader(resp.Status)
}

// copyBody streams the backend's body to the client. A body of unknown
// length, and an event stream, is flushed as each piece arrives, so that
// the client sees it when the backend sends it.
func (ex *exchange) copyBody(bc *backendConn, resp *parser.Response) error {
	flushEach := resp.ContentLength < 0 || isEventStream(resp.Header.Get("Content-Type"))
	body := resp.Body
	for {
		if !body.Done() && bc.rd.Buffered() == 0 {
			// The backend has as long again as it had for its head to
			// send the next piece (only a read that may wait needs it).
			bc.nc.SetReadDeadline(time.Now().Add(ex.rt.headerTimeout))
		}
		n, err := body.Read(ex.buf)
		if n > 0 {
			if _, werr := ex.w.Write(ex.buf[:n]); werr != nil {
				return werr
			}
			if flushEach {
				if werr := ex.w.Flush(); werr != nil {
					return werr
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if isTimeout(err) {
				return &handlers.Error{Status: 504, Err: err}
			}
			return &handlers.Error{Status: 502, Err: errors.Join(errBackendBody, err)}
		}
	}
	if body.Trailer.Len() > 0 {
		t := ex.w.Trailer()
		for i := range body.Trailer.Len() {
			f := body.Trailer.At(i)
			t.Add(string(f.Name), string(f.Value))
		}
	}
	return nil
}

// setByWriter are the response fields the protocol writer sets itself.
func setByWriter(name []byte) bool {
	switch len(name) {
	case 4:
		return equalFold(name, "Date")
	case 7:
		return equalFold(name, "Trailer")
	case 14:
		return equalFold(name, "Content-Length")
	}
	return false
}

func isEventStream(ctype []byte) bool {
	const es = "text/event-stream"
	return len(ctype) >= len(es) && equalFold(ctype[:len(es)], es)
}

// upgradeAsked is the protocol an HTTP/1.1 request asks to switch to
// (RFC 9110 §7.8), or nil. A request with a body is sent as a plain one,
// body and all (a server may ignore Upgrade): switching would leave the
// body unread, and the backend would get the request without it.
func upgradeAsked(r *handlers.Request) []byte {
	if r.Proto != "HTTP/1.1" || r.ContentLength != 0 {
		return nil
	}
	up := r.Header.Get("Upgrade")
	if len(up) == 0 || !r.Header.HasToken("Connection", "upgrade") {
		return nil
	}
	return up
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// isConnGone reports an error of a connection the other side closed.
func isConnGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// addField copies a backend's field into the client's response. The
// names backends send most are the constants here, so only their values
// cost an allocation.
func addField(h *parser.ResponseHeader, name, value []byte) {
	h.Add(fieldName(name), string(value))
}

func fieldName(b []byte) string {
	switch string(b) {
	case "Content-Type":
		return "Content-Type"
	case "Server":
		return "Server"
	case "Last-Modified":
		return "Last-Modified"
	case "ETag":
		return "ETag"
	case "Accept-Ranges":
		return "Accept-Ranges"
	case "Cache-Control":
		return "Cache-Control"
	case "Vary":
		return "Vary"
	case "Set-Cookie":
		return "Set-Cookie"
	case "Location":
		return "Location"
	case "Expires":
		return "Expires"
	case "Content-Encoding":
		return "Content-Encoding"
	case "X-Powered-By":
		return "X-Powered-By"
	}
	return string(b)
}
