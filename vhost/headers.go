package vhost

import (
	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// withHeaders sets a site's [vhost.headers] on every response, error pages
// and redirects included. It only sets fields, so it passes the writer on
// as it is.
func withHeaders(fields []config.HeaderField) handlers.Middleware {
	canonical := make([]parser.HeaderField, len(fields))
	for i, f := range fields {
		// Canonical once here, so that no request pays for it.
		canonical[i] = parser.HeaderField{Name: parser.CanonicalName(f.Name), Value: f.Value}
	}
	return func(next handlers.Handler) handlers.Handler {
		return &headerSetter{fields: canonical, next: next}
	}
}

type headerSetter struct {
	fields []parser.HeaderField
	next   handlers.Handler
}

func (h *headerSetter) Serve(w handlers.ResponseWriter, r *handlers.Request) error {
	hd := w.Header()
	for _, f := range h.fields {
		hd.SetCanonical(f.Name, f.Value)
	}
	return h.next.Serve(w, r)
}

var _ handlers.Handler = (*headerSetter)(nil)

// noSniff tells browsers to take Content-Type as given instead of guessing
// from the bytes, which would let an uploaded text file run as a script.
func noSniff(next handlers.Handler) handlers.Handler {
	return handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		w.Header().SetCanonical("X-Content-Type-Options", "nosniff")
		return next.Serve(w, r)
	})
}
