package listener

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// Client text reaches the access log through appendJSONString (json
// format) and appendLogEscaped (combined format); both must turn any bytes
// into one line with no control character a terminal or a log shipper
// would act on.

// logControl returns the first control character in s: C0 but tab, DEL,
// C1, U+2028 or U+2029.
func logControl(s string) (rune, bool) {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 {
			return r, true
		}
	}
	return 0, false
}

var logEscapeSeeds = []string{
	"",
	"plain",
	"evil\xff\"agent\\",
	"\x1b[31mred\x1b[0m",
	"\xc2\x9b31m",                // U+009B, CSI
	"\xc2\x85",                   // U+0085, NEL
	"a\xe2\x80\xa8b\xe2\x80\xa9", // U+2028, U+2029
	"\r\nforged: line",
	"\xed\xa0\x80",             // a UTF-16 surrogate, invalid in UTF-8
	"caf\xc3\xa9 \xe2\x9c\x93", // ordinary non-ASCII stays
}

func TestAppendJSONStringEscapesEveryControl(t *testing.T) {
	for _, s := range logEscapeSeeds {
		checkJSONString(t, []byte(s))
	}
	if got := string(appendJSONString(nil, []byte("caf\xc3\xa9 \xe2\x9c\x93"))); got != "\"caf\xc3\xa9 \xe2\x9c\x93\"" {
		t.Errorf("printable non-ASCII altered: %q", got)
	}
	if got := string(appendJSONString(nil, []byte("\xc2\x9b"))); got != `"\u009b"` {
		t.Errorf("C1 control: %q", got)
	}
}

func checkJSONString(t *testing.T, in []byte) {
	t.Helper()
	out := appendJSONString(nil, in)
	if r, bad := logControl(string(out)); bad {
		t.Fatalf("%q -> %q holds control %U", in, out, r)
	}
	if !utf8.Valid(out) {
		t.Fatalf("%q -> %q is not UTF-8", in, out)
	}
	var back string
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("%q -> %q is not a JSON string: %v", in, out, err)
	}
	if utf8.Valid(in) && back != string(in) {
		t.Fatalf("%q -> %q decodes to %q", in, out, back)
	}
}

func FuzzAccessLogEscaping(f *testing.F) {
	for _, s := range logEscapeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkJSONString(t, in)
		out := appendLogEscaped(nil, in)
		for _, c := range out {
			if c < 0x20 || c >= 0x7f || c == '"' {
				t.Fatalf("combined: %q -> %q holds byte %#x", in, out, c)
			}
		}
	})
}
