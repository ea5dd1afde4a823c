package listener

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// The HTTP/1.1 write path, stage by stage (the contract handlers see is
// handlers.ResponseWriter):
//
//  1. The handler sets header fields and maybe SetContentLength, then calls
//     WriteHeader (or Write/ReadFrom/Flush, which call it with 200).
//     Nothing is serialised yet: the status is only recorded. An interim
//     status (100, 103) is the exception: it leaves at once, with the
//     fields set so far, unless the client speaks HTTP/1.0 or the final
//     head is already out. "100 Continue" for a body the client holds back
//     goes the same way, when the handler first reads the body.
//  2. Body bytes from Write accumulate in the connection's buffer.
//  3. Framing is decided once, when the head is serialised: at the first
//     flush, which happens when the buffer would overflow, when a file body
//     is handed over, when the handler calls Flush, or when the handler
//     returns. A declared length, or a body that is complete in the buffer
//     when the handler returns, gives Content-Length; otherwise HTTP/1.1
//     gets chunked and HTTP/1.0 a body delimited by closing the connection.
//     A handler that asked for Trailer before then gets chunked, so the
//     trailer can follow the last chunk. HEAD, 204 and 304 never get a
//     body, whatever the handler writes.
//  4. A small response (head and body) leaves in one write. On a plain
//     socket a file body larger than the buffer goes from the file to the
//     socket in the kernel (sendfile or splice), in slices that each
//     refresh the write deadline, so a slow reader that keeps reading is
//     served and one that stops is cut off; the head before it is flagged
//     MSG_MORE so they share segments. Over TLS the file is read into the
//     buffer and written through the record layer, a buffer at a time.
//  5. Upgrade hands the socket to the handler after a 101 head; the loop
//     then neither reads nor writes it again.

// flushThreshold is how much body is buffered before the head goes out
// without a known length; it is also the size up to which a file body is
// copied into the buffer so that head and body leave in one write.
const flushThreshold = 16 << 10

// sendfileSlice bounds one kernel copy, so the write deadline is refreshed
// while bytes keep moving.
const sendfileSlice = 4 << 20

// headRoom is the space kept in front of a buffered body for the head.
const headRoom = 1024

var errBodyTooLong = errors.New("handler wrote more than its declared Content-Length")

type responseWriter struct {
	// aborted: the handler failed after its response began, which must
	// not reach the client as a whole one (see abort).
	aborted bool
	conn    net.Conn
	// raw is the socket for writes flagged MSG_MORE and file bodies by
	// sendfile; nil when bytes must go through conn (TLS, a pipe).
	raw syscall.RawConn
	req *parser.Request
	// owner is the connection, for what outlives one response: the
	// client's pipelined bytes that Upgrade hands on, and the counters.
	owner        *conn
	writeTimeout time.Duration
	// writeDeadline is the connection's write deadline as last set; it
	// outlives a request, and a new connection starts it at zero.
	writeDeadline time.Time
	// received is when the request arrived; it dates the response.
	// firstArm is the same instant until the first write deadline is set
	// from it, then zero: one clock read serves the whole small response.
	received time.Time
	firstArm time.Time
	// unsentCapped says the socket's unsent backlog is already capped
	// (capUnsent); like writeDeadline it lasts as long as the connection.
	unsentCapped bool

	header        parser.ResponseHeader
	trailer       parser.ResponseHeader
	wantTrailer   bool // Trailer was asked for before the head went
	upgraded      bool // the socket is the handler's now
	status        int
	contentLength int64 // declared, or -1
	wroteHeader   bool
	headSent      bool
	chunked       bool
	noBody        bool // HEAD, 1xx, 204, 304
	closeAfter    bool // the connection ends with this response

	// buf[off:] is what waits for the wire. Body bytes are appended after
	// headRoom free bytes, so that the head, serialised last, can be put
	// in front of them without moving the body.
	buf      []byte
	off      int
	headBuf  []byte    // scratch for serialising the head
	ex       *exchange // what buf and headBuf are carved from, while a response is made
	vec      net.Buffers
	vecStore [2][]byte // vec's backing, so a writev allocates nothing

	// sendMore is trySendMore bound to this writer; morePending and
	// moreErr are its input and result.
	sendMore    func(fd uintptr) bool
	morePending []byte
	moreErr     error
	bodyBytes   int64 // body bytes accepted from the handler
	sent        int64 // bytes written to the connection
	err         error // first write error; later writes do nothing
}

func (w *responseWriter) reset(conn net.Conn, req *parser.Request, writeTimeout time.Duration, received time.Time) {
	w.conn = conn
	w.received, w.firstArm = received, received
	if req != nil && req.ContentLength != 0 {
		w.firstArm = time.Time{} // reading a body may have taken a while
	}
	w.req = req
	w.writeTimeout = writeTimeout
	w.header.Reset()
	w.trailer.Reset()
	w.wantTrailer, w.upgraded = false, false
	w.status = 0
	w.contentLength = -1
	w.wroteHeader, w.headSent, w.chunked, w.noBody, w.closeAfter = false, false, false, false, false
	w.aborted = false
	if w.ex == nil {
		w.ex = exchangePool.Get().(*exchange)
		// Full slice expressions keep appends to one region out of the
		// other; a longer head or body reallocates instead.
		w.buf = w.ex.buf[:headRoom:bodyEnd]
		w.headBuf = w.ex.buf[bodyEnd:bodyEnd]
	}
	w.buf, w.off = w.buf[:headRoom], headRoom
	w.bodyBytes, w.sent = 0, 0
	w.err = nil
}

// exchange is what a request in progress holds beyond its connection: the
// write buffer, and the request as handlers see it. It comes from a pool
// for the span of one request, so an idle keep-alive connection holds
// none of it. The buffer keeps, after the body's space, the scratch the
// head is serialised into before it is copied in front of the body.
type exchange struct {
	buf [bodyEnd + headScratch]byte
	req handlers.Request
}

const (
	bodyEnd     = headRoom + flushThreshold + 64
	headScratch = 1024
)

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

// releaseBuffer returns the exchange to the pool between responses.
func (w *responseWriter) releaseBuffer() {
	if w.ex == nil {
		return
	}
	w.ex.req = handlers.Request{} // holds nothing of the connection in the pool
	exchangePool.Put(w.ex)
	w.ex, w.buf, w.headBuf = nil, nil, nil
}

func (w *responseWriter) Header() *parser.ResponseHeader { return &w.header }
func (w *responseWriter) Written() bool                  { return w.wroteHeader }
func (w *responseWriter) Status() int                    { return w.status }

func (w *responseWriter) SetContentLength(n int64) {
	if !w.wroteHeader {
		w.contentLength = n
	}
}

func (w *responseWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	if status >= 100 && status < 200 && status != 101 {
		w.writeInterim(status, true)
		return
	}
	if status < 200 || status > 999 {
		status = 500 // 101 is Upgrade's to send
	}
	w.wroteHeader = true
	w.status = status
	method := ""
	if w.req != nil {
		method = w.req.Method
	}
	w.noBody = !parser.BodyAllowed(method, status)
}

// writeInterim sends a 1xx head at once, with the header fields set so far
// when withFields (a handler's 103 Early Hints) or bare (the 100 Continue a
// body read asks for). RFC 9110 §15.2: never to an HTTP/1.0 client.
func (w *responseWriter) writeInterim(status int, withFields bool) error {
	if w.headSent || w.req == nil || w.req.ProtoMinor == 0 {
		return nil
	}
	head := parser.AppendStatusLine(w.headBuf[:0], status)
	if withFields {
		var err error
		if head, err = parser.AppendHeaders(head, &w.header); err != nil {
			return nil // the final head will refuse the same field
		}
	}
	head = append(head, "\r\n"...)
	w.headBuf = head[:0]
	return w.writeWith(head)
}

// sendContinue is the request body's Continue hook, bound once per conn.
func (w *responseWriter) sendContinue() error {
	if w.wroteHeader {
		// The handler answered before reading: its response says
		// whether the body is wanted.
		return nil
	}
	return w.writeInterim(100, false)
}

// Flush sends the head and what the body has so far.
func (w *responseWriter) Flush() error {
	w.WriteHeader(200)
	if err := w.sendHead(); err != nil {
		return err
	}
	return w.flush()
}

// Trailer returns the fields sent after a chunked body.
func (w *responseWriter) Trailer() *parser.ResponseHeader {
	if !w.headSent {
		w.wantTrailer = true
	}
	return &w.trailer
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.WriteHeader(200)
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody {
		// Counted all the same: a HEAD answer gets the Content-Length the
		// GET would have.
		w.bodyBytes += int64(len(p))
		return len(p), nil
	}
	if w.contentLength >= 0 && w.bodyBytes+int64(len(p)) > w.contentLength {
		w.closeAfter = true
		return 0, errBodyTooLong
	}
	w.bodyBytes += int64(len(p))
	if !w.headSent && w.pending()+len(p) <= flushThreshold {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if err := w.sendHead(); err != nil {
		return 0, err
	}
	if w.chunked {
		w.buf = parser.AppendChunkHeader(w.buf, len(p))
	}
	if w.pending()+len(p) <= flushThreshold {
		w.buf = append(w.buf, p...)
	} else {
		// Too big to buffer: what is pending (the head, say) and p leave
		// together in one writev, p without being copied.
		if err := w.writeWith(p); err != nil {
			return 0, err
		}
	}
	if w.chunked {
		w.buf = append(w.buf, "\r\n"...)
	}
	if w.pending() >= flushThreshold {
		return len(p), w.flush()
	}
	return len(p), nil
}

// armWrite gives the next write writeTimeout to make progress. The
// deadline is moved only when it has fallen more than a tenth of
// writeTimeout behind: the bound stays within 10% of the setting, and most
// responses skip the timer update.
func (w *responseWriter) armWrite() {
	now := w.firstArm
	if now.IsZero() {
		now = time.Now()
	} else {
		w.firstArm = time.Time{}
	}
	want := now.Add(w.writeTimeout)
	if want.Sub(w.writeDeadline) > w.writeTimeout/10 {
		w.conn.SetWriteDeadline(want)
		w.writeDeadline = want
	}
}

// writeWith writes what is pending followed by p.
func (w *responseWriter) writeWith(p []byte) error {
	if w.err != nil {
		return w.err
	}
	w.armWrite()
	w.vecStore = [2][]byte{w.buf[w.off:], p}
	w.vec = w.vecStore[:]
	if w.pending() == 0 {
		w.vec = w.vec[1:]
	}
	n, err := w.vec.WriteTo(w.conn)
	w.vecStore = [2][]byte{}
	w.sent += n
	w.buf, w.off = w.buf[:headRoom], headRoom
	if err != nil {
		w.err = err
		w.closeAfter = true
	}
	return err
}

func (w *responseWriter) pending() int { return len(w.buf) - w.off }

func (w *responseWriter) WriteString(s string) (int, error) {
	if !w.headSent && w.pending()+len(s) <= flushThreshold && w.err == nil {
		w.WriteHeader(200)
		if w.noBody {
			w.bodyBytes += int64(len(s))
			return len(s), nil
		}
		if w.contentLength < 0 || w.bodyBytes+int64(len(s)) <= w.contentLength {
			w.bodyBytes += int64(len(s))
			w.buf = append(w.buf, s...)
			return len(s), nil
		}
	}
	return w.Write([]byte(s))
}

// ReadFrom sends src as the body. A file with a declared length larger than
// the buffer goes through the kernel; anything else is read straight into
// the buffer's free space.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	w.WriteHeader(200)
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody {
		return 0, nil
	}
	if f, n, ok := fileBody(src); ok && w.raw != nil && w.contentLength >= 0 && n > int64(flushThreshold-w.pending()) {
		return w.sendFile(f, n)
	}
	var total int64
	for {
		if w.headSent || w.pending() >= flushThreshold {
			if err := w.sendHead(); err != nil {
				return total, err
			}
			if err := w.flush(); err != nil {
				return total, err
			}
		}
		// After a flush, body bytes go after room for a chunk-size line.
		at := len(w.buf)
		if w.headSent {
			at = headRoom + 16
		}
		space := w.buf[at:cap(w.buf)]
		if !w.headSent && len(space) > flushThreshold-w.pending() {
			space = space[:flushThreshold-w.pending()+1]
		}
		n, err := src.Read(space)
		if n > 0 {
			if w.contentLength >= 0 && w.bodyBytes+int64(n) > w.contentLength {
				w.closeAfter = true
				return total, errBodyTooLong
			}
			w.bodyBytes += int64(n)
			total += int64(n)
			w.buf = w.buf[:at+n]
			if w.headSent {
				w.off = at
				if w.chunked {
					var size [16]byte
					line := parser.AppendChunkHeader(size[:0], n)
					w.off = at - len(line)
					copy(w.buf[w.off:], line)
					w.buf = append(w.buf, "\r\n"...)
				}
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// fileBody recognises a body the kernel can copy: an *os.File, or an
// *io.LimitedReader of one (a range). It returns the file and how many
// bytes to send.
func fileBody(src io.Reader) (*os.File, int64, bool) {
	switch s := src.(type) {
	case *os.File:
		fi, err := s.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return nil, 0, false
		}
		pos, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, 0, false
		}
		return s, fi.Size() - pos, true
	case *io.LimitedReader:
		if f, ok := s.R.(*os.File); ok {
			return f, s.N, true
		}
	}
	return nil, 0, false
}

func (w *responseWriter) sendFile(f *os.File, n int64) (int64, error) {
	if w.bodyBytes+n > w.contentLength {
		n = w.contentLength - w.bodyBytes
	}
	if err := w.sendHead(); err != nil {
		return 0, err
	}
	if err := w.flushMore(); err != nil {
		return 0, err
	}
	w.owner.srv.sup.fileBodies.Add(1)
	if !w.unsentCapped {
		w.unsentCapped = true
		w.capUnsent()
	}
	var total int64
	lr := &io.LimitedReader{R: f}
	for total < n {
		lr.N = min(n-total, sendfileSlice)
		w.armWrite()
		// net.TCPConn.ReadFrom turns this into sendfile(2) (or splice).
		copied, err := io.Copy(w.conn, lr)
		total += copied
		w.sent += copied
		w.bodyBytes += copied
		if err != nil {
			w.err = err
			w.closeAfter = true
			return total, err
		}
		if copied == 0 {
			break // the file shrank under us
		}
	}
	if total < n {
		// The declared length can no longer be honoured: the only honest
		// end is closing the connection.
		w.closeAfter = true
	}
	return total, nil
}

// sendHead serialises the status line and header in front of any body
// bytes already buffered, deciding the framing.
func (w *responseWriter) sendHead() error {
	if w.headSent {
		return w.err
	}
	w.headSent = true
	if w.wantTrailer && w.req != nil && w.req.ProtoMinor >= 1 && !w.noBody && parser.LengthAllowed(w.status) {
		w.contentLength = -1 // the trailer needs the chunked coding's end
	}
	if w.contentLength < 0 && !w.noBody && parser.LengthAllowed(w.status) {
		if w.req != nil && w.req.ProtoMinor >= 1 {
			w.chunked = true
		} else {
			w.closeAfter = true // HTTP/1.0: the body ends when the connection does
		}
	}
	head := w.appendHead(w.headBuf[:0])
	w.headBuf = head
	if w.err != nil {
		return w.err
	}
	if w.chunked && w.pending() > 0 {
		head = parser.AppendChunkHeader(head, w.pending())
		w.buf = append(w.buf, "\r\n"...)
	}
	w.headBuf = head
	if len(head) <= w.off {
		w.off -= len(head)
		copy(w.buf[w.off:], head)
		return nil
	}
	// A head larger than the room kept for it: move the body once.
	body := w.buf[w.off:]
	joined := make([]byte, 0, headRoom+len(head)+len(body)+flushThreshold)
	joined = append(joined, make([]byte, headRoom)...)
	joined = append(joined, head...)
	joined = append(joined, body...)
	w.buf, w.off = joined, headRoom
	return nil
}

func (w *responseWriter) appendHead(dst []byte) []byte {
	dst = parser.AppendStatusLine(dst, w.status)
	dst = parser.AppendDate(dst, w.received)
	var err error
	dst, err = parser.AppendHeaders(dst, &w.header)
	if err != nil {
		// A handler put CR or LF in a value: refuse to split the response.
		w.err = err
		return dst
	}
	if parser.LengthAllowed(w.status) {
		switch {
		case w.chunked:
			dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
		case w.contentLength >= 0:
			dst = parser.AppendContentLength(dst, w.contentLength)
		case w.noBody:
			// HEAD of a body whose length was not declared: say nothing.
		}
	}
	if w.closeAfter {
		dst = append(dst, "Connection: close\r\n"...)
	} else if w.req != nil && w.req.ProtoMinor == 0 {
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	return append(dst, "\r\n"...)
}

func (w *responseWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	if w.pending() == 0 {
		return nil
	}
	w.armWrite()
	n, err := w.conn.Write(w.buf[w.off:])
	w.sent += int64(n)
	w.buf, w.off = w.buf[:headRoom], headRoom
	if err != nil {
		w.err = err
		w.closeAfter = true
	}
	return err
}

// finish completes the response after the handler returned: the length of
// a body that stayed in the buffer becomes its Content-Length, a chunked
// body gets its last chunk and trailer, and everything goes out.
func (w *responseWriter) finish() error {
	w.WriteHeader(200)
	if w.upgraded {
		return nil
	}
	if w.aborted {
		return w.finishAborted()
	}
	if !w.headSent && w.contentLength < 0 && parser.LengthAllowed(w.status) && !w.wantTrailer {
		w.contentLength = w.bodyBytes
	}
	if w.contentLength >= 0 && w.bodyBytes < w.contentLength && !w.noBody {
		// The declared length can no longer be honoured: the only honest
		// end is closing the connection.
		w.closeAfter = true
	}
	if err := w.sendHead(); err != nil {
		return err
	}
	if w.chunked {
		w.appendLastChunk()
	}
	if w.closeAfter {
		// The connection closes right after: flagged MSG_MORE, the last
		// bytes wait for the close and leave with the FIN in one segment.
		return w.flushMore()
	}
	return w.flush()
}

// errAborted ends a connection whose response its handler could not
// complete.
var errAborted = errors.New("response aborted by its handler")

// abort marks the response as failed after it began (a backend that died
// in the middle of its body): what was written goes out, but never the
// end of the body, so the client cannot take it for the whole response.
func (w *responseWriter) abort() { w.aborted = true }

// finishAborted sends what the handler wrote with open-ended framing and
// no end: chunked without its last chunk, or a declared length that is
// not reached; the connection then closes (reset, see the caller).
func (w *responseWriter) finishAborted() error {
	w.closeAfter = true
	if err := w.sendHead(); err != nil {
		return err
	}
	if err := w.flush(); err != nil {
		return err
	}
	return errAborted
}

// appendLastChunk ends a chunked body with the trailer fields (RFC 9112
// §7.1.2). A trailer field with CR or LF in it would split the message:
// the trailer is then dropped whole.
func (w *responseWriter) appendLastChunk() {
	w.buf = append(w.buf, "0\r\n"...)
	if w.trailer.Len() > 0 {
		if b, err := parser.AppendHeaders(w.buf, &w.trailer); err == nil {
			w.buf = b
		}
	}
	w.buf = append(w.buf, "\r\n"...)
}

var _ handlers.ResponseWriter = (*responseWriter)(nil)
