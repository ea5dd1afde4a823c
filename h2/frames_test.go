package h2

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/internal/testkit"
)

// rawFrame is a frame's bytes as written, header and payload.
func rawFrame(typ http2.FrameType, flags http2.Flags, id uint32, payload []byte) []byte {
	b := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), byte(typ), byte(flags), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[5:], id)
	return append(b, payload...)
}

// The frames the connection reads itself (DATA, HEADERS, CONTINUATION)
// keep every rule the Framer keeps for the others.
func TestRFC9113_6_DataHeadersAndContinuationFramingErrorsEndTheConnection(t *testing.T) {
	ts := startServer(t, Options{}, fixed("ok"))
	for _, tt := range []struct {
		name   string
		frames func(rc *rawClient) [][]byte
		code   http2.ErrCode
	}{
		{"HEADERS on stream 0 (§6.2)", func(rc *rawClient) [][]byte {
			return [][]byte{rawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 0, rc.request("/"))}
		}, http2.ErrCodeProtocol},
		{"DATA on stream 0 (§6.1)", func(rc *rawClient) [][]byte {
			return [][]byte{rawFrame(http2.FrameData, 0, 0, []byte("x"))}
		}, http2.ErrCodeProtocol},
		{"HEADERS padding as long as the payload (§6.2)", func(rc *rawClient) [][]byte {
			return [][]byte{rawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersPadded, 1, []byte{4, 1, 2, 3})}
		}, http2.ErrCodeProtocol},
		{"padded HEADERS with no pad length (§6.2)", func(rc *rawClient) [][]byte {
			return [][]byte{rawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersPadded, 1, nil)}
		}, http2.ErrCodeProtocol},
		{"DATA padding as long as the payload (§6.1)", func(rc *rawClient) [][]byte {
			return [][]byte{
				rawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, rc.request("/")),
				rawFrame(http2.FrameData, http2.FlagDataPadded, 1, []byte{3, 0, 0}),
			}
		}, http2.ErrCodeProtocol},
		{"HEADERS too short for its priority (§6.2)", func(rc *rawClient) [][]byte {
			return [][]byte{rawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersPriority, 1, []byte{0, 0, 0})}
		}, http2.ErrCodeProtocol},
		{"HEADERS over SETTINGS_MAX_FRAME_SIZE (§4.2)", func(rc *rawClient) [][]byte {
			return [][]byte{rawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, make([]byte, maxFrameSize+1))}
		}, http2.ErrCodeFrameSize},
		{"PING inside a header block (§6.10)", func(rc *rawClient) [][]byte {
			block := rc.request("/")
			return [][]byte{
				rawFrame(http2.FrameHeaders, 0, 1, block[:2]),
				rawFrame(http2.FramePing, 0, 0, make([]byte, 8)),
				rawFrame(http2.FrameContinuation, http2.FlagContinuationEndHeaders, 1, block[2:]),
			}
		}, http2.ErrCodeProtocol},
		{"CONTINUATION of another stream (§6.10)", func(rc *rawClient) [][]byte {
			block := rc.request("/")
			return [][]byte{
				rawFrame(http2.FrameHeaders, 0, 1, block[:2]),
				rawFrame(http2.FrameContinuation, http2.FlagContinuationEndHeaders, 3, block[2:]),
			}
		}, http2.ErrCodeProtocol},
		{"CONTINUATION with no header block (§6.10)", func(rc *rawClient) [][]byte {
			return [][]byte{rawFrame(http2.FrameContinuation, http2.FlagContinuationEndHeaders, 1, rc.request("/"))}
		}, http2.ErrCodeProtocol},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, ts.addr)
			for _, f := range tt.frames(rc) {
				rc.nc.Write(f)
			}
			rc.waitFor(t, isGoAway(tt.code))
		})
	}
	stillServes(t, ts.addr)
}

// request is a GET's header block for path.
func (rc *rawClient) request(path string) []byte {
	return rc.block(":method", "GET", ":scheme", "http", ":authority", "x.test", ":path", path)
}

// Padding and priority fields are taken off before the header block and
// the body are read, and padding counts against flow control (§6.1).
func TestRFC9113_6_PaddedAndPrioritizedFramesAreServed(t *testing.T) {
	got := make(chan string, 1)
	ts := startServer(t, Options{}, func(w *ResponseWriter, r *handlers.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
		w.WriteString("ok")
	})
	rc := dialRaw(t, ts.addr)
	block := rc.block(":method", "POST", ":scheme", "http", ":authority", "x.test", ":path", "/up")
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: true, PadLength: 7,
		Priority: http2.PriorityParam{StreamDep: 0, Weight: 200, Exclusive: true}})
	rc.fr.WriteDataPadded(1, false, []byte("hello "), make([]byte, 100))
	rc.fr.WriteDataPadded(1, true, []byte("world"), nil)
	rc.waitFor(t, func(f http2.Frame) bool { d, ok := f.(*http2.DataFrame); return ok && d.StreamEnded() })
	if body := <-got; body != "hello world" {
		t.Fatalf("body %q", body)
	}
	// A HEADERS frame whose priority names its own stream is a stream
	// error (§5.3.1), read past correctly.
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: rc.request("/"), EndHeaders: true, EndStream: true,
		Priority: http2.PriorityParam{StreamDep: 3, Weight: 1}})
	rc.waitFor(t, isReset(3, http2.ErrCodeProtocol))
	rc.get(5, "/", true)
	rc.waitFor(t, func(f http2.Frame) bool { h, ok := f.(*http2.HeadersFrame); return ok && h.StreamID == 5 })
}

// A connection with no stream open waits for its next frame on a fresh
// goroutine: it is served again when a request comes, ends with GOAWAY at
// its idle timeout, and a shutdown ends it at once.
func TestIdleConnectionIsServedAgainTimedOutAndShutDownAfterTheHandoff(t *testing.T) {
	ts := startServer(t, Options{IdleTimeout: 2 * time.Second}, fixed("ok"))
	served := func(rc *rawClient, id uint32) {
		t.Helper()
		rc.get(id, "/", true)
		rc.waitFor(t, func(f http2.Frame) bool {
			d, ok := f.(*http2.DataFrame)
			return ok && d.StreamID == id && d.StreamEnded()
		})
	}
	rc := dialRaw(t, ts.addr)
	served(rc, 1)
	time.Sleep(10 * handoffAfter)
	served(rc, 3)
	start := time.Now()
	// Control frames neither keep an idle connection open nor stop its
	// handoff.
	for range 3 {
		time.Sleep(10 * handoffAfter)
		rc.fr.WritePing(false, [8]byte{})
	}

	rc.waitFor(t, isGoAway(http2.ErrCodeNo))
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("GOAWAY %v after the idle wait began, idle timeout 2s", d)
	}

	rc2 := dialRaw(t, ts.addr)
	served(rc2, 1)
	time.Sleep(10 * handoffAfter)
	ts.mu.Lock()
	conn := ts.conns[len(ts.conns)-1]
	ts.mu.Unlock()
	conn.Shutdown()
	rc2.waitFor(t, isGoAway(http2.ErrCodeNo))
	select {
	case <-conn.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("an idle connection did not end at shutdown")
	}
}

// An idle connection's wait costs a goroutine with a small stack: the
// reader's, grown by the requests it read and blocked deep inside TLS, is
// not held.
func TestIdleConnectionWaitsOnASmallStack(t *testing.T) {
	if raceEnabled {
		t.Skip("stack sizes differ under -race")
	}
	leaf := testkit.TestCA(t).Issue(t, time.Now().Add(time.Hour), "x.test")
	cert, err := tls.X509KeyPair(leaf.Cert, leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}
	ts := startTLSServer(t, cfg, Options{IdleTimeout: time.Minute}, func(w *ResponseWriter, r *handlers.Request) { w.WriteString("ok") })
	// Stacks freed by goroutines that ended take a few collections to
	// leave the count.
	stacks := func() uint64 {
		for range 3 {
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.StackInuse
	}
	before := stacks()
	const n = 200
	for i := 0; i < n; i++ {
		nc, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: testkit.TestCA(t).Pool, ServerName: "x.test", NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		rc := newRawClient(t, nc)
		for id := uint32(1); id < 20; id += 2 {
			rc.get(id, "/", true)
		}
		rc.waitFor(t, func(f http2.Frame) bool {
			d, ok := f.(*http2.DataFrame)
			return ok && d.StreamID == 19 && d.StreamEnded()
		})
		// A control frame on the idle connection, as browsers send: the
		// wait after it is handed off too.
		rc.fr.WriteSettingsAck()
	}
	time.Sleep(10 * handoffAfter)
	per := float64(stacks()-before) / n
	t.Logf("%.0f bytes of stack per idle connection", per)
	if per > 3584 {
		t.Fatalf("%.0f bytes of stack per idle connection, want at most 3.5 KiB", per)
	}
}
