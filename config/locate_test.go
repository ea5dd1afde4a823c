package config

import (
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// path builds a keyPath from keys and indexes, as the decoder does.
func path(parts ...any) keyPath {
	var p keyPath
	for _, x := range parts {
		switch x := x.(type) {
		case string:
			p = p.key(x)
		case int:
			p = p.index(x)
		}
	}
	return p
}

func TestLocatorFindsKeysInEveryTOMLShape(t *testing.T) {
	src := strings.TrimPrefix(`
# [[vhost]] in a comment is not a header
top = 1
[[vhost]]
hosts = ["a", 'b',
  # a comment inside an array
  "c"]
notes = """
[[vhost]]
not = "a key"
"""
lit = '''[[vhost]]'''
[vhost.paths]
"/a\u0062" = "x"
'/lit' = { file = "f", template = true }
[[vhost]]
paths."/dotted".file = "y"
[[vhost.redirect]]
from = "/r0"
[[vhost.redirect]]
from = "/r1"
[[vhost]]
redirect = [
  { from = "/i0" },
  { from = "/i1", to = "/x" },
]
when = 1979-05-27 07:32:00Z
after = [1979-05-27 07:32:00Z, 2]
`, "\n")
	var tree map[string]any
	if _, err := toml.Decode(src, &tree); err != nil {
		t.Fatalf("test input is not valid TOML: %v", err)
	}
	l := newLocator([]byte(src))
	cases := []struct {
		p         keyPath
		atValue   bool
		line, col int
	}{
		{path("top"), false, 2, 1},
		{path("vhost", 0), false, 3, 1},
		{path("vhost", 0, "hosts"), true, 4, 9},
		{path("vhost", 0, "hosts", 1), false, 4, 15},
		{path("vhost", 0, "hosts", 2), false, 6, 3},
		{path("vhost", 0, "lit"), false, 11, 1},
		{path("vhost", 0, "paths"), false, 12, 1},
		{path("vhost", 0, "paths", "/ab"), true, 13, 14},
		{path("vhost", 0, "paths", "/lit", "template"), false, 14, 24},
		{path("vhost", 1), false, 15, 1},
		{path("vhost", 1, "paths", "/dotted", "file"), true, 16, 24},
		{path("vhost", 1, "redirect", 0, "from"), false, 18, 1},
		{path("vhost", 1, "redirect", 1, "from"), true, 20, 8},
		{path("vhost", 2, "redirect", 0, "from"), true, 23, 12},
		{path("vhost", 2, "redirect", 1, "to"), false, 24, 19},
		{path("vhost", 2, "when"), false, 26, 1},
		{path("vhost", 2, "after", 1), false, 27, 32},
		// Not in the file: the nearest ancestor, then nothing.
		{path("vhost", 2, "root"), false, 21, 1},
		{path("listener"), false, 0, 0},
	}
	for _, c := range cases {
		line, col := l.find(c.p, c.atValue)
		if line != c.line || col != c.col {
			t.Errorf("find(%s) = %d:%d, want %d:%d", c.p, line, col, c.line, c.col)
		}
	}
}

func TestLocatorHandlesCRLFAndByteOrderMark(t *testing.T) {
	src := "\xef\xbb\xbfa = 1\r\n[[vhost]]\r\nroot = \"x\"\r\n"
	l := newLocator([]byte(src))
	for _, c := range []struct {
		p         keyPath
		line, col int
	}{
		{path("a"), 1, 1},
		{path("vhost", 0, "root"), 3, 1},
	} {
		if line, col := l.find(c.p, false); line != c.line || col != c.col {
			t.Errorf("find(%s) = %d:%d, want %d:%d", c.p, line, col, c.line, c.col)
		}
	}
}

func TestKeyPathIsWrittenAsInTOMLWithQuotedOddKeys(t *testing.T) {
	cases := map[string]keyPath{
		`vhost[2].listeners[0]`:     path("vhost", 2, "listeners", 0),
		`vhost[0].paths."/about"`:   path("vhost", 0, "paths", "/about"),
		`vhost[0].error_pages.404`:  path("vhost", 0, "error_pages", "404"),
		`vhost[0].headers."A B"`:    path("vhost", 0, "headers", "A B"),
		`server.""`:                 path("server", ""),
		`vhost[0].paths."/\n"`:      path("vhost", 0, "paths", "/\n"),
		`listener[1].address`:       path("listener", 1, "address"),
		`vhost[1].redirect[0].from`: path("vhost", 1, "redirect", 0, "from"),
	}
	for want, p := range cases {
		if got := p.String(); got != want {
			t.Errorf("String() = %s, want %s", got, want)
		}
	}
}

func TestUnescapeMatchesTOMLBasicStrings(t *testing.T) {
	cases := map[string]string{
		`plain`:            "plain",
		`a\tb\\c\"d`:       "a\tb\\c\"d",
		`\u00e9\U0001F600`: "é😀",
		`\x41`:             "A",
		`bad\q`:            `bad\q`,
		`short\u12`:        `short\u12`,
		`trailing\`:        `trailing\`,
	}
	for in, want := range cases {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
