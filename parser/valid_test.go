package parser

import (
	"errors"
	"io"
	"testing"
)

// validTest is a request the parser must accept: its head, what every
// exported field of the Request must hold, and the body and trailer fields
// that reading it must give.
type validTest struct {
	name    string
	head    string
	body    string // as sent on the wire, after the head
	want    snapshot
	content string // the decoded body
	trailer []kv
}

var validTests = []validTest{
	// Request-target forms, RFC 9112 §3.2.
	{
		name: "RFC9112-3.2.1/origin-form",
		head: "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/index.html", Form: OriginForm,
			RawPath: "/index.html", Path: "/index.html",
			ProtoMajor: 1, ProtoMinor: 1, Host: "example.com",
			Header:    []kv{{"Host", "example.com"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9112-3.2.1/origin-form-with-query",
		head: "GET /search?q=a+b&x=%20y%2F HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/search?q=a+b&x=%20y%2F", Form: OriginForm,
			RawPath: "/search", Path: "/search", RawQuery: "q=a+b&x=%20y%2F",
			ProtoMajor: 1, ProtoMinor: 1, Host: "example.com",
			Header:    []kv{{"Host", "example.com"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9112-3.2.1/origin-form-empty-query",
		head: "GET /a? HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/a?", Form: OriginForm,
			RawPath: "/a", Path: "/a", RawQuery: "",
			ProtoMajor: 1, ProtoMinor: 1, Host: "example.com",
			Header:    []kv{{"Host", "example.com"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9112-3.2.1/origin-form-query-with-slashes-and-dots-left-alone",
		head: "GET /a?next=/../b//c HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/a?next=/../b//c", Form: OriginForm,
			RawPath: "/a", Path: "/a", RawQuery: "next=/../b//c",
			ProtoMajor: 1, ProtoMinor: 1, Host: "example.com",
			Header:    []kv{{"Host", "example.com"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9112-3.2.1/origin-form-sub-delims-and-colons",
		head: "GET /a;b=c,d!$&'()*+@:e HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/a;b=c,d!$&'()*+@:e", Form: OriginForm,
			RawPath: "/a;b=c,d!$&'()*+@:e", Path: "/a;b=c,d!$&'()*+@:e",
			ProtoMajor: 1, ProtoMinor: 1, Host: "example.com",
			Header:    []kv{{"Host", "example.com"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9112-3.2.2/absolute-form-host-header-ignored",
		head: "GET http://example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: other.example\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "http://example.com:8080/a/b?x=1", Form: AbsoluteForm,
			RawPath: "/a/b", Path: "/a/b", RawQuery: "x=1",
			ProtoMajor: 1, ProtoMinor: 1, Host: "example.com:8080",
			Header:    []kv{{"Host", "other.example"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9112-3.2.2/absolute-form-https-uppercase-no-path",
		head: "GET HTTPS://Example.COM HTTP/1.1\r\nHost: Example.COM\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "HTTPS://Example.COM", Form: AbsoluteForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "Example.COM",
			Header:    []kv{{"Host", "Example.COM"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9112-3.2.2/absolute-form-query-without-path",
		head: "GET http://example.com?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "http://example.com?x=1", Form: AbsoluteForm,
			RawPath: "/", Path: "/", RawQuery: "x=1",
			ProtoMajor: 1, ProtoMinor: 1, Host: "example.com",
			Header:    []kv{{"Host", "example.com"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9112-3.2.2/absolute-form-dot-segments-removed",
		head: "GET http://[::1]:80/a/../%2e%2e/b HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "http://[::1]:80/a/../%2e%2e/b", Form: AbsoluteForm,
			RawPath: "/a/../%2e%2e/b", Path: "/b",
			ProtoMajor: 1, ProtoMinor: 1, Host: "[::1]:80",
			Header:    []kv{{"Host", "[::1]:80"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9112-3.2.3/authority-form-CONNECT",
		head: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
		want: snapshot{
			Method: "CONNECT", Target: "example.com:443", Form: AuthorityForm,
			ProtoMajor: 1, ProtoMinor: 1, Host: "example.com:443",
			Header:    []kv{{"Host", "example.com:443"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9112-3.2.3/authority-form-CONNECT-IPv6",
		head: "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n",
		want: snapshot{
			Method: "CONNECT", Target: "[2001:db8::1]:443", Form: AuthorityForm,
			ProtoMajor: 1, ProtoMinor: 1, Host: "[2001:db8::1]:443",
			Header:    []kv{{"Host", "[2001:db8::1]:443"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9112-3.2.4/asterisk-form-OPTIONS",
		head: "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: snapshot{
			Method: "OPTIONS", Target: "*", Form: AsteriskForm,
			RawPath: "*", Path: "*",
			ProtoMajor: 1, ProtoMinor: 1, Host: "example.com",
			Header:    []kv{{"Host", "example.com"}},
			KeepAlive: true,
		},
	},

	// The path a handler sees: RFC 3986 §2.1 and §5.2.4.
	{
		name: "RFC3986-2.1/percent-decoded",
		head: "GET /caf%C3%A9/a%20b/%7euser HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/caf%C3%A9/a%20b/%7euser", Form: OriginForm,
			RawPath: "/caf%C3%A9/a%20b/%7euser", Path: "/café/a b/~user",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC3986-5.2.4/dot-segments-removed",
		head: "GET /a/b/../c/./d HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/a/b/../c/./d", Form: OriginForm,
			RawPath: "/a/b/../c/./d", Path: "/a/c/d",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC3986-5.2.4/encoded-dot-segments-removed-after-decoding",
		head: "GET /a/b/%2e%2e/%2E%2e/%2e/c HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/a/b/%2e%2e/%2E%2e/%2e/c", Form: OriginForm,
			RawPath: "/a/b/%2e%2e/%2E%2e/%2e/c", Path: "/c",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC3986-5.2.4/encoded-dot-segments-stop-at-root",
		head: "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/%2e%2e/%2e%2e/etc/passwd", Form: OriginForm,
			RawPath: "/%2e%2e/%2e%2e/etc/passwd", Path: "/etc/passwd",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC3986-5.2.4/dot-segments-stop-at-root",
		head: "GET /../../x HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/../../x", Form: OriginForm,
			RawPath: "/../../x", Path: "/x",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC3986-2.1/encoded-slash-is-a-separator",
		head: "GET /a%2Fb/c%2f..%2F..%2Fsecret HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/a%2Fb/c%2f..%2F..%2Fsecret", Form: OriginForm,
			RawPath: "/a%2Fb/c%2f..%2F..%2Fsecret", Path: "/a/secret",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC3986-5.2.4/trailing-slash-kept",
		head: "GET /dir/ HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/dir/", Form: OriginForm,
			RawPath: "/dir/", Path: "/dir/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC3986-5.2.4/trailing-dotdot-leaves-directory",
		head: "GET /a/b/.. HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/a/b/..", Form: OriginForm,
			RawPath: "/a/b/..", Path: "/a/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC3986-5.2.4/trailing-dot-leaves-directory",
		head: "GET /a/. HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/a/.", Form: OriginForm,
			RawPath: "/a/.", Path: "/a/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC3986-5.2.4/root-dotdot-is-root",
		head: "GET /.. HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/..", Form: OriginForm,
			RawPath: "/..", Path: "/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC3986-5.2.4/merged-slashes",
		head: "GET //a///b//c// HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "//a///b//c//", Form: OriginForm,
			RawPath: "//a///b//c//", Path: "/a/b/c/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC3986-5.2.4/dots-inside-names-are-not-segments",
		head: "GET /.well-known/a/..b/c./... HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/.well-known/a/..b/c./...", Form: OriginForm,
			RawPath: "/.well-known/a/..b/c./...", Path: "/.well-known/a/..b/c./...",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC9112-3.2/raw-UTF-8-path-bytes-passed-through",
		head: "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/caf\xc3\xa9", Form: OriginForm,
			RawPath: "/caf\xc3\xa9", Path: "/café",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},

	// Versions and persistence, RFC 9112 §2.3 and §9.3.
	{
		name: "RFC9112-9.3/HTTP/1.0-closes-by-default-and-needs-no-Host",
		head: "GET / HTTP/1.0\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 0,
		},
	},
	{
		name: "RFC9112-9.3/HTTP/1.0-keep-alive",
		head: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 0, Host: "a",
			Header:    []kv{{"Connection", "Keep-Alive"}, {"Host", "a"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9112-9.3/HTTP/1.0-keep-alive-and-close-closes",
		head: "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 0,
			Header: []kv{{"Connection", "keep-alive"}, {"Connection", "close"}},
		},
	},
	{
		name: "RFC9112-9.6/HTTP/1.1-Connection-close",
		head: "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}, {"Connection", "Upgrade, CLOSE"}},
		},
	},
	{
		name: "RFC9110-6.2/HTTP/1.2-served-as-1.1",
		head: "GET / HTTP/1.2\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 2, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC9110-9.1/extension-method",
		head: "PROPFIND /dav/ HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "PROPFIND", Target: "/dav/", Form: OriginForm,
			RawPath: "/dav/", Path: "/dav/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},

	// Field lines, RFC 9110 §5 and RFC 9112 §5.
	{
		name: "RFC9110-5.5/obs-text-in-value",
		head: "GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9 \xff\x80!\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header:    []kv{{"Host", "a"}, {"X-Name", "caf\xe9 \xff\x80!"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9112-5/surrounding-whitespace-trimmed",
		head: "GET / HTTP/1.1\r\nHost:a\r\nX-A: \t v a\tl \t\r\nX-Empty:\r\nX-Blank:   \r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header:    []kv{{"Host", "a"}, {"X-A", "v a\tl"}, {"X-Empty", ""}, {"X-Blank", ""}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9110-5.3/repeated-fields-kept-in-order",
		head: "GET / HTTP/1.1\r\nAccept: text/html\r\nHost: a\r\nX-Trace: 1\r\naccept: */*\r\nX-Trace: 2\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{
				{"Accept", "text/html"}, {"Host", "a"}, {"X-Trace", "1"},
				{"accept", "*/*"}, {"X-Trace", "2"},
			},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9110-5.1/names-case-insensitive",
		head: "GET / HTTP/1.1\r\nhOsT: a\r\nCONNECTION: CLOSE\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"hOsT", "a"}, {"CONNECTION", "CLOSE"}},
		},
	},
	{
		name: "RFC9112-3.2/empty-Host",
		head: "GET / HTTP/1.1\r\nHost:\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "",
			Header: []kv{{"Host", ""}}, KeepAlive: true,
		},
	},
	{
		name: "RFC9112-3.2/Host-IPv6-with-port",
		head: "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "[::1]:8080",
			Header: []kv{{"Host", "[::1]:8080"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC9112-2.2/one-leading-empty-line-ignored",
		head: "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},
	{
		name: "RFC9112-2.2/two-leading-empty-lines-ignored",
		head: "\r\n\r\nHEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
		want: snapshot{
			Method: "HEAD", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{{"Host", "a"}}, KeepAlive: true,
		},
	},

	// Bodies, RFC 9112 §6.
	{
		name: "RFC9112-6.2/Content-Length",
		head: "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n",
		body: "hello world",
		want: snapshot{
			Method: "POST", Target: "/form", Form: OriginForm,
			RawPath: "/form", Path: "/form",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header:        []kv{{"Host", "a"}, {"Content-Length", "11"}},
			ContentLength: 11, KeepAlive: true,
		},
		content: "hello world",
	},
	{
		name: "RFC9112-6.2/Content-Length-zero",
		head: "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		want: snapshot{
			Method: "POST", Target: "/form", Form: OriginForm,
			RawPath: "/form", Path: "/form",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header:    []kv{{"Host", "a"}, {"Content-Length", "0"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9110-8.6/Content-Length-leading-zeros",
		head: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0005\r\n\r\n",
		body: "12345",
		want: snapshot{
			Method: "POST", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header:        []kv{{"Host", "a"}, {"Content-Length", "0005"}},
			ContentLength: 5, KeepAlive: true,
		},
		content: "12345",
	},
	{
		name: "RFC9110-8.6/identical-Content-Length-fields",
		head: "PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		body: "hello",
		want: snapshot{
			Method: "PUT", Target: "/f", Form: OriginForm,
			RawPath: "/f", Path: "/f",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header:        []kv{{"Host", "a"}, {"Content-Length", "5"}, {"Content-Length", "5"}},
			ContentLength: 5, KeepAlive: true,
		},
		content: "hello",
	},
	{
		name: "RFC9112-7.1/chunked",
		head: "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		body: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
		want: snapshot{
			Method: "POST", Target: "/up", Form: OriginForm,
			RawPath: "/up", Path: "/up",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header:        []kv{{"Host", "a"}, {"Transfer-Encoding", "chunked"}},
			ContentLength: -1, Chunked: true, KeepAlive: true,
		},
		content: "hello world",
	},
	{
		name: "RFC9112-7.1/chunked-case-insensitive-and-hex-sizes",
		head: "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n",
		body: "a\r\n0123456789\r\nB\r\nabcdefghijk\r\n00\r\n\r\n",
		want: snapshot{
			Method: "POST", Target: "/up", Form: OriginForm,
			RawPath: "/up", Path: "/up",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header:        []kv{{"Host", "a"}, {"Transfer-Encoding", "Chunked"}},
			ContentLength: -1, Chunked: true, KeepAlive: true,
		},
		content: "0123456789abcdefghijk",
	},
	{
		name: "RFC9112-7.1.1/chunk-extensions-skipped-and-7.1.2-trailers-kept",
		head: "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n",
		body: "5;name=value\r\nhello\r\n" +
			"6 ; a ; q=\"quoted \\\" ;str\"\t;z = y\r\n world\r\n" +
			"0;last\r\nX-Checksum: abc\r\nx-other:  two \r\n\r\n",
		want: snapshot{
			Method: "POST", Target: "/up", Form: OriginForm,
			RawPath: "/up", Path: "/up",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header: []kv{
				{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Trailer", "X-Checksum"},
			},
			ContentLength: -1, Chunked: true, KeepAlive: true,
		},
		content: "hello world",
		trailer: []kv{{"X-Checksum", "abc"}, {"x-other", "two"}},
	},

	// Expectations, RFC 9110 §10.1.1.
	{
		name: "RFC9110-10.1.1/Expect-100-continue",
		head: "POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n",
		body: "hello",
		want: snapshot{
			Method: "POST", Target: "/up", Form: OriginForm,
			RawPath: "/up", Path: "/up",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header:         []kv{{"Host", "a"}, {"Expect", "100-Continue"}, {"Content-Length", "5"}},
			ContentLength:  5,
			ExpectContinue: true, KeepAlive: true,
		},
		content: "hello",
	},
	{
		name: "RFC9110-10.1.1/Expect-100-continue-chunked",
		head: "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
		body: "5\r\nhello\r\n0\r\n\r\n",
		want: snapshot{
			Method: "POST", Target: "/up", Form: OriginForm,
			RawPath: "/up", Path: "/up",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header:        []kv{{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Expect", "100-continue"}},
			ContentLength: -1, Chunked: true,
			ExpectContinue: true, KeepAlive: true,
		},
		content: "hello",
	},
	{
		name: "RFC9110-10.1.1/Expect-100-continue-without-body-waits-for-nothing",
		head: "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
		want: snapshot{
			Method: "GET", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 1, Host: "a",
			Header:    []kv{{"Host", "a"}, {"Expect", "100-continue"}},
			KeepAlive: true,
		},
	},
	{
		name: "RFC9110-10.1.1/Expect-from-HTTP/1.0-ignored",
		head: "POST / HTTP/1.0\r\nExpect: 100-continue\r\nExpect: something-else\r\nContent-Length: 2\r\n\r\n",
		body: "hi",
		want: snapshot{
			Method: "POST", Target: "/", Form: OriginForm,
			RawPath: "/", Path: "/",
			ProtoMajor: 1, ProtoMinor: 0,
			Header:        []kv{{"Expect", "100-continue"}, {"Expect", "something-else"}, {"Content-Length", "2"}},
			ContentLength: 2,
		},
		content: "hi",
	},
}

// TestParseHeadGivesEveryValidHeadItsFieldsWithNothingLeftOver parses every
// valid head with ParseHead into one reused Request, so that leftovers of a
// previous request would show.
func TestParseHeadGivesEveryValidHeadItsFieldsWithNothingLeftOver(t *testing.T) {
	var r Request
	for _, tt := range validTests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ParseHead([]byte(tt.head+tt.body), &r, defaults())
			if err != nil {
				t.Fatalf("ParseHead: %v", err)
			}
			if n != len(tt.head) {
				t.Errorf("consumed %d bytes, want %d", n, len(tt.head))
			}
			if d := diffSnapshots(snap(&r), tt.want); d != "" {
				t.Errorf("fields differ:%s", d)
			}
		})
	}
}

// TestParseHeadNeedsMoreOnEveryPrefix: until the blank line has arrived a
// valid head is never refused and never accepted (RFC 9112 §2.2 is about
// lines, and a line is not known until its CRLF).
func TestParseHeadNeedsMoreOnEveryPrefix(t *testing.T) {
	var r Request
	for _, tt := range validTests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i < len(tt.head); i++ {
				if _, err := ParseHead([]byte(tt.head[:i]), &r, defaults()); err != ErrNeedMore {
					t.Fatalf("prefix %q: got %v, want ErrNeedMore", tt.head[:i], err)
				}
			}
		})
	}
}

// TestReaderReadsEveryValidRequestHoweverSplitAndNoFurther reads every valid
// request through a Reader, whole and one byte per Read, and requires the
// same fields as ParseHead, the body, the trailer fields, and a clean io.EOF
// after it: nothing left over, nothing read too far.
func TestReaderReadsEveryValidRequestHoweverSplitAndNoFurther(t *testing.T) {
	for _, feed := range feeds {
		for _, tt := range validTests {
			t.Run(feed.name+"/"+tt.name, func(t *testing.T) {
				rd := NewReader(&source{s: tt.head + tt.body, step: feed.step, eof: true}, Limits{})
				req, err := rd.ReadRequest()
				if err != nil {
					t.Fatalf("ReadRequest: %v", err)
				}
				if d := diffSnapshots(snap(req), tt.want); d != "" {
					t.Errorf("fields differ:%s", d)
				}
				if req.Body == nil {
					t.Fatal("Body is nil")
				}
				got, err := readAll(req.Body)
				if err != nil {
					t.Fatalf("reading body: %v", err)
				}
				if string(got) != tt.content {
					t.Errorf("body = %q, want %q", got, tt.content)
				}
				if !req.Body.Done() {
					t.Error("Done() = false after io.EOF")
				}
				if tr := fieldsOf(&req.Body.Trailer); !equalKVs(tr, tt.trailer) {
					t.Errorf("trailer = %v, want %v", tr, tt.trailer)
				}
				if _, err := rd.ReadRequest(); err != io.EOF {
					t.Errorf("after the request: got %v, want io.EOF", err)
				}
			})
		}
	}
}

func equalKVs(a, b []kv) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHeaderLookupIgnoresCase(t *testing.T) {
	var r Request
	head := "GET / HTTP/1.1\r\nhOsT: a\r\nAccept: text/html\r\nX-Empty:\r\n" +
		"ACCEPT: */*\r\nConnection: keep-alive, Upgrade\r\nconnection: x\r\n\r\n"
	if _, err := ParseHead([]byte(head), &r, defaults()); err != nil {
		t.Fatal(err)
	}
	h := &r.Header
	if h.Len() != 6 {
		t.Fatalf("Len = %d, want 6", h.Len())
	}
	if f := h.At(3); string(f.Name) != "ACCEPT" || string(f.Value) != "*/*" {
		t.Errorf("At(3) = %q: %q", f.Name, f.Value)
	}
	for _, name := range []string{"host", "HOST", "Host", "hOsT"} {
		if got := h.Get(name); string(got) != "a" {
			t.Errorf("Get(%q) = %q, want %q", name, got, "a")
		}
		if !h.Has(name) {
			t.Errorf("Has(%q) = false", name)
		}
	}
	if got := h.Get("accept"); string(got) != "text/html" {
		t.Errorf("Get returns the first value: got %q", got)
	}
	if got := h.Get("X-Empty"); got == nil || len(got) != 0 {
		t.Errorf("Get of an empty field = %#v, want empty non-nil", got)
	}
	if got := h.Get("X-Missing"); got != nil {
		t.Errorf("Get of a missing field = %q, want nil", got)
	}
	if h.Has("X-Missing") || h.Has("Accep") || h.Has("Accept-") {
		t.Error("Has matches a name that is not there")
	}
	var vals []string
	h.Values("accept", func(v []byte) { vals = append(vals, string(v)) })
	if len(vals) != 2 || vals[0] != "text/html" || vals[1] != "*/*" {
		t.Errorf("Values(accept) = %q, want in order [text/html */*]", vals)
	}
	for _, tc := range []struct {
		name, token string
		want        bool
	}{
		{"Connection", "upgrade", true},
		{"connection", "KEEP-ALIVE", true},
		{"Connection", "x", true}, // from the second field
		{"Connection", "keep", false},
		{"Connection", "close", false},
		{"Accept", "*/*", true},
		{"X-Missing", "a", false},
	} {
		if got := h.HasToken(tc.name, tc.token); got != tc.want {
			t.Errorf("HasToken(%q, %q) = %v, want %v", tc.name, tc.token, got, tc.want)
		}
	}
}

// TestReadRequestBeforeBodyEndRefused: a body left unread must not be parsed
// as the next request (RFC 9112 §6.3).
func TestReadRequestBeforeBodyEndRefused(t *testing.T) {
	raw := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 39\r\n\r\n" +
		"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n\r\n"
	rd := NewReader(&source{s: raw, eof: true}, Limits{})
	if _, err := rd.ReadRequest(); err != nil {
		t.Fatal(err)
	}
	req, err := rd.ReadRequest()
	if err == nil {
		t.Fatalf("parsed %q from body bytes", req.Target)
	}
	if !errors.Is(err, errBodyPending) {
		t.Errorf("got %v, want errBodyPending", err)
	}
}

func TestInternedMethodsDoNotAllocate(t *testing.T) {
	for _, m := range internedMethods {
		b := []byte(m)
		if n := testing.AllocsPerRun(100, func() { _ = internMethod(b) }); n != 0 {
			t.Errorf("%s: %v allocs", m, n)
		}
	}
}
