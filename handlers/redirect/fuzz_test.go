package redirect_test

import (
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/moreweb/moreweb/handlers/handlertest"
	"github.com/moreweb/moreweb/handlers/redirect"
	"github.com/moreweb/moreweb/parser"
)

var fuzzRules = []redirect.Rule{
	{From: "/old/*", To: "/new/", Status: 301},
	{From: "/away/*", To: "https://elsewhere.example/landing/", Status: 302},
	{From: "/exact", To: "/target?x=1", Status: 308},
}

// FuzzRedirectLocation serves arbitrary request targets through prefix
// rules: whatever the client puts after the prefix, the Location is a valid
// header value (no response splitting) and, once a browser resolves it
// (percent-encoded dots included), stays under the rule's target (no open
// redirect, no climbing out with "..").
func FuzzRedirectLocation(f *testing.F) {
	for _, seed := range []string{
		"/old/a/b?q=1",
		"/old/%0d%0aSet-Cookie:%20x",
		"/old/%2e%2e/%2e%2e/etc",
		"/old/..%2f..%2fx",
		"/old/%5c%5cevil.example",
		"/old//evil.example",
		"/away/@evil.example",
		"/away/%2F%2Fevil.example",
		"/old/\xc0\xae\xc0\xae/x",
		"/old/a?%0d%0a",
		"/exact?y=2",
		"http://example.com/old/x",
	} {
		f.Add(seed)
	}
	h := redirect.New(fuzzRules)
	base, _ := url.Parse("http://example.com/")
	f.Fuzz(func(t *testing.T, target string) {
		raw := "GET " + target + " HTTP/1.1\r\nHost: example.com\r\n\r\n"
		if _, err := parser.NewReader(strings.NewReader(raw), parser.Limits{}).ReadRequest(); err != nil {
			return // the parser refuses it: it never reaches a handler
		}
		req := handlertest.Request(t, raw)
		rec := handlertest.NewRecorder()
		if err := h.Serve(rec, req); err != nil || !rec.Written() {
			return
		}
		loc := string(rec.Head.Get("Location"))
		if !parser.ValidHeaderField("Location", loc) || strings.ContainsAny(loc, "\r\n\x00 \t") {
			t.Fatalf("%q: Location %q", target, loc)
		}
		// Browsers read "\" as "/" in a path (not in a query).
		if p, _, _ := strings.Cut(loc, "?"); strings.Contains(p, "\\") {
			t.Fatalf("%q: Location %q has a backslash in its path", target, loc)
		}
		u, err := base.Parse(loc)
		if err != nil {
			t.Fatalf("%q: Location %q does not parse: %v", target, loc, err)
		}
		var host, under string
		switch {
		case strings.HasPrefix(loc, "https://elsewhere.example/landing/"):
			host, under = "elsewhere.example", "/landing"
		case strings.HasPrefix(loc, "/new/"):
			host, under = "example.com", "/new"
		case strings.HasPrefix(loc, "/target?x=1"):
			host, under = "example.com", "/target"
		default:
			t.Fatalf("%q: Location %q matches no rule's target", target, loc)
		}
		if u.Host != host || u.User != nil {
			t.Fatalf("%q: Location %q leads to host %q", target, loc, u.Host)
		}
		// A browser treats %2e as "." when it removes dot-segments.
		p := strings.ReplaceAll(strings.ReplaceAll(u.EscapedPath(), "%2e", "."), "%2E", ".")
		if c := path.Clean(p); c != under && !strings.HasPrefix(c, under+"/") {
			t.Fatalf("%q: Location %q resolves to %q, outside %s", target, loc, c, under)
		}
	})
}
