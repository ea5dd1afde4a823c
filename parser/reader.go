package parser

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// Reader is one connection's input: it buffers bytes from the connection,
// parses request heads in place and hands out the bodies that follow them.
// It does no I/O policy: deadlines and keep-alive decisions belong to the
// caller, which sets them on the connection between calls.
//
// Buffer layout while a request is being served:
//
//	buf[:keep]   the current head, pinned: the Request's slices point here
//	buf[r:w]     bytes read from the connection and not yet consumed
//	buf[w:]      free
//
// The buffer is sized so that after the largest allowed head there is still
// room for a whole chunk-size line or trailer section; those are therefore
// always parsed from contiguous bytes without moving the head.
type Reader struct {
	src     io.Reader
	lim     Limits
	buf     []byte
	bufp    *[]byte // buf as the pool handed it out
	r, w    int
	keep    int
	scanned int   // bytes of a pending head already searched for a line end
	err     error // sticky error from src
	req     Request
	body    Body
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
	rd.src = src
	rd.lim = lim.withDefaults()
	rd.r, rd.w, rd.keep, rd.scanned = 0, 0, 0, 0
	rd.err = nil
	rd.body = Body{}
	rd.body.done = true
}

func (l *Limits) bufferSize() int {
	room := l.MaxTrailerBytes
	if n := l.MaxChunkExtBytes + 64; n > room {
		room = n
	}
	return l.MaxHeaderBytes + room
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

// takeBuffer gives rd a buffer from the pool.
func (rd *Reader) takeBuffer() {
	rd.bufp = getBuffer(rd.lim.bufferSize())
	rd.buf = *rd.bufp
}

// Release returns the buffer to the pool when it holds nothing unread, so an
// idle connection does not keep it. It is taken again on the next read.
func (rd *Reader) Release() {
	if rd.buf == nil || rd.r < rd.w || !rd.body.done {
		return
	}
	putBuffer(rd.bufp)
	rd.buf, rd.bufp = nil, nil
	rd.r, rd.w, rd.keep, rd.scanned = 0, 0, 0, 0
}

// Buffered is the number of bytes read from the connection and not yet
// consumed: a pipelined request, for instance.
func (rd *Reader) Buffered() int { return rd.w - rd.r }

// fill reads once from src into the free end of the buffer.
func (rd *Reader) fill() error {
	if rd.err != nil {
		return rd.err
	}
	if rd.buf == nil {
		rd.takeBuffer()
	}
	if rd.w == len(rd.buf) {
		return errors.New("parser: read buffer full") // callers bound their needs below the size
	}
	n, err := rd.src.Read(rd.buf[rd.w:])
	rd.w += n
	if err != nil {
		if !isTimeout(err) {
			// A deadline is the caller's policy: after one passes the
			// connection may be read again (a keep-alive wait that
			// moves on), so only other errors stick.
			rd.err = err
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
	// Unpin the previous head: move unread bytes to the front.
	if rd.r > 0 {
		rd.w = copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.r, rd.keep = 0, 0
	}
	rd.scanned = 0
	req := &rd.req
	for {
		if rd.w > 0 && rd.worthParsing() {
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

// worthParsing avoids re-parsing a partial head on every trickled byte: a
// parse can only say something new once a line has ended or the buffer has
// grown past a limit.
func (rd *Reader) worthParsing() bool {
	if rd.w >= rd.lim.MaxTargetBytes || rd.w >= rd.lim.MaxHeaderBytes {
		return true
	}
	found := bytes.IndexByte(rd.buf[rd.scanned:rd.w], '\n') >= 0
	if found || rd.scanned == 0 {
		// The first look also judges a request line that has not ended,
		// so that garbage is refused without waiting.
		rd.scanned = rd.w
		return true
	}
	rd.scanned = rd.w
	return false
}

// ensureRoom makes at least n bytes of space from rd.r to the end of the
// buffer, sliding unread bytes down to just after the pinned head.
func (rd *Reader) ensureRoom(n int) {
	if rd.buf == nil {
		rd.takeBuffer()
	}
	if len(rd.buf)-rd.r >= n || rd.r == rd.keep {
		return
	}
	rd.w = rd.keep + copy(rd.buf[rd.keep:], rd.buf[rd.r:rd.w])
	rd.r = rd.keep
}

// readBody copies up to len(p) body bytes: buffered ones first; a large
// read with nothing buffered goes straight from the connection into p.
func (rd *Reader) readBody(p []byte) (int, error) {
	if rd.r == rd.w {
		if rd.err != nil {
			return 0, rd.err
		}
		if rd.buf == nil || len(p) >= len(rd.buf)-rd.keep {
			return rd.src.Read(p)
		}
		rd.r, rd.w = rd.keep, rd.keep
		if err := rd.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, rd.buf[rd.r:rd.w])
	rd.r += n
	return n, nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
