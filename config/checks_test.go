package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every case here is one rule of the config file (see the README), with the
// exact place each diagnostic must point at. Line 1 is the first line of
// the raw string.

func TestSyntaxErrorUsesParserPosition(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "trailing comma after a value",
		src: `
[server]
log_level = "info"
max_connections = 10,
`,
		want: []want{{3, 21, "", "expected a top-level item to end with a newline"}},
	}, {
		name: "duplicate key",
		src: `
[[listener]]
name = "web"
name = "web2"
`,
		want: []want{{3, 1, "", "already been defined"}},
	}})
}

// A syntax error is reported on the line that holds it: a header missing
// its "]" is wrong at the end of its own line, not on the line after, where
// the parser was when it noticed.
func TestSyntaxErrorIsPlacedOnTheLineThatHasIt(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"table header missing ]", "[server\nlog_level = \"info\"\n", ":1:8: expected '.' or ']' to end table name"},
		{"table header missing ] at the end of the file", "[server", ":1:7: expected '.' or ']' to end table name"},
		{"array header missing a ]", "[[vhost]\nroot = \"www\"\n", ":1:8: expected end of table array name delimiter ']'"},
		{"header with a ] too many", "[server]]\nlog_level = \"info\"\n", ":1:9: expected a top-level item to end with a newline"},
		{"unterminated string at the end of a line", "[server]\nlog_level = \"info\nlog_format = \"json\"\n", ":2:18: strings cannot contain newlines"},
		{"header missing ] after a comment line", "# the sites\n[[vhost]\n", ":2:8: expected end of table array name delimiter ']'"},
		{"byte-order mark before a broken header", "\xef\xbb\xbf[server\n", ":1:8: expected '.' or ']' to end table name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "site.toml")
			if err := os.WriteFile(path, []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("want one diagnostic, got %v", err)
			}
			if got := list[0].String(); !strings.HasPrefix(got, path+c.want) {
				t.Errorf("got  %s\nwant %s%s…", got, path, c.want)
			}
		})
	}
}

// A typo of root is why its vhost has nothing to serve: reporting that too
// would send the user looking for a second mistake. A vhost that really
// serves nothing is still told so.
func TestUnknownKeyInAVhostIsNotAlsoNothingToServe(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "a lone typo of root",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"

[[vhost]]
hosts = ["a.example"]
rooot = "site"

[[vhost]]
hosts = ["b.example"]
`,
		want: []want{
			{7, 1, "vhost[0].rooot", `unknown key (did you mean "root"?)`},
			{9, 1, "vhost[1]", "nothing to serve"},
		},
	}, {
		name: "a misspelt redirect table",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"

[[vhost]]
hosts = ["a.example"]
[[vhost.redirects]]
from = "/"
to = "https://example.org/"
`,
		want: []want{{7, 1, "vhost[0].redirects", `unknown key (did you mean "redirect"?)`}},
	}})
}

func TestUnknownKeyIsErrorWithLine(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "typo in vhost",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"

[[vhost]]
hosts = ["example.com"]
root = "site"
rooot = "site"
`,
		want: []want{{8, 1, "vhost[0].rooot", `unknown key (did you mean "root"?)`}},
	}, {
		name: "top level, server, and a table header in the second vhost",
		src: `
lisen = "x"
[server]
log_levle = "info"
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
hosts = ["a.example"]
root = "site"
[[vhost]]
hosts = ["b.example"]
root = "site"
[vhost.pathz]
"/a" = "pages/about.html"
`,
		want: []want{
			{1, 1, "lisen", "unknown key"},
			{3, 1, "server.log_levle", `unknown key (did you mean "log_level"?)`},
			{13, 1, "vhost[1].pathz", `unknown key (did you mean "paths"?)`},
		},
	}, {
		name: "inside an inline path table and a redirect",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
hosts = ["example.com"]
paths = { "/k" = { file = "tmpl/ok.html", templat = true } }
[[vhost.redirect]]
from = "/a"
to = "/b"
code = 301
`,
		want: []want{
			{6, 43, `vhost[0].paths."/k".templat`, `did you mean "template"?`},
			{10, 1, "vhost[0].redirect[0].code", "unknown key"},
		},
	}})
}

func TestListenersNeedUniqueNamesAndHostPortAddresses(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "no listener",
		src: `
[[vhost]]
hosts = ["example.com"]
root = "site"
`,
		want: []want{{0, 0, "listener", "no listener defined"}},
	}, {
		name: "empty file has neither listener nor vhost",
		src:  "\n# nothing yet\n",
		want: []want{
			{0, 0, "listener", "no listener defined"},
			{0, 0, "vhost", "no vhost defined"},
		},
	}, {
		name: "duplicate names and addresses; port 0 never clashes",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[listener]]
name = "web"
address = "127.0.0.1:08080"
[[listener]]
name = "any"
address = ":0"
[[listener]]
name = "any2"
address = ":0"
[[vhost]]
hosts = ["example.com"]
root = "site"
`,
		want: []want{
			{5, 8, "listener[1].name", `listener "web" is already defined by listener[0]`},
			{6, 11, "listener[1].address", `address "127.0.0.1:08080" is already used by listener[0]`},
		},
	}, {
		name: "address must be host:port with a numeric port",
		src: `
[[listener]]
name = "a"
address = "localhost"
[[listener]]
name = "b"
address = "127.0.0.1:http"
[[listener]]
name = "c"
address = "127.0.0.1:65536"
[[listener]]
name = "d"
address = "[::1]:8080"
[[listener]]
address = "bad host:80"
[[vhost]]
hosts = ["example.com"]
listeners = ["a"]
root = "site"
`,
		want: []want{
			{3, 11, "listener[0].address", "is not host:port: missing port in address"},
			{6, 11, "listener[1].address", "the port must be a number from 0 to 65535"},
			{9, 11, "listener[2].address", "the port must be a number from 0 to 65535"},
			{13, 1, "listener[4].name", "missing"},
			{14, 11, "listener[4].address", "neither an IP address nor a host name"},
		},
	}})
}

func TestVhostMustNameExistingListener(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "a vhost naming a listener that is not defined",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"

[[vhost]]
hosts = ["a.example"]
root = "site"

[[vhost]]
hosts = ["b.example"]
root = "site"

[[vhost]]
hosts = ["c.example"]
root = "site"
listeners = [
  "wbe",
  "web",
  "nope",
]
`,
		want: []want{
			{17, 3, "vhost[2].listeners[0]", `no listener named "wbe"`},
			{19, 3, "vhost[2].listeners[2]", `no listener named "nope"`},
		},
	}, {
		name: "an empty list is not every listener",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
hosts = ["a.example"]
root = "site"
listeners = []
`,
		want: []want{{7, 13, "vhost[0].listeners", "must name at least one listener"}},
	}})
}

func TestHostClaimedTwiceOnOneListener(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "after normalization, and through the every-listener default",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[listener]]
name = "alt"
address = "127.0.0.1:8081"
[[vhost]]
hosts = ["example.com", "*.example.org"]
root = "site"
[[vhost]]
hosts = ["www.example.com", "EXAMPLE.com."]
root = "site"
[[vhost]]
hosts = ["*.Example.ORG"]
listeners = ["alt"]
root = "site"
`,
		want: []want{
			{11, 29, "vhost[1].hosts[1]", `host "example.com" on listener "web" is already claimed by vhost[0]`},
			{14, 10, "vhost[2].hosts[0]", `host "*.example.org" on listener "alt" is already claimed by vhost[0]`},
		},
	}})
}

func TestTwoDefaultsOnOneListener(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "second default",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
default = true
root = "site"
[[vhost]]
hosts = ["example.com"]
default = true
root = "site"
`,
		want: []want{{9, 11, "vhost[1].default", `listener "web" already has a default vhost: vhost[0]`}},
	}})
}

func TestHostPatternMustBeValid(t *testing.T) {
	long := strings.Repeat("a", 64)
	runErrCases(t, []errCase{{
		name: "bad names and wildcards",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
root = "site"
hosts = [
  "under_score.example",
  "*",
  "a.*.example",
  "-lead.example",
  "example.com:8080",
  "a..b",
  "` + long + `.example",
  "",
  "ok.example", "bücher.example", "xn--bcher-kva.example",
]
`,
		want: []want{
			{7, 3, "vhost[0].hosts[0]", `"under_score.example" is not a valid host name`},
			{8, 3, "vhost[0].hosts[1]", `a wildcard is a leading "*."`},
			{9, 3, "vhost[0].hosts[2]", `a wildcard is a leading "*."`},
			{10, 3, "vhost[0].hosts[3]", `"-lead.example" is not a valid host name`},
			{11, 3, "vhost[0].hosts[4]", "a host has no port here"},
			{12, 3, "vhost[0].hosts[5]", "empty label"},
			{13, 3, "vhost[0].hosts[6]", "longer than 63 characters"},
			{14, 3, "vhost[0].hosts[7]", `"" is not a host name`},
		},
	}, {
		name: "hosts may be left out only by the default vhost",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
root = "site"
[[vhost]]
root = "site"
hosts = []
`,
		want: []want{
			{4, 1, "vhost[0].hosts", "at least one host unless it is the default"},
			{8, 1, "vhost[1].hosts", "at least one host unless it is the default"},
		},
	}})
}

func TestRootMustBeReadableDirectory(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "missing, a file, empty",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
hosts = ["a.example"]
root = "missing"
[[vhost]]
hosts = ["b.example"]
root = "file.txt"
[[vhost]]
hosts = ["c.example"]
root = ""
`,
		want: []want{
			{6, 8, "vhost[0].root", "missing\" does not exist"},
			{9, 8, "vhost[1].root", "file.txt\" is not a directory"},
			{12, 8, "vhost[2].root", "must not be empty"},
		},
	}})
}

func TestMappedFilesMustBeReadable(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "paths, templates and error pages",
		src: `
[server.error_pages]
400 = "errors/400.html"
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
hosts = ["example.com"]
[vhost.paths]
"/missing" = "pages/nope.html"
"/dir" = "site/sub"
"/ok" = "pages/about.html"
"/tmpl" = { file = "tmpl/nope.html", template = true }
[vhost.error_pages]
404 = "errors/nope.html"
500 = "site"
`,
		want: []want{
			{2, 7, "server.error_pages.400", "400.html\" does not exist"},
			{9, 14, `vhost[0].paths."/missing"`, "nope.html\" does not exist"},
			{10, 10, `vhost[0].paths."/dir"`, "sub\" is a directory, not a file"},
			{12, 20, `vhost[0].paths."/tmpl".file`, "nope.html\" does not exist"},
			{14, 7, "vhost[0].error_pages.404", "nope.html\" does not exist"},
			{15, 7, "vhost[0].error_pages.500", "site\" is a directory, not a file"},
		},
	}})
}

func TestTemplateThatDoesNotParseIsAnErrorAtItsEntry(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "inline and sub-table entries",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
hosts = ["example.com"]
[vhost.paths]
"/good" = { file = "tmpl/ok.html", template = true }
"/bad" = { file = "tmpl/bad.html", template = true }
"/plain" = { file = "tmpl/bad.html" }

[vhost.paths."/also-bad"]
template = true
file = "tmpl/bad.html"
`,
		want: []want{
			{8, 19, `vhost[0].paths."/bad".file`, "template does not parse: template: tmpl/bad.html:2: "},
			{13, 8, `vhost[0].paths."/also-bad".file`, "template does not parse: template: tmpl/bad.html:2: "},
		},
	}})
}

func TestPathKeyMustStartWithSlash(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "relative key",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
hosts = ["example.com"]
[vhost.paths]
"/about" = "pages/about.html"
"about" = "pages/about.html"
`,
		want: []want{{8, 1, "vhost[0].paths.about", `must start with "/"`}},
	}})
}

func TestErrorPageStatusMustBe4xxOr5xx(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "out of range and not a number",
		src: `
[server.error_pages]
399 = "errors/404.html"
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
hosts = ["example.com"]
root = "site"
[vhost.error_pages]
404 = "errors/404.html"
600 = "errors/404.html"
"4xx" = "errors/404.html"
"0404" = "errors/404.html"
`,
		want: []want{
			{2, 1, "server.error_pages.399", "status 399 is not an error status (400-599)"},
			{11, 1, "vhost[0].error_pages.600", "status 600 is not an error status (400-599)"},
			{12, 1, "vhost[0].error_pages.4xx", `"4xx" is not an HTTP status code`},
			{13, 1, "vhost[0].error_pages.0404", `"0404" is not an HTTP status code`},
		},
	}})
}

func TestRedirectNeedsAValidStatusAPathFromAndATarget(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "status, from and to",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
hosts = ["example.com"]
[[vhost.redirect]]
from = "/old"
to = "/new"
status = 300
[[vhost.redirect]]
from = "old"
to = "/new"
[[vhost.redirect]]
from = "/a*"
to = "/b\r\nSet-Cookie: x"
[[vhost.redirect]]
to = ""
[[vhost.redirect]]
from = "/old"
to = "/x"
`,
		want: []want{
			{9, 10, "vhost[0].redirect[0].status", "300 is not a redirect status; use 301, 302, 303, 307 or 308"},
			{11, 8, "vhost[0].redirect[1].from", `"old" must start with "/"`},
			{14, 8, "vhost[0].redirect[2].from", `"*" may only end a prefix, as "/*"`},
			{15, 6, "vhost[0].redirect[2].to", "must not contain control characters"},
			{16, 1, "vhost[0].redirect[3].from", "missing"},
			{17, 6, "vhost[0].redirect[3].to", "must not be empty"},
			{19, 8, "vhost[0].redirect[4].from", `"/old" is already redirected by vhost[0].redirect[0]`},
		},
	}})
}

func TestSiteHeadersAreTokensWithoutControlBytesAndNeverFraming(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "names are tokens, values have no CTLs, framing is the server's",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
hosts = ["example.com"]
root = "site"
[vhost.headers]
"Bad Header" = "x"
X-Split = "a\r\nInjected: yes"
Content-Length = "5"
x-frame-options = "DENY"
X-Frame-Options = "SAMEORIGIN"
X-Tab = "a\tb"
X-Nul = "a\u0000b"
`,
		want: []want{
			{8, 1, `vhost[0].headers."Bad Header"`, `"Bad Header" is not a valid header name`},
			{9, 11, "vhost[0].headers.X-Split", "must not contain control characters"},
			{10, 1, "vhost[0].headers.Content-Length", "managed by the server"},
			{11, 1, "vhost[0].headers.x-frame-options", `same header as "X-Frame-Options"`},
			{14, 9, "vhost[0].headers.X-Nul", "must not contain control characters"},
		},
	}})
}

func TestVhostNeedsSomethingToServe(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "no root, paths or redirects",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
hosts = ["a.example"]
listing = true
[[vhost]]
hosts = ["b.example"]
[vhost.paths]
`,
		want: []want{
			{4, 1, "vhost[0]", "nothing to serve"},
			{7, 1, "vhost[1]", "nothing to serve"},
		},
	}})
}

func TestServerValuesAreKnownWordsPositiveDurationsAndSizesInRange(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "enums, durations, sizes, access log",
		src: `
[server]
log_level = "verbose"
log_format = "text"
access_log_format = "common"
read_header_timeout = "10"
idle_timeout = "-5s"
write_timeout = "0s"
shutdown_timeout = 15
max_header_bytes = 0
max_body_bytes = -1
max_connections = 3000000000
access_log = "nodir/access.log"
max_requests_per_connection = 0
[[listener]]
name = "web"
address = "127.0.0.1:8080"
[[vhost]]
hosts = ["example.com"]
root = "site"
`,
		want: []want{
			{2, 13, "server.log_level", `"verbose" is not one of debug, info, warn or error`},
			{3, 14, "server.log_format", `"text" is not one of console or json`},
			{4, 21, "server.access_log_format", `"common" is not one of json or combined`},
			{5, 23, "server.read_header_timeout", `"10" is not a duration`},
			{6, 16, "server.idle_timeout", `must be greater than zero, not "-5s"`},
			{7, 17, "server.write_timeout", `must be greater than zero, not "0s"`},
			{8, 20, "server.shutdown_timeout", `must be a duration string such as "750ms" or "10s", not an integer`},
			{9, 20, "server.max_header_bytes", "must be at least 1, not 0"},
			{10, 18, "server.max_body_bytes", "must not be negative, not -1"},
			{11, 19, "server.max_connections", "must be at most 2147483647"},
			{12, 14, "server.access_log", "cannot create a log file there"},
			{13, 31, "server.max_requests_per_connection", "must be at least 1, not 0"},
		},
	}})
}

func TestTypeMismatchIsReportedWithKey(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "scalars, arrays and tables",
		src: `
[[listener]]
name = "web"
address = 8080
[[vhost]]
hosts = "example.com"
root = "site"
listing = "yes"
index = ["index.html", 1]
[[vhost]]
hosts = ["b.example"]
root = "site"
redirect = { from = "/a", to = "/b" }
paths = { "/a" = 5 }
`,
		want: []want{
			{3, 11, "listener[0].address", "must be a string, not an integer"},
			{5, 9, "vhost[0].hosts", "must be an array of strings, not a string"},
			{7, 11, "vhost[0].listing", "must be a boolean (true or false), not a string"},
			{8, 24, "vhost[0].index[1]", "must be a string, not an integer"},
			{12, 12, "vhost[1].redirect", "must be an array of tables ([[vhost.redirect]]), not a table"},
			{13, 18, `vhost[1].paths."/a"`, "must be a file path or a table"},
		},
	}, {
		name: "top-level shapes",
		src: `
server = "fast"
vhost = "x"
[listener]
name = "web"
`,
		want: []want{
			{1, 10, "server", "must be a table, not a string"},
			{2, 9, "vhost", "must be an array of tables ([[vhost]]), not a string"},
			{3, 1, "listener", "must be an array of tables ([[listener]]), not a table"},
		},
	}})
}

func TestAllErrorsReportedAtOnce(t *testing.T) {
	dir := newSite(t)
	path := writeConfig(t, dir, `
[server]
log_level = "loud"
[[listener]]
name = "web"
address = "127.0.0.1"
[[vhost]]
hosts = ["example.com"]
rooot = "site"
root = "missing"
[[vhost]]
hosts = ["example.com"]
listeners = ["wbe"]
root = "site"
[vhost.paths]
"/t" = { file = "tmpl/bad.html", template = true }
[[vhost.redirect]]
from = "/a"
to = "/b"
status = 200
`)
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	wantPrefixes := []string{
		path + ":2:13: server.log_level: ",
		path + ":5:11: listener[0].address: ",
		path + ":8:1: vhost[0].rooot: ",
		path + ":9:8: vhost[0].root: ",
		path + ":12:14: vhost[1].listeners[0]: ",
		path + ":15:17: vhost[1].paths.\"/t\".file: ",
		path + ":19:10: vhost[1].redirect[0].status: ",
	}
	if len(lines) != len(wantPrefixes) {
		t.Fatalf("got %d lines, want %d:\n%v", len(lines), len(wantPrefixes), err)
	}
	for i, p := range wantPrefixes {
		if !strings.HasPrefix(lines[i], p) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], p)
		}
	}
}

func TestInlineArraysOfTablesArePlacedToo(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "vhosts and listeners as inline tables",
		src: `
listener = [{ name = "web", address = "127.0.0.1:0" }]
vhost = [
  { hosts = ["a.example"], root = "site" },
  { hosts = ["b.example"], root = "missing", index = ["ok.html", "../up.html"] },
  { hosts = ["c.example"], root = "site", listeners = ["nope"] },
]
[server]
access_log = "site"
`,
		want: []want{
			{4, 35, "vhost[1].root", "does not exist"},
			{4, 66, "vhost[1].index[1]", `"../up.html" is not a file name`},
			{5, 56, "vhost[2].listeners[0]", `no listener named "nope"`},
			{8, 14, "server.access_log", "is a directory, not a log file"},
		},
	}})
}
