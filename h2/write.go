package h2

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// writeSide is where frames wait for the socket. Whoever has a frame to
// send appends it to buf, whole, and makes sure a writer goroutine runs;
// the writer first lets the other runnable streams append theirs, then
// sends everything in one write. Frames are serialised here rather than
// by the Framer so that a DATA payload is copied once, into buf, and the
// buffers go back to a pool when the connection has nothing to send.
type writeSide struct {
	c       *Conn
	mu      sync.Mutex
	room    sync.Cond // buf drained below highWater, or the writer stopped
	buf     *[]byte
	spare   *[]byte
	running bool
	err     error
	closed  bool

	enc    *hpack.Encoder
	encBuf bytes.Buffer
	digits [20]byte // scratch for content-length
}

// highWater is how much may wait before appenders wait for the writer: a
// few frames of every stream's body, not whole files.
const highWater = 64 << 10

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 32<<10)
	return &b
}}

func (w *writeSide) init(c *Conn) {
	w.c = c
	w.room.L = &w.mu
	w.enc = hpack.NewEncoder(&w.encBuf)
	w.enc.SetMaxDynamicTableSizeLimit(headerTableSize)
}

// tableSize applies the client's SETTINGS_HEADER_TABLE_SIZE to the
// encoder. Called with the connection's mu held.
func (w *writeSide) tableSize(v uint32) {
	w.mu.Lock()
	w.enc.SetMaxDynamicTableSizeLimit(min(v, headerTableSize))
	w.mu.Unlock()
}

// control queues a frame made by fn and has it written. Callers may hold
// the connection's mu: the lock order is that mu, then this one.
func (w *writeSide) control(fn func([]byte) []byte) {
	w.mu.Lock()
	if w.appendLocked(fn) {
		w.kick()
	}
	w.mu.Unlock()
}

// appendLocked adds frames; nothing is written until someone calls write
// or kick. Called with mu held.
func (w *writeSide) appendLocked(fn func([]byte) []byte) bool {
	if w.err != nil || w.closed {
		return false
	}
	if w.buf == nil {
		w.buf = bufPool.Get().(*[]byte)
	}
	*w.buf = fn(*w.buf)
	return true
}

// waitRoom blocks an appender of body frames while the buffer is full.
func (w *writeSide) waitRoom() error {
	for w.buf != nil && len(*w.buf) >= highWater && w.err == nil && !w.closed {
		w.kick()
		w.room.Wait()
	}
	return w.err
}

// kick has a writer goroutine send what is queued. Called with mu held.
func (w *writeSide) kick() {
	if !w.running {
		w.running = true
		go w.loop()
	}
}

// write is how a stream that appended its response has it sent: when no
// writer is running, this goroutine becomes it, so that a response costs
// no goroutine of its own.
func (w *writeSide) write() {
	w.mu.Lock()
	if w.running || w.buf == nil || len(*w.buf) == 0 {
		w.mu.Unlock()
		return
	}
	w.running = true
	w.mu.Unlock()
	w.loop()
}

// loop writes until nothing is queued. The caller has set running.
func (w *writeSide) loop() {
	// Streams that are runnable now append their frames first: their
	// responses then share this write.
	runtime.Gosched()
	w.mu.Lock()
	for w.buf != nil && len(*w.buf) > 0 && w.err == nil {
		out := w.buf
		w.buf = w.spare
		if w.buf != nil {
			*w.buf = (*w.buf)[:0]
		}
		w.spare = nil
		w.room.Broadcast()
		w.mu.Unlock()
		err := w.send(*out)
		w.mu.Lock()
		if err != nil {
			w.err = err
		}
		*out = (*out)[:0]
		if w.spare == nil && cap(*out) <= 256<<10 {
			w.spare = out
		} else if cap(*out) <= 256<<10 {
			bufPool.Put(out)
		}
	}
	// Nothing to send: the buffers go back to the pool, so an idle
	// connection holds none.
	for _, b := range []**[]byte{&w.buf, &w.spare} {
		if *b != nil {
			if len(**b) == 0 {
				bufPool.Put(*b)
			}
			*b = nil
		}
	}
	w.running = false
	w.room.Broadcast()
	failed := w.err != nil
	w.mu.Unlock()
	if failed {
		// A client that stopped reading (the write deadline) or went
		// away: nothing more can reach it.
		w.c.nc.Close()
	}
}

func (w *writeSide) send(b []byte) error {
	if t := w.c.o.WriteTimeout; t > 0 {
		w.c.nc.SetWriteDeadline(time.Now().Add(t))
	}
	_, err := w.c.nc.Write(b)
	return err
}

// close waits until what is queued has been written (or failed), then
// refuses further frames.
func (w *writeSide) close() {
	w.mu.Lock()
	for w.running {
		w.room.Wait()
	}
	w.closed = true
	w.mu.Unlock()
}

func appendFrameHeader(b []byte, length int, t http2.FrameType, flags http2.Flags, id uint32) []byte {
	return append(b, byte(length>>16), byte(length>>8), byte(length), byte(t), byte(flags),
		byte(id>>24)&0x7f, byte(id>>16), byte(id>>8), byte(id))
}

func appendSettings(b []byte, maxHeaderList int) []byte {
	settings := [...]http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: MaxConcurrentStreams},
		{ID: http2.SettingMaxHeaderListSize, Val: uint32(maxHeaderList)},
		{ID: http2.SettingEnablePush, Val: 0},
	}
	b = appendFrameHeader(b, 6*len(settings), http2.FrameSettings, 0, 0)
	for _, s := range settings {
		b = binary.BigEndian.AppendUint16(b, uint16(s.ID))
		b = binary.BigEndian.AppendUint32(b, s.Val)
	}
	return b
}

func appendWindowUpdate(b []byte, id, inc uint32) []byte {
	b = appendFrameHeader(b, 4, http2.FrameWindowUpdate, 0, id)
	return binary.BigEndian.AppendUint32(b, inc&0x7fffffff)
}

func appendRSTStream(b []byte, id uint32, code http2.ErrCode) []byte {
	b = appendFrameHeader(b, 4, http2.FrameRSTStream, 0, id)
	return binary.BigEndian.AppendUint32(b, uint32(code))
}

func appendGoAway(b []byte, last uint32, code http2.ErrCode, debug string) []byte {
	if len(debug) > 256 {
		debug = debug[:256]
	}
	b = appendFrameHeader(b, 8+len(debug), http2.FrameGoAway, 0, 0)
	b = binary.BigEndian.AppendUint32(b, last&0x7fffffff)
	b = binary.BigEndian.AppendUint32(b, uint32(code))
	return append(b, debug...)
}

// appendData appends one DATA frame.
func appendData(b []byte, id uint32, data []byte, end bool) []byte {
	var flags http2.Flags
	if end {
		flags = http2.FlagDataEndStream
	}
	b = appendFrameHeader(b, len(data), http2.FrameData, flags, id)
	return append(b, data...)
}

// appendBlock appends the header block in encBuf as HEADERS and, past the
// client's frame size, CONTINUATION frames.
func appendBlock(b []byte, id uint32, block []byte, end bool, frameSize int) []byte {
	var flags http2.Flags
	if end {
		flags = http2.FlagHeadersEndStream
	}
	t := http2.FrameHeaders
	for {
		n := min(len(block), frameSize)
		f := flags
		if n == len(block) {
			f |= http2.FlagHeadersEndHeaders
		}
		b = appendFrameHeader(b, n, t, f, id)
		b = append(b, block[:n]...)
		block = block[n:]
		if len(block) == 0 {
			return b
		}
		t, flags = http2.FrameContinuation, 0
	}
}
