package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moreweb/moreweb/internal/testkit"
)

// The life cycle as an operator meets it, through the real binary: stop,
// second stop, log rotation, start-up failures. (TestCLIServesConfigAnd-
// StopsGracefullyOnSIGTERM, TestCLIReopensAccessLogOnSIGUSR1 and
// TestCLIExitsWithClearMessageWhenPortTaken in cli_test.go cover the
// simple cases.)

// lifecycleSite writes a site with a sparse file big.bin of size bytes and
// a config whose [server] table has the given extra lines.
func lifecycleSite(t *testing.T, addr string, size int64, server string) (dir, conf string) {
	t.Helper()
	dir = testkit.Tree(t, map[string]string{"www/index.html": "home", "site.toml": `
[server]
` + server + `

[[listener]]
name = "web"
address = "` + addr + `"

[[vhost]]
hosts = ["example.test"]
default = true
root = "www"
`})
	f, err := os.Create(filepath.Join(dir, "www", "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(dir, "site.toml")
}

// startDownload asks for /big.bin and returns the connection positioned at
// the start of the body, and the declared length.
func startDownload(t *testing.T, addr string) (net.Conn, *bufio.Reader, int64) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(nc, "GET /big.bin HTTP/1.1\r\nHost: example.test\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("download: %v %v", resp, err)
	}
	return nc, br, resp.ContentLength
}

// TestLifecycleSIGTERMLetsLargeDownloadFinish: a download in flight when
// SIGTERM arrives runs to its last byte; meanwhile the listener is closed
// and an idle keep-alive connection is closed; then the process exits 0.
func TestLifecycleSIGTERMLetsLargeDownloadFinish(t *testing.T) {
	addr := testkit.FreeAddr(t)
	const size = 64 << 20
	_, conf := lifecycleSite(t, addr, size, `access_log = "off"`+"\n"+`shutdown_timeout = "20s"`)
	p := startMoreweb(t, addr, "/", "-c", conf)

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n")
	idleBR := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(idleBR, nil); err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}

	_, br, length := startDownload(t, addr)
	if length != size {
		t.Fatalf("Content-Length %d", length)
	}
	first, _ := io.CopyN(io.Discard, br, 1<<20)
	got := int(first)
	p.cmd.Process.Signal(syscall.SIGTERM)
	// Keep reading, slowly enough that the download outlives the signal
	// by a while (about 1.5s for 64 MiB).
	start := time.Now()
	buf := make([]byte, 64<<10)
	for {
		n, err := br.Read(buf)
		got += n
		if err != nil {
			break
		}
		if want := time.Duration(float64(got-int(first)) / (48 << 20) * float64(time.Second)); time.Since(start) < want {
			time.Sleep(want - time.Since(start))
		}
		if got > 8<<20 && got < 9<<20 {
			// Mid-download: the listener is gone, the idle client closed.
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Error("a new connection was accepted after SIGTERM")
			}
			idle.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := idleBR.ReadByte(); err == nil {
				t.Error("idle keep-alive connection got bytes after SIGTERM")
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Error("idle keep-alive connection still open after SIGTERM")
			}
		}
	}
	if got != size {
		t.Fatalf("download cut at %d of %d bytes:\n%s", got, size, p.stderr)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "stopped") {
		t.Errorf("no \"stopped\" line:\n%s", p.stderr)
	}
}

// TestLifecycleSecondSignalExitsAtOnce: with a client that will never let
// the graceful stop finish, a second SIGTERM ends the process at once,
// non-zero, saying what it cut and why: the signal, not shutdown_timeout,
// which is a minute away.
func TestLifecycleSecondSignalExitsAtOnce(t *testing.T) {
	addr := testkit.FreeAddr(t)
	_, conf := lifecycleSite(t, addr, 256<<20, `access_log = "off"`+"\n"+`shutdown_timeout = "60s"`)
	p := startMoreweb(t, addr, "/", "-c", conf)
	startDownload(t, addr) // and never read the body
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		t.Fatalf("exited on the first signal with a download in flight:\n%s", p.stderr)
	case <-time.After(500 * time.Millisecond):
	}
	second := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	code := p.wait(t)
	if d := time.Since(second); d > 3*time.Second {
		t.Errorf("exited %v after the second signal", d)
	}
	if code == 0 {
		t.Errorf("exit 0 with a connection cut")
	}
	var said string
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(line, "second signal") {
			said = line
		}
	}
	if !strings.Contains(said, "connections cut") || !strings.Contains(said, `"connections": 1`) || !strings.Contains(said, `"signal": "terminated"`) {
		t.Errorf("no line says the second signal cut the one connection:\n%s", p.stderr)
	}
	if strings.Contains(p.stderr.String(), "shutdown_timeout reached") {
		t.Errorf("a timeout is blamed, with shutdown_timeout a minute away:\n%s", p.stderr)
	}
}

// TestLifecycleSecondSignalCountsAfterOtherSignals: a SIGHUP or SIGUSR1
// sent while stopping (a logrotate run, say) is no stop signal, and does
// not use up the wait for one: the SIGTERM after it still ends the process
// at once.
func TestLifecycleSecondSignalCountsAfterOtherSignals(t *testing.T) {
	addr := testkit.FreeAddr(t)
	_, conf := lifecycleSite(t, addr, 256<<20, `access_log = "off"`+"\n"+`shutdown_timeout = "60s"`)
	p := startMoreweb(t, addr, "/", "-c", conf)
	startDownload(t, addr) // and never read the body
	p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.cmd.Process.Signal(syscall.SIGUSR1)
	time.Sleep(300 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		t.Fatalf("still stopping 5s after the second SIGTERM:\n%s", p.stderr)
	}
	if code := p.cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(p.stderr.String(), "second signal") {
		t.Errorf("exit %d:\n%s", code, p.stderr)
	}
}

// TestLifecycleShutdownTimeoutCutsAndExitsNonZero: when shutdown_timeout
// passes with a response still going, the process cuts it, logs how many
// connections it cut, and exits non-zero.
func TestLifecycleShutdownTimeoutCutsAndExitsNonZero(t *testing.T) {
	addr := testkit.FreeAddr(t)
	_, conf := lifecycleSite(t, addr, 256<<20, `access_log = "off"`+"\n"+`shutdown_timeout = "1s"`)
	p := startMoreweb(t, addr, "/", "-c", conf)
	startDownload(t, addr)
	signalled := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	code := p.wait(t)
	d := time.Since(signalled)
	if code == 0 || d < 900*time.Millisecond || d > 5*time.Second {
		t.Errorf("exit %d after %v, want non-zero after about shutdown_timeout = 1s:\n%s", code, d, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "connections cut") || !strings.Contains(p.stderr.String(), `"connections": 1`) {
		t.Errorf("stderr does not say one connection was cut:\n%s", p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "shutdown_timeout reached") || strings.Contains(p.stderr.String(), "second signal") {
		t.Errorf("stderr does not blame shutdown_timeout, and only it:\n%s", p.stderr)
	}
}

// TestLifecycleLogrotateCreateModeSendsNewEntriesToTheNewFile follows
// logrotate's default `create` mode: rename the log, create an empty one in
// its place, send SIGUSR1. New entries go to the new file, none to the
// renamed one.
func TestLifecycleLogrotateCreateModeSendsNewEntriesToTheNewFile(t *testing.T) {
	addr := testkit.FreeAddr(t)
	dir, conf := lifecycleSite(t, addr, 1, `access_log = "access.log"`)
	p := startMoreweb(t, addr, "/", "-c", conf)
	logPath := filepath.Join(dir, "access.log")
	testkit.Get(t, addr, "example.test", "/before")
	testkit.WaitForLine(t, logPath, "/before")

	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logPath, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGUSR1)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stderr.String(), "reopened") {
		if time.Now().After(deadline) {
			t.Fatalf("no reopen logged after SIGUSR1:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	testkit.Get(t, addr, "example.test", "/after")
	testkit.WaitForLine(t, logPath, "/after")
	if old := readFile(t, logPath+".1"); strings.Contains(old, "/after") {
		t.Errorf("rotated file still written to:\n%s", old)
	}
	if fi, err := os.Stat(logPath); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("the file logrotate created was replaced: %v %v", fi.Mode(), err)
	}
}

// TestLifecycleUnreadableRootFailsFast: a root the server cannot read stops
// start-up at once, with the path and the reason, before any socket is
// bound. moreweb runs as nobody here when the test runs as root, for whom
// no directory is unreadable.
func TestLifecycleUnreadableRootFailsFast(t *testing.T) {
	addr := testkit.FreeAddr(t)
	dir, conf := lifecycleSite(t, addr, 1, `access_log = "off"`)
	root := filepath.Join(dir, "www")
	if err := os.Chmod(root, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(root, 0o755)
	run := func(args ...string) (int, string, time.Duration) {
		cmd := exec.Command(binary, args...)
		if os.Geteuid() == 0 {
			// nobody must reach the binary and the config.
			for _, d := range []string{filepath.Dir(binary), dir, filepath.Dir(dir)} {
				if err := os.Chmod(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		cmd.Run()
		return cmd.ProcessState.ExitCode(), out.String(), time.Since(start)
	}
	code, out, d := run("-c", conf)
	t.Logf("exit %d after %v: %s", code, d, out)
	if code == 0 || !strings.Contains(out, root) || !strings.Contains(strings.ToLower(out), "permission denied") {
		t.Errorf("start: exit %d, output %q", code, out)
	}
	if d > 5*time.Second {
		t.Errorf("start-up took %v to fail", d)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s was bound although start-up failed", addr)
	}
	if code, out, _ := run("-t", "-c", conf); code != 1 || !strings.Contains(out, root) {
		t.Errorf("-t: exit %d, output %q", code, out)
	}
}

// TestLifecycleSIGTERMRightAfterStartIsGraceful: SIGTERM sent the moment the
// port first accepts a connection is already a graceful stop (exit 0), not
// the default action of a signal nobody catches yet.
func TestLifecycleSIGTERMRightAfterStartIsGraceful(t *testing.T) {
	for i := range 3 {
		addr := testkit.FreeAddr(t)
		_, conf := lifecycleSite(t, addr, 1, `access_log = "off"`)
		cmd := exec.Command(binary, "-c", conf)
		var stderr testkit.SyncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("never listened:\n%s", stderr.String())
			}
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatal("no exit after SIGTERM")
		}
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("run %d: exit %d (%v) for SIGTERM right after start:\n%s", i, code, cmd.ProcessState, stderr.String())
		}
	}
}
