package parser

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// connBuffer is one connection's read buffer: bytes read from the
// connection and not yet consumed, and the head they were parsed into,
// pinned. The request Reader and the ResponseReader are both built on it,
// so that a body is framed, and its chunks and trailer are decoded, by the
// same code whichever side of a connection we are on.
//
// Buffer layout while a message is being read:
//
//	buf[:keep]   the current head, pinned: the message's slices point here
//	buf[r:w]     bytes read from the connection and not yet consumed
//	buf[w:]      free
//
// The buffer is sized so that after the largest allowed head there is still
// room for a whole chunk-size line or trailer section; those are therefore
// always parsed from contiguous bytes without moving the head.
type connBuffer struct {
	src     io.Reader
	size    int // of the buffer to take from the pool
	buf     []byte
	bufp    *[]byte // buf as the pool handed it out
	r, w    int
	keep    int
	scanned int   // bytes of a pending head already searched for a line end
	err     error // sticky error from src
}

// Reader is one connection's input: it buffers bytes from the connection,
// parses request heads in place and hands out the bodies that follow them.
// It does no I/O policy: deadlines and keep-alive decisions belong to the
// caller, which sets them on the connection between calls.
type Reader struct {
	connBuffer
	lim  Limits
	req  Request
	body Body
}

// NewReader returns a Reader of src that enforces lim (zero fields take
// DefaultLimits).
func NewReader(src io.Reader, lim Limits) *Reader {
	rd := &Reader{}
	rd.Reset(src, lim)
	return rd
}

// Reset makes rd read a new connection, keeping its Request for reuse.
func (rd *Reader) Reset(src io.Reader, lim Limits) {
	rd.Release()
	rd.lim = lim.withDefaults()
	rd.connBuffer.reset(src, rd.lim.bufferSize())
	rd.body = Body{}
	rd.body.done = true
}

func (l *Limits) bufferSize() int {
	return framedBufferSize(l.MaxHeaderBytes, l.MaxTrailerBytes, l.MaxChunkExtBytes)
}

// framedBufferSize is the buffer a connection needs for heads up to
// maxHead bytes followed by the framing lines of a chunked body.
func framedBufferSize(maxHead, maxTrailer, maxChunkExt int) int {
	room := maxTrailer
	if n := maxChunkExt + 64; n > room {
		room = n
	}
	return maxHead + room
}

// bodyLimits bound the framing of a chunked body.
func (l *Limits) bodyLimits() bodyLimits {
	return bodyLimits{
		maxBody:    l.MaxBodyBytes,
		maxExt:     l.MaxChunkExtBytes,
		maxTrailer: l.MaxTrailerBytes,
		maxFields:  l.MaxHeaderCount,
	}
}

// Buffers are pooled by size; a server has one size per config snapshot.
// The pools hold *[]byte, and a Reader keeps the pointer it got, so that
// neither taking nor returning a buffer allocates.
var bufPools sync.Map // int -> *sync.Pool of *[]byte

func bufPool(size int) *sync.Pool {
	if p, ok := bufPools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := bufPools.LoadOrStore(size, new(sync.Pool))
	return p.(*sync.Pool)
}

func getBuffer(size int) *[]byte {
	if b, ok := bufPool(size).Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, size)
	return &b
}

func putBuffer(b *[]byte) { bufPool(len(*b)).Put(b) }

// reset points cb at a new connection. Its buffer must have been released.
func (cb *connBuffer) reset(src io.Reader, size int) {
	cb.src = src
	cb.size = size
	cb.r, cb.w, cb.keep, cb.scanned = 0, 0, 0, 0
	cb.err = nil
}

// takeBuffer gives cb a buffer from the pool.
func (cb *connBuffer) takeBuffer() {
	cb.bufp = getBuffer(cb.size)
	cb.buf = *cb.bufp
}

// releaseBuffer returns the buffer to the pool, with whatever it held.
func (cb *connBuffer) releaseBuffer() {
	if cb.buf == nil {
		return
	}
	putBuffer(cb.bufp)
	cb.buf, cb.bufp = nil, nil
	cb.r, cb.w, cb.keep, cb.scanned = 0, 0, 0, 0
}

// Release returns the buffer to the pool when it holds nothing unread, so an
// idle connection does not keep it. It is taken again on the next read.
func (rd *Reader) Release() {
	if rd.buf == nil || rd.r < rd.w || !rd.body.done {
		return
	}
	rd.releaseBuffer()
}

// Buffered is the number of bytes read from the connection and not yet
// consumed: a pipelined request, for instance.
func (rd *Reader) Buffered() int { return rd.w - rd.r }

// fill reads once from src into the free end of the buffer.
func (cb *connBuffer) fill() error {
	if cb.err != nil {
		return cb.err
	}
	if cb.buf == nil {
		cb.takeBuffer()
	}
	if cb.w == len(cb.buf) {
		return errors.New("parser: read buffer full") // callers bound their needs below the size
	}
	n, err := cb.src.Read(cb.buf[cb.w:])
	cb.w += n
	if err != nil {
		if !isTimeout(err) {
			// A deadline is the caller's policy: after one passes the
			// connection may be read again (a keep-alive wait that
			// moves on), so only other errors stick.
			cb.err = err
		}
		if n > 0 {
			return nil
		}
		return err
	}
	if n == 0 {
		return io.ErrNoProgress
	}
	return nil
}

// WaitForData blocks until at least one unread byte is buffered: the
// connection loop calls it under the idle deadline, then switches to the
// header deadline for ReadRequest.
func (rd *Reader) WaitForData() error {
	for rd.r == rd.w {
		rd.r, rd.w, rd.keep = 0, 0, 0
		if err := rd.fill(); err != nil {
			return err
		}
	}
	return nil
}

var errBodyPending = errors.New("parser: previous request body not finished")

// ReadRequest reads and parses the next request head. The returned Request
// and everything it points to are valid until the next call. Refusals are
// *Error; io.EOF means the connection closed cleanly before a request began,
// io.ErrUnexpectedEOF that it closed in the middle of a head.
//
// The previous request's body must have been read to its end or drained
// first, so that a body is never parsed as a request.
func (rd *Reader) ReadRequest() (*Request, error) {
	if !rd.body.done {
		return nil, errBodyPending
	}
	rd.unpin()
	req := &rd.req
	for {
		if rd.w > 0 && rd.worthParsing(min(rd.lim.MaxTargetBytes, rd.lim.MaxHeaderBytes)) {
			n, err := ParseHead(rd.buf[:rd.w], req, &rd.lim)
			if err == nil {
				rd.r, rd.keep = n, n
				rd.body.reset(rd, req)
				req.Body = &rd.body
				return req, nil
			}
			if err != ErrNeedMore {
				return nil, err
			}
		}
		if err := rd.fill(); err != nil {
			if err == io.EOF {
				if rd.w == 0 {
					return nil, io.EOF
				}
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// unpin lets go of the previous head: unread bytes move to the front, and
// the next head is searched for line ends from its start.
func (cb *connBuffer) unpin() {
	if cb.r > 0 {
		cb.w = copy(cb.buf, cb.buf[cb.r:cb.w])
		cb.r, cb.keep = 0, 0
	}
	cb.scanned = 0
}

// worthParsing avoids re-parsing a partial head on every trickled byte: a
// parse can only say something new once a line has ended or the buffer has
// grown to limit, the first length at which a limit may refuse it.
func (cb *connBuffer) worthParsing(limit int) bool {
	if cb.w >= limit {
		return true
	}
	found := bytes.IndexByte(cb.buf[cb.scanned:cb.w], '\n') >= 0
	if found || cb.scanned == 0 {
		// The first look also judges a start line that has not ended,
		// so that garbage is refused without waiting.
		cb.scanned = cb.w
		return true
	}
	cb.scanned = cb.w
	return false
}

// ensureRoom makes at least n bytes of space from cb.r to the end of the
// buffer, sliding unread bytes down to just after the pinned head.
func (cb *connBuffer) ensureRoom(n int) {
	if cb.buf == nil {
		cb.takeBuffer()
	}
	if len(cb.buf)-cb.r >= n || cb.r == cb.keep {
		return
	}
	cb.w = cb.keep + copy(cb.buf[cb.keep:], cb.buf[cb.r:cb.w])
	cb.r = cb.keep
}

// readBody copies up to len(p) body bytes: buffered ones first; a large
// read with nothing buffered goes straight from the connection into p.
func (cb *connBuffer) readBody(p []byte) (int, error) {
	if cb.r == cb.w {
		if cb.err != nil {
			return 0, cb.err
		}
		if cb.buf == nil || len(p) >= len(cb.buf)-cb.keep {
			return cb.src.Read(p)
		}
		cb.r, cb.w = cb.keep, cb.keep
		if err := cb.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, cb.buf[cb.r:cb.w])
	cb.r += n
	return n, nil
}

// skipBody drops up to n body bytes, reading them into the buffer's free
// space: a body nobody wants costs no copy and no scratch buffer.
func (cb *connBuffer) skipBody(n int64) (int, error) {
	if cb.r == cb.w {
		if cb.err != nil {
			return 0, cb.err
		}
		cb.r, cb.w = cb.keep, cb.keep
		if err := cb.fill(); err != nil {
			return 0, err
		}
	}
	k := cb.w - cb.r
	if int64(k) > n {
		k = int(n)
	}
	cb.r += k
	return k, nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
