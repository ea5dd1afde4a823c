package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// A template page takes POSTed forms over a real socket: urlencoded and
// multipart bodies, framed by Content-Length or chunked, cut off at
// max_body_bytes, with the site's own error pages for what is refused.

const formSite = `max_body_bytes = 1024

[[listener]]
name = "web"
address = "127.0.0.1:0"

[[vhost]]
hosts = ["example.com"]
root = "a"

[vhost.paths]
"/form" = { file = "form.tmpl", template = true }

[vhost.error_pages]
400 = "errors/400.html"
405 = "errors/405.html"
413 = "errors/413.html"
415 = "errors/415.html"
`

var formSiteFiles = map[string]string{
	"a/index.html":    "home",
	"form.tmpl":       `{{.Method}} form:{{range $k, $v := .Form}}{{$k}}={{$v}};{{end}} query:{{.Query.Get "name"}}`,
	"errors/400.html": "custom 400",
	"errors/405.html": "custom 405",
	"errors/413.html": "custom 413",
	"errors/415.html": "custom 415",
}

// postRaw is a POST of /form with Content-Type ct and body, framed by
// Content-Length.
func postRaw(ct, body string) string {
	return "POST /form?name=q HTTP/1.1\r\nHost: example.com\r\nContent-Type: " + ct +
		"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// chunkedRaw is a POST of /form with body sent in chunks of size n.
func chunkedRaw(ct, body string, n int) string {
	var b strings.Builder
	b.WriteString("POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Type: " + ct + "\r\nTransfer-Encoding: chunked\r\n\r\n")
	for len(body) > 0 {
		c := body[:min(n, len(body))]
		body = body[len(c):]
		b.WriteString(strconv.FormatInt(int64(len(c)), 16) + "\r\n" + c + "\r\n")
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

func multipartForm(t *testing.T, fields ...string) (ct, body string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i < len(fields); i += 2 {
		if err := mw.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), b.String()
}

func TestTemplatePageRendersAPOSTedURLEncodedForm(t *testing.T) {
	s := serveSite(t, formSite, formSiteFiles)
	resp, body := s.raw("POST", postRaw("application/x-www-form-urlencoded; charset=UTF-8", "name=Ada+L&msg=%3Cb%3Ehi%3C%2Fb%3E&x=1&x=2"))
	if want := "POST form:msg=[&lt;b&gt;hi&lt;/b&gt;];name=[Ada L];x=[1 2]; query:q"; resp.StatusCode != 200 || body != want {
		t.Errorf("%d %q\nwant 200 %q", resp.StatusCode, body, want)
	}
	if resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if _, body := s.do("GET", "example.com", "/form?name=g"); body != "GET form: query:g" {
		t.Errorf("GET: %q", body)
	}
}

func TestTemplatePageRendersAPOSTedMultipartForm(t *testing.T) {
	s := serveSite(t, formSite, formSiteFiles)
	ct, form := multipartForm(t, "name", "Ada", "msg", "two\r\nlines")
	resp, body := s.raw("POST", postRaw(ct, form))
	if want := "POST form:msg=[two\r\nlines];name=[Ada]; query:q"; resp.StatusCode != 200 || body != want {
		t.Errorf("%d %q\nwant 200 %q", resp.StatusCode, body, want)
	}
}

// A chunked body is read whole, and a connection whose form body was read
// goes on to its next request.
func TestChunkedFormBodyIsReadAndTheConnectionKeptAlive(t *testing.T) {
	s := serveSite(t, formSite, formSiteFiles)
	ct, form := multipartForm(t, "name", "Ada", "msg", strings.Repeat("m", 300))
	responses := s.pipeline(t, []string{"POST", "POST", "GET"},
		chunkedRaw("application/x-www-form-urlencoded", "name=Ada&msg=hello+there&empty=", 5),
		chunkedRaw(ct, form, 100),
		"GET /form HTTP/1.1\r\nHost: example.com\r\n\r\n")
	for i, want := range []string{
		"POST form:empty=[];msg=[hello there];name=[Ada]; query:",
		"POST form:msg=[" + strings.Repeat("m", 300) + "];name=[Ada]; query:",
		"GET form: query:",
	} {
		if responses[i] != "200 "+want {
			t.Errorf("request %d: %q\nwant %q", i, responses[i], "200 "+want)
		}
	}
}

// A body over max_body_bytes answers 413 with the site's page, whether its
// Content-Length says so at once or its chunks go past the limit while the
// page reads them.
func TestFormBodyOverMaxBodyBytesIs413(t *testing.T) {
	s := serveSite(t, formSite, formSiteFiles)
	big := "a=" + strings.Repeat("x", 2000)
	ct, form := multipartForm(t, "a", strings.Repeat("x", 2000))
	for name, raw := range map[string]string{
		"Content-Length":       postRaw("application/x-www-form-urlencoded", big),
		"chunked urlencoded":   chunkedRaw("application/x-www-form-urlencoded", big, 256),
		"chunked multipart":    chunkedRaw(ct, form, 256),
		"multipart in a chunk": chunkedRaw(ct, form, 4096),
	} {
		resp, body := s.raw("POST", raw)
		if resp.StatusCode != 413 {
			t.Errorf("%s: %d %q, want 413", name, resp.StatusCode, body)
		}
		if name != "Content-Length" && body != "custom 413" {
			t.Errorf("%s: %q, want the site's 413 page", name, body)
		}
	}
	// Just under the limit is served.
	under := "a=" + strings.Repeat("x", 1022)
	if resp, body := s.raw("POST", chunkedRaw("application/x-www-form-urlencoded", under, 300)); resp.StatusCode != 200 || !strings.Contains(body, strings.Repeat("x", 1022)) {
		t.Errorf("at the limit: %d %.40q", resp.StatusCode, body)
	}
}

// What a template page does not take is refused with the site's pages:
// another body type and a file part 415, a malformed body 400, a method
// other than GET, HEAD, POST and OPTIONS 405 with Allow.
func TestFormsRefusedAnswerTheSitesErrorPages(t *testing.T) {
	s := serveSite(t, formSite, formSiteFiles)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("upload", "a.txt")
	io.WriteString(fw, "contents")
	mw.Close()
	for name, c := range map[string]struct {
		raw    string
		status int
	}{
		"json":         {postRaw("application/json", `{"a":1}`), 415},
		"file part":    {postRaw(mw.FormDataContentType(), b.String()), 415},
		"no type":      {"POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\na=1", 415},
		"bad escape":   {postRaw("application/x-www-form-urlencoded", "a=%zz"), 400},
		"no boundary":  {postRaw("multipart/form-data", "--x\r\n\r\n--x--\r\n"), 400},
		"ended early":  {postRaw("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1"), 400},
		"chunked json": {chunkedRaw("application/json", `{"a":1}`, 3), 415},
	} {
		resp, body := s.raw("POST", c.raw)
		if resp.StatusCode != c.status || body != "custom "+strconv.Itoa(c.status) {
			t.Errorf("%s: %d %q, want %d with the site's page", name, resp.StatusCode, body, c.status)
		}
	}
	resp, body := s.raw("PUT", "PUT /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n")
	if resp.StatusCode != 405 || body != "custom 405" || resp.Header.Get("Allow") != "GET, HEAD, POST, OPTIONS" {
		t.Errorf("PUT: %d %q Allow %q", resp.StatusCode, body, resp.Header.Get("Allow"))
	}
	resp, _ = s.do("OPTIONS", "example.com", "/form")
	if resp.StatusCode != 204 || resp.Header.Get("Allow") != "GET, HEAD, POST, OPTIONS" {
		t.Errorf("OPTIONS: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// pipeline sends every request on one connection at once and reads one
// response per method, each as "status body".
func (s *site) pipeline(t *testing.T, methods []string, raws ...string) []string {
	t.Helper()
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, strings.Join(raws, "")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	var out []string
	for _, m := range methods {
		resp, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("response %d: %v", len(out), err)
		}
		body, _ := io.ReadAll(resp.Body)
		out = append(out, strconv.Itoa(resp.StatusCode)+" "+string(body))
	}
	return out
}

// Over HTTP/2 (h2c here) a form is read the same way, with its length
// declared or not (DATA frames without content-length), and a body past
// max_body_bytes is 413.
func TestFormsArePOSTedOverHTTP2Too(t *testing.T) {
	s := serveSite(t, strings.Replace(formSite, `address = "127.0.0.1:0"`, "address = \"127.0.0.1:0\"\nhttp2 = true", 1), formSiteFiles)
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(context.Context, string, string, *tls.Config) (net.Conn, error) {
		return nil, io.EOF
	}}
	cc, err := tr.NewClientConn(nc)
	if err != nil {
		t.Fatal(err)
	}
	post := func(ct string, body io.Reader) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://example.com/form", body)
		req.Header.Set("Content-Type", ct)
		resp, err := cc.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const form = "name=Ada&x=1&x=2"
	const want = "POST form:name=[Ada];x=[1 2]; query:"
	if status, body := post("application/x-www-form-urlencoded", strings.NewReader(form)); status != 200 || body != want {
		t.Errorf("declared length: %d %q", status, body)
	}
	// A reader of no known length: the client sends no content-length.
	if status, body := post("application/x-www-form-urlencoded", io.MultiReader(strings.NewReader(form))); status != 200 || body != want {
		t.Errorf("length not declared: %d %q", status, body)
	}
	ct, mp := multipartForm(t, "name", "Ada")
	if status, body := post(ct, io.MultiReader(strings.NewReader(mp))); status != 200 || body != "POST form:name=[Ada]; query:" {
		t.Errorf("multipart: %d %q", status, body)
	}
	big := "a=" + strings.Repeat("x", 2000)
	if status, body := post("application/x-www-form-urlencoded", io.MultiReader(strings.NewReader(big))); status != 413 || body != "custom 413" {
		t.Errorf("over max_body_bytes: %d %q", status, body)
	}
}
