package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moreweb/moreweb/certs"
	"github.com/moreweb/moreweb/config"
)

// TestExamplesLoadAndServe keeps the shipped examples working: every config
// under examples/ validates, starts, and answers 200 for "/" on each of its
// sites, over HTTPS on its TLS listeners. The HTTPS example is served from
// a copy beside a certificate made as its comments say (moreweb dev-cert);
// the production example, whose roots are on the server it is meant for,
// must have no other error than those roots.
func TestExamplesLoadAndServe(t *testing.T) {
	files, err := filepath.Glob("../examples/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found (%v)", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			switch filepath.Base(file) {
			case "production.toml":
				checkOnlyRootsMissing(t, file)
				return
			case "https.toml":
				file = withDevCertificate(t, file)
			}
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
			tlsAddr, plainAddr := "", ""
			for _, l := range cfg.Listeners {
				addr := a.sup.Addrs()[l.Address].String()
				if l.TLS {
					tlsAddr = addr
				} else {
					plainAddr = addr
				}
			}
			roots := devCARoots(t, filepath.Dir(file))
			for _, v := range cfg.Vhosts {
				for _, host := range v.Hosts {
					if strings.HasPrefix(host, "*.") {
						continue
					}
					if v.TLS != nil && tlsAddr != "" {
						tc, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: host, RootCAs: roots})
						if err != nil {
							t.Errorf("%s: %v", host, err)
							continue
						}
						if resp, _ := get(t, tc, host, "/"); resp.StatusCode != 200 {
							t.Errorf("%s over HTTPS: GET / answered %d", host, resp.StatusCode)
						}
						tc.Close()
						continue
					}
					s := &site{t: t, addr: plainAddr}
					if resp, _ := s.do("GET", host, "/"); resp.StatusCode != 200 {
						t.Errorf("%s: GET / answered %d", host, resp.StatusCode)
					}
				}
			}
		})
	}
}

// withDevCertificate copies the example into a temporary directory beside
// the example sites and makes the certificate it names there.
func withDevCertificate(t *testing.T, file string) string {
	dir := t.TempDir()
	sites, err := filepath.Abs(filepath.Join(filepath.Dir(file), "sites"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sites, filepath.Join(dir, "sites")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(dir, filepath.Base(file))
	if err := os.WriteFile(copied, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := certs.DevCertificate(filepath.Join(dir, "certs"), []string{"localhost", "alpha.localhost", "beta.localhost", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	return copied
}

// devCARoots trusts the development CA beside an example, if there is one.
func devCARoots(t *testing.T, dir string) *x509.CertPool {
	pem, err := os.ReadFile(filepath.Join(dir, "certs", "moreweb-dev-ca.pem"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return pool
}

func checkOnlyRootsMissing(t *testing.T, file string) {
	_, err := config.Load(file)
	var list config.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("want only missing roots, got %v", err)
	}
	for _, d := range list {
		if !strings.HasSuffix(d.Key, ".root") || !strings.Contains(d.Msg, "does not exist") {
			t.Errorf("%s", d)
		}
	}
}

// TestExampleContactFormShowsTheFormThenTheFieldsEscaped keeps the example
// form page working: alpha's /contact shows its form on GET (linked from
// the site's menu), and shows back the fields a POST sent, urlencoded as a
// browser sends them or multipart, HTML-escaped.
func TestExampleContactFormShowsTheFormThenTheFieldsEscaped(t *testing.T) {
	cfg, err := config.Load("../examples/site.toml")
	if err != nil {
		t.Fatal(err)
	}
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
	var s *site
	for _, addr := range a.sup.Addrs() {
		s = &site{t: t, addr: addr.String()}
	}

	if _, body := s.do("GET", "alpha.localhost", "/"); !strings.Contains(body, `<a href="/contact">Contact</a>`) {
		t.Errorf("the front page's menu does not link the form page: %q", body)
	}
	resp, body := s.do("GET", "alpha.localhost", "/contact")
	if resp.StatusCode != 200 || !strings.Contains(body, `<form class="contact" method="post" action="/contact">`) ||
		!strings.Contains(body, `<textarea name="message"`) || strings.Contains(body, "Thank you") {
		t.Fatalf("GET /contact: %d %q", resp.StatusCode, body)
	}

	const sent = "name=Ada&email=ada%40example.com&topic=Order&message=%3Cb%3ETwo+rye%3C%2Fb%3E%0D%0Aplease"
	resp, body = s.raw("POST", "POST /contact HTTP/1.1\r\nHost: alpha.localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Content-Length: "+strconv.Itoa(len(sent))+"\r\n\r\n"+sent)
	for _, want := range []string{
		"Thank you, Ada!", "<dt>email</dt><dd>ada@example.com</dd>", "<dt>topic</dt><dd>Order</dd>",
		"<dt>message</dt><dd>&lt;b&gt;Two rye&lt;/b&gt;\r\nplease</dd>",
	} {
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("POST urlencoded: %d, body lacks %q:\n%s", resp.StatusCode, want, body)
		}
	}
	if strings.Contains(body, "<b>Two") || strings.Contains(body, "<form") {
		t.Errorf("POST urlencoded: unescaped field or the form again:\n%s", body)
	}

	const mp = "--xyz\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n<i>Grace</i>\r\n--xyz--\r\n"
	resp, body = s.raw("POST", "POST /contact HTTP/1.1\r\nHost: alpha.localhost\r\nContent-Type: multipart/form-data; boundary=xyz\r\n"+
		"Content-Length: "+strconv.Itoa(len(mp))+"\r\n\r\n"+mp)
	if resp.StatusCode != 200 || !strings.Contains(body, "Thank you, &lt;i&gt;Grace&lt;/i&gt;!") {
		t.Errorf("POST multipart: %d %q", resp.StatusCode, body)
	}
}

// The proxy example works as its comments say: the example app (built
// here) on a unix socket behind examples/proxy.toml answers its API with
// what the proxy told it, streams its events, and echoes over a WebSocket.
func TestExampleAppAnswersThroughTheProxy(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/app").CombinedOutput(); err != nil {
		t.Fatalf("building the example app: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "app.sock")
	app := exec.Command(bin, "-listen", "unix:"+sock)
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Process.Kill(); app.Wait() })
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if i == 200 {
			t.Fatal("the example app does not listen")
		}
		time.Sleep(10 * time.Millisecond)
	}

	cfg, err := config.Load("../examples/proxy.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listeners[0].Address = "127.0.0.1:0"
	cfg.Server.AccessLog = "off"
	for i := range cfg.Vhosts[0].Proxies {
		cfg.Vhosts[0].Proxies[i].To[0].Address = sock
	}
	a, err := Start(cfg, Options{Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.sup.Shutdown(ctx)
	})
	s := &site{t: t, addr: a.sup.Addrs()["127.0.0.1:0"].String()}

	if resp, body := s.do("GET", "app.localhost", "/api/whoami"); resp.StatusCode != 200 ||
		!strings.Contains(body, `"path":"/whoami"`) || !strings.Contains(body, `"x-forwarded-for":"127.0.0.1"`) {
		t.Errorf("whoami: %d %s", resp.StatusCode, body)
	}

	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(nc, "GET /api/events HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	rd := bufio.NewReader(nc)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The first tick arrives while the stream goes on for four seconds more.
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: tick 1") {
		t.Errorf("events: %q %v", line, err)
	}
	nc.Close()

	ws, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(ws, "GET /live HTTP/1.1\r\nHost: app.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	wrd := bufio.NewReader(ws)
	resp, err = http.ReadResponse(wrd, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	// A masked text frame, "hi" (RFC 6455 §5.2).
	mask := [4]byte{1, 2, 3, 4}
	ws.Write([]byte{0x81, 0x82, mask[0], mask[1], mask[2], mask[3], 'h' ^ mask[0], 'i' ^ mask[1]})
	frame := make([]byte, 4)
	if _, err := io.ReadFull(wrd, frame); err != nil || string(frame) != "\x81\x02HI" {
		t.Errorf("echo: %q %v", frame, err)
	}
}
