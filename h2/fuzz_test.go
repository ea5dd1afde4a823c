package h2

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/moreweb/moreweb/handlers"
)

// FuzzConnFrames feeds a connection arbitrary bytes after a valid preface
// and SETTINGS: frames of any type, order and content. The connection must
// end or answer, never panic or hang past its timeouts, and every handler
// it started must return.
func FuzzConnFrames(f *testing.F) {
	var seed bytes.Buffer
	fr := http2.NewFramer(&seed, nil)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/x?y"}, {":authority", "a.test"}, {"content-length", "3"}} {
		enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, BlockFragment: hb.Bytes()})
	fr.WriteData(1, true, []byte("abc"))
	fr.WritePing(false, [8]byte{1})
	fr.WriteWindowUpdate(0, 1000)
	fr.WriteRSTStream(3, http2.ErrCodeCancel)
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: hb.Bytes()[:3]})
	fr.WriteContinuation(5, true, hb.Bytes()[3:])
	f.Add(seed.Bytes())
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})

	f.Fuzz(func(t *testing.T, frames []byte) {
		server, peer := net.Pipe()
		done := make(chan struct{})
		c := NewConn(server, Options{
			ReadHeaderTimeout: time.Second, IdleTimeout: time.Second, WriteTimeout: time.Second,
			Serve: func(w *ResponseWriter, r *handlers.Request) {
				io.Copy(io.Discard, r.Body)
				w.WriteString("ok")
				w.Finish()
			},
			Refuse: func(w *ResponseWriter, r *handlers.Request, status int) {
				w.WriteHeader(status)
				w.Finish()
			},
		})
		go func() {
			c.Serve()
			<-c.Done()
			close(done)
		}()
		go io.Copy(io.Discard, peer)
		var hello bytes.Buffer
		hello.WriteString(Preface)
		http2.NewFramer(&hello, nil).WriteSettings()
		peer.SetWriteDeadline(time.Now().Add(2 * time.Second))
		peer.Write(hello.Bytes())
		peer.Write(frames)
		peer.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("connection still serving 10 s after the peer closed")
		}
	})
}
