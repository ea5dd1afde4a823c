package proxy

import (
	"strings"
	"sync/atomic"
	"time"
)

// Route is one [[vhost.proxy]] table: the paths it takes and the backends
// it sends them to.
type Route struct {
	// Path is an exact path, or a prefix ending in "/*".
	Path string
	To   []Backend
	// StripPrefix removes the prefix from the path the backend sees.
	StripPrefix bool
	// Balance is "round_robin" (also ""), "least_conn" or "first".
	Balance string
	// HealthPath, when set, is asked every HealthInterval; a backend is
	// chosen only while it answers 2xx.
	HealthPath            string
	HealthInterval        time.Duration
	ConnectTimeout        time.Duration
	ResponseHeaderTimeout time.Duration
}

// route is a Route made ready to serve.
type route struct {
	exact         string // set for an exact path
	prefix        string // "/api/" for "/api/*"; "/" for "/*"
	strip         bool
	balance       string
	next          atomic.Uint64
	ups           []*upstream
	headerTimeout time.Duration
}

func newRoute(rt Route) *route {
	r := &route{strip: rt.StripPrefix, balance: rt.Balance, headerTimeout: rt.ResponseHeaderTimeout}
	if p, ok := strings.CutSuffix(rt.Path, "*"); ok {
		r.prefix = p
	} else {
		r.exact = rt.Path
	}
	if r.headerTimeout <= 0 {
		r.headerTimeout = 60 * time.Second
	}
	connect := rt.ConnectTimeout
	if connect <= 0 {
		connect = 5 * time.Second
	}
	for _, b := range rt.To {
		r.ups = append(r.ups, &upstream{Backend: b, connectTimeout: connect})
	}
	return r
}

// matchLen is how much of path the route matches: -1 for none, so that
// the longest match wins.
func (r *route) matchLen(path []byte) int {
	if r.exact != "" {
		if string(path) == r.exact {
			return len(r.exact) + 1 // an exact path beats a prefix of the same length
		}
		return -1
	}
	if len(path) >= len(r.prefix) && string(path[:len(r.prefix)]) == r.prefix {
		return len(r.prefix)
	}
	return -1
}

// pick chooses a backend that is up, skipping tried (the one a request
// could not be sent to); nil when none is.
func (r *route) pick(now time.Time, tried *upstream) *upstream {
	t := now.UnixNano()
	n := len(r.ups)
	switch r.balance {
	case "first":
		for _, u := range r.ups {
			if u != tried && u.up(t) {
				return u
			}
		}
	case "least_conn":
		var best *upstream
		start := r.next.Add(1)
		for i := range n {
			// Ties rotate, so that idle backends share the load.
			u := r.ups[(start+uint64(i))%uint64(n)]
			if u == tried || !u.up(t) {
				continue
			}
			if best == nil || u.inflight.Load() < best.inflight.Load() {
				best = u
			}
		}
		return best
	default:
		start := r.next.Add(1) - 1
		for i := range n {
			u := r.ups[(start+uint64(i))%uint64(n)]
			if u != tried && u.up(t) {
				return u
			}
		}
	}
	return nil
}

func (r *route) close() {
	for _, u := range r.ups {
		u.close()
	}
}
