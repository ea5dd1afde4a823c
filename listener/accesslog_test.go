package listener

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	if _, err := ts.sup.Apply(ts.cfg, Snapshot{Routers: routers, Access: al}); err != nil {
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

func TestAccessLogCombinedFormat(t *testing.T) {
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

func TestAccessLogReopenAfterRename(t *testing.T) {
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
