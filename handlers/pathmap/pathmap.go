// Package pathmap serves exact URL paths from handlers chosen per path: a
// file for "/about", a template for "/kittens". The handlers are built by
// vhost once per config snapshot.
package pathmap

import (
	"github.com/moreweb/moreweb/handlers"
)

// Map is the handler for one site's path map.
type Map struct {
	routes map[string]handlers.Handler
}

// New returns a handler that sends each request whose cleaned path is a key
// of routes to that key's handler. The map is copied, so the caller may
// reuse it.
func New(routes map[string]handlers.Handler) handlers.Handler {
	m := &Map{routes: make(map[string]handlers.Handler, len(routes))}
	for p, h := range routes {
		m.routes[p] = h
	}
	return m
}

// Serve looks the path up exactly: "/about/" and "/About" are not "/about".
// A miss returns handlers.ErrNotFound so that the chain goes on to the
// static root.
func (m *Map) Serve(w handlers.ResponseWriter, r *handlers.Request) error {
	// The conversion in a map index does not allocate.
	h, ok := m.routes[string(r.Path)]
	if !ok {
		return handlers.ErrNotFound
	}
	return h.Serve(w, r)
}

var _ handlers.Handler = (*Map)(nil)
