// Package h2 serves HTTP/2 connections (RFC 9113) to the same sites as
// HTTP/1.1, through the same handlers.Request and ResponseWriter contract.
// Control frames are read by golang.org/x/net/http2's Framer and header
// blocks are coded by its hpack; the connection and stream states, flow
// control, the limits that keep a hostile peer's cost bounded, and the
// write path are this package's. DATA, HEADERS and CONTINUATION payloads
// are read by the connection itself into pooled buffers (readFrame says
// why).
//
// A connection has one goroutine that reads and dispatches frames (Serve),
// one goroutine per request stream that runs the handler, and, while there
// is something to send, one that writes. A connection with no stream open
// waits for its next frame on a fresh goroutine with a small stack and no
// buffer. Handlers append whole frames to
// the connection's write buffer; the writer sends what accumulated, so the
// responses of streams that finish together leave in one write.
package h2

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// Preface is what a client sends first (RFC 9113 §3.4).
const Preface = http2.ClientPreface

// What this server advertises and enforces.
const (
	// MaxConcurrentStreams is SETTINGS_MAX_CONCURRENT_STREAMS.
	MaxConcurrentStreams = 100
	// maxFrameSize is the largest frame read and written: the default
	// SETTINGS_MAX_FRAME_SIZE, which is never raised.
	maxFrameSize = 16384
	// headerTableSize bounds the HPACK table either way.
	headerTableSize = 4096
	// streamWindow is each stream's receive window: the default, so
	// SETTINGS says nothing about it.
	streamWindow = 65535
	// connWindow is the connection's receive window, raised from the
	// default at the start so that several uploads can proceed at once.
	connWindow = 1 << 20
	// maxContinuations bounds the frames of one header block; a block
	// spread over more ends the connection (the CONTINUATION floods).
	maxContinuations = 32
	// maxWindow is the largest flow-control window (RFC 9113 §6.9.1).
	maxWindow = 1<<31 - 1
)

// Options are what a connection is served with.
type Options struct {
	// Serve answers one request, on the stream's own goroutine. It must
	// recover a handler's panic; the writer is completed by the caller
	// through Finish.
	Serve func(w *ResponseWriter, r *handlers.Request)
	// Refuse answers a request that cannot reach a site with status
	// (431, 414, 413, 400, 405), as the connection loop of HTTP/1.1
	// refuses a head it cannot take.
	Refuse func(w *ResponseWriter, r *handlers.Request, status int)
	// Limits bound header lists (MaxHeaderBytes, MaxTargetBytes) and
	// request bodies (MaxBodyBytes).
	Limits parser.Limits
	// ReadHeaderTimeout bounds the preface and each header block;
	// IdleTimeout a connection with no stream; WriteTimeout each write.
	ReadHeaderTimeout, IdleTimeout, WriteTimeout time.Duration
	// RemoteAddr and TLS describe the connection for every request.
	RemoteAddr netip.AddrPort
	TLS        *tls.ConnectionState
	Log        *zap.Logger
	// Ended, when set, is called once when the connection has ended, with
	// what ended it.
	Ended func(err error)
}

// Conn is one HTTP/2 server connection.
type Conn struct {
	nc  net.Conn
	o   Options
	in  frameReader
	fr  *http2.Framer
	dec *hpack.Decoder
	// lim is o.Limits with defaults filled in.
	lim parser.Limits

	// Read side, owned by the reading goroutine.
	head        [frameHeaderLen]byte
	sawSettings bool // the client's first frame, its SETTINGS, was read
	block       headerBlock
	floods      floodGuard

	// mu guards the stream table, the send windows and the stream
	// states; sendCond wakes senders waiting for window.
	mu          sync.Mutex
	sendCond    sync.Cond
	streams     map[uint32]*stream
	sendWindow  int64  // the connection's
	peerInitial int64  // SETTINGS_INITIAL_WINDOW_SIZE of the client
	peerFrame   int    // SETTINGS_MAX_FRAME_SIZE of the client
	running     int    // handlers still running, reset streams' included
	maxID       uint32 // highest stream id the client opened
	recvWindow  int64  // what the client may still send on the connection
	connCredit  int64  // read or dropped, not yet returned to the client
	// deadline is the read deadline as last set, and idleArmed says the
	// connection is idle and it is armed for that: at handoff (see
	// readFrame) when handoffArmed, else at idleEnds, the idle timeout
	// (zero: none).
	deadline     time.Time
	idleArmed    bool
	idleEnds     time.Time
	handoffArmed atomic.Bool
	// handoffCut says a frame began before the handoff: once it is read,
	// the handoff is armed again, the idle timeout left where it was.
	handoffCut bool
	blockEnds  time.Time // when the open header block must be complete
	goAway     bool      // a GOAWAY went out: no new stream is served
	closed     bool
	lastID     uint32 // the last stream id GOAWAY promised to serve

	// w is the write side.
	w writeSide

	idleWorkers  chan *stream  // stream goroutines waiting for the next stream
	shutdown     chan struct{} // closed by Shutdown
	shutdownOnce sync.Once
	done         chan struct{} // closed when the connection has ended
}

// NewConn prepares nc, whose preface has not been read yet, to be served.
func NewConn(nc net.Conn, o Options) *Conn {
	c := &Conn{
		nc:          nc,
		o:           o,
		lim:         o.Limits,
		streams:     make(map[uint32]*stream),
		sendWindow:  65535,
		peerInitial: 65535,
		peerFrame:   maxFrameSize,
		idleWorkers: make(chan *stream),
		shutdown:    make(chan struct{}),
		done:        make(chan struct{}),
	}
	if c.o.Log == nil {
		c.o.Log = zap.NewNop()
	}
	if c.lim.MaxHeaderBytes <= 0 {
		c.lim.MaxHeaderBytes = parser.DefaultLimits().MaxHeaderBytes
	}
	if c.lim.MaxTargetBytes <= 0 || c.lim.MaxTargetBytes > c.lim.MaxHeaderBytes {
		c.lim.MaxTargetBytes = min(parser.DefaultLimits().MaxTargetBytes, c.lim.MaxHeaderBytes)
	}
	if c.lim.MaxBodyBytes == 0 {
		c.lim.MaxBodyBytes = parser.DefaultLimits().MaxBodyBytes
	}
	c.sendCond.L = &c.mu
	// crypto/tls buffers records; a plain socket is read through a
	// buffer, or every frame would be two system calls.
	_, isTLS := nc.(*tls.Conn)
	c.in.init(nc, !isTLS)
	c.fr = http2.NewFramer(nil, &c.in)
	c.fr.SetReuseFrames()
	c.fr.SetMaxReadFrameSize(maxFrameSize)
	c.dec = hpack.NewDecoder(headerTableSize, c.block.emit)
	c.dec.SetMaxStringLength(c.lim.MaxHeaderBytes)
	c.block.c = c
	c.w.init(c)
	return c
}

// Shutdown asks the connection to end gracefully: a GOAWAY naming the
// last stream that will be answered, the streams in flight finish, then
// the connection closes. It returns at once; safe from any goroutine.
func (c *Conn) Shutdown() {
	c.shutdownOnce.Do(func() {
		close(c.shutdown)
		// Wakes the reader so it sees the request.
		c.nc.SetReadDeadline(time.Now())
	})
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// connError ends the connection with a GOAWAY carrying code.
type connError struct {
	code   http2.ErrCode
	reason string
}

func (e connError) Error() string { return fmt.Sprintf("http2: %v: %s", e.code, e.reason) }

func protocolError(reason string) error { return connError{http2.ErrCodeProtocol, reason} }

var errClientGone = errors.New("http2: client closed the connection")

// Serve reads and answers frames until the connection ends or first goes
// idle: an idle connection waits for its next frame on a goroutine of its
// own, and the caller's goroutine, with whatever stack the handshake grew,
// is free to end. Options.Ended is called, then Done closed, once every
// stream's handler is done and the socket is closed.
func (c *Conn) Serve() {
	c.nc.SetReadDeadline(time.Now().Add(c.o.ReadHeaderTimeout))
	if err := c.start(); err != nil {
		c.end(err)
		return
	}
	c.run()
}

// run reads frames until the connection ends, or is handed to a fresh
// goroutine.
func (c *Conn) run() {
	if err := c.readFrames(); err != errHandedOff {
		c.end(err)
	}
}

// end closes the connection with the GOAWAY its error calls for.
func (c *Conn) end(err error) {
	defer close(c.done)
	code, reason := http2.ErrCodeNo, ""
	var ce connError
	switch {
	case errors.As(err, &ce):
		code, reason = ce.code, ce.reason
	case err != nil:
		var fe http2.ConnectionError
		if errors.As(err, &fe) {
			code, reason = http2.ErrCode(fe), c.frameErrorDetail()
		} else if errors.Is(err, http2.ErrFrameTooLarge) {
			code, reason = http2.ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE"
		}
	}
	c.closeWith(code, reason, err)
	if c.o.Ended != nil {
		c.o.Ended(err)
	}
}

func (c *Conn) frameErrorDetail() string {
	if d := c.fr.ErrorDetail(); d != nil {
		return d.Error()
	}
	return "malformed frame"
}

// start reads the preface and sends this server's SETTINGS.
func (c *Conn) start() error {
	if err := c.readPreface(); err != nil {
		return err
	}
	c.w.control(func(b []byte) []byte {
		b = appendSettings(b, c.lim.MaxHeaderBytes)
		return appendWindowUpdate(b, 0, connWindow-65535)
	})
	c.mu.Lock()
	c.recvWindow = connWindow
	c.mu.Unlock()
	return nil
}

func (c *Conn) readFrames() error {
	for {
		if err := c.readFrame(); err != nil {
			return err
		}
		c.armIdle()
	}
}

// errHandedOff says the connection went on on another goroutine.
var errHandedOff = errors.New("http2: waiting on a fresh goroutine")

// frameStartFailed is the reader's wait for a frame's first bytes ending
// without one. At the handoff deadline of an idle connection, the wait
// goes on on a fresh goroutine (errHandedOff); nothing was read, so
// nothing is lost.
func (c *Conn) frameStartFailed(err error) error {
	if !isTimeout(err) || !c.handoffArmed.Load() || c.shuttingDown() {
		return c.readFailed(err)
	}
	c.mu.Lock()
	idleOver := c.goAway || !c.idleEnds.IsZero() && !time.Now().Before(c.idleEnds)
	c.disarmHandoffLocked()
	c.mu.Unlock()
	// Looked at again after the deadline moved: a Shutdown since then
	// set its own after it.
	if idleOver || c.shuttingDown() {
		return c.readFailed(err)
	}
	go c.resume()
	return errHandedOff
}

// disarmHandoffLocked leaves the idle timeout as the read deadline: the
// handoff happened, or a frame began. Called with mu held.
func (c *Conn) disarmHandoffLocked() {
	if c.handoffArmed.Load() {
		c.handoffArmed.Store(false)
		c.deadline = c.idleEnds
		c.nc.SetReadDeadline(c.idleEnds)
	}
}

// resume is the long idle wait, on a fresh goroutine.
func (c *Conn) resume() {
	if err := c.in.waitReadable(); err != nil {
		c.end(c.readFailed(err))
		return
	}
	c.run()
}

func (c *Conn) shuttingDown() bool {
	select {
	case <-c.shutdown:
		return true
	default:
		return false
	}
}

// readFailed tells a read that failed because the connection should end
// quietly (idle, shutdown, client gone) from one that failed on bad bytes.
func (c *Conn) readFailed(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errClientGone
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		select {
		case <-c.shutdown:
			return errShutdown
		default:
		}
		if c.block.open() {
			return connError{http2.ErrCodeProtocol, "header block not completed within read_header_timeout"}
		}
		c.mu.Lock()
		goAway := c.goAway
		c.mu.Unlock()
		if goAway {
			return errShutdown
		}
		return errIdle
	}
	return err
}

var (
	errShutdown = errors.New("http2: server shutting down")
	errIdle     = errors.New("http2: idle timeout")
)

func (c *Conn) readPreface() error {
	var buf [len(Preface)]byte
	if _, err := io.ReadFull(c.nc, buf[:]); err != nil {
		return c.readFailed(err)
	}
	if string(buf[:]) != Preface {
		return protocolError("bad connection preface")
	}
	return nil
}

// armIdle is called by the reader after each frame.
func (c *Conn) armIdle() {
	select {
	case <-c.shutdown:
		c.mu.Lock()
		c.startGoAway(http2.ErrCodeNo)
		c.mu.Unlock()
	default:
	}
	c.mu.Lock()
	if c.block.open() {
		c.blockEnds = c.block.started.Add(c.o.ReadHeaderTimeout)
	} else {
		c.blockEnds = time.Time{}
	}
	c.armLocked()
	c.mu.Unlock()
}

// armLocked keeps the read deadline right for the connection's state: the
// header timeout while a header block is open, none while streams run
// (each is bounded on its own), and at once when a GOAWAY went out and
// nothing is left to finish. A connection that becomes idle is armed for
// the handoff, then for the idle timeout. The system's timer is touched
// only when the deadline changes. Called with mu held, by the reader after
// a frame and by a stream that ends.
func (c *Conn) armLocked() {
	idle := len(c.streams) == 0 && c.running == 0
	var want time.Time
	handoff := false
	switch {
	case !c.blockEnds.IsZero():
		want = c.blockEnds
	case idle && c.goAway:
		want = time.Unix(1, 0)
	case idle && c.idleArmed && !c.handoffCut:
		return
	case idle:
		now := time.Now()
		if !c.idleArmed {
			c.idleEnds = time.Time{}
			if c.o.IdleTimeout > 0 {
				c.idleEnds = now.Add(c.o.IdleTimeout)
			}
		}
		want, handoff = now.Add(handoffAfter), true
		if !c.idleEnds.IsZero() && c.idleEnds.Before(want) {
			want = c.idleEnds
		}
	}
	c.handoffCut = false
	c.idleArmed = idle && !c.goAway && c.blockEnds.IsZero()
	c.handoffArmed.Store(handoff)
	if want.Equal(c.deadline) {
		return
	}
	c.deadline = want
	c.nc.SetReadDeadline(want)
}

// wakeReader is called when a stream ends: the connection may now be idle,
// or done after a GOAWAY.
func (c *Conn) wakeReader() {
	c.mu.Lock()
	if !c.closed {
		c.armLocked()
	}
	c.mu.Unlock()
}

// readFrame reads one frame and acts on it. DATA, HEADERS and
// CONTINUATION are read here, into a pooled buffer given back at once:
// the Framer allocates every HEADERS frame it parses, and keeps a buffer
// as large as the largest frame it ever read for the connection's life.
// The Framer reads the others, small control frames, from the header
// given back to the reader.
func (c *Conn) readFrame() error {
	h := c.head[:]
	n, err := c.in.Read(h)
	for n == 0 && err == nil {
		n, err = c.in.Read(h)
	}
	if n == 0 {
		return c.frameStartFailed(err)
	}
	if c.handoffArmed.Load() {
		// A frame began: the handoff deadline must not cut it.
		c.mu.Lock()
		c.handoffCut = c.handoffArmed.Load()
		c.disarmHandoffLocked()
		c.mu.Unlock()
	}
	if _, err := io.ReadFull(&c.in, h[n:]); err != nil {
		return c.readFailed(err)
	}
	length := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
	typ, flags := http2.FrameType(h[3]), http2.Flags(h[4])
	id := binary.BigEndian.Uint32(h[5:]) & (1<<31 - 1)
	if !c.sawSettings {
		// RFC 9113 §3.4: the preface ends with a SETTINGS frame.
		if typ != http2.FrameSettings || flags.Has(http2.FlagSettingsAck) {
			return protocolError("the client preface does not end with SETTINGS")
		}
		c.sawSettings = true
	}
	if c.block.open() && (typ != http2.FrameContinuation || id != c.block.id) {
		// RFC 9113 §6.10: nothing may come between a header block's frames.
		return protocolError("a header block interrupted by another frame")
	}
	switch typ {
	case http2.FrameData, http2.FrameHeaders, http2.FrameContinuation:
	default:
		c.in.unread(h)
		f, err := c.fr.ReadFrame()
		if err != nil {
			if se, ok := err.(http2.StreamError); ok {
				return c.streamError(se.StreamID, se.Code)
			}
			return c.readFailed(err)
		}
		return c.dispatch(f)
	}
	if length > maxFrameSize {
		return connError{http2.ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE"}
	}
	if id == 0 {
		return protocolError("DATA, HEADERS or CONTINUATION on stream 0")
	}
	bp := payloadPool.Get().(*[]byte)
	defer payloadPool.Put(bp)
	p := (*bp)[:length]
	if _, err := io.ReadFull(&c.in, p); err != nil {
		return c.readFailed(err)
	}
	switch typ {
	case http2.FrameContinuation:
		if !c.block.open() {
			return protocolError("CONTINUATION with no header block to continue")
		}
		return c.onContinuation(p, flags.Has(http2.FlagContinuationEndHeaders))
	case http2.FrameData:
		data, err := unpad(p, flags.Has(http2.FlagDataPadded))
		if err != nil {
			return err
		}
		return c.onData(id, int64(length), data, flags.Has(http2.FlagDataEndStream))
	}
	frag, err := unpad(p, flags.Has(http2.FlagHeadersPadded))
	if err != nil {
		return err
	}
	selfDependent := false
	if flags.Has(http2.FlagHeadersPriority) {
		if len(frag) < 5 {
			return protocolError("HEADERS too short for its priority fields")
		}
		selfDependent = binary.BigEndian.Uint32(frag)&(1<<31-1) == id
		frag = frag[5:]
	}
	return c.onHeaders(id, frag, flags.Has(http2.FlagHeadersEndStream), flags.Has(http2.FlagHeadersEndHeaders), selfDependent)
}

var payloadPool = sync.Pool{New: func() any {
	b := make([]byte, maxFrameSize)
	return &b
}}

// unpad strips a padded frame's pad length and padding (RFC 9113 §6.1,
// §6.2): padding as long as the payload or longer is a connection error.
func unpad(p []byte, padded bool) ([]byte, error) {
	if !padded {
		return p, nil
	}
	if len(p) == 0 || int(p[0]) >= len(p) {
		return nil, protocolError("padding as long as the frame")
	}
	return p[1 : len(p)-int(p[0])], nil
}

// dispatch handles one frame the Framer read.
func (c *Conn) dispatch(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.RSTStreamFrame:
		return c.onReset(f)
	case *http2.PingFrame:
		return c.onPing(f)
	case *http2.PriorityFrame:
		// Priorities are ignored (RFC 9113 §5.3.2), but a stream may not
		// depend on itself.
		if f.StreamDep == f.StreamID {
			return c.streamError(f.StreamID, http2.ErrCodeProtocol)
		}
		return nil
	case *http2.GoAwayFrame:
		// The client will open no more streams; the connection serves
		// what is open and then ends at the idle timeout, or when the
		// client closes it.
		return nil
	case *http2.PushPromiseFrame:
		return protocolError("a client sent PUSH_PROMISE")
	default:
		// Unknown frame types are ignored (RFC 9113 §5.5).
		return nil
	}
}

func (c *Conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if err := c.floods.settings.spend(); err != nil {
		return err
	}
	if err := f.ForeachSetting(func(s http2.Setting) error { return s.Valid() }); err != nil {
		return err
	}
	var err error
	c.mu.Lock()
	f.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - c.peerInitial
			c.peerInitial = int64(s.Val)
			for _, st := range c.streams {
				st.sendWindow += delta
				if st.sendWindow > maxWindow {
					err = connError{http2.ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream's window"}
				}
			}
			c.sendCond.Broadcast()
		case http2.SettingMaxFrameSize:
			c.peerFrame = int(min(s.Val, maxFrameSize))
		case http2.SettingHeaderTableSize:
			c.w.tableSize(s.Val)
		}
		return nil
	})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.w.control(func(b []byte) []byte { return appendFrameHeader(b, 0, http2.FrameSettings, http2.FlagSettingsAck, 0) })
	return nil
}

func (c *Conn) onPing(f *http2.PingFrame) error {
	if f.IsAck() {
		return nil
	}
	if err := c.floods.pings.spend(); err != nil {
		return err
	}
	data := f.Data
	c.w.control(func(b []byte) []byte {
		b = appendFrameHeader(b, 8, http2.FramePing, http2.FlagPingAck, 0)
		return append(b, data[:]...)
	})
	return nil
}

func (c *Conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	if f.Increment < 1024 {
		// Tiny increments make tiny DATA frames: a peer that keeps
		// asking for them is the many-tiny-windows attack.
		if err := c.floods.windowUpdates.spend(); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.StreamID == 0 {
		c.sendWindow += int64(f.Increment)
		if c.sendWindow > maxWindow {
			return connError{http2.ErrCodeFlowControl, "connection window over 2^31-1"}
		}
		c.sendCond.Broadcast()
		return nil
	}
	st := c.streams[f.StreamID]
	if st == nil {
		if f.StreamID > c.maxID {
			return protocolError("WINDOW_UPDATE on an idle stream")
		}
		return nil // a closed stream: ignored
	}
	st.sendWindow += int64(f.Increment)
	if st.sendWindow > maxWindow {
		c.resetLocked(st, http2.ErrCodeFlowControl)
		return nil
	}
	c.sendCond.Broadcast()
	return nil
}

func (c *Conn) onReset(f *http2.RSTStreamFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.streams[f.StreamID]
	if st == nil {
		if f.StreamID > c.maxID {
			return protocolError("RST_STREAM on an idle stream")
		}
		return nil
	}
	if !st.responded {
		// A stream cancelled before its answer is the Rapid Reset shape.
		if err := c.floods.resets.spend(); err != nil {
			return err
		}
	}
	c.closeStreamLocked(st, false)
	return nil
}

// streamError resets one stream, for a frame that broke that stream's
// rules only.
func (c *Conn) streamError(id uint32, code http2.ErrCode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.streams[id]; st != nil {
		c.resetLocked(st, code)
		return nil
	}
	if err := c.floods.resets.spend(); err != nil {
		return err
	}
	c.w.control(func(b []byte) []byte { return appendRSTStream(b, id, code) })
	return nil
}

// resetLocked sends RST_STREAM for st and forgets it. Called with mu held.
func (c *Conn) resetLocked(st *stream, code http2.ErrCode) {
	id := st.id
	c.w.control(func(b []byte) []byte { return appendRSTStream(b, id, code) })
	c.closeStreamLocked(st, true)
}

// startGoAway sends GOAWAY once, promising to answer the streams opened so
// far. Called with mu held.
func (c *Conn) startGoAway(code http2.ErrCode) {
	if c.goAway {
		return
	}
	c.goAway = true
	c.lastID = c.maxID
	last := c.maxID
	c.w.control(func(b []byte) []byte { return appendGoAway(b, last, code, "") })
}

// closeWith ends the connection: the GOAWAY a protocol error deserves,
// then, once every handler has returned, the socket.
func (c *Conn) closeWith(code http2.ErrCode, reason string, cause error) {
	c.mu.Lock()
	if code != http2.ErrCodeNo && !c.goAway {
		c.goAway = true
		last := c.maxID
		c.w.control(func(b []byte) []byte { return appendGoAway(b, last, code, reason) })
	} else {
		c.startGoAway(http2.ErrCodeNo)
	}
	graceful := code == http2.ErrCodeNo && !errors.Is(cause, errClientGone)
	c.mu.Unlock()
	if code != http2.ErrCodeNo {
		c.o.Log.Debug("http2 connection error", zap.Stringer("code", code), zap.String("reason", reason))
	}

	if graceful {
		// Streams in flight finish; frames for them still arrive, so the
		// reader keeps going, bounded by the write timeout of each.
		c.drainStreams()
	}
	// Nothing more will be read: every stream's handler is told, and its
	// body reads and writes fail.
	c.mu.Lock()
	for _, st := range c.streams {
		c.closeStreamLocked(st, true)
	}
	for c.running > 0 {
		c.sendCond.Wait()
	}
	c.closed = true
	c.mu.Unlock()
	c.w.close()
	if !errors.Is(cause, errClientGone) {
		// A GOAWAY went out: it must not be destroyed by a reset.
		c.lingerClose()
	}
	c.nc.Close()
}

// drainStreams reads on after a graceful GOAWAY until the streams it
// promised are answered: their bodies and window updates still come.
func (c *Conn) drainStreams() {
	for {
		c.mu.Lock()
		busy := len(c.streams) > 0 || c.running > 0
		c.mu.Unlock()
		if !busy {
			return
		}
		c.mu.Lock()
		c.blockEnds = time.Time{}
		c.mu.Unlock()
		c.nc.SetReadDeadline(time.Now().Add(max(c.o.WriteTimeout, time.Second)))
		if c.readFrame() != nil {
			return
		}
	}
}

// lingerClose gives a GOAWAY time to reach a client that is still sending:
// closing with unread input would make the kernel answer with a reset that
// can destroy the GOAWAY before the client reads it.
func (c *Conn) lingerClose() {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := c.nc.(closeWriter); ok {
		cw.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.CopyN(io.Discard, c.nc, 256<<10)
}
