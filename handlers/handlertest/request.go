package handlertest

import (
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// NewRequest is the test protocol: it builds a request the way any protocol
// would, without the HTTP/1.1 parser. target is origin-form; fields are
// "Name: value" lines; the Host field, when given, is the host.
func NewRequest(t testing.TB, method, target string, fields ...string) *handlers.Request {
	t.Helper()
	rawPath, path, query, _, err := parser.SplitOriginTarget([]byte(target), nil)
	if err != nil {
		t.Fatalf("test request target %q: %v", target, err)
	}
	r := &handlers.Request{
		Method:     method,
		Target:     []byte(target),
		RawPath:    rawPath,
		Path:       path,
		RawQuery:   query,
		Header:     new(parser.Header),
		Body:       handlers.NoBody,
		Proto:      "TEST/1",
		RemoteAddr: netip.MustParseAddrPort("192.0.2.1:4321"),
		Received:   time.Now(),
	}
	for _, f := range fields {
		name, value, ok := strings.Cut(f, ":")
		if !ok {
			t.Fatalf("test request field %q has no colon", f)
		}
		value = strings.TrimSpace(value)
		r.Header.Add([]byte(name), []byte(value))
		if strings.EqualFold(name, "Host") {
			r.Host = []byte(value)
		}
	}
	return r
}

// WithBody gives r a body of known length.
func WithBody(r *handlers.Request, body string) *handlers.Request {
	r.Body = strings.NewReader(body)
	r.ContentLength = int64(len(body))
	return r
}

// Request parses raw (a whole request, CRLF line ends) with the real
// HTTP/1.1 parser, for tests whose point is the bytes a client sends. "\n"
// in raw is turned into "\r\n" when raw has no CR, for readable tests.
func Request(t testing.TB, raw string) *handlers.Request {
	t.Helper()
	if !strings.Contains(raw, "\r") {
		raw = strings.ReplaceAll(raw, "\n", "\r\n")
	}
	p, err := parser.NewReader(strings.NewReader(raw), parser.Limits{}).ReadRequest()
	if err != nil {
		t.Fatalf("parsing test request %q: %v", raw, err)
	}
	r := &handlers.Request{
		Method:        p.Method,
		Target:        p.Target,
		RawPath:       p.RawPath,
		Path:          p.Path,
		RawQuery:      p.RawQuery,
		Host:          p.Host,
		Header:        &p.Header,
		Body:          io.Reader(p.Body),
		ContentLength: p.ContentLength,
		Proto:         "HTTP/1.1",
		Received:      time.Now(),
	}
	return r
}

// Get is a GET of target with Host: example.com.
func Get(t testing.TB, target string) *handlers.Request {
	t.Helper()
	return NewRequest(t, "GET", target, "Host: example.com")
}

// Serve runs h on r with a Recorder for r's method and returns both what
// was recorded and the handler's error.
func Serve(h handlers.Handler, r *handlers.Request) (*Recorder, error) {
	rec := NewRecorderFor(r)
	err := h.Serve(rec, r)
	return rec, err
}
