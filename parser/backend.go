package parser

import (
	"bytes"
	"errors"
	"io"
	"math"
)

// The strict reading of responses that a reverse proxy gets from its
// backends. A proxy forwards what it reads to a client whose parser is not
// ours, so every response that two parsers could frame differently is
// refused, with 502, rather than guessed at: bare CR or LF, obs-fold,
// Transfer-Encoding beside Content-Length or in HTTP/1.0, codings other than
// chunked, disagreeing lengths, malformed chunks. Lines, field lines and
// chunked bodies are read by the same code as requests.

// ResponseLimits bound what a backend response may make the proxy hold.
// Exceeding one is answered 502. Zero fields take DefaultResponseLimits.
type ResponseLimits struct {
	MaxHeaderBytes   int // status line + fields + blank line; default 65536
	MaxHeaderCount   int // default 200
	MaxChunkExtBytes int // default 1024
	MaxTrailerBytes  int // default 16384
}

// DefaultResponseLimits are the limits zero fields take. They are wider than
// a client's (DefaultLimits): a backend is ours, and its responses carry
// what applications put there (cookies, CSP, link headers).
func DefaultResponseLimits() ResponseLimits { return defaultResponseLimits }

var defaultResponseLimits = ResponseLimits{
	MaxHeaderBytes:   65536,
	MaxHeaderCount:   200,
	MaxChunkExtBytes: 1024,
	MaxTrailerBytes:  16384,
}

func (l ResponseLimits) withDefaults() ResponseLimits {
	d := defaultResponseLimits
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxHeaderCount <= 0 {
		l.MaxHeaderCount = d.MaxHeaderCount
	}
	if l.MaxChunkExtBytes <= 0 {
		l.MaxChunkExtBytes = d.MaxChunkExtBytes
	}
	if l.MaxTrailerBytes <= 0 {
		l.MaxTrailerBytes = d.MaxTrailerBytes
	}
	return l
}

func (l *ResponseLimits) bufferSize() int {
	return framedBufferSize(l.MaxHeaderBytes, l.MaxTrailerBytes, l.MaxChunkExtBytes)
}

// bodyLimits: a response body has no size limit here. The proxy streams it
// on; whoever wants a bound counts what it copies.
func (l *ResponseLimits) bodyLimits() bodyLimits {
	return bodyLimits{
		maxBody:    math.MaxInt64,
		maxExt:     l.MaxChunkExtBytes,
		maxTrailer: l.MaxTrailerBytes,
		maxFields:  l.MaxHeaderCount,
	}
}

// Response is one response head read from a backend. Its slices point into
// the reader's buffer and are valid until the next ReadResponse or Release.
type Response struct {
	ProtoMinor int // 0 or 1: HTTP/1.0 or HTTP/1.1
	Status     int // 100-599
	Reason     []byte
	Header     Header

	// ContentLength is the length the head declares, -1 when it declares
	// none (chunked, close-delimited, or no Content-Length at all). For a
	// response that has no body whatever its fields say (HEAD, 1xx, 204,
	// 304) it is still the declared value, which describes the body a GET
	// would have had; no body follows (HasBody).
	ContentLength int64
	// Chunked: the head declares Transfer-Encoding: chunked. As with
	// ContentLength, a body follows only when HasBody.
	Chunked bool
	// CloseDelimited: the body runs until the backend closes (no
	// Content-Length, no chunked, on a status that has a body).
	CloseDelimited bool
	// KeepAlive: the connection can carry another request once this
	// response's body has been read to its end (HTTP/1.1 without
	// "Connection: close", HTTP/1.0 only with keep-alive, never when
	// close-delimited). Always false for a 1xx, whose final response
	// decides, and for 101 and a 2xx to CONNECT, after which the
	// connection is no longer HTTP.
	KeepAlive bool

	// Body reads the body decoded from its framing; never nil after
	// ReadResponse. It reads io.EOF at once when there is no body.
	Body *ResponseBody

	framing bodyKind
	hasBody bool
	tunnel  bool // 101 or a 2xx to CONNECT: the connection changes protocol
}

// HasBody reports whether a body follows the head on the connection (one
// that may still be empty, as with Content-Length: 0).
func (r *Response) HasBody() bool { return r.hasBody }

// reset clears r for reuse, keeping its field storage and its Body.
func (r *Response) reset() {
	fields := r.Header.fields[:0]
	body := r.Body
	*r = Response{Body: body}
	r.Header.fields = fields
}

// ParseResponseHead parses the response head at the start of buf into r,
// as read for a request of method method, and returns how many bytes it
// took, the blank line included. r.Body is left as it is: a ResponseReader
// sets it.
//
// Like ParseHead it is resumable: ErrNeedMore while buf holds a valid
// beginning of a head but not its end. Malformed input is refused as soon as
// a complete line shows it (the status line's "HTTP/x.y" at once), and
// MaxHeaderBytes is checked against a partial head. Every refusal is an
// *Error with Status 502. lim may be nil, and its zero fields take
// DefaultResponseLimits.
func ParseResponseHead(buf []byte, r *Response, lim *ResponseLimits, method string) (int, error) {
	l := defaultResponseLimits
	if lim != nil {
		l = lim.withDefaults()
	}
	r.reset()
	p := headParser{buf: buf, maxHead: l.MaxHeaderBytes}
	if err := p.statusLine(r); err != nil {
		return 0, toBackend(err)
	}
	if err := p.fields(&r.Header, l.MaxHeaderCount); err != nil {
		return 0, toBackend(err)
	}
	if err := r.interpret(method); err != nil {
		return 0, err
	}
	return p.pos, nil
}

// statusLine parses, RFC 9112 §4:
//
//	status-line   = HTTP-version SP status-code SP [ reason-phrase ]
//	status-code   = 3DIGIT
//	reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
//
// The SP before an empty reason may be missing: the line's end is
// unambiguous either way, and net/http and nginx accept it.
func (p *headParser) statusLine(r *Response) error {
	// The version's shape is judged on whatever has arrived of it, before
	// the line ends, so that a backend speaking something else (TLS, an
	// HTTP/2 preface, garbage without a line end) is refused at once.
	// The bytes before any CR or LF decide, so the refusal is the same
	// however the line arrives.
	start := p.lineRoom()
	if end := bytes.IndexAny(start, "\r\n"); end >= 0 {
		start = start[:end]
	}
	if !versionShape(start) {
		return errStatusLine
	}
	line, err := p.line()
	if err != nil {
		return err
	}
	if len(line) < 12 || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return errStatusLine
	}
	// HTTP-version = HTTP-name "/" DIGIT "." DIGIT (RFC 9112 §2.3). Only
	// 1.0 and 1.1 are spoken: a 1.2 would be read as 1.1 by RFC 9110
	// §2.5, but no such server exists, and a proxy has no business
	// guessing for one.
	if line[5] != '1' || line[7] > '1' {
		return errResponseVersion
	}
	code := line[9:12]
	if !isDigit(code[0]) || !isDigit(code[1]) || !isDigit(code[2]) {
		return errStatusLine
	}
	// RFC 9110 §15: status codes are 100-599; others are no HTTP.
	status := int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if status < 100 || status > 599 {
		return errStatusCode
	}
	var reason []byte
	if len(line) > 12 {
		reason = line[13:]
	}
	for _, c := range reason {
		if !isValueByte[c] {
			return errReasonPhrase // controls could reach a log or a client
		}
	}
	r.ProtoMinor = int(line[7] - '0')
	r.Status = status
	r.Reason = reason
	return nil
}

// versionShape reports whether b begins as HTTP-name "/" DIGIT "." DIGIT
// would, as far as it goes.
func versionShape(b []byte) bool {
	const shape = "HTTP/0.0"
	for i := 0; i < len(b) && i < len(shape); i++ {
		if shape[i] == '0' {
			if !isDigit(b[i]) {
				return false
			}
		} else if b[i] != shape[i] {
			return false
		}
	}
	return true
}

// interpret reads the fields that frame the body and decide persistence,
// RFC 9112 §6.3 and §9.3. Wherever a response could be framed two ways it
// is refused, since the client behind the proxy might take the other way.
func (r *Response) interpret(method string) error {
	var (
		haveCL     bool
		cl         int64
		clInvalid  bool
		clConflict bool
		teFields   int
		teChunked  bool
		connClose  bool
		connKeep   bool
	)
	for i := range r.Header.fields {
		f := &r.Header.fields[i]
		switch {
		case equalFold(f.Name, "content-length"):
			// RFC 9110 §8.6: Content-Length = 1*DIGIT. Repeated fields
			// and lists of the same decimal value are one length, as
			// the RFC allows: an upstream processor that combined
			// fields makes them. Anything else, an empty element
			// included, is no length at all.
			elems := 0
			forEachListElement(f.Value, func(e []byte) bool {
				elems++
				n, ok := parseDecimal(e)
				if !ok {
					clInvalid = true
					return false
				}
				if haveCL && n != cl {
					clConflict = true
				}
				haveCL, cl = true, n
				return true
			})
			if elems == 0 || elems != bytes.Count(f.Value, comma)+1 {
				clInvalid = true
			}
		case equalFold(f.Name, "transfer-encoding"):
			teFields++
			teChunked = equalFold(f.Value, "chunked")
		case equalFold(f.Name, "connection"):
			forEachListElement(f.Value, func(e []byte) bool {
				if equalFold(e, "close") {
					connClose = true
				} else if equalFold(e, "keep-alive") {
					connKeep = true
				}
				return true
			})
		}
	}

	r.ContentLength = -1
	switch {
	case r.Status == 101:
		// RFC 9110 §15.2: HTTP/1.0 has no 1xx, and no Upgrade (§7.8):
		// a 1.0 server cannot switch.
		if r.ProtoMinor == 0 {
			return errSwitchHTTP10
		}
		r.tunnel = true
	case method == "CONNECT" && r.Status/100 == 2:
		// RFC 9112 §6.3, item 2: the connection is a tunnel from the
		// blank line on, and a client MUST ignore Content-Length and
		// Transfer-Encoding here.
		r.tunnel = true
		return nil
	}

	switch {
	case clInvalid:
		return errRespContentLength
	case clConflict:
		return errRespCLConflict
	}
	if teFields > 0 {
		switch {
		case r.ProtoMinor == 0:
			// RFC 9112 §6.1: HTTP/1.0 has no transfer codings, so a
			// 1.0 response with one was framed by something confused.
			return errRespTEHTTP10
		case haveCL:
			// RFC 9112 §6.1: Transfer-Encoding overrides Content-Length
			// but "ought to be handled as an error": the smuggling shape.
			return errRespCLAndTE
		case teFields > 1 || !teChunked:
			// RFC 9112 §6.3, item 4 would read a response whose final
			// coding is not chunked to the close; but a proxy cannot
			// decode other codings to re-frame them, and a list
			// ("gzip, chunked") is a coding it would pass on unread.
			return errRespTE
		}
		r.Chunked = true
	} else if haveCL {
		r.ContentLength = cl
	}

	// RFC 9112 §6.3, item 1: a response to HEAD and every 1xx, 204 and 304
	// ends at its blank line, whatever its fields say.
	r.hasBody = method != "HEAD" && r.Status >= 200 && r.Status != 204 && r.Status != 304
	switch {
	case !r.hasBody:
	case r.Chunked:
		r.framing = bodyChunked
	case haveCL:
		r.framing = bodyFixed
	default:
		// RFC 9112 §6.3, item 8: no length, so to the close.
		r.framing = bodyToEOF
		r.CloseDelimited = true
	}

	// RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with
	// "keep-alive". A body that ends at the close ends the connection.
	switch {
	case r.Status < 200 || r.CloseDelimited:
	case r.ProtoMinor >= 1:
		r.KeepAlive = !connClose
	default:
		r.KeepAlive = connKeep && !connClose
	}
	return nil
}

// ResponseBody reads a response body decoded from its framing: a fixed
// length, the chunked coding, or everything until the backend closes. Read
// returns io.EOF at the body's end, an *Error with Status 502 for a
// malformed body, io.ErrUnexpectedEOF when the backend closes mid-body, and
// other connection errors as they are.
type ResponseBody struct {
	framedBody

	// Trailer holds the trailer fields of a chunked body once it has been
	// read to its end. They never affect framing.
	Trailer Header
}

func (b *ResponseBody) reset(rd *ResponseReader, resp *Response) {
	trailer := b.Trailer.fields[:0]
	*b = ResponseBody{}
	b.Trailer.fields = trailer
	length := int64(0)
	if resp.hasBody && resp.framing == bodyFixed {
		length = resp.ContentLength
	}
	b.start(&rd.connBuffer, rd.lim.bodyLimits(), resp.framing, length)
}

// Read reads decoded body bytes.
func (b *ResponseBody) Read(p []byte) (int, error) {
	n, err := b.read(p, int64(len(p)), &b.Trailer)
	if err != nil && err != io.EOF {
		err = toBackend(err)
	}
	return n, err
}

// Done reports whether the body has been read to its end, cleanly.
func (b *ResponseBody) Done() bool { return b.done }

// Drain reads and drops up to max bytes to reach the body's end, and
// reports whether it got there cleanly: then the connection can carry the
// next request if the response's KeepAlive says so.
func (b *ResponseBody) Drain(max int64) bool { return b.drain(max, &b.Trailer) }

// ResponseReader reads responses from one backend connection into a pooled
// buffer, as Reader reads requests. It does no I/O policy: deadlines belong
// to the caller.
type ResponseReader struct {
	connBuffer
	lim      ResponseLimits
	resp     Response
	body     ResponseBody
	switched bool  // after a 101 or a CONNECT tunnel: the rest is not HTTP
	failed   error // sticky: the connection must be discarded
}

// NewResponseReader returns a ResponseReader of src that enforces lim (zero
// fields take DefaultResponseLimits).
func NewResponseReader(src io.Reader, lim ResponseLimits) *ResponseReader {
	rd := &ResponseReader{}
	rd.Reset(src, lim)
	return rd
}

// Reset makes rd read a new connection, keeping its Response for reuse.
// Whatever was buffered from the previous one is dropped.
func (rd *ResponseReader) Reset(src io.Reader, lim ResponseLimits) {
	rd.lim = lim.withDefaults()
	if size := rd.lim.bufferSize(); rd.buf != nil && len(rd.buf) != size {
		rd.releaseBuffer()
	}
	rd.connBuffer.reset(src, rd.lim.bufferSize())
	rd.body = ResponseBody{Trailer: Header{fields: rd.body.Trailer.fields[:0]}}
	rd.body.done = true
	rd.switched, rd.failed = false, nil
}

var (
	errResponseBodyPending = errors.New("parser: previous response body not finished")
	errSwitched            = errors.New("parser: connection switched protocols; no more responses")
)

// ReadResponse reads the next response head, for a request of method method
// (HEAD: no body whatever the fields say; RFC 9112 §6.3). The Response and
// everything it points to are valid until the next call or Release.
//
// A 1xx other than 101 is returned alone, with an empty body: call again
// for the next, until the final response. 101 is returned as it is, and a
// 2xx to CONNECT too: what follows on the connection is the new protocol's,
// and TakeBuffered hands over the bytes of it already read.
//
// Every refusal is an *Error with Status 502, after which the connection
// must be discarded. io.EOF means the backend closed before a response
// began (on a reused connection, a request it may never have seen);
// io.ErrUnexpectedEOF that it closed in the middle of a head. Errors stick:
// once one is returned, every later call returns it again.
//
// The previous response's body must have been read to its end or drained
// first.
func (rd *ResponseReader) ReadResponse(method string) (*Response, error) {
	if rd.failed != nil {
		return nil, rd.failed
	}
	if rd.switched {
		return nil, errSwitched
	}
	if !rd.body.done {
		return nil, errResponseBodyPending
	}
	rd.unpin()
	resp := &rd.resp
	for {
		// Until the version has arrived every byte is judged, so that
		// a backend speaking something else is refused at once however
		// it trickles; then, as for requests, at each line end.
		if rd.w > 0 && (rd.w <= len("HTTP/1.1") || rd.worthParsing(rd.lim.MaxHeaderBytes)) {
			n, err := ParseResponseHead(rd.buf[:rd.w], resp, &rd.lim, method)
			if err == nil {
				return rd.accept(resp, n), nil
			}
			if err != ErrNeedMore {
				rd.failed = err
				return nil, err
			}
		}
		if err := rd.fill(); err != nil {
			if err == io.EOF {
				err = rd.endedInHead(resp, method)
			}
			rd.failed = err
			return nil, err
		}
	}
}

// endedInHead is the verdict when the backend closes before a head ends:
// a refusal that the bytes it sent already deserve, whether or not a parse
// was due, so that the answer does not depend on how they were split; else
// a truncation.
func (rd *ResponseReader) endedInHead(resp *Response, method string) error {
	if rd.w == 0 {
		return io.EOF
	}
	if _, err := ParseResponseHead(rd.buf[:rd.w], resp, &rd.lim, method); err != nil && err != ErrNeedMore {
		return err
	}
	return io.ErrUnexpectedEOF
}

func (rd *ResponseReader) accept(resp *Response, n int) *Response {
	rd.r, rd.keep = n, n
	rd.body.reset(rd, resp)
	resp.Body = &rd.body
	rd.switched = resp.tunnel
	return resp
}

// TakeBuffered hands over the bytes read from the connection past the
// current response and forgets them: after a 101 or a CONNECT tunnel they
// are the new protocol's. The slice is the caller's own.
func (rd *ResponseReader) TakeBuffered() []byte {
	if rd.r == rd.w {
		return nil
	}
	b := append([]byte(nil), rd.buf[rd.r:rd.w]...)
	rd.r = rd.w
	return b
}

// Buffered is the number of bytes read from the connection and not yet
// consumed: the start of a pipelined response, for instance.
func (rd *ResponseReader) Buffered() int { return rd.w - rd.r }

// Release gives the buffer back to the pool when the reader is idle: the
// body read to its end and nothing unread; or when the reader has failed
// and the connection is to be discarded. The current Response's slices
// point into the buffer: they are invalid after a Release that releases.
// The buffer is taken again on the next read.
func (rd *ResponseReader) Release() {
	if rd.buf == nil {
		return
	}
	dead := rd.failed != nil || rd.body.err != nil
	if !dead && (rd.r < rd.w || !rd.body.done) {
		return
	}
	rd.releaseBuffer()
}
