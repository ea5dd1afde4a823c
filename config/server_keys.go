package config

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"time"
)

// serverKeys is the one list of the [server] keys. Decoding and defaults,
// the hash and DiffServer all walk it, so that a key cannot be decoded and
// then be missed by the hash (a reload that changes it skipped) or by the
// reload log. Its order is the order of Server's fields, and of DiffServer's
// lists.
var serverKeys = []serverKey{
	key("log_level", func(s *Server) *string { return &s.LogLevel }, "info", oneOf("debug", "info", "warn", "error")),
	key("log_format", func(s *Server) *string { return &s.LogFormat }, "console", oneOf("console", "json")),
	key("access_log", func(s *Server) *string { return &s.AccessLog }, "stdout", accessLogPath),
	key("access_log_format", func(s *Server) *string { return &s.AccessLogFormat }, "json", oneOf("json", "combined")),
	key("read_header_timeout", func(s *Server) *time.Duration { return &s.ReadHeaderTimeout }, 10*time.Second, positiveDuration),
	key("idle_timeout", func(s *Server) *time.Duration { return &s.IdleTimeout }, 60*time.Second, positiveDuration),
	key("write_timeout", func(s *Server) *time.Duration { return &s.WriteTimeout }, 60*time.Second, positiveDuration),
	key("shutdown_timeout", func(s *Server) *time.Duration { return &s.ShutdownTimeout }, 15*time.Second, positiveDuration),
	// int fields stay within 32 bits so the config means the same on
	// every platform.
	key("max_header_bytes", func(s *Server) *int { return &s.MaxHeaderBytes }, 16384, count(1, math.MaxInt32)),
	key("max_body_bytes", func(s *Server) *int64 { return &s.MaxBodyBytes }, 10485760, size(0, math.MaxInt64)),
	// The connection cap sizes a semaphore made once, at start.
	key("max_connections", func(s *Server) *int { return &s.MaxConnections }, 10000, count(1, math.MaxInt32)).needsRestart(),
	key("max_requests_per_connection", func(s *Server) *int { return &s.MaxRequestsPerConnection }, 10000, count(1, math.MaxInt32)),
	// Read per connection and request from the snapshot serving it, so a
	// reload applies it. nil and an empty list both trust no one.
	key("trusted_proxies", func(s *Server) *[]netip.Prefix { return &s.TrustedProxies }, nil, trustedProxies).
		comparedBy(func(a, b *Server) bool { return slices.Equal(a.TrustedProxies, b.TrustedProxies) }).
		hashedBy(func(w fieldWriter, s *Server) { w.line("server.trusted_proxies", prefixStrings(s.TrustedProxies)) }),
	key("error_pages", func(s *Server) *ErrorPages { return &s.ErrorPages }, nil, errorPagesTable).
		comparedBy(func(a, b *Server) bool { return samePages(a.ErrorPages, b.ErrorPages) }).
		hashedBy(func(w fieldWriter, s *Server) { w.pages("server.error_pages", s.ErrorPages) }),
}

// serverKey is one [server] key and everything the package does with it.
type serverKey struct {
	name string
	// restart says a change takes effect only when the process starts
	// again; a reload applies every other key.
	restart bool
	// field is a pointer to the key's field of s, as an any.
	field      func(s *Server) any
	setDefault func(s *Server)
	// decode sets the field from t, leaving the default when the key is
	// absent or wrong (and then reported).
	decode func(t *table, s *Server)
	equal  func(a, b *Server) bool
	hash   func(w fieldWriter, s *Server)
	// value is the field's value, for DiffServer's messages.
	value func(s *Server) any
}

// key makes the entry for a key whose field field points to, defaulting to
// def and read from a table by read (which gets the default and returns
// it when the key is absent or wrong).
func key[T any](name string, field func(*Server) *T, def T, read func(t *table, key string, def T) T) serverKey {
	return serverKey{
		name:       name,
		field:      func(s *Server) any { return field(s) },
		setDefault: func(s *Server) { *field(s) = def },
		decode:     func(t *table, s *Server) { p := field(s); *p = read(t, name, *p) },
		equal:      func(a, b *Server) bool { return reflect.DeepEqual(*field(a), *field(b)) },
		hash:       func(w fieldWriter, s *Server) { w.line("server."+name, *field(s)) },
		value:      func(s *Server) any { return *field(s) },
	}
}

func (k serverKey) needsRestart() serverKey { k.restart = true; return k }

func (k serverKey) comparedBy(eq func(a, b *Server) bool) serverKey { k.equal = eq; return k }

func (k serverKey) hashedBy(h func(w fieldWriter, s *Server)) serverKey { k.hash = h; return k }

func oneOf(allowed ...string) func(*table, string, string) string {
	return func(t *table, key, def string) string { return t.enum(key, def, allowed...) }
}

func positiveDuration(t *table, key string, def time.Duration) time.Duration {
	return t.duration(key, def)
}

func count(min, max int64) func(*table, string, int) int {
	return func(t *table, key string, def int) int { return int(t.size(key, int64(def), min, max)) }
}

func size(min, max int64) func(*table, string, int64) int64 {
	return func(t *table, key string, def int64) int64 { return t.size(key, def, min, max) }
}

// prefixStrings is ps in the form the hash writes, each quoted.
func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func accessLogPath(t *table, key, def string) string { return t.c.accessLog(t, key, def) }

func errorPagesTable(t *table, key string, _ ErrorPages) ErrorPages {
	return t.c.errorPages(t.sub(key))
}

// samePages says two sets of pages serve the same: an empty table and
// none are alike, and a page is its path and its bytes.
func samePages(a, b ErrorPages) bool {
	if len(a) != len(b) {
		return false
	}
	for status, pa := range a {
		pb, ok := b[status]
		if !ok || pa.Path != pb.Path || !bytes.Equal(pa.Body, pb.Body) {
			return false
		}
	}
	return true
}

func defaultServer() Server {
	var s Server
	for _, k := range serverKeys {
		k.setDefault(&s)
	}
	return s
}

func (c *checker) server(t *table) Server {
	s := defaultServer()
	for _, k := range serverKeys {
		k.decode(t, &s)
	}
	t.unknown()
	return s
}

func hashServer(w fieldWriter, s *Server) {
	for _, k := range serverKeys {
		k.hash(w, s)
	}
}

// DiffServer names the [server] keys whose values differ, for the reload
// log: live are the keys that differ between the old snapshot and cur and
// take effect with this reload; restartNeeded has a line for each key that
// only a restart applies and whose value in cur differs from the one the
// process runs with, saying both ("max_connections: 10000 until a
// restart, the file says 50").
//
// running is the [server] the process started with; only its restart keys
// are read, so a caller that kept just those may pass a Server with only
// them set. With running nil, old is taken as what runs.
func DiffServer(old, cur, running *Server) (live, restartNeeded []string) {
	if running == nil {
		running = old
	}
	for _, k := range serverKeys {
		switch {
		case k.restart && !k.equal(running, cur):
			restartNeeded = append(restartNeeded, fmt.Sprintf("%s: %v until a restart, the file says %v", k.name, k.value(running), k.value(cur)))
		case !k.restart && !k.equal(old, cur):
			live = append(live, k.name)
		}
	}
	return live, restartNeeded
}
