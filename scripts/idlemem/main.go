// Command idlemem measures what an idle connection costs a running server:
// it opens N TLS connections, makes one request on each (HTTP/1.1 or
// HTTP/2, by ALPN), keeps them all open and idle, and reports how much
// the server's resident memory grew per connection.
//
//	go run ./scripts/idlemem -addr 127.0.0.1:8443 -pid PID -proto h2 -n 3000
//
// Start a fresh server for each measurement: memory a process freed is
// not always given back to the system, and would hide the next one's.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "the server's TLS listener")
	pid := flag.Int("pid", 0, "the server's process id")
	proto := flag.String("proto", "h2", "h2 or http/1.1")
	host := flag.String("host", "alpha.localhost", "SNI and Host of the request")
	n := flag.Int("n", 3000, "connections")
	flag.Parse()
	if *pid == 0 {
		log.Fatal("-pid is required")
	}
	before := rss(*pid)
	keep := make([]*tls.Conn, 0, *n)
	for i := 0; i < *n; i++ {
		c, err := tls.Dial("tcp", *addr, &tls.Config{InsecureSkipVerify: true, ServerName: *host, NextProtos: []string{*proto}})
		if err != nil {
			log.Fatal(err)
		}
		if *proto == "h2" {
			err = getH2(c, *host)
		} else {
			err = getHTTP1(c, *host)
		}
		if err != nil {
			log.Fatalf("connection %d: %v", i, err)
		}
		keep = append(keep, c)
	}
	// Long enough for every connection to settle into its idle wait.
	time.Sleep(2 * time.Second)
	after := rss(*pid)
	fmt.Printf("%s: %d idle connections, server RSS %d -> %d KiB, %.2f KiB per connection\n",
		*proto, len(keep), before, after, float64(after-before)/float64(len(keep)))
}

func getHTTP1(c *tls.Conn, host string) error {
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// getH2 sends the preface, SETTINGS and one GET, and reads until the
// response ends, acknowledging the server's SETTINGS, as a browser does.
func getH2(c *tls.Conn, host string) error {
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", host}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				return nil
			}
		case *http2.GoAwayFrame:
			return fmt.Errorf("GOAWAY %v", f.ErrCode)
		}
	}
}

// rss is the process's resident memory in KiB.
func rss(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	log.Fatal("no VmRSS in /proc status")
	return 0
}
