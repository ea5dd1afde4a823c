package listener

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/handlertest"
)

func readLogLines(t *testing.T, path string, want int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(data) > 0 && len(lines) >= want {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %s has %q, want %d lines", path, data, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func serveWithAccessLog(t *testing.T, format string) (*testServer, string) {
	path := filepath.Join(t.TempDir(), "access.log")
	al, err := OpenAccessLog(path, format)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	ts := startServer(t, testRouter{"": echoPath}, nil)
	routers := map[string]Router{ts.cfg.Listeners[0].Name: testRouter{"": echoPath}}
	if _, err := ts.sup.Apply(ts.cfg, Snapshot{Errors: testPages, Routers: routers, Access: al}); err != nil {
		t.Fatal(err)
	}
	return ts, path
}

func TestAccessLogJSONHasEveryFieldAndEscapesClientText(t *testing.T) {
	ts, path := serveWithAccessLog(t, "json")
	c := ts.dial(t)
	c.send("GET /p?q=1 HTTP/1.1\r\nHost: site\r\nUser-Agent: evil\xff\"agent\\\r\nReferer: http://r/\r\n\r\n")
	c.response("GET")
	line := readLogLines(t, path, 1)[0]
	if strings.ContainsAny(line, "\xff\r") {
		t.Fatalf("raw control byte in log: %q", line)
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("not JSON: %q: %v", line, err)
	}
	for _, k := range []string{"time", "remote", "vhost", "method", "target", "protocol", "status", "bytes", "duration_ms", "referer", "user_agent"} {
		if _, ok := e[k]; !ok {
			t.Errorf("entry lacks %q: %s", k, line)
		}
	}
	if e["user_agent"] != "evil\ufffd\"agent\\" || e["target"] != "/p?q=1" || e["status"] != 200.0 || e["vhost"] != "default" {
		t.Errorf("fields: %v", e)
	}
}

func TestAccessLogCombinedLineHasTheApacheFields(t *testing.T) {
	ts, path := serveWithAccessLog(t, "combined")
	c := ts.dial(t)
	c.send("GET /x HTTP/1.1\r\nHost: site\r\nUser-Agent: curl/8 \"x\"\xfe\r\n\r\n")
	c.response("GET")
	line := readLogLines(t, path, 1)[0]
	// Quotes and bytes outside printable ASCII are escaped as nginx does.
	if !strings.HasPrefix(line, "127.0.0.1 - - [") || !strings.Contains(line, `] "GET /x HTTP/1.1" 200 `) ||
		!strings.HasSuffix(line, ` "-" "curl/8 \x22x\x22\xfe"`) {
		t.Fatalf("combined line: %q", line)
	}
}

func TestAccessLogReopenWritesToTheNewFileAfterARename(t *testing.T) {
	ts, path := serveWithAccessLog(t, "json")
	snap := ts.sup.servers[ts.cfg.Listeners[0].Address].snap.Load()
	c := ts.dial(t)
	c.send("GET /before HTTP/1.1\r\nHost: x\r\n\r\n")
	c.response("GET")
	readLogLines(t, path, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := snap.access.Reopen(); err != nil {
		t.Fatal(err)
	}
	c.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	c.response("GET")
	lines := readLogLines(t, path, 1)
	if !strings.Contains(lines[0], "/after") {
		t.Fatalf("new file: %q", lines)
	}
}

func TestAccessLogRefusedRequestIsLogged(t *testing.T) {
	ts, path := serveWithAccessLog(t, "json")
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
	c.response("GET")
	line := readLogLines(t, path, 1)[0]
	if !strings.Contains(line, `"status":400`) {
		t.Fatalf("%q", line)
	}
}

// neutralRequest is a request as a protocol other than HTTP/1.1 hands it
// over: built without the parser, with its own protocol name.
func neutralRequest(t *testing.T) *handlers.Request {
	r := handlertest.NewRequest(t, "GET", "/h2?x=1", "Host: site", "User-Agent: h2load", "Referer: http://r/")
	r.Proto = "HTTP/2.0"
	return r
}

// formatEntry formats one entry for r the way Log does, in format.
func formatEntry(t *testing.T, format string, r *handlers.Request) string {
	t.Helper()
	var out bytes.Buffer
	l := newAccessLog(format)
	l.out = &out
	l.Log(0, "[2001:db8::1]:443", "site", r, 200, 5, time.Millisecond)
	flushAt(l, time.Now())
	return out.String()
}

func TestAccessLogEntryComesFromTheNeutralRequestWhateverTheProtocol(t *testing.T) {
	var e map[string]any
	line := formatEntry(t, "json", neutralRequest(t))
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("not JSON: %q: %v", line, err)
	}
	if e["method"] != "GET" || e["target"] != "/h2?x=1" || e["protocol"] != "HTTP/2.0" ||
		e["user_agent"] != "h2load" || e["referer"] != "http://r/" {
		t.Errorf("json entry: %v", e)
	}
	line = formatEntry(t, "combined", neutralRequest(t))
	if !strings.HasPrefix(line, `2001:db8::1 - - [`) || !strings.Contains(line, `] "GET /h2?x=1 HTTP/2.0" 200 5 "http://r/" "h2load"`) {
		t.Errorf("combined entry: %q", line)
	}
}

// A protocol may leave the header out, and its method is not always one
// the HTTP/1.1 parser has checked to be a token.
func TestAccessLogEntryEscapesTheMethodAndToleratesNoHeader(t *testing.T) {
	r := neutralRequest(t)
	r.Header = nil
	r.Method = "G\"E\nT"
	line := formatEntry(t, "combined", r)
	if !strings.Contains(line, `] "G\x22E\x0aT /h2?x=1 HTTP/2.0" 200 5 "-" "-"`) {
		t.Errorf("combined entry: %q", line)
	}
	var e map[string]any
	line = formatEntry(t, "json", r)
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("not JSON: %q: %v", line, err)
	}
	if e["method"] != "G\"E\nT" || e["user_agent"] != "" {
		t.Errorf("json entry: %v", e)
	}
}

func TestAccessLogEntryForAnUnparsedRequestHasNoRequestFields(t *testing.T) {
	line := formatEntry(t, "combined", nil)
	if !strings.Contains(line, `] "-" 200 5 "-" "-"`) {
		t.Errorf("combined entry: %q", line)
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(formatEntry(t, "json", nil)), &e); err != nil {
		t.Fatal(err)
	}
	if e["method"] != "" || e["target"] != "" || e["protocol"] != "" {
		t.Errorf("json entry: %v", e)
	}
}

// Logging a request formats into the shard's buffer and allocates nothing,
// in either format.
func TestAccessLogEntryDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	r := neutralRequest(t)
	for _, format := range []string{"json", "combined"} {
		l := newAccessLog(format)
		l.out = io.Discard
		// Room for every entry, so that growing the buffer is not counted.
		l.shards[0].buf = make([]byte, 0, 1<<20)
		allocs := testing.AllocsPerRun(100, func() {
			l.Log(0, "192.0.2.1:4000", "site", r, 200, 1024, time.Millisecond)
		})
		if allocs > 0 {
			t.Errorf("%s: %.1f allocations per entry, want 0", format, allocs)
		}
	}
}
