package parser

import "bytes"

// An idle keep-alive connection should cost next to nothing, so its reader
// holds no buffer while it waits. The connection loop does the waiting
// itself, with the socket's raw read, and uses these two calls so that a
// buffer is taken from the pool only for a read that returns bytes.

// Space returns the free end of the buffer, taking a buffer from the pool
// if the Reader has none. Call it only between requests.
func (rd *Reader) Space() []byte {
	if rd.buf == nil {
		rd.takeBuffer()
	}
	if rd.r == rd.w {
		rd.r, rd.w, rd.keep = 0, 0, 0
	}
	return rd.buf[rd.w:]
}

// Advance records n bytes written into the slice Space returned.
func (rd *Reader) Advance(n int) { rd.w += n }

// SetLimits makes the next requests use lim (zero fields take
// DefaultLimits), as after a config reload. Limits that need a larger
// buffer than the one holding unread bytes wait for a later call.
func (rd *Reader) SetLimits(lim Limits) {
	lim = lim.withDefaults()
	if lim == rd.lim || !rd.body.done {
		return
	}
	if rd.buf != nil && lim.bufferSize() > len(rd.buf) {
		if rd.r < rd.w {
			return // a larger buffer must wait until this one is empty
		}
		rd.Release()
	}
	rd.lim = lim
	rd.size = lim.bufferSize()
}

// HeadBuffered reports whether the buffer holds the end of a request head,
// so that ReadRequest will not need to read: the caller can skip arming a
// header deadline.
func (rd *Reader) HeadBuffered() bool {
	b := rd.buf[rd.r:rd.w]
	for i := 0; i < 2 && len(b) >= 2 && b[0] == '\r' && b[1] == '\n'; i++ {
		b = b[2:] // leading empty lines, which ParseHead skips
	}
	return bytes.Contains(b, headEnd)
}

var headEnd = []byte("\r\n\r\n")

// TakeBuffered hands over the bytes read from the connection past the
// current request and forgets them, for a connection that stops being
// HTTP (an upgrade): they belong to the new protocol.
func (rd *Reader) TakeBuffered() []byte {
	if rd.r == rd.w {
		return nil
	}
	b := append([]byte(nil), rd.buf[rd.r:rd.w]...)
	rd.r = rd.w
	return b
}
