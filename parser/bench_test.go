package parser

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// benchRequests replay what real clients send.
var benchRequests = []struct{ name, raw string }{
	{
		// Chrome 124 reloading a page over plain http: 639 bytes, 12
		// fields. (Over https it would add the sec-ch-ua and Sec-Fetch-*
		// fields, which it sends to secure origins only.)
		"browser",
		"GET /docs/getting-started.html HTTP/1.1\r\n" +
			"Host: www.example.com\r\n" +
			"Connection: keep-alive\r\n" +
			"Cache-Control: max-age=0\r\n" +
			"Upgrade-Insecure-Requests: 1\r\n" +
			"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n" +
			"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n" +
			"Referer: http://www.example.com/docs/\r\n" +
			"Accept-Encoding: gzip, deflate\r\n" +
			"Accept-Language: en-US,en;q=0.9\r\n" +
			"Cookie: theme=dark; sid=8f14e45fceea167a\r\n" +
			"If-None-Match: \"5e1f-61a3b2c4d5e6f\"\r\n" +
			"If-Modified-Since: Tue, 14 May 2024 09:12:33 GMT\r\n" +
			"\r\n",
	},
	{
		// curl 8.5.0, `curl http://localhost:8080/index.html`.
		"curl",
		"GET /index.html HTTP/1.1\r\n" +
			"Host: localhost:8080\r\n" +
			"User-Agent: curl/8.5.0\r\n" +
			"Accept: */*\r\n" +
			"\r\n",
	},
	{
		// A browser request that passed through a CDN and a load
		// balancer, each adding its own fields: 30 in all.
		"many-headers",
		"GET /api/v1/items?page=2&sort=name HTTP/1.1\r\n" +
			"Host: app.example.com\r\n" +
			"Connection: keep-alive\r\n" +
			"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\r\n" +
			"Accept: application/json, text/plain, */*\r\n" +
			"Accept-Language: en-US,en;q=0.5\r\n" +
			"Accept-Encoding: gzip, deflate, br\r\n" +
			"Referer: https://app.example.com/items\r\n" +
			"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl\r\n" +
			"Cookie: sid=8f14e45fceea167a; theme=dark; consent=1\r\n" +
			"DNT: 1\r\n" +
			"Sec-GPC: 1\r\n" +
			"Cache-Control: no-cache\r\n" +
			"Pragma: no-cache\r\n" +
			"X-Requested-With: XMLHttpRequest\r\n" +
			"X-Forwarded-For: 203.0.113.7, 198.51.100.23\r\n" +
			"X-Forwarded-Proto: https\r\n" +
			"X-Forwarded-Host: app.example.com\r\n" +
			"X-Forwarded-Port: 443\r\n" +
			"X-Real-IP: 203.0.113.7\r\n" +
			"Forwarded: for=203.0.113.7;proto=https;host=app.example.com\r\n" +
			"Via: 1.1 cdn-edge-17, 1.1 lb-3\r\n" +
			"X-Request-Id: 4bf92f3577b34da6a3ce929d0e0e4736\r\n" +
			"Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n" +
			"Tracestate: vendor=t61rcWkgMzE\r\n" +
			"CDN-Loop: cdn-edge; count=1\r\n" +
			"CF-Connecting-IP: 203.0.113.7\r\n" +
			"CF-IPCountry: NL\r\n" +
			"CF-Ray: 88a1b2c3d4e5f6a7-AMS\r\n" +
			"True-Client-IP: 203.0.113.7\r\n" +
			"X-Amzn-Trace-Id: Root=1-662f9a3b-0123456789abcdef01234567\r\n" +
			"\r\n",
	},
}

// TestBenchRequestsAreWhatTheySay keeps the benchmark inputs honest.
func TestBenchRequestsAreWhatTheySay(t *testing.T) {
	want := map[string]int{"browser": 12, "curl": 3, "many-headers": 30}
	var r Request
	for _, br := range benchRequests {
		n, err := ParseHead([]byte(br.raw), &r, defaults())
		if err != nil || n != len(br.raw) {
			t.Fatalf("%s: %d, %v", br.name, n, err)
		}
		if r.Header.Len() != want[br.name] {
			t.Errorf("%s: %d fields, want %d", br.name, r.Header.Len(), want[br.name])
		}
		if _, err := http.ReadRequest(bufio.NewReader(strings.NewReader(br.raw))); err != nil {
			t.Errorf("%s: net/http: %v", br.name, err)
		}
	}
}

// TestParseHeadBrowserZeroAllocs: parsing a browser's request into the
// connection's reused Request allocates nothing, since it runs for every
// request.
func TestParseHeadBrowserZeroAllocs(t *testing.T) {
	for _, br := range benchRequests {
		buf := []byte(br.raw)
		var r Request
		lim := DefaultLimits()
		if _, err := ParseHead(buf, &r, &lim); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := ParseHead(buf, &r, &lim); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: ParseHead allocates %v times per request", br.name, allocs)
		}
	}
}

// TestReaderSteadyStateZeroAllocs: once a connection's Reader has its
// buffer, reading further requests allocates nothing either, with a
// percent-encoded path and a chunked body among them.
func TestReaderSteadyStateZeroAllocs(t *testing.T) {
	raw := benchRequests[0].raw +
		"POST /a%20b/../c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nT: 1\r\n\r\n"
	src := &resetReader{}
	rd := NewReader(src, Limits{})
	var scratch [64]byte
	once := func() {
		src.Reset(raw)
		for i := 0; i < 2; i++ {
			req, err := rd.ReadRequest()
			if err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := req.Body.Read(scratch[:]); err != nil {
					break
				}
			}
		}
	}
	once()
	if allocs := testing.AllocsPerRun(1000, once); allocs != 0 {
		t.Errorf("Reader allocates %v times per two requests", allocs)
	}
}

// TestReaderBufferPoolZeroAllocs: a connection takes its buffer from the
// pool and gives it back without allocating, so that buffers are shared
// between connections rather than made for each.
func TestReaderBufferPoolZeroAllocs(t *testing.T) {
	src := &resetReader{}
	rd := NewReader(src, Limits{})
	allocs := testing.AllocsPerRun(1000, func() {
		src.Reset(benchRequests[0].raw)
		rd.Reset(src, Limits{})
		if _, err := rd.ReadRequest(); err != nil {
			t.Fatal(err)
		}
		rd.Release()
		if rd.buf != nil {
			t.Fatal("buffer not released")
		}
	})
	if allocs != 0 {
		t.Errorf("a connection's buffer round trip allocates %v times", allocs)
	}
}

// resetReader is a connection whose bytes can be replayed.
type resetReader struct{ s string }

func (r *resetReader) Reset(s string) { r.s = s }

func (r *resetReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, errBlocked
	}
	n := copy(p, r.s)
	r.s = r.s[n:]
	return n, nil
}

// BenchmarkParse is the per-request cost in the server: ParseHead on the
// connection's read buffer into its reused Request.
func BenchmarkParse(b *testing.B) {
	for _, br := range benchRequests {
		b.Run(br.name, func(b *testing.B) {
			buf := []byte(br.raw)
			var r Request
			lim := DefaultLimits()
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := ParseHead(buf, &r, &lim); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNetHTTPReadRequest is the baseline: http.ReadRequest on the same
// bytes, over a bufio.Reader reset per iteration as http.Server reuses its
// per-connection one.
func BenchmarkNetHTTPReadRequest(b *testing.B) {
	for _, br := range benchRequests {
		b.Run(br.name, func(b *testing.B) {
			buf := []byte(br.raw)
			src := bytes.NewReader(buf)
			bufr := bufio.NewReader(src)
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				src.Reset(buf)
				bufr.Reset(src)
				if _, err := http.ReadRequest(bufr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReader adds the Reader's work to ParseHead's: copying from the
// connection into its buffer and setting up the body.
func BenchmarkReader(b *testing.B) {
	for _, br := range benchRequests {
		b.Run(br.name, func(b *testing.B) {
			src := &resetReader{}
			rd := NewReader(src, Limits{})
			b.ReportAllocs()
			b.SetBytes(int64(len(br.raw)))
			for b.Loop() {
				src.Reset(br.raw)
				req, err := rd.ReadRequest()
				if err != nil {
					b.Fatal(err)
				}
				if !req.Body.Done() {
					b.Fatal("body")
				}
			}
		})
	}
}

// benchResponses replay what backends send a proxy.
var benchResponses = []struct{ name, method, raw string }{
	{
		// nginx 1.24 serving a 1 KiB static file: 8 fields.
		"static", "GET",
		"HTTP/1.1 200 OK\r\n" +
			"Server: nginx/1.24.0\r\n" +
			"Date: Tue, 14 May 2024 09:12:33 GMT\r\n" +
			"Content-Type: text/html\r\n" +
			"Content-Length: 1024\r\n" +
			"Last-Modified: Mon, 13 May 2024 17:02:11 GMT\r\n" +
			"Connection: keep-alive\r\n" +
			"ETag: \"66424773-400\"\r\n" +
			"Accept-Ranges: bytes\r\n" +
			"\r\n" + strings.Repeat("<p>lorem ipsum</p>\n", 53) + "<!-- padding -->\n",
	},
	{
		// A Node/Express JSON API streaming its answer in two chunks.
		"api-chunked", "GET",
		"HTTP/1.1 200 OK\r\n" +
			"X-Powered-By: Express\r\n" +
			"Access-Control-Allow-Origin: https://app.example.com\r\n" +
			"Vary: Origin, Accept-Encoding\r\n" +
			"Content-Type: application/json; charset=utf-8\r\n" +
			"X-Request-Id: 4bf92f3577b34da6a3ce929d0e0e4736\r\n" +
			"Date: Tue, 14 May 2024 09:12:33 GMT\r\n" +
			"Connection: keep-alive\r\n" +
			"Keep-Alive: timeout=5\r\n" +
			"Transfer-Encoding: chunked\r\n" +
			"\r\n" +
			benchChunk(`{"items":[`+strings.Repeat(`{"id":1234,"name":"item"},`, 9)+`{"id":1,"name":"x"}`) +
			benchChunk(`],"page":2,"n":10}`+"\n") +
			"0\r\n\r\n",
	},
	{
		// An application's login page: cookies and security headers, 20
		// fields.
		"app-headers", "GET",
		"HTTP/1.1 200 OK\r\n" +
			"Date: Tue, 14 May 2024 09:12:33 GMT\r\n" +
			"Content-Type: text/html; charset=utf-8\r\n" +
			"Content-Length: 64\r\n" +
			"Cache-Control: no-store, no-cache, must-revalidate\r\n" +
			"Pragma: no-cache\r\n" +
			"Expires: 0\r\n" +
			"Set-Cookie: sid=8f14e45fceea167a5a36dedd4bea2543; Path=/; HttpOnly; Secure; SameSite=Lax\r\n" +
			"Set-Cookie: csrftoken=c4ca4238a0b923820dcc509a6f75849b; Path=/; Secure; SameSite=Strict\r\n" +
			"Set-Cookie: theme=dark; Path=/; Max-Age=31536000\r\n" +
			"Content-Security-Policy: default-src 'self'; script-src 'self' https://cdn.example.com; img-src * data:; frame-ancestors 'none'\r\n" +
			"Strict-Transport-Security: max-age=63072000; includeSubDomains; preload\r\n" +
			"X-Content-Type-Options: nosniff\r\n" +
			"X-Frame-Options: DENY\r\n" +
			"Referrer-Policy: strict-origin-when-cross-origin\r\n" +
			"Permissions-Policy: geolocation=(), microphone=(), camera=()\r\n" +
			"Cross-Origin-Opener-Policy: same-origin\r\n" +
			"Vary: Cookie, Accept-Encoding\r\n" +
			"Server: gunicorn\r\n" +
			"X-Request-Id: 00f067aa0ba902b7\r\n" +
			"Link: </static/app.css>; rel=preload; as=style\r\n" +
			"\r\n" + strings.Repeat("<form>..</form>\n", 4),
	},
	{
		// A revalidated cached page.
		"not-modified", "GET",
		"HTTP/1.1 304 Not Modified\r\n" +
			"Server: nginx/1.24.0\r\n" +
			"Date: Tue, 14 May 2024 09:12:33 GMT\r\n" +
			"Last-Modified: Mon, 13 May 2024 17:02:11 GMT\r\n" +
			"Connection: keep-alive\r\n" +
			"ETag: \"66424773-400\"\r\n" +
			"\r\n",
	},
}

// benchChunk frames s as one chunk.
func benchChunk(s string) string {
	return strconv.FormatInt(int64(len(s)), 16) + "\r\n" + s + "\r\n"
}

// TestBenchResponsesAreWhatTheySay keeps the benchmark inputs honest: both
// parsers read each the same way, body included.
func TestBenchResponsesAreWhatTheySay(t *testing.T) {
	want := map[string]struct{ fields, body int }{"static": {8, 1024}, "api-chunked": {9, 282}, "app-headers": {20, 64}, "not-modified": {5, 0}}
	for _, br := range benchResponses {
		var r Response
		if _, err := ParseResponseHead([]byte(br.raw), &r, nil, br.method); err != nil {
			t.Fatalf("%s: %v", br.name, err)
		}
		rd := NewResponseReader(strings.NewReader(br.raw), ResponseLimits{})
		resp, err := rd.ReadResponse(br.method)
		if err != nil {
			t.Fatal(err)
		}
		body, err := readAllResp(resp.Body)
		if err != nil || r.Header.Len() != want[br.name].fields || len(body) != want[br.name].body {
			t.Errorf("%s: %d fields, %d body bytes, %v; want %+v", br.name, r.Header.Len(), len(body), err, want[br.name])
		}
		if rd.Buffered() != 0 {
			t.Errorf("%s: %d bytes left after the body", br.name, rd.Buffered())
		}
		theirs, err := http.ReadResponse(bufio.NewReader(strings.NewReader(br.raw)), &http.Request{Method: br.method})
		if err != nil {
			t.Fatalf("%s: net/http: %v", br.name, err)
		}
		theirBody, err := io.ReadAll(theirs.Body)
		if err != nil || !bytes.Equal(theirBody, body) {
			t.Errorf("%s: net/http body differs (%v)", br.name, err)
		}
	}
}

// TestParseResponseHeadZeroAllocs: parsing a backend's response head into
// a reused Response allocates nothing.
func TestParseResponseHeadZeroAllocs(t *testing.T) {
	for _, br := range benchResponses {
		buf := []byte(br.raw)
		var r Response
		lim := DefaultResponseLimits()
		if _, err := ParseResponseHead(buf, &r, &lim, br.method); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := ParseResponseHead(buf, &r, &lim, br.method); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: ParseResponseHead allocates %v times per response", br.name, allocs)
		}
	}
}

// steadyBackend is a keep-alive backend connection's traffic: every bench
// response, an interim one, a response to HEAD and a chunked body with a
// trailer.
func steadyBackend() (raw string, methods []string) {
	var b strings.Builder
	for _, br := range benchResponses {
		b.WriteString(br.raw)
		methods = append(methods, br.method)
	}
	b.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	b.WriteString("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nGrpc-Status: 0\r\n\r\n")
	b.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
	methods = append(methods, "POST", "POST", "HEAD")
	return b.String(), methods
}

// TestResponseReaderSteadyStateZeroAllocs: once a backend connection's
// reader has its buffer, reading responses and their bodies, or draining
// them, allocates nothing.
func TestResponseReaderSteadyStateZeroAllocs(t *testing.T) {
	raw, methods := steadyBackend()
	src := &resetReader{}
	rd := NewResponseReader(src, ResponseLimits{})
	var scratch [512]byte
	for _, drain := range []bool{false, true} {
		once := func() {
			src.Reset(raw)
			for _, m := range methods {
				resp, err := rd.ReadResponse(m)
				if err != nil {
					t.Fatal(err)
				}
				if drain {
					if !resp.Body.Drain(1 << 20) {
						t.Fatal("Drain = false")
					}
					continue
				}
				for {
					if _, err := resp.Body.Read(scratch[:]); err != nil {
						if err != io.EOF {
							t.Fatal(err)
						}
						break
					}
				}
			}
		}
		once()
		if allocs := testing.AllocsPerRun(1000, once); allocs != 0 {
			t.Errorf("drain %v: ResponseReader allocates %v times per %d responses", drain, allocs, len(methods))
		}
	}
}

// TestResponseReaderBufferPoolZeroAllocs: a backend connection takes its
// buffer from the pool and gives it back without allocating.
func TestResponseReaderBufferPoolZeroAllocs(t *testing.T) {
	src := &resetReader{}
	rd := NewResponseReader(src, ResponseLimits{})
	allocs := testing.AllocsPerRun(1000, func() {
		src.Reset(benchResponses[3].raw)
		rd.Reset(src, ResponseLimits{})
		if _, err := rd.ReadResponse("GET"); err != nil {
			t.Fatal(err)
		}
		rd.Release()
		if rd.buf != nil {
			t.Fatal("buffer not released")
		}
	})
	if allocs != 0 {
		t.Errorf("a backend connection's buffer round trip allocates %v times", allocs)
	}
}

// TestRequestDrainZeroAllocs: draining a request body a handler did not
// read drops it in the connection's buffer, with no scratch buffer.
func TestRequestDrainZeroAllocs(t *testing.T) {
	raw := "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10000\r\n\r\n" + strings.Repeat("x", 10000) +
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	src := &resetReader{}
	rd := NewReader(src, Limits{})
	once := func() {
		src.Reset(raw)
		for i := 0; i < 2; i++ {
			req, err := rd.ReadRequest()
			if err != nil {
				t.Fatal(err)
			}
			if !req.Body.Drain(1 << 20) {
				t.Fatal("Drain = false")
			}
		}
	}
	once()
	if allocs := testing.AllocsPerRun(1000, once); allocs != 0 {
		t.Errorf("Drain allocates %v times per two requests", allocs)
	}
}

// BenchmarkReadResponse is the per-response cost in the proxy: the head
// parsed in the backend connection's buffer and the body read out of it
// into the proxy's copy buffer.
func BenchmarkReadResponse(b *testing.B) {
	for _, br := range benchResponses {
		b.Run(br.name, func(b *testing.B) {
			src := &resetReader{}
			rd := NewResponseReader(src, ResponseLimits{})
			var copyBuf [32 << 10]byte
			b.ReportAllocs()
			b.SetBytes(int64(len(br.raw)))
			for b.Loop() {
				src.Reset(br.raw)
				resp, err := rd.ReadResponse(br.method)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := resp.Body.Read(copyBuf[:]); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
	}
}

// BenchmarkParseResponseHead is the head alone.
func BenchmarkParseResponseHead(b *testing.B) {
	for _, br := range benchResponses {
		b.Run(br.name, func(b *testing.B) {
			buf := []byte(br.raw)
			var r Response
			lim := DefaultResponseLimits()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseResponseHead(buf, &r, &lim, br.method); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNetHTTPReadResponse is the baseline: http.ReadResponse and its
// body read to the end, over a bufio.Reader reset per iteration as
// http.Transport reuses its per-connection one.
func BenchmarkNetHTTPReadResponse(b *testing.B) {
	for _, br := range benchResponses {
		b.Run(br.name, func(b *testing.B) {
			src := strings.NewReader(br.raw)
			bufr := bufio.NewReader(src)
			req := &http.Request{Method: br.method}
			var copyBuf [32 << 10]byte
			b.ReportAllocs()
			b.SetBytes(int64(len(br.raw)))
			for b.Loop() {
				src.Reset(br.raw)
				bufr.Reset(src)
				resp, err := http.ReadResponse(bufr, req)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := resp.Body.Read(copyBuf[:]); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
	}
}
