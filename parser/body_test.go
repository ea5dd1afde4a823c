package parser

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

type wantReq struct {
	method, path, body string
	trailer            []kv
	keepAlive          bool
}

// pipeline is several requests sent back to back, with every framing: the
// Reader must find each head exactly where the previous body ends
// (RFC 9112 §6.3, §9.3.2).
var pipeline = []struct {
	raw  string
	want wantReq
}{
	{
		"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
		wantReq{method: "POST", path: "/a", body: "hello", keepAlive: true},
	},
	{
		"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"3;x=y\r\nabc\r\n1\r\nd\r\n0\r\nX-T: v\r\n\r\n",
		wantReq{method: "POST", path: "/b", body: "abcd", trailer: []kv{{"X-T", "v"}}, keepAlive: true},
	},
	{
		"GET /c HTTP/1.1\r\nHost: h\r\n\r\n",
		wantReq{method: "GET", path: "/c", keepAlive: true},
	},
	{
		// A body that looks like a request is still a body.
		"\r\nPUT /d HTTP/1.1\r\nHost: h\r\nContent-Length: 35\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
		wantReq{method: "PUT", path: "/d", body: "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n", keepAlive: true},
	},
	{
		"POST /e HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"1d\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n0\r\n\r\n",
		wantReq{method: "POST", path: "/e", body: "0\r\n\r\nGET /smuggled HTTP/1.1\r\n", keepAlive: true},
	},
	{
		"POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"4e20\r\n" + strings.Repeat("0123456789", 2000) + "\r\n0\r\nA: 1\r\nB: 2\r\n\r\n",
		wantReq{method: "POST", path: "/f", body: strings.Repeat("0123456789", 2000), trailer: []kv{{"A", "1"}, {"B", "2"}}, keepAlive: true},
	},
	{
		"POST /g HTTP/1.1\r\nHost: h\r\nContent-Length: 50000\r\n\r\n" + strings.Repeat("x", 50000),
		wantReq{method: "POST", path: "/g", body: strings.Repeat("x", 50000), keepAlive: true},
	},
	{
		"GET /last HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		wantReq{method: "GET", path: "/last"},
	},
}

func pipelineBytes() string {
	var b strings.Builder
	for _, p := range pipeline {
		b.WriteString(p.raw)
	}
	return b.String()
}

// TestPipelinedRequestsStartWhereThePreviousBodyEnds_RFC9112_6_3 reads the
// pipeline through one Reader with reads of several sizes (small ones go
// through the buffer, large ones straight from the connection) and checks
// each request and body.
func TestPipelinedRequestsStartWhereThePreviousBodyEnds_RFC9112_6_3(t *testing.T) {
	raw := pipelineBytes()
	for _, feed := range feeds {
		for _, readSize := range []int{1, 7, 512, 64 << 10} {
			t.Run(feed.name+"/read-"+itoa(readSize), func(t *testing.T) {
				rd := NewReader(&source{s: raw, step: feed.step, eof: true}, Limits{})
				buf := make([]byte, readSize)
				for i, p := range pipeline {
					req, err := rd.ReadRequest()
					if err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					got := wantReq{method: req.Method, path: string(req.Path), keepAlive: req.KeepAlive}
					var body bytes.Buffer
					for {
						n, err := req.Body.Read(buf)
						body.Write(buf[:n])
						if err == io.EOF {
							break
						}
						if err != nil {
							t.Fatalf("request %d body: %v", i, err)
						}
					}
					got.body = body.String()
					got.trailer = fieldsOf(&req.Body.Trailer)
					if got.method != p.want.method || got.path != p.want.path || got.keepAlive != p.want.keepAlive ||
						got.body != p.want.body || !equalKVs(got.trailer, p.want.trailer) {
						t.Fatalf("request %d:\n got %+.200v\nwant %+.200v", i, got, p.want)
					}
				}
				if _, err := rd.ReadRequest(); err != io.EOF {
					t.Errorf("after the pipeline: %v, want io.EOF", err)
				}
			})
		}
	}
}

// A handler that reads no body, or part of one, is followed by Drain, and
// the next request still parses from the right byte: a body left unread
// must never be taken for the next request.
func TestDrainingAnUnreadBodyLeavesTheNextRequestAtItsFirstByte(t *testing.T) {
	raw := pipelineBytes()
	for _, feed := range feeds {
		for _, readFirst := range []int{0, 1, 3} {
			t.Run(feed.name+"/read-"+itoa(readFirst)+"-bytes-first", func(t *testing.T) {
				rd := NewReader(&source{s: raw, step: feed.step, eof: true}, Limits{})
				for i, p := range pipeline {
					req, err := rd.ReadRequest()
					if err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					if req.Method != p.want.method || string(req.Path) != p.want.path {
						t.Fatalf("request %d: got %s %s, want %s %s", i, req.Method, req.Path, p.want.method, p.want.path)
					}
					if readFirst > 0 {
						if _, err := req.Body.Read(make([]byte, readFirst)); err != nil && err != io.EOF {
							t.Fatalf("request %d: %v", i, err)
						}
					}
					if !req.Body.Drain(1 << 20) {
						t.Fatalf("request %d: Drain = false for a body within the limit", i)
					}
					if !req.Body.Done() {
						t.Fatalf("request %d: Done = false after Drain", i)
					}
					if !equalKVs(fieldsOf(&req.Body.Trailer), p.want.trailer) {
						t.Errorf("request %d: trailer after Drain = %v, want %v", i, fieldsOf(&req.Body.Trailer), p.want.trailer)
					}
				}
				if _, err := rd.ReadRequest(); err != io.EOF {
					t.Errorf("after the pipeline: %v, want io.EOF", err)
				}
			})
		}
	}
}

func TestDrainSucceedsOnlyForAWholeBodyWithinItsLimit(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		max   int64
		want  bool
		after string // the next request's path when Drain succeeds
	}{
		{"Content-Length-within", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", 100, true, ""},
		{"Content-Length-exactly-at-limit", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", 5, true, ""},
		{"Content-Length-over-limit", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100), 10, false, ""},
		{"chunked-within", chunked("5\r\nhello\r\n0\r\n\r\n"), 100, true, ""},
		{"chunked-exactly-at-limit", chunked("5\r\nhello\r\n0\r\nT: v\r\n\r\n"), 5, true, ""},
		{"chunked-over-limit", chunked("5\r\nhello\r\n5\r\nhello\r\n0\r\n\r\n"), 7, false, ""},
		{"chunked-malformed", chunked("5\r\nhelloXX"), 100, false, ""},
		{"truncated", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nhello", 100, false, ""},
		{"no-body", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
			rd := NewReader(&source{s: tt.raw + next, eof: true}, Limits{})
			if strings.HasPrefix(tt.name, "truncated") || strings.HasPrefix(tt.name, "chunked-malformed") {
				rd = NewReader(&source{s: tt.raw, eof: true}, Limits{})
			}
			req, err := rd.ReadRequest()
			if err != nil {
				t.Fatal(err)
			}
			if got := req.Body.Drain(tt.max); got != tt.want {
				t.Fatalf("Drain(%d) = %v, want %v", tt.max, got, tt.want)
			}
			if !tt.want {
				return
			}
			req, err = rd.ReadRequest()
			if err != nil || string(req.Path) != "/next" {
				t.Fatalf("next request: %v, %v", req, err)
			}
		})
	}
}

// continueTo stands for the connection: it writes the interim response the
// parser asks for.
func continueTo(w io.Writer) func() error {
	return func() error {
		_, err := io.WriteString(w, "HTTP/1.1 100 Continue\r\n\r\n")
		return err
	}
}

// "100 Continue" goes to Body.Continue on the first read of a body the
// client holds back, once, and never when the body is not read (RFC 9110
// §10.1.1).
func TestContinueIsSentOnceOnTheFirstReadOfAHeldBackBody_RFC9110_10_1_1(t *testing.T) {
	const cont = "HTTP/1.1 100 Continue\r\n\r\n"
	expecting := "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"
	expectingChunked := "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"

	t.Run("written-on-first-read-only", func(t *testing.T) {
		for _, raw := range []string{expecting, expectingChunked} {
			rd := NewReader(&source{s: raw, eof: true}, Limits{})
			req, err := rd.ReadRequest()
			if err != nil {
				t.Fatal(err)
			}
			var w bytes.Buffer
			req.Body.Continue = continueTo(&w)
			if w.Len() != 0 {
				t.Fatal("written before the body was read")
			}
			p := make([]byte, 2)
			if _, err := req.Body.Read(p); err != nil {
				t.Fatal(err)
			}
			if w.String() != cont {
				t.Fatalf("after first read: %q, want %q", w.String(), cont)
			}
			if _, err := readAll(req.Body); err != nil {
				t.Fatal(err)
			}
			if w.String() != cont {
				t.Errorf("after the whole body: %q, want it once", w.String())
			}
		}
	})
	t.Run("zero-length-read-asks-for-nothing", func(t *testing.T) {
		rd := NewReader(&source{s: expecting, eof: true}, Limits{})
		req, _ := rd.ReadRequest()
		var w bytes.Buffer
		req.Body.Continue = continueTo(&w)
		if _, err := req.Body.Read(nil); err != nil || w.Len() != 0 {
			t.Errorf("Read(nil) = %v and wrote %q", err, w.String())
		}
	})
	t.Run("not-written-without-Expect", func(t *testing.T) {
		rd := NewReader(&source{s: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", eof: true}, Limits{})
		req, _ := rd.ReadRequest()
		var w bytes.Buffer
		req.Body.Continue = continueTo(&w)
		if _, err := readAll(req.Body); err != nil {
			t.Fatal(err)
		}
		if w.Len() != 0 {
			t.Errorf("wrote %q to a client that did not ask", w.String())
		}
	})
	t.Run("not-written-for-HTTP/1.0", func(t *testing.T) {
		rd := NewReader(&source{s: "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello", eof: true}, Limits{})
		req, _ := rd.ReadRequest()
		var w bytes.Buffer
		req.Body.Continue = continueTo(&w)
		if _, err := readAll(req.Body); err != nil {
			t.Fatal(err)
		}
		if w.Len() != 0 {
			t.Errorf("wrote %q to an HTTP/1.0 client", w.String())
		}
	})
	t.Run("unread-body-not-drained", func(t *testing.T) {
		// The client has not sent the body and waits: draining would hang
		// or read the next request; the connection closes instead.
		rd := NewReader(&source{s: expecting}, Limits{})
		req, _ := rd.ReadRequest()
		var w bytes.Buffer
		req.Body.Continue = continueTo(&w)
		if req.Body.Drain(1 << 20) {
			t.Error("Drain = true for a body the client still holds back")
		}
		if w.Len() != 0 {
			t.Errorf("Drain wrote %q", w.String())
		}
	})
	t.Run("drained-after-continue-sent", func(t *testing.T) {
		rd := NewReader(&source{s: expecting + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n", eof: true}, Limits{})
		req, _ := rd.ReadRequest()
		req.Body.Continue = continueTo(io.Discard)
		if _, err := req.Body.Read(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		if !req.Body.Drain(1 << 20) {
			t.Fatal("Drain = false")
		}
		if req, err := rd.ReadRequest(); err != nil || string(req.Path) != "/next" {
			t.Fatalf("next: %v", err)
		}
	})
	t.Run("write-error-ends-the-body", func(t *testing.T) {
		rd := NewReader(&source{s: expecting, eof: true}, Limits{})
		req, _ := rd.ReadRequest()
		req.Body.Continue = continueTo(failingWriter{})
		if _, err := req.Body.Read(make([]byte, 5)); !errors.Is(err, errWrite) {
			t.Errorf("Read = %v, want the write error", err)
		}
	})
}

var errWrite = errors.New("test: write failed")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

// TestTrailerOnlyAfterEOF: trailer fields come after the last chunk, so
// they are there once the body has been read to io.EOF and not before
// (RFC 9112 §7.1.2).
func TestTrailerOnlyAfterEOF(t *testing.T) {
	for _, feed := range feeds {
		rd := NewReader(&source{s: chunked("5;a=b\r\nhello\r\n0;c\r\nX-Sum: 1\r\nX-Sig: 2\r\n\r\n"), step: feed.step, eof: true}, Limits{})
		req, err := rd.ReadRequest()
		if err != nil {
			t.Fatal(err)
		}
		if n, err := io.ReadFull(req.Body, make([]byte, 5)); n != 5 || err != nil {
			t.Fatalf("ReadFull = %d, %v", n, err)
		}
		if req.Body.Trailer.Len() != 0 {
			t.Errorf("%s: trailer visible before EOF", feed.name)
		}
		if n, err := req.Body.Read(make([]byte, 5)); n != 0 || err != io.EOF {
			t.Fatalf("Read = %d, %v; want io.EOF", n, err)
		}
		want := []kv{{"X-Sum", "1"}, {"X-Sig", "2"}}
		if got := fieldsOf(&req.Body.Trailer); !equalKVs(got, want) {
			t.Errorf("%s: trailer = %v, want %v", feed.name, got, want)
		}
		if got := req.Body.Trailer.Get("x-sig"); string(got) != "2" {
			t.Errorf("Trailer.Get = %q", got)
		}
	}
}

// TestTrailerNeverFrames: a Content-Length or Transfer-Encoding in the
// trailer is a field like any other; it does not change where the next
// request starts (RFC 9110 §6.5.1).
func TestTrailerNeverFrames(t *testing.T) {
	raw := chunked("3\r\nabc\r\n0\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n") +
		"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
	rd := NewReader(&source{s: raw, eof: true}, Limits{})
	req, _ := rd.ReadRequest()
	if b, err := readAll(req.Body); err != nil || string(b) != "abc" {
		t.Fatalf("body %q, %v", b, err)
	}
	req, err := rd.ReadRequest()
	if err != nil || string(req.Path) != "/next" {
		t.Fatalf("next: %v", err)
	}
}

// Buffered, Release, Reset and WaitForData are the calls the connection
// loop makes between requests: a pipelined request must survive Release,
// while an idle connection must not keep its buffer.
func TestReaderKeepsPipelinedBytesAcrossReleaseAndDropsAnIdleBuffer(t *testing.T) {
	two := "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
	rd := NewReader(&source{s: two, eof: true}, Limits{})
	if err := rd.WaitForData(); err != nil {
		t.Fatal(err)
	}
	if rd.Buffered() != len(two) {
		t.Errorf("Buffered = %d, want %d", rd.Buffered(), len(two))
	}
	req, err := rd.ReadRequest()
	if err != nil || string(req.Path) != "/1" {
		t.Fatal(err)
	}
	if rd.Buffered() != len(two)/2 {
		t.Errorf("Buffered = %d after the first request, want %d", rd.Buffered(), len(two)/2)
	}
	rd.Release() // holds a pipelined request: must keep the buffer
	req, err = rd.ReadRequest()
	if err != nil || string(req.Path) != "/2" {
		t.Fatalf("after Release with bytes pending: %v", err)
	}
	rd.Release()
	if rd.buf != nil {
		t.Error("Release kept the buffer of an idle connection")
	}
	if err := rd.WaitForData(); err != io.EOF {
		t.Errorf("WaitForData at end = %v, want io.EOF", err)
	}

	rd.Reset(&source{s: "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n", eof: true}, Limits{})
	req, err = rd.ReadRequest()
	if err != nil || string(req.Path) != "/3" {
		t.Fatalf("after Reset: %v", err)
	}

	// A source error other than EOF is passed through as it is.
	rd.Reset(&source{s: "GET /4 HT"}, Limits{})
	if _, err := rd.ReadRequest(); err != errBlocked {
		t.Errorf("got %v, want the source's error", err)
	}
	rd.Reset(&source{s: "GET /4 HT", eof: true}, Limits{})
	if _, err := rd.ReadRequest(); err != io.ErrUnexpectedEOF {
		t.Errorf("closed mid-head: %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestReaderStopsReadingAtLimits: a client cannot make the Reader buffer
// more than the limits allow, however it splits its bytes.
func TestReaderStopsReadingAtLimits(t *testing.T) {
	lim := Limits{MaxHeaderBytes: 1024}
	huge := "GET / HTTP/1.1\r\n" + strings.Repeat("X-A: b\r\n", 1000)
	for _, feed := range feeds {
		src := &source{s: huge, step: feed.step}
		rd := NewReader(src, lim)
		_, err := rd.ReadRequest()
		if statusOf(err) != 431 {
			t.Errorf("%s: %v, want 431", feed.name, err)
		}
		if read := len(huge) - len(src.s); read > len(rd.buf) {
			t.Errorf("%s: read %d bytes, more than the buffer", feed.name, read)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
