package errorpage

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/handlertest"
	"github.com/moreweb/moreweb/parser"
)

func loadPages(t *testing.T) Pages {
	t.Helper()
	return FromBytes(map[int][]byte{
		404: []byte("<h1>custom not found</h1>"),
		500: []byte("<h1>custom oops</h1>"),
	})
}

func failWith(err error) handlers.Handler {
	return handlers.HandlerFunc(func(handlers.ResponseWriter, *handlers.Request) error { return err })
}

// A vhost's error_pages serve every error that vhost produces, with the
// original status, so that clients and caches still see what went wrong;
// the handler's error is returned for the log.
func TestSitesErrorPageServesItsErrorsWithTheOriginalStatus(t *testing.T) {
	pages := loadPages(t)
	tests := []struct {
		err    error
		status int
		body   string
	}{
		{handlers.ErrNotFound, 404, "<h1>custom not found</h1>"},
		{&handlers.Error{Status: 500, Err: errors.New("template broke")}, 500, "<h1>custom oops</h1>"},
		// Any error that is not an *Error answers 500.
		{errors.New("disk on fire"), 500, "<h1>custom oops</h1>"},
	}
	for _, tt := range tests {
		w := handlertest.NewRecorder()
		err := Wrap(failWith(tt.err), pages).Serve(w, handlertest.Get(t, "/x"))
		if err != tt.err {
			t.Errorf("%v: returned %v, want the original error", tt.err, err)
		}
		if w.Code != tt.status || w.Body.String() != tt.body {
			t.Errorf("%v: %d %q, want %d %q", tt.err, w.Code, w.Body.String(), tt.status, tt.body)
		}
		if w.Head.Get("Content-Type") != "text/html; charset=utf-8" || w.ContentLength != int64(len(tt.body)) {
			t.Errorf("%v: Content-Type %q length %d", tt.err, w.Head.Get("Content-Type"), w.ContentLength)
		}
	}
}

// Without a page for the status, a small built-in page names the status and
// echoes nothing from the client, which could inject markup.
func TestBuiltinErrorPageNamesTheStatusAndEchoesNothing(t *testing.T) {
	pages := loadPages(t)
	for _, p := range []Pages{pages, nil} {
		w := handlertest.NewRecorder()
		r := handlertest.Get(t, "/%3Cscript%3Ealert(1)%3C/script%3E?<b>")
		err := Wrap(failWith(handlers.ErrForbidden), p).Serve(w, r)
		if err != handlers.ErrForbidden || w.Code != 403 {
			t.Fatalf("%d %v, want 403", w.Code, err)
		}
		body := w.Body.String()
		if !strings.Contains(body, "403 Forbidden") {
			t.Errorf("body %q does not name the status", body)
		}
		if strings.Contains(body, "script") || strings.Contains(body, "<b>") {
			t.Errorf("body %q echoes the request", body)
		}
		if w.ContentLength != int64(len(body)) {
			t.Errorf("Content-Length %d, body %d", w.ContentLength, len(body))
		}
	}
}

// A status with no reason phrase still gets a page; one that is not an error
// status at all is a bug and answers 500.
func TestStatusWithoutAReasonGetsAPageAndANonErrorStatusIs500(t *testing.T) {
	for status, want := range map[int]int{499: 499, 200: 500, 0: 500, 302: 500, 600: 500} {
		w := handlertest.NewRecorder()
		Wrap(failWith(&handlers.Error{Status: status}), nil).Serve(w, handlertest.Get(t, "/"))
		if w.Code != want || !strings.Contains(w.Body.String(), "<h1>"+strconv.Itoa(want)) {
			t.Errorf("status %d: answered %d %q, want %d", status, w.Code, w.Body.String(), want)
		}
	}
}

// RFC 9110 §15.5.6: a 405 carries Allow; §15.5.17: a 416 carries
// Content-Range. Fields describing the body that was not sent go.
func TestErrorPageKeepsAllowAndContentRangeButNotTheBodysFields_RFC9110_15_5_6(t *testing.T) {
	h := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		w.Header().Set("Cache-Control", "public, max-age=60") // a [vhost.headers] field
		w.Header().Set("ETag", `"abc"`)
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		w.Header().Set("Content-Encoding", "br")
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("Content-Range", "bytes */100")
		w.SetContentLength(1 << 20)
		return handlers.ErrMethodNotAllowed
	})
	w := handlertest.NewRecorder()
	Wrap(h, nil).Serve(w, handlertest.Request(t, "DELETE /f HTTP/1.1\nHost: a\n\n"))
	if w.Code != 405 {
		t.Fatalf("status %d, want 405", w.Code)
	}
	want := map[string]string{
		"Allow":            "GET, HEAD, OPTIONS",
		"Cache-Control":    "public, max-age=60",
		"Content-Type":     "text/html; charset=utf-8",
		"ETag":             "",
		"Last-Modified":    "",
		"Content-Encoding": "",
		"Accept-Ranges":    "",
		"Content-Range":    "",
	}
	for name, v := range want {
		if got := field(&w.Head, name); got != v {
			t.Errorf("%s: %q, want %q", name, got, v)
		}
	}
	if w.ContentLength != int64(w.Body.Len()) {
		t.Errorf("Content-Length %d, body %d", w.ContentLength, w.Body.Len())
	}

	w = handlertest.NewRecorder()
	Wrap(handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		w.Header().Set("Content-Range", "bytes */100")
		return &handlers.Error{Status: 416}
	}), nil).Serve(w, handlertest.Get(t, "/f"))
	if w.Code != 416 || w.Head.Get("Content-Range") != "bytes */100" {
		t.Errorf("416: %d Content-Range %q, want bytes */100", w.Code, w.Head.Get("Content-Range"))
	}
}

// field looks name up ignoring case, so that the test does not depend on
// how the header spells it.
func field(h *parser.ResponseHeader, name string) string {
	for i := range h.Len() {
		if f := h.At(i); strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Once the handler has written its head, the error cannot become a page:
// Wrap passes it on, marked as a cut response, and writes nothing more.
func TestErrorAfterTheHeadIsWrittenIsPassedOnUnrendered(t *testing.T) {
	boom := errors.New("client went away")
	h := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		w.WriteHeader(200)
		w.WriteString("partial")
		return boom
	})
	w := handlertest.NewRecorder()
	if err := Wrap(h, loadPages(t)).Serve(w, handlertest.Get(t, "/")); !errors.Is(err, boom) || !errors.Is(err, handlers.ErrResponseCut) {
		t.Errorf("err %v, want the handler's, marked as a cut response", err)
	}
	if w.Code != 200 || w.Body.String() != "partial" {
		t.Errorf("%d %q, want the handler's 200 partial", w.Code, w.Body.String())
	}
}

// Success passes through untouched.
func TestSuccessPassesThroughUntouched(t *testing.T) {
	h := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		_, err := w.WriteString("ok")
		return err
	})
	w := handlertest.NewRecorder()
	if err := Wrap(h, loadPages(t)).Serve(w, handlertest.Get(t, "/")); err != nil || w.Body.String() != "ok" {
		t.Errorf("%q %v", w.Body.String(), err)
	}
}

// Errors raised before a request is parsed have no request to hand.
func TestErrorPageIsWrittenWithoutARequest(t *testing.T) {
	w := handlertest.NewRecorder()
	loadPages(t).Write(w, nil, 400)
	if w.Code != 400 || !strings.Contains(w.Body.String(), "400 Bad Request") {
		t.Errorf("%d %q", w.Code, w.Body.String())
	}
}

// A handler that panics answers 500 with the site's own page, not the
// server's, and the error returned carries the panic's value and stack for
// the log.
func TestPanicAnswersTheSitesOwn500Page(t *testing.T) {
	pages := loadPages(t)
	boom := handlers.HandlerFunc(func(handlers.ResponseWriter, *handlers.Request) error { panic("boom") })
	rec, err := handlertest.Serve(Wrap(boom, pages), handlertest.Get(t, "/x"))
	if rec.Code != 500 || rec.Body.String() != "<h1>custom oops</h1>" {
		t.Fatalf("%d %q, want the site's 500 page", rec.Code, rec.Body.String())
	}
	var pe *handlers.PanicError
	if !errors.Is(err, handlers.ErrPanic) || !errors.As(err, &pe) || pe.Value != "boom" || len(pe.Stack) == 0 {
		t.Fatalf("error %v, want the panic with its stack", err)
	}
}
