package listener

import "testing"

func TestH2cSniffTellsHTTP1RequestLinesFromAnythingElse(t *testing.T) {
	cases := map[string]lineKind{
		"GET / HTTP/1.1\r\n":          lineHTTP1,
		"OPTIONS * HTTP/1.1":          lineHTTP1,
		"PROPFIND /dav/ HTTP/1.1":     lineHTTP1,
		"GET http://a.test/ HTTP/1.1": lineHTTP1,
		"CONNECT a.test:443 HTTP/1.1": lineHTTP1,
		"GE":                          lineUndecided,
		"GET ht":                      lineUndecided,
		"INVALID CONNECTION PREFACE":  lineNotHTTP1,
		"\x16\x03\x01\x02\x00":        lineNotHTTP1,
		" GET / HTTP/1.1":             lineNotHTTP1,
	}
	for in, want := range cases {
		if got := http1RequestLine([]byte(in)); got != want {
			t.Errorf("%q: %d, want %d", in, got, want)
		}
	}
}
