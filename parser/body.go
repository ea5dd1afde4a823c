package parser

import (
	"bytes"
	"io"
)

// bodyKind is how a body's end is found (RFC 9112 §6.3).
type bodyKind uint8

const (
	bodyFixed   bodyKind = iota // Content-Length bytes (zero for no body)
	bodyChunked                 // the chunked coding, to its last chunk and trailer
	bodyToEOF                   // until the sender closes: responses only
)

type chunkState uint8

const (
	chunkSize    chunkState = iota // expecting a chunk-size line
	chunkData                      // inside chunk data
	chunkDataEnd                   // expecting the CRLF after chunk data
	chunkTrailer                   // expecting the trailer section
)

// bodyLimits bound what a chunked body's framing may make us hold.
type bodyLimits struct {
	maxBody    int64 // decoded bytes
	maxExt     int   // chunk extensions on one chunk-size line
	maxTrailer int   // the whole trailer section
	maxFields  int   // trailer field lines
}

// framedBody reads one message body from its framing, for requests and
// responses alike: one chunked decoder, so that the server and the proxy
// can never disagree on where a chunked body ends. It never reads past the
// end of the body, so the next message on the connection starts exactly
// where this one ends.
//
// Refusals are the request parser's *Error values (status 400); a
// ResponseBody turns them into their 502 twins.
type framedBody struct {
	cb        *connBuffer
	lim       bodyLimits
	kind      bodyKind
	state     chunkState
	remaining int64 // of the whole body, or of the current chunk
	total     int64 // decoded so far, for the size limit
	done      bool  // read to its end, cleanly
	err       error // sticky
}

// start frames a new body: length bytes for bodyFixed (0: none).
func (f *framedBody) start(cb *connBuffer, lim bodyLimits, kind bodyKind, length int64) {
	*f = framedBody{cb: cb, lim: lim, kind: kind}
	if kind == bodyFixed {
		f.remaining = length
		f.done = length == 0
	}
}

// read copies up to len(p) decoded body bytes into p or, when p is nil,
// drops up to max of them. At the end of the body it returns io.EOF, with
// the trailer fields of a chunked body appended to trailer.
func (f *framedBody) read(p []byte, max int64, trailer *Header) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	if f.done {
		return 0, io.EOF
	}
	if p != nil {
		max = int64(len(p))
	}
	if max <= 0 {
		return 0, nil
	}
	var n int
	var err error
	switch f.kind {
	case bodyChunked:
		n, err = f.readChunked(p, max, trailer)
	case bodyToEOF:
		// The sender closing is this body's end, and the only one it
		// has: a close-delimited body cannot be told from a truncated
		// one (RFC 9112 §6.3, item 8).
		n, err = f.take(p, max)
	default:
		n, err = f.readFixed(p, max)
	}
	if err == io.EOF {
		f.done = true
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	}
	f.err = err
	return n, err
}

// take moves up to n body bytes from the connection: into p (n <= len(p))
// or, when p is nil, nowhere.
func (f *framedBody) take(p []byte, n int64) (int, error) {
	if p == nil {
		return f.cb.skipBody(n)
	}
	if int64(len(p)) > n {
		p = p[:n]
	}
	return f.cb.readBody(p)
}

func (f *framedBody) readFixed(p []byte, max int64) (int, error) {
	n, err := f.take(p, min(max, f.remaining))
	f.remaining -= int64(n)
	if f.remaining == 0 {
		f.done = true
		return n, nil
	}
	if err == io.EOF {
		err = errBodyTruncated
	}
	return n, err
}

func (f *framedBody) readChunked(p []byte, max int64, trailer *Header) (int, error) {
	for {
		switch f.state {
		case chunkSize:
			size, err := f.readChunkSize()
			if err != nil {
				return 0, err
			}
			if size == 0 {
				f.state = chunkTrailer
				continue
			}
			if size > f.lim.maxBody-f.total {
				return 0, errBodyTooLarge
			}
			f.remaining = size
			f.state = chunkData
		case chunkData:
			n, err := f.take(p, min(max, f.remaining))
			f.remaining -= int64(n)
			f.total += int64(n)
			if f.remaining == 0 {
				f.state = chunkDataEnd
			}
			if n > 0 {
				return n, nil
			}
			if err == io.EOF {
				err = errBodyTruncated
			}
			return 0, err
		case chunkDataEnd:
			line, err := f.cb.bodyLine(2)
			if err != nil {
				if err == errBodyLineTooLong || err == errBareLF {
					return 0, errChunkCRLF
				}
				return 0, err
			}
			if len(line) != 0 {
				return 0, errChunkCRLF
			}
			f.state = chunkSize
		case chunkTrailer:
			if err := f.readTrailer(trailer); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
	}
}

// readChunkSize parses, RFC 9112 §7.1:
//
//	chunk-size = 1*HEXDIG
//	chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//
// Extensions are checked for shape and skipped; their length is bounded.
func (f *framedBody) readChunkSize() (int64, error) {
	line, err := f.cb.bodyLine(16 + f.lim.maxExt + 2)
	if err == errBodyLineTooLong {
		return 0, errChunkExtTooLong
	}
	if err != nil {
		return 0, err
	}
	i := 0
	var size int64
	for ; i < len(line); i++ {
		d, ok := unhex(line[i])
		if !ok {
			break
		}
		if i >= 15 {
			return 0, errChunkSize // more than 60 bits of size: overflow bait
		}
		size = size<<4 | int64(d)
	}
	if i == 0 {
		return 0, errChunkSize
	}
	ext := line[i:]
	if len(ext) > f.lim.maxExt {
		return 0, errChunkExtTooLong
	}
	if !validChunkExt(ext) {
		return 0, errChunkExt
	}
	return size, nil
}

// validChunkExt checks *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ).
func validChunkExt(ext []byte) bool {
	skipWS := func() {
		for len(ext) > 0 && (ext[0] == ' ' || ext[0] == '\t') {
			ext = ext[1:]
		}
	}
	token := func() bool {
		n := 0
		for n < len(ext) && isTokenByte[ext[n]] {
			n++
		}
		ext = ext[n:]
		return n > 0
	}
	for {
		skipWS()
		if len(ext) == 0 {
			return true
		}
		if ext[0] != ';' {
			return false
		}
		ext = ext[1:]
		skipWS()
		if !token() {
			return false
		}
		skipWS()
		if len(ext) == 0 || ext[0] != '=' {
			continue
		}
		ext = ext[1:]
		skipWS()
		if len(ext) > 0 && ext[0] == '"' {
			end := quotedStringEnd(ext)
			if end < 0 {
				return false
			}
			ext = ext[end:]
		} else if !token() {
			return false
		}
	}
}

// quotedStringEnd returns the length of the quoted-string at the start of s
// (RFC 9110 §5.6.4), or -1.
func quotedStringEnd(s []byte) int {
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			i++
			if i >= len(s) || !isValueByte[s[i]] {
				return -1
			}
		case !isValueByte[c]:
			return -1
		}
	}
	return -1
}

// readTrailer parses the trailer section up to its blank line, bounded by
// maxTrailer (RFC 9112 §7.1.2).
func (f *framedBody) readTrailer(trailer *Header) error {
	budget := f.lim.maxTrailer
	for {
		line, err := f.cb.bodyLine(budget)
		if err == errBodyLineTooLong {
			return errTrailerTooLarge
		}
		if err != nil {
			return err
		}
		budget -= len(line) + 2
		if len(line) == 0 {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errObsFold
		}
		if trailer.Len() >= f.lim.maxFields {
			return errTrailerTooLarge
		}
		fl, err := parseFieldLine(line)
		if err != nil {
			return err
		}
		trailer.fields = append(trailer.fields, fl)
	}
}

// drain reads and drops up to max bytes to reach the body's end, and
// reports whether it got there cleanly.
func (f *framedBody) drain(max int64, trailer *Header) bool {
	if f.done {
		return f.err == nil
	}
	if f.err != nil {
		return false
	}
	for max > 0 {
		n, err := f.read(nil, max, trailer)
		max -= int64(n)
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	if !f.done {
		// The allowance is spent, but a chunked body may still end here:
		// its last chunk and trailer carry no data. One more read tells.
		n, err := f.read(nil, 1, trailer)
		return n == 0 && err == io.EOF
	}
	return true
}

// Body reads a request body framed as the head declared: nothing, exactly
// Content-Length bytes, or the chunked coding (RFC 9112 §7.1), which it
// decodes. It never reads past the end of the body it declared, so the next
// request on the connection starts exactly where this body ends.
type Body struct {
	framedBody

	// Trailer holds the trailer fields of a chunked body once it has been
	// read to its end. They never affect framing.
	Trailer Header

	// Continue, when set on a request that expects it, is called before
	// the first read, for the connection to send "100 Continue": the
	// client then knows the body is wanted (RFC 9110 §10.1.1). A body
	// never read is never asked for. The parser itself never writes.
	Continue     func() error
	expect       bool
	continueSent bool
}

func (b *Body) reset(rd *Reader, req *Request) {
	trailer := b.Trailer.fields[:0]
	*b = Body{expect: req.ExpectContinue}
	b.Trailer.fields = trailer
	if req.Chunked {
		b.start(&rd.connBuffer, rd.lim.bodyLimits(), bodyChunked, 0)
	} else {
		b.start(&rd.connBuffer, rd.lim.bodyLimits(), bodyFixed, req.ContentLength)
	}
}

// Read reads decoded body bytes. It returns io.EOF at the end of the body and
// an *Error for a malformed or over-long one.
func (b *Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.expect && !b.continueSent && b.Continue != nil {
		b.continueSent = true
		if err := b.Continue(); err != nil {
			b.err = err
			return 0, err
		}
	}
	return b.read(p, 0, &b.Trailer)
}

// Done reports whether the body has been read to its end.
func (b *Body) Done() bool { return b.done }

// Drain reads and discards what is left of the body, up to max bytes, and
// reports whether the connection can carry another request. A body whose
// client still waits for 100 Continue was never sent: the connection is
// closed rather than reading it.
func (b *Body) Drain(max int64) bool {
	if !b.done && b.expect && !b.continueSent {
		return false
	}
	return b.drain(max, &b.Trailer)
}

var errBodyLineTooLong = &Error{Status: 400, Reason: "line in body framing too long"}

// bodyLine returns the next CRLF-terminated line of the body framing
// (chunk-size lines, the CRLF after data, trailer lines) without its CRLF,
// refusing a line longer than max bytes with its CRLF, and bare CR or LF.
func (cb *connBuffer) bodyLine(max int) ([]byte, error) {
	cb.ensureRoom(max)
	for {
		avail := cb.buf[cb.r:cb.w]
		if i := bytes.IndexByte(avail, '\n'); i >= 0 {
			if i+1 > max {
				return nil, errBodyLineTooLong
			}
			if i == 0 || avail[i-1] != '\r' {
				return nil, errBareLF
			}
			line := avail[:i-1]
			if bytes.IndexByte(line, '\r') >= 0 {
				return nil, errBareCR
			}
			cb.r += i + 1
			return line, nil
		}
		if len(avail) >= max {
			return nil, errBodyLineTooLong
		}
		if err := cb.fill(); err != nil {
			if err == io.EOF {
				return nil, errBodyTruncated
			}
			return nil, err
		}
	}
}
