package attack

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// Response splitting: client bytes that reach a response header (a
// redirect's Location, the slash-appending directory redirect) or a page
// (templates, listings, error pages) must not end the header early or
// inject markup. Percent-encoded CR and LF decode to real ones in the
// path, so each case is a URL a browser could be tricked into visiting.
var splittingTargets = []string{
	"/old/%0d%0aSet-Cookie:%20injected=1",
	"/old/%0aX-Injected:%20yes",
	"/old/%0dX-Injected:%20yes",
	"/old/a%0d%0a%0d%0a<script>alert(1)</script>",
	"/old/%0d%0aLocation:%20https://evil.example/",
	"/old/%E5%98%8A%E5%98%8DX-Injected:%20yes", // U+560A U+560D: their low bytes are LF and CR
	"/old/%c4%8d%c4%8aX-Injected:%20yes",
	"/old/x?%0d%0aX-Injected:%20yes",
	"/old/x?a=1%0d%0aX-Injected:%20yes",
	"/old/%00X-Injected:%20yes",
	"/old/\\evil.example",
	"/old/%5c%5cevil.example",
	"/old//evil.example",
	"/old/%2f%2fevil.example",
	"/old/../..//evil.example",
	"/away/%0d%0aX-Injected:%20yes",
	"/away/..%2f..%2f@evil.example",
	"/dir?%0d%0aX-Injected:%20yes",
	"/dir?a=%0d%0aX-Injected:%20yes",
	"/sub%0d%0aX-Injected:%20yes",
	"/page?name=%0d%0aX-Injected:%20yes",
	"/page?name=%3Cscript%3Ealert(1)%3C/script%3E",
	"/page?name=%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E",
	"/%3Cscript%3Ealert(1)%3C/script%3E",
	"/listing/",
	"/listing/%3Cscript%3E/",
}

// headerLine is a response header line as RFC 9110 allows it.
var headerLine = regexp.MustCompile(`^[!#$%&'*+\-.^_` + "`" + `|~0-9A-Za-z]+: [\t\x20-\x7e\x80-\xff]*$`)

func TestClientBytesNeverSplitTheResponseOrInjectMarkup(t *testing.T) {
	s := startSite(t, nil, nil)
	for _, target := range splittingTargets {
		for _, withHeader := range []bool{false, true} {
			name := target
			raw := "GET " + target + " HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n"
			if withHeader {
				// The template echoes this header into the page.
				name += "/header"
				raw += "X-Test: <script>alert(2)</script>\"'\r\n"
			}
			t.Run(name, func(t *testing.T) {
				stream := s.exchange(t, raw+"\r\n", 0)
				head, body, found := bytes.Cut(stream, []byte("\r\n\r\n"))
				if !found {
					t.Fatalf("no head: %q", stream)
				}
				lines := strings.Split(string(head), "\r\n")
				for _, line := range lines[1:] {
					if !headerLine.MatchString(line) {
						t.Errorf("malformed header line %q", line)
					}
					name, value, _ := strings.Cut(line, ": ")
					switch strings.ToLower(name) {
					case "x-injected", "set-cookie":
						t.Errorf("injected header %q", line)
					case "location":
						checkLocation(t, value)
					}
				}
				rs, err := parseResponses(stream)
				if err != nil || len(rs) != 1 {
					t.Fatalf("%d responses (%v)", len(rs), err)
				}
				for _, bad := range []string{"<script>", "<img src=x"} {
					if bytes.Contains(body, []byte(bad)) {
						t.Errorf("body carries %q unescaped:\n%s", bad, body)
					}
				}
			})
		}
	}
	s.healthy(t)
}

// checkLocation: a redirect stays on this site or on the configured
// target, and holds no byte that would end the header or be read as a
// path separator by a browser.
func checkLocation(t *testing.T, loc string) {
	t.Helper()
	if strings.ContainsAny(loc, "\r\n\x00\\ ") {
		t.Errorf("Location %q holds a control, space or backslash", loc)
	}
	switch {
	case strings.HasPrefix(loc, "https://elsewhere.example/landing/"):
	case strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//"):
	case strings.HasPrefix(loc, "./"): // relative, as the directory redirect is
	default:
		t.Errorf("Location %q leaves the site", loc)
	}
}

// hostileHeaders are client text that reaches the access log: obs-text,
// invalid UTF-8, C1 controls and terminal escapes in UTF-8 disguise, line
// separators, quotes and backslashes.
var hostileHeaders = []string{
	"User-Agent: \xc2\x9b31mred\xc2\x9b0m",       // U+009B: CSI for 8-bit terminals
	"User-Agent: \xc2\x85next line",              // U+0085: NEL
	"User-Agent: a\xe2\x80\xa8b\xe2\x80\xa9c",    // U+2028, U+2029
	"User-Agent: \xff\xfe\x80 invalid UTF-8",     // not UTF-8 at all
	"User-Agent: \"quoted\" \\back\\slash",       // breaks naive quoting
	"Referer: http://x/\xc2\x9d]0;pwned\xc2\x9c", // OSC via C1
	"Referer: \\x1b[31m literal",
}

// controlFree reports the first control character in a log line: C0 other
// than tab, DEL, C1, or U+2028/U+2029.
func controlFree(line string) (rune, bool) {
	for _, r := range line {
		switch {
		case r == '\t':
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f, r == 0x2028, r == 0x2029:
			return r, false
		}
	}
	return 0, true
}

// TestLogsHaveNoRawControlCharacters sends hostile text in every place a
// client controls and checks the access log (JSON and combined) and the
// error log line by line: no raw control character, one entry per line,
// JSON lines valid.
func TestLogsHaveNoRawControlCharacters(t *testing.T) {
	for _, format := range []string{"json", "combined"} {
		t.Run(format, func(t *testing.T) {
			s := startSite(t, map[string]string{"access_log_format": `"` + format + `"`}, nil)
			sent := 0
			for _, h := range hostileHeaders {
				for _, target := range []string{"/", "/missing%0d%0aX:%20y", "/%c2%9b31m", "/broken", "/page?name=%1b%5b31m"} {
					s.exchange(t, "GET "+target+" HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n"+h+"\r\n\r\n", 0)
					sent++
				}
			}
			// Refused requests: their bytes must not reach the log either.
			for _, raw := range []string{
				"GET /\x1b[31m HTTP/1.1\r\nHost: example.com\r\n\r\n",
				"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: a\x1bb\r\n\r\n",
				"\x1b[2J\x1b[H fake\r\n\r\n",
				"GET / HTTP/1.1\r\nHost: example.com\r\nX: a\rInjected: b\r\n\r\n",
			} {
				s.exchange(t, raw, 0)
			}
			s.healthy(t)
			access := s.accessLog()
			lines := strings.Split(strings.TrimSuffix(access, "\n"), "\n")
			if len(lines) < sent {
				t.Fatalf("%d access-log lines for %d requests", len(lines), sent)
			}
			for _, line := range lines {
				if !utf8.ValidString(line) && format == "json" {
					t.Errorf("JSON access log line is not UTF-8: %q", line)
				}
				if r, ok := controlFree(line); !ok {
					t.Errorf("access log line holds control %U: %q", r, line)
				}
				if format == "json" && !json.Valid([]byte(line)) {
					t.Errorf("invalid JSON line: %q", line)
				}
				if format == "combined" && strings.Count(line, `"`) != 6 {
					t.Errorf("combined line with %d quotes: %q", strings.Count(line, `"`), line)
				}
			}
			for _, line := range strings.Split(strings.TrimSuffix(s.errLog.String(), "\n"), "\n") {
				if r, ok := controlFree(line); !ok {
					t.Errorf("error log line holds control %U: %q", r, line)
				}
				if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT`).MatchString(line) {
					t.Errorf("error log line does not start with a time (injected line?): %q", line)
				}
			}
		})
	}
}
