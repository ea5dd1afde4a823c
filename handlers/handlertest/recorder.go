// Package handlertest helps test handlers without a socket: a recording
// ResponseWriter and requests parsed from raw bytes by the real parser.
// Tests of the whole server use real loopback connections instead.
package handlertest

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// Recorder is a ResponseWriter that keeps what the handler wrote.
type Recorder struct {
	Code          int
	Head          parser.ResponseHeader
	ContentLength int64 // -1 when not declared
	Body          bytes.Buffer
	wrote         bool
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{ContentLength: -1} }

func (r *Recorder) Header() *parser.ResponseHeader { return &r.Head }
func (r *Recorder) SetContentLength(n int64)       { r.ContentLength = n }
func (r *Recorder) Written() bool                  { return r.wrote }
func (r *Recorder) Status() int                    { return r.Code }

func (r *Recorder) WriteHeader(status int) {
	if r.wrote {
		return
	}
	r.wrote = true
	r.Code = status
}

func (r *Recorder) Write(p []byte) (int, error) {
	r.WriteHeader(200)
	return r.Body.Write(p)
}

func (r *Recorder) WriteString(s string) (int, error) {
	r.WriteHeader(200)
	return r.Body.WriteString(s)
}

func (r *Recorder) ReadFrom(src io.Reader) (int64, error) {
	r.WriteHeader(200)
	return r.Body.ReadFrom(src)
}

var _ handlers.ResponseWriter = (*Recorder)(nil)

// Request parses raw (a whole request, CRLF line ends) with the real parser.
// "\n" in raw is turned into "\r\n" when raw has no CR, for readable tests.
func Request(t testing.TB, raw string) *parser.Request {
	t.Helper()
	if !strings.Contains(raw, "\r") {
		raw = strings.ReplaceAll(raw, "\n", "\r\n")
	}
	req, err := parser.NewReader(strings.NewReader(raw), parser.Limits{}).ReadRequest()
	if err != nil {
		t.Fatalf("parsing test request %q: %v", raw, err)
	}
	return req
}

// Get is a GET of target with Host: example.com.
func Get(t testing.TB, target string) *parser.Request {
	t.Helper()
	return Request(t, "GET "+target+" HTTP/1.1\r\nHost: example.com\r\n\r\n")
}
