package parser

import (
	"strings"
	"testing"
)

func TestHeadBufferedSeesOnlyACompleteHead(t *testing.T) {
	cases := map[string]bool{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n":         true,
		"GET / HTTP/1.1\r\nHost: x\r\n":             false,
		"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n":     false, // leading empty lines are not the end
		"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n": true,
		"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2":   true,
	}
	for raw, want := range cases {
		rd := NewReader(strings.NewReader(raw), Limits{})
		if err := rd.WaitForData(); err != nil {
			t.Fatal(err)
		}
		for rd.Buffered() < len(raw) {
			rd.fill()
		}
		if got := rd.HeadBuffered(); got != want {
			t.Errorf("%q: %v, want %v", raw, got, want)
		}
	}
}
