package h2

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/moreweb/moreweb/parser"
)

// The HTTP/2 write path (the contract is handlers.ResponseWriter):
//
//  1. WriteHeader records a final status; an interim one (100, 103) goes
//     out at once as a HEADERS frame of its own.
//  2. Body bytes accumulate in a per-response buffer of flushThreshold.
//  3. The head is encoded when the buffer fills, at Flush or ReadFrom, or
//     when the handler returns. A body complete in the buffer then gets a
//     content-length, and head and body leave together, END_STREAM on the
//     last frame; otherwise DATA frames follow as the body comes.
//  4. Every DATA frame waits for flow-control window, the stream's and the
//     connection's, for at most write_timeout; a stream that gets none is
//     reset, and the others go on. A file body is read a frame at a time:
//     HTTP/2 has no sendfile, and a file is never read whole.
//  5. Trailers, when asked for, end the stream as a HEADERS frame.

// flushThreshold is the body buffered before the head goes without a
// length.
const flushThreshold = 16 << 10

var (
	errStreamClosed = errors.New("http2: stream closed")
	errBodyTooLong  = errors.New("handler wrote more than its declared Content-Length")
	errWindowWait   = errors.New("http2: no flow-control window within write_timeout")
)

// ResponseWriter is a stream's handlers.ResponseWriter.
type ResponseWriter struct {
	st *stream

	header        parser.ResponseHeader
	trailer       parser.ResponseHeader
	status        int
	contentLength int64
	wroteHeader   bool
	headSent      bool
	ended         bool
	noBody        bool
	wantTrailer   bool
	buf           *[]byte
	bodyBytes     int64
	sent          int64
	err           error
}

var bodyPool = sync.Pool{New: func() any {
	b := make([]byte, 0, flushThreshold)
	return &b
}}

func (w *ResponseWriter) reset() {
	w.header.Reset()
	w.trailer.Reset()
	w.status, w.contentLength = 0, -1
	w.wroteHeader, w.headSent, w.ended, w.noBody, w.wantTrailer = false, false, false, false, false
	w.bodyBytes, w.sent, w.err = 0, 0, nil
}

func (w *ResponseWriter) release() {
	if w.buf != nil {
		*w.buf = (*w.buf)[:0]
		bodyPool.Put(w.buf)
		w.buf = nil
	}
}

func (w *ResponseWriter) Header() *parser.ResponseHeader { return &w.header }
func (w *ResponseWriter) Written() bool                  { return w.wroteHeader }
func (w *ResponseWriter) Status() int                    { return w.status }

// Sent is the bytes of the response that went out: header blocks and DATA
// payloads.
func (w *ResponseWriter) Sent() int64 { return w.sent }

func (w *ResponseWriter) SetContentLength(n int64) {
	if !w.wroteHeader {
		w.contentLength = n
	}
}

func (w *ResponseWriter) Trailer() *parser.ResponseHeader {
	if !w.headSent {
		w.wantTrailer = true
	}
	return &w.trailer
}

func (w *ResponseWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	if status >= 100 && status < 200 && status != 101 {
		w.writeInterim(status)
		return
	}
	if status < 200 || status > 999 {
		status = 500
	}
	w.wroteHeader = true
	w.status = status
	w.noBody = !parser.BodyAllowed(w.st.req.Method, status)
}

// writeInterim sends a 1xx head with the fields set so far, which stay for
// the final response (RFC 9113 §8.1).
func (w *ResponseWriter) writeInterim(status int) {
	if w.err != nil {
		return
	}
	w.err = w.st.c.sendHead(w, status, false, -1, false)
	w.st.c.w.write()
}

// Restart forgets a response whose head could not be sent (a handler put
// an invalid byte in a field), so that an error page can take its place.
// It reports false once anything has gone out.
func (w *ResponseWriter) Restart() bool {
	if w.headSent {
		return false
	}
	w.reset()
	if w.buf != nil {
		*w.buf = (*w.buf)[:0]
	}
	return true
}

func (w *ResponseWriter) Write(p []byte) (int, error) {
	w.WriteHeader(200)
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody {
		return len(p), nil
	}
	if w.contentLength >= 0 && w.bodyBytes+int64(len(p)) > w.contentLength {
		w.err = errBodyTooLong
		return 0, w.err
	}
	w.bodyBytes += int64(len(p))
	n := len(p)
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = bodyPool.Get().(*[]byte)
		}
		room := flushThreshold - len(*w.buf)
		if room == 0 {
			if err := w.flush(false); err != nil {
				return n - len(p), err
			}
			continue
		}
		k := min(room, len(p))
		*w.buf = append(*w.buf, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

func (w *ResponseWriter) WriteString(s string) (int, error) {
	return w.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// ReadFrom copies r into the body a buffer at a time; for a file, that is
// one frame's worth of reading per DATA frame.
func (w *ResponseWriter) ReadFrom(r io.Reader) (int64, error) {
	w.WriteHeader(200)
	if w.noBody {
		return 0, w.err
	}
	var total int64
	for w.err == nil {
		if w.buf == nil {
			w.buf = bodyPool.Get().(*[]byte)
		}
		if len(*w.buf) == flushThreshold {
			if err := w.flush(false); err != nil {
				return total, err
			}
		}
		b := *w.buf
		n, err := r.Read(b[len(b):flushThreshold])
		if n > 0 {
			if w.contentLength >= 0 && w.bodyBytes+int64(n) > w.contentLength {
				w.err = errBodyTooLong
				return total, w.err
			}
			*w.buf = b[:len(b)+n]
			w.bodyBytes += int64(n)
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	return total, w.err
}

var _ io.ReaderFrom = (*ResponseWriter)(nil)

func (w *ResponseWriter) Flush() error {
	w.WriteHeader(200)
	return w.flush(false)
}

// flush sends the head if it has not gone, and the buffered body; end
// ends the stream with it.
func (w *ResponseWriter) flush(end bool) error {
	if w.err != nil {
		return w.err
	}
	c := w.st.c
	var body []byte
	if w.buf != nil {
		body = *w.buf
	}
	if !w.headSent {
		cl := w.contentLength
		if end && cl < 0 && !w.wantTrailer && parser.LengthAllowed(w.status) {
			cl = w.bodyBytes
		}
		headOnly := end && (w.noBody || len(body) == 0) && !w.wantTrailer
		if err := c.sendHead(w, w.status, headOnly, cl, true); err != nil {
			w.err = err
			return err
		}
		if headOnly {
			w.ended = true
			c.w.write()
			return nil
		}
	}
	endData := end && !w.wantTrailer
	if len(body) > 0 || endData {
		if err := c.sendData(w.st, body, endData); err != nil {
			w.err = err
			return err
		}
		w.sent += int64(len(body))
		*w.buf = (*w.buf)[:0]
	}
	if end && w.wantTrailer {
		if err := c.sendTrailers(w); err != nil {
			w.err = err
			return err
		}
	}
	w.ended = end
	c.w.write()
	return nil
}

// Finish completes the response after the handler returned. A declared
// length that was not honoured resets the stream, the HTTP/2 way of saying
// the response is incomplete.
// Abort ends a response its handler could not complete: what was written
// goes out, then the stream is reset (INTERNAL_ERROR), so the client
// cannot take it for the whole response.
func (w *ResponseWriter) Abort() {
	if w.ended || w.err != nil {
		return
	}
	w.WriteHeader(200)
	if err := w.flush(false); err != nil {
		return
	}
	w.st.c.abort(w.st, http2.ErrCodeInternal)
	w.err = errStreamClosed
	w.ended = true
}

func (w *ResponseWriter) Finish() error {
	if w.ended || w.err != nil {
		return w.err
	}
	w.WriteHeader(200)
	if w.contentLength >= 0 && w.bodyBytes < w.contentLength && !w.noBody {
		if err := w.flush(false); err != nil {
			return err
		}
		w.st.c.abort(w.st, http2.ErrCodeInternal)
		w.err = errStreamClosed
		w.ended = true
		return nil
	}
	return w.flush(true)
}

// sendHead encodes and queues a HEADERS frame for w's fields.
func (c *Conn) sendHead(w *ResponseWriter, status int, end bool, contentLength int64, final bool) error {
	h := &w.header
	if !validFields(h) {
		return parser.ErrInvalidHeader
	}
	st := w.st
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.reset {
		return errStreamClosed
	}
	ws := &c.w
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.encBuf.Reset()
	enc := ws.enc
	enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusValue(status)})
	if final {
		enc.WriteField(hpack.HeaderField{Name: "date", Value: parser.DateValue(st.req.Received)})
	}
	ws.encodeFields(h)
	if final && contentLength >= 0 && parser.LengthAllowed(status) {
		v := strconv.AppendInt(ws.digits[:0], contentLength, 10)
		// Never indexed, so the encoder keeps no reference to digits.
		enc.WriteField(hpack.HeaderField{Name: "content-length", Value: unsafe.String(&v[0], len(v)), Sensitive: true})
	}
	block := ws.encBuf.Bytes()
	if !ws.appendLocked(func(b []byte) []byte { return appendBlock(b, st.id, block, end, int(c.peerFrame)) }) {
		return ws.failure()
	}
	w.sent += int64(len(block))
	if final {
		w.headSent = true
		st.responded = true
	}
	if end {
		c.endedLocked(st)
	}
	return nil
}

// endedLocked moves st on once its last frame is queued: with the request
// complete too, the stream is closed from now on, so a frame the client
// sends for it after reading the answer is one for a closed stream.
// Called with mu held.
func (c *Conn) endedLocked(st *stream) {
	st.localDone = true
	if st.inTable && st.remoteDone {
		c.closeStreamLocked(st, false)
	}
}

func (ws *writeSide) failure() error {
	if ws.err != nil {
		return ws.err
	}
	return errStreamClosed
}

// sendTrailers ends the stream with the trailer fields.
func (c *Conn) sendTrailers(w *ResponseWriter) error {
	t := &w.trailer
	if !validFields(t) {
		return parser.ErrInvalidHeader
	}
	st := w.st
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.reset {
		return errStreamClosed
	}
	ws := &c.w
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.encBuf.Reset()
	ws.encodeFields(t)
	block := ws.encBuf.Bytes()
	if !ws.appendLocked(func(b []byte) []byte { return appendBlock(b, st.id, block, true, int(c.peerFrame)) }) {
		return ws.failure()
	}
	w.sent += int64(len(block))
	c.endedLocked(st)
	return nil
}

// sendData queues body as DATA frames as flow control allows, waiting at
// most write_timeout for window each time there is none.
func (c *Conn) sendData(st *stream, body []byte, end bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The timeout's state exists only once a wait starts: a variable the
	// timer's function shares would be allocated on every call.
	var timer *time.Timer
	var timedOut *bool
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if st.reset {
			return errStreamClosed
		}
		n := min(int64(len(body)), st.sendWindow, c.sendWindow, int64(c.peerFrame))
		if n <= 0 && len(body) > 0 {
			if timedOut != nil && *timedOut {
				c.resetLocked(st, http2.ErrCodeCancel)
				return errWindowWait
			}
			// What is queued (the head, the frames so far) must leave
			// before the client can grant more.
			c.w.mu.Lock()
			c.w.kick()
			c.w.mu.Unlock()
			if timer == nil && c.o.WriteTimeout > 0 {
				expired := new(bool)
				timedOut = expired
				timer = time.AfterFunc(c.o.WriteTimeout, func() {
					c.mu.Lock()
					*expired = true
					c.sendCond.Broadcast()
					c.mu.Unlock()
				})
			}
			c.sendCond.Wait()
			continue
		}
		ws := &c.w
		ws.mu.Lock()
		if err := ws.waitRoomUnlocking(&c.mu); err != nil {
			ws.mu.Unlock()
			return err
		}
		if st.reset {
			ws.mu.Unlock()
			return errStreamClosed
		}
		// The window may have changed while waiting for room.
		n = min(int64(len(body)), st.sendWindow, c.sendWindow, int64(c.peerFrame))
		if n < 0 {
			n = 0
		}
		if n == 0 && len(body) > 0 {
			ws.mu.Unlock()
			continue
		}
		last := end && n == int64(len(body))
		chunk := body[:n]
		ok := ws.appendLocked(func(b []byte) []byte { return appendData(b, st.id, chunk, last) })
		ws.mu.Unlock()
		if !ok {
			return ws.failureLocked()
		}
		st.sendWindow -= n
		c.sendWindow -= n
		body = body[n:]
		if last {
			c.endedLocked(st)
		}
		if len(body) == 0 {
			return nil
		}
	}
}

// waitRoomUnlocking waits for room in the write buffer without holding
// the connection's mu, so the reader goes on meanwhile. Called with both
// locks held; returns with both held.
func (ws *writeSide) waitRoomUnlocking(connMu *sync.Mutex) error {
	if ws.buf == nil || len(*ws.buf) < highWater || ws.err != nil {
		return ws.err
	}
	connMu.Unlock()
	err := ws.waitRoom()
	ws.mu.Unlock()
	connMu.Lock()
	ws.mu.Lock()
	if err == nil {
		err = ws.err
	}
	return err
}

func (ws *writeSide) failureLocked() error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.failure()
}

// abort resets a stream from its own handler's side.
func (c *Conn) abort(st *stream, code http2.ErrCode) {
	c.mu.Lock()
	if st.inTable {
		c.resetLocked(st, code)
	} else {
		st.reset = true
	}
	c.mu.Unlock()
}

// validFields reports whether every field of h may be sent as it is.
func validFields(h *parser.ResponseHeader) bool {
	for i := range h.Len() {
		if f := h.At(i); !parser.ValidHeaderField(f.Name, f.Value) {
			return false
		}
	}
	return true
}

// encodeFields HPACK-encodes h's fields into encBuf, lower-cased, without
// those HTTP/2 forbids or frames itself. Called with mu held.
func (ws *writeSide) encodeFields(h *parser.ResponseHeader) {
	for i := range h.Len() {
		f := h.At(i)
		name := lowerName(f.Name)
		if skipField(name) {
			continue
		}
		ws.enc.WriteField(hpack.HeaderField{Name: name, Value: f.Value})
	}
}

// skipField drops what HTTP/2 frames itself or forbids (RFC 9113 §8.2.2):
// the writer sends its own date and content-length.
func skipField(name string) bool {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
		"content-length", "date":
		return true
	}
	return false
}

var statusValues = func() (t [1000]string) {
	for i := 100; i < 1000; i++ {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusValue(status int) string {
	if status >= 100 && status < 1000 {
		return statusValues[status]
	}
	return strconv.Itoa(status)
}

// lowerName is a response field's name as HTTP/2 sends it. Names come
// canonicalised and from a small set (constants, config), so their lower
// forms are kept, copy-on-write, and the common case reads a map without
// a lock or an allocation.
func lowerName(name string) string {
	if m := *lowerNames.Load(); m != nil {
		if l, ok := m[name]; ok {
			return l
		}
	}
	l := strings.ToLower(name)
	lowerMu.Lock()
	old := *lowerNames.Load()
	if len(old) < maxLowerNames {
		m := make(map[string]string, len(old)+1)
		for k, v := range old {
			m[k] = v
		}
		m[name] = l
		lowerNames.Store(&m)
	}
	lowerMu.Unlock()
	return l
}

const maxLowerNames = 512

var (
	lowerMu    sync.Mutex
	lowerNames = func() *atomic.Pointer[map[string]string] {
		p := new(atomic.Pointer[map[string]string])
		m := map[string]string{}
		for _, n := range []string{"Content-Type", "Etag", "Last-Modified", "Accept-Ranges", "Cache-Control",
			"Content-Range", "Location", "Vary", "Allow", "X-Content-Type-Options", "Content-Encoding",
			"Strict-Transport-Security", "Content-Security-Policy", "X-Frame-Options", "Expires",
			"Content-Disposition", "Retry-After", "Www-Authenticate", "Set-Cookie", "Referrer-Policy"} {
			m[n] = strings.ToLower(n)
		}
		p.Store(&m)
		return p
	}()
)
