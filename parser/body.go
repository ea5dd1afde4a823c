package parser

import (
	"bytes"
	"io"
)

type chunkState uint8

const (
	chunkSize    chunkState = iota // expecting a chunk-size line
	chunkData                      // inside chunk data
	chunkDataEnd                   // expecting the CRLF after chunk data
	chunkTrailer                   // expecting the trailer section
)

// Body reads a request body framed as the head declared: nothing, exactly
// Content-Length bytes, or the chunked coding (RFC 9112 §7.1), which it
// decodes. It never reads past the end of the body it declared, so the next
// request on the connection starts exactly where this body ends.
type Body struct {
	rd        *Reader
	chunked   bool
	state     chunkState
	remaining int64 // of the whole body, or of the current chunk
	total     int64 // decoded so far, for the size limit
	done      bool
	err       error

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
	*b = Body{rd: rd, chunked: req.Chunked, expect: req.ExpectContinue}
	b.Trailer.fields = trailer
	if req.Chunked {
		b.remaining = 0
	} else {
		b.remaining = req.ContentLength
		b.done = b.remaining == 0
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
	var n int
	var err error
	if b.chunked {
		n, err = b.readChunked(p)
	} else {
		n, err = b.readFixed(p)
	}
	if err == io.EOF {
		b.done = true
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	}
	b.err = err
	return n, err
}

func (b *Body) readFixed(p []byte) (int, error) {
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.rd.readBody(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.done = true
		return n, nil
	}
	if err == io.EOF {
		err = errBodyTruncated
	}
	return n, err
}

func (b *Body) readChunked(p []byte) (int, error) {
	for {
		switch b.state {
		case chunkSize:
			size, err := b.readChunkSize()
			if err != nil {
				return 0, err
			}
			if size == 0 {
				b.state = chunkTrailer
				continue
			}
			if b.total+size > b.rd.lim.MaxBodyBytes {
				return 0, errBodyTooLarge
			}
			b.remaining = size
			b.state = chunkData
		case chunkData:
			if int64(len(p)) > b.remaining {
				p = p[:b.remaining]
			}
			n, err := b.rd.readBody(p)
			b.remaining -= int64(n)
			b.total += int64(n)
			if b.remaining == 0 {
				b.state = chunkDataEnd
			}
			if n > 0 {
				return n, nil
			}
			if err == io.EOF {
				err = errBodyTruncated
			}
			return 0, err
		case chunkDataEnd:
			line, err := b.rd.bodyLine(2)
			if err != nil {
				if err == errBodyLineTooLong || err == errBareLF {
					return 0, errChunkCRLF
				}
				return 0, err
			}
			if len(line) != 0 {
				return 0, errChunkCRLF
			}
			b.state = chunkSize
		case chunkTrailer:
			if err := b.readTrailer(); err != nil {
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
func (b *Body) readChunkSize() (int64, error) {
	line, err := b.rd.bodyLine(16 + b.rd.lim.MaxChunkExtBytes + 2)
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
	if len(ext) > b.rd.lim.MaxChunkExtBytes {
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
// MaxTrailerBytes (RFC 9112 §7.1.2).
func (b *Body) readTrailer() error {
	budget := b.rd.lim.MaxTrailerBytes
	for {
		line, err := b.rd.bodyLine(budget)
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
		if b.Trailer.Len() >= b.rd.lim.MaxHeaderCount {
			return errTrailerTooLarge
		}
		f, err := parseFieldLine(line)
		if err != nil {
			return err
		}
		b.Trailer.fields = append(b.Trailer.fields, f)
	}
}

// Done reports whether the body has been read to its end.
func (b *Body) Done() bool { return b.done }

// Drain reads and discards what is left of the body, up to max bytes, and
// reports whether the connection can carry another request. A body whose
// client still waits for 100 Continue was never sent: the connection is
// closed rather than reading it.
func (b *Body) Drain(max int64) bool {
	if b.done {
		return b.err == nil
	}
	if b.err != nil || (b.expect && !b.continueSent) {
		return false
	}
	var scratch [4096]byte
	for max > 0 {
		p := scratch[:]
		if int64(len(p)) > max {
			p = p[:max]
		}
		n, err := b.Read(p)
		max -= int64(n)
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	if !b.done {
		// The allowance is spent, but a chunked body may still end here:
		// its last chunk and trailer carry no data. One more read tells.
		n, err := b.Read(scratch[:1])
		return n == 0 && err == io.EOF
	}
	return true
}

var errBodyLineTooLong = &Error{Status: 400, Reason: "line in body framing too long"}

// bodyLine returns the next CRLF-terminated line of the body framing
// (chunk-size lines, the CRLF after data, trailer lines) without its CRLF,
// refusing a line longer than max bytes with its CRLF, and bare CR or LF.
func (rd *Reader) bodyLine(max int) ([]byte, error) {
	rd.ensureRoom(max)
	for {
		avail := rd.buf[rd.r:rd.w]
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
			rd.r += i + 1
			return line, nil
		}
		if len(avail) >= max {
			return nil, errBodyLineTooLong
		}
		if err := rd.fill(); err != nil {
			if err == io.EOF {
				return nil, errBodyTruncated
			}
			return nil, err
		}
	}
}
