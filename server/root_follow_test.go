package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moreweb/moreweb/internal/testkit"
)

// A site's root is replaced while clients keep asking for its files, and
// what the clients get is checked byte for byte: these are the ways deploy
// tools publish a site.

// siteRelease is what release n of the test site serves: a small page and
// a file big enough to go by sendfile, each naming n in every byte.
func siteRelease(n int) map[string]string {
	c := string(rune('a' + n%26))
	return map[string]string{"index.html": "release " + c, "big.bin": strings.Repeat(c, 256<<10)}
}

// rootDeploy replaces the root under base one way: "recreate" deletes and
// makes it again, "symlink" renames a new link to releases/N over current,
// "mv" renames the old directory away and the new one into its place.
type rootDeploy struct {
	t    *testing.T
	base string
	way  string
	n    int
}

// rootPath is the root as the config names it, relative to base.
func (d *rootDeploy) rootPath() string {
	if d.way == "symlink" {
		return "current"
	}
	return "www"
}

func (d *rootDeploy) publish() {
	t := d.t
	t.Helper()
	d.n++
	files := siteRelease(d.n)
	fail := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	www := filepath.Join(d.base, "www")
	switch d.way {
	case "recreate":
		// Files are renamed in whole, so that only the directory's
		// absence, never a half-written file, shows.
		stage := filepath.Join(d.base, fmt.Sprintf("stage.%d", d.n))
		testkit.WriteTree(t, stage, files)
		fail(os.RemoveAll(www))
		fail(os.Mkdir(www, 0o755))
		for name := range files {
			fail(os.Rename(filepath.Join(stage, name), filepath.Join(www, name)))
		}
	case "symlink":
		rel := filepath.Join("releases", fmt.Sprint(d.n))
		testkit.WriteTree(t, filepath.Join(d.base, rel), files)
		tmp := filepath.Join(d.base, "current.tmp")
		fail(os.Symlink(rel, tmp))
		fail(os.Rename(tmp, filepath.Join(d.base, "current")))
	case "mv":
		next := filepath.Join(d.base, "www.next")
		testkit.WriteTree(t, next, files)
		if d.n > 1 {
			fail(os.Rename(www, filepath.Join(d.base, fmt.Sprintf("www.old.%d", d.n))))
		}
		fail(os.Rename(next, www))
	}
}

// swapClient asks for target again and again on one keep-alive connection
// and sorts each answer by the release it is wholly from.
type swapClient struct {
	addr, target string
	// check judges one answer, sent at sent: "" if it is allowed.
	check func(sent time.Time, status int, release int) string
}

// releaseOf is the release, 1 or 2, a whole body is from, or -1 for
// anything else (a mix, a truncation).
func releaseOf(target string, body []byte) int {
	for n := 1; n <= 2; n++ {
		want := siteRelease(n)[strings.TrimPrefix(target, "/")]
		if string(body) == want {
			return n
		}
	}
	return -1
}

func (c *swapClient) run(stop <-chan struct{}, errs chan<- string) {
	nc, err := net.Dial("tcp", c.addr)
	if err != nil {
		errs <- err.Error()
		return
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	req := "GET " + c.target + " HTTP/1.1\r\nHost: example.com\r\n\r\n"
	for {
		select {
		case <-stop:
			return
		default:
		}
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		sent := time.Now()
		if _, err := io.WriteString(nc, req); err != nil {
			errs <- c.target + ": " + err.Error()
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			errs <- c.target + ": " + err.Error()
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || int64(len(body)) != resp.ContentLength {
			errs <- fmt.Sprintf("%s: %d bytes of %d declared (%v)", c.target, len(body), resp.ContentLength, err)
			return
		}
		n := 0
		if resp.StatusCode == 200 {
			n = releaseOf(c.target, body)
		}
		if msg := c.check(sent, resp.StatusCode, n); msg != "" {
			errs <- fmt.Sprintf("%s sent %s: %s (status %d, %d bytes starting %q)",
				c.target, sent.Format("15:04:05.000"), msg, resp.StatusCode, len(body), body[:min(len(body), 12)])
			return
		}
	}
}

// TestRootReplacedIsServedAsItNowIs replaces a site's root while clients
// keep requests going on keep-alive connections, for each way a deployment
// replaces one and with and without follow_symlinks. Every answer is one
// release whole, the small page and the big file alike; only a root
// deleted and made again may answer 404 in between; from 1.5 s after the
// swap only the new release is served; and the change is logged once.
func TestRootReplacedIsServedAsItNowIs(t *testing.T) {
	for _, way := range []string{"recreate", "symlink", "mv"} {
		for _, follow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/follow_symlinks=%v", way, follow), func(t *testing.T) {
				t.Parallel()
				rootReplacedUnderLoad(t, way, follow)
			})
		}
	}
}

func rootReplacedUnderLoad(t *testing.T, way string, follow bool) {
	dir := t.TempDir()
	d := &rootDeploy{t: t, base: dir, way: way}
	d.publish()
	conf := filepath.Join(dir, "site.toml")
	testkit.WriteTree(t, dir, map[string]string{"site.toml": fmt.Sprintf(`[server]
access_log = "off"
log_format = "json"
shutdown_timeout = "2s"

[[listener]]
name = "web"
address = "127.0.0.1:0"

[[vhost]]
hosts = ["example.com"]
default = true
root = %q
follow_symlinks = %v
`, d.rootPath(), follow)})
	a, logs := startReload(t, conf)
	var addr string
	for _, ad := range a.sup.Addrs() {
		addr = ad.String()
	}

	var (
		mu         sync.Mutex
		publishing bool      // release 2 is being published, or is
		swapped    time.Time // zero until it is complete
		late       int       // answers to requests sent after settleWithin
	)
	const settleWithin = 1500 * time.Millisecond
	check := func(sent time.Time, status, n int) string {
		mu.Lock()
		began, s := publishing, swapped
		after := !s.IsZero() && sent.After(s.Add(settleWithin))
		if after {
			late++
		}
		mu.Unlock()
		switch {
		case status == 404 && way == "recreate" && began && !after:
			return ""
		case status != 200:
			return "not 200"
		case n < 0:
			return "not one release whole"
		case after && n != 2:
			return fmt.Sprintf("release %d, %v after the swap", n, sent.Sub(s).Round(time.Millisecond))
		}
		return ""
	}
	stop := make(chan struct{})
	errs := make(chan string, 16)
	var wg sync.WaitGroup
	for _, target := range []string{"/index.html", "/index.html", "/big.bin"} {
		c := &swapClient{addr: addr, target: target, check: check}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(stop, errs)
		}()
	}

	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	publishing = true
	mu.Unlock()
	d.publish()
	mu.Lock()
	swapped = time.Now()
	mu.Unlock()
	time.Sleep(settleWithin + 300*time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if late < 3 {
		t.Errorf("only %d answers to requests sent %v after the swap", late, settleWithin)
	}

	var rootLines []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"site root`) {
			rootLines = append(rootLines, line)
		}
	}
	if len(rootLines) != 1 || !strings.Contains(rootLines[0], `"site root replaced`) ||
		!strings.Contains(rootLines[0], `"site":"example.com"`) || !strings.Contains(rootLines[0], `"root":"`+filepath.Join(dir, d.rootPath())+`"`) {
		t.Errorf("want one line saying example.com's root was replaced, logged:\n%s", strings.Join(rootLines, "\n"))
	}
}
