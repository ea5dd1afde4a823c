package server

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moreweb/moreweb/internal/testkit"
)

// These tests hold handlers/static to its rules over real loopback sockets,
// through the whole server: config, routing, the static handler, its cache
// and the listener's write path (one write for a small body, sendfile for a
// big one).

// staticConfig is one site; the site's Cache-Control shows that a 304
// carries what the 200 did.
const staticConfig = `[server]
access_log = "off"

[[listener]]
name = "web"
address = "127.0.0.1:0"

[[vhost]]
hosts = ["example.com"]
default = true
root = "site"
listing = true

[vhost.headers]
"Cache-Control" = "public, max-age=60"
`

// startStaticSite writes staticConfig next to dir/site, starts the server
// in-process and returns its address.
func startStaticSite(t *testing.T, dir string) string {
	t.Helper()
	testkit.WriteTree(t, dir, map[string]string{"site.toml": staticConfig})
	return serveConfigFile(t, filepath.Join(dir, "site.toml"))
}

// keepAlive is one client connection on which requests go one after the
// other, so that a wrong length or a stray body desynchronises the next
// response and fails the test.
type keepAlive struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string) *keepAlive {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &keepAlive{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (k *keepAlive) do(method, target string, header ...string) (*http.Response, []byte) {
	k.t.Helper()
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: example.com\r\n")
	for _, h := range header {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	k.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(k.nc, b.String()); err != nil {
		k.t.Fatal(err)
	}
	resp, err := http.ReadResponse(k.br, &http.Request{Method: method})
	if err != nil {
		k.t.Fatalf("%s %s %q: %v", method, target, header, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		k.t.Fatalf("%s %s %q: body: %v", method, target, header, err)
	}
	if resp.Close {
		k.t.Fatalf("%s %s %q: the server closed a keep-alive connection", method, target, header)
	}
	return resp, body
}

// The static handler's RFC 9110 rules run over one keep-alive connection,
// twice: with the files just written (read from a descriptor per request,
// sendfile for the big one) and once they have settled (small ones served
// from the cache's memory, head and body in one write).
func TestStaticRulesHoldOverOneKeepAliveConnection_RFC9110(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := make([]byte, 200<<10)
	rand.NewChaCha8([32]byte{7}).Read(big)
	testkit.WriteTree(t, dir, map[string]string{
		"site/small.txt":      "0123456789",
		"site/app.js":         "let plain = 1",
		"site/app.js.br":      "BROTLI",
		"site/app.js.gz":      "GZIP",
		"site/big.bin":        string(big),
		"site/dir/index.html": "<!doctype html><title>dir</title>",
	})
	written := time.Now()
	addr := startStaticSite(t, dir)

	for _, pass := range []string{"fresh", "settled"} {
		t.Run(pass, func(t *testing.T) {
			if pass == "settled" {
				// Older than the cache's racy window (2s) and past
				// the revalidation interval: small files are now
				// served from memory.
				time.Sleep(time.Until(written.Add(2500 * time.Millisecond)))
			}
			k := dialKeepAlive(t, addr)
			e2eTable(t, k, big)
			if pass == "settled" {
				e2eChange(t, k, dir)
			}
		})
	}
}

// e2eChange rewrites small.txt, held in the cache's memory by now, and
// measures how long the server takes to send the new bytes: at most the
// cache's revalidation interval (1s), plus slack for a loaded machine.
func e2eChange(t *testing.T, k *keepAlive, dir string) {
	p := filepath.Join(dir, "site", "small.txt")
	later := time.Now().Add(-time.Hour)
	for _, change := range []struct{ name, content string }{
		{"same size, new mtime", "abcdefghij"},
		{"new size", "a longer version"},
	} {
		if err := os.WriteFile(p, []byte(change.content), 0o644); err != nil {
			t.Fatal(err)
		}
		later = later.Add(time.Minute)
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
		changed := time.Now()
		for {
			resp, body := k.do("GET", "/small.txt")
			if resp.StatusCode == 200 && string(body) == change.content {
				break
			}
			if time.Since(changed) > 2*time.Second {
				t.Fatalf("%s: still %q after %v", change.name, body, time.Since(changed))
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%s: new bytes served after %v", change.name, time.Since(changed).Round(time.Millisecond))
	}
}

type e2eCase struct {
	name   string
	method string
	target string
	header []string
	status int
	body   string            // exact, unless check is set
	fields map[string]string // header fields that must have these values ("" = absent)
	check  func(t *testing.T, resp *http.Response, body []byte)
}

func e2eTable(t *testing.T, k *keepAlive, big []byte) {
	first, _ := k.do("GET", "/small.txt")
	etag, lm := first.Header.Get("ETag"), first.Header.Get("Last-Modified")
	if !strings.HasPrefix(etag, `"`) || lm == "" {
		t.Fatalf("validators %q %q", etag, lm)
	}
	jsBr, _ := k.do("GET", "/app.js", "Accept-Encoding: br")
	validators := map[string]string{"ETag": etag, "Last-Modified": lm, "Cache-Control": "public, max-age=60"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range validators {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	parts := func(want ...string) func(*testing.T, *http.Response, []byte) {
		return func(t *testing.T, resp *http.Response, body []byte) {
			got := multipartBodies(t, resp, body)
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("parts %.40q, want %.40q", got, want)
			}
		}
	}
	anyBody := func(*testing.T, *http.Response, []byte) {} // an error page
	tests := []e2eCase{
		{"8.8 validators on 200", "GET", "/small.txt", nil, 200, "0123456789",
			with(map[string]string{"Accept-Ranges": "bytes", "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}), nil},
		{"8.8 validators on 206", "GET", "/small.txt", []string{"Range: bytes=2-4"}, 206, "234",
			with(map[string]string{"Content-Range": "bytes 2-4/10"}), nil},
		{"13.1.2 If-None-Match answers 304 with the 200's fields", "GET", "/small.txt", []string{"If-None-Match: " + etag}, 304, "", with(nil), nil},
		{"13.1.2 If-None-Match compares weakly", "GET", "/small.txt", []string{"If-None-Match: W/" + etag}, 304, "", with(nil), nil},
		{"13.1.2 If-None-Match list", "GET", "/small.txt", []string{`If-None-Match: "x", ` + etag}, 304, "", with(nil), nil},
		{"13.1.2 If-None-Match star", "GET", "/small.txt", []string{"If-None-Match: *"}, 304, "", with(nil), nil},
		{"13.1.2 If-None-Match on HEAD", "HEAD", "/small.txt", []string{"If-None-Match: " + etag}, 304, "", with(nil), nil},
		{"13.1.2 If-None-Match other", "GET", "/small.txt", []string{`If-None-Match: "other"`}, 200, "0123456789", nil, nil},
		{"13.1.3 If-Modified-Since", "GET", "/small.txt", []string{"If-Modified-Since: " + lm}, 304, "", with(nil), nil},
		{"13.1.3 If-Modified-Since ignored under If-None-Match", "GET", "/small.txt", []string{`If-None-Match: "other"`, "If-Modified-Since: " + lm}, 200, "0123456789", nil, nil},
		{"13.1.3 invalid date ignored", "GET", "/small.txt", []string{"If-Modified-Since: yesterday"}, 200, "0123456789", nil, nil},
		{"13.1.1 If-Match", "GET", "/small.txt", []string{"If-Match: " + etag}, 200, "0123456789", nil, nil},
		{"13.1.1 If-Match other is 412", "GET", "/small.txt", []string{`If-Match: "other"`}, 412, "", nil, anyBody},
		{"13.1.4 If-Unmodified-Since earlier is 412", "GET", "/small.txt", []string{"If-Unmodified-Since: Mon, 01 Jan 2001 00:00:00 GMT"}, 412, "", nil, anyBody},
		{"13.2.2 If-Match before If-None-Match", "GET", "/small.txt", []string{`If-Match: "other"`, "If-None-Match: " + etag}, 412, "", nil, anyBody},
		{"14.1.2 suffix range", "GET", "/small.txt", []string{"Range: bytes=-3"}, 206, "789", map[string]string{"Content-Range": "bytes 7-9/10"}, nil},
		{"14.1.2 open range", "GET", "/small.txt", []string{"Range: bytes=7-"}, 206, "789", map[string]string{"Content-Range": "bytes 7-9/10"}, nil},
		{"14.1.1 malformed range ignored", "GET", "/small.txt", []string{"Range: bytes=x-y"}, 200, "0123456789", map[string]string{"Content-Range": ""}, nil},
		{"14.6 multipart/byteranges", "GET", "/small.txt", []string{"Range: bytes=0-1,8-9"}, 206, "", nil, parts("01", "89")},
		{"14.6 overlapping ranges coalesced", "GET", "/small.txt", []string{"Range: bytes=0-5,3-8"}, 206, "012345678", map[string]string{"Content-Range": "bytes 0-8/10"}, nil},
		{"15.5.17 unsatisfiable is 416", "GET", "/small.txt", []string{"Range: bytes=10-"}, 416, "", map[string]string{"Content-Range": "bytes */10"}, anyBody},
		{"13.1.5 If-Range with the ETag", "GET", "/small.txt", []string{"Range: bytes=2-4", "If-Range: " + etag}, 206, "234", nil, nil},
		{"13.1.5 If-Range with the date", "GET", "/small.txt", []string{"Range: bytes=2-4", "If-Range: " + lm}, 206, "234", nil, nil},
		{"13.1.5 If-Range stale sends all", "GET", "/small.txt", []string{"Range: bytes=2-4", `If-Range: "stale"`}, 200, "0123456789", nil, nil},
		{"9.3.2 HEAD: same fields, no body", "HEAD", "/small.txt", nil, 200, "", with(map[string]string{"Content-Length": "10"}), nil},
		{"12.5.3 browser gets brotli", "GET", "/app.js", []string{"Accept-Encoding: gzip, deflate, br, zstd"}, 200, "BROTLI",
			map[string]string{"Content-Encoding": "br", "Vary": "Accept-Encoding", "Content-Type": "text/javascript; charset=utf-8"}, nil},
		{"12.5.3 q=0 refuses", "GET", "/app.js", []string{"Accept-Encoding: br;q=0, gzip"}, 200, "GZIP", map[string]string{"Content-Encoding": "gzip"}, nil},
		{"12.5.3 identity still varies", "GET", "/app.js", nil, 200, "let plain = 1", map[string]string{"Content-Encoding": "", "Vary": "Accept-Encoding"}, nil},
		{"8.8.3 a variant revalidates with its own tag", "GET", "/app.js", []string{"Accept-Encoding: br", "If-None-Match: " + jsBr.Header.Get("ETag")}, 304, "",
			map[string]string{"Vary": "Accept-Encoding", "ETag": jsBr.Header.Get("ETag")}, nil},
		{"14.2 range of a variant", "GET", "/app.js", []string{"Accept-Encoding: br", "Range: bytes=1-2"}, 206, "RO", map[string]string{"Content-Range": "bytes 1-2/6"}, nil},
		{"big file whole (sendfile)", "GET", "/big.bin", nil, 200, string(big), map[string]string{"Content-Type": "application/octet-stream"}, nil},
		{"big file range (sendfile)", "GET", "/big.bin", []string{"Range: bytes=1000-150000"}, 206, string(big[1000:150001]), map[string]string{"Content-Range": "bytes 1000-150000/204800"}, nil},
		{"big file multipart", "GET", "/big.bin", []string{"Range: bytes=0-99,100000-199999"}, 206, "", nil, parts(string(big[:100]), string(big[100000:200000]))},
		{"big file HEAD", "HEAD", "/big.bin", nil, 200, "", map[string]string{"Content-Length": "204800"}, nil},
		{"directory without slash redirects", "GET", "/dir?x=1", nil, 301, "", map[string]string{"Location": "./dir/?x=1"}, nil},
		{"directory index", "GET", "/dir/", nil, 200, "<!doctype html><title>dir</title>", map[string]string{"Content-Type": "text/html; charset=utf-8"}, nil},
		{"OPTIONS", "OPTIONS", "/small.txt", nil, 204, "", map[string]string{"Allow": "GET, HEAD, OPTIONS"}, nil},
		{"other methods are 405", "PUT", "/small.txt", []string{"Content-Length: 0"}, 405, "", map[string]string{"Allow": "GET, HEAD, OPTIONS"}, anyBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := k.do(tt.method, tt.target, tt.header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%.60q)", resp.StatusCode, tt.status, body)
			}
			for name, want := range tt.fields {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
			if tt.check != nil {
				tt.check(t, resp, body)
			} else if string(body) != tt.body {
				t.Errorf("body %d bytes %.40q, want %d bytes %.40q", len(body), body, len(tt.body), tt.body)
			}
			if resp.StatusCode == 304 || tt.method == "HEAD" {
				if len(body) != 0 {
					t.Errorf("%d to %s with a body", resp.StatusCode, tt.method)
				}
			}
		})
	}
}

func multipartBodies(t *testing.T, resp *http.Response, body []byte) []string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	var got []string
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		got = append(got, string(b))
	}
}

// TestParallelRangesReassembleA64MiBDownloadByteForByte downloads a 64 MiB
// file as a download manager does: seven uneven pieces (one byte, a page,
// megabytes, a suffix range for the tail) on seven connections at once, each
// written at its offset, each after the first guarded by If-Range with the
// ETag, then checks the reassembled file byte for byte against the original.
func TestParallelRangesReassembleA64MiBDownloadByteForByte(t *testing.T) {
	t.Parallel()
	const size = 64 << 20
	dir := t.TempDir()
	src := make([]byte, size)
	rand.NewChaCha8([32]byte{64}).Read(src)
	testkit.WriteTree(t, dir, map[string]string{"site/big.bin": string(src)})
	want := sha256.Sum256(src)
	src = nil
	addr := startStaticSite(t, dir)
	url := "http://" + addr + "/big.bin"

	// What the first request tells a download manager.
	head, err := http.Head(url)
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	etag := head.Header.Get("ETag")
	if head.ContentLength != size || head.Header.Get("Accept-Ranges") != "bytes" || etag == "" {
		t.Fatalf("HEAD: length %d, Accept-Ranges %q, ETag %q", head.ContentLength, head.Header.Get("Accept-Ranges"), etag)
	}

	cuts := []int64{0, 1, 4097, 9<<20 + 13, 21<<20 - 1, 40<<20 + 12345, 63<<20 + 7, size}
	out, err := os.Create(filepath.Join(dir, "download.part"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 60 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, len(cuts))
	for i := 0; i+1 < len(cuts); i++ {
		first, last := cuts[i], cuts[i+1]-1
		spec := fmt.Sprintf("bytes=%d-%d", first, last)
		if i == len(cuts)-2 {
			spec = fmt.Sprintf("bytes=-%d", last-first+1) // the tail, as a suffix
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fetchPiece(client, url, spec, etag, first, last, size, out)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(out, 0, size+1)); err != nil {
		t.Fatal(err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
		t.Fatalf("reassembled file sha256 %x, want %x", got, want)
	}
}

func fetchPiece(client *http.Client, url, spec, etag string, first, last, size int64, out *os.File) error {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", spec)
	req.Header.Set("If-Range", etag)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", spec, err)
	}
	defer resp.Body.Close()
	wantRange := "bytes " + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10) + "/" + strconv.FormatInt(size, 10)
	if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != wantRange || resp.ContentLength != last-first+1 || resp.Header.Get("ETag") != etag {
		return fmt.Errorf("%s: %d, Content-Range %q (want %q), length %d, ETag %q",
			spec, resp.StatusCode, resp.Header.Get("Content-Range"), wantRange, resp.ContentLength, resp.Header.Get("ETag"))
	}
	n, err := io.Copy(io.NewOffsetWriter(out, first), resp.Body)
	if err != nil || n != last-first+1 {
		return fmt.Errorf("%s: copied %d bytes: %v", spec, n, err)
	}
	return nil
}

// TestBrowserRevalidationGets304UntilTheFileChanges is a browser's second
// visit: the request carries the first response's ETag and Last-Modified
// (and max-age=0, as a reload does); the answer is 304 with the same
// validators, Vary and Cache-Control, no body, and the connection goes on.
// When the file changes, the old ETag gets the new file.
func TestBrowserRevalidationGets304UntilTheFileChanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testkit.WriteTree(t, dir, map[string]string{"site/app.css": "body{color:red}", "site/app.css.br": "BR-red"})
	addr := startStaticSite(t, dir)
	k := dialKeepAlive(t, addr)
	browser := []string{
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Accept: text/css,*/*;q=0.1",
		"Accept-Encoding: gzip, deflate, br, zstd",
		"Accept-Language: en-US,en;q=0.9",
		"Referer: http://example.com/",
		"Sec-Fetch-Dest: style",
	}
	resp, body := k.do("GET", "/app.css", browser...)
	if resp.StatusCode != 200 || string(body) != "BR-red" || resp.Header.Get("Content-Encoding") != "br" {
		t.Fatalf("first visit: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Encoding"))
	}
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	revalidate := append(browser[:len(browser):len(browser)], "Cache-Control: max-age=0", "If-None-Match: "+etag, "If-Modified-Since: "+lm)
	for i := range 3 {
		again, body := k.do("GET", "/app.css", revalidate...)
		if again.StatusCode != 304 || len(body) != 0 {
			t.Fatalf("revalidation %d: %d with %d bytes", i, again.StatusCode, len(body))
		}
		for _, name := range []string{"ETag", "Last-Modified", "Vary", "Cache-Control"} {
			if got, want := again.Header.Get(name), resp.Header.Get(name); got != want || got == "" {
				t.Errorf("304 %s %q, the 200 had %q", name, got, want)
			}
		}
		if again.Header.Get("Content-Length") != "" && again.Header.Get("Content-Length") != "0" && again.Header.Get("Content-Length") != resp.Header.Get("Content-Length") {
			t.Errorf("304 Content-Length %q", again.Header.Get("Content-Length"))
		}
	}
	// The connection is still in step: a plain request gets its answer.
	if plain, body := k.do("GET", "/app.css"); plain.StatusCode != 200 || string(body) != "body{color:red}" {
		t.Fatalf("after the 304s: %d %q", plain.StatusCode, body)
	}

	// A deployment replaces the files; the browser's next revalidation
	// gets them, within the cache's revalidation interval (1s).
	testkit.WriteTree(t, dir, map[string]string{"site/app.css.br": "BR-blue!"})
	deadline := time.Now().Add(3 * time.Second)
	for {
		again, body := k.do("GET", "/app.css", revalidate...)
		if again.StatusCode == 200 && string(body) == "BR-blue!" && again.Header.Get("ETag") != etag {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("changed file still answered %d %q", again.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
