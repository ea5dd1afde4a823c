package tmpl

import (
	"errors"
	"html/template"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/handlertest"
	"github.com/moreweb/moreweb/internal/testkit"
)

// parseFile parses a template from a real file, as the config does.
func parseFile(t *testing.T, text string) *template.Template {
	t.Helper()
	dir := testkit.Tree(t, map[string]string{"page.html": text})
	tp, err := template.ParseFiles(filepath.Join(dir, "page.html"))
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

const dataPage = `size={{.Query.Get "size"}} path={{.Path}} host={{.Host}} method={{.Method}} ua={{.Header.Get "user-agent"}} all={{index .Query "x"}}`

// A template sees the request as .Query, .Path, .Host, .Method and .Header.
func TestTemplateSeesQueryPathHostMethodAndHeader(t *testing.T) {
	h := New(parseFile(t, dataPage))
	r := handlertest.Request(t, "GET /kit%74ens?size=big&x=1&x=2 HTTP/1.1\nHost: Example.com:8080\nUser-Agent: curl/8.0\n\n")
	w := handlertest.NewRecorder()
	if err := h.Serve(w, r); err != nil {
		t.Fatal(err)
	}
	want := "size=big path=/kittens host=Example.com:8080 method=GET ua=curl/8.0 all=[1 2]"
	if got := w.Body.String(); got != want {
		t.Errorf("body %q\nwant %q", got, want)
	}
	if w.Code != 200 || w.Head.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("status %d Content-Type %q", w.Code, w.Head.Get("Content-Type"))
	}
	if w.ContentLength != int64(len(want)) {
		t.Errorf("Content-Length %d, want %d", w.ContentLength, len(want))
	}
}

// Values are escaped for HTML, so a query cannot inject markup.
func TestTemplateEscapesTheQueryForHTML(t *testing.T) {
	h := New(parseFile(t, `<p>{{.Query.Get "q"}}</p><a href="/s?q={{.Query.Get "q"}}">x</a>`))
	w := handlertest.NewRecorder()
	if err := h.Serve(w, handlertest.Get(t, "/s?q=%3Cscript%3Ealert(1)%3C/script%3E")); err != nil {
		t.Fatal(err)
	}
	body := w.Body.String()
	if strings.Contains(body, "<script>") {
		t.Fatalf("query reached the page unescaped: %q", body)
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("body %q lacks the escaped text", body)
	}
	if !strings.Contains(body, `href="/s?q=%3cscript%3ealert%281%29%3c%2fscript%3e"`) {
		t.Errorf("body %q lacks the URL-escaped attribute", body)
	}
}

// A header the client did not send, or a malformed query, reads as empty
// rather than failing the page.
func TestTemplateReadsMissingValuesAsEmpty(t *testing.T) {
	h := New(parseFile(t, `[{{.Header.Get "X-None"}}][{{.Query.Get "a"}}][{{.Query.Get "b"}}]`))
	w := handlertest.NewRecorder()
	if err := h.Serve(w, handlertest.Get(t, "/p?a=%zz&b=2")); err != nil {
		t.Fatal(err)
	}
	if got := w.Body.String(); got != "[][][2]" {
		t.Errorf("body %q, want [][][2]", got)
	}
}

// A template that fails to run answers 500, and nothing of the
// half-rendered page is written, so the site's 500 page can still be sent.
func TestTemplateThatFailsToRunIs500WithNothingWritten(t *testing.T) {
	h := New(parseFile(t, `before {{template "missing" .}} after`))
	w := handlertest.NewRecorder()
	err := h.Serve(w, handlertest.Get(t, "/p"))
	var he *handlers.Error
	if !errors.As(err, &he) || he.Status != 500 || he.Err == nil {
		t.Fatalf("err %v, want *handlers.Error 500 with the cause", err)
	}
	if w.Written() || w.Body.Len() != 0 || w.Head.Len() != 0 {
		t.Errorf("wrote %d %q with %d fields, want nothing", w.Code, w.Body.String(), w.Head.Len())
	}
}

// A template page takes GET, HEAD, POST (a form, see form_test.go) and
// OPTIONS; others are 405 with Allow, which lists the same methods OPTIONS
// does. HEAD has the same header as GET (the writer drops the body).
func TestTemplateServesGETHEADPOSTAndOPTIONSAndOthersAre405WithAllow(t *testing.T) {
	h := New(parseFile(t, `hello`))
	const allowed = "GET, HEAD, POST, OPTIONS"

	w := handlertest.NewRecorder()
	if err := h.Serve(w, handlertest.Request(t, "HEAD /p HTTP/1.1\nHost: a\n\n")); err != nil || w.Code != 200 || w.ContentLength != 5 {
		t.Errorf("HEAD: %d length %d err %v, want 200 length 5", w.Code, w.ContentLength, err)
	}

	w = handlertest.NewRecorder()
	if err := h.Serve(w, handlertest.Request(t, "POST /p HTTP/1.1\nHost: a\nContent-Length: 0\n\n")); err != nil || w.Code != 200 || w.Body.String() != "hello" {
		t.Errorf("POST: %d %q err %v, want 200 hello", w.Code, w.Body.String(), err)
	}

	w = handlertest.NewRecorder()
	if err := h.Serve(w, handlertest.Request(t, "OPTIONS /p HTTP/1.1\nHost: a\n\n")); err != nil || w.Code != 204 || w.Head.Get("Allow") != allowed {
		t.Errorf("OPTIONS: %d Allow %q err %v, want 204 with Allow %q", w.Code, w.Head.Get("Allow"), err, allowed)
	}

	for _, m := range []string{"PUT", "DELETE", "PATCH", "TRACE", "post"} {
		w = handlertest.NewRecorder()
		err := h.Serve(w, handlertest.Request(t, m+" /p HTTP/1.1\nHost: a\nContent-Length: 0\n\n"))
		if handlers.StatusOf(err) != 405 || w.Written() || w.Head.Get("Allow") != allowed {
			t.Errorf("%s: err %v written %v Allow %q, want 405 with Allow %q and nothing written", m, err, w.Written(), w.Head.Get("Allow"), allowed)
		}
	}
}

// Pages are rendered from many connections at once; pooled buffers must not
// leak one request's page into another's.
func TestConcurrentTemplatePagesNeverMix(t *testing.T) {
	h := New(parseFile(t, `{{.Query.Get "n"}}`))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := strings.Repeat(string(rune('a'+i)), 100+i)
			for range 200 {
				w := handlertest.NewRecorder()
				if err := h.Serve(w, handlertest.Get(t, "/p?n="+n)); err != nil || w.Body.String() != n {
					t.Errorf("got %q err %v, want %q", w.Body.String(), err, n)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkTemplate(b *testing.B) {
	h := New(template.Must(template.New("p").Parse(dataPage)))
	r := handlertest.Request(b, "GET /kittens?size=big HTTP/1.1\nHost: example.com\nUser-Agent: curl/8.0\n\n")
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Serve(handlertest.NewRecorder(), r)
	}
}
