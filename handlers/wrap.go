package handlers

import (
	"net"
)

// Middleware wraps a site's handler: per-site headers, compression, HSTS,
// metrics. A middleware that only sets fields or looks at the request calls
// next with the writer it was given and costs nothing more; one that must
// see the body wraps the writer in a type that embeds WriterWrapper, so
// that every method it does not change, ReadFrom and its sendfile
// included, goes straight to the writer below.
type Middleware func(next Handler) Handler

// Unwrapper is a writer that wraps another one.
type Unwrapper interface {
	Unwrap() ResponseWriter
}

// WriterWrapper is embedded by middleware writers: it passes every method
// through to the wrapped writer and gives it back from Unwrap.
type WriterWrapper struct {
	ResponseWriter
}

// Unwrap returns the wrapped writer.
func (w WriterWrapper) Unwrap() ResponseWriter { return w.ResponseWriter }

// As finds the first writer in w's chain of wrapped writers that has the
// capability T, the way errors.As finds an error: w itself, then what each
// Unwrap returns.
func As[T any](w ResponseWriter) (T, bool) {
	for w != nil {
		if t, ok := w.(T); ok {
			return t, true
		}
		u, ok := w.(Unwrapper)
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	var zero T
	return zero, false
}

// Upgrader is the capability of an HTTP/1.1 writer to give its connection
// away, for a protocol switch (WebSocket, RFC 9110 §7.8) or a tunnel.
type Upgrader interface {
	// Upgrade sends "101 Switching Protocols" with the fields set on the
	// header and returns the connection; bytes the client sent after the
	// request head are read from it first. From then on the connection is
	// the caller's, who must close it; the server neither reads nor writes
	// it again and does not log a response for it beyond the 101.
	Upgrade() (net.Conn, error)
}
