package listener

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	"github.com/moreweb/moreweb/config"
)

// Before its first file body a connection caps its unsent backlog
// (TCP_NOTSENT_LOWAT), and the body still arrives whole.
func TestFileBodyCapsUnsentBacklog(t *testing.T) {
	data, serveFile := randomFileHandler(t, 4<<20)
	ts := startServer(t, testRouter{"": serveFile}, func(c *config.Config) {
		c.Server.ReadHeaderTimeout = time.Second // accepted without deferral
	})
	c := ts.dial(t)
	if got := serverLowat(t, ts); got == unsentLimit {
		t.Fatalf("a connection that sent no file already has the cap")
	}
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.response("GET"); !bytes.Equal([]byte(body), data) {
		t.Fatalf("file differs (got %d bytes)", len(body))
	}
	if got := serverLowat(t, ts); got != unsentLimit {
		t.Fatalf("TCP_NOTSENT_LOWAT = %d after a file body, want %d", got, unsentLimit)
	}
}

// serverLowat reads TCP_NOTSENT_LOWAT off the server's side of the test
// server's only connection, waiting for it to be accepted.
func serverLowat(t *testing.T, ts *testServer) int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		fd := int32(-1)
		ts.sup.mu.Lock()
		for _, s := range ts.sup.servers {
			s.mu.Lock()
			for c := range s.conns {
				fd = c.t.fd
			}
			s.mu.Unlock()
		}
		ts.sup.mu.Unlock()
		if fd < 0 {
			continue
		}
		v, err := syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	t.Fatal("no connection accepted")
	return 0
}
