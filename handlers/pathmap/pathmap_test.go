package pathmap

import (
	"testing"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/handlertest"
)

func text(body string) handlers.Handler {
	return handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		_, err := w.WriteString(body)
		return err
	})
}

// [vhost.paths] maps an exact URL path to a file: only the exact cleaned
// path matches; anything else goes on down the chain as a 404.
func TestPathMapMatchesOnlyTheExactCleanedPath(t *testing.T) {
	h := New(map[string]handlers.Handler{"/about": text("about"), "/": text("home")})
	tests := []struct {
		target string
		body   string // "" for ErrNotFound
	}{
		{"/about", "about"},
		{"/about?x=1", "about"},
		{"/%61bout", "about"},
		{"/x/../about", "about"},
		{"/", "home"},
		{"/about/", ""},
		{"/About", ""},
		{"/about.html", ""},
		{"/about/x", ""},
		{"/abou", ""},
	}
	for _, tt := range tests {
		w := handlertest.NewRecorder()
		err := h.Serve(w, handlertest.Get(t, tt.target))
		if tt.body == "" {
			if err != handlers.ErrNotFound || w.Written() {
				t.Errorf("%s: err %v written %v, want ErrNotFound", tt.target, err, w.Written())
			}
			continue
		}
		if err != nil || w.Body.String() != tt.body {
			t.Errorf("%s: %q err %v, want %q", tt.target, w.Body.String(), err, tt.body)
		}
	}
}

// A mapped handler's own error, 404 included, is passed on as it is.
func TestPathMapPassesHandlerError(t *testing.T) {
	h := New(map[string]handlers.Handler{"/gone": handlers.HandlerFunc(func(handlers.ResponseWriter, *handlers.Request) error {
		return handlers.ErrForbidden
	})})
	if err := h.Serve(handlertest.NewRecorder(), handlertest.Get(t, "/gone")); err != handlers.ErrForbidden {
		t.Errorf("err %v, want ErrForbidden", err)
	}
}

// The lookup is on the hot path of every request to a site with a path map.
func TestPathMapLookupDoesNotAllocate(t *testing.T) {
	h := New(map[string]handlers.Handler{"/about": text("about")})
	r := handlertest.Get(t, "/missing")
	w := handlertest.NewRecorder()
	if n := testing.AllocsPerRun(100, func() { _ = h.Serve(w, r) }); n != 0 {
		t.Errorf("%v allocs per miss, want 0", n)
	}
}
