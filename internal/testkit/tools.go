package testkit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// toolBuild is a set of the module's tool dependencies (go.mod's tool
// block), built together at most once per test binary.
type toolBuild struct {
	name string   // what the cache directory is named after
	pkgs []string // the tools' packages

	once    sync.Once
	bins    []string // the built binaries, in the order of pkgs
	err     error
	offline bool // err is for want of network
}

// need builds the tools on first use and returns their binaries, in the
// order of pkgs. It skips the test only when the tools cannot be built
// for lack of network; any other trouble fails it.
func (b *toolBuild) need(t testing.TB) []string {
	t.Helper()
	b.once.Do(b.build)
	if b.err != nil {
		if b.offline {
			t.Skipf("%s could not be built without network: %v", b.name, b.err)
		}
		t.Fatal(b.err)
	}
	return b.bins
}

// networkTrouble is what the go command says when it cannot fetch modules.
var networkTrouble = regexp.MustCompile(`dial tcp|no such host|network is unreachable|connection refused|i/o timeout|TLS handshake timeout|Temporary failure in name resolution|GOPROXY=off`)

// build puts the binaries in a directory of the user's cache named after
// the tools and what they are built from (the module's go.mod and go.sum,
// the Go version and platform, not where the checkout is), so that test
// binaries, runs and worktrees share one build; a change of any of those
// builds anew, and builds nobody used for a while are removed then. The
// user's cache rather than the shared temporary directory, where another
// user could have put binaries under the expected name first.
func (b *toolBuild) build() {
	env, err := exec.Command("go", "env", "GOMOD", "GOVERSION", "GOOS", "GOARCH").Output()
	if err != nil {
		b.err = fmt.Errorf("go env: %v", err)
		return
	}
	gomod, platform, _ := strings.Cut(string(env), "\n")
	gomod = strings.TrimSpace(gomod)
	h := sha256.New()
	h.Write([]byte(platform))
	for _, f := range []string{gomod, strings.TrimSuffix(gomod, ".mod") + ".sum"} {
		data, err := os.ReadFile(f)
		if err != nil {
			b.err = fmt.Errorf("the module's files: %v", err)
			return
		}
		h.Write(data)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]

	parent, err := os.UserCacheDir()
	if err == nil {
		parent = filepath.Join(parent, "moreweb-test")
		err = os.MkdirAll(parent, 0o700)
	}
	shared := err == nil
	if !shared {
		// No cache to share: one build for this binary, left behind.
		parent = os.TempDir()
	}
	final := filepath.Join(parent, b.name+"-"+key)
	if shared && b.complete(final) {
		// The date says when it was last used, for prune.
		now := time.Now()
		os.Chtimes(final, now, now)
		b.bins = b.files(final)
		return
	}
	if shared {
		b.prune(parent)
	}
	tmp, err := os.MkdirTemp(parent, b.name+"-build-")
	if err != nil {
		b.err = err
		return
	}
	args := append([]string{"build", "-o", tmp + string(filepath.Separator)}, b.pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		b.err = fmt.Errorf("go build %s: %v\n%s", strings.Join(b.pkgs, " "), err, out)
		b.offline = networkTrouble.Match(out)
		return
	}
	// The directory appears whole or not at all; a binary that built the
	// same thing at the same time and renamed first wins.
	dir := tmp
	if shared {
		if err := os.Rename(tmp, final); err == nil || b.complete(final) {
			os.RemoveAll(tmp)
			dir = final
		}
	}
	b.bins = b.files(dir)
}

// prune removes the builds of these tools nobody used for two weeks (their
// module files changed since, or the checkout is gone), and what builds
// that died halfway left. A test binary that is using one of them keeps
// its running copies.
func (b *toolBuild) prune(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	built, building := b.name+"-", b.name+"-build-"
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() {
			continue
		}
		age := time.Since(info.ModTime())
		switch {
		case strings.HasPrefix(e.Name(), building) && age > 24*time.Hour,
			!strings.HasPrefix(e.Name(), building) && strings.HasPrefix(e.Name(), built) && age > 14*24*time.Hour:
			os.RemoveAll(filepath.Join(parent, e.Name()))
		}
	}
}

// files are the binaries go build -o dir/ writes for pkgs: each named
// after its package's last path element.
func (b *toolBuild) files(dir string) []string {
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	var files []string
	for _, p := range b.pkgs {
		files = append(files, filepath.Join(dir, path.Base(p)+exe))
	}
	return files
}

func (b *toolBuild) complete(dir string) bool {
	for _, f := range b.files(dir) {
		if fi, err := os.Stat(f); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// startChild starts cmd and returns a channel closed once it has exited.
// Pdeathsig is sent when the thread that started the child ends, not the
// process, so the start and the wait run on one goroutine locked to its
// thread for the child's life: the runtime then never retires that thread
// under a child that is still needed.
func startChild(cmd *exec.Cmd) (exited <-chan struct{}, err error) {
	cmd.SysProcAttr = childProcAttr()
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			cmd.Wait()
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return done, nil
}
