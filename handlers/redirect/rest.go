package redirect

import "github.com/moreweb/moreweb/handlers"

// rest is the part of the request path after the n bytes a prefix rule
// matched, as it goes into Location.
//
// Never the decoded bytes as they are: "%0d%0a" decodes to CR LF, which
// must not reach a header, and "%3F" to a "?" that would start a query.
// When the raw path decodes to exactly the cleaned path, the raw rest is
// what the client sent and is used as is (re-escaping only bytes a URI may
// not hold, such as raw UTF-8 or "\", which browsers read as "/"). When
// cleaning changed the path (dot-segments, merged slashes), the raw rest no
// longer lines up with what matched, and its "%2e%2e" could walk the client
// out of To; then the cleaned rest is escaped instead.
func rest(r *handlers.Request, n int) []byte {
	if raw, ok := rawRest(r.RawPath, r.Path, n); ok {
		return appendEscaped(nil, raw, true)
	}
	return appendEscaped(nil, r.Path[n:], false)
}

// rawRest returns raw from the point where its decoding reaches n bytes,
// provided all of raw decodes to exactly path.
func rawRest(raw, path []byte, n int) ([]byte, bool) {
	start, j := -1, 0
	for i := 0; i < len(raw); {
		if j == n {
			start = i
		}
		c, step := raw[i], 1
		if c == '%' {
			d, ok := decodeHex(raw[i+1:])
			if !ok {
				return nil, false
			}
			c, step = d, 3
		}
		if j >= len(path) || path[j] != c {
			return nil, false
		}
		i, j = i+step, j+1
	}
	if j == n {
		start = len(raw)
	}
	if j != len(path) || start < 0 {
		return nil, false
	}
	return raw[start:], true
}

func decodeHex(b []byte) (byte, bool) {
	if len(b) < 2 {
		return 0, false
	}
	hi, ok1 := unhex(b[0])
	lo, ok2 := unhex(b[1])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isPathByte is what RFC 3986 lets a path hold unescaped:
//
//	path-abempty = *( "/" segment )
//	pchar        = unreserved / pct-encoded / sub-delims / ":" / "@"
//	unreserved   = ALPHA / DIGIT / "-" / "." / "_" / "~"
//	sub-delims   = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="
//
// '%' is handled by the caller: kept for a raw path, whose escapes the parser
// has checked, escaped for a decoded one.
var isPathByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-._~!$&'()*+,;=:@/" {
		t[c] = true
	}
	return t
}()

func appendEscaped(dst, p []byte, keepPercent bool) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range p {
		if isPathByte[c] || (keepPercent && c == '%') {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hex[c>>4], hex[c&15])
	}
	return dst
}
