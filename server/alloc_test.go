package server

import (
	"bytes"
	"io"
	"maps"
	"net"
	"strconv"
	"strings"
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
	servedWithoutAllocating(t, s.addr, "GET /style.css HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n", "body{}")
}

// A small file compressed once and kept costs a request what the file
// itself does: nothing is compressed or allocated per request.
func TestServedCompressedFileDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	files := maps.Clone(twoSitesFiles)
	files["a/page.css"] = strings.Repeat("body { margin: 0; padding: 0 }\n", 40)
	s := serveSite(t, twoSites, files)
	// An empty chunk ends a body of unknown length; a compressed body
	// kept in memory has its length, so the end is found by it.
	req := "GET /page.css HTTP/1.1\r\nHost: example.com\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\r\n"
	servedWithoutAllocating(t, s.addr, req, "")
}

// servedWithoutAllocating sends req on one connection until the cache
// holds the file, then counts the server's allocations per request. A
// response is read to its end: the suffix, or with "" the whole
// Content-Length.
func servedWithoutAllocating(t *testing.T, addr, request, suffix string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := []byte(request)
	buf := make([]byte, 16384)
	complete := func(b []byte) bool {
		if suffix != "" {
			return bytes.HasSuffix(b, []byte(suffix))
		}
		head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
		if !ok {
			return false
		}
		_, v, ok := bytes.Cut(head, []byte("Content-Length: "))
		if !ok {
			t.Fatalf("no Content-Length in %q", head)
		}
		v, _, _ = bytes.Cut(v, []byte("\r\n"))
		n, _ := strconv.Atoi(string(v))
		if !bytes.Contains(head, []byte("Content-Encoding: zstd")) {
			t.Fatalf("not compressed: %q", head)
		}
		return len(body) >= n
	}
	roundTrip := func() int {
		if _, err := nc.Write(req); err != nil {
			t.Fatal(err)
		}
		n := 0
		for !complete(buf[:n]) {
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

// A proxied request costs one allocation per field copied from the
// backend's response (its value, into the client's header), and nothing
// else: the exchange's buffers, the backend connection and its reader are
// pooled. The backend here is a loop on a raw socket that allocates
// nothing per request.
func TestProxiedRequestAllocatesOnlyTheCopiedFields(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const answer = "HTTP/1.1 200 OK\r\nServer: backend\r\nContent-Type: text/plain\r\nETag: \"v1\"\r\nContent-Length: 5\r\n\r\nhello"
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 8192)
				resp := []byte(answer)
				n := 0
				for {
					m, err := c.Read(buf[n:])
					if err != nil {
						return
					}
					n += m
					if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
						n = copy(buf, buf[i+4:n])
						if _, err := c.Write(resp); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	s := serveSite(t, `
[[listener]]
name = "web"
address = "127.0.0.1:0"

[[vhost]]
hosts = ["app.test"]

[[vhost.proxy]]
path = "/*"
to = ["http://`+ln.Addr().String()+`"]
`, nil)
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := []byte("GET /x HTTP/1.1\r\nHost: app.test\r\nUser-Agent: bench\r\n\r\n")
	buf := make([]byte, 4096)
	roundTrip := func() {
		if _, err := nc.Write(req); err != nil {
			t.Fatal(err)
		}
		n := 0
		for !bytes.HasSuffix(buf[:n], []byte("hello")) {
			m, err := nc.Read(buf[n:])
			if err != nil {
				t.Fatal(err)
			}
			n += m
		}
	}
	for range 10 {
		roundTrip()
	}
	const copied = 3 // Server, Content-Type, ETag
	if allocs := testing.AllocsPerRun(200, roundTrip); allocs > copied {
		t.Fatalf("%.1f allocations per proxied request, want at most %d (the values of the fields copied)", allocs, copied)
	}
}
