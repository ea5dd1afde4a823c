package parser

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"
)

// ResponseHeader holds the header fields of a response in the order they were
// set. Names are canonicalised when they are set; values are checked when
// the head is serialised, so a value with CR or LF can never split a
// response.
type ResponseHeader struct {
	fields []HeaderField
}

// HeaderField is one response header field.
type HeaderField struct {
	Name, Value string
}

// Reset empties h, keeping its storage.
func (h *ResponseHeader) Reset() { h.fields = h.fields[:0] }

// Len is the number of fields.
func (h *ResponseHeader) Len() int { return len(h.fields) }

// At returns the i-th field.
func (h *ResponseHeader) At(i int) HeaderField { return h.fields[i] }

// Set replaces every field named name with one holding value.
func (h *ResponseHeader) Set(name, value string) {
	h.SetCanonical(CanonicalName(name), value)
}

// SetCanonical is Set for a name already in canonical form (a constant,
// or one passed through CanonicalName once when a config was built): the
// per-request path skips canonicalising it again.
func (h *ResponseHeader) SetCanonical(name, value string) {
	for i := range h.fields {
		if h.fields[i].Name == name {
			h.fields[i].Value = value
			h.delFrom(i+1, name)
			return
		}
	}
	h.fields = append(h.fields, HeaderField{name, value})
}

// DelCanonical is Del for a name already in canonical form.
func (h *ResponseHeader) DelCanonical(name string) {
	for i := range h.fields {
		if h.fields[i].Name == name {
			h.delFrom(i, name)
			return
		}
	}
}

// Add appends a field, keeping existing ones of the same name.
func (h *ResponseHeader) Add(name, value string) {
	h.fields = append(h.fields, HeaderField{CanonicalName(name), value})
}

// Get returns the first value of name, or "".
func (h *ResponseHeader) Get(name string) string {
	name = CanonicalName(name)
	for i := range h.fields {
		if h.fields[i].Name == name {
			return h.fields[i].Value
		}
	}
	return ""
}

// Has reports whether a field named name is set.
func (h *ResponseHeader) Has(name string) bool {
	name = CanonicalName(name)
	for i := range h.fields {
		if h.fields[i].Name == name {
			return true
		}
	}
	return false
}

// Del removes every field named name.
func (h *ResponseHeader) Del(name string) {
	if len(h.fields) > 0 { // most deletions find an empty header
		h.delFrom(0, CanonicalName(name))
	}
}

func (h *ResponseHeader) delFrom(start int, name string) {
	out := h.fields[:start]
	for _, f := range h.fields[start:] {
		if f.Name != name {
			out = append(out, f)
		}
	}
	h.fields = out
}

// CanonicalName returns name with each hyphen-separated word capitalised
// ("content-type" -> "Content-Type"). A name that is already canonical, as
// every constant in this code base is, is returned without allocating.
func CanonicalName(name string) string {
	switch name {
	case "ETag", "WWW-Authenticate", "Content-MD5":
		return name // canonical by custom, not by the capitalisation rule
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (upper && 'a' <= c && c <= 'z') || (!upper && 'A' <= c && c <= 'Z') {
			return canonicalize(name)
		}
		upper = c == '-'
	}
	return name
}

func canonicalize(name string) string {
	b := []byte(name)
	upper := true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
		upper = c == '-'
	}
	switch s := string(b); s {
	case "Etag":
		return "ETag"
	case "Www-Authenticate":
		return "WWW-Authenticate"
	case "Content-Md5":
		return "Content-MD5"
	default:
		return s
	}
}

// ErrInvalidHeader refuses a response header field whose name is not a token
// or whose value holds CR, LF or another control byte.
var ErrInvalidHeader = errors.New("parser: invalid response header field")

// ValidHeaderField reports whether name and value may be sent as they are.
func ValidHeaderField(name, value string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenByte[name[i]] {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		if !isValueByte[value[i]] {
			return false
		}
	}
	return true
}

// AppendHeaders appends every field of h as "Name: value\r\n", refusing the
// whole set if any field is invalid.
func AppendHeaders(dst []byte, h *ResponseHeader) ([]byte, error) {
	for _, f := range h.fields {
		if !ValidHeaderField(f.Name, f.Value) {
			return dst, ErrInvalidHeader
		}
		dst = append(dst, f.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, f.Value...)
		dst = append(dst, "\r\n"...)
	}
	return dst, nil
}

// AppendStatusLine appends "HTTP/1.1 status reason\r\n". A server answers
// with its own version whatever the client's (RFC 9110 §6.2).
func AppendStatusLine(dst []byte, status int) []byte {
	if status >= 100 && status < 600 {
		if line := statusLines[status]; line != "" {
			return append(dst, line...)
		}
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	return append(dst, " \r\n"...)
}

var statusLines = func() (t [600]string) {
	for code, text := range statusText {
		t[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
	}
	return t
}()

// StatusText is the reason phrase of a status, or "".
func StatusText(status int) string { return statusText[status] }

var statusText = map[int]string{
	100: "Continue",
	101: "Switching Protocols",
	103: "Early Hints",
	200: "OK",
	201: "Created",
	202: "Accepted",
	204: "No Content",
	206: "Partial Content",
	301: "Moved Permanently",
	302: "Found",
	303: "See Other",
	304: "Not Modified",
	307: "Temporary Redirect",
	308: "Permanent Redirect",
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	406: "Not Acceptable",
	408: "Request Timeout",
	409: "Conflict",
	410: "Gone",
	411: "Length Required",
	412: "Precondition Failed",
	413: "Content Too Large",
	414: "URI Too Long",
	415: "Unsupported Media Type",
	416: "Range Not Satisfiable",
	417: "Expectation Failed",
	421: "Misdirected Request",
	429: "Too Many Requests",
	431: "Request Header Fields Too Large",
	500: "Internal Server Error",
	501: "Not Implemented",
	502: "Bad Gateway",
	503: "Service Unavailable",
	504: "Gateway Timeout",
	505: "HTTP Version Not Supported",
}

// BodyAllowed reports whether a response may carry content: never for HEAD,
// 1xx, 204 and 304 (RFC 9112 §6.3).
func BodyAllowed(method string, status int) bool {
	return method != "HEAD" && status >= 200 && status != 204 && status != 304
}

// LengthAllowed reports whether a response may carry Content-Length or
// Transfer-Encoding: not for 1xx and 204 (RFC 9110 §8.6), and we leave it
// off 304, whose length would describe a body not sent.
func LengthAllowed(status int) bool {
	return status >= 200 && status != 204 && status != 304
}

// AppendContentLength appends "Content-Length: n\r\n".
func AppendContentLength(dst []byte, n int64) []byte {
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, "\r\n"...)
}

// AppendChunkHeader appends the size line of a chunk of n bytes.
func AppendChunkHeader(dst []byte, n int) []byte {
	dst = strconv.AppendInt(dst, int64(n), 16)
	return append(dst, "\r\n"...)
}

// LastChunk ends a chunked body with no trailer fields.
const LastChunk = "0\r\n\r\n"

// The Date field changes once a second; it is formatted once per second
// and shared, not once per response.
type dateLine struct {
	unix  int64
	line  []byte // "Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n"
	value string // "Mon, 02 Jan 2006 15:04:05 GMT"
}

var currentDate atomic.Pointer[dateLine]

// AppendDate appends the Date field for now (RFC 9110 §6.6.1, IMF-fixdate).
func AppendDate(dst []byte, now time.Time) []byte {
	return append(dst, dateFor(now).line...)
}

// DateValue is the Date field's value for now, for protocols that do not
// send it as a line (HTTP/2).
func DateValue(now time.Time) string { return dateFor(now).value }

func dateFor(now time.Time) *dateLine {
	sec := now.Unix()
	d := currentDate.Load()
	if d == nil || d.unix != sec {
		line := make([]byte, 0, 40)
		line = append(line, "Date: "...)
		line = now.UTC().AppendFormat(line, TimeFormat)
		line = append(line, "\r\n"...)
		d = &dateLine{unix: sec, line: line, value: string(line[len("Date: ") : len(line)-2])}
		currentDate.Store(d)
	}
	return d
}

// TimeFormat is IMF-fixdate, the format of HTTP dates.
const TimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"
