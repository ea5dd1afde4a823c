package listener

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/moreweb/moreweb/config"
)

// The server's own error pages ([server.error_pages], for requests that
// reach no site) are the bytes the config snapshot read and hashed: a page
// edited on disk after the load is not what that snapshot serves, and the
// snapshot of the next load serves the new bytes.
func TestServerErrorPageIsTheBytesItsSnapshotRead(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "400.html")
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(page, "loaded 400")
	conf := filepath.Join(dir, "site.toml")
	write(conf, `
[server.error_pages]
400 = "400.html"

[[listener]]
name = "web"
address = "127.0.0.1:0"

[[vhost]]
default = true
root = "."
`)
	load := func() *config.Config {
		t.Helper()
		cfg, err := config.Load(conf)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	routers := map[string]Router{"web": testRouter{"": echoPath}}
	sup := NewSupervisor(zap.NewNop(), 10)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sup.Shutdown(ctx)
	})
	ts := &testServer{sup: sup}
	badRequest := func() string {
		t.Helper()
		for _, a := range sup.Addrs() {
			ts.addr = a.String()
		}
		c := ts.dial(t)
		c.send("GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
		resp, body := c.response("GET")
		if resp.StatusCode != 400 {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
		return body
	}

	first := load()
	write(page, "edited 400")
	if _, err := sup.Apply(first, routers, nil); err != nil {
		t.Fatal(err)
	}
	if body := badRequest(); body != "loaded 400" {
		t.Errorf("the snapshot loaded before the edit serves %q, want the page it read", body)
	}
	second := load()
	if second.Hash == first.Hash {
		t.Error("the edited page did not change the hash")
	}
	if _, err := sup.Apply(second, routers, nil); err != nil {
		t.Fatal(err)
	}
	if body := badRequest(); body != "edited 400" {
		t.Errorf("after the reload the page is %q, want the edited one", body)
	}
}
