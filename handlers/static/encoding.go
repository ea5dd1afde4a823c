package static

import (
	"bytes"

	"github.com/moreweb/moreweb/parser"
)

// codings are the precompressed sidecars looked for next to a file, in the
// order preferred when the client weighs them equally: brotli compresses web
// text best, zstd is close and cheap to decode, gzip is understood by all.
var codings = [...]struct{ token, ext string }{
	{"br", ".br"},
	{"zstd", ".zst"},
	{"gzip", ".gz"},
}

// sidecars records which of codings exist as regular files next to a file.
type sidecars [len(codings)]bool

func (s *sidecars) any() bool { return s[0] || s[1] || s[2] }

// probeSidecars looks for every sidecar, not just the one the client would
// take: any of them existing makes the response vary on Accept-Encoding,
// whatever this client accepts. It returns the names of those found, so
// that serving one does not build its name again.
func probeSidecars(fsys fileSystem, name string) (found sidecars, names [len(codings)]string) {
	for i, c := range codings {
		sname := name + c.ext
		if fi, err := fsys.stat(sname); err == nil && fi.Mode().IsRegular() {
			found[i], names[i] = true, sname
		}
	}
	return found, names
}

// chooseCoding weighs Accept-Encoding (RFC 9110 §12.5.3) against the
// sidecars that exist and returns the index of the one to send, or -1 for
// the file itself. q=0 refuses a coding; "*" stands for codings not named;
// the highest q wins and ties go to the order of codings. Identity competes
// only when the client weighs it, explicitly or through "*": a client that
// says "gzip;q=0.5" alone still prefers gzip to nothing.
func chooseCoding(h *parser.Header, avail *sidecars) int {
	q := [len(codings)]int{-1, -1, -1}
	identQ, starQ := -1, -1
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
			case equalFoldASCII(token, "br"):
				slot = &q[0]
			case equalFoldASCII(token, "zstd"):
				slot = &q[1]
			case equalFoldASCII(token, "gzip"), equalFoldASCII(token, "x-gzip"):
				slot = &q[2]
			case equalFoldASCII(token, "identity"):
				slot = &identQ
			case string(token) != "*":
				continue
			}
			if *slot < 0 { // the first mention counts
				*slot = weight
			}
		}
	})
	best, bestQ := -1, 0
	for i := range codings {
		if !avail[i] {
			continue
		}
		qi := q[i]
		if qi < 0 {
			qi = starQ
		}
		if qi > bestQ {
			best, bestQ = i, qi
		}
	}
	if identQ < 0 {
		identQ = starQ
	}
	if best >= 0 && identQ > bestQ {
		return -1
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
