package redirect

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/handlertest"
)

var siteRules = []Rule{
	{From: "/old", To: "/new", Status: 301},
	{From: "/blog/*", To: "https://new.example/b/", Status: 308},
	{From: "/blog/2019/*", To: "https://archive.example/2019/", Status: 302},
	{From: "/blog/feed", To: "/feed.xml", Status: 307},
	{From: "/tagged", To: "/search?tag=go", Status: 303},
	{From: "/frag", To: "/doc#intro"},
	{From: "/docs/*", To: "/manual/"},
	{From: "/home/*", To: "/"},
}

func serve(t *testing.T, target string) (*handlertest.Recorder, error) {
	t.Helper()
	w := handlertest.NewRecorder()
	err := New(siteRules).Serve(w, handlertest.Get(t, target))
	return w, err
}

// A [[vhost.redirect]] rule's from is an exact path, or a prefix ending in
// /* whose rest is appended to `to`; the status is the rule's.
func TestRedirectMatchesExactPathElseLongestPrefixWithTheRulesStatus(t *testing.T) {
	tests := []struct {
		target   string
		status   int
		location string
	}{
		{"/old", 301, "/new"},
		{"/blog/x/y", 308, "https://new.example/b/x/y"},
		{"/blog/", 308, "https://new.example/b/"},
		// The longest prefix wins.
		{"/blog/2019/post", 302, "https://archive.example/2019/post"},
		// An exact rule beats any prefix.
		{"/blog/feed", 307, "/feed.xml"},
		{"/blog/feed/more", 308, "https://new.example/b/feed/more"},
		// Status 0 means the default, 301.
		{"/docs/a", 301, "/manual/a"},
		// Matching uses the decoded, cleaned path.
		{"/%6fld", 301, "/new"},
		{"/x/../old", 301, "/new"},
		{"/blog//x", 308, "https://new.example/b/x"},
	}
	for _, tt := range tests {
		w, err := serve(t, tt.target)
		if err != nil {
			t.Errorf("%s: error %v", tt.target, err)
			continue
		}
		if w.Code != tt.status || w.Head.Get("Location") != tt.location {
			t.Errorf("%s: %d Location %q, want %d %q", tt.target, w.Code, w.Head.Get("Location"), tt.status, tt.location)
		}
	}
}

// Inside a vhost, redirects come first and anything they do not match goes
// on to the path map and static root, so no match is a 404 that
// handlers.Chain passes over.
func TestRedirectWithoutAMatchIsNotFoundForTheNextHandler(t *testing.T) {
	for _, target := range []string{"/", "/olde", "/old/", "/blog", "/blogx", "/other/old"} {
		w, err := serve(t, target)
		if err != handlers.ErrNotFound || w.Written() {
			t.Errorf("%s: err %v written %v, want ErrNotFound, nothing written", target, err, w.Written())
		}
	}
}

// The query is kept when the target names none of its own, and a target's
// own query or fragment stays in its place.
func TestRedirectKeepsTheQueryUnlessTheTargetHasItsOwn(t *testing.T) {
	tests := []struct{ target, location string }{
		{"/old?a=1&b=%20", "/new?a=1&b=%20"},
		{"/old?", "/new"},
		{"/blog/x?page=2", "https://new.example/b/x?page=2"},
		{"/tagged?tag=rust", "/search?tag=go"},
		{"/frag?x=1", "/doc?x=1#intro"},
	}
	for _, tt := range tests {
		w, err := serve(t, tt.target)
		if err != nil || w.Head.Get("Location") != tt.location {
			t.Errorf("%s: Location %q err %v, want %q", tt.target, w.Head.Get("Location"), err, tt.location)
		}
	}
}

// RFC 9110 §5.5 and §10.2.2: a field value holds no CR or LF, and Location
// is a URI reference. The rest of a prefix match comes from the raw path, so
// an encoded CR LF stays encoded and cannot split the response.
func TestLocationCannotSplitTheResponse_RFC9110_5_5(t *testing.T) {
	tests := []struct{ target, location string }{
		{"/blog/%0d%0aSet-Cookie:%20x=1", "https://new.example/b/%0d%0aSet-Cookie:%20x=1"},
		{"/blog/a%3Fb", "https://new.example/b/a%3Fb"},
		{"/blog/caf%C3%A9", "https://new.example/b/caf%C3%A9"},
		// Raw bytes a URI may not hold are escaped.
		{"/blog/caf\xc3\xa9", "https://new.example/b/caf%C3%A9"},
		{"/blog/a\"<b>", "https://new.example/b/a%22%3Cb%3E"},
		// Cleaning changed the path: the cleaned rest is escaped.
		{"/blog/x/../%0d%0a", "https://new.example/b/%0D%0A"},
	}
	for _, tt := range tests {
		w, err := serve(t, tt.target)
		if err != nil {
			t.Errorf("%s: error %v", tt.target, err)
			continue
		}
		loc := w.Head.Get("Location")
		if loc != tt.location {
			t.Errorf("%s: Location %q, want %q", tt.target, loc, tt.location)
		}
		if strings.ContainsAny(loc, "\r\n") {
			t.Errorf("%s: Location %q holds CR or LF", tt.target, loc)
		}
	}
}

// A redirect must not send the client off the site: "\" reads as "/" in a
// browser, and a rest starting with "/" after To "/" makes "//host".
func TestRedirectNeverSendsTheClientOffTheSite(t *testing.T) {
	for _, target := range []string{"/home/\\evil.example", "/home//evil.example", "/home/%2Fevil.example", "/home/%2F%2Fevil.example", "/home/%5Cevil.example"} {
		w, err := serve(t, target)
		if err != nil {
			t.Errorf("%s: error %v", target, err)
			continue
		}
		loc := w.Head.Get("Location")
		if strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") || strings.HasPrefix(loc, "/%2F") {
			t.Errorf("%s: Location %q leaves the site", target, loc)
		}
	}
}

// RFC 3986 §5.2.4: a client removes dot-segments, "%2e%2e" included, from
// the Location it follows. The raw rest of "/blog/%2e%2e/blog/x" would send
// it from /b/ up to /blog/x; the cleaned rest keeps it under To.
func TestEncodedDotSegmentsStayUnderTheTarget_RFC3986_5_2_4(t *testing.T) {
	for target, want := range map[string]string{
		"/blog/%2e%2e/blog/x":    "https://new.example/b/x",
		"/blog/x/%2e%2e/y":       "https://new.example/b/y",
		"/blog/x/.%2E/../blog/z": "https://new.example/b/z",
	} {
		w, err := serve(t, target)
		if err != nil || w.Head.Get("Location") != want {
			t.Errorf("%s: Location %q err %v, want %q", target, w.Head.Get("Location"), err, want)
		}
	}
}

// Every method is redirected; a 307/308 tells the client to repeat it.
func TestEveryMethodIsRedirected_RFC9110_15_4_9(t *testing.T) {
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"} {
		r := handlertest.Request(t, m+" /blog/x HTTP/1.1\nHost: a\nContent-Length: 0\n\n")
		w := handlertest.NewRecorder()
		if err := New(siteRules).Serve(w, r); err != nil || w.Code != 308 {
			t.Errorf("%s: %d %v, want 308", m, w.Code, err)
		}
	}
}

// The body is a small HTML page linking the target, escaped, with its length
// declared.
func TestRedirectBodyIsASmallPageLinkingTheEscapedTarget(t *testing.T) {
	rules := []Rule{{From: "/q", To: "/s?a=1&b=\"2\"", Status: 302}}
	w := handlertest.NewRecorder()
	if err := New(rules).Serve(w, handlertest.Get(t, "/q")); err != nil {
		t.Fatal(err)
	}
	body := w.Body.String()
	if !strings.Contains(body, `href="/s?a=1&amp;b=&#34;2&#34;"`) {
		t.Errorf("body %q does not link the escaped target", body)
	}
	if w.Head.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", w.Head.Get("Content-Type"))
	}
	if w.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d, body %d bytes", w.ContentLength, len(body))
	}
	if !strings.Contains(body, "Found") {
		t.Errorf("body %q lacks the reason phrase", body)
	}
}

// A Location the writer would refuse is a 500, with nothing written.
func TestRedirectInvalidLocationIs500(t *testing.T) {
	rules := []Rule{{From: "/bad", To: "/x\r\nSet-Cookie: a=b"}}
	w := handlertest.NewRecorder()
	err := New(rules).Serve(w, handlertest.Get(t, "/bad"))
	var he *handlers.Error
	if !errors.As(err, &he) || he.Status != 500 || w.Written() || w.Head.Len() != 0 {
		t.Errorf("err %v written %v header %d fields, want 500 and nothing", err, w.Written(), w.Head.Len())
	}
}

// Among rules with the same From, the first in the file wins.
func TestRedirectFirstDuplicateWins(t *testing.T) {
	rules := []Rule{
		{From: "/a", To: "/first"}, {From: "/a", To: "/second"},
		{From: "/p/*", To: "/one/"}, {From: "/p/*", To: "/two/"},
	}
	h := New(rules)
	for target, want := range map[string]string{"/a": "/first", "/p/x": "/one/x"} {
		w := handlertest.NewRecorder()
		if err := h.Serve(w, handlertest.Get(t, target)); err != nil || w.Head.Get("Location") != want {
			t.Errorf("%s: Location %q, want %q", target, w.Head.Get("Location"), want)
		}
	}
}

func BenchmarkRedirectPrefix(b *testing.B) {
	var rules []Rule
	for i := range 50 {
		rules = append(rules, Rule{From: "/p" + strconv.Itoa(i) + "/*", To: "/q/"})
	}
	rules = append(rules, siteRules...)
	h := New(rules)
	r := handlertest.Get(b, "/blog/2019/some/post?x=1")
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Serve(handlertest.NewRecorder(), r)
	}
}
