package h2

import (
	"bytes"
	"io"
	"testing"

	"golang.org/x/net/http2"

	"github.com/moreweb/moreweb/handlers"
)

var kilobyte = bytes.Repeat([]byte("k"), 1024)

// allocClient sends the same GET again and again on one connection, with
// a header block that is all references into the HPACK table (what
// browsers and h2load send once the table is warm), and reads the answer
// without allocating.
type allocClient struct {
	rc      *rawClient
	block   []byte
	id      uint32
	head    [9]byte
	payload [1 << 14]byte
}

func newAllocClient(t testing.TB, addr string) *allocClient {
	rc := dialRaw(t.(*testing.T), addr)
	ac := &allocClient{rc: rc, id: 1}
	// Window enough for every response of the test, given once.
	rc.fr.WriteWindowUpdate(0, maxWindow-65535)
	fields := []string{":method", "GET", ":scheme", "https", ":authority", "x.test", ":path", "/index.html", "user-agent", "h2load"}
	var prev []byte
	for i := 0; i < 3; i++ {
		b := rc.block(fields...)
		if i == 2 && !bytes.Equal(b, prev) {
			t.Fatal("the client's header block did not settle")
		}
		prev = b
		ac.block = b
		ac.roundTrip(t)
	}
	return ac
}

func (ac *allocClient) roundTrip(t testing.TB) {
	fr := ac.rc.fr
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: ac.id, EndHeaders: true, EndStream: true, BlockFragment: ac.block}); err != nil {
		t.Fatal(err)
	}
	ac.id += 2
	// Frames are read by hand: the Framer allocates each HEADERS frame it
	// parses, and only the server's allocations are counted.
	for {
		if _, err := io.ReadFull(ac.rc.nc, ac.head[:]); err != nil {
			t.Fatal(err)
		}
		n := int(ac.head[0])<<16 | int(ac.head[1])<<8 | int(ac.head[2])
		if _, err := io.ReadFull(ac.rc.nc, ac.payload[:n]); err != nil {
			t.Fatal(err)
		}
		if http2.FrameType(ac.head[3]) == http2.FrameData && http2.Flags(ac.head[4]).Has(http2.FlagDataEndStream) {
			return
		}
	}
}

// The h2 hot path for a small response allocates nothing of its own per
// request once the client's header fields are in the HPACK table: the
// stream, its request, writer and buffers are pooled, goroutines are
// reused across the connection's streams, and the stream that appended a
// response writes it.
func TestHTTP2SmallResponsePathAllocatesNothingPerRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	ts := startServer(t, Options{}, func(w *ResponseWriter, r *handlers.Request) {
		w.Header().SetCanonical("Content-Type", "text/html; charset=utf-8")
		w.SetContentLength(int64(len(kilobyte)))
		w.Write(kilobyte)
	})
	ac := newAllocClient(t, ts.addr)
	allocs := testing.AllocsPerRun(500, func() { ac.roundTrip(t) })
	t.Logf("%.2f allocations per request", allocs)
	if allocs > 0 {
		t.Fatalf("%.2f allocations per request, want 0", allocs)
	}
}
