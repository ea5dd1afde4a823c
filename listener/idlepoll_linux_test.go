package listener

import (
	"context"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pollerGoroutines counts the goroutines running the idle poller's code,
// by their stacks. A goroutine the poller merely started (a connection it
// resumed) names it only in its "created by" line, and is not counted.
func pollerGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, line := range strings.Split(g, "\n") {
			if strings.Contains(line, "listener.(*idlePoller).") && !strings.HasPrefix(line, "created by ") {
				count++
				break
			}
		}
	}
	return count
}

// waitPollerGoroutines waits a little for the count to become want: a
// goroutine that has returned may still show in a dump for a moment.
func waitPollerGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := pollerGoroutines()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle poller goroutines, want %d", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func parkedCount(ts *testServer) int {
	p := ts.sup.runningPoller()
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// A supervisor starts its idle poller only when a connection first waits
// long enough to park, and its Shutdown stops the poller's goroutines and
// closes its epoll descriptor, closing the parked connection on the way.
func TestIdlePollerStartsAtFirstParkAndStopsAtShutdown(t *testing.T) {
	waitPollerGoroutines(t, 0) // none left behind by earlier tests either
	ts := startServer(t, testRouter{"": echoPath}, nil)

	once := ts.dial(t)
	once.send("GET /once HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	once.response("GET")
	if !once.closed() {
		t.Fatal("Connection: close left the connection open")
	}
	if n := pollerGoroutines(); n != 0 || ts.sup.runningPoller() != nil {
		t.Fatalf("%d idle poller goroutines with no connection ever idle", n)
	}

	c := ts.dial(t)
	c.send("GET /stay HTTP/1.1\r\nHost: x\r\n\r\n")
	c.response("GET")
	for deadline := time.Now().Add(5 * time.Second); parkedCount(ts) != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the idle connection never parked")
		}
	}
	waitPollerGoroutines(t, 2)
	epfd := ts.sup.runningPoller().epfd

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cut, err := ts.sup.Shutdown(ctx); cut != 0 || err != nil {
		t.Fatalf("Shutdown: %d cut, %v", cut, err)
	}
	waitPollerGoroutines(t, 0)
	if ts.sup.runningPoller() != nil {
		t.Fatal("the supervisor still has a poller after Shutdown")
	}
	if link, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(epfd)); link == "anon_inode:[eventpoll]" {
		t.Fatalf("descriptor %d is still an epoll set after Shutdown", epfd)
	}
	if !c.closed() {
		t.Fatal("the parked connection was not closed at Shutdown")
	}
}

// A connection that shutdown marked closing while it was on its way into
// the poller is not parked: closeIdle has looked for it there already, so
// it would wait out its whole idle time.
func TestIdlePollerDoesNotParkAConnectionMarkedClosing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	raw, err := client.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newIdlePoller()
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{}
	c.t.fd = rawFD(raw)
	defer func() {
		p.take(c) // not a served connection: stop must not close it
		p.stop()
	}()
	c.state.Store(stateClosing)
	if p.park(c) {
		t.Fatal("a connection marked closing was parked")
	}
	if parked := len(p.conns); parked != 0 {
		t.Fatalf("%d connections left in the set", parked)
	}
	c.state.Store(stateIdle)
	if !p.park(c) || !p.take(c) {
		t.Fatal("an idle connection could not be parked and taken back")
	}
}
