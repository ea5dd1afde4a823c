// Command app is a tiny application to put behind moreweb's reverse
// proxy (examples/proxy.toml): a WebSocket that echoes, an event stream,
// and a JSON endpoint that shows what the proxy told it. moreweb serves
// the page that uses them (examples/sites/app).
// Standard library only; the WebSocket is the few lines RFC 6455 needs for
// an echo of short text messages.
//
//	go run ./examples/app -listen unix:/tmp/moreweb-app.sock
package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:3000", "host:port, or unix:/path for a unix socket")
	flag.Parse()
	network, addr := "tcp", *listen
	if path, ok := strings.CutPrefix(*listen, "unix:"); ok {
		network, addr = "unix", path
		os.Remove(path) // a socket left by an earlier run
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /whoami", whoami)
	mux.HandleFunc("GET /events", events)
	mux.HandleFunc("GET /live", live)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	log.Printf("app listening on %s %s", network, addr)
	log.Fatal(http.Serve(ln, mux))
}

// whoami shows what the app sees of the client, as the proxy tells it.
func whoami(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{
		"host":              r.Host,
		"path":              r.URL.Path,
		"x-forwarded-for":   r.Header.Get("X-Forwarded-For"),
		"x-forwarded-proto": r.Header.Get("X-Forwarded-Proto"),
		"x-forwarded-host":  r.Header.Get("X-Forwarded-Host"),
	})
}

// events sends a tick a second, five times: the proxy passes each as it
// comes.
func events(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(w, "data: tick %d at %s\n\n", i, time.Now().Format(time.TimeOnly))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// live is a WebSocket that echoes each text message, upper-cased.
func live(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == "" {
		http.Error(w, "a WebSocket lives here", http.StatusUpgradeRequired)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	rw.Flush()
	for {
		op, msg, err := readFrame(rw.Reader)
		if err != nil || op == 8 { // 8: close
			return
		}
		if op == 1 { // text
			if err := writeText(conn, strings.ToUpper(string(msg))); err != nil {
				return
			}
		}
	}
}

// readFrame reads one masked client frame of up to 64 KiB.
func readFrame(rd *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(rd, h[:]); err != nil {
		return 0, nil, err
	}
	op = h[0] & 0x0f
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(rd, l[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		return 0, nil, errors.New("frame too large for this example")
	}
	var mask [4]byte
	if h[1]&0x80 == 0 {
		return 0, nil, errors.New("client frames must be masked")
	}
	if _, err := io.ReadFull(rd, mask[:]); err != nil {
		return 0, nil, err
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(rd, payload); err != nil {
		return 0, nil, err
	}
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	return op, payload, nil
}

func writeText(w io.Writer, s string) error {
	if len(s) > 65535 {
		s = s[:65535]
	}
	frame := []byte{0x81}
	if len(s) < 126 {
		frame = append(frame, byte(len(s)))
	} else {
		frame = append(frame, 126, byte(len(s)>>8), byte(len(s)))
	}
	_, err := w.Write(append(frame, s...))
	return err
}
