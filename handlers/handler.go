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
	Serve(w ResponseWriter, r *parser.Request) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w ResponseWriter, r *parser.Request) error

// Serve calls f.
func (f HandlerFunc) Serve(w ResponseWriter, r *parser.Request) error { return f(w, r) }

// ResponseWriter is how a handler answers. Framing is decided once, when the
// head goes out: Content-Length when the length is known (SetContentLength,
// or a body that fits the writer's buffer when the handler returns), chunked
// otherwise; no body for HEAD, 1xx, 204 and 304, whatever is written.
type ResponseWriter interface {
	// Header is the response's header, to be set before WriteHeader.
	Header() *parser.ResponseHeader
	// SetContentLength declares the body's length before WriteHeader.
	SetContentLength(n int64)
	// WriteHeader sends the status line and header (buffered). Calling it
	// again has no effect. Write calls it with 200 when it has not been.
	WriteHeader(status int)
	// Write appends to the body.
	Write(p []byte) (int, error)
	// WriteString appends to the body without converting to []byte.
	WriteString(s string) (int, error)
	// ReadFrom copies a body from r. An *os.File goes from the file to the
	// socket without passing through user space (sendfile/splice).
	io.ReaderFrom
	// Written reports whether WriteHeader has been called: an error can no
	// longer be turned into an error page once it has.
	Written() bool
	// Status is the status sent, or 0 before WriteHeader.
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
func (c Chain) Serve(w ResponseWriter, r *parser.Request) error {
	err := error(ErrNotFound)
	for _, h := range c {
		err = h.Serve(w, r)
		if err == nil || w.Written() || StatusOf(err) != 404 {
			return err
		}
	}
	return err
}
