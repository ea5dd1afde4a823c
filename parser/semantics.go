package parser

import "bytes"

// interpret reads the header fields that decide how the message is framed and
// routed: Host, Content-Length, Transfer-Encoding, Connection and Expect.
// Framing follows RFC 9112 §6.3; wherever two readings of a message are
// possible, it is refused, because a proxy in front of us might pick the
// other one.
func (r *Request) interpret(lim *Limits) error {
	var (
		hosts      int
		host       []byte
		haveCL     bool
		cl         int64
		clValue    []byte
		teFields   int
		teCodings  int
		teLast     []byte
		teChunked  int
		teOther    bool
		teInvalid  bool
		expectBad  bool
		expect100  bool
		connClose  bool
		connKeep   bool
		clInvalid  bool
		clConflict bool
	)
	for i := range r.Header.fields {
		f := &r.Header.fields[i]
		switch {
		case equalFold(f.Name, "host"):
			hosts++
			host = f.Value
		case equalFold(f.Name, "content-length"):
			// RFC 9110 §8.6: Content-Length = 1*DIGIT. Repeated fields
			// are taken as one only when their values are byte-identical,
			// as net/http requires: a proxy that compares the text would
			// refuse "05" beside "5", and one that parses "5, 5" as a
			// number fails, so accepting either would make us read a
			// message that the hop before us reads differently or not at
			// all. A list in one field is therefore no Content-Length.
			n, ok := parseDecimal(f.Value)
			if !ok {
				clInvalid = true
				break
			}
			if haveCL && string(f.Value) != string(clValue) {
				clConflict = true
			}
			haveCL, cl, clValue = true, n, f.Value
		case equalFold(f.Name, "transfer-encoding"):
			teFields++
			// An empty element, or an empty field beside another, would
			// be ignored by RFC 9110 §5.6.1, but a proxy that takes one
			// field reading exactly "chunked" (net/http, nginx) refuses
			// it: refused here too, so that no hop frames it otherwise.
			elems := 0
			forEachListElement(f.Value, func(e []byte) bool {
				elems++
				teCodings++
				teLast = e
				for _, c := range e {
					if !isTokenByte[c] {
						teInvalid = true // parameters or junk
						return false
					}
				}
				if equalFold(e, "chunked") {
					teChunked++
				} else {
					teOther = true
				}
				return true
			})
			if elems != bytes.Count(f.Value, comma)+1 {
				teInvalid = true
			}
		case equalFold(f.Name, "connection"):
			forEachListElement(f.Value, func(e []byte) bool {
				if equalFold(e, "close") {
					connClose = true
				} else if equalFold(e, "keep-alive") {
					connKeep = true
				}
				return true
			})
		case equalFold(f.Name, "expect"):
			forEachListElement(f.Value, func(e []byte) bool {
				if equalFold(e, "100-continue") {
					expect100 = true
				} else {
					expectBad = true
				}
				return true
			})
		}
	}

	// RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request without
	// a Host, with more than one, or with an invalid one.
	if hosts > 1 {
		return errManyHosts
	}
	if hosts == 0 && r.ProtoMinor >= 1 {
		return errNoHost
	}
	if hosts == 1 && !validHost(host) {
		return errBadHost
	}
	if r.Form != AbsoluteForm && r.Form != AuthorityForm {
		r.Host = host
	}

	switch {
	case clInvalid:
		return errContentLength
	case clConflict:
		return errCLConflict
	}
	if teFields > 0 {
		switch {
		case r.ProtoMinor == 0:
			// RFC 9112 §6.1: HTTP/1.0 has no chunked coding; a message
			// with Transfer-Encoding from a 1.0 client is likely forged.
			return errTEHTTP10
		case haveCL:
			return errCLAndTE
		case teInvalid || teCodings == 0:
			return errTEInvalid
		case !equalFold(teLast, "chunked"):
			return errTENotChunked
		case teChunked > 1:
			return errTEInvalid // chunked applied twice
		case teOther:
			return errTEUnsupported
		}
		r.Chunked = true
		r.ContentLength = -1
	} else if haveCL {
		if cl > lim.MaxBodyBytes {
			return errBodyTooLarge
		}
		r.ContentLength = cl
	}

	if r.ProtoMinor >= 1 {
		// RFC 9110 §10.1.1: a 1.0 client's expectation is ignored.
		if expectBad {
			return errExpectation
		}
		r.ExpectContinue = expect100 && r.ContentLength != 0
		r.KeepAlive = !connClose
	} else {
		r.KeepAlive = connKeep && !connClose
	}
	return nil
}

// parseDecimal parses 1*DIGIT into a non-negative int64, refusing signs,
// spaces and anything that overflows.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		// 19 digits hold every int64; longer is an overflow unless it is
		// leading zeros, which no honest client sends.
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

var comma = []byte{','}

// ParseDecimal parses 1*DIGIT, as a Content-Length value, into a
// non-negative int64; signs, spaces and overflow are refused.
func ParseDecimal(b []byte) (int64, bool) { return parseDecimal(b) }
