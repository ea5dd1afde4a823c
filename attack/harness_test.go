package attack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moreweb/moreweb/internal/testkit"
	mwserver "github.com/moreweb/moreweb/server"

	"github.com/moreweb/moreweb/config"
)

// Markers that must never reach a client: the content of a file beside the
// site root, and the body of a page only a smuggled request would ask for.
const (
	secretMarker   = "TOP-SECRET-c0ffee"
	smuggledMarker = "SMUGGLED-RESPONSE-7f3a"
	homeBody       = "HOME-PAGE"
)

// siteFiles is the tree every suite serves: root/ is the site, secret.txt
// sits beside it, and symlinks inside the root point out of it. A value
// starting with "->" makes a symlink; "{dir}" is replaced by the temp dir.
var siteFiles = map[string]string{
	"root/index.html":     homeBody,
	"root/smuggled":       smuggledMarker,
	"root/sub/file.txt":   "in sub",
	"root/dir/index.html": "dir index",
	"root/listing/<img src=x onerror=alert(1)>.txt": "x",
	"root/listing/a\"b'c.txt":                       "x",
	"root/link":                                     "->../secret.txt",
	"root/linkdir":                                  "->..",
	"root/abslink":                                  "->{dir}/secret.txt",
	"root/passwd":                                   "->/etc/passwd",
	"root/sub/uplink":                               "->../../secret.txt",
	"secret.txt":                                    secretMarker,
	"pages/hello.tmpl":                              `<p>{{.Query.Get "name"}}|{{.Path}}|{{.Header.Get "X-Test"}}</p>`,
	"pages/broken.tmpl":                             `{{index .Query "x" 5}}`,
	"errors/404.html":                               "custom 404",
}

// serverDefaults are the [server] keys of the suites' config. Timeouts are
// generous, so that a loaded machine does not turn a slow test client into
// a timeout; the timeout suites use shortTimeouts.
var serverDefaults = map[string]string{
	"log_level":           `"debug"`,
	"access_log":          `"access.log"`,
	"access_log_format":   `"json"`,
	"read_header_timeout": `"10s"`,
	"idle_timeout":        `"10s"`,
	"write_timeout":       `"10s"`,
	"shutdown_timeout":    `"2s"`,
	"max_header_bytes":    "16384",
	"max_body_bytes":      "65536",
}

// shortTimeouts returns over plus a 1s header timeout and 2s idle and
// write timeouts, so that a suite proves a timeout in about a second.
func shortTimeouts(over map[string]string) map[string]string {
	m := map[string]string{
		"read_header_timeout": `"1s"`,
		"idle_timeout":        `"2s"`,
		"write_timeout":       `"2s"`,
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

const siteTOML = `
[[listener]]
name = "web"
address = "127.0.0.1:0"

[[vhost]]
hosts = ["example.com"]
default = true
root = "root"
listing = true

[vhost.paths]
"/page" = { file = "pages/hello.tmpl", template = true }
"/broken" = { file = "pages/broken.tmpl", template = true }

[vhost.error_pages]
404 = "errors/404.html"

[[vhost.redirect]]
from = "/old/*"
to = "/new/"
status = 301

[[vhost.redirect]]
from = "/away/*"
to = "https://elsewhere.example/landing/"
status = 302
`

// server is a moreweb running in this process, started by the same
// server.Start the moreweb command runs.
type server struct {
	t      testing.TB
	dir    string
	addr   string
	port   int
	srv    *mwserver.Server
	errLog *testkit.SyncBuffer
	once   sync.Once
}

// startSite serves siteFiles (plus extra files) with serverDefaults
// overridden by over.
func startSite(t testing.TB, over map[string]string, extra map[string]string) *server {
	t.Helper()
	return startTOML(t, serverTable(over)+siteTOML, siteFilesWith(extra))
}

// serverTable is the [server] table: serverDefaults overridden by over.
func serverTable(over map[string]string) string {
	keys := map[string]string{}
	for k, v := range serverDefaults {
		keys[k] = v
	}
	for k, v := range over {
		keys[k] = v
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("[server]\n")
	for _, k := range names {
		fmt.Fprintf(&b, "%s = %s\n", k, keys[k])
	}
	return b.String()
}

// startTOML writes files and site.toml into a temp dir ("{dir}" in a
// symlink's target stands for it) and starts the server from that file.
func startTOML(t testing.TB, toml string, files map[string]string) *server {
	t.Helper()
	return startTOMLIn(t, t.TempDir(), toml, files)
}

// startTOMLIn is startTOML in a directory the caller prepared, for files
// that must exist before the config is loaded, such as certificates.
func startTOMLIn(t testing.TB, dir, toml string, files map[string]string) *server {
	t.Helper()
	tree := map[string]string{"site.toml": toml}
	for name, content := range files {
		tree[name] = strings.ReplaceAll(content, "{dir}", dir)
	}
	testkit.WriteTree(t, dir, tree)
	conf := filepath.Join(dir, "site.toml")
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, dir: dir, errLog: &testkit.SyncBuffer{}}
	if s.srv, err = mwserver.Start(cfg, mwserver.Options{Log: s.errLog}); err != nil {
		t.Fatal(err)
	}
	for _, a := range s.srv.Addrs() {
		s.addr = a.String()
		s.port = a.(*net.TCPAddr).Port
	}
	t.Cleanup(s.stop)
	return s
}

// stop shuts the server down, which flushes and closes its access log;
// later calls do nothing.
func (s *server) stop() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.srv.Stop(ctx)
	})
}

// accessLog stops the server and returns its access log.
func (s *server) accessLog() string {
	s.stop()
	data, err := os.ReadFile(filepath.Join(s.dir, "access.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	return string(data)
}

// dial opens a connection with a deadline that bounds the whole exchange.
func (s *server) dial(t testing.TB) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return nc
}

// exchange sends raw on a new connection, half-closes, and returns
// everything the server sent until it closed. piece > 0 sends raw in
// pieces of that many bytes, so that heads arrive split at every place.
func (s *server) exchange(t testing.TB, raw string, piece int) []byte {
	t.Helper()
	nc := s.dial(t)
	defer nc.Close()
	tcp := nc.(*net.TCPConn)
	tcp.SetNoDelay(true)
	var got bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		io.Copy(&got, nc) // until EOF, reset or the deadline
	}()
	if piece <= 0 {
		piece = len(raw)
	}
	for i := 0; i < len(raw); i += piece {
		end := min(i+piece, len(raw))
		if _, err := io.WriteString(nc, raw[i:end]); err != nil {
			break // the server refused and closed: what it sent is read below
		}
		if piece < len(raw) {
			time.Sleep(200 * time.Microsecond)
		}
	}
	tcp.CloseWrite()
	<-readDone
	return got.Bytes()
}

// response is one parsed response with its raw head.
type response struct {
	*http.Response
	body string
}

// parseResponses splits a byte stream into responses to GET requests.
func parseResponses(stream []byte) ([]response, error) {
	br := bufio.NewReader(bytes.NewReader(stream))
	var out []response
	for {
		if _, err := br.Peek(1); err != nil {
			return out, nil
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			return out, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, response{resp, string(body)})
		if err != nil {
			return out, err
		}
	}
}

// get sends one request on a new connection and reads its response.
func (s *server) get(t testing.TB, target string, header ...string) response {
	t.Helper()
	raw := "GET " + target + " HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n"
	for _, h := range header {
		raw += h + "\r\n"
	}
	rs, err := parseResponses(s.exchange(t, raw+"\r\n", 0))
	if err != nil || len(rs) != 1 {
		t.Fatalf("GET %q: %d responses, %v", target, len(rs), err)
	}
	return rs[0]
}

// healthy fails the test unless a normal request is answered correctly
// within a second: the check after every hostile batch.
func (s *server) healthy(t testing.TB) {
	t.Helper()
	start := time.Now()
	nc, err := net.DialTimeout("tcp", s.addr, time.Second)
	if err != nil {
		t.Fatalf("after the attack: dial: %v", err)
	}
	defer nc.Close()
	nc.SetDeadline(start.Add(time.Second))
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("after the attack: no answer within a second: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != homeBody {
		t.Fatalf("after the attack: %d %q", resp.StatusCode, body)
	}
	if log := s.errLog.String(); strings.Contains(log, "panicked") {
		t.Fatalf("a handler panicked during the attack:\n%s", grepLines(log, "panicked"))
	}
}

// TCP states as /proc/net/tcp numbers them.
const (
	tcpEstablished = 0x01
	tcpFinWait1    = 0x04
	tcpFinWait2    = 0x05
	tcpTimeWait    = 0x06
	tcpCloseWait   = 0x08
	tcpLastAck     = 0x09
	tcpListen      = 0x0A
	tcpClosing     = 0x0B
)

// serverSockets counts, by state, the sockets on the server's side of its
// port (what `ss -tn sport = :PORT` shows), listening socket excluded.
func (s *server) serverSockets(t testing.TB) map[int]int {
	t.Helper()
	states := map[int]int{}
	s.eachServerSocket(func(_, st int) {
		if st != tcpListen {
			states[st]++
		}
	})
	return states
}

// eachServerSocket calls fn with the remote port and state of every socket
// in /proc/net/tcp{,6} whose local port is the server's.
func (s *server) eachServerSocket(fn func(remotePort, state int)) {
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 4 || hexPort(f[1]) != s.port {
				continue
			}
			st, _ := strconv.ParseUint(f[3], 16, 8)
			fn(hexPort(f[2]), int(st))
		}
	}
}

// hexPort is the port of an address as /proc/net/tcp writes it.
func hexPort(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	p, _ := strconv.ParseUint(addr[i+1:], 16, 32)
	return int(p)
}

// stuck is the number of server-side sockets still holding a connection:
// anything but TIME_WAIT, which is the normal end of a closed one.
func stuck(states map[int]int) int {
	n := 0
	for st, c := range states {
		if st != tcpTimeWait {
			n += c
		}
	}
	return n
}

// waitNoStuckSockets waits up to d for every server-side connection to end.
func (s *server) waitNoStuckSockets(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		states := s.serverSockets(t)
		if stuck(states) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server sockets still open after %v (state -> count, 1=ESTABLISHED 4=FIN_WAIT1 5=FIN_WAIT2 8=CLOSE_WAIT): %v", d, states)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// isClosed reports whether err means the peer ended the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// dialSmallBuffer connects with a tiny receive buffer, so that a response
// body fills the network quickly when the client stops reading.
func (s *server) dialSmallBuffer(t testing.TB) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return serr
	}}
	nc, err := d.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	return nc.(*net.TCPConn)
}

// bigFile creates a sparse file of size bytes under the root.
func (s *server) bigFile(t testing.TB, name string, size int64) {
	t.Helper()
	f, err := os.Create(filepath.Join(s.dir, "root", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// tlsSiteTOML serves the suites' site over HTTPS only: example.com is the
// default site, so any name without a site of its own gets its
// certificate, and *.wild.test is a wildcard site with its own, so that a
// test can tell which one a handshake was given.
const tlsSiteTOML = `
[[listener]]
name = "web"
address = "127.0.0.1:0"
tls = true

[[vhost]]
hosts = ["example.com"]
default = true
root = "root"
[vhost.tls]
cert = "example.pem"
key = "example.key"

[[vhost]]
hosts = ["*.wild.test"]
root = "wild"
[vhost.tls]
cert = "wild.pem"
key = "wild.key"
`

// Certificate names of the two TLS sites, as presented.
const (
	defaultCertName = "example.com"
	wildCertName    = "*.wild.test"
)

// startTLSSite is startSite with one listener that has tls = true and
// certificates from the test CA (testkit.TestCA); s.addr is the TLS port.
func startTLSSite(t testing.TB, over map[string]string, extra map[string]string) *server {
	t.Helper()
	dir := t.TempDir()
	testkit.WriteCert(t, dir, "example", defaultCertName)
	testkit.WriteCert(t, dir, "wild", wildCertName)
	files := siteFilesWith(extra)
	files["wild/index.html"] = "WILD-PAGE"
	return startTOMLIn(t, dir, serverTable(over)+tlsSiteTOML, files)
}
