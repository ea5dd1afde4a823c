package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moreweb/moreweb/internal/testkit"
)

var binary string

// TestMain builds the real command once; the tests run it as a user would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "moreweb-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "moreweb")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building moreweb: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	cmd    *exec.Cmd
	stderr *testkit.SyncBuffer
	exited chan struct{} // closed when the process has been waited for
}

// startMoreweb runs the binary and waits until addr accepts connections.
func startMoreweb(t *testing.T, addr string, dir string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	p := &proc{cmd: cmd, stderr: &testkit.SyncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("moreweb exited early (%v):\n%s", cmd.ProcessState, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("moreweb did not listen on %s:\n%s", addr, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(20 * time.Second):
		t.Fatalf("moreweb did not exit:\n%s", p.stderr)
		return -1
	}
}

// readFile is the file at path, which the test cannot go on without.
func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// editFile replaces the first old in the file at path with new and returns
// what the file held before. A file without old fails the test, so that an
// edit cannot silently leave the file as it was.
func editFile(t *testing.T, path, old, new string) string {
	t.Helper()
	before := readFile(t, path)
	if !strings.Contains(before, old) {
		t.Fatalf("%s has no %q to replace", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(before, old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return before
}

func TestCLIVersionFlagPrintsTheVersion(t *testing.T) {
	out, err := exec.Command(binary, "-version").Output()
	if err != nil || !strings.HasPrefix(string(out), "moreweb ") {
		t.Fatalf("%q %v", out, err)
	}
}

func TestCLICheckSaysOKForAValidConfig(t *testing.T) {
	conf := testkit.WriteSite(t, t.TempDir(), "127.0.0.1:1", "hi")
	out, err := exec.Command(binary, "-t", "-c", conf).Output()
	if err != nil || strings.TrimSpace(string(out)) != "configuration ok" {
		t.Fatalf("%q %v", out, err)
	}
}

func TestCLICheckReportsEveryErrorWithLine(t *testing.T) {
	conf := filepath.Join(testkit.Tree(t, map[string]string{"site.toml": `[[listener]]
name = "web"
address = "127.0.0.1:8080"

[[vhost]]
hosts = ["a.test"]
listeners = ["wbe"]
rooot = "www"
`}), "site.toml")
	cmd := exec.Command(binary, "-t", "-c", conf)
	out, err := cmd.Output()
	if cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("exit %d (%v), output %q", cmd.ProcessState.ExitCode(), err, out)
	}
	text := string(out)
	for _, want := range []string{conf + ":7:", `vhost[0].listeners[0]`, conf + ":8:", "vhost[0].rooot"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

// A new user's first mistake: a header missing its "]" is reported on its
// own line, the first, not on the line after.
func TestCLICheckPlacesASyntaxErrorOnItsLine(t *testing.T) {
	conf := filepath.Join(testkit.Tree(t, map[string]string{"site.toml": "[server\nlog_level = \"info\"\n"}), "site.toml")
	cmd := exec.Command(binary, "-t", "-c", conf)
	out, _ := cmd.Output()
	want := conf + ":1:8: expected '.' or ']' to end table name, but got '\\n' instead\n"
	if cmd.ProcessState.ExitCode() != 1 || string(out) != want {
		t.Fatalf("exit %d, output\n%q\nwant\n%q", cmd.ProcessState.ExitCode(), out, want)
	}
}

// TestCLICheckReportsATypoAloneAsTheREADMEShows runs -t on a file with the
// two mistakes of the README's sample: a typo of root, which is reported
// alone (not also as a vhost with nothing to serve), and a listener that
// does not exist. The output is the README's, byte for byte.
func TestCLICheckReportsATypoAloneAsTheREADMEShows(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const prompt = "$ moreweb -t -c site.toml\n"
	_, sample, ok := strings.Cut(string(readme), prompt)
	if !ok {
		t.Fatalf("the README has no %q sample", prompt)
	}
	sample, _, _ = strings.Cut(sample, "```")

	dir := testkit.Tree(t, map[string]string{"www/": "", "site.toml": `[server]
access_log = "off"

[[listener]]
name = "web"
address = "127.0.0.1:8080"

[[vhost]]
hosts = ["a.example"]
default = true
listing = true
rooot = "www"
[[vhost]]
listeners = ["wbe"]
hosts = ["b.example"]
root = "www"
`})
	cmd := exec.Command(binary, "-t", "-c", "site.toml")
	cmd.Dir = dir
	out, _ := cmd.Output()
	if cmd.ProcessState.ExitCode() != 1 || string(out) != sample {
		t.Errorf("exit %d, output\n%s\nthe README shows\n%s", cmd.ProcessState.ExitCode(), out, sample)
	}
}

func TestCLIServesConfigAndStopsGracefullyOnSIGTERM(t *testing.T) {
	dir, addr := t.TempDir(), testkit.FreeAddr(t)
	conf := testkit.WriteSite(t, dir, addr, "hello from the site")
	p := startMoreweb(t, addr, "/", "-c", conf)
	if code, body := testkit.Get(t, addr, "example.test", "/"); code != 200 || body != "hello from the site" {
		t.Fatalf("%d %q", code, body)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.stderr)
	}
}

func TestCLIReloadsOnSIGHUP(t *testing.T) {
	dir, addr := t.TempDir(), testkit.FreeAddr(t)
	conf := testkit.WriteSite(t, dir, addr, "v1")
	p := startMoreweb(t, addr, "/", "-c", conf)
	testkit.WriteTree(t, dir, map[string]string{"www/v2.html": "v2"})
	data := editFile(t, conf, `root = "www"`, "root = \"www\"\nindex = [\"v2.html\"]")
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, body := testkit.Get(t, addr, "example.test", "/"); body == "v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reload not applied:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A broken edit is refused with its line; the running config stays.
	if err := os.WriteFile(conf, []byte(data+"\nbogus_key = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stderr.String(), "reload failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload failure logged:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), "site.toml:") {
		t.Errorf("reload error lacks its place:\n%s", p.stderr)
	}
	if _, body := testkit.Get(t, addr, "example.test", "/"); body != "v2" {
		t.Fatalf("after a failed reload: %q", body)
	}
}

func TestCLIZeroConfigServesDirectoryWithListing(t *testing.T) {
	dir, addr := testkit.Tree(t, map[string]string{"notes.txt": "n"}), testkit.FreeAddr(t)
	startMoreweb(t, addr, dir, "-listen", addr)
	code, body := testkit.Get(t, addr, "anything", "/")
	if code != 200 || !strings.Contains(body, "notes.txt") {
		t.Fatalf("%d %q", code, body)
	}
}

func TestCLIExitsWithClearMessageWhenPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conf := testkit.WriteSite(t, t.TempDir(), ln.Addr().String(), "x")
	cmd := exec.Command(binary, "-c", conf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Run()
	if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(stderr.String(), "cannot listen on "+ln.Addr().String()) {
		t.Fatalf("exit %d, stderr %q", cmd.ProcessState.ExitCode(), stderr.String())
	}
}

func TestCLIReopensAccessLogOnSIGUSR1(t *testing.T) {
	dir, addr := t.TempDir(), testkit.FreeAddr(t)
	conf := testkit.WriteSite(t, dir, addr, "x")
	editFile(t, conf, `access_log = "off"`, `access_log = "access.log"`)
	p := startMoreweb(t, addr, "/", "-c", conf)
	logPath := filepath.Join(dir, "access.log")
	testkit.Get(t, addr, "example.test", "/first")
	testkit.WaitForLine(t, logPath, "/first")
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGUSR1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		testkit.Get(t, addr, "example.test", "/second")
		if data, _ := os.ReadFile(logPath); bytes.Contains(data, []byte("/second")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new access log after SIGUSR1:\n%s", p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
