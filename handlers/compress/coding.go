// Package compress is content coding (RFC 9110 §8.4): which codings a
// client accepts, which responses are worth compressing, and the encoders
// (zstd and gzip from klauspost/compress, br from andybalholm/brotli) for
// whole bodies, compressed once and cached by the static handler, and for
// streams, compressed as they flow by the middleware.
package compress

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/moreweb/moreweb/parser"
)

// Coding is a content coding this server can apply.
type Coding uint8

const (
	Identity Coding = iota
	Zstd
	Brotli
	Gzip
)

// Default is the order codings are preferred in when a site names none:
// zstd and brotli compress web text best, and zstd costs the least CPU to
// make and to decode; gzip is understood by every client.
var Default = []Coding{Zstd, Brotli, Gzip}

// Token is the coding's name in Accept-Encoding and Content-Encoding.
func (c Coding) Token() string {
	switch c {
	case Zstd:
		return "zstd"
	case Brotli:
		return "br"
	case Gzip:
		return "gzip"
	}
	return "identity"
}

func (c Coding) String() string { return c.Token() }

// Parse reads a coding's name as a config writes it.
func Parse(name string) (Coding, error) {
	switch strings.ToLower(name) {
	case "zstd":
		return Zstd, nil
	case "br":
		return Brotli, nil
	case "gzip":
		return Gzip, nil
	}
	return Identity, fmt.Errorf("unknown coding %q (want zstd, br or gzip)", name)
}

// MinSize is the smallest body worth compressing: below it the coding's
// framing eats most of what it saves.
const MinSize = 256

// Compressible reports whether a body of content type ctype shrinks when
// compressed: text, and the structured and font types that are text or
// close to it. Images, audio, video and archives are compressed already.
func Compressible(ctype string) bool {
	if i := strings.IndexByte(ctype, ';'); i >= 0 {
		ctype = ctype[:i]
	}
	ctype = strings.TrimSpace(ctype)
	if len(ctype) >= 5 && strings.EqualFold(ctype[:5], "text/") {
		return true
	}
	for _, t := range compressibleTypes {
		if strings.EqualFold(ctype, t) {
			return true
		}
	}
	for _, suffix := range [...]string{"+json", "+xml"} {
		if len(ctype) > len(suffix) && strings.EqualFold(ctype[len(ctype)-len(suffix):], suffix) {
			return true
		}
	}
	return false
}

var compressibleTypes = [...]string{
	"application/json", "application/javascript", "application/xml", "application/wasm",
	"image/svg+xml", "font/ttf", "font/otf",
}

// Negotiate weighs the request's Accept-Encoding (RFC 9110 §12.5.3)
// against the codings on offer, in the server's order of preference, and
// returns the one to send, or Identity. q=0 refuses a coding; "*" stands
// for codings not named; the highest q wins and ties go to the offer's
// order. Identity competes only when the client weighs it, explicitly or
// through "*": a client that says "gzip;q=0.5" alone still prefers gzip
// to nothing.
func Negotiate(h *parser.Header, offer []Coding) Coding {
	if len(offer) == 0 {
		return Identity
	}
	var q [Gzip + 1]int // by Coding; -1: not named
	for i := range q {
		q[i] = -1
	}
	starQ := -1
	h.Values("Accept-Encoding", func(v []byte) {
		for len(v) > 0 {
			elem := v
			if i := bytes.IndexByte(v, ','); i >= 0 {
				elem, v = v[:i], v[i+1:]
			} else {
				v = nil
			}
			token, weight, ok := parseCodingElement(elem)
			if !ok {
				continue
			}
			slot := &starQ
			switch {
			case equalFold(token, "zstd"):
				slot = &q[Zstd]
			case equalFold(token, "br"):
				slot = &q[Brotli]
			case equalFold(token, "gzip"), equalFold(token, "x-gzip"):
				slot = &q[Gzip]
			case equalFold(token, "identity"):
				slot = &q[Identity]
			case string(token) != "*":
				continue
			}
			if *slot < 0 { // the first mention counts
				*slot = weight
			}
		}
	})
	best, bestQ := Identity, 0
	for _, c := range offer {
		qc := q[c]
		if qc < 0 {
			qc = starQ
		}
		if qc > bestQ {
			best, bestQ = c, qc
		}
	}
	identQ := q[Identity]
	if identQ < 0 {
		identQ = starQ
	}
	if best != Identity && identQ > bestQ {
		return Identity
	}
	return best
}

// parseCodingElement splits `token *( OWS ";" OWS name=value )` and returns
// the weight in thousandths (1000 when there is no q).
func parseCodingElement(elem []byte) (token []byte, weight int, ok bool) {
	params := []byte(nil)
	if i := bytes.IndexByte(elem, ';'); i >= 0 {
		elem, params = elem[:i], elem[i+1:]
	}
	token = trimOWS(elem)
	if len(token) == 0 {
		return nil, 0, false
	}
	weight = 1000
	for len(params) > 0 {
		p := params
		if i := bytes.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			params = nil
		}
		p = trimOWS(p)
		if len(p) < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
			continue
		}
		w, valid := parseQValue(p[2:])
		if !valid {
			return nil, 0, false
		}
		weight = w
	}
	return token, weight, true
}

// parseQValue reads a weight (§12.4.2) into thousandths:
//
//	qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
func parseQValue(b []byte) (int, bool) {
	if len(b) == 0 || (b[0] != '0' && b[0] != '1') {
		return 0, false
	}
	n := int(b[0]-'0') * 1000
	if len(b) == 1 {
		return n, true
	}
	if b[1] != '.' || len(b) > 5 {
		return 0, false
	}
	scale := 100
	for _, c := range b[2:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n += int(c-'0') * scale
		scale /= 10
	}
	if n > 1000 {
		return 0, false
	}
	return n, true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
