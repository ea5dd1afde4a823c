package listener

import (
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
)

// readyPair is a loopback connection whose server side is a conn
// registered with d, and whose client side the test writes to.
func readyPair(t *testing.T, d *readyDispatcher, ln net.Listener) (*conn, net.Conn) {
	t.Helper()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	c := &conn{nc: server, wake: make(chan struct{}, 1)}
	c.raw, _ = server.(syscall.Conn).SyscallConn()
	c.fd = socketFD(c)
	if err := d.register(c); err != nil {
		t.Fatal(err)
	}
	return c, client
}

// The dispatcher hands out waiting connections in the order their bytes
// arrived, which is what keeps keep-alive latency even under load (Go's
// own poller hands them out newest first).
func TestReadyDispatcherWakesInArrivalOrder(t *testing.T) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(epfd)
	d := &readyDispatcher{epfd: epfd, events: make([]syscall.EpollEvent, 256)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	const n = 40
	conns := make([]*conn, n)
	clients := make([]net.Conn, n)
	for i := range n {
		conns[i], clients[i] = readyPair(t, d, ln)
		conns[i].ready.Store(readyWaiting)
	}
	busy, busyClient := readyPair(t, d, ln) // its goroutine is serving
	gone, goneClient := readyPair(t, d, ln) // closed since its event
	d.unregister(gone)

	order := rand.Perm(n)
	for k, i := range order {
		if k == n/2 {
			busyClient.Write([]byte("x"))
			goneClient.Write([]byte("x"))
		}
		if _, err := clients[i].Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	if got := d.collect(); got != n+2 {
		t.Fatalf("collected %d events, want %d", got, n+2)
	}
	if len(d.woken) != n {
		t.Fatalf("woke %d connections, want %d", len(d.woken), n)
	}
	for k, i := range order {
		if d.woken[k] != conns[i] {
			t.Fatalf("wake %d went to connection %d's turn out of order", k, i)
		}
		if st := conns[i].ready.Load(); st != readyNone {
			t.Fatalf("woken connection left in state %d", st)
		}
	}
	if st := busy.ready.Load(); st != readyPending {
		t.Fatalf("busy connection: state %d, want pending", st)
	}
	if st := gone.ready.Load(); st != readyNone {
		t.Fatalf("unregistered connection touched: state %d", st)
	}
}
