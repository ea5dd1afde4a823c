// Package handlers is the contract between the connection loop and the
// features that answer requests: each feature (static files, path map,
// redirects, templates, error pages) is a subpackage implementing Handler.
package handlers

import (
	"errors"
	"fmt"
	"io"

	"github.com/moreweb/moreweb/parser"
)

// Handler answers one request.
//
// A handler either writes a complete response and returns nil, or writes
// nothing and returns an error: an *Error carries the status to answer with,
// any other error answers 500. The error page layer turns the error into a
// response; handlers never render error bodies themselves. Before returning
// an *Error a handler may set header fields that belong on the error
// response (Allow on a 405, Content-Range on a 416).
//
// The request and everything it points to are valid only during the call.
type Handler interface {
	Serve(w ResponseWriter, r *Request) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w ResponseWriter, r *Request) error

// Serve calls f.
func (f HandlerFunc) Serve(w ResponseWriter, r *Request) error { return f(w, r) }

// ResponseWriter is how a handler answers, whatever protocol carries the
// response. Each protocol has one writer and describes its write path in
// one comment beside it; what a handler may rely on is this:
//
//   - Fields set on Header before the final WriteHeader go out with it.
//     The protocol adds Date and its own framing fields; a handler's
//     Content-Length or Transfer-Encoding is never trusted for framing.
//   - The body's length is known when the handler declares it
//     (SetContentLength) or when the whole body fits the writer's buffer
//     by the time the handler returns; otherwise the protocol frames an
//     open-ended body (chunked in HTTP/1.1, DATA frames in HTTP/2). No body
//     leaves for HEAD, 204 and 304, whatever is written; a HEAD answer
//     still says the length a GET would get.
//   - Writes are buffered. Flush sends what is buffered now (the head
//     first, if it has not gone yet), for streams that must not wait.
//   - ReadFrom with an *os.File (or an *io.LimitedReader of one, for a
//     range) lets the protocol send the file without copying it through
//     user space where it can (sendfile on a plain HTTP/1.1 connection).
//   - Middleware that wraps a writer embeds the writer it wraps, so every
//     method it does not change passes through, and returns it from
//     Unwrap, so that optional capabilities (Upgrader) are still found by
//     As.
type ResponseWriter interface {
	// Header is the response's header, to be set before WriteHeader.
	Header() *parser.ResponseHeader
	// SetContentLength declares the body's length before WriteHeader.
	SetContentLength(n int64)
	// WriteHeader sends the status. A final status (200-599) is recorded
	// and goes out with the header at the first flush; calling it again
	// has no effect. An interim status (100, 103; not 101, which only
	// Upgrade sends) leaves at once with the fields set so far, which are
	// kept for the final response; it is dropped where the protocol
	// cannot carry it (an HTTP/1.0 client) or once the final head went.
	// Write calls WriteHeader(200) when no final status was set.
	WriteHeader(status int)
	// Write appends to the body.
	Write(p []byte) (int, error)
	// WriteString appends to the body without converting to []byte.
	WriteString(s string) (int, error)
	// ReadFrom copies a body from r; see above for files.
	io.ReaderFrom
	// Flush sends the head and the body written so far.
	Flush() error
	// Trailer holds fields to send after the body. Asking for it before
	// the head has gone makes the body open-ended (chunked in HTTP/1.1),
	// so that the trailer can follow it; fields set on a body whose length
	// was declared are dropped, as RFC 9110 §6.5 allows.
	Trailer() *parser.ResponseHeader
	// Written reports whether a final WriteHeader has been called: an
	// error can no longer be turned into an error page once it has.
	Written() bool
	// Status is the final status, or 0 before WriteHeader.
	Status() int
}

// Error is a failure with the status to answer. Err, when set, is for the
// log and never reaches the client.
type Error struct {
	Status int
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("status %d", e.Status)
	}
	return fmt.Sprintf("status %d: %v", e.Status, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// StatusOf is the status an error from a handler answers with: an *Error's
// own, 500 for anything else.
func StatusOf(err error) int {
	if he, ok := err.(*Error); ok {
		return he.Status // the common case, without errors.As's allocation
	}
	var he *Error
	if errors.As(err, &he) {
		return he.Status
	}
	return 500
}

// Common errors, allocated once.
var (
	ErrNotFound         = &Error{Status: 404}
	ErrForbidden        = &Error{Status: 403}
	ErrMethodNotAllowed = &Error{Status: 405}
)

// Chain tries handlers in order: the first that does not answer 404 wins.
// A site is redirects, then the path map, then the static root.
type Chain []Handler

// Serve runs the chain.
func (c Chain) Serve(w ResponseWriter, r *Request) error {
	err := error(ErrNotFound)
	for _, h := range c {
		err = h.Serve(w, r)
		if err == nil || w.Written() || StatusOf(err) != 404 {
			return err
		}
	}
	return err
}

// ErrResponseCut marks an error that came after the response had begun
// (a backend that died in the middle of its body): the site could not
// answer it with a page, and the protocol must end the response as
// broken, never as if it were whole (HTTP/1.1: no last chunk and a closed
// connection; HTTP/2: a reset stream). The error page layer adds it.
var ErrResponseCut = errors.New("response cut short")

// ErrPanic is the cause of the 500 a panicking handler answers: the site's
// error page layer recovers the panic and returns an *Error wrapping a
// *PanicError, so the connection loop can log the stack and close.
var ErrPanic = errors.New("handler panicked")

// PanicError carries what a handler panicked with and where.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

// Is makes errors.Is(err, ErrPanic) true for every panic.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// ErrorWriter is a site's handler that can render one of its error pages on
// its own, for an error its protocol finds after the handler returned.
type ErrorWriter interface {
	WriteError(w ResponseWriter, r *Request, status int)
}
