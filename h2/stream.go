package h2

import (
	"bytes"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/internal/lifetime"
	"github.com/moreweb/moreweb/parser"
)

// stream is one request and its response. Everything but the handler's
// own fields is guarded by the connection's mu.
type stream struct {
	c  *Conn
	id uint32

	sendWindow int64
	remoteDone bool // END_STREAM received: half-closed (remote)
	localDone  bool // the response ended, or the stream was reset
	reset      bool // reset either way: writes fail, reads fail
	responded  bool // the response head went out
	inTable    bool

	// The request body, as received and not yet read by the handler.
	body       []byte
	bodyOff    int
	bodyCond   sync.Cond
	bodyErr    error // a body over the limit
	recvWindow int64 // what the client may still send on this stream
	credit     int64 // read by the handler, not yet returned to the client
	declared   int64 // content-length, or -1
	received   int64

	// refuse, when not 0, is the status the request is answered with
	// without reaching a site (a header list over the limit, a bad target).
	refuse int

	life    lifetime.Lifetime
	req     handlers.Request
	header  parser.Header
	arena   []byte // the request's field bytes
	fields  []span
	pseudo  [4]span // :method, :scheme, :authority, :path
	pathBuf []byte
	w       ResponseWriter
	br      bodyReader
}

// span is a field's name and value in the stream's arena.
type span struct{ name, nameEnd, value, valueEnd int32 }

const (
	pseudoMethod = iota
	pseudoScheme
	pseudoAuthority
	pseudoPath
)

var streamPool = sync.Pool{New: func() any {
	st := new(stream)
	st.bodyCond.L = nil // set per use: it is the connection's mu
	st.w.st = st
	st.br.st = st
	return st
}}

func (c *Conn) newStream(id uint32) *stream {
	st := streamPool.Get().(*stream)
	st.c, st.id = c, id
	st.bodyCond.L = &c.mu
	st.sendWindow = c.peerInitial
	st.remoteDone, st.localDone, st.reset, st.responded, st.inTable = false, false, false, false, false
	st.body, st.bodyOff, st.bodyErr = st.body[:0], 0, nil
	st.recvWindow, st.credit, st.declared, st.received = streamWindow, 0, -1, 0
	st.refuse = 0
	st.life.Renew()
	st.header.Reset()
	st.arena, st.fields = st.arena[:0], st.fields[:0]
	st.pseudo = [4]span{}
	return st
}

func (st *stream) release() {
	st.c = nil
	st.req = handlers.Request{}
	if cap(st.body) > 16<<10 {
		st.body = nil // an upload's buffer is not kept for small requests
	}
	if cap(st.arena) > 16<<10 {
		st.arena = nil
	}
	st.bodyCond.L = nil
	streamPool.Put(st)
}

// headerBlock is the header block being read: a HEADERS frame and its
// CONTINUATION frames, decoded as they come so that nothing of it is
// buffered whole.
type headerBlock struct {
	c         *Conn
	id        uint32
	st        *stream // the new stream the block opens; nil for trailers or a refused stream
	frames    int
	started   time.Time
	endStream bool
	trailers  bool
	size      int  // decoded size so far, as SETTINGS_MAX_HEADER_LIST_SIZE counts it
	tooBig    bool // over max_header_bytes: the fields are dropped, the request refused
	malformed bool
	regular   bool // a regular field came: pseudo-fields may no longer
	seen      uint8
}

func (b *headerBlock) open() bool { return b.id != 0 }

// connectionFields may not appear in HTTP/2 (RFC 9113 §8.2.2).
var connectionFields = [...]string{"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}

// emit takes one decoded field. It runs for every field whatever has gone
// wrong before, since the HPACK state must follow the whole block; past
// the size limit nothing is stored, so a small block that decodes to huge
// fields (the HPACK bomb) costs nothing but the decoding.
func (b *headerBlock) emit(f hpack.HeaderField) {
	b.size += len(f.Name) + len(f.Value) + 32
	if b.size > b.c.lim.MaxHeaderBytes {
		b.tooBig = true
	}
	if b.tooBig || b.malformed {
		return
	}
	name := f.Name
	if len(name) > 0 && name[0] == ':' {
		if b.regular || b.trailers {
			b.malformed = true
			return
		}
		i := -1
		switch name {
		case ":method":
			i = pseudoMethod
		case ":scheme":
			i = pseudoScheme
		case ":authority":
			i = pseudoAuthority
		case ":path":
			i = pseudoPath
		}
		if i < 0 || b.seen&(1<<i) != 0 {
			b.malformed = true // unknown (":status" included) or repeated
			return
		}
		b.seen |= 1 << i
		if b.st != nil {
			b.st.pseudo[i] = b.st.store("", f.Value)
		}
		return
	}
	b.regular = true
	if !validName(name) || !parser.ValidFieldValue([]byte(f.Value)) {
		b.malformed = true
		return
	}
	for _, cf := range connectionFields {
		if name == cf {
			b.malformed = true
			return
		}
	}
	if name == "te" && f.Value != "trailers" {
		b.malformed = true
		return
	}
	if b.st != nil {
		b.st.fields = append(b.st.fields, b.st.store(name, f.Value))
	}
}

// validName is a lower-case token.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			return false
		}
	}
	return parser.ValidFieldName([]byte(name))
}

func (st *stream) store(name, value string) span {
	var s span
	s.name = int32(len(st.arena))
	st.arena = append(st.arena, name...)
	s.nameEnd = int32(len(st.arena))
	s.value = s.nameEnd
	st.arena = append(st.arena, value...)
	s.valueEnd = int32(len(st.arena))
	return s
}

func (st *stream) bytesOf(s span) (name, value []byte) {
	return st.arena[s.name:s.nameEnd], st.arena[s.value:s.valueEnd]
}

// onHeaders starts a header block with the fragment of a HEADERS frame.
func (c *Conn) onHeaders(id uint32, frag []byte, endStream, endHeaders, selfDependent bool) error {
	if id%2 == 0 {
		return protocolError("HEADERS on a stream id a client may not open")
	}
	b := &c.block
	*b = headerBlock{c: c, id: id, started: time.Now(), endStream: endStream, frames: 1}
	c.mu.Lock()
	existing := c.streams[id]
	switch {
	case existing != nil:
		b.trailers = true
	case id <= c.maxID:
		c.mu.Unlock()
		return connError{http2.ErrCodeStreamClosed, "HEADERS on a closed stream"}
	default:
		c.maxID = id
		if !c.goAway {
			b.st = c.newStream(id)
		}
	}
	c.mu.Unlock()
	// Priorities are ignored (RFC 9113 §5.3.2), but a stream may not
	// depend on itself.
	b.malformed = selfDependent
	if err := c.decode(frag); err != nil {
		return err
	}
	if endHeaders {
		return c.endBlock()
	}
	return nil
}

func (c *Conn) onContinuation(frag []byte, endHeaders bool) error {
	b := &c.block
	b.frames++
	if b.frames > maxContinuations {
		return connError{http2.ErrCodeEnhanceYourCalm, "header block spread over too many CONTINUATION frames"}
	}
	if err := c.decode(frag); err != nil {
		return err
	}
	if endHeaders {
		return c.endBlock()
	}
	return nil
}

func (c *Conn) decode(frag []byte) error {
	if _, err := c.dec.Write(frag); err != nil {
		return connError{http2.ErrCodeCompression, "HPACK: " + err.Error()}
	}
	return nil
}

// endBlock acts on a complete header block.
func (c *Conn) endBlock() error {
	b := &c.block
	defer func() { b.id, b.st = 0, nil }()
	if err := c.dec.Close(); err != nil {
		return connError{http2.ErrCodeCompression, "HPACK: " + err.Error()}
	}
	if b.trailers {
		return c.endTrailers()
	}
	st := b.st
	if st == nil {
		return nil // after GOAWAY: neither served nor an error
	}
	if b.malformed || !c.fillRequest(st) {
		st.release()
		return c.streamError(b.id, http2.ErrCodeProtocol)
	}
	c.mu.Lock()
	if len(c.streams) >= MaxConcurrentStreams || c.running >= 2*MaxConcurrentStreams {
		// The second bound counts handlers of streams the client reset:
		// opening and cancelling streams must not pile up handlers.
		c.mu.Unlock()
		st.release()
		if err := c.floods.resets.spend(); err != nil {
			return err
		}
		return c.streamError(b.id, http2.ErrCodeRefusedStream)
	}
	st.remoteDone = b.endStream
	st.inTable = true
	c.streams[st.id] = st
	c.running++
	c.mu.Unlock()
	c.startStream(st)
	return nil
}

// workerLinger is how long a stream's goroutine waits for the next stream
// of its connection before it ends: on a busy connection streams reuse
// goroutines instead of starting one each.
const workerLinger = 20 * time.Millisecond

// startStream runs st's handler on an idle goroutine of the connection,
// or a new one.
func (c *Conn) startStream(st *stream) {
	select {
	case c.idleWorkers <- st:
	default:
		go c.worker(st)
	}
}

func (c *Conn) worker(st *stream) {
	var t *time.Timer
	for {
		st.run()
		if t == nil {
			t = time.NewTimer(workerLinger)
		} else {
			t.Reset(workerLinger)
		}
		select {
		case st = <-c.idleWorkers:
			t.Stop()
		case <-t.C:
			return
		case <-c.done:
			t.Stop()
			return
		}
	}
}

// endTrailers takes a request's trailer section. Its fields are not kept:
// a site sees the body, and what follows it is dropped as HTTP/1.1
// chunked trailers are.
func (c *Conn) endTrailers() error {
	b := &c.block
	c.mu.Lock()
	st := c.streams[b.id]
	c.mu.Unlock()
	if st == nil {
		return nil
	}
	if st.remoteDone {
		return c.streamError(b.id, http2.ErrCodeStreamClosed)
	}
	if !b.endStream || b.malformed || b.seen != 0 {
		return c.streamError(b.id, http2.ErrCodeProtocol)
	}
	return c.endBody(st)
}

// fillRequest builds the neutral request from the decoded fields,
// reporting false when they make a malformed request (RFC 9113 §8.1.1),
// which is a stream error. Requests that are well-formed but refused
// (too large, a bad path) get st.refuse.
func (c *Conn) fillRequest(st *stream) bool {
	b := &c.block
	_, method := st.bytesOf(st.pseudo[pseudoMethod])
	_, scheme := st.bytesOf(st.pseudo[pseudoScheme])
	_, authority := st.bytesOf(st.pseudo[pseudoAuthority])
	_, path := st.bytesOf(st.pseudo[pseudoPath])
	const all = 1<<pseudoMethod | 1<<pseudoScheme | 1<<pseudoPath
	r := &st.req
	*r = handlers.Request{
		Proto:         "HTTP/2.0",
		RemoteAddr:    c.o.RemoteAddr,
		TLS:           c.o.TLS,
		Received:      b.started,
		Ctx:           &st.life,
		Header:        &st.header,
		Body:          &st.br,
		ContentLength: -1,
	}
	if b.tooBig {
		st.refuse = 431
		r.Method = "GET"
		return true
	}
	if b.seen&(1<<pseudoMethod) == 0 || len(method) == 0 || !parser.ValidFieldName(method) {
		return false
	}
	r.Method = methodString(method)
	if r.Method == "CONNECT" {
		// RFC 9113 §8.5: :authority alone. Tunnels are not offered.
		if b.seen != 1<<pseudoMethod|1<<pseudoAuthority {
			return false
		}
		st.refuse = 405
	} else if b.seen&all != all || len(path) == 0 || len(scheme) == 0 {
		return false
	}
	var host []byte
	for _, s := range st.fields {
		name, value := st.bytesOf(s)
		st.header.Add(name, value)
		switch string(name) {
		case "host":
			if host != nil && !bytes.Equal(host, value) {
				return false
			}
			host = value
		case "content-length":
			n, ok := parser.ParseDecimal(value)
			if !ok || (st.declared >= 0 && st.declared != n) {
				return false
			}
			st.declared = n
		}
	}
	if b.seen&(1<<pseudoAuthority) != 0 {
		if host != nil && !bytes.Equal(host, authority) {
			return false // RFC 9113 §8.3.1
		}
		host = authority
	}
	r.Host = host
	if st.declared > 0 && b.endStream {
		return false // a length the stream has already ended without
	}
	switch {
	case b.endStream:
		r.ContentLength = 0
	case st.declared >= 0:
		r.ContentLength = st.declared
	}
	if st.refuse != 0 {
		return true
	}
	if !parser.ValidHost(host) {
		st.refuse = 400
		return true
	}
	if lim := c.lim.MaxBodyBytes; st.declared > 0 && (lim < 0 || st.declared > lim) {
		st.refuse = 413
		return true
	}
	r.Target = path
	if len(path) > c.lim.MaxTargetBytes {
		st.refuse = 414
		return true
	}
	if len(path) == 1 && path[0] == '*' {
		if r.Method != "OPTIONS" {
			return false
		}
		r.RawPath, r.Path = path, path
		return true
	}
	var err error
	r.RawPath, r.Path, r.RawQuery, st.pathBuf, err = parser.SplitOriginTarget(path, st.pathBuf[:0])
	if err != nil {
		st.refuse = 400
		if pe, ok := err.(*parser.Error); ok {
			st.refuse = pe.Status
		}
	}
	return true
}

// methodString interns the registered methods, so most requests allocate
// nothing for their method.
func methodString(b []byte) string {
	for _, m := range methods {
		if string(b) == m {
			return m
		}
	}
	return string(b)
}

var methods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"}

// onData takes a DATA frame's data; length is its whole payload, padding
// included, which flow control counts.
func (c *Conn) onData(id uint32, length int64, data []byte, endStream bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recvWindow -= length
	if c.recvWindow < 0 {
		return connError{http2.ErrCodeFlowControl, "DATA beyond the connection's window"}
	}
	st := c.streams[id]
	if st == nil || st.remoteDone {
		// Nobody will read it: the connection's credit comes back now.
		c.returnConnCredit(length)
		if st == nil && id > c.maxID {
			return protocolError("DATA on an idle stream")
		}
		if st != nil {
			c.resetLocked(st, http2.ErrCodeStreamClosed)
			return nil
		}
		c.w.control(func(b []byte) []byte { return appendRSTStream(b, id, http2.ErrCodeStreamClosed) })
		return nil
	}
	st.recvWindow -= length
	if st.recvWindow < 0 {
		c.returnConnCredit(length)
		c.resetLocked(st, http2.ErrCodeFlowControl)
		return nil
	}
	if len(data) == 0 && !endStream {
		if err := c.floods.emptyData.spend(); err != nil {
			return err
		}
	}
	// Padding is never read: its credit returns at once.
	c.returnConnCredit(length - int64(len(data)))
	st.credit += length - int64(len(data))
	st.received += int64(len(data))
	if st.declared >= 0 && st.received > st.declared {
		c.returnConnCredit(int64(len(data)))
		c.resetLocked(st, http2.ErrCodeProtocol)
		return nil
	}
	if lim := c.lim.MaxBodyBytes; st.bodyErr == nil && (lim < 0 && st.received > 0 || lim >= 0 && st.received > lim) {
		st.bodyErr = errBodyTooLarge
	}
	if st.bodyErr != nil || st.localDone {
		c.returnConnCredit(int64(len(data))) // dropped, not buffered
	} else {
		st.body = append(st.body, data...)
	}
	st.bodyCond.Broadcast()
	if endStream {
		c.mu.Unlock()
		err := c.endBody(st)
		c.mu.Lock()
		return err
	}
	return nil
}

var errBodyTooLarge = &parser.Error{Status: 413, Reason: "request body over max_body_bytes"}

// endBody marks the request complete: half-closed (remote).
func (c *Conn) endBody(st *stream) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !st.inTable {
		return nil
	}
	if st.declared >= 0 && st.received != st.declared {
		c.resetLocked(st, http2.ErrCodeProtocol)
		return nil
	}
	st.remoteDone = true
	st.bodyCond.Broadcast()
	if st.localDone {
		c.closeStreamLocked(st, false)
	}
	return nil
}

// returnConnCredit gives the client back connection window for bytes
// that left the buffers. Called with mu held.
func (c *Conn) returnConnCredit(n int64) {
	c.connCredit += n
	if c.connCredit >= connWindow/4 {
		inc := c.connCredit
		c.connCredit = 0
		c.recvWindow += inc
		c.w.control(func(b []byte) []byte { return appendWindowUpdate(b, 0, uint32(inc)) })
	}
}

// closeStreamLocked forgets st; abort also ends its handler's writes and
// reads. Called with mu held.
func (c *Conn) closeStreamLocked(st *stream, abort bool) {
	if st.inTable {
		st.inTable = false
		delete(c.streams, st.id)
		// What the handler left unread returns to the connection.
		c.returnConnCredit(int64(len(st.body) - st.bodyOff))
		st.body, st.bodyOff = st.body[:0], 0
	}
	if abort || !st.localDone || !st.remoteDone {
		st.reset = true
	}
	st.life.End()
	st.bodyCond.Broadcast()
	c.sendCond.Broadcast()
}

// run is the stream's goroutine: the handler, then the stream's end.
func (st *stream) run() {
	c := st.c
	st.w.reset()
	if st.refuse != 0 {
		c.o.Refuse(&st.w, &st.req, st.refuse)
	} else {
		c.o.Serve(&st.w, &st.req)
	}
	st.w.Finish()
	c.mu.Lock()
	st.localDone = true
	if st.inTable && st.remoteDone {
		c.closeStreamLocked(st, false)
	}
	// A stream whose request is still coming stays half-closed (local)
	// until it ends: its DATA is dropped and credited back, and the client
	// may still reset it or update its window, as RFC 9113 §5.1 lets it.
	// Its handler is done, so it costs a table entry and no goroutine.
	c.running--
	c.sendCond.Broadcast()
	c.mu.Unlock()
	st.w.release()
	st.release()
	// The reader may be waiting for the last stream to end the connection.
	c.wakeReader()
}
