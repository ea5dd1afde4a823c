package attack

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Header and target size abuse, against max_header_bytes = 16384 (so a target may have 8192 bytes) and
// max_body_bytes = 65536 (serverDefaults). Every oversized head is refused
// with the RFC's status and the connection closed; the server holds at
// most the limit for it, whatever the client sends.
var sizeAbuseTests = []struct {
	name   string
	raw    string
	status []int // any of these
}{
	{"target over limit", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: example.com\r\n\r\n", []int{414}},
	{"target far over limit", "GET /" + strings.Repeat("a", 200<<10) + " HTTP/1.1\r\nHost: example.com\r\n\r\n", []int{414}},
	{"query over limit", "GET /?" + strings.Repeat("q=1&", 2300) + " HTTP/1.1\r\nHost: example.com\r\n\r\n", []int{414}},
	{"absolute-form over limit", "GET http://example.com/" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: example.com\r\n\r\n", []int{414}},
	{"target without end", "GET /" + strings.Repeat("a", 100<<10), []int{414}},
	{"method over limit", strings.Repeat("G", 17000) + " / HTTP/1.1\r\nHost: example.com\r\n\r\n", []int{400, 414, 431, 501}},
	{"version over limit", "GET / HTTP/1.1" + strings.Repeat("1", 17000) + "\r\nHost: example.com\r\n\r\n", []int{400, 431, 505}},
	{"one long header", reqHead + "X-Long: " + strings.Repeat("v", 17000) + "\r\n\r\n", []int{431}},
	{"long header name", reqHead + strings.Repeat("N", 17000) + ": v\r\n\r\n", []int{431}},
	{"header without end", reqHead + "X-Long: " + strings.Repeat("v", 100<<10), []int{431}},
	{"many small headers", reqHead + strings.Repeat("A: b\r\n", 101) + "\r\n", []int{431}},
	{"thousands of headers", reqHead + strings.Repeat("A: b\r\n", 5000) + "\r\n", []int{431}},
	{"many cookies", reqHead + strings.Repeat("Cookie: "+strings.Repeat("c", 200)+"\r\n", 90) + "\r\n", []int{431}},
	{"empty header names", reqHead + strings.Repeat(": b\r\n", 50) + "\r\n", []int{400}},
	{"blank lines before request", strings.Repeat("\r\n", 9000) + "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", []int{400, 431}},
	{"body over max_body_bytes", reqHead + "Content-Length: 65537\r\n\r\n" + strings.Repeat("b", 1000), []int{413}},
	{"long Host", "GET / HTTP/1.1\r\nHost: " + strings.Repeat("a", 17000) + ".example.com\r\n\r\n", []int{400, 431}},
}

func TestOversizedHeadsAreRefusedWithTheRFCsStatusAndClosed(t *testing.T) {
	s := startSite(t, nil, nil)
	t.Run("heads", func(t *testing.T) {
		for _, tt := range sizeAbuseTests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				stream := s.exchange(t, tt.raw, 0)
				rs, err := parseResponses(stream)
				if err != nil || len(rs) != 1 {
					t.Fatalf("%d responses (%v): %q", len(rs), err, truncate(stream))
				}
				if !contains(tt.status, rs[0].StatusCode) || !rs[0].Close {
					t.Fatalf("got %d (close %v), want one of %v and close", rs[0].StatusCode, rs[0].Close, tt.status)
				}
			})
		}
	})
	s.healthy(t)
}

// The oversized heads above show the limit refuses; this one, a byte under
// max_header_bytes, shows it refuses nothing it should serve.
func TestHeadOneByteUnderMaxHeaderBytesIsServed(t *testing.T) {
	s := startSite(t, nil, nil)
	base := reqHead + "Connection: close\r\nX-Pad: \r\n\r\n"
	raw := strings.Replace(base, "X-Pad: ", "X-Pad: "+strings.Repeat("p", 16383-len(base)), 1)
	if len(raw) != 16383 {
		t.Fatalf("head is %d bytes", len(raw))
	}
	rs, err := parseResponses(s.exchange(t, raw, 0))
	if err != nil || len(rs) != 1 || rs[0].StatusCode != 200 {
		t.Fatalf("%v %v", describe(rs), err)
	}
}

// Bodies and framing lines are bounded too: a chunked body, a chunk
// extension or a trailer section that grows without end makes the server
// close the connection rather than buffer it.
var bodyAbuseTests = []struct {
	name string
	raw  string
}{
	{"chunked body over max_body_bytes", reqHead + "Transfer-Encoding: chunked\r\n\r\n" + strings.Repeat(chunk(strings.Repeat("b", 4000)), 20) + "0\r\n\r\n" + smug},
	{"endless chunk extension", reqHead + "Transfer-Encoding: chunked\r\n\r\n5;" + strings.Repeat("e", 64<<10)},
	{"many chunk extensions", reqHead + "Transfer-Encoding: chunked\r\n\r\n5" + strings.Repeat(";a=b", 2000) + "\r\nhello\r\n0\r\n\r\n" + smug},
	{"endless trailer", reqHead + "Transfer-Encoding: chunked\r\n\r\n0\r\n" + strings.Repeat("T: v\r\n", 10000)},
	{"trailer line without end", reqHead + "Transfer-Encoding: chunked\r\n\r\n0\r\nT: " + strings.Repeat("v", 64<<10)},
	{"zero-length chunks forever", reqHead + "Transfer-Encoding: chunked\r\n\r\n" + strings.Repeat("00\r\n", 20000)},
}

func TestEndlessBodiesAndFramingLinesCloseTheConnection(t *testing.T) {
	s := startSite(t, nil, nil)
	t.Run("bodies", func(t *testing.T) {
		for _, tt := range bodyAbuseTests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				stream := s.exchange(t, tt.raw, 0)
				checkSmuggling(t, stream, cut)
			})
		}
	})
	s.healthy(t)
}

// TestFloodOfPipelinedRequestsIsAnsweredInOrder sends 500 requests in one
// write: all are answered, in order, and the server reads them at its own
// pace.
func TestFloodOfPipelinedRequestsIsAnsweredInOrder(t *testing.T) {
	s := startSite(t, nil, nil)
	const n = 500
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "GET /sub/file.txt?%d HTTP/1.1\r\nHost: example.com\r\n\r\n", i)
	}
	start := time.Now()
	rs, err := parseResponses(s.exchange(t, b.String(), 0))
	if err != nil || len(rs) != n {
		t.Fatalf("%d responses of %d (%v)", len(rs), n, err)
	}
	for i, r := range rs {
		if r.StatusCode != 200 || r.body != "in sub" {
			t.Fatalf("response %d: %d %q", i, r.StatusCode, r.body)
		}
	}
	t.Logf("%d pipelined requests answered in %v", n, time.Since(start))
	s.healthy(t)
}

// TestManyRangesNeverAnswerMoreThanTheFile asks for many overlapping ranges:
// the answer is never larger than the file plus the multipart framing.
func TestManyRangesNeverAnswerMoreThanTheFile(t *testing.T) {
	s := startSite(t, nil, map[string]string{"root/data.txt": strings.Repeat("0123456789", 1000)})
	for name, ranges := range map[string]string{
		"same range 16 times":  strings.TrimSuffix(strings.Repeat("0-9999,", 16), ","),
		"overlapping":          "0-5000,1-5001,2-5002,3-5003,4-5004,5-5005,6-5006,7-5007",
		"suffixes":             strings.TrimSuffix(strings.Repeat("-9999,", 16), ","),
		"thousands of ranges":  strings.TrimSuffix(strings.Repeat("0-0,", 5000), ","),
		"tiny disjoint ranges": "0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,24-24,26-26,28-28,30-30",
	} {
		r := s.get(t, "/data.txt", "Range: bytes="+ranges)
		if r.StatusCode == 431 {
			continue // a Range field this long may be refused outright
		}
		if len(r.body) > 10000+16*200 {
			t.Errorf("%s: %d answered %d bytes for a 10000-byte file", name, r.StatusCode, len(r.body))
		}
	}
	s.healthy(t)
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// fuzzCrashers are requests that once made a handler panic (found by the
// fuzz targets; each is also kept in the package's testdata/fuzz). A panic
// is caught and answered 500, but it is still a bug and a stack trace in
// the log per request.
var fuzzCrashers = []struct {
	name   string
	header string
	status int
}{
	// handlers/static FuzzStaticRequest: an empty If-Range indexed [0].
	{"Range with empty If-Range", "Range: bytes=0-1\r\nIf-Range: ", 200},
	{"Range with blank If-Range", "Range: bytes=0-1\r\nIf-Range:  \t", 200},
}

func TestRequestsThatOncePanickedAreAnsweredNormally(t *testing.T) {
	s := startSite(t, nil, nil)
	for _, tt := range fuzzCrashers {
		t.Run(tt.name, func(t *testing.T) {
			r := s.get(t, "/sub/file.txt", tt.header)
			if r.StatusCode != tt.status {
				t.Errorf("got %d, want %d", r.StatusCode, tt.status)
			}
		})
	}
	s.healthy(t)
}
