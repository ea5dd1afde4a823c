package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Ports handed to a program that binds them later are taken from below
// the kernel's ephemeral range. A port from the ephemeral range, even one
// nobody held a moment ago, can become the local end of any outgoing
// connection before the program binds it (a test's own client, pebble
// asking the DNS server), and the bind then fails with "address already
// in use". Below the range only another listener can take it, and each
// port is given out once per test binary.
var ports struct {
	sync.Mutex
	given map[int]bool
	low   int
	high  int
}

// lowestEphemeral is the first port the kernel gives outgoing
// connections; Linux's default when its setting cannot be read.
func lowestEphemeral() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				return n
			}
		}
	}
	return 32768
}

// freePort is a loopback port nothing listens on right now, never given
// before by this process.
func freePort() (int, error) {
	ports.Lock()
	defer ports.Unlock()
	if ports.given == nil {
		ports.given = map[int]bool{}
		ports.high = lowestEphemeral()
		ports.low = 10000
	}
	if ports.high-ports.low < 1000 {
		return kernelPort()
	}
	for range 1000 {
		p := ports.low + rand.IntN(ports.high-ports.low)
		if ports.given[p] {
			continue
		}
		ports.given[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		return p, nil
	}
	return 0, fmt.Errorf("no free loopback port between %d and %d", ports.low, ports.high)
}

// kernelPort is a port the kernel chose, for machines whose ephemeral
// range leaves no room below it.
func kernelPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr returns a loopback address nothing listens on right now, for
// a server that binds it itself.
func FreeAddr(t testing.TB) string {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
}
