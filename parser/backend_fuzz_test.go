package parser

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// respFuzzLimits are small, so that random inputs reach every limit.
var respFuzzLimits = ResponseLimits{
	MaxHeaderBytes:   1024,
	MaxHeaderCount:   16,
	MaxChunkExtBytes: 32,
	MaxTrailerBytes:  128,
}

// fuzzMethods are what a fuzz input's method byte picks from: the methods
// whose responses are framed differently, and an ordinary one.
var fuzzMethods = [...]string{"GET", "HEAD", "CONNECT", "POST"}

func fuzzMethod(i uint8) string { return fuzzMethods[int(i)%len(fuzzMethods)] }

func methodIndex(m string) uint8 {
	for i, fm := range fuzzMethods {
		if fm == m {
			return uint8(i)
		}
	}
	return 0
}

func addResponseSeeds(f *testing.F) {
	for _, tt := range backendValidTests {
		f.Add([]byte(tt.raw), methodIndex(tt.method))
	}
	for _, tt := range backendHostileTests {
		f.Add([]byte(tt.raw), methodIndex(tt.method))
	}
	for _, p := range respPipeline {
		if len(p.raw) < 4096 {
			f.Add([]byte(p.raw), methodIndex(p.method))
		}
	}
	f.Add([]byte(respPipeline[0].raw+respPipeline[1].raw+respPipeline[2].raw), uint8(0))
	for _, b := range benchResponses {
		f.Add([]byte(b.raw), methodIndex(b.method))
	}
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), uint8(3))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00"), uint8(0))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 005\r\n\r\nhello"), uint8(0))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\nContent-Length: 9\r\n\r\n"), uint8(0))
}

// respOutcome is everything a ResponseReader made of the first response in
// a stream and of what followed it.
type respOutcome struct {
	headErr  error
	resp     respSnap
	body     string
	bodyErr  error
	trailer  []kv
	consumed int // bytes of the stream taken by head and body
	next     respNext
}

type respNext struct {
	err    error // of the second ReadResponse
	status int
	reason string
}

// readFirstResponse reads the first response of stream through a
// ResponseReader fed step bytes at a time, its body to the end, and then
// tries the next response.
func readFirstResponse(stream string, step int, method string) respOutcome {
	src := &source{s: stream, step: step, eof: true}
	rd := NewResponseReader(src, respFuzzLimits)
	var o respOutcome
	resp, err := rd.ReadResponse(method)
	if err != nil {
		o.headErr = err
		return o
	}
	o.resp = snapResponse(resp)
	body, err := readAllResp(resp.Body)
	o.body, o.bodyErr = string(body), err
	o.trailer = fieldsOf(&resp.Body.Trailer)
	o.consumed = len(stream) - len(src.s) - rd.Buffered()
	if err != nil {
		return o
	}
	next, err := rd.ReadResponse("GET")
	if err != nil {
		o.next.err = err
	} else {
		o.next.status, o.next.reason = next.Status, string(next.Reason)
	}
	return o
}

func sameRespOutcome(a, b respOutcome) bool {
	return a.headErr == b.headErr && diffResp(a.resp, b.resp) == "" &&
		a.body == b.body && a.bodyErr == b.bodyErr && equalKVs(a.trailer, b.trailer) &&
		a.consumed == b.consumed && a.next == b.next
}

// FuzzParseResponseHead: the response parser never panics, refuses only
// with a 502, never takes a byte beyond the body its head declared, gives
// the same answer however the bytes arrive (the same refusal, not only the
// same status), and what it accepts re-serializes to a head that parses the
// same.
func FuzzParseResponseHead(f *testing.F) {
	addResponseSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, mi uint8) {
		method := fuzzMethod(mi)
		stream := string(data) + respSentinel
		var r Response
		lim := respFuzzLimits

		// Any limits, however small, give an answer, not a panic.
		if len(data) > 2 {
			tiny := ResponseLimits{MaxHeaderBytes: int(data[0] % 64), MaxHeaderCount: int(data[1] % 4), MaxTrailerBytes: int(data[2] % 8)}
			if _, err := ParseResponseHead(data, &r, &tiny, method); err != nil && err != ErrNeedMore && statusOf(err) != 502 {
				t.Fatalf("ParseResponseHead with %+v: %v", tiny, err)
			}
		}
		n, headErr := ParseResponseHead(data, &r, &lim, method)
		if headErr != nil && headErr != ErrNeedMore && statusOf(headErr) != 502 {
			t.Fatalf("ParseResponseHead refused with %T %v, want a 502 *Error", headErr, headErr)
		}

		// Resumable: every prefix says ErrNeedMore or what the whole says.
		for _, cut := range prefixCuts(len(data)) {
			var rp Response
			pn, err := ParseResponseHead(data[:cut], &rp, &lim, method)
			switch {
			case headErr == nil && cut >= n:
				if err != nil || pn != n {
					t.Fatalf("prefix of %d: %d, %v; the whole took %d", cut, pn, err, n)
				}
			case err != ErrNeedMore && err != headErr:
				t.Fatalf("prefix of %d: %v; the whole: %v", cut, err, headErr)
			}
		}

		whole := readFirstResponse(stream, 0, method)

		// ParseResponseHead and the reader agree on a head complete in data.
		switch {
		case headErr == nil:
			if n <= 0 || n > len(data) {
				t.Fatalf("ParseResponseHead took %d of %d bytes", n, len(data))
			}
			if whole.headErr != nil {
				t.Fatalf("ParseResponseHead accepted, the reader refused with %v", whole.headErr)
			}
			if d := diffResp(whole.resp, snapResponse(&r)); d != "" {
				t.Fatalf("reader and ParseResponseHead differ:%s", d)
			}
			checkResponseAccepted(t, &r, method)
			checkResponseRoundTrip(t, &r, method)
		case headErr != ErrNeedMore:
			if whole.headErr != headErr {
				t.Fatalf("ParseResponseHead refused with %v, the reader with %v", headErr, whole.headErr)
			}
		}
		if e := whole.headErr; e != nil && e != io.ErrUnexpectedEOF && statusOf(e) != 502 {
			t.Fatalf("reader refused with %v", e)
		}
		if e := whole.bodyErr; e != nil && e != io.ErrUnexpectedEOF && statusOf(e) != 502 {
			t.Fatalf("body refused with %v", e)
		}

		// However the bytes arrive, the answer is the same.
		for _, step := range []int{1, 3} {
			if got := readFirstResponse(stream, step, method); !sameRespOutcome(got, whole) {
				t.Fatalf("fed %d bytes at a time:\n got %+v\nwant %+v", step, got, whole)
			}
		}

		if whole.headErr != nil || whole.bodyErr != nil {
			return
		}
		// Never a byte beyond the body: what was consumed is the head and
		// the body as an independent reading of the framing measures them.
		head := n
		if headErr != nil {
			var r2 Response
			head, _ = ParseResponseHead([]byte(stream), &r2, &lim, method)
		}
		rest := stream[head:]
		want := head
		switch {
		case !whole.resp.HasBody:
		case whole.resp.CloseDelimited:
			want += len(rest)
		default:
			want += framedLength(t, rest, snapshot{Chunked: whole.resp.Chunked, ContentLength: whole.resp.ContentLength})
		}
		if whole.consumed != want {
			t.Fatalf("consumed %d bytes, the framing says %d", whole.consumed, want)
		}
		// The next response starts exactly there.
		rest = stream[whole.consumed:]
		var r3 Response
		_, nextErr := ParseResponseHead([]byte(rest), &r3, &lim, "GET")
		tunnel := whole.resp.Status == 101 || (method == "CONNECT" && whole.resp.Status/100 == 2)
		switch {
		case tunnel:
			if whole.next.err != errSwitched {
				t.Fatalf("after a switch, ReadResponse said %+v", whole.next)
			}
		case rest == "":
			if whole.next.err != io.EOF {
				t.Fatalf("stream ended, the reader said %+v", whole.next)
			}
		case nextErr == nil:
			if whole.next.err != nil || whole.next.status != r3.Status || whole.next.reason != string(r3.Reason) {
				t.Fatalf("next response: reader %+v, ParseResponseHead of the rest %d %q", whole.next, r3.Status, r3.Reason)
			}
		case nextErr == ErrNeedMore:
			if whole.next.err != io.ErrUnexpectedEOF {
				t.Fatalf("next response: reader %+v, want io.ErrUnexpectedEOF", whole.next)
			}
		default:
			if whole.next.err != nextErr {
				t.Fatalf("next response: reader %+v, ParseResponseHead of the rest %v", whole.next, nextErr)
			}
		}
		if whole.consumed == len(data) && !tunnel && (whole.next.err != nil || whole.next.reason != "Sentinel") {
			t.Fatalf("one whole response, then %+v instead of the sentinel", whole.next)
		}

		// Drain ends where reading does.
		src := &source{s: stream, eof: true}
		rd := NewResponseReader(src, respFuzzLimits)
		resp, err := rd.ReadResponse(method)
		if err != nil {
			t.Fatalf("second read of the same head: %v", err)
		}
		if !resp.Body.Drain(1 << 20) {
			t.Fatal("Drain = false for a body that reads to its end")
		}
		if c := len(stream) - len(src.s) - rd.Buffered(); c != whole.consumed {
			t.Fatalf("Drain consumed %d bytes, reading %d", c, whole.consumed)
		}
	})
}

// prefixCuts are the prefix lengths the resumability check tries: all of
// them for a short input, a spread for a long one.
func prefixCuts(n int) []int {
	if n <= 300 {
		cuts := make([]int, n)
		for i := range cuts {
			cuts[i] = i
		}
		return cuts
	}
	var cuts []int
	for i := 0; i < n; i += 1 + i/8 {
		cuts = append(cuts, i)
	}
	return cuts
}

// checkResponseAccepted asserts what every accepted head guarantees to the
// proxy.
func checkResponseAccepted(t *testing.T, r *Response, method string) {
	t.Helper()
	if r.Status < 100 || r.Status > 599 || (r.ProtoMinor != 0 && r.ProtoMinor != 1) {
		t.Fatalf("status %d, HTTP/1.%d accepted", r.Status, r.ProtoMinor)
	}
	for _, c := range r.Reason {
		if !isValueByte[c] {
			t.Fatalf("reason %q holds %#x", r.Reason, c)
		}
	}
	tunnel := r.Status == 101 || (method == "CONNECT" && r.Status/100 == 2)
	bodyless := method == "HEAD" || r.Status < 200 || r.Status == 204 || r.Status == 304 || tunnel
	if r.HasBody() == bodyless {
		t.Fatalf("HasBody %v for %s %d", r.HasBody(), method, r.Status)
	}
	if r.Chunked && r.ContentLength != -1 || r.ContentLength < -1 {
		t.Fatalf("chunked %v with length %d", r.Chunked, r.ContentLength)
	}
	if r.CloseDelimited && (!r.HasBody() || r.Chunked || r.ContentLength != -1 || r.KeepAlive) {
		t.Fatalf("close-delimited with HasBody %v, chunked %v, length %d, keep-alive %v", r.HasBody(), r.Chunked, r.ContentLength, r.KeepAlive)
	}
	if r.HasBody() && !r.Chunked && r.ContentLength < 0 && !r.CloseDelimited {
		t.Fatal("a body without framing")
	}
	if (r.Status < 200 || tunnel) && r.KeepAlive {
		t.Fatalf("KeepAlive on %d", r.Status)
	}
	if r.ProtoMinor == 0 && r.Chunked {
		t.Fatal("chunked in HTTP/1.0")
	}
	if !tunnel {
		if r.Chunked && r.Header.Has("Content-Length") {
			t.Fatal("Content-Length and chunked accepted together")
		}
		if r.Header.Has("Transfer-Encoding") && !r.Chunked {
			t.Fatal("a Transfer-Encoding other than chunked accepted")
		}
	}
	for i := 0; i < r.Header.Len(); i++ {
		f := r.Header.At(i)
		if !ValidHeaderField(string(f.Name), string(f.Value)) {
			t.Fatalf("field %q: %q accepted", f.Name, f.Value)
		}
	}
}

// checkResponseRoundTrip writes the accepted head back out in its plainest
// form and parses it again: the same response must come back.
func checkResponseRoundTrip(t *testing.T, r *Response, method string) {
	t.Helper()
	var b []byte
	b = append(b, "HTTP/1."...)
	b = append(b, byte('0'+r.ProtoMinor), ' ')
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, ' ')
	b = append(b, r.Reason...)
	b = append(b, "\r\n"...)
	for i := 0; i < r.Header.Len(); i++ {
		f := r.Header.At(i)
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	var again Response
	lim := respFuzzLimits
	lim.MaxHeaderBytes = len(b) + 64 // ": " may lengthen a line
	n, err := ParseResponseHead(b, &again, &lim, method)
	if err != nil || n != len(b) {
		t.Fatalf("re-serialized head %q: %d of %d bytes, %v", b, n, len(b), err)
	}
	if d := diffResp(snapResponse(&again), snapResponse(r)); d != "" {
		t.Fatalf("re-serialized head %q parses differently:%s", b, d)
	}
}

// Where we refuse a response that http.ReadResponse accepts, on purpose.
// Each is a refusal the RFCs require or allow of a proxy, which must never
// forward what two parsers could read differently; any other disagreement
// fails.
var respStricterThanNetHTTP = []struct {
	err   error
	why   string
	match func(data []byte) bool // nil: whenever we refuse with err
}{
	{errRespBareLF, "RFC 9112 §2.2: a bare LF may be taken as a line end, but the client behind the proxy may not; refusing keeps every reading equal", nil},
	{errRespBareCR, "RFC 9112 §2.2: a bare CR MUST be refused or replaced by SP; net/http keeps it in a reason phrase", nil},
	{errRespObsFold, "RFC 9112 §5.2: a proxy MUST answer obs-fold in a response with 502 or replace it by SP; net/http unfolds", nil},
	{errRespSpaceColon, "RFC 9112 §5.1: a proxy must not forward whitespace before the colon; we refuse rather than repair a field that one parser names and another does not", nil},
	{errRespCLAndTE, "RFC 9112 §6.1: Content-Length with Transfer-Encoding ought to be an error (smuggling, response splitting); net/http lets chunked win", nil},
	{errRespTEHTTP10, "RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means a faulty framing; net/http ignores it and frames by the rest", nil},
	{errRespContentLength, "RFC 9112 §6.1: with Transfer-Encoding present net/http drops Content-Length unread; we judge it, and then refuse the pair", hasTransferEncoding},
	{errRespCLConflict, "RFC 9112 §6.1: as above, a Content-Length net/http drops beside Transfer-Encoding", hasTransferEncoding},
	{errRespContentLength, "RFC 9110 §8.6: a recipient must guard against overflow; we refuse more than 19 digits, leading zeros or not", longContentLength.Match},
	{errResponseVersion, "RFC 9110 §2.5: a proxy only forwards versions it speaks; net/http takes any HTTP/x.y", nil},
	{errStatusCode, "RFC 9110 §15: status codes are 100-599; net/http takes any three characters that are a number", nil},
	{errStatusLine, "RFC 9112 §4: exactly one SP before a 3DIGIT status-code; net/http trims extra SP and takes a signed number", lenientStatusLine},
	{errReasonPhrase, "RFC 9112 §4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ); net/http does not look at it", nil},
	{errSwitchHTTP10, "RFC 9110 §15.2, §7.8: HTTP/1.0 has neither 1xx nor Upgrade; a protocol switch must be unambiguous", nil},
	{errRespHeadTooLarge, "our MaxHeaderBytes; http.ReadResponse has no such limit", nil},
	{errRespTooManyFields, "our MaxHeaderCount; http.ReadResponse has no such limit", nil},
}

var teField = regexp.MustCompile(`(?i)\ntransfer-encoding:`)

func hasTransferEncoding(data []byte) bool { return teField.Match(data) }

// lenientStatusLine matches a status line net/http reads by trimming SP
// before the code or by taking a sign as part of it.
func lenientStatusLine(data []byte) bool {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	_, status, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return false
	}
	trimmed := bytes.TrimLeft(status, " ")
	code, _, _ := bytes.Cut(trimmed, []byte(" "))
	return len(trimmed) != len(status) || bytes.ContainsAny(code, "+-")
}

// Where http.ReadResponse refuses what we accept, on purpose.
var respLaxerThanNetHTTP = []struct {
	why   string
	match func(data []byte, r *Response, theirErr error) bool
}{
	{
		"RFC 9110 §8.6: repeated Content-Length fields or a list of the same decimal value may be taken as that value; net/http compares the text and parses one field as one number",
		func(_ []byte, r *Response, theirErr error) bool {
			return strings.Contains(theirErr.Error(), "Content-Length") && equalDecimalLengths(r)
		},
	},
	{
		"RFC 9110 §6.6.2: the Trailer field only announces fields; we never frame by trailers, so any name is harmless; net/http refuses framing names in it",
		func(_ []byte, r *Response, theirErr error) bool {
			return r.Chunked && r.Header.Has("Trailer") && strings.Contains(theirErr.Error(), "bad trailer key")
		},
	},
}

// equalDecimalLengths says, apart from the parser, whether every
// Content-Length value of r is a list of 1*DIGIT elements of one value.
func equalDecimalLengths(r *Response) bool {
	var first int64 = -1
	found := false
	for i := 0; i < r.Header.Len(); i++ {
		f := r.Header.At(i)
		if !strings.EqualFold(string(f.Name), "Content-Length") {
			continue
		}
		for _, e := range strings.Split(string(f.Value), ",") {
			e = strings.Trim(e, " \t")
			n, err := strconv.ParseInt(e, 10, 64)
			if err != nil || len(e) > 19 || strings.ContainsAny(e, "+-") {
				return false
			}
			if found && n != first {
				return false
			}
			first, found = n, true
		}
	}
	return found
}

// Where we refuse a body that net/http reads, on purpose.
var respBodyStricterThanNetHTTP = []struct {
	err error
	why string
}{
	{errRespBareLF, "RFC 9112 §7.1: chunk lines end in CRLF; net/http also takes a bare LF"},
	{errRespBareCR, "RFC 9112 §2.2: a bare CR in a chunk line MUST be refused"},
	{errRespChunkExt, "RFC 9112 §7.1.1: chunk-ext is ; token [ = token / quoted-string ]; net/http skips whatever follows ';'"},
	{errRespChunkSize, "RFC 9112 §7.1: we refuse chunk sizes of 16 or more hex digits (60 bits are plenty); net/http takes 16"},
	{errRespObsFold, "RFC 9112 §5.2, as in the head: trailers are field lines too"},
	{errRespSpaceColon, "RFC 9112 §5.1, as in the head"},
	{errRespNoColon, "RFC 9112 §5: a trailer line is a field line; net/http's reader skips some"},
	{errRespFieldName, "RFC 9110 §5.1, as in the head"},
	{errRespChunkExtLong, "our MaxChunkExtBytes"},
	{errRespTrailerTooLong, "our MaxTrailerBytes and MaxHeaderCount"},
}

// Where net/http refuses a body that we read, on purpose.
var respBodyLaxerThanNetHTTP = []struct {
	why   string
	match func(data []byte, theirErr error) bool
}{
	{
		"RFC 9112 §7.1.1: chunk-ext = *( BWS \";\" ... ), so whitespace may stand between the size and ';'; net/http takes none there",
		func(data []byte, theirErr error) bool {
			return strings.Contains(theirErr.Error(), "invalid byte in chunk length") && chunkSizeBWS.Match(data)
		},
	},
}

var chunkSizeBWS = regexp.MustCompile(`\n[0-9a-fA-F]+[ \t]+;`)

// FuzzResponseDifferential holds the response parser against
// http.ReadResponse on the same bytes: where both accept, status, version,
// framing (no body, length, chunked or to the close), persistence, the
// header fields and the decoded body and trailer agree; where one refuses,
// the reason is listed above. We may refuse more than net/http; we never
// accept what it frames differently.
func FuzzResponseDifferential(f *testing.F) {
	addResponseSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, mi uint8) {
		method := "GET"
		if mi%2 == 1 {
			method = "HEAD"
		}
		agreeWithNetHTTPResponse(t, data, method)
	})
}

// responseFraming is how a response's body is delimited, as both parsers
// can be asked: "none", "length N", "chunked", "close".
func ourFraming(r *Response) string {
	switch {
	case !r.HasBody() || (!r.Chunked && r.ContentLength == 0):
		return "none"
	case r.Chunked:
		return "chunked"
	case r.CloseDelimited:
		return "close"
	}
	return "length " + strconv.FormatInt(r.ContentLength, 10)
}

func theirFraming(r *http.Response) string {
	switch {
	case r.Body == http.NoBody:
		return "none"
	case len(r.TransferEncoding) > 0:
		return "chunked"
	case r.ContentLength < 0:
		return "close"
	}
	return "length " + strconv.FormatInt(r.ContentLength, 10)
}

func agreeWithNetHTTPResponse(t *testing.T, data []byte, method string) {
	t.Helper()
	var r Response
	_, ourErr := ParseResponseHead(data, &r, nil, method)
	if ourErr == ErrNeedMore {
		return // not a whole head to us; nothing to compare
	}
	theirs, theirErr := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), &http.Request{Method: method})

	switch {
	case ourErr != nil && theirErr != nil:
		return
	case ourErr != nil:
		for _, l := range respStricterThanNetHTTP {
			if ourErr == l.err && (l.match == nil || l.match(data)) {
				return
			}
		}
		t.Fatalf("we refuse (%v) what net/http accepts, for no listed reason", ourErr)
	case theirErr != nil:
		for _, l := range respLaxerThanNetHTTP {
			if l.match(data, &r, theirErr) {
				return
			}
		}
		t.Fatalf("net/http refuses (%v) what we accept, for no listed reason:\n%+v", theirErr, snapResponse(&r))
	}

	if theirs.StatusCode != r.Status || theirs.ProtoMajor != 1 || theirs.ProtoMinor != r.ProtoMinor {
		t.Errorf("status: ours HTTP/1.%d %d, net/http HTTP/%d.%d %d", r.ProtoMinor, r.Status, theirs.ProtoMajor, theirs.ProtoMinor, theirs.StatusCode)
	}
	if o, th := ourFraming(&r), theirFraming(theirs); o != th {
		t.Errorf("framing: ours %s, net/http %s", o, th)
	}
	if theirChunked := len(theirs.TransferEncoding) > 0; theirChunked != r.Chunked {
		t.Errorf("chunked: ours %v, net/http %v", r.Chunked, theirChunked)
	}
	if r.HasBody() || method == "HEAD" {
		// net/http reports 0 for a 1xx, 204 or 304, whatever was declared.
		if theirs.ContentLength != r.ContentLength {
			t.Errorf("content length: ours %d, net/http %d", r.ContentLength, theirs.ContentLength)
		}
	}
	if r.Status >= 200 && r.Status != 101 && theirs.Close == r.KeepAlive {
		t.Errorf("keep-alive: ours %v, net/http Close %v", r.KeepAlive, theirs.Close)
	}
	if ours := netHTTPResponseView(&r); !sameHeader(ours, theirs.Header) {
		t.Errorf("header fields:\n ours %q\n net/http %q", ours, theirs.Header)
	}
	if !r.HasBody() {
		return
	}

	// The decoded body, and the trailer, read both ways.
	rd := NewResponseReader(bytes.NewReader(data), ResponseLimits{})
	resp, err := rd.ReadResponse(method)
	if err != nil {
		t.Fatalf("ParseResponseHead accepted, the reader refused: %v", err)
	}
	ourBody, ourBodyErr := io.ReadAll(resp.Body)
	theirBody, theirBodyErr := io.ReadAll(theirs.Body)
	switch {
	case ourBodyErr == nil && theirBodyErr == nil:
		if !bytes.Equal(ourBody, theirBody) {
			t.Fatalf("body: ours %q, net/http %q", ourBody, theirBody)
		}
		if ours := trailerView(&resp.Body.Trailer); len(ours) > 0 || len(theirs.Trailer) > 0 {
			if !sameHeader(ours, withoutNil(theirs.Trailer)) {
				t.Errorf("trailer: ours %q, net/http %q", ours, theirs.Trailer)
			}
		}
	case ourBodyErr == io.ErrUnexpectedEOF && theirBodyErr != nil:
	case ourBodyErr != nil && theirBodyErr == nil:
		for _, l := range respBodyStricterThanNetHTTP {
			if ourBodyErr == l.err {
				return
			}
		}
		t.Fatalf("we refuse the body (%v) that net/http reads as %q, for no listed reason", ourBodyErr, theirBody)
	case ourBodyErr == nil && theirBodyErr != nil:
		for _, l := range respBodyLaxerThanNetHTTP {
			if l.match(data, theirBodyErr) {
				return
			}
		}
		t.Fatalf("net/http refuses the body (%v) that we read as %q", theirBodyErr, ourBody)
	}
}

// netHTTPResponseView arranges our fields the way http.ReadResponse
// reports them: canonical names, values in order, without the fields it
// consumes (Transfer-Encoding; Connection when it says close in 1.1;
// Trailer of a chunked body; Content-Length where none frames), repeated
// identical Content-Length fields as one, and the Cache-Control it adds
// for "Pragma: no-cache".
func netHTTPResponseView(r *Response) http.Header {
	h := http.Header{}
	connClose := r.Header.HasToken("Connection", "close")
	for i := 0; i < r.Header.Len(); i++ {
		f := r.Header.At(i)
		name := http.CanonicalHeaderKey(string(f.Name))
		switch name {
		case "Transfer-Encoding":
			continue
		case "Connection":
			if connClose && r.ProtoMinor == 1 {
				continue
			}
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
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" && h["Cache-Control"] == nil {
		h["Cache-Control"] = []string{"no-cache"}
	}
	return h
}

func trailerView(tr *Header) http.Header {
	h := http.Header{}
	for i := 0; i < tr.Len(); i++ {
		f := tr.At(i)
		name := http.CanonicalHeaderKey(string(f.Name))
		h[name] = append(h[name], string(f.Value))
	}
	return h
}

// withoutNil drops the keys net/http pre-declares from the Trailer field
// and never received.
func withoutNil(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if v != nil {
			out[k] = v
		}
	}
	return out
}

// TestResponseContentLengthAgainstNetHTTP_RFC9110_8_6 holds the
// Content-Length cases against net/http: both read each the same way, or
// the difference is one listed above.
func TestResponseContentLengthAgainstNetHTTP_RFC9110_8_6(t *testing.T) {
	for _, fields := range []string{
		"Content-Length: 5\r\nContent-Length: 5\r\n",
		"Content-Length: 5\r\nContent-Length:5\t\r\n",
		"Content-Length: 0005\r\n",
		"Content-Length: 05\r\nContent-Length: 5\r\n",
		"Content-Length: 5, 5\r\n",
		"Content-Length: 5,5\r\n",
		"Content-Length: 5, 6\r\n",
		"Content-Length: 5,\r\n",
		"Content-Length: 5\r\nContent-Length: 6\r\n",
		"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
		"Content-Length: x\r\nTransfer-Encoding: chunked\r\n",
	} {
		raw := ok200 + fields + "\r\nhello"
		agreeWithNetHTTPResponse(t, []byte(raw), "GET")
		agreeWithNetHTTPResponse(t, []byte(raw), "HEAD")
	}
}
