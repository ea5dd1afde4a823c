package tmpl

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime/multipart"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/handlertest"
	"github.com/moreweb/moreweb/parser"
)

// formPage shows every form field and every query field, keys sorted.
const formPage = `form:{{range $k, $v := .Form}}{{$k}}={{$v}};{{end}} query:{{range $k, $v := .Query}}{{$k}}={{$v}};{{end}}`

// post is a POST of body with Content-Type ct ("" for none) and a
// Content-Length.
func post(t testing.TB, target, ct, body string) *handlers.Request {
	t.Helper()
	fields := []string{"Host: example.com"}
	if ct != "" {
		fields = append(fields, "Content-Type: "+ct)
	}
	return handlertest.WithBody(handlertest.NewRequest(t, "POST", target, fields...), body)
}

// parsed reads raw (its head with "\n" line ends, its body as is) with the real HTTP/1.1 parser, its body cut off at
// maxBody as max_body_bytes does, so that the body reader's own errors
// (413 past the limit, 400 for a truncated body) reach the handler.
func parsed(t testing.TB, raw string, maxBody int64) *handlers.Request {
	t.Helper()
	head, body, _ := strings.Cut(raw, "\n\n")
	raw = strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n" + body
	p, err := parser.NewReader(strings.NewReader(raw), parser.Limits{MaxBodyBytes: maxBody}).ReadRequest()
	if err != nil {
		t.Fatalf("parsing test request %q: %v", raw, err)
	}
	return &handlers.Request{
		Method: p.Method, Target: p.Target, RawPath: p.RawPath, Path: p.Path, RawQuery: p.RawQuery,
		Host: p.Host, Header: &p.Header, Body: p.Body, ContentLength: p.ContentLength, Proto: "HTTP/1.1",
	}
}

// chunked frames body as one chunk (none when body is empty).
func chunked(body string) string {
	if body == "" {
		return "0\r\n\r\n"
	}
	return strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n"
}

// multipartBody builds a multipart/form-data body of fields (name, value
// pairs) and returns it with its Content-Type.
func multipartBody(t testing.TB, fields ...string) (ct, body string) {
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

// serveOK serves r and wants a 200 page with body want.
func serveOK(t *testing.T, h handlers.Handler, r *handlers.Request, want string) *handlertest.Recorder {
	t.Helper()
	w, err := handlertest.Serve(h, r)
	if err != nil || w.Code != 200 {
		t.Fatalf("err %v status %d, want 200", err, w.Code)
	}
	if got := w.Body.String(); got != want {
		t.Errorf("body %q\nwant %q", got, want)
	}
	return w
}

// serveStatus serves r and wants the error status, with nothing written.
func serveStatus(t *testing.T, h handlers.Handler, r *handlers.Request, status int, what string) {
	t.Helper()
	w, err := handlertest.Serve(h, r)
	if got := handlers.StatusOf(err); err == nil || got != status {
		t.Errorf("%s: err %v (status %d), want %d", what, err, got, status)
	}
	if w.Written() || w.Body.Len() != 0 {
		t.Errorf("%s: wrote %d %q, want nothing", what, w.Code, w.Body.String())
	}
}

// A urlencoded POST body is decoded into .Form, repeated names kept in
// order, and the page is the same kind of page a GET gets.
func TestPOSTedURLEncodedBodyIsReadIntoForm(t *testing.T) {
	h := New(parseFile(t, formPage))
	want := "form:e=[é];empty=[];name=[Ada L];x=[1 2]; query:"
	w := serveOK(t, h, post(t, "/p", "application/x-www-form-urlencoded", "name=Ada+L&x=1&x=2&e=%C3%A9&empty="), want)
	if w.Head.Get("Content-Type") != "text/html; charset=utf-8" || w.ContentLength != int64(len(want)) {
		t.Errorf("Content-Type %q length %d", w.Head.Get("Content-Type"), w.ContentLength)
	}
}

// A multipart/form-data body's fields are read into .Form: values keep
// their line ends and bytes, repeated names are kept in order.
func TestPOSTedMultipartFieldsAreReadIntoForm(t *testing.T) {
	h := New(parseFile(t, `{{.Form.Get "msg"}}|{{index .Form "x"}}|{{.Form.Get "empty"}}|{{len .Form}}`))
	ct, body := multipartBody(t, "msg", "two\r\nlines & é", "x", "1", "x", "2", "empty", "")
	serveOK(t, h, post(t, "/p", ct, body), "two\r\nlines &amp; é|[1 2]||3")
}

// .Form and .Query are apart: a field of the same name in each keeps its
// own value, and a GET's query never shows up as a form.
func TestFormIsKeptApartFromQuery(t *testing.T) {
	h := New(parseFile(t, formPage))
	serveOK(t, h, post(t, "/p?name=query&q=1", "application/x-www-form-urlencoded", "name=form"),
		"form:name=[form]; query:name=[query];q=[1];")
	serveOK(t, h, handlertest.Get(t, "/p?name=query"), "form: query:name=[query];")
}

// Form values are escaped for HTML like any other value.
func TestPOSTedFormValuesAreEscapedForHTML(t *testing.T) {
	h := New(parseFile(t, `<p>{{.Form.Get "q"}}</p><a href="/s?q={{.Form.Get "q"}}">x</a>`))
	serveOK(t, h, post(t, "/p", "application/x-www-form-urlencoded", "q=%3Cscript%3Ealert(1)%3C/script%3E"),
		`<p>&lt;script&gt;alert(1)&lt;/script&gt;</p><a href="/s?q=%3cscript%3ealert%281%29%3c%2fscript%3e">x</a>`)
}

// Media types and parameter names are case-insensitive, parameters may be
// quoted, and a UTF-8 charset is accepted.
func TestFormContentTypeParametersAndCaseAreHandled(t *testing.T) {
	h := New(parseFile(t, formPage))
	for _, ct := range []string{
		"Application/X-WWW-Form-Urlencoded; charset=UTF-8",
		`application/x-www-form-urlencoded;charset="utf-8"`,
		"APPLICATION/X-WWW-FORM-URLENCODED ; Charset=us-ascii",
	} {
		serveOK(t, h, post(t, "/p", ct, "a=1"), "form:a=[1]; query:")
	}
	_, body := multipartBody(t, "a", "1")
	boundary := body[2:strings.Index(body, "\r\n")]
	for _, ct := range []string{
		"Multipart/Form-Data; Boundary=" + boundary,
		`multipart/form-data; charset=utf-8; boundary="` + boundary + `"`,
	} {
		serveOK(t, h, post(t, "/p", ct, body), "form:a=[1]; query:")
	}
	quoted := "--a b:c\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--a b:c--\r\n"
	serveOK(t, h, post(t, "/p", `multipart/form-data; boundary="a b:c"`, quoted), "form:a=[1]; query:")
}

// A body of any other type, a body without Content-Type, and a form in a
// charset other than UTF-8 answer 415 Unsupported Media Type.
func TestFormBodyOfAnotherTypeOrWithoutContentTypeIs415(t *testing.T) {
	h := New(parseFile(t, formPage))
	for _, ct := range []string{
		"application/json", "text/plain", "multipart/mixed; boundary=x", "application/x-www-form-urlencodedx",
		"application/octet-stream", "/", "form", "application/x-www-form-urlencoded; charset=iso-8859-1", "",
	} {
		serveStatus(t, h, post(t, "/p", ct, "a=1"), 415, fmt.Sprintf("Content-Type %q", ct))
	}
	serveStatus(t, h, parsed(t, "POST /p HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"+chunked("a=1"), 1<<20), 415, "chunked, no Content-Type")
}

// A multipart part with a filename is a file upload, which template pages
// do not take: 415, also for the empty filename of a file input left
// empty and for RFC 5987's filename*.
func TestMultipartFilePartIs415(t *testing.T) {
	h := New(parseFile(t, formPage))
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("a", "1")
	fw, _ := mw.CreateFormFile("upload", "notes.txt")
	io.WriteString(fw, "file contents")
	mw.Close()
	serveStatus(t, h, post(t, "/p", mw.FormDataContentType(), b.String()), 415, "file part")

	for _, disposition := range []string{`form-data; name="f"; filename=""`, `form-data; name="f"; filename*=UTF-8''n%C3%A9.txt`} {
		body := "--b\r\nContent-Disposition: " + disposition + "\r\nContent-Type: application/octet-stream\r\n\r\n\r\n--b--\r\n"
		serveStatus(t, h, post(t, "/p", "multipart/form-data; boundary=b", body), 415, disposition)
	}
}

// A body that does not parse as its type answers 400: bad percent-encoding,
// a semicolon or more than 10000 fields in urlencoded, a multipart type without a valid boundary,
// a multipart body that ends early or whose parts are not form-data, and a
// body shorter than its Content-Length.
func TestMalformedFormBodiesAre400(t *testing.T) {
	h := New(parseFile(t, formPage))
	for _, body := range []string{"a=%zz", "a=%", "a=1;b=2", "%gg=1"} {
		serveStatus(t, h, post(t, "/p", "application/x-www-form-urlencoded", body), 400, "urlencoded "+body)
	}
	// net/url refuses more than 10000 fields.
	serveStatus(t, h, post(t, "/p", "application/x-www-form-urlencoded", strings.Repeat("a&", 10000)+"a"), 400, "10001 urlencoded fields")
	serveOK(t, New(parseFile(t, `{{len (index .Form "a")}}`)), post(t, "/p", "application/x-www-form-urlencoded", strings.Repeat("a&", 9999)+"a"), "10000")

	ct, good := multipartBody(t, "a", "1", "b", "2")
	boundary := ct[strings.Index(ct, "boundary=")+len("boundary="):]
	for _, ct := range []string{
		"multipart/form-data", "multipart/form-data; boundary=", `multipart/form-data; boundary=""`,
		"multipart/form-data; boundary=" + strings.Repeat("b", 71), `multipart/form-data; boundary="ends in space "`,
		`multipart/form-data; boundary="a@b"`, "multipart/form-data; boundary", "multipart/form-data; boundary=a; boundary=b",
	} {
		serveStatus(t, h, post(t, "/p", ct, good), 400, ct)
	}
	cut := strings.Index(good, "2")
	for name, body := range map[string]string{
		"no closing boundary": strings.TrimSuffix(good, "--"+boundary+"--\r\n"),
		"cut in a part":       good[:cut],
		"cut in a header":     good[:strings.Index(good, "name=")],
		"no boundary at all":  "just text",
		"empty":               " ",
		"no disposition":      "--" + boundary + "\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + boundary + "--\r\n",
		"not form-data":       "--" + boundary + "\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--" + boundary + "--\r\n",
		"no name":             "--" + boundary + "\r\nContent-Disposition: form-data\r\n\r\nx\r\n--" + boundary + "--\r\n",
		"bad disposition":     "--" + boundary + "\r\nContent-Disposition: form-data; name=\r\n\r\nx\r\n--" + boundary + "--\r\n",
	} {
		serveStatus(t, h, post(t, "/p", ct, body), 400, name)
	}

	// The real parser's body reader fails a body shorter than its length
	// with its own 400, which passes through.
	short := parsed(t, "POST /p HTTP/1.1\nHost: a\nContent-Type: application/x-www-form-urlencoded\nContent-Length: 50\n\na=1", 1<<20)
	w, err := handlertest.Serve(h, short)
	var pe *parser.Error
	if handlers.StatusOf(err) != 400 || !errors.As(err, &pe) || w.Written() {
		t.Errorf("truncated body: err %v written %v, want the parser's 400", err, w.Written())
	}
}

// A body over max_body_bytes fails its reader with a 413 *parser.Error,
// and that status is the answer, urlencoded or multipart, wherever in the
// body the limit falls (in a field, or in the epilogue after the closing
// boundary).
func TestFormBodyOverMaxBodyBytesPassesThe413Through(t *testing.T) {
	h := New(parseFile(t, formPage))
	const limit = 64
	head := "POST /p HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nContent-Type: "
	big := "a=" + strings.Repeat("x", limit)
	ct, mp := multipartBody(t, "a", strings.Repeat("x", limit*4))
	ctSmall, small := multipartBody(t, "a", "1")
	for name, r := range map[string]*handlers.Request{
		"urlencoded": parsed(t, head+"application/x-www-form-urlencoded\n\n"+chunked(big), limit),
		"multipart":  parsed(t, head+ct+"\n\n"+chunked(mp), limit*4),
		"epilogue":   parsed(t, head+ctSmall+"\n\n"+chunked(small+strings.Repeat("e", limit*4)), limit*4),
	} {
		w, err := handlertest.Serve(h, r)
		var pe *parser.Error
		if handlers.StatusOf(err) != 413 || !errors.As(err, &pe) || w.Written() {
			t.Errorf("%s: err %v written %v, want the body reader's 413", name, err, w.Written())
		}
	}
	// At the limit is fine.
	serveOK(t, h, parsed(t, head+"application/x-www-form-urlencoded\n\n"+chunked(big[:limit]), limit),
		"form:a=["+strings.Repeat("x", limit-2)+"]; query:")
}

// A POST without a body renders the page with an empty .Form, whatever
// its Content-Type says: there is nothing to parse.
func TestPOSTWithoutABodyHasAnEmptyForm(t *testing.T) {
	h := New(parseFile(t, `{{if .Form}}full{{else}}empty{{end}} {{len .Form}} {{.Method}}`))
	for name, r := range map[string]*handlers.Request{
		"no length":              handlertest.NewRequest(t, "POST", "/p", "Host: a"),
		"Content-Length 0":       parsed(t, "POST /p HTTP/1.1\nHost: a\nContent-Length: 0\n\n", 1<<20),
		"empty chunked":          parsed(t, "POST /p HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"+chunked(""), 1<<20),
		"urlencoded, empty":      post(t, "/p", "application/x-www-form-urlencoded", ""),
		"another type, no body":  post(t, "/p", "application/json", ""),
		"max_body_bytes = 0":     parsed(t, "POST /p HTTP/1.1\nHost: a\nContent-Type: application/x-www-form-urlencoded\n\n", parser.NoBody),
		"multipart, only closed": post(t, "/p", "multipart/form-data; boundary=b", "--b--\r\n"),
	} {
		w, err := handlertest.Serve(h, r)
		if err != nil || w.Body.String() != "empty 0 POST" {
			t.Errorf("%s: %q err %v, want an empty form", name, w.Body.String(), err)
		}
	}
}

// A chunked body (a length not known in advance) is read whole: the byte
// read to learn that there is a body is not lost.
func TestChunkedFormBodyIsReadWhole(t *testing.T) {
	h := New(parseFile(t, formPage))
	raw := "POST /p HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nContent-Type: application/x-www-form-urlencoded\n\n" +
		"3\r\nab=\r\n4\r\n1&c=\r\n1\r\n2\r\n0\r\n\r\n"
	serveOK(t, h, parsed(t, raw, 1<<20), "form:ab=[1];c=[2]; query:")
	ct, body := multipartBody(t, "a", "1")
	serveOK(t, h, parsed(t, "POST /p HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nContent-Type: "+ct+"\n\n"+chunked(body), 1<<20), "form:a=[1]; query:")
}

// A multipart body may have at most 1000 parts; more answer 413, however
// small, since each costs more than its bytes.
func TestMultipartFormOfMoreThan1000PartsIs413(t *testing.T) {
	h := New(parseFile(t, `{{len (index .Form "f")}}`))
	fields := make([]string, 0, 2002)
	for range 1000 {
		fields = append(fields, "f", "")
	}
	ct, body := multipartBody(t, fields...)
	serveOK(t, h, post(t, "/p", ct, body), "1000")
	ct, body = multipartBody(t, append(fields, "f", "")...)
	serveStatus(t, h, post(t, "/p", ct, body), 413, "1001 parts")
}

// countingBody counts the bytes read from it.
type countingBody struct {
	r    io.Reader
	read int
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

// Only a POST's body is read: GET and HEAD render with an empty .Form and
// leave a body alone, other methods are refused without reading it.
func TestFormBodyIsReadOnlyForPOST(t *testing.T) {
	h := New(parseFile(t, formPage))
	for _, m := range []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"} {
		r := handlertest.NewRequest(t, m, "/p?q=1", "Host: a", "Content-Type: application/x-www-form-urlencoded")
		body := &countingBody{r: strings.NewReader("a=1")}
		r.Body, r.ContentLength = body, 3
		w, err := handlertest.Serve(h, r)
		if body.read != 0 {
			t.Errorf("%s: read %d bytes of the body", m, body.read)
		}
		if (m == "GET" || m == "HEAD") && (err != nil || w.Code != 200 || w.BodyLen != int64(len("form: query:q=[1];"))) {
			t.Errorf("%s: %d %q err %v", m, w.Code, w.Body.String(), err)
		}
	}
}

// A POST renders like a GET: a template that fails answers 500 with
// nothing written, and HEAD still answers GET's length without a body.
func TestPOSTedPageThatFailsIs500AndHEADIsUnchanged(t *testing.T) {
	h := New(parseFile(t, `{{index .Form "x" 5}}`))
	serveStatus(t, h, post(t, "/p", "application/x-www-form-urlencoded", "x=1"), 500, "failing template")

	h = New(parseFile(t, formPage))
	r := handlertest.NewRequest(t, "HEAD", "/p?q=1", "Host: a")
	w, err := handlertest.Serve(h, r)
	if want := "form: query:q=[1];"; err != nil || w.Code != 200 || w.ContentLength != int64(len(want)) || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d length %d body %q err %v", w.Code, w.ContentLength, w.Body.String(), err)
	}
}

// limitedBody fails past n bytes as the protocol's body reader does past
// max_body_bytes.
type limitedBody struct {
	r io.Reader
	n int64
}

var errTooLarge = &parser.Error{Status: 413, Reason: "request body too large"}

func (l *limitedBody) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return 0, errTooLarge
	}
	return n, err
}

// FuzzFormBody: whatever the Content-Type and body, parsing a form never
// panics and answers only 200, 400, 413 or 415; a urlencoded body that
// answers 200 holds what net/url parses from it.
func FuzzFormBody(f *testing.F) {
	ct, body := multipartBody(f, "a", "1", "b", "two\r\nlines")
	f.Add(ct, body, false)
	f.Add(ct, body, true)
	f.Add(ct, body[:len(body)/2], false)
	f.Add("multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\nx\r\n--b--\r\n", false)
	f.Add("multipart/form-data; boundary=b", "preamble\r\n--b\r\nContent-Disposition: form-data; name=\"f\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3D\r\n--b--\r\nepilogue", true)
	f.Add("application/x-www-form-urlencoded", "a=1&b=%zz", false)
	f.Add("Application/X-WWW-Form-Urlencoded; charset=UTF-8", "a=1&a=2&c", true)
	f.Add("text/plain", "a=1", false)
	f.Add("", "", true)
	f.Add("", "x", true)
	page := template.Must(template.New("p").Parse(formPage))
	h := New(page)
	const limit = 4096
	f.Fuzz(func(t *testing.T, ct, body string, unknownLength bool) {
		r := handlertest.NewRequest(t, "POST", "/p", "Host: a")
		if ct != "" {
			r.Header.Add([]byte("Content-Type"), []byte(ct))
		}
		r.Body = &limitedBody{r: strings.NewReader(body), n: limit}
		r.ContentLength = int64(len(body))
		if unknownLength {
			r.ContentLength = -1
		}
		w, err := handlertest.Serve(h, r)
		status := w.Code
		if err != nil {
			status = handlers.StatusOf(err)
			if w.Written() {
				t.Fatalf("wrote %d and returned %v", w.Code, err)
			}
		}
		switch status {
		case 200, 400, 413, 415:
		default:
			t.Fatalf("Content-Type %q body %q: status %d (%v)", ct, body, status, err)
		}
		if status == 200 && len(body) <= limit && strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/x-www-form-urlencoded") {
			q, err := url.ParseQuery(body)
			if err != nil {
				t.Fatalf("body %q answered 200 but does not parse: %v", body, err)
			}
			var wb strings.Builder
			if err := page.Execute(&wb, &Data{Form: q}); err != nil {
				t.Fatal(err)
			}
			if w.Body.String() != wb.String() {
				t.Fatalf("body %q: page %q, want %q", body, w.Body.String(), wb.String())
			}
		}
	})
}

func BenchmarkTemplatePOSTForm(b *testing.B) {
	h := New(template.Must(template.New("p").Parse(`{{.Form.Get "name"}} {{.Form.Get "email"}}`)))
	const body = "name=Ada+Lovelace&email=ada%40example.com&message=Hello"
	b.ReportAllocs()
	for b.Loop() {
		r := post(b, "/p", "application/x-www-form-urlencoded", body)
		_ = h.Serve(handlertest.NewRecorder(), r)
	}
}
