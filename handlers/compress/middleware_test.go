package compress

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/handlertest"
)

var text = strings.Repeat("a template renders text like this line, again and again.\n", 50)

func decode(t *testing.T, coding string, b []byte) string {
	t.Helper()
	var r io.Reader
	switch coding {
	case "":
		return string(b)
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", coding, err)
	}
	return string(out)
}

// serve runs h behind the middleware for a request with the given header
// lines.
func serve(t *testing.T, h handlers.HandlerFunc, method string, header ...string) *handlertest.Recorder {
	t.Helper()
	raw := method + " /x HTTP/1.1\r\nHost: a.test\r\n" + strings.Join(append(header, ""), "\r\n") + "\r\n"
	rec := handlertest.NewRecorder()
	rec.Method = method
	if err := New(Default)(h).Serve(rec, handlertest.Request(t, raw)); err != nil {
		t.Fatal(err)
	}
	return rec
}

func textHandler(ctype string, declare bool) handlers.HandlerFunc {
	return func(w handlers.ResponseWriter, r *handlers.Request) error {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("ETag", `"v1"`)
		if declare {
			w.SetContentLength(int64(len(text)))
		}
		_, err := w.WriteString(text)
		return err
	}
}

func TestStreamsAreCompressedInEachCodingAndDecodeToTheBody(t *testing.T) {
	for _, coding := range []string{"zstd", "br", "gzip"} {
		for _, declare := range []bool{false, true} {
			rec := serve(t, textHandler("text/html; charset=utf-8", declare), "GET", "Accept-Encoding: "+coding)
			if rec.Head.Get("Content-Encoding") != coding || rec.ContentLength != -1 || rec.Head.Get("Vary") != "Accept-Encoding" {
				t.Fatalf("%s: Content-Encoding %q, length %d, Vary %q", coding, rec.Head.Get("Content-Encoding"), rec.ContentLength, rec.Head.Get("Vary"))
			}
			if got := decode(t, coding, rec.Body.Bytes()); got != text {
				t.Fatalf("%s: decoded body differs", coding)
			}
			if rec.Head.Get("ETag") != `"v1-`+coding+`"` {
				t.Errorf("%s: ETag %q", coding, rec.Head.Get("ETag"))
			}
		}
	}
}

func TestAFlushReachesTheClientDecodable(t *testing.T) {
	var atFlush []byte
	rec := serve(t, func(w handlers.ResponseWriter, r *handlers.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteString("data: first\n\n")
		if err := w.Flush(); err != nil {
			return err
		}
		below, _ := handlers.As[*handlertest.Recorder](w)
		atFlush = bytes.Clone(below.Body.Bytes())
		w.WriteString("data: second\n\n")
		return nil
	}, "GET", "Accept-Encoding: gzip")
	if rec.Flushes == 0 {
		t.Fatal("Flush did not reach the writer below")
	}
	zr, err := gzip.NewReader(bytes.NewReader(atFlush))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("data: first\n\n"))
	if _, err := io.ReadFull(zr, got); err != nil || string(got) != "data: first\n\n" {
		t.Fatalf("what was flushed decodes to %q, %v", got, err)
	}
}

func TestResponsesLeftAsTheyAre(t *testing.T) {
	small := func(w handlers.ResponseWriter, r *handlers.Request) error {
		w.Header().Set("Content-Type", "text/plain")
		w.SetContentLength(5)
		w.WriteString("small")
		return nil
	}
	noTransform := func(w handlers.ResponseWriter, r *handlers.Request) error {
		w.Header().Set("Cache-Control", "public, no-transform")
		return textHandler("text/plain", false)(w, r)
	}
	chosen := func(w handlers.ResponseWriter, r *handlers.Request) error {
		w.Header().Set("Vary", "Accept-Encoding")
		return textHandler("text/plain", false)(w, r)
	}
	for _, tt := range []struct {
		name   string
		h      handlers.HandlerFunc
		header []string
		vary   bool
	}{
		{"an image", textHandler("image/png", true), nil, false},
		{"no Content-Type", textHandler("", true), nil, false},
		{"declared under 256 bytes", small, nil, false},
		{"no-transform from the handler", noTransform, nil, false},
		{"no-transform from the client", textHandler("text/plain", true), []string{"Cache-Control: no-transform"}, true},
		{"a range request", textHandler("text/plain", true), []string{"Range: bytes=0-1"}, true},
		{"the handler chose its coding", chosen, nil, true},
		{"identity preferred", textHandler("text/plain", true), []string{"Accept-Encoding: identity"}, true},
	} {
		header := tt.header
		if !strings.Contains(strings.Join(header, ","), "Accept-Encoding") {
			header = append(header, "Accept-Encoding: gzip, br, zstd")
		}
		rec := serve(t, tt.h, "GET", header...)
		if rec.Head.Get("Content-Encoding") != "" || rec.Body.String() != map[bool]string{true: "small", false: text}[tt.name == "declared under 256 bytes"] {
			t.Errorf("%s: Content-Encoding %q, body changed", tt.name, rec.Head.Get("Content-Encoding"))
		}
		if got := strings.Contains(rec.Head.Get("Vary"), "Accept-Encoding"); got != tt.vary {
			t.Errorf("%s: Vary %q", tt.name, rec.Head.Get("Vary"))
		}
	}
}

// A file the middleware does not compress still reaches the writer below
// as a file: sendfile is not lost by the wrapping.
func TestAFileNotCompressedKeepsItsSendfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xff}, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := serve(t, func(w handlers.ResponseWriter, r *handlers.Request) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		w.Header().Set("Content-Type", "image/jpeg")
		w.SetContentLength(4096)
		_, err = w.ReadFrom(&io.LimitedReader{R: f, N: 4096})
		return err
	}, "GET", "Accept-Encoding: gzip")
	if rec.Files != 1 || rec.ContentLength != 4096 || rec.Body.Len() != 4096 {
		t.Fatalf("files %d, length %d, body %d", rec.Files, rec.ContentLength, rec.Body.Len())
	}
}

// RFC 9110 §13.1.2: If-None-Match with the coded tag answers 304 for the
// coding being sent; HEAD carries GET's fields.
func TestCodedETagRevalidatesAndHEADMatchesGET(t *testing.T) {
	rec := serve(t, textHandler("text/css", true), "GET", "Accept-Encoding: br", `If-None-Match: "v1-br"`)
	if rec.Code != 304 || rec.Head.Get("ETag") != `"v1-br"` || rec.Body.Len() != 0 || rec.Head.Get("Content-Encoding") != "" {
		t.Fatalf("%d, ETag %q, body %d, Content-Encoding %q", rec.Code, rec.Head.Get("ETag"), rec.Body.Len(), rec.Head.Get("Content-Encoding"))
	}
	if rec := serve(t, textHandler("text/css", true), "GET", "Accept-Encoding: br", `If-None-Match: "v1-gzip"`); rec.Code != 200 {
		t.Fatalf("another coding's tag: %d", rec.Code)
	}
	get := serve(t, textHandler("text/css", true), "GET", "Accept-Encoding: zstd")
	head := serve(t, textHandler("text/css", true), "HEAD", "Accept-Encoding: zstd")
	for _, f := range []string{"Content-Encoding", "ETag", "Vary", "Content-Type"} {
		if head.Head.Get(f) != get.Head.Get(f) {
			t.Errorf("HEAD %s %q, GET %q", f, head.Head.Get(f), get.Head.Get(f))
		}
	}
	if head.ContentLength != get.ContentLength || head.Body.Len() != 0 {
		t.Errorf("HEAD length %d body %d; GET length %d", head.ContentLength, head.Body.Len(), get.ContentLength)
	}
}
