// Package handlertest drives handlers without a socket: a test protocol
// that builds requests directly, and a recording ResponseWriter that keeps
// the rules every real writer keeps (no body for HEAD, 204 and 304; a final
// status only once; interim statuses apart). Tests of the whole server use
// real loopback connections instead.
package handlertest

import (
	"bytes"
	"io"
	"os"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// Recorder is a ResponseWriter that keeps what the handler wrote.
type Recorder struct {
	// Method is the request's: a HEAD answer records no body, only its
	// length. Empty means GET.
	Method string
	// Code is the final status, 0 before one was written.
	Code int
	// Interim lists the 1xx statuses sent before the final one.
	Interim []int
	Head    parser.ResponseHeader
	// ContentLength is the declared length, -1 when none was.
	ContentLength int64
	// Body is what a client would receive; BodyLen counts what was
	// written, also when the status or method allows no body.
	Body    bytes.Buffer
	BodyLen int64
	// Trailers holds the trailer fields.
	Trailers parser.ResponseHeader
	// Flushes counts Flush calls; Files counts bodies handed over as files
	// (what a real writer can send without a copy).
	Flushes int
	Files   int
	wrote   bool
}

// NewRecorder returns an empty Recorder for a GET.
func NewRecorder() *Recorder { return &Recorder{ContentLength: -1} }

// NewRecorderFor returns an empty Recorder for r's method.
func NewRecorderFor(r *handlers.Request) *Recorder {
	rec := NewRecorder()
	rec.Method = r.Method
	return rec
}

func (r *Recorder) Header() *parser.ResponseHeader { return &r.Head }
func (r *Recorder) Written() bool                  { return r.wrote }
func (r *Recorder) Status() int                    { return r.Code }
func (r *Recorder) Flush() error {
	r.WriteHeader(200)
	r.Flushes++
	return nil
}

func (r *Recorder) SetContentLength(n int64) {
	if !r.wrote {
		r.ContentLength = n
	}
}

// Trailer returns the trailer fields.
func (r *Recorder) Trailer() *parser.ResponseHeader {
	return &r.Trailers
}

// WriteHeader keeps the real writers' rules: 1xx other than 101 are
// interim; anything outside 100-999, and 101, is a handler bug answered
// as 500.
func (r *Recorder) WriteHeader(status int) {
	if r.wrote {
		return
	}
	if status >= 100 && status < 200 && status != 101 {
		r.Interim = append(r.Interim, status)
		return
	}
	if status < 200 || status > 999 {
		status = 500
	}
	r.wrote = true
	r.Code = status
}

func (r *Recorder) bodyAllowed() bool {
	return parser.BodyAllowed(r.Method, r.Code)
}

func (r *Recorder) Write(p []byte) (int, error) {
	r.WriteHeader(200)
	r.BodyLen += int64(len(p))
	if !r.bodyAllowed() {
		return len(p), nil
	}
	return r.Body.Write(p)
}

func (r *Recorder) WriteString(s string) (int, error) {
	r.WriteHeader(200)
	r.BodyLen += int64(len(s))
	if !r.bodyAllowed() {
		return len(s), nil
	}
	return r.Body.WriteString(s)
}

func (r *Recorder) ReadFrom(src io.Reader) (int64, error) {
	r.WriteHeader(200)
	switch s := src.(type) {
	case *os.File:
		r.Files++
	case *io.LimitedReader:
		if _, ok := s.R.(*os.File); ok {
			r.Files++
		}
	}
	if !r.bodyAllowed() {
		return 0, nil
	}
	n, err := r.Body.ReadFrom(src)
	r.BodyLen += n
	return n, err
}

var _ handlers.ResponseWriter = (*Recorder)(nil)
