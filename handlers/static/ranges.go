package static

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"slices"
	"strconv"

	"github.com/moreweb/moreweb/handlers"
)

// byteRange is a satisfiable range, already clipped to the file.
type byteRange struct{ start, length int64 }

func (br byteRange) end() int64 { return br.start + br.length - 1 }

// rangeResult says what to do with a Range header field.
type rangeResult uint8

const (
	rangeIgnore        rangeResult = iota // absent, malformed or not worth it: 200
	rangeSatisfiable                      // 206
	rangeUnsatisfiable                    // 416
)

// maxRanges bounds the parts of one response. More than this in one request
// is a scan or an attack, not a download manager; §14.2 lets us ignore it.
const maxRanges = 16

// parseRange reads a Range field value (RFC 9110 §14.1.1, §14.2) against a
// representation of size bytes:
//
//	Range          = ranges-specifier
//	ranges-specifier = range-unit "=" range-set
//	range-set      = 1#range-spec
//	range-spec     = int-range / suffix-range / other-range
//	int-range      = first-pos "-" [ last-pos ]
//	suffix-range   = "-" suffix-length
//
// A malformed field, another unit, or more than maxRanges specs is ignored.
// Ranges that cannot be satisfied are dropped; if none is left, the answer
// is 416. Overlapping or adjacent ranges are coalesced (§14.6 allows it), so
// the parts never add up to more than the file.
func parseRange(v []byte, size int64) ([]byteRange, rangeResult) {
	const unit = "bytes="
	if len(v) < len(unit) || !equalFoldASCII(v[:len(unit)], unit) {
		return nil, rangeIgnore
	}
	// An empty representation has no byte to point at; sending it whole
	// is simpler than the special case §14.1.1 allows.
	if size == 0 {
		return nil, rangeIgnore
	}
	var ranges []byteRange
	specs := 0
	for rest := v[len(unit):]; len(rest) > 0; {
		spec := rest
		if i := bytes.IndexByte(rest, ','); i >= 0 {
			spec, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		spec = trimOWS(spec)
		if len(spec) == 0 {
			continue // empty list elements are allowed (§5.6.1)
		}
		if specs++; specs > maxRanges {
			return nil, rangeIgnore
		}
		dash := bytes.IndexByte(spec, '-')
		if dash < 0 {
			return nil, rangeIgnore
		}
		var br byteRange
		if dash == 0 {
			n, ok := parseDigits(spec[1:])
			if !ok {
				return nil, rangeIgnore
			}
			if n == 0 {
				continue // unsatisfiable
			}
			br.start = max(size-n, 0)
			br.length = size - br.start
		} else {
			first, ok := parseDigits(spec[:dash])
			if !ok {
				return nil, rangeIgnore
			}
			last := size - 1
			if dash+1 < len(spec) {
				l, ok := parseDigits(spec[dash+1:])
				if !ok || l < first {
					return nil, rangeIgnore
				}
				last = min(l, size-1)
			}
			if first >= size {
				continue // unsatisfiable
			}
			br.start, br.length = first, last-first+1
		}
		ranges = append(ranges, br)
	}
	if specs == 0 {
		return nil, rangeIgnore
	}
	if len(ranges) == 0 {
		return nil, rangeUnsatisfiable
	}
	return coalesce(ranges), rangeSatisfiable
}

// coalesce merges ranges that overlap or touch. When none do, the order the
// client asked for is kept; otherwise the result is sorted by offset.
func coalesce(rs []byteRange) []byteRange {
	if len(rs) < 2 {
		return rs
	}
	sorted := slices.IsSortedFunc(rs, func(a, b byteRange) int { return cmp.Compare(a.start, b.start) })
	overlap := false
	for i := range rs {
		for j := i + 1; j < len(rs); j++ {
			if rs[i].start <= rs[j].end()+1 && rs[j].start <= rs[i].end()+1 {
				overlap = true
			}
		}
	}
	if !overlap {
		return rs
	}
	if !sorted {
		slices.SortFunc(rs, func(a, b byteRange) int { return cmp.Compare(a.start, b.start) })
	}
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r.start <= last.end()+1 {
			last.length = max(last.end(), r.end()) - last.start + 1
			continue
		}
		out = append(out, r)
	}
	return out
}

// contentRange is "bytes FIRST-LAST/LEN" (§14.4).
func contentRange(br byteRange, size int64) string {
	var buf [64]byte
	b := append(buf[:0], "bytes "...)
	b = strconv.AppendInt(b, br.start, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, br.end(), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, size, 10)
	return string(b)
}

// unsatisfied is the Content-Range of a 416, "bytes */LEN".
func unsatisfied(size int64) string { return "bytes */" + strconv.FormatInt(size, 10) }

// sendSingle answers 206 with one range. A file body is positioned first,
// so that a failing lseek is still a 500 page; the listener hands the
// *io.LimitedReader over the *os.File to sendfile.
func sendSingle(w handlers.ResponseWriter, b *body, br byteRange, size int64) error {
	if err := b.seek(br.start); err != nil {
		return &handlers.Error{Status: 500, Err: err}
	}
	w.Header().Set("Content-Range", contentRange(br, size))
	w.SetContentLength(br.length)
	w.WriteHeader(206)
	b.send(w, br)
	return nil
}

// sendMultipart answers 206 multipart/byteranges (§14.6). The length is
// known in advance, so the response is framed by Content-Length; each part
// body goes out like a single range, between part headers written with
// WriteString.
func sendMultipart(w handlers.ResponseWriter, b *body, ranges []byteRange, size int64, ctype string) error {
	// Random per response, so no file can be crafted to contain it
	// (RFC 2046 §5.1.1 allows 70 characters; Text gives 26 base32 ones).
	boundary := rand.Text()
	heads := make([]string, len(ranges))
	total := int64(0)
	for i, br := range ranges {
		p := "--" + boundary + "\r\nContent-Type: " + ctype + "\r\nContent-Range: " + contentRange(br, size) + "\r\n\r\n"
		if i > 0 {
			p = "\r\n" + p
		}
		heads[i] = p
		total += int64(len(p)) + br.length
	}
	tail := "\r\n--" + boundary + "--\r\n"
	total += int64(len(tail))

	w.Header().Set("Content-Type", "multipart/byteranges; boundary="+boundary)
	w.SetContentLength(total)
	w.WriteHeader(206)
	// Past WriteHeader a failure cannot become an error page: stop, and
	// the writer, seeing fewer bytes than declared, closes the connection.
	for i, br := range ranges {
		if _, err := w.WriteString(heads[i]); err != nil {
			return nil
		}
		if n, err := b.send(w, br); err != nil || n != br.length {
			return nil
		}
	}
	w.WriteString(tail)
	return nil
}

func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 { // 18 digits cannot overflow int64
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
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

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
