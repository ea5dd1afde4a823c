package parser

// Byte classes from the RFC grammars, as lookup tables so that the hot loops
// are one load and one compare per byte.

// tchar, RFC 9110 §5.6.2:
//
//	token = 1*tchar
//	tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//	        "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
var isTokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// Field values, RFC 9110 §5.5:
//
//	field-value   = *field-content
//	field-content = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]
//	field-vchar   = VCHAR / obs-text
//	obs-text      = %x80-FF
//
// So inside a value: SP, HTAB, 0x21-0x7E and 0x80-0xFF. Every other control
// byte, NUL, CR and LF included, is refused.
var isValueByte = func() (t [256]bool) {
	t[' '] = true
	t['\t'] = true
	for c := 0x21; c <= 0xff; c++ {
		t[c] = c != 0x7f
	}
	return t
}()

// Request-target bytes. RFC 3986 allows fewer than this; we refuse only what
// can change how the message is framed or read (controls, SP, DEL) and the
// fragment delimiter '#', which RFC 9112 §3.2 leaves out of every form. Raw
// bytes >= 0x80 are let through as opaque path bytes, as nginx does, because
// curl sends a typed UTF-8 URL unencoded.
var isTargetByte = func() (t [256]bool) {
	for c := 0x21; c <= 0xff; c++ {
		t[c] = c != 0x7f && c != '#'
	}
	return t
}()

// reg-name and port bytes of a Host, RFC 3986 §3.2.2:
//
//	reg-name   = *( unreserved / pct-encoded / sub-delims )
//	unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
//	sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="
var isRegNameByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-._~!$&'()*+,;=%" {
		t[c] = true
	}
	return t
}()

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

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

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring
// the case of b. It does not allocate.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
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

// forEachListElement calls fn with every non-empty element of a
// comma-separated list (RFC 9110 §5.6.1), whitespace trimmed. It stops early
// when fn returns false.
func forEachListElement(v []byte, fn func(elem []byte) bool) {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		if e := trimOWS(v[:i]); len(e) > 0 {
			if !fn(e) {
				return
			}
		}
		if i == len(v) {
			return
		}
		v = v[i+1:]
	}
}

// ValidFieldName reports whether name is a field name token, as HTTP/2
// fields are checked before they reach a site (RFC 9113 §8.2.1). HTTP/2
// adds that it is lower case, which the caller checks.
func ValidFieldName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if !isTokenByte[c] {
			return false
		}
	}
	return true
}

// ValidFieldValue reports whether value is a field value without
// surrounding whitespace: what an HTTP/1.1 head yields after trimming, and
// what an HTTP/2 field must be (RFC 9113 §8.2.1).
func ValidFieldValue(value []byte) bool {
	for _, c := range value {
		if !isValueByte[c] {
			return false
		}
	}
	n := len(value)
	return n == 0 || (value[0] != ' ' && value[0] != '\t' && value[n-1] != ' ' && value[n-1] != '\t')
}
