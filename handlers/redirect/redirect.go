// Package redirect answers requests for moved paths with a redirect.
//
// A rule's From is an exact path ("/old") or a prefix ending in "/*"
// ("/blog/*") whose rest is appended to To. Exact rules beat prefix rules;
// among prefixes the longest wins, so "/blog/2019/*" can be carved out of
// "/blog/*". Rules match the decoded, cleaned path, the same one the static
// handler walks, so "/x/../old" and "/%6fld" meet the rule for "/old".
package redirect

import (
	"html"
	"sort"
	"strings"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// Rule sends requests for From to To with Status (301 when 0).
type Rule struct {
	From, To string
	Status   int
}

// target is To split where the request's path rest and query go in:
// path + rest + (query, else the request's) + fragment.
type target struct {
	path, query, fragment string
	status                int
}

type prefixRule struct {
	prefix string // From without the "*", so it ends in "/"
	target
}

// Redirects is the handler built from a set of rules.
type Redirects struct {
	exact    map[string]target
	prefixes []prefixRule // longest first
}

// New compiles rules. When two rules have the same From, the first wins,
// as it would if the list were read top to bottom.
func New(rules []Rule) handlers.Handler {
	rd := &Redirects{exact: make(map[string]target)}
	for _, r := range rules {
		t := splitTarget(r.To, r.Status)
		if p, ok := strings.CutSuffix(r.From, "*"); ok && strings.HasSuffix(p, "/") {
			rd.prefixes = append(rd.prefixes, prefixRule{prefix: p, target: t})
			continue
		}
		if _, dup := rd.exact[r.From]; !dup {
			rd.exact[r.From] = t
		}
	}
	// Stable, so that among equal prefixes the first in the file wins.
	sort.SliceStable(rd.prefixes, func(i, j int) bool {
		return len(rd.prefixes[i].prefix) > len(rd.prefixes[j].prefix)
	})
	return rd
}

func splitTarget(to string, status int) target {
	if status == 0 {
		status = 301
	}
	t := target{status: status}
	to, t.fragment = cutKeep(to, '#')
	t.path, t.query = cutKeep(to, '?')
	return t
}

// cutKeep splits s before the first c, which stays on the second half.
func cutKeep(s string, c byte) (string, string) {
	if i := strings.IndexByte(s, c); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// Serve redirects when a rule matches and returns handlers.ErrNotFound
// otherwise, so that the chain goes on to the path map and static root.
// Every method is redirected: a moved resource is moved for POST too, and
// 307/308 tell the client to repeat the method.
func (rd *Redirects) Serve(w handlers.ResponseWriter, r *handlers.Request) error {
	if t, ok := rd.exact[string(r.Path)]; ok {
		return redirect(w, r, t, nil)
	}
	for i := range rd.prefixes {
		p := &rd.prefixes[i]
		if len(r.Path) >= len(p.prefix) && string(r.Path[:len(p.prefix)]) == p.prefix {
			return redirect(w, r, p.target, rest(r, len(p.prefix)))
		}
	}
	return handlers.ErrNotFound
}

func redirect(w handlers.ResponseWriter, r *handlers.Request, t target, rest []byte) error {
	loc := location(t, rest, r.RawQuery)
	if !parser.ValidHeaderField("Location", loc) {
		// To comes from a checked config and rest is escaped, so this
		// means a bug; a 500 is better than a header the writer refuses.
		return &handlers.Error{Status: 500, Err: errInvalidLocation}
	}
	body := "<!DOCTYPE html>\n<a href=\"" + html.EscapeString(loc) + "\">" +
		parser.StatusText(t.status) + "</a>\n"
	h := w.Header()
	h.Set("Location", loc)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.SetContentLength(int64(len(body)))
	w.WriteHeader(t.status)
	_, err := w.WriteString(body)
	return err
}

type invalidLocation struct{}

func (invalidLocation) Error() string { return "redirect: Location would be an invalid header value" }

var errInvalidLocation error = invalidLocation{}

// location builds path + rest + query + fragment. The request's query is
// kept unless To has one of its own: a moved page still wants its
// parameters, but a target that names parameters means exactly those.
func location(t target, rest, rawQuery []byte) string {
	var b strings.Builder
	b.Grow(len(t.path) + len(rest) + len(t.query) + 1 + len(rawQuery) + len(t.fragment))
	b.WriteString(t.path)
	b.Write(rest)
	switch {
	case t.query != "":
		b.WriteString(t.query)
	case len(rawQuery) > 0:
		b.WriteByte('?')
		b.Write(rawQuery)
	}
	b.WriteString(t.fragment)
	return b.String()
}

var _ handlers.Handler = (*Redirects)(nil)
