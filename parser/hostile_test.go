package parser

import (
	"errors"
	"strings"
	"testing"
)

// hostileTest is a request the parser must refuse, named after the rule it
// breaks, with the status the RFC names for it.
type hostileTest struct {
	name   string
	raw    string
	status int
	err    *Error // the refusal, so that a case cannot pass by tripping another rule
	lim    Limits // zero fields take DefaultLimits
	// inBody: the head is fine and the refusal comes from reading the body.
	inBody bool
	// partial: raw is an unfinished head that must be refused without
	// waiting for the rest.
	partial bool
	// eof: the client closes after raw (a truncated body).
	eof bool
}

const host = "Host: a\r\n"

// get builds a GET request from its request line's target and extra field lines.
func get(target, fields string) string {
	return "GET " + target + " HTTP/1.1\r\n" + host + fields + "\r\n"
}

func chunked(body string) string {
	return "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n" + body
}

var small = Limits{MaxTargetBytes: 64, MaxHeaderBytes: 256, MaxHeaderCount: 4, MaxChunkExtBytes: 16, MaxTrailerBytes: 32, MaxBodyBytes: 10}

var hostileTests = []hostileTest{
	// Lines, RFC 9112 §2.2.
	{name: "RFC9112-2.2/bare-CR-in-request-line", raw: "GET /\rx HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errBareCR},
	{name: "RFC9112-2.2/bare-CR-ending-request-line", raw: "GET / HTTP/1.1\r" + host + "\r\n", status: 400, err: errBareCR},
	{name: "RFC9112-2.2/bare-CR-in-field-value", raw: get("/", "X: a\rb\r\n"), status: 400, err: errBareCR},
	{name: "RFC9112-2.2/bare-CR-in-field-name", raw: get("/", "X\r: b\r\n"), status: 400, err: errBareCR},
	{name: "RFC9112-2.2/bare-CR-before-CRLF", raw: get("/", "X: b\r\r\n"), status: 400, err: errBareCR},
	{name: "RFC9112-2.2/bare-CR-as-blank-line", raw: "GET / HTTP/1.1\r\n" + host + "\rGET / HTTP/1.1\r\n\r\n", status: 400, err: errBareCR},
	{name: "RFC9112-2.2/bare-LF-ending-request-line", raw: "GET / HTTP/1.1\n" + host + "\r\n", status: 400, err: errBareLF},
	{name: "RFC9112-2.2/bare-LF-ending-field-line", raw: "GET / HTTP/1.1\r\nHost: a\n\r\n", status: 400, err: errBareLF},
	{name: "RFC9112-2.2/bare-LF-as-blank-line", raw: "GET / HTTP/1.1\r\n" + host + "\n", status: 400, err: errBareLF},
	{name: "RFC9112-2.2/bare-LF-leading-empty-line", raw: "\nGET / HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errBareLF},
	{name: "RFC9112-2.2/three-leading-empty-lines", raw: "\r\n\r\n\r\nGET / HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errRequestLine},
	{name: "RFC9112-2.2/whitespace-before-first-field", raw: "GET / HTTP/1.1\r\n " + host + "\r\n", status: 400, err: errObsFold},

	// Field lines, RFC 9112 §5 and RFC 9110 §5.
	{name: "RFC9112-5.1/space-before-colon", raw: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", status: 400, err: errSpaceBeforeColon},
	{name: "RFC9112-5.1/tab-before-colon", raw: get("/", "X-A\t: b\r\n"), status: 400, err: errSpaceBeforeColon},
	{name: "RFC9112-5.2/obs-fold-space", raw: get("/", "X-A: a\r\n b\r\n"), status: 400, err: errObsFold},
	{name: "RFC9112-5.2/obs-fold-tab", raw: get("/", "X-A: a\r\n\tb\r\n"), status: 400, err: errObsFold},
	{name: "RFC9112-5/field-line-without-colon", raw: get("/", "X-Ab\r\n"), status: 400, err: errNoColon},
	{name: "RFC9110-5.1/field-name-empty", raw: get("/", ": b\r\n"), status: 400, err: errFieldName},
	{name: "RFC9110-5.1/field-name-not-token", raw: get("/", "X(A): b\r\n"), status: 400, err: errFieldName},
	{name: "RFC9110-5.1/field-name-with-inner-space", raw: get("/", "X A: b\r\n"), status: 400, err: errSpaceBeforeColon},
	{name: "RFC9110-5.1/field-name-NUL", raw: get("/", "X\x00A: b\r\n"), status: 400, err: errFieldName},
	{name: "RFC9110-5.1/field-name-CTL", raw: get("/", "X\x01A: b\r\n"), status: 400, err: errFieldName},
	{name: "RFC9110-5.1/field-name-non-ASCII", raw: get("/", "X\xc3\xa9: b\r\n"), status: 400, err: errFieldName},
	{name: "RFC9110-5.5/field-value-NUL", raw: get("/", "X-A: a\x00b\r\n"), status: 400, err: errFieldValue},
	{name: "RFC9110-5.5/field-value-CTL", raw: get("/", "X-A: a\x01b\r\n"), status: 400, err: errFieldValue},
	{name: "RFC9110-5.5/field-value-ESC", raw: get("/", "X-A: \x1b[31m\r\n"), status: 400, err: errFieldValue},
	{name: "RFC9110-5.5/field-value-DEL", raw: get("/", "X-A: a\x7fb\r\n"), status: 400, err: errFieldValue},
	{name: "RFC9110-5.5/field-value-trailing-NUL", raw: get("/", "X-A: ab\x00\r\n"), status: 400, err: errFieldValue},

	// Request line, RFC 9112 §3.
	{name: "RFC9112-3/empty-method", raw: " / HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errRequestLine},
	{name: "RFC9112-3/two-spaces-before-target", raw: "GET  / HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errRequestLine},
	{name: "RFC9112-3/two-spaces-before-version", raw: "GET /  HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errVersion},
	{name: "RFC9112-3/tab-as-separator", raw: "GET\t/ HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errMethod},
	{name: "RFC9112-3/no-version", raw: "GET /\r\n" + host + "\r\n", status: 400, err: errRequestLine},
	{name: "RFC9112-3/method-only", raw: "GET\r\n" + host + "\r\n", status: 400, err: errRequestLine},
	{name: "RFC9110-5.6.2/method-not-token", raw: "G(T / HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errMethod},
	{name: "RFC9110-5.6.2/method-NUL", raw: "G\x00T / HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errMethod},
	{name: "RFC9110-5.6.2/method-non-ASCII", raw: "G\xc3\x89T / HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errMethod},
	{name: "RFC9110-5.6.2/method-not-token-line-not-ended", raw: "GE[T /", status: 400, err: errMethod, partial: true},
	{name: "RFC9112-3.2/target-NUL", raw: get("/a\x00b", ""), status: 400, err: errTargetByte},
	{name: "RFC9112-3.2/target-CTL", raw: get("/a\x01b", ""), status: 400, err: errTargetByte},
	{name: "RFC9112-3.2/target-DEL", raw: get("/a\x7fb", ""), status: 400, err: errTargetByte},
	{name: "RFC9112-3.2/target-TAB", raw: get("/a\tb", ""), status: 400, err: errTargetByte},
	{name: "RFC9112-3.2/target-fragment", raw: get("/a#b", ""), status: 400, err: errTargetByte},
	{name: "RFC9112-3.2/target-NUL-line-not-ended", raw: "GET /a\x00", status: 400, err: errTargetByte, partial: true},
	{name: "RFC3986-2.1/percent-not-hex", raw: get("/a%zz", ""), status: 400, err: errPercent},
	{name: "RFC3986-2.1/percent-truncated", raw: get("/a%2", ""), status: 400, err: errPercent},
	{name: "RFC3986-2.1/percent-encoded-NUL", raw: get("/a%00b", ""), status: 400, err: errNULInPath},
	{name: "RFC9112-3.2.2/absolute-form-empty-host", raw: get("http:///a", ""), status: 400, err: errAbsoluteTarget},
	{name: "RFC9112-3.2.2/absolute-form-port-only", raw: get("http://:80/a", ""), status: 400, err: errAbsoluteTarget},
	{name: "RFC9112-3.2.2/absolute-form-bad-port", raw: get("http://h:8x/", ""), status: 400, err: errAbsoluteTarget},
	{name: "RFC9112-3.2.2/absolute-form-bad-host", raw: get("http://h\xc3\xa9/", ""), status: 400, err: errAbsoluteTarget},
	{name: "RFC9110-4.2.4/absolute-form-userinfo", raw: get("http://user:pw@h/", ""), status: 400, err: errAbsoluteTarget},
	{name: "RFC9110-4.2/absolute-form-unknown-scheme", raw: get("ftp://h/", ""), status: 400, err: errAbsoluteTarget},
	{name: "RFC9112-3.2/relative-target", raw: get("a/b", ""), status: 400, err: errTargetForm},
	{name: "RFC9112-3.2.3/authority-form-with-GET", raw: get("example.com:443", ""), status: 400, err: errTargetForm},
	{name: "RFC9112-3.2.3/CONNECT-invalid-authority", raw: "CONNECT u@h:443 HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errTargetForm},
	{name: "RFC9112-3.2.4/asterisk-form-with-GET", raw: get("*", ""), status: 400, err: errTargetForm},
	{name: "RFC9112-3.2.4/asterisk-form-with-CONNECT", raw: "CONNECT * HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errTargetForm},
	{name: "RFC9112-3.2.3/origin-form-with-CONNECT", raw: "CONNECT /x HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errTargetForm},
	{name: "RFC9112-3.2.3/CONNECT-without-port", raw: "CONNECT example.com HTTP/1.1\r\n" + host + "\r\n", status: 400, err: errTargetForm},
	{name: "RFC3986-3.2.3/host-port-out-of-range", raw: "GET / HTTP/1.1\r\nHost: example.com:65536\r\n\r\n", status: 400, err: errBadHost},

	// HTTP-version, RFC 9112 §2.3 and RFC 9110 §15.6.6.
	{name: "RFC9112-2.3/lowercase-http-name", raw: "GET / http/1.1\r\n" + host + "\r\n", status: 400, err: errVersion},
	{name: "RFC9112-2.3/trailing-space-after-version", raw: "GET / HTTP/1.1 \r\n" + host + "\r\n", status: 400, err: errVersion},
	{name: "RFC9112-2.3/trailing-junk-after-version", raw: "GET / HTTP/1.1 x\r\n" + host + "\r\n", status: 400, err: errVersion},
	{name: "RFC9112-2.3/leading-zero-major", raw: "GET / HTTP/01.1\r\n" + host + "\r\n", status: 400, err: errVersion},
	{name: "RFC9112-2.3/two-digit-minor", raw: "GET / HTTP/1.10\r\n" + host + "\r\n", status: 400, err: errVersion},
	{name: "RFC9112-2.3/missing-minor", raw: "GET / HTTP/1\r\n" + host + "\r\n", status: 400, err: errVersion},
	{name: "RFC9112-2.3/comma-for-dot", raw: "GET / HTTP/1,1\r\n" + host + "\r\n", status: 400, err: errVersion},
	{name: "RFC9110-15.6.6/HTTP-2.0", raw: "GET / HTTP/2.0\r\n" + host + "\r\n", status: 505, err: errVersionSupported},
	{name: "RFC9110-15.6.6/HTTP-3.0", raw: "GET / HTTP/3.0\r\n" + host + "\r\n", status: 505, err: errVersionSupported},
	{name: "RFC9110-15.6.6/HTTP-0.9", raw: "GET / HTTP/0.9\r\n" + host + "\r\n", status: 505, err: errVersionSupported},
	{name: "RFC9110-15.6.6/HTTP-2-connection-preface", raw: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: 505, err: errVersionSupported},

	// Host, RFC 9112 §3.2 and RFC 3986 §3.2.2.
	{name: "RFC9112-3.2/missing-Host", raw: "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", status: 400, err: errNoHost},
	{name: "RFC9112-3.2/missing-Host-absolute-form", raw: "GET http://a/ HTTP/1.1\r\n\r\n", status: 400, err: errNoHost},
	{name: "RFC9112-3.2/two-Host-fields", raw: get("/", "Host: b\r\n"), status: 400, err: errManyHosts},
	{name: "RFC9112-3.2/two-identical-Host-fields", raw: get("/", "host: a\r\n"), status: 400, err: errManyHosts},
	{name: "RFC9112-3.2/two-Host-fields-HTTP/1.0", raw: "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", status: 400, err: errManyHosts},
	{name: "RFC9112-3.2/Host-list", raw: "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC9112-3.2/Host-with-path", raw: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC9112-3.2/Host-with-userinfo", raw: "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC9112-3.2/Host-with-inner-space", raw: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC9112-3.2/Host-port-not-digits", raw: "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC9112-3.2/Host-port-too-long", raw: "GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC9112-3.2/Host-two-ports", raw: "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC9112-3.2/Host-IPv6-unclosed", raw: "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC9112-3.2/Host-IPv6-empty", raw: "GET / HTTP/1.1\r\nHost: []\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC9112-3.2/Host-IPv6-junk-after-bracket", raw: "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC3986-3.2.2/Host-IP-literal-not-IPv6", raw: "GET / HTTP/1.1\r\nHost: [0]\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC3986-3.2.2/Host-IP-literal-IPv4", raw: "GET / HTTP/1.1\r\nHost: [192.0.2.1]:80\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC3986-3.2.2/absolute-form-IP-literal-not-IPv6", raw: get("http://[0]/", ""), status: 400, err: errAbsoluteTarget},
	{name: "RFC9112-3.2/Host-IPv6-bad-byte", raw: "GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC9112-3.2/Host-bad-percent", raw: "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", status: 400, err: errBadHost},
	{name: "RFC9112-3.2/Host-non-ASCII", raw: "GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", status: 400, err: errBadHost},

	// Content-Length, RFC 9110 §8.6 and RFC 9112 §6.
	{name: "RFC9110-8.6/Content-Length-not-digits", raw: get("/", "Content-Length: abc\r\n"), status: 400, err: errContentLength},
	{name: "RFC9110-8.6/Content-Length-hex", raw: get("/", "Content-Length: 0x5\r\n"), status: 400, err: errContentLength},
	{name: "RFC9110-8.6/Content-Length-plus-sign", raw: get("/", "Content-Length: +5\r\n"), status: 400, err: errContentLength},
	{name: "RFC9110-8.6/Content-Length-minus-sign", raw: get("/", "Content-Length: -5\r\n"), status: 400, err: errContentLength},
	{name: "RFC9110-8.6/Content-Length-inner-space", raw: get("/", "Content-Length: 1 2\r\n"), status: 400, err: errContentLength},
	{name: "RFC9110-8.6/Content-Length-decimal-point", raw: get("/", "Content-Length: 5.0\r\n"), status: 400, err: errContentLength},
	{name: "RFC9110-8.6/Content-Length-empty", raw: get("/", "Content-Length:\r\n"), status: 400, err: errContentLength},
	{name: "RFC9110-8.6/Content-Length-overflow", raw: get("/", "Content-Length: 9223372036854775808\r\n"), status: 400, err: errContentLength},
	{name: "RFC9110-8.6/Content-Length-over-19-digits", raw: get("/", "Content-Length: 00000000000000000005\r\n"), status: 400, err: errContentLength},
	{name: "RFC9110-8.6/Content-Length-conflicting-fields", raw: get("/", "Content-Length: 5\r\nContent-Length: 6\r\n"), status: 400, err: errCLConflict},
	// Duplicates must be byte-identical, as net/http requires: 05 and 5
	// are one number but two texts, and a proxy comparing texts refuses
	// what we would take. Found by FuzzDifferential (testdata 3f038972e33dfcfc).
	{name: "RFC9110-8.6/Content-Length-duplicates-differing-by-leading-zero", raw: get("/", "Content-Length: 05\r\nContent-Length: 5\r\n"), status: 400, err: errCLConflict},
	{name: "RFC9110-8.6/Content-Length-duplicates-010-and-10", raw: get("/", "Content-Length: 010\r\nContent-Length: 10\r\n"), status: 400, err: errCLConflict},
	{name: "RFC9110-8.6/Content-Length-duplicates-10-and-010", raw: get("/", "Content-Length: 10\r\nContent-Length: 010\r\n"), status: 400, err: errCLConflict},
	// A list in one field is not 1*DIGIT: refused even when its values are
	// identical, as net/http refuses it (§8.6 lets a recipient reject it).
	{name: "RFC9110-8.6/Content-Length-identical-list", raw: get("/", "Content-Length: 5, 5\r\n"), status: 400, err: errContentLength},
	{name: "RFC9110-8.6/Content-Length-identical-list-no-space", raw: get("/", "Content-Length: 5,5\r\n"), status: 400, err: errContentLength},
	{name: "RFC9110-8.6/Content-Length-conflicting-list", raw: get("/", "Content-Length: 5, 6\r\n"), status: 400, err: errContentLength},
	{name: "RFC9110-8.6/Content-Length-list-with-junk", raw: get("/", "Content-Length: 5, x\r\n"), status: 400, err: errContentLength},
	{name: "RFC9112-6.1/Content-Length-and-Transfer-Encoding", raw: get("/", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), status: 400, err: errCLAndTE},
	{name: "RFC9112-6.1/Transfer-Encoding-and-Content-Length", raw: get("/", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), status: 400, err: errCLAndTE},
	{name: "RFC9112-6.1/Transfer-Encoding-and-Content-Length-zero", raw: get("/", "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"), status: 400, err: errCLAndTE},

	// Transfer-Encoding, RFC 9112 §6.1, §6.3 and §7.
	{name: "RFC9112-6.3/Transfer-Encoding-not-ending-in-chunked", raw: get("/", "Transfer-Encoding: chunked, gzip\r\n"), status: 400, err: errTENotChunked},
	{name: "RFC9112-6.3/Transfer-Encoding-gzip-only", raw: get("/", "Transfer-Encoding: gzip\r\n"), status: 400, err: errTENotChunked},
	{name: "RFC9112-6.3/Transfer-Encoding-identity", raw: get("/", "Transfer-Encoding: identity\r\n"), status: 400, err: errTENotChunked},
	{name: "RFC9112-6.3/Transfer-Encoding-chunked-then-other-field", raw: get("/", "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"), status: 400, err: errTENotChunked},
	{name: "RFC9112-6.1/unknown-coding-before-chunked", raw: get("/", "Transfer-Encoding: gzip, chunked\r\n"), status: 501, err: errTEUnsupported},
	{name: "RFC9112-6.1/unknown-coding-before-chunked-separate-fields", raw: get("/", "Transfer-Encoding: x-custom\r\nTransfer-Encoding: chunked\r\n"), status: 501, err: errTEUnsupported},
	{name: "RFC9112-7/chunked-twice", raw: get("/", "Transfer-Encoding: chunked, chunked\r\n"), status: 400, err: errTEInvalid},
	{name: "RFC9112-7/chunked-twice-separate-fields", raw: get("/", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), status: 400, err: errTEInvalid},
	{name: "RFC9112-6.1/Transfer-Encoding-in-HTTP/1.0", raw: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400, err: errTEHTTP10},
	{name: "RFC9112-6.1/Transfer-Encoding-empty", raw: get("/", "Transfer-Encoding:\r\n"), status: 400, err: errTEInvalid},
	// An empty element is not a coding. RFC 9110 §5.6.1 would have it
	// ignored, but net/http (like nginx) takes exactly one field, "chunked",
	// and a proxy built on it refuses what we would frame as chunked.
	// Found by FuzzDifferential (testdata 2cc4b11affc1b57d).
	{name: "RFC9112-6.1/Transfer-Encoding-empty-field-then-chunked", raw: get("/", "Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n"), status: 400, err: errTEInvalid},
	{name: "RFC9112-6.1/Transfer-Encoding-chunked-then-empty-field", raw: get("/", "Transfer-Encoding: chunked\r\nTransfer-Encoding: \r\n"), status: 400, err: errTEInvalid},
	{name: "RFC9112-6.1/Transfer-Encoding-empty-element-before-chunked", raw: get("/", "Transfer-Encoding: , chunked\r\n"), status: 400, err: errTEInvalid},
	{name: "RFC9112-6.1/Transfer-Encoding-empty-element-after-chunked", raw: get("/", "Transfer-Encoding: chunked,\r\n"), status: 400, err: errTEInvalid},
	{name: "RFC9112-6.1/Transfer-Encoding-with-parameter", raw: get("/", "Transfer-Encoding: chunked;q=1\r\n"), status: 400, err: errTEInvalid},
	{name: "RFC9112-6.1/Transfer-Encoding-quoted", raw: get("/", "Transfer-Encoding: \"chunked\"\r\n"), status: 400, err: errTEInvalid},

	// Expect, RFC 9110 §10.1.1.
	{name: "RFC9110-10.1.1/unknown-expectation", raw: get("/", "Expect: 200-ok\r\n"), status: 417, err: errExpectation},
	{name: "RFC9110-10.1.1/100-continue-with-unknown-expectation", raw: get("/", "Expect: 100-continue, x\r\n"), status: 417, err: errExpectation},

	// Limits, with the statuses RFC 9110 §15.5.14, §15.5.15 and RFC 6585 §5 name.
	{name: "RFC9110-15.5.15/target-over-MaxTargetBytes", raw: get("/"+strings.Repeat("a", 64), ""), status: 414, err: errTargetTooLong, lim: small},
	{name: "RFC9110-15.5.15/target-over-MaxTargetBytes-line-not-ended", raw: "GET /" + strings.Repeat("a", 64), status: 414, err: errTargetTooLong, lim: small, partial: true},
	{name: "RFC9110-15.5.15/target-over-MaxTargetBytes-default", raw: "GET /" + strings.Repeat("a", 8192), status: 414, err: errTargetTooLong, partial: true},
	// Bytes are judged in order, so the first broken rule decides however
	// the bytes arrive (fuzzing found these).
	{name: "RFC9110-15.5.15/target-over-MaxTargetBytes-before-missing-version", raw: "0 " + strings.Repeat("0", 65) + "\r\n", status: 414, err: errTargetTooLong, lim: small},
	{name: "RFC9110-15.5.15/target-over-MaxTargetBytes-before-bare-LF", raw: "GET /" + strings.Repeat("a", 64) + "\n", status: 414, err: errTargetTooLong, lim: small},
	{name: "RFC9110-15.5.15/target-over-MaxTargetBytes-before-bad-byte", raw: get("/"+strings.Repeat("a", 64)+"#", ""), status: 414, err: errTargetTooLong, lim: small},
	{name: "RFC9110-15.5.15/target-reaching-MaxHeaderBytes", raw: get("/"+strings.Repeat("a", 300), ""), status: 414, err: errTargetTooLong, lim: Limits{MaxTargetBytes: 256, MaxHeaderBytes: 256}},
	{name: "RFC9110-15.5.15/target-within-MaxTargetBytes-reaching-MaxHeaderBytes", raw: "GET /" + strings.Repeat("a", 254), status: 414, err: errTargetTooLong, lim: Limits{MaxTargetBytes: 256, MaxHeaderBytes: 256}, partial: true},
	{name: "RFC6585-5/method-reaching-MaxHeaderBytes", raw: strings.Repeat("G", 300) + " / HTTP/1.1\r\n", status: 431, err: errHeadTooLarge, lim: Limits{MaxHeaderBytes: 256}},
	{name: "RFC6585-5/version-reaching-MaxHeaderBytes", raw: "GET /" + strings.Repeat("a", 240) + " HTTP/1.1" + strings.Repeat(" ", 20) + "\r\n", status: 431, err: errHeadTooLarge, lim: Limits{MaxHeaderBytes: 256}},
	{name: "RFC9112-3.2/bad-byte-before-MaxTargetBytes", raw: get("/#"+strings.Repeat("a", 64), ""), status: 400, err: errTargetByte, lim: small},
	{name: "RFC6585-5/head-over-MaxHeaderBytes", raw: get("/", "X-A: "+strings.Repeat("b", 256)+"\r\n"), status: 431, err: errHeadTooLarge, lim: small},
	{name: "RFC6585-5/head-over-MaxHeaderBytes-line-not-ended", raw: get("/", "")[:22] + "X-A: " + strings.Repeat("b", 256), status: 431, err: errHeadTooLarge, lim: small, partial: true},
	{name: "RFC6585-5/head-over-MaxHeaderBytes-blank-line-not-arrived", raw: "GET / HTTP/1.1\r\n" + host + strings.Repeat("X-A: 0123456789abcdefghijklm\r\n", 9), status: 431, err: errHeadTooLarge, lim: Limits{MaxHeaderBytes: 256, MaxHeaderCount: 50}, partial: true},
	{name: "RFC6585-5/too-many-fields", raw: get("/", "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"), status: 431, err: errTooManyFields, lim: small},
	{name: "RFC9110-15.5.14/Content-Length-over-MaxBodyBytes", raw: get("/", "Content-Length: 11\r\n"), status: 413, err: errBodyTooLarge, lim: small},
	{name: "RFC9110-15.5.14/Content-Length-over-default-MaxBodyBytes", raw: get("/", "Content-Length: 10485761\r\n"), status: 413, err: errBodyTooLarge},

	// Bodies, refused while they are read.
	{name: "RFC9110-15.5.14/chunked-body-over-MaxBodyBytes", raw: chunked("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), status: 413, err: errBodyTooLarge, lim: small, inBody: true},
	{name: "RFC9110-15.5.14/chunk-size-over-MaxBodyBytes", raw: chunked("fffff\r\n"), status: 413, err: errBodyTooLarge, lim: small, inBody: true},
	{name: "RFC9112-7.1/chunk-size-not-hex", raw: chunked("zz\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkSize, inBody: true},
	{name: "RFC9112-7.1/chunk-size-empty", raw: chunked("\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkSize, inBody: true},
	{name: "RFC9112-7.1/chunk-size-plus-sign", raw: chunked("+5\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkSize, inBody: true},
	{name: "RFC9112-7.1/chunk-size-minus-sign", raw: chunked("-5\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkSize, inBody: true},
	{name: "RFC9112-7.1/chunk-size-0x-prefix", raw: chunked("0x5\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkExt, inBody: true},
	{name: "RFC9112-7.1/chunk-size-leading-space", raw: chunked(" 5\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkSize, inBody: true},
	{name: "RFC9112-7.1/chunk-size-overflow", raw: chunked("10000000000000000\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkSize, inBody: true},
	{name: "RFC9112-7.1/chunk-size-over-long", raw: chunked("0000000000000005\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkSize, inBody: true},
	{name: "RFC9112-7.1/chunk-size-line-over-long", raw: chunked(strings.Repeat("0", 4096) + "5\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkExtTooLong, inBody: true},
	{name: "RFC9112-7.1/chunk-size-bare-LF", raw: chunked("5\nhello\r\n0\r\n\r\n"), status: 400, err: errBareLF, inBody: true},
	{name: "RFC9112-7.1/chunk-size-bare-CR", raw: chunked("5\r;a\r\nhello\r\n0\r\n\r\n"), status: 400, err: errBareCR, inBody: true},
	{name: "RFC9112-7.1/missing-CRLF-after-chunk-data", raw: chunked("5\r\nhello0\r\n\r\n"), status: 400, err: errChunkCRLF, inBody: true},
	{name: "RFC9112-7.1/bare-LF-after-chunk-data", raw: chunked("5\r\nhello\n0\r\n\r\n"), status: 400, err: errChunkCRLF, inBody: true},
	{name: "RFC9112-7.1/chunk-data-longer-than-size", raw: chunked("3\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkCRLF, inBody: true},
	{name: "RFC9112-7.1/chunked-body-truncated", raw: chunked("5\r\nhel"), status: 400, err: errBodyTruncated, inBody: true, eof: true},
	{name: "RFC9112-7.1/chunked-body-without-last-chunk", raw: chunked("5\r\nhello\r\n"), status: 400, err: errBodyTruncated, inBody: true, eof: true},
	{name: "RFC9112-7.1.1/chunk-extension-too-long", raw: chunked("5;name=" + strings.Repeat("v", 16) + "\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkExtTooLong, lim: small, inBody: true},
	{name: "RFC9112-7.1.1/chunk-extension-too-long-default", raw: chunked("5;n=" + strings.Repeat("v", 1024) + "\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkExtTooLong, inBody: true},
	{name: "RFC9112-7.1.1/chunk-extension-no-name", raw: chunked("5;=x\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkExt, inBody: true},
	{name: "RFC9112-7.1.1/chunk-extension-no-semicolon", raw: chunked("5 x\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkExt, inBody: true},
	{name: "RFC9112-7.1.1/chunk-extension-no-value", raw: chunked("5;a=\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkExt, inBody: true},
	{name: "RFC9112-7.1.1/chunk-extension-unterminated-quote", raw: chunked("5;a=\"x\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkExt, inBody: true},
	{name: "RFC9112-7.1.1/chunk-extension-CTL", raw: chunked("5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n"), status: 400, err: errChunkExt, inBody: true},
	{name: "RFC9112-7.1.2/trailer-too-large", raw: chunked("0\r\nX-A: " + strings.Repeat("b", 32) + "\r\n\r\n"), status: 400, err: errTrailerTooLarge, lim: small, inBody: true},
	{name: "RFC9112-7.1.2/trailer-too-large-many-lines", raw: chunked("0\r\n" + strings.Repeat("A: 1\r\n", 6) + "\r\n"), status: 400, err: errTrailerTooLarge, lim: small, inBody: true},
	{name: "RFC9112-7.1.2/trailer-too-many-fields", raw: chunked("0\r\n" + strings.Repeat("A:\r\n", 5) + "\r\n"), status: 400, err: errTrailerTooLarge, lim: Limits{MaxHeaderCount: 4}, inBody: true},
	{name: "RFC9112-7.1.2/trailer-obs-fold", raw: chunked("0\r\nX-A: a\r\n b\r\n\r\n"), status: 400, err: errObsFold, inBody: true},
	{name: "RFC9112-7.1.2/trailer-field-name-not-token", raw: chunked("0\r\nX(A): a\r\n\r\n"), status: 400, err: errFieldName, inBody: true},
	{name: "RFC9112-7.1.2/trailer-space-before-colon", raw: chunked("0\r\nX-A : a\r\n\r\n"), status: 400, err: errSpaceBeforeColon, inBody: true},
	{name: "RFC9112-7.1.2/trailer-field-value-NUL", raw: chunked("0\r\nX-A: a\x00\r\n\r\n"), status: 400, err: errFieldValue, inBody: true},
	{name: "RFC9112-7.1.2/trailer-bare-LF", raw: chunked("0\r\nX-A: a\n\r\n"), status: 400, err: errBareLF, inBody: true},
	{name: "RFC9112-7.1.2/trailer-truncated", raw: chunked("0\r\nX-A: a\r\n"), status: 400, err: errBodyTruncated, inBody: true, eof: true},
	{name: "RFC9112-6.2/Content-Length-body-truncated", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 10\r\n\r\nhello", status: 400, err: errBodyTruncated, inBody: true, eof: true},
}

// Every head refusal comes from ParseHead as soon as the bytes that show it
// are there, as a *Error with the status the RFC names.
func TestParseHeadRefusesEveryHostileHeadWithTheRFCsStatus(t *testing.T) {
	var r Request
	for _, tt := range hostileTests {
		if tt.inBody {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.lim.withDefaults()
			_, err := ParseHead([]byte(tt.raw), &r, &lim)
			checkRefusal(t, err, tt)
		})
	}
}

// TestReaderRefusesEveryHostileRequestAlikeHoweverItsBytesArrive feeds every
// hostile request to a Reader whole and one byte at a time. The status must
// not depend on how the bytes arrived, and a refusal must not wait for bytes
// the client has not sent: the source reports errBlocked once it is empty.
func TestReaderRefusesEveryHostileRequestAlikeHoweverItsBytesArrive(t *testing.T) {
	for _, feed := range feeds {
		for _, tt := range hostileTests {
			t.Run(feed.name+"/"+tt.name, func(t *testing.T) {
				rd := NewReader(&source{s: tt.raw, step: feed.step, eof: tt.eof}, tt.lim)
				req, err := rd.ReadRequest()
				if tt.inBody {
					if err != nil {
						t.Fatalf("ReadRequest: %v; want the head accepted", err)
					}
					_, err = readAll(req.Body)
					if !req.Body.Done() && req.Body.Drain(1<<20) {
						t.Error("Drain says the connection can go on after a refused body")
					}
				}
				if err == errBlocked && feed.step == 1 && tt.partial && tt.status == 400 {
					// The Reader judges an unfinished request line on its
					// first look only, and then again when a line ends or
					// a limit is reached (worthParsing): a trickled line
					// is refused when it ends, or by the header deadline.
					// Limits are never waited past; see the 414 and 431
					// cases.
					return
				}
				checkRefusal(t, err, tt)
			})
		}
	}
}

// TestBodyErrorIsSticky: after a body is refused, every later Read gives the
// same refusal, and Drain says the connection must close.
func TestBodyErrorIsSticky(t *testing.T) {
	rd := NewReader(&source{s: chunked("zz\r\n"), eof: true}, Limits{})
	req, err := rd.ReadRequest()
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := readAll(req.Body)
	_, err2 := req.Body.Read(make([]byte, 10))
	if err1 == nil || err1 != err2 {
		t.Errorf("first %v, then %v; want the same refusal twice", err1, err2)
	}
	if req.Body.Drain(1 << 20) {
		t.Error("Drain = true after a refused body")
	}
}

// allErrors is every refusal the package can make. Reasons are fixed text,
// so a returned *Error must be one of these values: no client byte can
// reach the log or the wire through it.
var allErrors = []*Error{
	errRequestLine, errMethod, errTargetByte, errTargetForm, errAbsoluteTarget,
	errPercent, errNULInPath, errVersion, errVersionSupported, errBareCR,
	errBareLF, errFieldName, errSpaceBeforeColon, errNoColon, errObsFold,
	errFieldValue, errNoHost, errManyHosts, errBadHost, errContentLength,
	errCLConflict, errCLAndTE, errTEHTTP10, errTENotChunked, errTEInvalid,
	errTEUnsupported, errExpectation, errTargetTooLong, errHeadTooLarge,
	errTooManyFields, errBodyTooLarge, errChunkSize, errChunkExt,
	errChunkExtTooLong, errChunkCRLF, errTrailerTooLarge, errBodyTruncated,
	errBodyLineTooLong,
}

func checkRefusal(t *testing.T, err error, tt hostileTest) {
	t.Helper()
	if got := statusOf(err); got != tt.status {
		t.Fatalf("got %v (status %d), want status %d", err, got, tt.status)
	}
	if tt.err.Status != tt.status {
		t.Fatalf("bad table entry: %v has status %d", tt.err, tt.err.Status)
	}
	if err != error(tt.err) {
		t.Errorf("refused for %q, want %q", err, tt.err)
	}
	checkFixedError(t, err)
}

func checkFixedError(t *testing.T, err error) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		return
	}
	for _, e := range allErrors {
		if pe == e {
			return
		}
	}
	t.Errorf("%v is not one of the package's fixed refusals", err)
}

func TestEveryRefusalReadsAsAnErrorStatusAndItsReason(t *testing.T) {
	if got := errTargetTooLong.Error(); got != "414 request-target too long" {
		t.Errorf("Error() = %q", got)
	}
	for _, e := range allErrors {
		if e.Status < 400 || e.Status > 599 || e.Reason == "" {
			t.Errorf("%+v: a refusal needs an error status and a reason", e)
		}
	}
}

// ParseHead takes its limits as given (the Reader fills unset ones from
// DefaultLimits); even zero or tiny ones refuse with a status rather than
// panic, also when leading empty lines already exceed them.
func TestParseHeadRefusesRatherThanPanicsUnderTinyLimits(t *testing.T) {
	var r Request
	for _, raw := range []string{"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "\r", ""} {
		for n := 0; n <= len(raw); n++ {
			lim := Limits{MaxTargetBytes: n, MaxHeaderBytes: n, MaxHeaderCount: n}
			_, err := ParseHead([]byte(raw), &r, &lim)
			if err == nil && n == len(raw) {
				continue // the whole head fits
			}
			if err == nil || (err != ErrNeedMore && statusOf(err) <= 0) {
				t.Errorf("%q with limits %d: %v", raw, n, err)
			}
		}
	}
}
