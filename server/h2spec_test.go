package server

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/moreweb/moreweb/internal/testkit"
)

// TestH2SpecPassesEveryCaseOverTLSAndH2c runs the HTTP/2 conformance suite
// h2spec against the real server, over a TLS listener (ALPN h2) and a
// plain listener with h2c: every case must pass.
func TestH2SpecPassesEveryCaseOverTLSAndH2c(t *testing.T) {
	if testing.Short() {
		t.Skip("h2spec takes a few seconds")
	}
	dir := t.TempDir()
	testkit.WriteTree(t, dir, map[string]string{"www/index.html": "<!doctype html><title>h2spec</title>"})
	testkit.WriteCert(t, dir, "site", "localhost", "127.0.0.1")
	plain, secure := testkit.FreeAddr(t), testkit.FreeAddr(t)
	conf := filepath.Join(dir, "site.toml")
	testkit.WriteTree(t, dir, map[string]string{"site.toml": fmt.Sprintf(`
[server]
access_log = "off"
shutdown_timeout = "2s"

[[listener]]
name = "h2c"
address = %q
http2 = true

[[listener]]
name = "tls"
address = %q
tls = true

[[vhost]]
hosts = ["localhost"]
default = true
root = "www"
[vhost.tls]
cert = "site.pem"
key = "site.key"
`, plain, secure)})
	app := runApp(t, conf, 50*time.Millisecond)
	for _, l := range []struct {
		name string
		addr string
		tls  bool
	}{{"h2c", app.addr(t, plain), false}, {"tls", app.addr(t, secure), true}} {
		t.Run(l.name, func(t *testing.T) {
			host, port, _ := net.SplitHostPort(l.addr)
			p, _ := strconv.Atoi(port)
			res := testkit.H2Spec(t, testkit.H2SpecOptions{Host: host, Port: p, TLS: l.tls})
			if res.Total() < 140 {
				t.Fatalf("h2spec ran %d cases, expected its whole suite:\n%s", res.Total(), res.Output)
			}
			for _, f := range res.Failures() {
				t.Errorf("%s", f)
			}
			t.Logf("h2spec over %s: %d cases, %d failed, %v", l.name, res.Total(), len(res.Failures()), res.Duration)
		})
	}
}
