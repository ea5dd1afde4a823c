package attack

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Slow clients: slowloris (heads that never finish), silent connections,
// clients that never read or read a byte at a time. read_header_timeout is
// 1s in these configs, so every bound below is about a second plus slack
// for a loaded CI machine.

// slack is what a bound allows beyond the configured timeout: scheduling
// on a loaded CI machine under -race. Idle waits may also take up to a
// second more: parked idle connections are expired once a second.
const (
	slack     = 2 * time.Second
	idleSlack = time.Second + slack
)

// slowConn is one slowloris connection and when the server ended it.
type slowConn struct {
	kind      string
	firstByte time.Time // or the connect, for a silent one
	closedAt  time.Time
	got       []byte
}

// TestSlowlorisIsCutAtTheHeaderTimeoutWhileOthersAreServed holds hundreds of
// connections that trickle their heads or send nothing, while a normal
// client keeps asking. Every normal request is answered within a second;
// every slow connection is closed within read_header_timeout of its first
// byte, however steadily it trickles; and afterwards no server-side socket
// is left open.
func TestSlowlorisIsCutAtTheHeaderTimeoutWhileOthersAreServed(t *testing.T) {
	s := startSite(t, shortTimeouts(nil), nil)
	const (
		headerTricklers = 120 // a header line every 250ms, forever
		byteTricklers   = 120 // one byte every 100ms
		silent          = 60  // connect and say nothing
	)
	var (
		mu    sync.Mutex
		conns []*slowConn
		wg    sync.WaitGroup
	)
	run := func(kind string, play func(nc net.Conn, c *slowConn, done <-chan struct{})) {
		nc := s.dial(t)
		c := &slowConn{kind: kind}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer nc.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				c.got, _ = io.ReadAll(nc)
				c.closedAt = time.Now()
			}()
			play(nc, c, done)
			<-done
		}()
	}
	trickle := func(first string, step string, every time.Duration) func(net.Conn, *slowConn, <-chan struct{}) {
		return func(nc net.Conn, c *slowConn, done <-chan struct{}) {
			c.firstByte = time.Now()
			if _, err := io.WriteString(nc, first); err != nil {
				return
			}
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					if _, err := io.WriteString(nc, step); err != nil {
						return
					}
				}
			}
		}
	}
	for range headerTricklers {
		run("header trickle", trickle("GET / HTTP/1.1\r\nHost: example.com\r\n", "X-Slow: a\r\n", 250*time.Millisecond))
	}
	for range byteTricklers {
		run("byte trickle", trickle("G", "E", 100*time.Millisecond))
	}
	for range silent {
		run("silent", func(nc net.Conn, c *slowConn, done <-chan struct{}) {
			c.firstByte = time.Now()
			<-done
		})
	}

	// Meanwhile, a normal client.
	var worst time.Duration
	asked := 0
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); asked++ {
		start := time.Now()
		s.healthy(t)
		worst = max(worst, time.Since(start))
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("%d normal requests during the attack, slowest %v", asked, worst)

	late := map[string]int{}
	for _, c := range conns {
		bound := time.Second + slack
		if c.kind == "silent" {
			bound = time.Second + idleSlack
		}
		if d := c.closedAt.Sub(c.firstByte); d > bound {
			late[c.kind]++
			if late[c.kind] == 1 {
				t.Errorf("%s connection closed %v after its first byte", c.kind, d)
			}
		}
		if c.kind != "silent" && !strings.HasPrefix(string(c.got), "HTTP/1.1 408 ") {
			// A head that started and never finished is told why.
			t.Errorf("%s connection got %q, want a 408", c.kind, truncate(c.got))
		}
		if c.kind == "silent" && len(c.got) != 0 {
			t.Errorf("silent connection got %q", c.got)
		}
	}
	if len(late) > 0 {
		t.Errorf("closed late: %v", late)
	}
	s.waitNoStuckSockets(t, 3*time.Second)
	s.healthy(t)
}

// TestHeaderTimeoutCountsFromFirstByte: a head trickled one line at a time
// is cut read_header_timeout after its first byte, on a new connection and
// on a keep-alive one, where the idle wait before the first byte does not
// count.
func TestHeaderTimeoutCountsFromFirstByte(t *testing.T) {
	t.Parallel()
	s := startSite(t, shortTimeouts(nil), nil)
	check := func(t *testing.T, nc net.Conn, br *bufio.Reader) {
		t.Helper()
		first := time.Now()
		io.WriteString(nc, "GET / HTTP/1.1\r\n")
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					if _, err := io.WriteString(nc, "X-Trickle: 1\r\n"); err != nil {
						return
					}
				}
			}
		}()
		defer close(stop)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(first)
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 408 || !resp.Close {
			t.Errorf("got %d close=%v, want 408 and close", resp.StatusCode, resp.Close)
		}
		if d < 900*time.Millisecond || d > time.Second+slack {
			t.Errorf("cut %v after the first byte, want about read_header_timeout = 1s", d)
		}
		if _, err := br.ReadByte(); !isClosed(err) {
			t.Errorf("connection still open after the 408: %v", err)
		}
	}
	t.Run("new connection", func(t *testing.T) {
		t.Parallel()
		nc := s.dial(t)
		defer nc.Close()
		time.Sleep(500 * time.Millisecond) // idle, not yet a request
		check(t, nc, bufio.NewReader(nc))
	})
	t.Run("keep-alive connection", func(t *testing.T) {
		t.Parallel()
		nc := s.dial(t)
		defer nc.Close()
		br := bufio.NewReader(nc)
		io.WriteString(nc, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
			t.Fatal(resp, err)
		} else {
			io.Copy(io.Discard, resp.Body)
		}
		time.Sleep(800 * time.Millisecond) // idle (idle_timeout is 2s)
		check(t, nc, br)
	})
}

// A keep-alive connection is closed idle_timeout after its last response,
// silently; one that asks again before that is served.
func TestIdleKeepAliveConnectionIsClosedSilentlyAfterIdleTimeout(t *testing.T) {
	t.Parallel()
	s := startSite(t, shortTimeouts(nil), nil) // idle_timeout = 2s
	nc := s.dial(t)
	defer nc.Close()
	br := bufio.NewReader(nc)
	ask := func() {
		t.Helper()
		io.WriteString(nc, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatal(resp, err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	ask()
	time.Sleep(700 * time.Millisecond)
	ask() // well within idle_timeout: served
	last := time.Now()
	_, err := br.ReadByte()
	d := time.Since(last)
	if !isClosed(err) {
		t.Fatalf("idle connection: %v", err)
	}
	if d < 1900*time.Millisecond || d > 2*time.Second+idleSlack {
		t.Errorf("idle connection closed after %v, want about idle_timeout = 2s", d)
	}
}

// TestSilentNewConnectionTimesOut: a connection that never sends a byte is
// closed after read_header_timeout, without an answer.
func TestSilentNewConnectionTimesOut(t *testing.T) {
	t.Parallel()
	s := startSite(t, shortTimeouts(nil), nil)
	nc := s.dial(t)
	defer nc.Close()
	start := time.Now()
	got, _ := io.ReadAll(nc)
	if d := time.Since(start); d > time.Second+idleSlack {
		t.Errorf("closed after %v", d)
	}
	if len(got) != 0 {
		t.Errorf("answered %q", got)
	}
}

// socketState is the state of the server's side of the connection from
// clientPort, 0 once it is gone.
func (s *server) socketState(t testing.TB, clientPort int) int {
	t.Helper()
	state := 0
	s.eachServerSocket(func(remote, st int) {
		if remote == clientPort {
			state = st
		}
	})
	return state
}

// TestClientThatNeverReadsIsCutAfterWriteTimeout asks for a large file and
// reads nothing: the server gives up write_timeout after the last byte
// moved, closes its side, and serves others all along.
func TestClientThatNeverReadsIsCutAfterWriteTimeout(t *testing.T) {
	t.Parallel()
	s := startSite(t, shortTimeouts(map[string]string{"write_timeout": `"1s"`}), nil)
	s.bigFile(t, "big.bin", 64<<20)
	nc := s.dialSmallBuffer(t)
	defer nc.Close()
	port := nc.LocalAddr().(*net.TCPAddr).Port
	start := time.Now()
	io.WriteString(nc, "GET /big.bin HTTP/1.1\r\nHost: example.com\r\n\r\n")
	for s.socketState(t, port) == tcpEstablished {
		if time.Since(start) > 2*time.Second+slack {
			t.Fatalf("server still writing to a client that reads nothing after %v", time.Since(start))
		}
		s.healthy(t)
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("server side left ESTABLISHED after %v", time.Since(start))
	// The server reset the connection: no orphaned socket keeps the
	// unsent part of the response in the kernel (FIN_WAIT1 with a full
	// send queue) once the client is given up on.
	if st := s.socketState(t, port); st != 0 {
		t.Errorf("server side of the cut connection is in state %d, want gone (reset)", st)
	}
	_, err := io.Copy(io.Discard, nc)
	t.Logf("the client, reading at last, gets %v", err)
	s.healthy(t)
	nc.Close()
	s.waitNoStuckSockets(t, 3*time.Second)
}

// TestSlowReaderCannotDefeatWriteTimeout reads one byte every 10ms through
// a tiny receive buffer: bytes keep moving, but far too slowly for a
// kernel copy to finish within write_timeout, so the server gives up
// instead of being held for hours.
func TestSlowReaderCannotDefeatWriteTimeout(t *testing.T) {
	t.Parallel()
	s := startSite(t, shortTimeouts(map[string]string{"write_timeout": `"1s"`}), nil)
	s.bigFile(t, "big.bin", 64<<20)
	nc := s.dialSmallBuffer(t)
	defer nc.Close()
	port := nc.LocalAddr().(*net.TCPAddr).Port
	io.WriteString(nc, "GET /big.bin HTTP/1.1\r\nHost: example.com\r\n\r\n")
	start := time.Now()
	stop := make(chan struct{})
	readDone := make(chan int64)
	go func() {
		var n int64
		defer func() { readDone <- n }()
		b := make([]byte, 1)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := nc.Read(b); err != nil {
				return
			}
			n++
		}
	}()
	for s.socketState(t, port) == tcpEstablished {
		if time.Since(start) > 2*time.Second+slack {
			t.Fatalf("a slow reader held the server for %v", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("server side left ESTABLISHED after %v", time.Since(start))
	if st := s.socketState(t, port); st != 0 {
		t.Errorf("server side of the cut connection is in state %d, want gone (reset)", st)
	}
	close(stop)
	t.Logf("the slow reader got %d bytes", <-readDone)
	nc.Close()
	s.waitNoStuckSockets(t, 3*time.Second)
	s.healthy(t)
}

// TestSteadyReaderIsNotCut downloads at a modest steady rate for longer
// than write_timeout: the deadline is refreshed while bytes move, so the
// download completes.
func TestSteadyReaderIsNotCut(t *testing.T) {
	t.Parallel()
	s := startSite(t, shortTimeouts(map[string]string{"write_timeout": `"1s"`}), nil)
	const size = 16 << 20
	const rate = 8 << 20 // bytes per second: 2s for the file
	s.bigFile(t, "big.bin", size)
	nc := s.dial(t)
	defer nc.Close()
	io.WriteString(nc, "GET /big.bin HTTP/1.1\r\nHost: example.com\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	start := time.Now()
	var n int64
	buf := make([]byte, 32<<10)
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err != nil {
			break
		}
		if ahead := time.Duration(float64(n)/rate*float64(time.Second)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	d := time.Since(start)
	if n != size {
		t.Fatalf("got %d of %d bytes in %v", n, size, d)
	}
	if d < 1500*time.Millisecond {
		t.Logf("download took only %v: not longer than write_timeout", d)
	}
}

// At max_connections new connections wait in the kernel's backlog (they
// connect, but are not read) and are served as soon as a slot frees; the
// header timeout frees the slots slowloris holds.
func TestConnectionsOverMaxConnectionsWaitAndAreServedWhenASlotFrees(t *testing.T) {
	t.Parallel()
	s := startSite(t, shortTimeouts(map[string]string{"max_connections": "3", "idle_timeout": `"10s"`}), nil)
	var held []net.Conn
	for i := range 3 {
		nc := s.dial(t)
		defer nc.Close()
		io.WriteString(nc, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(nc), nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("held connection %d: %v %v", i, resp, err)
		}
		held = append(held, nc)
	}
	waiting := s.dial(t) // the kernel completes the handshake: it is in the backlog
	defer waiting.Close()
	io.WriteString(waiting, "GET /sub/file.txt HTTP/1.1\r\nHost: example.com\r\n\r\n")
	waiting.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	br := bufio.NewReader(waiting)
	if _, err := br.Peek(1); err == nil {
		t.Fatal("a fourth connection was served at max_connections = 3")
	}
	held[0].Close()
	freed := time.Now()
	waiting.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a slot freed: %v %v", resp, err)
	}
	if d := time.Since(freed); d > time.Second {
		t.Errorf("served %v after a slot freed", d)
	}
}

func TestMaxConnectionsSlowlorisHoldsSlotsOnlyUntilHeaderTimeout(t *testing.T) {
	t.Parallel()
	s := startSite(t, shortTimeouts(map[string]string{"max_connections": "4"}), nil)
	for range 4 {
		nc := s.dial(t)
		defer nc.Close()
		io.WriteString(nc, "GET / HTTP/1.1\r\n") // and never more
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	nc := s.dial(t)
	defer nc.Close()
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	d := time.Since(start)
	t.Logf("with every slot held by slowloris, a normal client waited %v", d)
	if d > time.Second+slack {
		t.Errorf("waited %v, more than read_header_timeout", d)
	}
}
