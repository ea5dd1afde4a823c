package parser

import "time"

// Limits bound what one request may make the server hold or read. Each has
// the status the RFCs name for exceeding it.
type Limits struct {
	MaxTargetBytes   int   // request-target length; 414
	MaxHeaderBytes   int   // request line + header fields + blank line; 431
	MaxHeaderCount   int   // number of header field lines; 431
	MaxChunkExtBytes int   // chunk extensions on one chunk-size line; 400
	MaxTrailerBytes  int   // whole trailer section of a chunked body; 400
	MaxBodyBytes     int64 // decoded body; 413. NoBody refuses any body
}

// NoBody as Limits.MaxBodyBytes refuses every request body with 413 (zero
// means the default, as for the other limits).
const NoBody = -1

// DefaultLimits are the values moreweb uses when its config says nothing.
func DefaultLimits() Limits { return defaultLimits }

var defaultLimits = Limits{
	MaxTargetBytes:   8192,
	MaxHeaderBytes:   16384,
	MaxHeaderCount:   100,
	MaxChunkExtBytes: 1024,
	MaxTrailerBytes:  4096,
	MaxBodyBytes:     10 << 20,
}

// withDefaults fills zero fields from DefaultLimits, so that a caller who sets
// only what it cares about gets sane bounds for the rest.
func (l Limits) withDefaults() Limits {
	d := defaultLimits
	if l.MaxTargetBytes <= 0 {
		l.MaxTargetBytes = d.MaxTargetBytes
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxTargetBytes > l.MaxHeaderBytes {
		l.MaxTargetBytes = l.MaxHeaderBytes
	}
	if l.MaxHeaderCount <= 0 {
		l.MaxHeaderCount = d.MaxHeaderCount
	}
	if l.MaxChunkExtBytes <= 0 {
		l.MaxChunkExtBytes = d.MaxChunkExtBytes
	}
	if l.MaxTrailerBytes <= 0 {
		l.MaxTrailerBytes = d.MaxTrailerBytes
	}
	switch {
	case l.MaxBodyBytes == NoBody:
		l.MaxBodyBytes = 0
	case l.MaxBodyBytes <= 0:
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	return l
}

// Form is the shape of a request-target, RFC 9112 §3.2.
type Form uint8

const (
	OriginForm    Form = iota // /path?query
	AbsoluteForm              // http://host/path?query
	AuthorityForm             // host:port, CONNECT only
	AsteriskForm              // *, OPTIONS only
)

// Request is one parsed request head. Every byte slice in it points into the
// connection's read buffer or a per-connection scratch buffer: it is valid
// until the next request is read on the connection, and must not be kept
// longer.
type Request struct {
	Method string // interned for the registered methods, so usually free
	Target []byte // the request-target as sent
	Form   Form

	RawPath  []byte // path part of the target, still percent-encoded
	Path     []byte // percent-decoded, dot-segments removed, slashes merged; always starts with "/" (empty for authority-form, "*" for asterisk-form)
	RawQuery []byte // after '?', without it

	ProtoMajor, ProtoMinor int

	// Host is the authority the request is for: the absolute-form target's,
	// else the Host header's, as sent (port included, case kept).
	Host   []byte
	Header Header

	// ContentLength is the declared body length, 0 when there is no body;
	// -1 when the body is chunked.
	ContentLength int64
	Chunked       bool

	// ExpectContinue is true when the client waits for "100 Continue" before
	// it sends the body (RFC 9110 §10.1.1).
	ExpectContinue bool

	// KeepAlive says whether the connection may carry another request after
	// this one, from the version and the Connection header.
	KeepAlive bool

	// Body reads the request body; it is always non-nil after ReadRequest.
	Body *Body

	// Received is when the head began to arrive, set by the server that
	// read it (zero when unknown). Handlers may take it as "now": it
	// spares them a clock read per request.
	Received time.Time

	pathBuf []byte // backing store for Path when it differs from RawPath
}

// reset clears r for reuse, keeping its allocated buffers.
func (r *Request) reset() {
	pathBuf := r.pathBuf[:0]
	fields := r.Header.fields[:0]
	*r = Request{pathBuf: pathBuf}
	r.Header.fields = fields
}

// Field is one header field line, name and value as sent (the value without
// surrounding whitespace).
type Field struct {
	Name, Value []byte
}

// Header holds a message's header fields in the order they came, repeats
// kept. Lookups ignore the case of the name.
type Header struct {
	fields []Field
}

// Len is the number of field lines.
func (h *Header) Len() int { return len(h.fields) }

// At returns the i-th field line.
func (h *Header) At(i int) Field { return h.fields[i] }

// Get returns the value of the first field named name, or nil.
func (h *Header) Get(name string) []byte {
	for i := range h.fields {
		if equalFold(h.fields[i].Name, name) {
			return h.fields[i].Value
		}
	}
	return nil
}

// Has reports whether a field named name is present.
func (h *Header) Has(name string) bool {
	for i := range h.fields {
		if equalFold(h.fields[i].Name, name) {
			return true
		}
	}
	return false
}

// Values calls fn with every value of fields named name, in order.
func (h *Header) Values(name string, fn func(value []byte)) {
	for i := range h.fields {
		if equalFold(h.fields[i].Name, name) {
			fn(h.fields[i].Value)
		}
	}
}

// HasToken reports whether any field named name holds token as an element of
// its comma-separated list, ignoring case (Connection: keep-alive, Upgrade).
func (h *Header) HasToken(name, token string) bool {
	found := false
	for i := range h.fields {
		if !equalFold(h.fields[i].Name, name) {
			continue
		}
		forEachListElement(h.fields[i].Value, func(e []byte) bool {
			found = equalFold(e, token)
			return !found
		})
		if found {
			return true
		}
	}
	return false
}

// internedMethods keeps the common methods from allocating a string per request.
var internedMethods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"}

func internMethod(b []byte) string {
	for _, m := range internedMethods {
		if string(b) == m {
			return m
		}
	}
	return string(b)
}

// Add appends a field line. The header keeps name and value as given, so a
// protocol that builds a Header (HTTP/2 from its decoded fields, a test)
// keeps them alive for as long as the Header is used.
func (h *Header) Add(name, value []byte) {
	h.fields = append(h.fields, Field{Name: name, Value: value})
}

// Reset empties h, keeping its storage.
func (h *Header) Reset() { h.fields = h.fields[:0] }
