package parser

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// fuzzLimits are small, so that random inputs reach every limit.
var fuzzLimits = Limits{
	MaxTargetBytes:   128,
	MaxHeaderBytes:   1024,
	MaxHeaderCount:   16,
	MaxChunkExtBytes: 32,
	MaxTrailerBytes:  128,
	MaxBodyBytes:     2048,
}

// sentinel follows every fuzz input: when the input is one request, the
// next request the Reader finds must be this one.
const sentinel = "GET /sentinel HTTP/1.1\r\nHost: s\r\n\r\n"

func addSeeds(f *testing.F) {
	for _, tt := range validTests {
		f.Add([]byte(tt.head + tt.body))
	}
	for _, tt := range hostileTests {
		if len(tt.raw) < 4096 {
			f.Add([]byte(tt.raw))
		}
	}
	for _, p := range pipeline {
		if len(p.raw) < 4096 {
			f.Add([]byte(p.raw))
		}
	}
	f.Add([]byte(pipeline[0].raw + pipeline[1].raw + pipeline[2].raw))
	for _, b := range benchRequests {
		f.Add([]byte(b.raw))
	}
}

// outcome is everything a Reader made of the first request in a stream and
// of what followed it.
type outcome struct {
	headStatus int // 0 when the head was accepted
	req        snapshot
	body       string
	bodyStatus int // 0 when the body was read to io.EOF
	trailer    []kv
	consumed   int // bytes of the stream taken by head and body
	next       nextOutcome
}

type nextOutcome struct {
	status int    // of the second ReadRequest: 0, a refusal, or -1 for another error
	eof    bool   // the stream ended cleanly where the first request did
	path   string // of the second request
}

// readFirst reads the first request of stream through a Reader fed step
// bytes at a time, its body to the end, and then tries the next request.
func readFirst(stream string, step int) outcome {
	src := &source{s: stream, step: step, eof: true}
	rd := NewReader(src, fuzzLimits)
	var o outcome
	req, err := rd.ReadRequest()
	if err != nil {
		o.headStatus = statusOf(err)
		return o
	}
	o.req = snap(req)
	req.Body.Continue = continueTo(io.Discard)
	body, err := readAll(req.Body)
	o.body = string(body)
	o.bodyStatus = statusOf(err)
	o.trailer = fieldsOf(&req.Body.Trailer)
	o.consumed = len(stream) - len(src.s) - rd.Buffered()
	if err != nil {
		return o
	}
	next, err := rd.ReadRequest()
	switch {
	case err == io.EOF:
		o.next.eof = true
	case err != nil:
		o.next.status = statusOf(err)
	default:
		o.next.path = string(next.Path)
	}
	return o
}

// FuzzParseRequest: the parser never panics, never takes a byte beyond the
// body its head declared, gives the same answer however the bytes arrive,
// and what it accepts re-serializes to a head that parses the same.
func FuzzParseRequest(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		stream := string(data) + sentinel
		var r Request
		_, headErr := ParseHead(data, &r, &fuzzLimits)
		if headErr != nil && headErr != ErrNeedMore && statusOf(headErr) <= 0 {
			t.Fatalf("ParseHead refused with %T %v, want *Error", headErr, headErr)
		}

		// Any limits, however small or unset, give an answer, not a panic.
		if len(data) > 2 {
			tiny := Limits{MaxTargetBytes: int(data[0] % 32), MaxHeaderBytes: int(data[1] % 64), MaxHeaderCount: int(data[2] % 4)}
			if _, err := ParseHead(data, &r, &tiny); err != nil && err != ErrNeedMore && statusOf(err) <= 0 {
				t.Fatalf("ParseHead with %+v: %v", tiny, err)
			}
		}
		n, headErr := ParseHead(data, &r, &fuzzLimits)

		whole := readFirst(stream, 0)

		// ParseHead and the Reader agree on a head complete in data.
		switch {
		case headErr == nil:
			if n <= 0 || n > len(data) {
				t.Fatalf("ParseHead took %d of %d bytes", n, len(data))
			}
			if whole.headStatus != 0 {
				t.Fatalf("ParseHead accepted, Reader refused with %d", whole.headStatus)
			}
			if d := diffSnapshots(whole.req, snap(&r)); d != "" {
				t.Fatalf("Reader and ParseHead differ:%s", d)
			}
			checkAccepted(t, &r)
			checkRoundTrip(t, &r)
		case headErr != ErrNeedMore:
			if whole.headStatus != statusOf(headErr) {
				t.Fatalf("ParseHead refused with %v, Reader with status %d", headErr, whole.headStatus)
			}
		}

		// However the bytes arrive, the answer is the same.
		for _, step := range []int{1, 3} {
			if got := readFirst(stream, step); !sameOutcome(got, whole) {
				t.Fatalf("fed %d bytes at a time:\n got %+v\nwant %+v", step, got, whole)
			}
		}

		if whole.headStatus != 0 || whole.bodyStatus != 0 {
			return
		}
		// Never a byte beyond the body: what was consumed is the head and
		// the body as an independent reading of the framing measures them.
		head := n
		if headErr != nil {
			var r2 Request
			head, _ = ParseHead([]byte(stream), &r2, &fuzzLimits)
		}
		want := head + framedLength(t, stream[head:], whole.req)
		if whole.consumed != want {
			t.Fatalf("consumed %d bytes, the framing says %d", whole.consumed, want)
		}
		// The next request starts exactly there.
		rest := stream[whole.consumed:]
		var r3 Request
		_, nextErr := ParseHead([]byte(rest), &r3, &fuzzLimits)
		switch {
		case rest == "":
			if !whole.next.eof {
				t.Fatalf("stream ended, Reader said %+v", whole.next)
			}
		case nextErr == nil:
			if whole.next.status != 0 || whole.next.path != string(r3.Path) {
				t.Fatalf("next request: Reader %+v, ParseHead of the rest %q", whole.next, r3.Path)
			}
		case nextErr == ErrNeedMore:
			if whole.next.status != -1 {
				t.Fatalf("next request: Reader %+v, want io.ErrUnexpectedEOF", whole.next)
			}
		default:
			if whole.next.status != statusOf(nextErr) {
				t.Fatalf("next request: Reader %+v, ParseHead of the rest %v", whole.next, nextErr)
			}
		}
		if whole.consumed == len(data) && whole.req.KeepAlive && whole.next.path != "/sentinel" {
			t.Fatalf("one whole request, then %+v instead of the sentinel", whole.next)
		}

		// Drain ends where reading does.
		if !whole.req.ExpectContinue {
			src := &source{s: stream, eof: true}
			rd := NewReader(src, fuzzLimits)
			req, err := rd.ReadRequest()
			if err != nil {
				t.Fatalf("second read of the same head: %v", err)
			}
			if !req.Body.Drain(1 << 20) {
				t.Fatal("Drain = false for a body that reads to its end")
			}
			if c := len(stream) - len(src.s) - rd.Buffered(); c != whole.consumed {
				t.Fatalf("Drain consumed %d bytes, reading %d", c, whole.consumed)
			}
		}
	})
}

func sameOutcome(a, b outcome) bool {
	return a.headStatus == b.headStatus && diffSnapshots(a.req, b.req) == "" &&
		a.body == b.body && a.bodyStatus == b.bodyStatus && equalKVs(a.trailer, b.trailer) &&
		a.consumed == b.consumed && a.next == b.next
}

// framedLength measures the body at the start of b as RFC 9112 §6.3 frames
// it, written apart from body.go: it trusts that the body is well formed,
// which the parser has just said it is.
func framedLength(t *testing.T, b string, req snapshot) int {
	if !req.Chunked {
		return int(req.ContentLength)
	}
	pos := 0
	line := func() string {
		i := strings.Index(b[pos:], "\r\n")
		if i < 0 {
			t.Fatalf("framing: no CRLF after offset %d in %q", pos, b)
		}
		l := b[pos : pos+i]
		pos += i + 2
		return l
	}
	for {
		l := line()
		end := 0
		for end < len(l) && strings.IndexByte("0123456789abcdefABCDEF", l[end]) >= 0 {
			end++
		}
		size, err := strconv.ParseInt(l[:end], 16, 64)
		if err != nil {
			t.Fatalf("framing: chunk size %q: %v", l, err)
		}
		if size == 0 {
			for line() != "" {
			}
			return pos
		}
		pos += int(size)
		if line() != "" {
			t.Fatalf("framing: no CRLF after chunk data")
		}
	}
}

// checkAccepted asserts what every accepted head guarantees to a handler.
func checkAccepted(t *testing.T, r *Request) {
	t.Helper()
	if r.Method == "" {
		t.Fatal("empty method")
	}
	for i := 0; i < len(r.Method); i++ {
		if !isTokenByte[r.Method[i]] {
			t.Fatalf("method %q is not a token", r.Method)
		}
	}
	for _, c := range r.Target {
		if c <= ' ' || c == 0x7f || c == '#' {
			t.Fatalf("target %q holds byte %#x", r.Target, c)
		}
	}
	if r.ProtoMajor != 1 {
		t.Fatalf("version %d.%d accepted", r.ProtoMajor, r.ProtoMinor)
	}
	switch r.Form {
	case OriginForm, AbsoluteForm:
		p := string(r.Path)
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.IndexByte(p, 0) >= 0 {
			t.Fatalf("path %q is not clean", p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("path %q keeps a dot-segment", p)
			}
		}
	case AsteriskForm:
		if r.Method != "OPTIONS" || string(r.Path) != "*" {
			t.Fatalf("asterisk-form with %s, path %q", r.Method, r.Path)
		}
	case AuthorityForm:
		if r.Method != "CONNECT" {
			t.Fatalf("authority-form with %s", r.Method)
		}
	}
	if !validHost(r.Host) {
		t.Fatalf("host %q accepted", r.Host)
	}
	if r.ProtoMinor >= 1 && !r.Header.Has("Host") {
		t.Fatal("HTTP/1.1 without Host accepted")
	}
	if r.Chunked != (r.ContentLength == -1) || r.ContentLength < -1 || r.ContentLength > fuzzLimits.MaxBodyBytes {
		t.Fatalf("framing: chunked %v, length %d", r.Chunked, r.ContentLength)
	}
	if r.Chunked && r.Header.Has("Content-Length") {
		t.Fatal("Content-Length and chunked accepted together")
	}
	for i := 0; i < r.Header.Len(); i++ {
		f := r.Header.At(i)
		if !ValidHeaderField(string(f.Name), string(f.Value)) {
			t.Fatalf("field %q: %q accepted", f.Name, f.Value)
		}
	}
}

// checkRoundTrip writes the accepted head back out in its plainest form and
// parses it again: the same request must come back.
func checkRoundTrip(t *testing.T, r *Request) {
	t.Helper()
	var b []byte
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, r.Target...)
	b = append(b, " HTTP/"...)
	b = append(b, byte('0'+r.ProtoMajor), '.', byte('0'+r.ProtoMinor))
	b = append(b, "\r\n"...)
	for i := 0; i < r.Header.Len(); i++ {
		f := r.Header.At(i)
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	var again Request
	n, err := ParseHead(b, &again, &fuzzLimits)
	if err != nil {
		t.Fatalf("re-serialized head %q refused: %v", b, err)
	}
	if n != len(b) {
		t.Fatalf("re-serialized head: took %d of %d bytes", n, len(b))
	}
	if d := diffSnapshots(snap(&again), snap(r)); d != "" {
		t.Fatalf("re-serialized head %q parses differently:%s", b, d)
	}
}

// Where we refuse what http.ReadRequest accepts, on purpose. Each refusal
// here is one the RFCs require or allow; any other disagreement fails.
var stricterThanNetHTTP = []struct {
	err   *Error
	why   string
	match func(data []byte) bool // nil: whenever we refuse with err
}{
	{errBareLF, "RFC 9112 §2.2: a bare LF may be accepted, but a proxy in front of us may not end lines there; refusing keeps both readings equal", nil},
	{errBareCR, "RFC 9112 §2.2: a bare CR MUST be refused or replaced by SP", nil},
	{errObsFold, "RFC 9112 §5.2: obs-fold MUST be refused with 400 or replaced by SP; net/http unfolds", nil},
	{errSpaceBeforeColon, "RFC 9112 §5.1: whitespace between name and colon MUST be refused with 400; net/http keeps spaces in names", nil},
	{errFieldName, "RFC 9110 §5.1: a field name is a token; net/http accepts some non-token names", nil},
	{errNoHost, "RFC 9112 §3.2: MUST respond 400 to an HTTP/1.1 request without Host; http.ReadRequest leaves this to http.Server", nil},
	{errBadHost, "RFC 9112 §3.2: MUST respond 400 to an invalid Host; http.ReadRequest leaves this to http.Server", nil},
	{errCLAndTE, "RFC 9112 §6.1: Content-Length with Transfer-Encoding ought to be an error (smuggling); net/http lets chunked win", nil},
	{errTEHTTP10, "RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means a faulty or forged framing; net/http ignores it", nil},
	{errTargetForm, "RFC 9112 §3.2.3, §3.2.4: authority-form is for CONNECT only, asterisk-form for OPTIONS only; net/http takes any form", nil},
	{errAbsoluteTarget, "RFC 9110 §4.2: we serve http(s) URIs with a non-empty host and no userinfo (§4.2.4); net/http takes any scheme", nil},
	{errTargetByte, "RFC 9112 §3.2: a fragment is not part of any request-target form; net/http keeps '#' in the path", nil},
	{errNULInPath, "RFC 3986 §7.3: a decoded NUL can only mislead a filesystem; net/http decodes it", nil},
	{errVersionSupported, "RFC 9110 §15.6.6: 505 for a major version we do not speak; http.ReadRequest leaves this to http.Server", nil},
	{errExpectation, "RFC 9110 §10.1.1: 417 for an expectation we cannot meet; http.ReadRequest leaves this to http.Server", nil},
	{errTargetTooLong, "RFC 9110 §15.5.15: our MaxTargetBytes; http.ReadRequest has no such limit", nil},
	{errHeadTooLarge, "RFC 6585 §5: our MaxHeaderBytes; http.ReadRequest has no such limit", nil},
	{errTooManyFields, "RFC 6585 §5: our MaxHeaderCount; http.ReadRequest has a larger one", nil},
	{errBodyTooLarge, "RFC 9110 §15.5.14: our MaxBodyBytes; http.ReadRequest has no such limit", nil},
	{errRequestLine, "RFC 9112 §3: no form of request-target is empty; net/http lets CONNECT have an empty one", emptyTarget},
	{errContentLength, "RFC 9110 §8.6: a recipient must guard against overflow; we refuse more than 19 digits, leading zeros or not", longContentLength.Match},
}

// emptyTarget matches a request line with two spaces in a row: no target.
func emptyTarget(data []byte) bool {
	line, _, _ := bytes.Cut(bytes.TrimPrefix(bytes.TrimPrefix(data, []byte("\r\n")), []byte("\r\n")), []byte("\r\n"))
	return bytes.Contains(line, []byte("  "))
}

var longContentLength = regexp.MustCompile(`(?i)\ncontent-length:[ \t]*[0-9]{20,}[ \t]*\r`)

// Where http.ReadRequest refuses what we accept, on purpose: each match
// names the input and the RFC text that lets us accept it.
var laxerThanNetHTTP = []struct {
	why   string
	match func(data []byte, r *Request, theirErr error) bool
}{
	{
		"RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line; net/http does not",
		func(data []byte, r *Request, _ error) bool { return bytes.HasPrefix(data, []byte("\r\n")) },
	},
	{
		"RFC 3986 §3.2.2: a reg-name may be percent-encoded; net/url refuses escapes in a URL's host",
		func(_ []byte, r *Request, _ error) bool {
			return r.Form != OriginForm && bytes.IndexByte(r.Host, '%') >= 0
		},
	},
	{
		"RFC 9110 §6.6.2: the Trailer field only announces fields; we never frame by trailers, so any name is harmless; net/http refuses framing names in it",
		func(_ []byte, r *Request, theirErr error) bool {
			return r.Chunked && r.Header.Has("Trailer") && strings.Contains(theirErr.Error(), "bad trailer key")
		},
	},
}

// FuzzDifferential holds the parser against http.ReadRequest on the same
// bytes: where both accept, method, target, host, framing, persistence and
// the header fields agree; where one refuses, the reason is listed above.
func FuzzDifferential(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) { agreeWithNetHTTP(t, data) })
}

// agreeWithNetHTTP fails t unless our reading of data and http.ReadRequest's
// agree, or differ for a reason listed above.
func agreeWithNetHTTP(t *testing.T, data []byte) {
	t.Helper()
	var r Request
	lim := DefaultLimits()
	_, ourErr := ParseHead(data, &r, &lim)
	if ourErr == ErrNeedMore {
		return // not a whole head to us; nothing to compare
	}
	theirs, theirErr := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))

	switch {
	case ourErr != nil && theirErr != nil:
		return
	case ourErr != nil:
		for _, l := range stricterThanNetHTTP {
			if ourErr == error(l.err) && (l.match == nil || l.match(data)) {
				return
			}
		}
		t.Fatalf("we refuse (%v) what net/http accepts, for no listed reason", ourErr)
	case theirErr != nil:
		for _, l := range laxerThanNetHTTP {
			if l.match(data, &r, theirErr) {
				return
			}
		}
		t.Fatalf("net/http refuses (%v) what we accept, for no listed reason:\n%+v", theirErr, snap(&r))
	}

	if theirs.Method != r.Method {
		t.Errorf("method: ours %q, net/http %q", r.Method, theirs.Method)
	}
	if theirs.RequestURI != string(r.Target) {
		t.Errorf("target: ours %q, net/http %q", r.Target, theirs.RequestURI)
	}
	if theirs.Host != string(r.Host) && theirs.Host != decodedHost(&r) {
		t.Errorf("host: ours %q, net/http %q", r.Host, theirs.Host)
	}
	if theirs.ContentLength != r.ContentLength {
		t.Errorf("content length: ours %d, net/http %d", r.ContentLength, theirs.ContentLength)
	}
	if theirChunked := len(theirs.TransferEncoding) > 0; theirChunked != r.Chunked {
		t.Errorf("chunked: ours %v, net/http %v", r.Chunked, theirChunked)
	}
	if theirs.Close == r.KeepAlive {
		t.Errorf("keep-alive: ours %v, net/http Close %v", r.KeepAlive, theirs.Close)
	}
	ours := netHTTPView(&r)
	if !sameHeader(ours, theirs.Header) {
		t.Errorf("header fields:\n ours %q\n net/http %q", ours, theirs.Header)
	}
}

// decodedHost is the host of an absolute-form target with its
// percent-escapes decoded, as net/url reports it (RFC 3986 §3.2.2 lets a
// reg-name be percent-encoded). We keep the bytes sent: a site is chosen
// by them, and a decoded host could hold bytes no Host field may.
func decodedHost(r *Request) string {
	if r.Form == OriginForm || bytes.IndexByte(r.Host, '%') < 0 {
		return string(r.Host)
	}
	h, err := url.PathUnescape(string(r.Host))
	if err != nil {
		return string(r.Host)
	}
	return h
}

// TestContentLengthDuplicatesMustBeIdentical_RFC9110_8_6: RFC 9110 §8.6
// lets a recipient take repeated identical Content-Length values as one or
// refuse them. We take repeated fields whose values are byte-identical, as
// net/http does, and refuse everything else: values equal only as numbers
// (05 and 5), and any list in one field, even of identical values
// (net/http parses the field as one number and refuses "5, 5" too). Both
// parsers must give the same verdict and length on each case.
func TestContentLengthDuplicatesMustBeIdentical_RFC9110_8_6(t *testing.T) {
	for _, tt := range []struct {
		fields string
		length int64 // -1: refused
	}{
		{"Content-Length: 5\r\nContent-Length: 5\r\n", 5},
		{"Content-Length: 5\r\nContent-Length:5\t\r\n", 5}, // OWS is not part of the value
		{"Content-Length: 0005\r\n", 5},
		{"Content-Length: 0005\r\nContent-Length: 0005\r\n", 5},
		{"Content-Length: 05\r\nContent-Length: 5\r\n", -1},
		{"Content-Length: 5\r\nContent-Length: 05\r\n", -1},
		{"Content-Length: 010\r\nContent-Length: 10\r\n", -1},
		{"Content-Length: 0\r\nContent-Length: 00\r\n", -1},
		{"Content-Length: 5\r\nContent-Length: 5\r\nContent-Length: 05\r\n", -1},
		{"Content-Length: 5, 5\r\n", -1},
		{"Content-Length: 5,5\r\n", -1},
		{"Content-Length: 5 , 5\r\n", -1},
		{"Content-Length: 5\r\nContent-Length: 5, 5\r\n", -1},
	} {
		raw := "PUT / HTTP/1.1\r\nHost: a\r\n" + tt.fields + "\r\n"
		var r Request
		lim := DefaultLimits()
		_, ourErr := ParseHead([]byte(raw), &r, &lim)
		theirs, theirErr := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if tt.length < 0 {
			if ourErr == nil || statusOf(ourErr) != 400 {
				t.Errorf("%q: ours %v, want 400", tt.fields, ourErr)
			}
			if theirErr == nil {
				t.Errorf("%q: net/http accepts; the case is wrong", tt.fields)
			}
		} else {
			if ourErr != nil || r.ContentLength != tt.length {
				t.Errorf("%q: ours %v, length %d; want %d", tt.fields, ourErr, r.ContentLength, tt.length)
			}
			if theirErr != nil || theirs.ContentLength != tt.length {
				t.Errorf("%q: net/http %v; the case is wrong", tt.fields, theirErr)
			}
		}
		agreeWithNetHTTP(t, []byte(raw))
	}
}

// netHTTPView arranges our fields the way http.ReadRequest reports them:
// canonical names, values in order, without the fields it consumes (Host,
// Transfer-Encoding, and Trailer of a chunked body), and repeated identical
// Content-Length fields as one.
func netHTTPView(r *Request) http.Header {
	h := http.Header{}
	for i := 0; i < r.Header.Len(); i++ {
		f := r.Header.At(i)
		name := http.CanonicalHeaderKey(string(f.Name))
		switch name {
		case "Host", "Transfer-Encoding":
			continue
		case "Content-Length":
			if len(h[name]) > 0 {
				continue
			}
		case "Trailer":
			if r.Chunked {
				continue
			}
		}
		h[name] = append(h[name], string(f.Value))
	}
	// net/http adds "Cache-Control: no-cache" for "Pragma: no-cache"
	// (RFC 7234 §5.4 compatibility) when there is no Cache-Control.
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" && h["Cache-Control"] == nil {
		h["Cache-Control"] = []string{"no-cache"}
	}
	return h
}

func sameHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv := b[k]
		if len(av) != len(bv) {
			return false
		}
		for i := range av {
			if av[i] != bv[i] {
				return false
			}
		}
	}
	return true
}
