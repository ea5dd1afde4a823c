package vhost

import (
	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// withHeaders sets a site's [vhost.headers] on every response, error pages
// and redirects included.
type withHeaders struct {
	fields []parser.HeaderField
	next   handlers.Handler
}

func newHeaders(fields []config.HeaderField, next handlers.Handler) *withHeaders {
	h := &withHeaders{next: next, fields: make([]parser.HeaderField, len(fields))}
	for i, f := range fields {
		// Canonical once here, so that Set does not allocate per request.
		h.fields[i] = parser.HeaderField{Name: parser.CanonicalName(f.Name), Value: f.Value}
	}
	return h
}

func (h *withHeaders) Serve(w handlers.ResponseWriter, r *parser.Request) error {
	hd := w.Header()
	for _, f := range h.fields {
		hd.Set(f.Name, f.Value)
	}
	return h.next.Serve(w, r)
}

var _ handlers.Handler = (*withHeaders)(nil)
