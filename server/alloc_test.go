package server

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestServedStaticFileDoesNotAllocate holds the whole request path to its
// allocation budget: parser, routing, the site's handler chain, the static
// file cache and the response writer serve a hot small file on a
// keep-alive connection without allocating.
func TestServedStaticFileDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	s := serveSite(t, twoSites, twoSitesFiles)
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := []byte("GET /style.css HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	buf := make([]byte, 4096)
	roundTrip := func() int {
		if _, err := nc.Write(req); err != nil {
			t.Fatal(err)
		}
		n := 0
		for !bytes.HasSuffix(buf[:n], []byte("body{}")) {
			m, err := nc.Read(buf[n:])
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			n += m
		}
		return n
	}
	// The cache holds a file in memory once it has settled (its ctime is
	// two seconds old) and its entry has been revalidated.
	time.Sleep(2200 * time.Millisecond)
	roundTrip()
	time.Sleep(1100 * time.Millisecond)
	for i := 0; i < 10; i++ {
		roundTrip()
	}
	if allocs := testing.AllocsPerRun(200, func() { roundTrip() }); allocs > 0 {
		t.Fatalf("%.1f allocations per served request, want 0", allocs)
	}
}
