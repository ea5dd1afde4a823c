package static_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/handlertest"
	"github.com/moreweb/moreweb/handlers/static"
	"github.com/moreweb/moreweb/internal/testkit"
	"github.com/moreweb/moreweb/parser"
)

const fuzzSecret = "FUZZ-SECRET-OUTSIDE-ROOT"

// FuzzStaticRequest drives every request-header parser of the static
// handler (path decoding and the root, Range, Accept-Encoding, If-Match,
// If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range, the
// listing's sort query) through its public API, with the invariants the
// server relies on: no panic; nothing from outside the root; a declared
// Content-Length is the body's length; a 206 names ranges inside the file;
// no answer is larger than the file and its multipart framing.
//
// The verdict on an input depends on that input alone, so that a failure
// found while fuzzing fails the same way when its file is run again, and a
// fixed one never comes back: the files have fixed modification times,
// the handler's clock is fixed (far enough ahead that the files are never
// "racy" and are held in memory as in production), the header fields go
// out in one order, and every input gets a handler of its own, whose cache
// it fills, so that no earlier input decides which path serves it. The
// request is served twice, from the cold cache and from the warm one, and
// the two answers must be the same.
func FuzzStaticRequest(f *testing.F) {
	dir := f.TempDir()
	root := filepath.Join(dir, "root")
	data := strings.Repeat("0123456789", 10)
	modified := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	testkit.WriteTreeAt(f, dir, map[string]string{
		"root/data.txt":        data,
		"root/data.txt.gz":     "gz-sidecar",
		"root/data.txt.br":     "br-sidecar",
		"root/dir/index.html":  "index",
		"root/list/a.txt":      "a",
		"root/list/<b>&'\".md": "b",
		"root/link":            "->../secret.txt",
		"root/dir/":            "",
		"root/list/":           "",
		"root/":                "",
		"secret.txt":           fuzzSecret,
	}, modified)
	clock := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

	f.Add("GET", "/data.txt", "bytes=0-4,10-", "gzip, br;q=0.5", `"x", W/"y"`, "Fri, 01 Mar 2024 12:00:00 GMT", `"x"`)
	f.Add("HEAD", "/data.txt", "bytes=-5", "*;q=0, identity", "*", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994")
	f.Add("GET", "/list/?sort=size&sort=time", "bytes=99999999999999999999-", "gzip;q=1.0001", "", "", "")
	f.Add("GET", "/%2e%2e/secret.txt", "bytes=0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0", "br;q=0.", "W/", "x", "W/\"a\"")
	f.Add("OPTIONS", "/link", "bytes=5-1", "x-gzip;q=0.001;q=1", `"unterminated`, "Fri, 31 Feb 2024 25:00:00 GMT", "")
	f.Fuzz(func(t *testing.T, method, target, rng, ae, etag, date, ifRange string) {
		var b strings.Builder
		b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: example.com\r\n")
		for _, field := range [][2]string{
			{"Range", rng}, {"Accept-Encoding", ae}, {"If-None-Match", etag}, {"If-Match", etag},
			{"If-Modified-Since", date}, {"If-Unmodified-Since", date}, {"If-Range", ifRange},
		} {
			if field[1] != "" {
				b.WriteString(field[0] + ": " + field[1] + "\r\n")
			}
		}
		b.WriteString("\r\n")
		raw := b.String()
		if _, err := parser.NewReader(strings.NewReader(raw), parser.Limits{}).ReadRequest(); err != nil {
			return // refused by the parser: never reaches a handler
		}
		s, err := static.New(static.Options{Root: root, Listing: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		cold := serveStatic(t, s, raw, clock, method, target, len(data))
		warm := serveStatic(t, s, raw, clock, method, target, len(data))
		if cold != warm {
			t.Fatalf("%s %q: served from the warm cache\n%s\nfrom the cold one\n%s", method, target, warm, cold)
		}
	})
}

// serveStatic serves raw at the given clock, checks the answer against
// the invariants, and returns it as text for comparison.
func serveStatic(t *testing.T, s *static.Static, raw string, clock time.Time, method, target string, size int) string {
	t.Helper()
	req := handlertest.Request(t, raw)
	req.Received = clock
	rec := handlertest.NewRecorderFor(req)
	err := s.Serve(rec, req)
	if err != nil {
		if rec.Written() {
			t.Fatalf("wrote %d and returned %v", rec.Code, err)
		}
		if st := handlers.StatusOf(err); st < 400 || st > 599 {
			t.Fatalf("error with status %d: %v", st, err)
		}
		return "error " + err.Error()
	}
	body := rec.Body.Bytes()
	if bytes.Contains(body, []byte(fuzzSecret)) {
		t.Fatalf("%s %q served the file outside the root", method, target)
	}
	if method == "HEAD" || rec.Code == 204 || rec.Code == 304 {
		if len(body) != 0 {
			t.Fatalf("%d to %s with a %d-byte body", rec.Code, method, len(body))
		}
	} else if rec.ContentLength >= 0 && int64(len(body)) != rec.ContentLength {
		t.Fatalf("Content-Length %d, body %d bytes", rec.ContentLength, len(body))
	}
	if rec.Code == 206 {
		checkRanges(t, rec)
	}
	if rec.Code/100 == 2 && len(body) > size+16*256 && !bytes.Contains(body, []byte("<html")) {
		t.Fatalf("%d answer of %d bytes for a %d-byte file", rec.Code, len(body), size)
	}
	var answer strings.Builder
	fmt.Fprintf(&answer, "%d length %d\n", rec.Code, rec.ContentLength)
	for i := 0; i < rec.Head.Len(); i++ {
		fl := rec.Head.At(i)
		fmt.Fprintf(&answer, "%s: %s\n", fl.Name, fl.Value)
	}
	answer.Write(body)
	// Each multipart answer has a boundary of its own, drawn at random.
	if _, boundary, ok := strings.Cut(rec.Head.Get("Content-Type"), "boundary="); ok && boundary != "" {
		return strings.ReplaceAll(answer.String(), boundary, "BOUNDARY")
	}
	return answer.String()
}

var contentRange = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// checkRanges: every Content-Range of a 206, in the head or in the parts,
// lies inside the representation it names.
func checkRanges(t *testing.T, rec *handlertest.Recorder) {
	t.Helper()
	var ranges []string
	if cr := string(rec.Head.Get("Content-Range")); cr != "" {
		ranges = append(ranges, cr)
	}
	for _, line := range strings.Split(rec.Body.String(), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Content-Range: "); ok {
			ranges = append(ranges, v)
		}
	}
	if len(ranges) == 0 {
		t.Fatal("206 without Content-Range")
	}
	for _, cr := range ranges {
		m := contentRange.FindStringSubmatch(cr)
		if m == nil {
			t.Fatalf("Content-Range %q", cr)
		}
		first, _ := strconv.Atoi(m[1])
		last, _ := strconv.Atoi(m[2])
		total, _ := strconv.Atoi(m[3])
		if first > last || last >= total {
			t.Fatalf("Content-Range %q", cr)
		}
	}
}
