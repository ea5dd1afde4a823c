package listener

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/errorpage"
)

// testPages are the built-in error pages, for the errors the loop answers
// before a site is known.
var testPages = errorpage.FromBytes(nil)

// testRouter routes by exact host; "" is the default site.
type testRouter map[string]handlers.Handler

func (r testRouter) Route(host []byte) (handlers.Handler, string, bool) {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	// Indexing with string(host) does not allocate, so neither does routing.
	if s, ok := r[string(host)]; ok {
		return s, "site", true
	}
	if s, ok := r[""]; ok {
		return s, "default", true
	}
	return nil, "", false
}

type testServer struct {
	addr string
	sup  *Supervisor
	cfg  *config.Config
	logs *observer.ObservedLogs
}

// startServer runs a Supervisor on a loopback port with router, after
// tune has adjusted the config.
func startServer(t *testing.T, router Router, tune func(*config.Config)) *testServer {
	t.Helper()
	cfg, err := config.ZeroConfig(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(cfg)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	sup := NewSupervisor(zap.New(core), cfg.Server.MaxConnections)
	routers := map[string]Router{}
	for _, l := range cfg.Listeners {
		routers[l.Name] = router
	}
	if _, err := sup.Apply(cfg, Snapshot{Errors: testPages, Routers: routers}); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{sup: sup, cfg: cfg, logs: logs}
	for _, a := range sup.Addrs() {
		ts.addr = a.String()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sup.Shutdown(ctx)
	})
	return ts
}

type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func (ts *testServer) dial(t *testing.T) *client {
	t.Helper()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *client) send(raw string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, raw); err != nil {
		c.t.Fatal(err)
	}
}

// response reads one response, body included, for a request of method.
func (c *client) response(method string) (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading body: %v", err)
	}
	resp.Body.Close()
	return resp, string(body)
}

// closed reports whether the server closed the connection (EOF within a
// second, with no more bytes).
func (c *client) closed() bool {
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.br.ReadByte()
	return err == io.EOF || isExpectedNetError(err) && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// text is a handler answering with a fixed body.
func text(body string) handlers.Handler {
	return handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := w.WriteString(body)
		return err
	})
}

// echoPath answers with the request's cleaned path.
var echoPath = handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
	_, err := w.Write(r.Path)
	return err
})

// randomFileHandler writes size random bytes to a file and returns them
// with a handler that serves the file from an *os.File, the way the static
// handler hands bodies to the writer: the whole file, or for "/range" the
// 5 MiB from offset 1000.
func randomFileHandler(t *testing.T, size int) ([]byte, handlers.Handler) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data, handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if string(r.Path) == "/range" {
			f.Seek(1000, io.SeekStart)
			w.SetContentLength(5 << 20)
			_, err = w.ReadFrom(&io.LimitedReader{R: f, N: 5 << 20})
			return err
		}
		w.SetContentLength(int64(len(data)))
		_, err = w.ReadFrom(f)
		return err
	})
}
