package attack

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var soakFor = flag.Duration("soak", 0, "run TestSoakLeavesNoGoroutineDescriptorOrSocketBehind for this long (default: 20000 connections, at most 10s)")

// soakKinds are the connection shapes of the soak, played in turn: polite
// ones, malformed ones, and clients that vanish at awkward moments.
var soakKinds = []struct {
	name string
	play func(nc *net.TCPConn) error
}{
	{"close after one", func(nc *net.TCPConn) error {
		io.WriteString(nc, "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
		return drain(nc, homeBody)
	}},
	{"keep-alive three", func(nc *net.TCPConn) error {
		io.WriteString(nc, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\nHEAD /sub/file.txt HTTP/1.1\r\nHost: example.com\r\n\r\nGET /sub/file.txt HTTP/1.1\r\nHost: example.com\r\nRange: bytes=0-1,3-4\r\n\r\n")
		br := bufio.NewReader(nc)
		for _, method := range []string{"GET", "HEAD", "GET"} {
			resp, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
		}
		return nil // the client closes first
	}},
	{"garbage", func(nc *net.TCPConn) error {
		io.WriteString(nc, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n")
		return drain(nc, "400 Bad Request")
	}},
	{"silent close", func(nc *net.TCPConn) error { return nil }},
	{"half a head, then reset", func(nc *net.TCPConn) error {
		io.WriteString(nc, "GET /sub/file.txt HTTP/1.1\r\nHost: exa")
		time.Sleep(time.Millisecond)
		nc.SetLinger(0)
		return nil
	}},
	{"smuggling shape", func(nc *net.TCPConn) error {
		io.WriteString(nc, reqHead+"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+smug)
		return drain(nc, "400 Bad Request")
	}},
	{"broken chunked body", func(nc *net.TCPConn) error {
		io.WriteString(nc, reqHead+"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n")
		return drain(nc, homeBody)
	}},
	{"reset before reading", func(nc *net.TCPConn) error {
		io.WriteString(nc, "GET /listing/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
		nc.SetLinger(0)
		return nil
	}},
	{"oversized head", func(nc *net.TCPConn) error {
		io.WriteString(nc, "GET /"+strings.Repeat("a", 9000)+" HTTP/1.1\r\n")
		return drain(nc, "414")
	}},
	{"half-close after request", func(nc *net.TCPConn) error {
		io.WriteString(nc, "GET /sub/file.txt HTTP/1.1\r\nHost: example.com\r\n\r\n")
		nc.CloseWrite()
		return drain(nc, "in sub")
	}},
}

// drain reads until the server closes and checks that want was in it.
func drain(nc net.Conn, want string) error {
	got, err := io.ReadAll(nc)
	if err != nil && !isClosed(err) {
		return err
	}
	if !bytes.Contains(got, []byte(want)) {
		return fmt.Errorf("answer lacks %q: %q", want, truncate(got))
	}
	return nil
}

type usage struct {
	goroutines int
	fds        int
	heap       uint64
}

func measure(t testing.TB) usage {
	t.Helper()
	runtime.GC()
	runtime.GC() // the second empties what sync.Pools kept from the first
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return usage{goroutines: runtime.NumGoroutine(), fds: len(fds), heap: ms.HeapAlloc}
}

// soak runs workers that each open connection after connection, until n
// connections were made or the deadline passed; it returns how many.
func soak(t testing.TB, s *server, n int64, until time.Time) int64 {
	var (
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
		first  sync.Once
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > n || time.Now().After(until) {
					return
				}
				kind := soakKinds[i%int64(len(soakKinds))]
				nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
				if err != nil {
					failed.Add(1)
					first.Do(func() { t.Errorf("dial: %v", err) })
					continue
				}
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				if err := kind.play(nc.(*net.TCPConn)); err != nil {
					failed.Add(1)
					first.Do(func() { t.Errorf("%s: %v", kind.name, err) })
				}
				nc.Close()
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Errorf("%d connections failed", f)
	}
	return min(next.Load()-1, n)
}

// parkOne keeps a keep-alive connection idle long enough to be parked, so
// that the idle poller, started at the first park and kept until shutdown
// (a goroutine and its descriptors), is part of the baseline. The soak's
// connections may or may not park one, by chance.
func parkOne(t *testing.T, s *server) {
	nc := s.dial(t)
	defer nc.Close()
	br := bufio.NewReader(nc)
	for i := 0; i < 2; i++ {
		if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		time.Sleep(200 * time.Millisecond) // well past the hand-off to the poller
	}
}

// TestSoakLeavesNoGoroutineDescriptorOrSocketBehind opens and closes tens of
// thousands of connections, a tenth of them malformed and more that vanish
// mid-request, then checks that the server's goroutines, open descriptors
// and heap come back to where they were, and that no server-side socket is
// left open.
func TestSoakLeavesNoGoroutineDescriptorOrSocketBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test in -short mode")
	}
	s := startSite(t, map[string]string{"access_log": `"off"`, "log_level": `"info"`}, nil)
	soak(t, s, 500, time.Now().Add(time.Minute)) // warm up pools
	parkOne(t, s)                                // and start the idle poller, which stays
	s.waitNoStuckSockets(t, 5*time.Second)
	base := measure(t)

	// By default 20000 connections, or fewer if a loaded machine needs
	// more than 10s for them; -soak=D runs for D instead.
	n, until := int64(20000), time.Now().Add(10*time.Second)
	if *soakFor > 0 {
		n, until = 1<<62, time.Now().Add(*soakFor)
	}
	start := time.Now()
	done := soak(t, s, n, until)
	elapsed := time.Since(start)
	t.Logf("%d connections in %v (%.0f/s)", done, elapsed.Round(time.Millisecond), float64(done)/elapsed.Seconds())

	s.waitNoStuckSockets(t, 5*time.Second)
	var after usage
	for deadline := time.Now().Add(5 * time.Second); ; {
		after = measure(t)
		if after.goroutines <= base.goroutines+2 && after.fds <= base.fds+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("goroutines %d -> %d, fds %d -> %d, heap %d KiB -> %d KiB",
		base.goroutines, after.goroutines, base.fds, after.fds, base.heap>>10, after.heap>>10)
	if after.goroutines > base.goroutines+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines %d after, %d before:\n%s", after.goroutines, base.goroutines, buf[:runtime.Stack(buf, true)])
	}
	if after.fds > base.fds+2 {
		t.Errorf("open descriptors %d after, %d before", after.fds, base.fds)
	}
	if after.heap > base.heap+8<<20 {
		t.Errorf("heap %d KiB after, %d KiB before", after.heap>>10, base.heap>>10)
	}
	s.healthy(t)
}

// An idle keep-alive connection holds neither a read nor a write buffer, so
// a thousand of them cost little. The bound is well under one read buffer
// (max_header_bytes plus room for a trailer): a connection that kept its
// buffers while idle would fail it.
func TestIdleConnectionHoldsNoBuffers(t *testing.T) {
	s := startSite(t, map[string]string{"access_log": `"off"`, "log_level": `"info"`}, nil)
	const n = 1000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	open := func(k int) {
		for range k {
			nc := s.dial(t)
			io.WriteString(nc, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			conns = append(conns, nc)
		}
	}
	open(50) // warm up
	time.Sleep(200 * time.Millisecond)
	before := stackAndHeap()
	open(n)
	time.Sleep(200 * time.Millisecond) // long enough to count as idle
	after := stackAndHeap()
	per := (int64(after) - int64(before)) / n
	t.Logf("%d idle connections: %d bytes each (heap and stacks, client side included)", n, per)
	if per > 16<<10 {
		t.Errorf("%d bytes per idle connection", per)
	}
	s.healthy(t)
}

func stackAndHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}
