package h2

import (
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/moreweb/moreweb/handlers"
)

// RFC 9113 §8.1: trailers end the stream as a HEADERS frame after the
// body; a client reads them as net/http's Trailer.
func TestRFC9113_8_1_TrailersFollowTheBody(t *testing.T) {
	ts := startServer(t, Options{}, func(w *ResponseWriter, r *handlers.Request) {
		w.Trailer().Set("X-Checksum", "abc123")
		w.WriteString("body")
	})
	resp, err := client().Get("http://" + ts.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "body" {
		t.Fatalf("body %q, %v", b, err)
	}
	if got := resp.Trailer.Get("X-Checksum"); got != "abc123" {
		t.Fatalf("trailer X-Checksum %q, want abc123 (trailers %v)", got, resp.Trailer)
	}
}

// RFC 9110 §15.2, RFC 8297: an interim 103 goes out as a HEADERS frame of
// its own before the final response, on the same stream.
func TestRFC9110_15_2_EarlyHintsPrecedeTheFinalResponse(t *testing.T) {
	ts := startServer(t, Options{}, func(w *ResponseWriter, r *handlers.Request) {
		w.Header().Set("Link", "</site.css>; rel=preload; as=style")
		w.WriteHeader(103)
		w.Header().Del("Link")
		w.WriteString("page")
	})
	rc := dialRaw(t, ts.addr)
	rc.get(1, "/", true)
	var statuses []string
	var link string
	rc.waitFor(t, func(f http2.Frame) bool {
		if h, ok := f.(*http2.HeadersFrame); ok && h.StreamID == 1 {
			for _, hf := range rc.fields[1] {
				switch hf.Name {
				case ":status":
					statuses = append(statuses, hf.Value)
				case "link":
					if hf.Value != "" && len(statuses) == 1 {
						link = hf.Value
					}
				}
			}
			return h.StreamEnded()
		}
		d, ok := f.(*http2.DataFrame)
		return ok && d.StreamID == 1 && d.StreamEnded()
	})
	if len(statuses) != 2 || statuses[0] != "103" || statuses[1] != "200" {
		t.Fatalf("statuses %v, want [103 200]", statuses)
	}
	if link == "" {
		t.Fatal("the 103 carried no Link field")
	}
}

// RFC 9113 §8.1, §5.4.2: a stream the client resets ends its request's
// context, so that a handler waiting on something stops.
func TestRFC9113_5_4_2_ResetStreamEndsTheRequestContext(t *testing.T) {
	started := make(chan struct{})
	ended := make(chan struct{})
	ts := startServer(t, Options{}, func(w *ResponseWriter, r *handlers.Request) {
		if string(r.Path) != "/wait" {
			return
		}
		close(started)
		select {
		case <-r.Context().Done():
			close(ended)
		case <-time.After(5 * time.Second):
		}
	})
	rc := dialRaw(t, ts.addr)
	rc.get(1, "/wait", true)
	<-started
	rc.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	select {
	case <-ended:
	case <-time.After(3 * time.Second):
		t.Fatal("the handler's context did not end when the client reset the stream")
	}
	// The connection goes on.
	stillServesOn(t, rc, 3)
}

func stillServesOn(t *testing.T, rc *rawClient, id uint32) {
	t.Helper()
	rc.get(id, "/", true)
	rc.waitFor(t, func(f http2.Frame) bool { h, ok := f.(*http2.HeadersFrame); return ok && h.StreamID == id })
}
