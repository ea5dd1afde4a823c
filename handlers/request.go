package handlers

import (
	"context"
	"crypto/tls"
	"io"
	"net/netip"
	"time"

	"github.com/moreweb/moreweb/parser"
)

// Request is one request as every protocol presents it to a site: the
// HTTP/1.1 connection loop fills it from its read buffer, HTTP/2 from a
// stream's decoded fields, a test from whatever it likes. Nothing in it
// says how the bytes were framed on the wire.
//
// The protocol owns the Request and everything it points to: they are valid
// during the handler's call only, and a handler that needs a value later
// copies it.
type Request struct {
	// Method is the request method, case kept ("GET", "POST").
	Method string
	// Target is the request-target as sent, for the access log.
	Target []byte
	// RawPath is the path part of the target, still percent-encoded.
	RawPath []byte
	// Path is RawPath percent-decoded, dot-segments removed, slashes
	// merged; it always starts with "/" (it is "*" for OPTIONS *).
	Path []byte
	// RawQuery is what follows '?' in the target, without it.
	RawQuery []byte
	// Host is the authority the request is for, as sent (port included,
	// case kept): the absolute-form target's or the Host field's in
	// HTTP/1.1, :authority's in HTTP/2.
	Host []byte
	// Header holds the request's header fields in the order they came.
	Header *parser.Header
	// Body reads the request body, decoded from its framing; it is never
	// nil, and reads io.EOF at once when there is no body. A read may
	// fail with a *parser.Error (413 for a body over the limit, 400 for a
	// malformed one).
	Body io.Reader
	// ContentLength is the body's declared length: 0 when there is none,
	// -1 when it is not known in advance (a chunked or HTTP/2 body without
	// content-length).
	ContentLength int64
	// Proto names the protocol for the log: "HTTP/1.1", "HTTP/1.0",
	// "HTTP/2.0".
	Proto string
	// RemoteAddr is the client's address: the peer's, or the one a
	// trusted PROXY header gave. Its zero value means unknown.
	RemoteAddr netip.AddrPort
	// TLS describes the connection's TLS session; nil on a plain one.
	TLS *tls.ConnectionState
	// Received is when the request began to arrive. Handlers take it as
	// "now", which spares them a clock read per request.
	Received time.Time
	// Ctx ends when the client goes away or the server stops, so that a
	// handler that waits (a long poll, a proxied stream) gives up then.
	// A protocol that cannot tell leaves it nil; use Context.
	Ctx context.Context
}

// Context is r.Ctx, or a context that never ends when the protocol set none.
func (r *Request) Context() context.Context {
	if r.Ctx == nil {
		return context.Background()
	}
	return r.Ctx
}

// Done is closed when the client has gone away or the server is stopping.
func (r *Request) Done() <-chan struct{} { return r.Context().Done() }

// NoBody is the Body of a request that has none.
var NoBody io.Reader = noBody{}

type noBody struct{}

func (noBody) Read([]byte) (int, error) { return 0, io.EOF }
