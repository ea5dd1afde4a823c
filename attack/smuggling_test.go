package attack

import (
	"fmt"
	"strings"
	"testing"
)

// Request smuggling: a message whose length two parsers could read
// differently lets an attacker hide a request inside another one's body.
// Each shape below is either refused (400/501 and close), or parsed one
// way only: then the request is answered, a legitimate follow-up is
// answered too (the body ended where it should), or the connection is cut
// when the body framing turns out broken. The request hidden in the body
// ("GET /smuggled", whose page carries smuggledMarker) is never answered.

// Outcomes a shape may have.
type outcome uint8

const (
	refused outcome = 1 << iota // one 4xx/5xx response, then close
	framed                      // the request and the follow-up answered
	cut                         // the request answered, then close, or what followed refused
)

const (
	smug    = "GET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n"
	follow  = "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"
	reqHead = "GET / HTTP/1.1\r\nHost: example.com\r\n"
)

// chunk frames s as one chunk.
func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

// smugglingTests is the table: a shape and the outcomes it may have.
var smugglingTests = []struct {
	name string
	raw  string
	ok   outcome
}{
	// CL.TE and TE.CL: both framings present.
	{"CL.TE", reqHead + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smug, refused},
	{"TE.CL", reqHead + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE.CL zero", reqHead + "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"CL.TE in HTTP/1.0", "GET / HTTP/1.0\r\nHost: example.com\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smug, refused},
	{"TE in HTTP/1.0", "GET / HTTP/1.0\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},

	// TE.TE: obfuscated Transfer-Encoding that one parser honours and
	// another ignores.
	{"TE xchunked", reqHead + "Transfer-Encoding: xchunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE chunk", reqHead + "Transfer-Encoding: chunk\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE chunked, identity", reqHead + "Transfer-Encoding: chunked, identity\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE identity, chunked", reqHead + "Transfer-Encoding: identity, chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE gzip, chunked", reqHead + "Transfer-Encoding: gzip, chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE chunked, chunked", reqHead + "Transfer-Encoding: chunked, chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE twice, chunked then identity", reqHead + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE twice, identity then chunked", reqHead + "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE twice, chunked", reqHead + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE quoted", reqHead + "Transfer-Encoding: \"chunked\"\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE with parameter", reqHead + "Transfer-Encoding: chunked;q=1\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE empty", reqHead + "Transfer-Encoding: \r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE comma only", reqHead + "Transfer-Encoding: ,\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE empty element before chunked", reqHead + "Transfer-Encoding: , chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE empty field then chunked", reqHead + "Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE vertical tab", reqHead + "Transfer-Encoding: \x0bchunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE form feed", reqHead + "Transfer-Encoding: \x0cchunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE NUL", reqHead + "Transfer-Encoding: chunked\x00\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE no-break space", reqHead + "Transfer-Encoding: \xc2\xa0chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE obs-fold", reqHead + "Transfer-Encoding:\r\n chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE name after obs-fold", reqHead + "X: y\r\n Transfer-Encoding: chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE space before colon", reqHead + "Transfer-Encoding : chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE tab before colon", reqHead + "Transfer-Encoding\t: chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE NUL in name", reqHead + "Transfer-Encoding\x00: chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	{"TE leading space in line", reqHead + " Transfer-Encoding: chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", refused},
	// Whitespace around the value is optional whitespace: still chunked.
	{"TE double space", reqHead + "Transfer-Encoding:  chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n" + follow, framed},
	{"TE tab before value", reqHead + "Transfer-Encoding:\tchunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n" + follow, framed},
	{"TE trailing tab", reqHead + "Transfer-Encoding: chunked\t\r\n\r\n" + chunk(smug) + "0\r\n\r\n" + follow, framed},
	{"TE no space", reqHead + "Transfer-Encoding:chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n" + follow, framed},
	{"TE upper case", reqHead + "TRANSFER-ENCODING: CHUNKED\r\n\r\n" + chunk(smug) + "0\r\n\r\n" + follow, framed},
	// A look-alike name is another header: no body, and the chunk-size
	// line that follows is a malformed request.
	{"TE underscore name", reqHead + "Transfer_Encoding: chunked\r\n\r\n" + chunk(smug) + "0\r\n\r\n", cut},

	// Content-Length: duplicates, lists, signs, bases, overflow.
	{"CL duplicate equal", reqHead + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + follow, framed | refused},
	{"CL list equal", reqHead + "Content-Length: 5, 5\r\n\r\nhello" + follow, refused},
	{"CL duplicates equal only as numbers", reqHead + "Content-Length: 05\r\nContent-Length: 5\r\n\r\nhello" + follow, refused},
	{"CL duplicate different", reqHead + "Content-Length: 5\r\nContent-Length: 46\r\n\r\nhello" + smug, refused},
	{"CL list different", reqHead + "Content-Length: 5, 46\r\n\r\nhello" + smug, refused},
	{"CL plus sign", reqHead + "Content-Length: +46\r\n\r\n" + smug, refused},
	{"CL minus sign", reqHead + "Content-Length: -1\r\n\r\n" + smug, refused},
	{"CL hex", reqHead + "Content-Length: 0x2e\r\n\r\n" + smug, refused},
	{"CL decimal point", reqHead + "Content-Length: 46.0\r\n\r\n" + smug, refused},
	{"CL exponent", reqHead + "Content-Length: 4e1\r\n\r\n" + smug, refused},
	{"CL inner space", reqHead + "Content-Length: 4 6\r\n\r\n" + smug, refused},
	{"CL empty", reqHead + "Content-Length: \r\n\r\n" + smug, refused},
	{"CL trailing junk", reqHead + "Content-Length: 46abc\r\n\r\n" + smug, refused},
	{"CL overflow to 5", reqHead + "Content-Length: 18446744073709551621\r\n\r\nhello" + smug, refused},
	{"CL int64 max", reqHead + "Content-Length: 9223372036854775807\r\n\r\n" + smug, refused},
	{"CL 20 digits", reqHead + "Content-Length: 00000000000000000046\r\n\r\n" + smug, refused},
	{"CL obs-fold", reqHead + "Content-Length: 5\r\n 6\r\n\r\nhello" + smug, refused},
	{"CL space before colon", reqHead + "Content-Length : 46\r\n\r\n" + smug, refused},
	{"CL vertical tab", reqHead + "Content-Length:\x0b46\r\n\r\n" + smug, refused},
	{"CL over max_body_bytes", reqHead + "Content-Length: 70000\r\n\r\n" + smug, refused},
	{"CL leading zero", reqHead + "Content-Length: 05\r\n\r\nhello" + follow, framed | refused},
	{"CL body hides request", reqHead + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(smug)) + smug + follow, framed},
	{"CL body cut short", reqHead + "Content-Length: 100\r\n\r\n" + smug, framed | cut},

	// Chunk-size tricks.
	{"chunk size 0x5", reqHead + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n" + smug, cut},
	{"chunk size with bare semicolon", reqHead + "Transfer-Encoding: chunked\r\n\r\n5 ;\r\nhello\r\n0\r\n\r\n" + smug, cut},
	{"chunk size with extension", reqHead + "Transfer-Encoding: chunked\r\n\r\n5 ;ext=\"v\"\r\nhello\r\n0\r\n\r\n" + follow, framed},
	{"chunk size signed", reqHead + "Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n" + smug, cut},
	{"chunk size negative", reqHead + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n" + smug, cut},
	{"chunk size leading space", reqHead + "Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n" + smug, cut},
	{"chunk size overflow", reqHead + "Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n" + smug, cut},
	{"chunk size 64-bit wrap", reqHead + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nhello\r\n0\r\n\r\n" + smug, cut},
	{"chunk size over max_body_bytes", reqHead + "Transfer-Encoding: chunked\r\n\r\nfffff\r\nhello\r\n0\r\n\r\n" + smug, cut},
	{"chunk size empty", reqHead + "Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n" + smug, cut},
	{"chunk data longer than size", reqHead + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n" + smug, cut},
	{"chunk data shorter than size", reqHead + "Transfer-Encoding: chunked\r\n\r\n10\r\nhello\r\n0\r\n\r\n" + smug, cut},
	{"chunk bare LF", reqHead + "Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n" + smug, cut},
	{"chunk bare CR", reqHead + "Transfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n" + smug, cut},
	{"chunk data LF only", reqHead + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n" + smug, cut},
	{"last chunk missing", reqHead + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n" + smug, cut},
	{"last chunk without CRLF", reqHead + "Transfer-Encoding: chunked\r\n\r\n0\r\n" + smug, cut},
	{"trailer cannot reframe", reqHead + "Transfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 46\r\nTransfer-Encoding: identity\r\n\r\n" + follow, framed},
	{"trailer obs-fold", reqHead + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n" + smug, cut},
	{"trailer bare LF", reqHead + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\r\n" + smug, cut},

	// Line ends: a bare LF or CR is where two parsers disagree most.
	{"head bare LF", "GET / HTTP/1.1\nHost: example.com\n\n" + smug, refused},
	{"head bare LF after request line", "GET / HTTP/1.1\nHost: example.com\r\n\r\n" + smug, refused},
	{"head bare LF ending head", reqHead + "\n" + smug, refused},
	{"head bare CR", "GET / HTTP/1.1\rHost: example.com\r\n\r\n" + smug, refused},
	{"head CR inside value", reqHead + "X: a\rContent-Length: 46\r\n\r\n" + smug, refused},
	{"head LF inside value", reqHead + "X: a\nContent-Length: 46\r\n\r\n" + smug, refused},
	{"request line double space", "GET  / HTTP/1.1\r\nHost: example.com\r\n\r\n" + smug, refused},
	{"request line tab", "GET\t/ HTTP/1.1\r\nHost: example.com\r\n\r\n" + smug, refused},
	{"request line trailing space", "GET / HTTP/1.1 \r\nHost: example.com\r\n\r\n" + smug, refused},
	{"lower-case version", "GET / http/1.1\r\nHost: example.com\r\n\r\n" + smug, refused},
	{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + smug, refused},
	{"two Host fields", reqHead + "Host: other.example\r\n\r\n" + smug, refused},

	// Other ways to leave bytes behind.
	{"expect 100-continue body sent anyway", reqHead + fmt.Sprintf("Expect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(smug)) + smug, cut},
	{"HTTP/1.0 keep-alive with body", "GET / HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello" + follow, framed},
	{"HTTP/1.0 body without length", "GET / HTTP/1.0\r\nHost: example.com\r\n\r\n" + smug, cut},
	{"pipelined after Connection: close", reqHead + "Connection: close\r\n\r\n" + smug, cut},
}

func TestSmugglingShapesAreRefusedOrFramedNeverAnswered(t *testing.T) {
	s := startSite(t, nil, nil)
	t.Run("shapes", func(t *testing.T) {
		for _, tt := range smugglingTests {
			for _, piece := range []int{0, 7} {
				name := tt.name
				if piece > 0 {
					name += "/split"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					stream := s.exchange(t, tt.raw, piece)
					checkSmuggling(t, stream, tt.ok)
				})
			}
		}
	})
	// "shapes" returns once every parallel case has finished.
	s.healthy(t)
	if log := s.accessLog(); strings.Contains(log, "/smuggled") {
		t.Errorf("a smuggled request reached the access log:\n%s", grepLines(log, "/smuggled"))
	}
}

// checkSmuggling judges what came back for one shape.
func checkSmuggling(t *testing.T, stream []byte, ok outcome) {
	t.Helper()
	if strings.Contains(string(stream), smuggledMarker) {
		t.Fatalf("the smuggled request was answered:\n%q", stream)
	}
	rs, err := parseResponses(stream)
	if err != nil {
		t.Fatalf("unparseable answer (%v):\n%q", err, stream)
	}
	var got outcome
	switch {
	case len(rs) == 1 && rs[0].StatusCode >= 400:
		got = refused
		if !rs[0].Close {
			t.Errorf("refusal %d without Connection: close", rs[0].StatusCode)
		}
	case len(rs) == 1 && rs[0].StatusCode == 200 && rs[0].body == homeBody:
		got = cut
	case len(rs) == 2 && rs[0].StatusCode == 200 && rs[0].body == homeBody && rs[1].StatusCode >= 400:
		// What followed the request was read as a request and refused.
		got = cut
		if !rs[1].Close {
			t.Errorf("refusal %d without Connection: close", rs[1].StatusCode)
		}
	case len(rs) == 2 && rs[0].StatusCode == 200 && rs[1].StatusCode == 200 &&
		rs[0].body == homeBody && rs[1].body == homeBody:
		got = framed
	}
	if got == 0 || got&ok == 0 {
		t.Fatalf("outcome %s, want %s; answers:\n%s", describe(rs), outcomeNames(ok), stream)
	}
}

func describe(rs []response) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%d %q", r.StatusCode, r.body))
	}
	return fmt.Sprintf("%d responses [%s]", len(rs), strings.Join(parts, ", "))
}

func outcomeNames(o outcome) string {
	var names []string
	for bit, name := range map[outcome]string{refused: "refused", framed: "framed", cut: "cut"} {
		if o&bit != 0 {
			names = append(names, name)
		}
	}
	return strings.Join(names, " or ")
}

func grepLines(text, sub string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
