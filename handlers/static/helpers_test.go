package static

import (
	"testing"
	"time"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/handlertest"
	"github.com/moreweb/moreweb/internal/testkit"
)

// testTime is the mtime of every file a test writes, so dates in requests
// can be written as constants.
var testTime = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testDate   = "Fri, 01 Mar 2024 12:00:00 GMT"
	beforeDate = "Fri, 01 Mar 2024 11:59:59 GMT"
	afterDate  = "Fri, 01 Mar 2024 12:00:01 GMT"
)

// writeTree writes files into a new temporary directory, dated testTime.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	testkit.WriteTreeAt(t, root, files, testTime)
	return root
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newStatic(t testing.TB, o Options) *Static {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// do serves one request: method and target, then header lines "Name: value".
func do(t testing.TB, h handlers.Handler, method, target string, header ...string) (*handlertest.Recorder, error) {
	t.Helper()
	raw := method + " " + target + " HTTP/1.1\r\nHost: example.com\r\n"
	for _, f := range header {
		raw += f + "\r\n"
	}
	raw += "\r\n"
	rec := handlertest.NewRecorder()
	err := h.Serve(rec, handlertest.Request(t, raw))
	if err != nil && rec.Written() {
		t.Fatalf("%s %s: wrote a response and returned %v", method, target, err)
	}
	return rec, err
}

// status is what the client would see: the written status, or the error's.
func status(rec *handlertest.Recorder, err error) int {
	if err != nil {
		return handlers.StatusOf(err)
	}
	return rec.Code
}

// checkBodyLength verifies the invariant the listener relies on: a declared
// length is exactly what was written (HEAD, 204 and 304 write nothing).
func checkBodyLength(t testing.TB, method string, rec *handlertest.Recorder) {
	t.Helper()
	if !rec.Written() {
		return
	}
	if method == "HEAD" || rec.Code == 204 || rec.Code == 304 {
		if rec.Body.Len() != 0 {
			t.Errorf("%d to %s has a %d-byte body", rec.Code, method, rec.Body.Len())
		}
		return
	}
	if rec.ContentLength >= 0 && int64(rec.Body.Len()) != rec.ContentLength {
		t.Errorf("Content-Length %d, body %d bytes", rec.ContentLength, rec.Body.Len())
	}
}

// bodyModes are the two ways a file's body is served: from the cache's
// memory (a small file that has settled, as deployed files have) and from a
// descriptor opened for the request (a file written moments ago, or a big
// one). The RFC tables run in both.
var bodyModes = []string{"memory", "file"}

func forEachMode(t *testing.T, f func(t *testing.T, mode string)) {
	for _, mode := range bodyModes {
		t.Run(mode, func(t *testing.T) { f(t, mode) })
	}
}

// newStaticMode is newStatic with small files served the mode's way.
func newStaticMode(t testing.TB, mode string, o Options) *Static {
	t.Helper()
	s := newStatic(t, o)
	if mode == "memory" {
		settle(&s.now)
	}
	return s
}

// fileMode is File with its body served the mode's way.
func fileMode(path, mode string) handlers.Handler {
	h := File(path).(*fileHandler)
	if mode == "memory" {
		settle(&h.now)
	}
	return h
}
