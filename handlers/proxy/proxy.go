// Package proxy sends a site's requests to the applications behind it:
// HTTP/1.1 to backends on TCP or unix sockets, over pooled keep-alive
// connections, with balancing, health, streamed bodies both ways and
// tunnels for protocol upgrades (WebSocket).
//
// Nothing the client sent decides how the backend reads the request: the
// head is written anew from the parsed request, its body framed by the
// proxy (Content-Length or chunked), hop-by-hop fields dropped. Nothing
// the backend sent decides how the client reads the response: its head is
// parsed strictly (a response two parsers could read differently answers
// 502), and the protocol writer frames the body again.
package proxy

import (
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/moreweb/moreweb/handlers"
)

// Options configure a site's proxy.
type Options struct {
	Routes []Route
	// TrustedProxies are the networks whose X-Forwarded-* fields are
	// believed: the chain they send is kept and appended to.
	TrustedProxies []netip.Prefix
	// TunnelIdle ends an upgraded connection (a WebSocket) after this long
	// without a byte either way; 0 means 10 minutes.
	TunnelIdle time.Duration
	// Log, when set, is told of backends that go down and come back.
	Log func(msg, backend string, err error)
}

// Handler answers the requests whose path one of its routes matches, and
// 404 (for the next handler of the site) for the others.
type Handler struct {
	routes     []*route
	trusted    []netip.Prefix
	tunnelIdle time.Duration
	checkers   []*checker
	closeOnce  sync.Once
}

// New returns the handler for opt's routes. Health checks start now and
// stop with Close.
func New(opt Options) *Handler {
	h := &Handler{trusted: opt.TrustedProxies, tunnelIdle: opt.TunnelIdle}
	if h.tunnelIdle <= 0 {
		h.tunnelIdle = 10 * time.Minute
	}
	for _, rt := range opt.Routes {
		r := newRoute(rt)
		h.routes = append(h.routes, r)
		if rt.HealthPath != "" {
			interval := rt.HealthInterval
			if interval <= 0 {
				interval = 10 * time.Second
			}
			c := &checker{path: rt.HealthPath, interval: interval, ups: r.ups, stop: make(chan struct{}), log: opt.Log}
			h.checkers = append(h.checkers, c)
			c.start()
		}
	}
	return h
}

// Close stops the health checks and closes the idle backend connections;
// exchanges under way finish on theirs, which then close.
func (h *Handler) Close() error {
	h.closeOnce.Do(func() {
		for _, c := range h.checkers {
			c.close()
		}
		for _, r := range h.routes {
			r.close()
		}
	})
	return nil
}

// match is the route with the longest path matching path, or nil.
func (h *Handler) match(path []byte) *route {
	var best *route
	bestLen := -1
	for _, r := range h.routes {
		if n := r.matchLen(path); n > bestLen {
			best, bestLen = r, n
		}
	}
	return best
}

var (
	errNoBackend = errors.New("proxy: no backend is up")
)

// Serve sends r to a backend of the route it matches and answers with
// what the backend answers.
func (h *Handler) Serve(w handlers.ResponseWriter, r *handlers.Request) error {
	rt := h.match(r.Path)
	if rt == nil {
		return handlers.ErrNotFound
	}
	ex := exchangePool.Get().(*exchange)
	defer exchangePool.Put(ex)
	ex.h, ex.rt, ex.w, ex.r = h, rt, w, r
	defer ex.reset()

	now := time.Now()
	var tried *upstream
	var lastErr error = errNoBackend
	for attempt := 0; attempt < 2; attempt++ {
		u := rt.pick(now, tried)
		if u == nil {
			break
		}
		u.inflight.Add(1)
		err := ex.run(u, now)
		u.inflight.Add(-1)
		ns, ok := err.(*notSentError) // never wrapped: As would cost an allocation
		if !ok {
			return err
		}
		// No byte of the request reached this backend, so whatever its
		// method it may go to another one.
		tried, lastErr = u, ns.err
	}
	return &handlers.Error{Status: 502, Err: lastErr}
}

// notSentError is a failure before any byte of the request reached the
// backend.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return "proxy: request not sent: " + e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }
