package parser

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStatusLineCarriesTheReasonPhraseOrAnEmptyOne_RFC9112_4(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{100, "HTTP/1.1 100 Continue\r\n"},
		{200, "HTTP/1.1 200 OK\r\n"},
		{204, "HTTP/1.1 204 No Content\r\n"},
		{304, "HTTP/1.1 304 Not Modified\r\n"},
		{404, "HTTP/1.1 404 Not Found\r\n"},
		{413, "HTTP/1.1 413 Content Too Large\r\n"},
		{414, "HTTP/1.1 414 URI Too Long\r\n"},
		{417, "HTTP/1.1 417 Expectation Failed\r\n"},
		{431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"},
		{501, "HTTP/1.1 501 Not Implemented\r\n"},
		{505, "HTTP/1.1 505 HTTP Version Not Supported\r\n"},
		// RFC 9112 §4: reason-phrase may be empty, the SP before it may not.
		{299, "HTTP/1.1 299 \r\n"},
		{599, "HTTP/1.1 599 \r\n"},
	}
	for _, tt := range tests {
		got := string(AppendStatusLine([]byte("x"), tt.status))
		if got != "x"+tt.want {
			t.Errorf("AppendStatusLine(%d) = %q, want %q", tt.status, got, tt.want)
		}
	}
	// Every status the parser refuses with has its RFC 9110 §15 phrase.
	for _, e := range allErrors {
		if StatusText(e.Status) == "" {
			t.Errorf("no reason phrase for %d", e.Status)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = AppendStatusLine(make([]byte, 0, 64), 200) }); n > 1 {
		t.Errorf("AppendStatusLine allocates %v times", n)
	}
}

func TestCanonicalNameCapitalisesEachWordOrUsesTheCustomarySpelling(t *testing.T) {
	tests := []struct{ in, want string }{
		{"content-type", "Content-Type"},
		{"CONTENT-TYPE", "Content-Type"},
		{"Content-Type", "Content-Type"},
		{"x-request-id", "X-Request-Id"},
		// Canonical by custom rather than by the capitalisation rule.
		{"etag", "ETag"},
		{"ETAG", "ETag"},
		{"ETag", "ETag"},
		{"www-authenticate", "WWW-Authenticate"},
		{"content-md5", "Content-MD5"},
		{"a--b", "A--B"},
		{"-x", "-X"},
		{"x1-2y", "X1-2y"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := CanonicalName(tt.in); got != tt.want {
			t.Errorf("CanonicalName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, name := range []string{"Content-Type", "ETag", "WWW-Authenticate", "X-Request-Id"} {
		if n := testing.AllocsPerRun(100, func() { _ = CanonicalName(name) }); n != 0 {
			t.Errorf("CanonicalName(%q), already canonical, allocates %v times", name, n)
		}
	}
}

func TestResponseHeaderSetReplacesAddAppendsAndLookupsIgnoreCase(t *testing.T) {
	var h ResponseHeader
	h.Set("content-type", "text/plain")
	h.Add("Set-Cookie", "a=1")
	h.Add("set-cookie", "b=2")
	h.Set("X-Frame-Options", "DENY")
	h.Set("CONTENT-TYPE", "text/html") // replaces in place
	if h.Len() != 4 {
		t.Fatalf("Len = %d, want 4", h.Len())
	}
	want := []HeaderField{{"Content-Type", "text/html"}, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"X-Frame-Options", "DENY"}}
	for i, f := range want {
		if h.At(i) != f {
			t.Errorf("At(%d) = %v, want %v", i, h.At(i), f)
		}
	}
	if h.Get("set-cookie") != "a=1" || !h.Has("x-frame-options") || h.Has("X-Missing") || h.Get("X-Missing") != "" {
		t.Error("Get/Has do not ignore case")
	}
	h.Set("Set-Cookie", "c=3") // replaces every Set-Cookie with one
	if h.Len() != 3 || h.At(1) != (HeaderField{"Set-Cookie", "c=3"}) {
		t.Errorf("Set over repeats: %v", h.fields)
	}
	h.Del("content-type")
	if h.Has("Content-Type") || h.Len() != 2 {
		t.Errorf("Del: %v", h.fields)
	}
	h.Reset()
	if h.Len() != 0 {
		t.Error("Reset left fields")
	}
}

// TestAppendHeadersRefusesSplitting: a value holding CR or LF would let a
// handler's input end the head early and write a second response
// (RFC 9112 §11.1); the whole header set is refused instead.
func TestAppendHeadersRefusesSplitting(t *testing.T) {
	bad := []struct{ name, value string }{
		{"Location", "/a\r\nSet-Cookie: evil=1"},
		{"Location", "/a\nSet-Cookie: evil=1"},
		{"Location", "/a\rSet-Cookie: evil=1"},
		{"X-A", "a\x00b"},
		{"X-A", "a\x7f"},
		{"X-A", "\x1b[2J"},
		{"Bad Name", "v"},
		{"Bad:Name", "v"},
		{"Bad\r\nName", "v"},
		{"Bad\xffName", "v"},
		{"", "v"},
	}
	for _, f := range bad {
		var h ResponseHeader
		h.Set("Content-Type", "text/plain")
		h.Add(f.name, f.value)
		out, err := AppendHeaders([]byte("HTTP/1.1 200 OK\r\n"), &h)
		if err != ErrInvalidHeader {
			t.Errorf("%q: %q: err = %v, want ErrInvalidHeader", f.name, f.value, err)
		}
		if strings.Contains(string(out), "evil") || strings.Count(string(out), "\r\n") > 2 {
			t.Errorf("%q: %q: wrote %q", f.name, f.value, out)
		}
		if ValidHeaderField(f.name, f.value) {
			t.Errorf("ValidHeaderField(%q, %q) = true", f.name, f.value)
		}
	}

	var h ResponseHeader
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Add("X-Obs-Text", "caf\xe9")
	h.Add("X-Tab", "a\tb")
	h.Add("X-Empty", "")
	out, err := AppendHeaders(nil, &h)
	want := "Content-Type: text/plain; charset=utf-8\r\nX-Obs-Text: caf\xe9\r\nX-Tab: a\tb\r\nX-Empty: \r\n"
	if err != nil || string(out) != want {
		t.Errorf("AppendHeaders = %q, %v; want %q", out, err, want)
	}
}

func TestDateIsAnIMFFixdateInGMTReusedWithinTheSecond_RFC9110_5_6_7(t *testing.T) {
	at := time.Date(2024, time.February, 29, 23, 59, 58, 0, time.FixedZone("X", 3*3600))
	got := string(AppendDate(nil, at))
	if want := "Date: Thu, 29 Feb 2024 20:59:58 GMT\r\n"; got != want {
		t.Fatalf("AppendDate = %q, want %q (IMF-fixdate in GMT, RFC 9110 §5.6.7)", got, want)
	}
	if _, err := time.Parse(http.TimeFormat, strings.TrimSuffix(strings.TrimPrefix(got, "Date: "), "\r\n")); err != nil {
		t.Errorf("net/http cannot parse it: %v", err)
	}
	// Within the same second the cached line is reused: no formatting, no
	// allocation; a new second gives a new line.
	later := at.Add(900 * time.Millisecond)
	if string(AppendDate(nil, later)) != got {
		t.Error("same second, different line")
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { _ = AppendDate(buf[:0], later) }); n != 0 {
		t.Errorf("AppendDate within one second allocates %v times", n)
	}
	if next := string(AppendDate(nil, at.Add(time.Second))); next != "Date: Thu, 29 Feb 2024 20:59:59 GMT\r\n" {
		t.Errorf("next second: %q", next)
	}
}

func TestHEADHasALengthButNoBodyAnd1xx204304HaveNeither_RFC9110_6_4_1(t *testing.T) {
	tests := []struct {
		method       string
		status       int
		body, length bool
	}{
		{"GET", 200, true, true},
		{"POST", 201, true, true},
		{"HEAD", 200, false, true}, // RFC 9110 §9.3.2: HEAD may say how long GET would be
		{"GET", 100, false, false},
		{"GET", 101, false, false},
		{"GET", 204, false, false},
		{"GET", 304, false, false},
		{"HEAD", 304, false, false},
		{"GET", 404, true, true},
		{"GET", 500, true, true},
	}
	for _, tt := range tests {
		if got := BodyAllowed(tt.method, tt.status); got != tt.body {
			t.Errorf("BodyAllowed(%s, %d) = %v, want %v", tt.method, tt.status, got, tt.body)
		}
		if got := LengthAllowed(tt.status); got != tt.length {
			t.Errorf("LengthAllowed(%d) = %v, want %v", tt.status, got, tt.length)
		}
	}
}

func TestChunkedBodyWrittenByTheFramingHelpersReadsBack(t *testing.T) {
	if got := string(AppendContentLength(nil, 1234)); got != "Content-Length: 1234\r\n" {
		t.Errorf("AppendContentLength = %q", got)
	}
	if got := string(AppendChunkHeader(nil, 0x1f4)); got != "1f4\r\n" {
		t.Errorf("AppendChunkHeader = %q", got)
	}
	if LastChunk != "0\r\n\r\n" {
		t.Errorf("LastChunk = %q", LastChunk)
	}
	// What we write, we read: a chunked body built with these helpers
	// decodes to what went in.
	var body []byte
	for _, part := range []string{"hello", " ", strings.Repeat("w", 300)} {
		body = AppendChunkHeader(body, len(part))
		body = append(body, part...)
		body = append(body, "\r\n"...)
	}
	body = append(body, LastChunk...)
	rd := NewReader(&source{s: chunked(string(body)), eof: true}, Limits{})
	req, err := rd.ReadRequest()
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(req.Body)
	if err != nil || string(got) != "hello "+strings.Repeat("w", 300) {
		t.Errorf("round trip: %q, %v", got, err)
	}
}

// The canonical-name shortcuts behave as Set and Del do for a name already
// canonical: one field per name, the value replaced, every copy removed.
func TestSetCanonicalAndDelCanonicalMatchSetAndDel(t *testing.T) {
	var a, b ResponseHeader
	for _, h := range []*ResponseHeader{&a, &b} {
		h.Add("Vary", "Accept")
		h.Add("Vary", "Accept-Encoding")
		h.Add("X-Cache", "hit")
	}
	a.Set("Vary", "Origin")
	b.SetCanonical("Vary", "Origin")
	a.Del("X-Cache")
	b.DelCanonical("X-Cache")
	if a.Len() != b.Len() || a.Len() != 1 || b.Get("Vary") != "Origin" {
		t.Fatalf("Set/Del left %v, the canonical forms %v", a.fields, b.fields)
	}
}
