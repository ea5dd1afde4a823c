package h2

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// frameReader is what frames are read from: TLS's plaintext, or the
// socket through a buffer of its own. It holds no buffer while it has
// nothing buffered, so an idle connection keeps none, and it can take
// back the bytes the connection looked at before the Framer reads them
// (a frame header it read itself, the byte that ended an idle wait).
type frameReader struct {
	src net.Conn
	// raw is the socket under src, for waiting until it is readable
	// without a goroutine blocked inside TLS; nil when src has none.
	raw syscall.RawConn
	// plain means src is the socket itself, read through buf.
	plain bool
	buf   *[]byte
	r, w  int
	// back holds bytes read ahead and given back, read before buf.
	back       [frameHeaderLen]byte
	backR, end int
}

const frameHeaderLen = 9

// readBufSize is the plaintext socket's read buffer: a few frames.
const readBufSize = 4 << 10

var readBufPool = sync.Pool{New: func() any {
	b := make([]byte, readBufSize)
	return &b
}}

func (fr *frameReader) init(nc net.Conn, plain bool) {
	fr.src, fr.plain = nc, plain
	var under net.Conn = nc
	if nd, ok := nc.(interface{ NetConn() net.Conn }); ok {
		under = nd.NetConn()
	}
	if sc, ok := under.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			fr.raw = raw
		}
	}
}

func (fr *frameReader) Read(p []byte) (int, error) {
	if fr.backR < fr.end {
		n := copy(p, fr.back[fr.backR:fr.end])
		fr.backR += n
		return n, nil
	}
	if !fr.plain {
		return fr.src.Read(p)
	}
	if fr.r == fr.w {
		if len(p) >= readBufSize {
			return fr.src.Read(p)
		}
		if err := fr.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, (*fr.buf)[fr.r:fr.w])
	fr.r += n
	if fr.r == fr.w {
		fr.release()
	}
	return n, nil
}

// fill reads what the socket has into a pooled buffer.
func (fr *frameReader) fill() error {
	if fr.buf == nil {
		fr.buf = readBufPool.Get().(*[]byte)
	}
	n, err := fr.src.Read(*fr.buf)
	fr.r, fr.w = 0, n
	if n == 0 {
		fr.release()
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	return nil
}

func (fr *frameReader) release() {
	if fr.buf != nil {
		readBufPool.Put(fr.buf)
		fr.buf = nil
	}
	fr.r, fr.w = 0, 0
}

// unread gives b back, to be read again before anything else; b is at
// most a frame header and follows everything given back before it.
func (fr *frameReader) unread(b []byte) {
	if fr.backR == fr.end {
		fr.backR, fr.end = 0, 0
	}
	fr.end += copy(fr.back[fr.end:], b)
}

// buffered reports whether bytes are waiting in this reader; TLS's own
// buffer is not looked at (see peek).
func (fr *frameReader) buffered() bool { return fr.backR < fr.end || fr.r < fr.w }

// peek waits, until the read deadline, for the next byte and gives it
// back. A timeout loses nothing: the byte was not read, and TLS keeps a
// partial record for the next read.
func (fr *frameReader) peek() error {
	var b [1]byte
	n, err := fr.Read(b[:])
	if n == 1 {
		fr.unread(b[:])
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// waitReadable waits, until the read deadline, for the socket to have
// something to read, holding no buffer; the stack of the goroutine that
// waits stays as small as it started. Without a socket to wait on it
// peeks, which waits as long.
func (fr *frameReader) waitReadable() error {
	if fr.buffered() {
		return nil
	}
	if fr.raw == nil {
		return fr.peek()
	}
	// An error of the socket itself shows in the read that follows.
	return fr.raw.Read(readable)
}

// readable is the socket wait's test: a byte to read, the peer's end, or
// an error, all without consuming anything.
func readable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EINTR
}

// isTimeout reports a read that ended at its deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// handoffAfter is how long an idle connection waits for its next frame on
// the goroutine that read the last one. A longer wait goes on on a fresh
// goroutine whose small stack is then all the wait costs; the reader's
// grown stack goes back to be reused. Busy clients send within it.
const handoffAfter = 20 * time.Millisecond
