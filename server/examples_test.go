package server

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moreweb/moreweb/config"
)

// TestExamplesLoadAndServe keeps the shipped examples working: every config
// under examples/ validates, starts, and answers 200 for "/" on each of its
// sites.
func TestExamplesLoadAndServe(t *testing.T) {
	files, err := filepath.Glob("../examples/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found (%v)", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cfg, err := config.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			// Serve on free ports, so the test runs beside a real server.
			for i := range cfg.Listeners {
				cfg.Listeners[i].Address = "127.0.0.1:0"
			}
			cfg.Server.AccessLog = "off"
			a, err := Start(cfg, Options{Log: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				a.sup.Shutdown(ctx)
			}()
			s := &site{t: t}
			for _, addr := range a.sup.Addrs() {
				s.addr = addr.String()
			}
			for _, v := range cfg.Vhosts {
				for _, host := range v.Hosts {
					if strings.HasPrefix(host, "*.") {
						continue
					}
					if resp, _ := s.do("GET", host, "/"); resp.StatusCode != 200 {
						t.Errorf("%s: GET / answered %d", host, resp.StatusCode)
					}
				}
			}
		})
	}
}
