package parser

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// respSnap copies every exported field of a Response except Body, and what
// HasBody says, out of the read buffer.
type respSnap struct {
	ProtoMinor     int
	Status         int
	Reason         string
	Header         []kv
	ContentLength  int64
	Chunked        bool
	CloseDelimited bool
	KeepAlive      bool
	HasBody        bool
}

func snapResponse(r *Response) respSnap {
	return respSnap{
		ProtoMinor:     r.ProtoMinor,
		Status:         r.Status,
		Reason:         string(r.Reason),
		Header:         fieldsOf(&r.Header),
		ContentLength:  r.ContentLength,
		Chunked:        r.Chunked,
		CloseDelimited: r.CloseDelimited,
		KeepAlive:      r.KeepAlive,
		HasBody:        r.HasBody(),
	}
}

// diffResp names the fields in which got and want differ, or "".
func diffResp(got, want respSnap) string {
	var b strings.Builder
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < gv.NumField(); i++ {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !reflect.DeepEqual(g, w) {
			fmt.Fprintf(&b, "\n\t%s: got %v, want %v", gv.Type().Field(i).Name, g, w)
		}
	}
	return b.String()
}

// TestRespSnapCoversResponse keeps respSnap honest: a field added to
// Response must be added to it too, or the tables stop asserting it.
func TestRespSnapCoversResponse(t *testing.T) {
	st := reflect.TypeOf(respSnap{})
	rt := reflect.TypeOf(Response{})
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if !f.IsExported() || f.Name == "Body" {
			continue
		}
		if _, ok := st.FieldByName(f.Name); !ok {
			t.Errorf("Response.%s is not in respSnap", f.Name)
		}
	}
}

// readAllResp reads a body to its end with a small buffer, so that chunk
// and buffer boundaries are crossed inside reads.
func readAllResp(b *ResponseBody) ([]byte, error) {
	var out []byte
	var buf [7]byte
	for {
		n, err := b.Read(buf[:])
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// respSentinel follows a response whose body does not run to the close:
// the next response the reader finds must be this one.
const respSentinel = "HTTP/1.1 204 Sentinel\r\n\r\n"

// backendValidTest is a response the reader must accept: what every
// exported field must hold, and the body and trailer that reading gives.
type backendValidTest struct {
	name    string
	method  string // "" is GET
	raw     string // head and body as sent
	want    respSnap
	content string // the decoded body
	trailer []kv
}

var backendValidTests = []backendValidTest{
	// Status line, RFC 9112 §4.
	{
		name: "RFC9112-4/status-line-with-reason",
		raw:  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Content-Length", "5"}},
			ContentLength: 5, KeepAlive: true, HasBody: true},
		content: "hello",
	},
	{
		name: "RFC9112-4/empty-reason-after-SP",
		raw:  "HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 299, Header: []kv{{"Content-Length", "0"}},
			ContentLength: 0, KeepAlive: true, HasBody: true},
	},
	{
		// The line's end is unambiguous; net/http and nginx accept it.
		name: "RFC9112-4/empty-reason-without-SP",
		raw:  "HTTP/1.1 404\r\nContent-Length: 1\r\n\r\nx",
		want: respSnap{ProtoMinor: 1, Status: 404, Header: []kv{{"Content-Length", "1"}},
			ContentLength: 1, KeepAlive: true, HasBody: true},
		content: "x",
	},
	{
		name: "RFC9112-4/reason-with-spaces-tabs-and-obs-text",
		raw:  "HTTP/1.1 200  Tr\xe8s\tbien OK \r\nContent-Length: 0\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: " Tr\xe8s\tbien OK ", Header: []kv{{"Content-Length", "0"}},
			ContentLength: 0, KeepAlive: true, HasBody: true},
	},
	{
		name: "RFC9110-15/lowest-and-highest-status-599",
		raw:  "HTTP/1.1 599 Whatever\r\nContent-Length: 0\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 599, Reason: "Whatever", Header: []kv{{"Content-Length", "0"}},
			ContentLength: 0, KeepAlive: true, HasBody: true},
	},

	// Persistence, RFC 9112 §9.3.
	{
		name: "RFC9112-9.3/HTTP/1.0-closes-by-default",
		raw:  "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
		want: respSnap{ProtoMinor: 0, Status: 200, Reason: "OK", Header: []kv{{"Content-Length", "2"}},
			ContentLength: 2, HasBody: true},
		content: "hi",
	},
	{
		name: "RFC9112-9.3/HTTP/1.0-keep-alive",
		raw:  "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi",
		want: respSnap{ProtoMinor: 0, Status: 200, Reason: "OK", Header: []kv{{"Connection", "Keep-Alive"}, {"Content-Length", "2"}},
			ContentLength: 2, KeepAlive: true, HasBody: true},
		content: "hi",
	},
	{
		name: "RFC9112-9.3/HTTP/1.1-close",
		raw:  "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Connection", "close"}, {"Content-Length", "2"}},
			ContentLength: 2, HasBody: true},
		content: "hi",
	},
	{
		name: "RFC9112-9.3/close-in-a-list-wins-over-keep-alive",
		raw:  "HTTP/1.0 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n",
		want: respSnap{ProtoMinor: 0, Status: 200, Reason: "OK", Header: []kv{{"Connection", "keep-alive, Close"}, {"Content-Length", "0"}},
			ContentLength: 0, HasBody: true},
	},

	// Framing, RFC 9112 §6.3.
	{
		name:   "RFC9112-6.3/HEAD-with-Content-Length-has-no-body",
		method: "HEAD",
		raw:    "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Content-Length", "42"}},
			ContentLength: 42, KeepAlive: true},
	},
	{
		name:   "RFC9112-6.3/HEAD-with-chunked-has-no-body",
		method: "HEAD",
		raw:    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Transfer-Encoding", "chunked"}},
			ContentLength: -1, Chunked: true, KeepAlive: true},
	},
	{
		name:   "RFC9112-6.3/HEAD-without-length-is-not-close-delimited",
		method: "HEAD",
		raw:    "HTTP/1.1 200 OK\r\n\r\n",
		want:   respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", ContentLength: -1, KeepAlive: true},
	},
	{
		name: "RFC9112-6.3/204-Content-Length-does-not-frame",
		raw:  "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 204, Reason: "No Content", Header: []kv{{"Content-Length", "7"}},
			ContentLength: 7, KeepAlive: true},
	},
	{
		name: "RFC9112-6.3/304-Content-Length-does-not-frame",
		raw:  "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 1234\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 304, Reason: "Not Modified", Header: []kv{{"ETag", `"x"`}, {"Content-Length", "1234"}},
			ContentLength: 1234, KeepAlive: true},
	},
	{
		name: "RFC9112-6.3/304-without-length-is-not-close-delimited",
		raw:  "HTTP/1.1 304 Not Modified\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 304, Reason: "Not Modified", ContentLength: -1, KeepAlive: true},
	},
	{
		name: "RFC9112-6.3/close-delimited-HTTP/1.1",
		raw:  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this\r\n\r\nHTTP/1.1 200 OK\r\n\r\nis body",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Content-Type", "text/plain"}},
			ContentLength: -1, CloseDelimited: true, HasBody: true},
		content: "all of this\r\n\r\nHTTP/1.1 200 OK\r\n\r\nis body",
	},
	{
		name: "RFC9112-6.3/close-delimited-HTTP/1.0-keep-alive-is-not-kept",
		raw:  "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nbody",
		want: respSnap{ProtoMinor: 0, Status: 200, Reason: "OK", Header: []kv{{"Connection", "keep-alive"}},
			ContentLength: -1, CloseDelimited: true, HasBody: true},
		content: "body",
	},
	{
		name: "RFC9112-6.3/close-delimited-empty",
		raw:  "HTTP/1.1 500 Oops\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 500, Reason: "Oops", ContentLength: -1, CloseDelimited: true, HasBody: true},
	},

	// Chunked, RFC 9112 §7.1.
	{
		name: "RFC9112-7.1/chunked-with-extensions-and-trailer",
		raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
			"5;a=b;c=\"d e\"\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Transfer-Encoding", "chunked"}, {"Trailer", "X-Sum"}},
			ContentLength: -1, Chunked: true, KeepAlive: true, HasBody: true},
		content: "hello world",
		trailer: []kv{{"X-Sum", "42"}},
	},
	{
		name: "RFC9112-7.1/chunked-is-case-insensitive-with-OWS",
		raw:  "HTTP/1.1 200 OK\r\nTransfer-Encoding: \t ChUnKeD \t\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Transfer-Encoding", "ChUnKeD"}},
			ContentLength: -1, Chunked: true, KeepAlive: true, HasBody: true},
		content: "0123456789",
	},
	{
		name: "RFC9112-7.1/chunked-empty-body",
		raw:  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Transfer-Encoding", "chunked"}},
			ContentLength: -1, Chunked: true, KeepAlive: true, HasBody: true},
	},
	{
		name: "RFC9112-7.1/chunk-size-hex-with-leading-zeros",
		raw:  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000000000000010\r\n0123456789abcdef\r\n0\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Transfer-Encoding", "chunked"}},
			ContentLength: -1, Chunked: true, KeepAlive: true, HasBody: true},
		content: "0123456789abcdef",
	},
	{
		// RFC 9110 §6.5.1: a trailer field never frames.
		name: "RFC9110-6.5.1/trailer-Content-Length-does-not-frame",
		raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"3\r\nabc\r\n0\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Transfer-Encoding", "chunked"}},
			ContentLength: -1, Chunked: true, KeepAlive: true, HasBody: true},
		content: "abc",
		trailer: []kv{{"Content-Length", "100"}, {"Transfer-Encoding", "chunked"}},
	},

	// Content-Length, RFC 9110 §8.6.
	{
		name: "RFC9110-8.6/repeated-equal-fields-are-one",
		raw:  "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Content-Length", "3"}, {"Content-Length", "3"}},
			ContentLength: 3, KeepAlive: true, HasBody: true},
		content: "abc",
	},
	{
		name: "RFC9110-8.6/list-of-equal-values-is-one",
		raw:  "HTTP/1.1 200 OK\r\nContent-Length: 3, 3,3\r\n\r\nabc",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Content-Length", "3, 3,3"}},
			ContentLength: 3, KeepAlive: true, HasBody: true},
		content: "abc",
	},
	{
		name: "RFC9110-8.6/same-decimal-value-with-leading-zeros",
		raw:  "HTTP/1.1 200 OK\r\nContent-Length: 003\r\nContent-Length: 3\r\n\r\nabc",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Content-Length", "003"}, {"Content-Length", "3"}},
			ContentLength: 3, KeepAlive: true, HasBody: true},
		content: "abc",
	},
	{
		name:   "RFC9110-8.6/largest-length-19-digits",
		method: "HEAD",
		raw:    "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK", Header: []kv{{"Content-Length", "9223372036854775807"}},
			ContentLength: 1<<63 - 1, KeepAlive: true},
	},

	// Field lines, RFC 9112 §5.
	{
		name: "RFC9112-5/fields-in-order-repeats-kept-OWS-trimmed-empty-value",
		raw:  "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie:b=2\t\r\nX-Empty:\r\nX-Obs: \xff\xfe\r\nContent-Length: 0\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "OK",
			Header:        []kv{{"Set-Cookie", "a=1"}, {"set-cookie", "b=2"}, {"X-Empty", ""}, {"X-Obs", "\xff\xfe"}, {"Content-Length", "0"}},
			ContentLength: 0, KeepAlive: true, HasBody: true},
	},

	// RFC 9112 §6.3, item 2: a 2xx to CONNECT is a tunnel; its
	// Content-Length and Transfer-Encoding MUST be ignored, however odd.
	{
		name:   "RFC9112-6.3/CONNECT-2xx-ignores-framing-fields",
		method: "CONNECT",
		raw:    "HTTP/1.1 200 Connection Established\r\nContent-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\n",
		want: respSnap{ProtoMinor: 1, Status: 200, Reason: "Connection Established",
			Header:        []kv{{"Content-Length", "5"}, {"Transfer-Encoding", "gzip"}},
			ContentLength: -1},
	},
	{
		name:   "RFC9112-6.3/CONNECT-refused-is-an-ordinary-response",
		method: "CONNECT",
		raw:    "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 2\r\n\r\nno",
		want: respSnap{ProtoMinor: 1, Status: 407, Reason: "Proxy Authentication Required", Header: []kv{{"Content-Length", "2"}},
			ContentLength: 2, KeepAlive: true, HasBody: true},
		content: "no",
	},
}

// TestBackendResponsesAccepted_RFC9112_6_3 reads every valid response
// whole, a byte per Read and in odd pieces, with the sentinel after it
// where the body does not run to the close: the head, the decoded body and
// the trailer must be as listed, and the next response must start exactly
// where the body ends.
func TestBackendResponsesAccepted_RFC9112_6_3(t *testing.T) {
	for _, tt := range backendValidTests {
		method := tt.method
		if method == "" {
			method = "GET"
		}
		stream := tt.raw
		tunnel := method == "CONNECT" && tt.want.Status/100 == 2
		if !tt.want.CloseDelimited && !tunnel {
			stream += respSentinel
		}
		for _, feed := range feeds {
			t.Run(tt.name+"/"+feed.name, func(t *testing.T) {
				rd := NewResponseReader(&source{s: stream, step: feed.step, eof: true}, ResponseLimits{})
				resp, err := rd.ReadResponse(method)
				if err != nil {
					t.Fatalf("ReadResponse: %v", err)
				}
				if d := diffResp(snapResponse(resp), tt.want); d != "" {
					t.Fatalf("head:%s", d)
				}
				body, err := readAllResp(resp.Body)
				if err != nil {
					t.Fatalf("body: %v", err)
				}
				if string(body) != tt.content {
					t.Errorf("body %q, want %q", body, tt.content)
				}
				if !resp.Body.Done() {
					t.Error("Done = false after io.EOF")
				}
				if got := fieldsOf(&resp.Body.Trailer); !equalKVs(got, tt.trailer) {
					t.Errorf("trailer %v, want %v", got, tt.trailer)
				}
				switch {
				case tunnel:
					if _, err := rd.ReadResponse(method); err != errSwitched {
						t.Errorf("after a tunnel: %v, want errSwitched", err)
					}
				case tt.want.CloseDelimited:
					if _, err := rd.ReadResponse(method); err != io.EOF {
						t.Errorf("after a close-delimited body: %v, want io.EOF", err)
					}
				default:
					next, err := rd.ReadResponse("GET")
					if err != nil || next.Status != 204 || string(next.Reason) != "Sentinel" {
						t.Fatalf("next response: %v, %v", next, err)
					}
				}
			})
		}
		// ParseResponseHead agrees with the reader on the whole head.
		var r Response
		n, err := ParseResponseHead([]byte(stream), &r, nil, method)
		if err != nil {
			t.Errorf("%s: ParseResponseHead: %v", tt.name, err)
		} else if d := diffResp(snapResponse(&r), tt.want); d != "" {
			t.Errorf("%s: ParseResponseHead:%s", tt.name, d)
		} else if !strings.HasSuffix(stream[:n], "\r\n\r\n") || strings.Contains(stream[:n-2], "\r\n\r\n") {
			t.Errorf("%s: ParseResponseHead took %d bytes", tt.name, n)
		}
	}
}

// backendHostileTest is a response the reader must refuse, named after the
// rule it breaks, with the refusal (an *Error with Status 502, or
// io.ErrUnexpectedEOF for a backend that closed too early).
type backendHostileTest struct {
	name   string
	method string // "" is GET
	raw    string
	err    error
	lim    ResponseLimits
	// inBody: the head is fine and the refusal comes from reading the body.
	inBody bool
	// partial: raw is an unfinished head that must be refused without
	// waiting for the rest.
	partial bool
	// eof: the backend closes after raw.
	eof bool
}

const ok200 = "HTTP/1.1 200 OK\r\n"

// respChunked builds a chunked 200 around body.
func respChunked(body string) string {
	return ok200 + "Transfer-Encoding: chunked\r\n\r\n" + body
}

var smallResp = ResponseLimits{MaxHeaderBytes: 128, MaxHeaderCount: 4, MaxChunkExtBytes: 16, MaxTrailerBytes: 32}

var backendHostileTests = []backendHostileTest{
	// Status line, RFC 9112 §4.
	{name: "RFC9112-4/no-SP-after-version", raw: "HTTP/1.1200 OK\r\n\r\n", err: errStatusLine},
	{name: "RFC9112-4/two-SP-before-status", raw: "HTTP/1.1  200 OK\r\n\r\n", err: errStatusLine},
	{name: "RFC9112-4/HTAB-for-SP", raw: "HTTP/1.1\t200 OK\r\n\r\n", err: errStatusLine},
	{name: "RFC9112-4/two-digit-status", raw: "HTTP/1.1 20 OK\r\n\r\n", err: errStatusLine},
	{name: "RFC9112-4/two-digit-status-at-end", raw: "HTTP/1.1 20\r\n\r\n", err: errStatusLine},
	{name: "RFC9112-4/four-digit-status", raw: "HTTP/1.1 2000 OK\r\n\r\n", err: errStatusLine},
	{name: "RFC9112-4/status-with-sign", raw: "HTTP/1.1 +20 OK\r\n\r\n", err: errStatusLine},
	{name: "RFC9112-4/status-not-digits", raw: "HTTP/1.1 2x0 OK\r\n\r\n", err: errStatusLine},
	{name: "RFC9112-4/version-only", raw: "HTTP/1.1\r\n\r\n", err: errStatusLine},
	{name: "RFC9112-4/version-and-SP-only", raw: "HTTP/1.1 \r\n\r\n", err: errStatusLine},
	{name: "RFC9110-15/status-below-100", raw: "HTTP/1.1 099 Low\r\n\r\n", err: errStatusCode},
	{name: "RFC9110-15/status-000", raw: "HTTP/1.1 000 Zero\r\n\r\n", err: errStatusCode},
	{name: "RFC9110-15/status-above-599", raw: "HTTP/1.1 600 High\r\n\r\n", err: errStatusCode},
	{name: "RFC9112-4/NUL-in-reason", raw: "HTTP/1.1 200 O\x00K\r\n\r\n", err: errReasonPhrase},
	{name: "RFC9112-4/CTL-in-reason", raw: "HTTP/1.1 200 O\x1bK\r\n\r\n", err: errReasonPhrase},
	{name: "RFC9112-4/DEL-in-reason", raw: "HTTP/1.1 200 O\x7fK\r\n\r\n", err: errReasonPhrase},

	// Version, RFC 9112 §2.3: case-sensitive, and only 1.0 and 1.1.
	{name: "RFC9112-2.3/lower-case-name", raw: "http/1.1 200 OK\r\n", err: errStatusLine, partial: true},
	{name: "RFC9112-2.3/no-minor", raw: "HTTP/1 200 OK\r\n\r\n", err: errStatusLine},
	{name: "RFC9112-2.3/two-digit-major", raw: "HTTP/11.1 200 OK\r\n\r\n", err: errStatusLine},
	{name: "RFC9112-2.3/HTTP/1.2", raw: "HTTP/1.2 200 OK\r\n\r\n", err: errResponseVersion},
	{name: "RFC9112-2.3/HTTP/2.0", raw: "HTTP/2.0 200 OK\r\n\r\n", err: errResponseVersion},
	{name: "RFC9112-2.3/HTTP/0.9", raw: "HTTP/0.9 200 OK\r\n\r\n", err: errResponseVersion},
	{name: "RFC9112-2.3/HTTP/2-without-minor", raw: "HTTP/2 200\r\n\r\n", err: errStatusLine},
	{name: "RFC9112-4/not-HTTP-at-all-refused-at-once", raw: "\x15\x03\x01\x00\x02\x02F", err: errStatusLine, partial: true},
	{name: "RFC9112-4/HTTP/2-preface-refused-at-once", raw: "PRI * HTTP/2.0", err: errStatusLine, partial: true},
	{name: "RFC9112-4/garbage-after-a-good-start-refused-at-once", raw: "HTTP/1.x", err: errStatusLine, partial: true},
	// RFC 9112 §2.2 lets a server skip empty lines before a request;
	// nothing lets a client skip them before a response.
	{name: "RFC9112-2.2/empty-line-before-status-line", raw: "\r\nHTTP/1.1 200 OK\r\n\r\n", err: errStatusLine},
	{name: "RFC9112-2.2/bare-LF-before-status-line", raw: "\nHTTP/1.1 200 OK\r\n\r\n", err: errRespBareLF, partial: true},

	// Lines, RFC 9112 §2.2.
	{name: "RFC9112-2.2/bare-CR-in-status-line", raw: "HTTP/1.1 200 O\rK\r\n\r\n", err: errRespBareCR},
	{name: "RFC9112-2.2/bare-CR-ending-status-line", raw: "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", err: errRespBareCR},
	{name: "RFC9112-2.2/bare-CR-in-version", raw: "HTTP/1\r.1 200 OK\r\n\r\n", err: errRespBareCR},
	{name: "RFC9112-2.2/bare-CR-in-field-value", raw: ok200 + "X: a\rb\r\n\r\n", err: errRespBareCR},
	{name: "RFC9112-2.2/bare-CR-before-CRLF", raw: ok200 + "X: a\r\r\n\r\n", err: errRespBareCR},
	{name: "RFC9112-2.2/bare-CR-as-blank-line", raw: ok200 + "X: a\r\n\rHTTP/1.1 200 OK\r\n\r\n", err: errRespBareCR},
	{name: "RFC9112-2.2/bare-LF-ending-status-line", raw: "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", err: errRespBareLF},
	{name: "RFC9112-2.2/bare-LF-ending-field-line", raw: ok200 + "Content-Length: 0\n\r\n", err: errRespBareLF},
	{name: "RFC9112-2.2/bare-LF-as-blank-line", raw: ok200 + "Content-Length: 0\r\n\n", err: errRespBareLF},

	// Field lines, RFC 9112 §5 and RFC 9110 §5.
	{name: "RFC9112-5.1/space-before-colon", raw: ok200 + "Content-Length : 0\r\n\r\n", err: errRespSpaceColon},
	{name: "RFC9112-5.1/tab-before-colon", raw: ok200 + "X\t: a\r\n\r\n", err: errRespSpaceColon},
	{name: "RFC9112-5.2/obs-fold-space", raw: ok200 + "X: a\r\n b\r\n\r\n", err: errRespObsFold},
	{name: "RFC9112-5.2/obs-fold-tab", raw: ok200 + "X: a\r\n\tb\r\n\r\n", err: errRespObsFold},
	{name: "RFC9112-5.2/whitespace-before-first-field", raw: ok200 + " Content-Length: 0\r\n\r\n", err: errRespObsFold},
	{name: "RFC9112-5/field-line-without-colon", raw: ok200 + "Content-Length\r\n\r\n", err: errRespNoColon},
	{name: "RFC9110-5.1/empty-field-name", raw: ok200 + ": a\r\n\r\n", err: errRespFieldName},
	{name: "RFC9110-5.1/field-name-not-token", raw: ok200 + "X(A): a\r\n\r\n", err: errRespFieldName},
	{name: "RFC9110-5.1/field-name-NUL", raw: ok200 + "X\x00: a\r\n\r\n", err: errRespFieldName},
	{name: "RFC9110-5.5/NUL-in-value", raw: ok200 + "X: a\x00b\r\n\r\n", err: errRespFieldValue},
	{name: "RFC9110-5.5/CTL-in-value", raw: ok200 + "X: a\x01b\r\n\r\n", err: errRespFieldValue},
	{name: "RFC9110-5.5/DEL-in-value", raw: ok200 + "X: a\x7fb\r\n\r\n", err: errRespFieldValue},

	// Transfer-Encoding, RFC 9112 §6.1 and §6.3.
	{name: "RFC9112-6.1/Transfer-Encoding-and-Content-Length", raw: ok200 + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", err: errRespCLAndTE},
	{name: "RFC9112-6.1/Content-Length-and-Transfer-Encoding", raw: ok200 + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", err: errRespCLAndTE},
	{name: "RFC9112-6.1/Transfer-Encoding-and-Content-Length-on-HEAD", method: "HEAD", raw: ok200 + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", err: errRespCLAndTE},
	{name: "RFC9112-6.1/Transfer-Encoding-in-HTTP/1.0", raw: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", err: errRespTEHTTP10},
	{name: "RFC9112-6.3/gzip-then-chunked", raw: ok200 + "Transfer-Encoding: gzip, chunked\r\n\r\n", err: errRespTE},
	{name: "RFC9112-6.3/gzip-then-chunked-in-two-fields", raw: ok200 + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", err: errRespTE},
	{name: "RFC9112-6.3/gzip-alone-would-be-close-delimited", raw: ok200 + "Transfer-Encoding: gzip\r\n\r\n", err: errRespTE},
	{name: "RFC9112-6.3/identity", raw: ok200 + "Transfer-Encoding: identity\r\n\r\n", err: errRespTE},
	{name: "RFC9112-6.3/chunked-twice", raw: ok200 + "Transfer-Encoding: chunked, chunked\r\n\r\n", err: errRespTE},
	{name: "RFC9112-6.3/chunked-in-two-fields", raw: ok200 + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", err: errRespTE},
	{name: "RFC9112-6.3/chunked-then-empty-element", raw: ok200 + "Transfer-Encoding: chunked,\r\n\r\n", err: errRespTE},
	{name: "RFC9112-6.3/chunked-with-parameter", raw: ok200 + "Transfer-Encoding: chunked;q=1\r\n\r\n", err: errRespTE},
	{name: "RFC9112-6.3/empty-Transfer-Encoding", raw: ok200 + "Transfer-Encoding:\r\n\r\n", err: errRespTE},
	{name: "RFC9112-6.3/chunked-look-alike", raw: ok200 + "Transfer-Encoding: xchunked\r\n\r\n", err: errRespTE},

	// Content-Length, RFC 9110 §8.6 and RFC 9112 §6.3, item 5: a proxy
	// MUST answer an invalid one with 502.
	{name: "RFC9110-8.6/differing-fields", raw: ok200 + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", err: errRespCLConflict},
	{name: "RFC9110-8.6/differing-list", raw: ok200 + "Content-Length: 5, 6\r\n\r\n", err: errRespCLConflict},
	{name: "RFC9110-8.6/not-digits", raw: ok200 + "Content-Length: 5a\r\n\r\n", err: errRespContentLength},
	{name: "RFC9110-8.6/negative", raw: ok200 + "Content-Length: -1\r\n\r\n", err: errRespContentLength},
	{name: "RFC9110-8.6/plus-sign", raw: ok200 + "Content-Length: +5\r\n\r\n", err: errRespContentLength},
	{name: "RFC9110-8.6/hex", raw: ok200 + "Content-Length: 0x5\r\n\r\n", err: errRespContentLength},
	{name: "RFC9110-8.6/inner-space", raw: ok200 + "Content-Length: 1 2\r\n\r\n", err: errRespContentLength},
	{name: "RFC9110-8.6/empty", raw: ok200 + "Content-Length:\r\n\r\n", err: errRespContentLength},
	{name: "RFC9110-8.6/empty-list-element", raw: ok200 + "Content-Length: 5,\r\n\r\n", err: errRespContentLength},
	{name: "RFC9110-8.6/only-commas", raw: ok200 + "Content-Length: ,\r\n\r\n", err: errRespContentLength},
	{name: "RFC9110-8.6/overflow", raw: ok200 + "Content-Length: 9223372036854775808\r\n\r\n", err: errRespContentLength},
	{name: "RFC9110-8.6/twenty-digits", raw: ok200 + "Content-Length: 00000000000000000005\r\n\r\n", err: errRespContentLength},
	{name: "RFC9110-8.6/invalid-on-304-too", raw: "HTTP/1.1 304 Not Modified\r\nContent-Length: x\r\n\r\n", err: errRespContentLength},
	{name: "RFC9110-8.6/invalid-on-HEAD-too", method: "HEAD", raw: ok200 + "Content-Length: 1, 2\r\n\r\n", err: errRespCLConflict},

	// RFC 9110 §15.2 and §7.8: HTTP/1.0 has neither 1xx nor Upgrade.
	{name: "RFC9110-7.8/101-in-HTTP/1.0", raw: "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", err: errSwitchHTTP10},

	// Limits: RFC 9112 §6.3, item 5 and RFC 9110 §15.6.3 make a proxy
	// answer what it cannot take with 502.
	{name: "limits/header-section-too-large", raw: ok200 + "X: " + strings.Repeat("a", 200) + "\r\n\r\n", lim: smallResp, err: errRespHeadTooLarge},
	{name: "limits/header-section-too-large-refused-without-waiting", raw: ok200 + "X: " + strings.Repeat("a", 200), lim: smallResp, err: errRespHeadTooLarge, partial: true},
	{name: "limits/status-line-too-large", raw: "HTTP/1.1 200 " + strings.Repeat("a", 200), lim: smallResp, err: errRespHeadTooLarge, partial: true},
	{name: "limits/too-many-fields", raw: ok200 + "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", lim: smallResp, err: errRespTooManyFields},
	{name: "limits/chunk-extension-too-long", raw: respChunked("1;" + strings.Repeat("x", 17) + "\r\na\r\n0\r\n\r\n"), lim: smallResp, err: errRespChunkExtLong, inBody: true},
	{name: "limits/chunk-extension-too-long-refused-without-waiting", raw: respChunked("1;" + strings.Repeat("x", 40)), lim: smallResp, err: errRespChunkExtLong, inBody: true, partial: true},
	{name: "limits/trailer-too-large", raw: respChunked("0\r\nX: " + strings.Repeat("a", 40) + "\r\n\r\n"), lim: smallResp, err: errRespTrailerTooLong, inBody: true},
	{name: "limits/too-many-trailer-fields", raw: respChunked("0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n"), lim: ResponseLimits{MaxHeaderCount: 4}, err: errRespTrailerTooLong, inBody: true},

	// Chunked framing, RFC 9112 §7.1.
	{name: "RFC9112-7.1/chunk-size-not-hex", raw: respChunked("g\r\n"), err: errRespChunkSize, inBody: true},
	{name: "RFC9112-7.1/chunk-size-empty", raw: respChunked("\r\n"), err: errRespChunkSize, inBody: true},
	{name: "RFC9112-7.1/chunk-size-with-sign", raw: respChunked("+5\r\nhello\r\n0\r\n\r\n"), err: errRespChunkSize, inBody: true},
	{name: "RFC9112-7.1/chunk-size-0x", raw: respChunked("0x5\r\nhello\r\n0\r\n\r\n"), err: errRespChunkExt, inBody: true},
	{name: "RFC9112-7.1/chunk-size-overflow", raw: respChunked("1000000000000000\r\n"), err: errRespChunkSize, inBody: true},
	{name: "RFC9112-7.1/chunk-size-space-inside", raw: respChunked("1 0\r\n"), err: errRespChunkExt, inBody: true},
	{name: "RFC9112-7.1/chunk-extension-without-name", raw: respChunked("5;\r\nhello\r\n0\r\n\r\n"), err: errRespChunkExt, inBody: true},
	{name: "RFC9112-7.1/chunk-extension-unterminated-quote", raw: respChunked("5;a=\"b\r\nhello\r\n0\r\n\r\n"), err: errRespChunkExt, inBody: true},
	{name: "RFC9112-7.1/data-longer-than-size", raw: respChunked("5\r\nhelloXX\r\n0\r\n\r\n"), err: errRespChunkCRLF, inBody: true},
	{name: "RFC9112-7.1/data-without-CRLF", raw: respChunked("5\r\nhello0\r\n\r\n"), err: errRespChunkCRLF, inBody: true},
	{name: "RFC9112-7.1/data-ended-by-bare-LF", raw: respChunked("5\r\nhello\n0\r\n\r\n"), err: errRespChunkCRLF, inBody: true},
	{name: "RFC9112-2.2/chunk-size-ended-by-bare-LF", raw: respChunked("5\nhello\r\n0\r\n\r\n"), err: errRespBareLF, inBody: true},
	{name: "RFC9112-2.2/bare-CR-in-chunk-size-line", raw: respChunked("5;a\rb\r\nhello\r\n0\r\n\r\n"), err: errRespBareCR, inBody: true},
	{name: "RFC9112-7.1.2/obs-fold-in-trailer", raw: respChunked("0\r\nX: a\r\n b\r\n\r\n"), err: errRespObsFold, inBody: true},
	{name: "RFC9112-7.1.2/trailer-line-without-colon", raw: respChunked("0\r\nX\r\n\r\n"), err: errRespNoColon, inBody: true},
	{name: "RFC9112-7.1.2/bare-LF-ending-trailer", raw: respChunked("0\r\nX: a\n\r\n"), err: errRespBareLF, inBody: true},

	// The backend closes too early, RFC 9112 §8: an incomplete message.
	{name: "RFC9112-8/closed-in-status-line", raw: "HTTP/1.1 20", err: io.ErrUnexpectedEOF, eof: true},
	{name: "RFC9112-8/closed-in-fields", raw: ok200 + "Content-Length: 5\r\n", err: io.ErrUnexpectedEOF, eof: true},
	{name: "RFC9112-8/closed-before-blank-line-ends", raw: ok200 + "Content-Length: 5\r\n\r", err: io.ErrUnexpectedEOF, eof: true},
	{name: "RFC9112-8/closed-in-fixed-body", raw: ok200 + "Content-Length: 10\r\n\r\nhello", err: io.ErrUnexpectedEOF, eof: true, inBody: true},
	{name: "RFC9112-8/closed-in-chunk-size", raw: respChunked("5"), err: io.ErrUnexpectedEOF, eof: true, inBody: true},
	{name: "RFC9112-8/closed-in-chunk-data", raw: respChunked("5\r\nhel"), err: io.ErrUnexpectedEOF, eof: true, inBody: true},
	{name: "RFC9112-8/closed-before-chunk-CRLF", raw: respChunked("5\r\nhello"), err: io.ErrUnexpectedEOF, eof: true, inBody: true},
	{name: "RFC9112-8/closed-before-last-chunk", raw: respChunked("5\r\nhello\r\n"), err: io.ErrUnexpectedEOF, eof: true, inBody: true},
	{name: "RFC9112-8/closed-in-trailer", raw: respChunked("0\r\nX: a\r\n"), err: io.ErrUnexpectedEOF, eof: true, inBody: true},
	// Refusals the bytes already deserve come first, however they were split.
	{name: "RFC9112-8/closed-after-a-bare-CR", raw: "HTTP/1.1 200 OK\rX", err: errRespBareCR, eof: true},
	{name: "RFC9112-8/closed-after-a-bad-field", raw: ok200 + "X : a\r\nY", err: errRespSpaceColon, eof: true},
}

// TestBackendResponsesRefused reads every refused response whole, a byte
// per Read and in odd pieces: the refusal must be the same each time, an
// *Error with Status 502 (or io.ErrUnexpectedEOF for a backend that closed
// early), and a partial one must come without waiting for more bytes.
func TestBackendResponsesRefused(t *testing.T) {
	for _, tt := range backendHostileTests {
		method := tt.method
		if method == "" {
			method = "GET"
		}
		if e, ok := tt.err.(*Error); ok && e.Status != 502 {
			t.Fatalf("%s: refusal %v is not a 502", tt.name, e)
		}
		for _, feed := range feeds {
			t.Run(tt.name+"/"+feed.name, func(t *testing.T) {
				// A source that is not at its end blocks when its bytes
				// are gone: a refusal must come from what was sent.
				rd := NewResponseReader(&source{s: tt.raw, step: feed.step, eof: tt.eof}, tt.lim)
				resp, err := rd.ReadResponse(method)
				if tt.inBody {
					if err != nil {
						t.Fatalf("head refused: %v", err)
					}
					_, err = readAllResp(resp.Body)
					if resp.Body.Done() {
						t.Error("Done = true for a refused body")
					}
					if resp.Body.Drain(1 << 20) {
						t.Error("Drain = true for a refused body")
					}
				}
				if err != tt.err {
					t.Fatalf("got %v, want %v", err, tt.err)
				}
				if !tt.inBody {
					// Refusals stick: the connection is to be discarded.
					if _, again := rd.ReadResponse(method); again != tt.err {
						t.Errorf("second ReadResponse: %v, want %v again", again, tt.err)
					}
				}
				rd.Release()
				if rd.buf != nil {
					t.Error("Release kept the buffer of a failed reader")
				}
			})
		}
		if !tt.inBody && !tt.eof {
			var r Response
			lim := tt.lim
			_, err := ParseResponseHead([]byte(tt.raw), &r, &lim, method)
			if err != tt.err {
				t.Errorf("%s: ParseResponseHead: %v, want %v", tt.name, err, tt.err)
			}
		}
	}
}

// TestEveryBackendRefusalIsA502: the refusals of the shared line, field and
// chunk code all have 502 twins, and whatever else reaches toBackend does
// not leave it with a client's status.
func TestEveryBackendRefusalIsA502(t *testing.T) {
	for from, to := range backendErrors {
		if e, ok := to.(*Error); (!ok && to != io.ErrUnexpectedEOF) || (ok && e.Status != 502) {
			t.Errorf("%v -> %v", from, to)
		}
	}
	for _, err := range []*Error{errBodyTooLarge, errBodyLineTooLong, errMethod, errHeadTooLarge, errChunkSize} {
		if got := toBackend(err); statusOf(got) != 502 {
			t.Errorf("toBackend(%v) = %v", err, got)
		}
	}
	if toBackend(ErrNeedMore) != ErrNeedMore || toBackend(io.EOF) != io.EOF || toBackend(errRespTE) != errRespTE {
		t.Error("toBackend changed an error it should pass")
	}
	if toBackend(errBodyTruncated) != io.ErrUnexpectedEOF {
		t.Error("a truncated body is not io.ErrUnexpectedEOF")
	}
}

// TestResponseHeadRefusedAtTheLimitNotBefore_RFC9112_6_3: a head of exactly
// MaxHeaderBytes is read; one byte more is refused, however it arrives.
func TestResponseHeadRefusedAtTheLimitNotBefore_RFC9112_6_3(t *testing.T) {
	lim := ResponseLimits{MaxHeaderBytes: 256}
	head := func(size int) string {
		base := ok200 + "X: " + "\r\n\r\n"
		return ok200 + "X: " + strings.Repeat("a", size-len(base)) + "\r\n\r\n"
	}
	for _, feed := range feeds {
		at := head(256)
		rd := NewResponseReader(&source{s: at + respSentinel, step: feed.step}, lim)
		if resp, err := rd.ReadResponse("GET"); err != nil || resp.Status != 200 {
			t.Fatalf("%s: head of %d bytes at a limit of 256: %v", feed.name, len(at), err)
		}
		rd = NewResponseReader(&source{s: head(257) + respSentinel, step: feed.step}, lim)
		if _, err := rd.ReadResponse("GET"); err != errRespHeadTooLarge {
			t.Fatalf("%s: head of 257 bytes: %v, want %v", feed.name, err, errRespHeadTooLarge)
		}
	}
	// Field count: MaxHeaderCount fields pass, one more does not.
	lim = ResponseLimits{MaxHeaderCount: 3}
	three := ok200 + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n"
	if _, err := ParseResponseHead([]byte(three), &Response{}, &lim, "HEAD"); err != nil {
		t.Errorf("3 fields at a limit of 3: %v", err)
	}
	four := ok200 + "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"
	if _, err := ParseResponseHead([]byte(four), &Response{}, &lim, "HEAD"); err != errRespTooManyFields {
		t.Errorf("4 fields at a limit of 3: %v", err)
	}
}

// TestResponseReaderStopsReadingAtLimits: a backend cannot make the reader
// buffer more than the limits allow, however it splits its bytes.
func TestResponseReaderStopsReadingAtLimits(t *testing.T) {
	lim := ResponseLimits{MaxHeaderBytes: 1024}
	huge := ok200 + strings.Repeat("X-A: b\r\n", 1000)
	for _, feed := range feeds {
		src := &source{s: huge, step: feed.step}
		rd := NewResponseReader(src, lim)
		if _, err := rd.ReadResponse("GET"); err != errRespHeadTooLarge {
			t.Errorf("%s: %v, want %v", feed.name, err, errRespHeadTooLarge)
		}
		if read := len(huge) - len(src.s); read > len(rd.buf) {
			t.Errorf("%s: read %d bytes, more than the buffer", feed.name, read)
		}
	}
}

// TestPartialResponseHeadIsNeedMoreOrTheSameRefusal: ParseResponseHead on
// every prefix of a head says ErrNeedMore or what it says of the whole,
// which is what makes it resumable.
func TestPartialResponseHeadIsNeedMoreOrTheSameRefusal(t *testing.T) {
	var heads []string
	for _, tt := range backendValidTests {
		heads = append(heads, tt.raw)
	}
	for _, tt := range backendHostileTests {
		if !tt.inBody && tt.lim == (ResponseLimits{}) {
			heads = append(heads, tt.raw)
		}
	}
	for _, h := range heads {
		var whole Response
		wn, werr := ParseResponseHead([]byte(h), &whole, nil, "GET")
		for i := 0; i < len(h); i++ {
			var r Response
			n, err := ParseResponseHead([]byte(h[:i]), &r, nil, "GET")
			switch {
			case werr == nil && i >= wn:
				if err != nil || n != wn {
					t.Fatalf("%q: prefix %d: %d, %v; whole: %d", h, i, n, err, wn)
				}
			case err != ErrNeedMore && err != werr:
				t.Fatalf("%q: prefix %d: %v; whole: %v", h, i, err, werr)
			}
		}
	}
}

// respPipeline is several responses sent back to back on one connection,
// with every framing: the reader must find each head exactly where the
// previous body ends (RFC 9112 §6.3, §9.3.2).
var respPipeline = []struct {
	method  string
	raw     string
	status  int
	body    string
	trailer []kv
}{
	{"GET", ok200 + "Content-Length: 5\r\n\r\nhello", 200, "hello", nil},
	{"GET", respChunked("3;x=y\r\nabc\r\n1\r\nd\r\n0\r\nX-T: v\r\n\r\n"), 200, "abcd", []kv{{"X-T", "v"}}},
	{"HEAD", ok200 + "Content-Length: 1000\r\n\r\n", 200, "", nil},
	{"GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n", 304, "", nil},
	{"GET", "HTTP/1.1 204 No Content\r\n\r\n", 204, "", nil},
	// A body that looks like a response is still a body.
	{"GET", ok200 + "Content-Length: 38\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", nil},
	{"GET", respChunked("18\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\r\n0\r\n\r\n"), 200, "0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", nil},
	{"GET", respChunked("4e20\r\n" + strings.Repeat("0123456789", 2000) + "\r\n0\r\nA: 1\r\nB: 2\r\n\r\n"), 200, strings.Repeat("0123456789", 2000), []kv{{"A", "1"}, {"B", "2"}}},
	{"GET", ok200 + "Content-Length: 100000\r\n\r\n" + strings.Repeat("x", 100000), 200, strings.Repeat("x", 100000), nil},
	{"GET", "HTTP/1.1 100 Continue\r\n\r\n", 100, "", nil},
	{"GET", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", 103, "", nil},
	{"GET", "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 201, "ok", nil},
	{"GET", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end", 200, "to the end", nil},
}

func respPipelineBytes() string {
	var b strings.Builder
	for _, p := range respPipeline {
		b.WriteString(p.raw)
	}
	return b.String()
}

// TestPipelinedResponsesStartWhereThePreviousBodyEnds_RFC9112_6_3 reads the
// pipeline through one reader with reads of several sizes (small ones go
// through the buffer, large ones straight from the connection).
func TestPipelinedResponsesStartWhereThePreviousBodyEnds_RFC9112_6_3(t *testing.T) {
	raw := respPipelineBytes()
	for _, feed := range feeds {
		for _, readSize := range []int{1, 7, 512, 128 << 10} {
			t.Run(feed.name+"/read-"+itoa(readSize), func(t *testing.T) {
				rd := NewResponseReader(&source{s: raw, step: feed.step, eof: true}, ResponseLimits{})
				buf := make([]byte, readSize)
				for i, p := range respPipeline {
					resp, err := rd.ReadResponse(p.method)
					if err != nil {
						t.Fatalf("response %d: %v", i, err)
					}
					var body bytes.Buffer
					for {
						n, err := resp.Body.Read(buf)
						body.Write(buf[:n])
						if err == io.EOF {
							break
						}
						if err != nil {
							t.Fatalf("response %d body: %v", i, err)
						}
					}
					if resp.Status != p.status || body.String() != p.body || !equalKVs(fieldsOf(&resp.Body.Trailer), p.trailer) {
						t.Fatalf("response %d: %d %.80q %v, want %d %.80q %v", i, resp.Status, body.String(),
							fieldsOf(&resp.Body.Trailer), p.status, p.body, p.trailer)
					}
				}
				if _, err := rd.ReadResponse("GET"); err != io.EOF {
					t.Errorf("after the pipeline: %v, want io.EOF", err)
				}
			})
		}
	}
}

// A proxy whose client went away drains the body instead of reading it,
// and the next response still starts at the right byte.
func TestDrainingAnUnreadResponseBodyLeavesTheNextResponseAtItsFirstByte(t *testing.T) {
	raw := respPipelineBytes()
	for _, feed := range feeds {
		for _, readFirst := range []int{0, 1, 3} {
			t.Run(feed.name+"/read-"+itoa(readFirst)+"-bytes-first", func(t *testing.T) {
				rd := NewResponseReader(&source{s: raw, step: feed.step, eof: true}, ResponseLimits{})
				for i, p := range respPipeline {
					resp, err := rd.ReadResponse(p.method)
					if err != nil {
						t.Fatalf("response %d: %v", i, err)
					}
					if resp.Status != p.status {
						t.Fatalf("response %d: status %d, want %d", i, resp.Status, p.status)
					}
					if readFirst > 0 {
						if _, err := resp.Body.Read(make([]byte, readFirst)); err != nil && err != io.EOF {
							t.Fatalf("response %d: %v", i, err)
						}
					}
					if !resp.Body.Drain(1 << 20) {
						t.Fatalf("response %d: Drain = false for a body within the limit", i)
					}
					if !resp.Body.Done() {
						t.Fatalf("response %d: Done = false after Drain", i)
					}
					if !equalKVs(fieldsOf(&resp.Body.Trailer), p.trailer) {
						t.Errorf("response %d: trailer after Drain = %v, want %v", i, fieldsOf(&resp.Body.Trailer), p.trailer)
					}
				}
				if _, err := rd.ReadResponse("GET"); err != io.EOF {
					t.Errorf("after the pipeline: %v, want io.EOF", err)
				}
			})
		}
	}
}

func TestResponseDrainSucceedsOnlyForAWholeBodyWithinItsLimit(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		max  int64
		want bool
	}{
		{"fixed-within", ok200 + "Content-Length: 5\r\n\r\nhello", 100, true},
		{"fixed-exactly-at-limit", ok200 + "Content-Length: 5\r\n\r\nhello", 5, true},
		{"fixed-over-limit", ok200 + "Content-Length: 100\r\n\r\n" + strings.Repeat("x", 100), 10, false},
		{"chunked-within", respChunked("5\r\nhello\r\n0\r\n\r\n"), 100, true},
		{"chunked-exactly-at-limit", respChunked("5\r\nhello\r\n0\r\nT: v\r\n\r\n"), 5, true},
		{"chunked-over-limit", respChunked("5\r\nhello\r\n5\r\nhello\r\n0\r\n\r\n"), 7, false},
		{"chunked-malformed", respChunked("5\r\nhelloXX"), 100, false},
		{"truncated", ok200 + "Content-Length: 10\r\n\r\nhello", 100, false},
		{"close-delimited-within", ok200 + "\r\nto the end", 100, true},
		{"close-delimited-over-limit", ok200 + "\r\n" + strings.Repeat("x", 100), 10, false},
		{"no-body", "HTTP/1.1 204 No Content\r\n\r\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := NewResponseReader(&source{s: tt.raw, eof: true}, ResponseLimits{})
			resp, err := rd.ReadResponse("GET")
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Body.Drain(tt.max); got != tt.want {
				t.Fatalf("Drain(%d) = %v, want %v", tt.max, got, tt.want)
			}
			if resp.Body.Done() != tt.want {
				t.Errorf("Done = %v after Drain = %v", resp.Body.Done(), tt.want)
			}
		})
	}
}

// TestInterimResponsesComeOneAtATimeBeforeTheFinalOne_RFC9110_15_2: a
// client MUST be able to parse 1xx responses before the final one, even
// unexpected ones. Each comes alone, with no body and no say in
// persistence; a body after the final head is the final response's.
func TestInterimResponsesComeOneAtATimeBeforeTheFinalOne_RFC9110_15_2(t *testing.T) {
	raw := "HTTP/1.1 100 Continue\r\n\r\n" +
		"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\nLink: </app.js>; rel=preload\r\n\r\n" +
		"HTTP/1.1 102 Processing\r\nContent-Length: 99\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone" + respSentinel
	want := []struct {
		status int
		links  int
		body   string
	}{{100, 0, ""}, {103, 2, ""}, {102, 0, ""}, {200, 0, "done"}}
	for _, feed := range feeds {
		rd := NewResponseReader(&source{s: raw, step: feed.step, eof: true}, ResponseLimits{})
		for i, w := range want {
			resp, err := rd.ReadResponse("POST")
			if err != nil {
				t.Fatalf("%s: response %d: %v", feed.name, i, err)
			}
			links := 0
			resp.Header.Values("link", func([]byte) { links++ })
			if resp.Status != w.status || links != w.links {
				t.Fatalf("%s: response %d: %d with %d links, want %d with %d", feed.name, i, resp.Status, links, w.status, w.links)
			}
			if interim := resp.Status < 200; interim && (resp.KeepAlive || resp.HasBody() || !resp.Body.Done()) {
				t.Errorf("%s: %d: KeepAlive %v, HasBody %v, Done %v", feed.name, resp.Status, resp.KeepAlive, resp.HasBody(), resp.Body.Done())
			}
			body, err := readAllResp(resp.Body)
			if err != nil || string(body) != w.body {
				t.Fatalf("%s: response %d body %q, %v", feed.name, i, body, err)
			}
		}
		if resp, err := rd.ReadResponse("GET"); err != nil || resp.Status != 204 {
			t.Fatalf("%s: after the final response: %v", feed.name, err)
		}
	}
}

// TestSwitchingProtocolsHandsOverTheRest_RFC9110_15_2_2: after 101 the
// connection speaks the protocol named in Upgrade from the blank line on,
// so the bytes already read are handed over, and ReadResponse reads no
// more responses. A 2xx to CONNECT is the same (RFC 9112 §6.3, item 2).
func TestSwitchingProtocolsHandsOverTheRest_RFC9110_15_2_2(t *testing.T) {
	frames := "\x81\x05hello\x82\x03abc"
	tests := []struct {
		name, method, head string
	}{
		{"101", "GET", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"},
		{"101-with-length-fields-ignored", "GET", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nContent-Length: 3\r\n\r\n"},
		{"CONNECT-200", "CONNECT", "HTTP/1.1 200 OK\r\n\r\n"},
	}
	for _, tt := range tests {
		for _, feed := range feeds {
			src := &source{s: tt.head + frames, step: feed.step}
			rd := NewResponseReader(src, ResponseLimits{})
			resp, err := rd.ReadResponse(tt.method)
			if err != nil {
				t.Fatalf("%s/%s: %v", tt.name, feed.name, err)
			}
			if resp.KeepAlive || resp.HasBody() || !resp.Body.Done() {
				t.Errorf("%s/%s: KeepAlive %v, HasBody %v, Done %v", tt.name, feed.name, resp.KeepAlive, resp.HasBody(), resp.Body.Done())
			}
			if n, err := resp.Body.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Errorf("%s/%s: body read %d, %v", tt.name, feed.name, n, err)
			}
			// What was read past the head, and then the connection itself,
			// give the new protocol's bytes in order.
			got := string(rd.TakeBuffered()) + src.s
			if got != frames {
				t.Errorf("%s/%s: handed over %q, want %q", tt.name, feed.name, got, frames)
			}
			if rd.Buffered() != 0 || rd.TakeBuffered() != nil {
				t.Errorf("%s/%s: bytes left after TakeBuffered", tt.name, feed.name)
			}
			if _, err := rd.ReadResponse("GET"); err != errSwitched {
				t.Errorf("%s/%s: ReadResponse after the switch: %v", tt.name, feed.name, err)
			}
			rd.Release()
			if rd.buf != nil {
				t.Errorf("%s/%s: Release kept the buffer after the switch", tt.name, feed.name)
			}
		}
	}
}

// TestBackendClosingBeforeAResponseIsEOF: a backend that closes a reused
// connection before it answers is io.EOF, told apart from one that closes
// mid-head (io.ErrUnexpectedEOF): the proxy may retry the first.
func TestBackendClosingBeforeAResponseIsEOF(t *testing.T) {
	rd := NewResponseReader(&source{eof: true}, ResponseLimits{})
	if _, err := rd.ReadResponse("GET"); err != io.EOF {
		t.Errorf("closed at once: %v, want io.EOF", err)
	}
	rd.Reset(&source{s: ok200 + "Content-Length: 0\r\n\r\n", eof: true}, ResponseLimits{})
	if resp, err := rd.ReadResponse("GET"); err != nil || !resp.Body.Done() {
		t.Fatalf("after Reset: %v", err)
	}
	if _, err := rd.ReadResponse("GET"); err != io.EOF {
		t.Errorf("closed after a response: %v, want io.EOF", err)
	}
	// A source error other than EOF is passed through as it is, and sticks.
	rd.Reset(&source{s: "HTTP/1.1 20"}, ResponseLimits{})
	if _, err := rd.ReadResponse("GET"); err != errBlocked {
		t.Errorf("got %v, want the source's error", err)
	}
	if _, err := rd.ReadResponse("GET"); err != errBlocked {
		t.Errorf("second call: %v, want the source's error again", err)
	}
}

// TestResponseTrailerOnlyAfterEOF_RFC9112_7_1_2: trailer fields come after
// the last chunk, so they are there once the body has been read to io.EOF.
func TestResponseTrailerOnlyAfterEOF_RFC9112_7_1_2(t *testing.T) {
	for _, feed := range feeds {
		rd := NewResponseReader(&source{s: respChunked("5;a=b\r\nhello\r\n0;c\r\nGrpc-Status: 0\r\nGrpc-Message: ok\r\n\r\n"), step: feed.step, eof: true}, ResponseLimits{})
		resp, err := rd.ReadResponse("POST")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := io.ReadFull(resp.Body, make([]byte, 5)); n != 5 || err != nil {
			t.Fatalf("ReadFull = %d, %v", n, err)
		}
		if resp.Body.Trailer.Len() != 0 {
			t.Errorf("%s: trailer visible before EOF", feed.name)
		}
		if n, err := resp.Body.Read(make([]byte, 5)); n != 0 || err != io.EOF {
			t.Fatalf("Read = %d, %v; want io.EOF", n, err)
		}
		want := []kv{{"Grpc-Status", "0"}, {"Grpc-Message", "ok"}}
		if got := fieldsOf(&resp.Body.Trailer); !equalKVs(got, want) {
			t.Errorf("%s: trailer = %v, want %v", feed.name, got, want)
		}
		if got := resp.Body.Trailer.Get("grpc-status"); string(got) != "0" {
			t.Errorf("Trailer.Get = %q", got)
		}
	}
}

// TestResponseReaderStateBetweenResponses: the calls a proxy makes between
// responses on a pooled backend connection.
func TestResponseReaderStateBetweenResponses(t *testing.T) {
	two := ok200 + "Content-Length: 2\r\n\r\nhi" + respSentinel
	rd := NewResponseReader(&source{s: two, eof: true}, ResponseLimits{})
	resp, err := rd.ReadResponse("GET")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.ReadResponse("GET"); err != errResponseBodyPending {
		t.Errorf("with the body unread: %v, want errResponseBodyPending", err)
	}
	rd.Release() // a body still to read: must keep the buffer
	if rd.buf == nil {
		t.Fatal("Release dropped the buffer under an unread body")
	}
	if b, err := readAllResp(resp.Body); err != nil || string(b) != "hi" {
		t.Fatalf("body %q, %v", b, err)
	}
	if rd.Buffered() != len(respSentinel) {
		t.Errorf("Buffered = %d, want %d", rd.Buffered(), len(respSentinel))
	}
	rd.Release() // holds the next response: must keep the buffer
	if resp, err = rd.ReadResponse("GET"); err != nil || resp.Status != 204 {
		t.Fatalf("after Release with bytes pending: %v", err)
	}
	rd.Release()
	if rd.buf != nil {
		t.Error("Release kept the buffer of an idle connection")
	}
	if _, err := rd.ReadResponse("GET"); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
	// Reset clears a failure, for a new connection.
	rd.Reset(&source{s: respSentinel, eof: true}, ResponseLimits{})
	if resp, err := rd.ReadResponse("GET"); err != nil || resp.Status != 204 {
		t.Fatalf("after Reset: %v", err)
	}
	// Limits that need another buffer size take effect on Reset.
	rd.Reset(&source{s: respSentinel, eof: true}, smallResp)
	if _, err := rd.ReadResponse("GET"); err != nil {
		t.Fatal(err)
	}
	if need := smallResp.withDefaults(); len(rd.buf) != need.bufferSize() {
		t.Errorf("buffer of %d bytes for limits that need %d", len(rd.buf), need.bufferSize())
	}
}

// TestResponseBodyErrorsStick: once a body is refused, every read says so
// again, and a body read past its end keeps reading io.EOF.
func TestResponseBodyErrorsStick(t *testing.T) {
	rd := NewResponseReader(&source{s: respChunked("z\r\n"), eof: true}, ResponseLimits{})
	resp, _ := rd.ReadResponse("GET")
	for i := 0; i < 2; i++ {
		if _, err := resp.Body.Read(make([]byte, 4)); err != errRespChunkSize {
			t.Errorf("read %d: %v", i, err)
		}
	}
	if _, err := rd.ReadResponse("GET"); err != errResponseBodyPending {
		t.Errorf("next response after a refused body: %v", err)
	}
	rd = NewResponseReader(&source{s: ok200 + "Content-Length: 1\r\n\r\nx", eof: true}, ResponseLimits{})
	resp, _ = rd.ReadResponse("GET")
	readAllResp(resp.Body)
	for i := 0; i < 2; i++ {
		if n, err := resp.Body.Read(make([]byte, 4)); n != 0 || err != io.EOF {
			t.Errorf("read %d past the end: %d, %v", i, n, err)
		}
	}
	if n, err := resp.Body.Read(nil); n != 0 || err != io.EOF {
		t.Errorf("Read(nil) at the end: %d, %v", n, err)
	}
}

// A connection error other than EOF in the middle of a body is passed on as
// it is: it is no statement about the response.
func TestResponseBodyPassesConnectionErrors(t *testing.T) {
	rd := NewResponseReader(&source{s: ok200 + "Content-Length: 10\r\n\r\nhello"}, ResponseLimits{})
	resp, _ := rd.ReadResponse("GET")
	_, err := readAllResp(resp.Body)
	if !errors.Is(err, errBlocked) {
		t.Errorf("got %v, want the connection's error", err)
	}
}
