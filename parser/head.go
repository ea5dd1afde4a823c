package parser

import "bytes"

// ParseHead parses the request head at the start of buf into r and returns how
// many bytes it took, the blank line included.
//
// ParseHead is resumable: while buf holds a valid beginning but not the end of
// a head it returns ErrNeedMore, and the caller calls again with more bytes.
// Malformed input is refused as soon as a complete line shows it, and limits
// are checked against the partial head too, so a client cannot make the
// server wait for bytes it will refuse anyway. Every refusal is an *Error.
//
// The slices in r point into buf; r's previous contents are discarded.
func ParseHead(buf []byte, r *Request, lim *Limits) (int, error) {
	r.reset()
	p := headParser{buf: buf, maxHead: lim.MaxHeaderBytes, lim: lim}

	// RFC 9112 §2.2: a server SHOULD ignore at least one empty line received
	// before the request-line. We ignore up to two.
	for i := 0; i < 2 && bytes.HasPrefix(p.buf[p.pos:], crlf); i++ {
		p.pos += 2
	}
	if err := p.requestLine(r); err != nil {
		return 0, err
	}
	if err := p.fields(&r.Header, lim.MaxHeaderCount); err != nil {
		return 0, err
	}
	if err := r.interpret(lim); err != nil {
		return 0, err
	}
	return p.pos, nil
}

var crlf = []byte("\r\n")

// headParser reads the lines of a head, requests' and responses' alike.
type headParser struct {
	buf     []byte
	pos     int
	maxHead int     // MaxHeaderBytes: no line is judged past it
	lim     *Limits // a request's; nil for a response
}

// line returns the next line without its CRLF and moves past it, or
// ErrNeedMore. A CR not followed by LF, or an LF not preceded by CR, is
// refused: RFC 9112 §2.2 lets a recipient accept a bare LF, but a proxy in
// front of us may not, and agreeing on where lines end is what keeps
// messages from being smuggled.
func (p *headParser) line() ([]byte, error) {
	rest := p.lineRoom()
	i := bytes.IndexByte(rest, '\n')
	scan := rest
	if i >= 0 {
		scan = rest[:i]
	}
	// A CR may stand only right before the LF, or last in the buffer while
	// its LF has not arrived.
	if j := bytes.IndexByte(scan, '\r'); j >= 0 && j != len(scan)-1 {
		return nil, errBareCR
	}
	if i < 0 {
		if p.pos+len(rest) >= p.maxHead {
			return nil, errHeadTooLarge
		}
		return nil, ErrNeedMore
	}
	if i == 0 || rest[i-1] != '\r' {
		return nil, errBareLF
	}
	p.pos += i + 1
	return rest[:i-1], nil
}

// lineRoom returns the unparsed bytes that fit within MaxHeaderBytes. Bytes
// beyond the limit are never judged, so a head is refused for the same
// reason whether or not more of it arrived after the point of refusal.
func (p *headParser) lineRoom() []byte {
	rest := p.buf[p.pos:]
	if room := max(p.maxHead-p.pos, 0); len(rest) > room {
		rest = rest[:room]
	}
	return rest
}

// requestLine parses, RFC 9112 §3:
//
//	request-line = method SP request-target SP HTTP-version
//
// with exactly one SP between the parts.
func (p *headParser) requestLine(r *Request) error {
	line, err := p.line()
	if err != nil {
		// Judge, in order, what arrived before the line's end: garbage is
		// refused at once, an over-long target gets 414 rather than 431,
		// and a line is refused for the same reason whether it arrived
		// whole or piece by piece.
		start := p.lineRoom()
		atLimit := p.pos+len(start) >= p.maxHead
		if end := bytes.IndexAny(start, "\r\n"); end >= 0 {
			start, atLimit = start[:end], false
		}
		if perr := checkPartialRequestLine(start, atLimit, p.lim); perr != nil {
			return perr
		}
		return err
	}

	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errRequestLine
	}
	method := line[:sp1]
	for _, c := range method {
		if !isTokenByte[c] {
			return errMethod
		}
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	target := rest
	if sp2 >= 0 {
		target = rest[:sp2]
	}
	// The target is judged before what follows it, as on a partial line.
	if err := checkTarget(target, p.lim.MaxTargetBytes); err != nil {
		return err
	}
	if sp2 < 0 || len(target) == 0 {
		return errRequestLine
	}
	version := rest[sp2+1:]
	major, minor, err := parseVersion(version)
	if err != nil {
		return err
	}
	r.Method = internMethod(method)
	r.Target = target
	r.ProtoMajor, r.ProtoMinor = major, minor
	return r.splitTarget()
}

// checkPartialRequestLine judges the beginning of a request line, up to
// where its line end (or the header limit) is or will be. atLimit says that
// b reaches the header limit: a target still going on there is answered
// 414, since it is the target that can never fit.
func checkPartialRequestLine(b []byte, atLimit bool, lim *Limits) error {
	sp1 := bytes.IndexByte(b, ' ')
	method := b
	if sp1 >= 0 {
		method = b[:sp1]
	}
	if sp1 == 0 {
		return errRequestLine
	}
	for _, c := range method {
		if !isTokenByte[c] {
			return errMethod
		}
	}
	if sp1 < 0 {
		return nil
	}
	target := b[sp1+1:]
	sp2 := bytes.IndexByte(target, ' ')
	if sp2 >= 0 {
		target = target[:sp2]
	}
	if err := checkTarget(target, lim.MaxTargetBytes); err != nil {
		return err
	}
	if atLimit && sp2 < 0 {
		return errTargetTooLong
	}
	return nil
}

// checkTarget judges the bytes of a request-target in order: the first one
// not allowed, or the first one past the limit, decides. So the answer is
// the same whether the whole target has arrived or only part of it.
func checkTarget(target []byte, max int) error {
	for i, c := range target {
		if i >= max {
			return errTargetTooLong
		}
		if !isTargetByte[c] {
			return errTargetByte
		}
	}
	return nil
}

// parseVersion parses HTTP-version = HTTP-name "/" DIGIT "." DIGIT, case
// sensitive (RFC 9112 §2.3). 1.x is served as 1.1 would be; 2 and above get
// 505, as does 0.9, which has no version field to speak of.
func parseVersion(v []byte) (major, minor int, err error) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]) {
		return 0, 0, errVersion
	}
	major, minor = int(v[5]-'0'), int(v[7]-'0')
	if major != 1 {
		return 0, 0, errVersionSupported
	}
	return major, minor, nil
}

// fields parses header field lines up to and including the blank line
// (RFC 9112 §5):
//
//	field-line = field-name ":" OWS field-value OWS
func (p *headParser) fields(h *Header, maxCount int) error {
	for {
		line, err := p.line()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			// RFC 9112 §5.2: obs-fold is refused with 400 in a request.
			return errObsFold
		}
		if len(h.fields) >= maxCount {
			return errTooManyFields
		}
		f, err := parseFieldLine(line)
		if err != nil {
			return err
		}
		h.fields = append(h.fields, f)
	}
}

func parseFieldLine(line []byte) (Field, error) {
	colon := -1
	for i, c := range line {
		if c == ':' {
			colon = i
			break
		}
		if !isTokenByte[c] {
			if c == ' ' || c == '\t' {
				// RFC 9112 §5.1: no whitespace between name and colon; a
				// server MUST reject such a message with 400.
				return Field{}, errSpaceBeforeColon
			}
			return Field{}, errFieldName
		}
	}
	if colon < 0 {
		return Field{}, errNoColon
	}
	if colon == 0 {
		return Field{}, errFieldName
	}
	value := trimOWS(line[colon+1:])
	for _, c := range value {
		if !isValueByte[c] {
			return Field{}, errFieldValue
		}
	}
	return Field{Name: line[:colon], Value: value}, nil
}
