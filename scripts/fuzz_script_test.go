// Package scripts holds the tests of the shell scripts beside them.
package scripts

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moreweb/moreweb/internal/testkit"
)

// fakeGo stands in for the go command: one package, whose directory is
// $FAKE_DIR, with one fuzz target, FuzzX. A replay of the committed corpus
// (go test -run) is recorded in $FAKE_DIR/replays and exits $FAKE_REPLAY;
// a fuzzing run (go test -fuzz) does what $FAKE_FUZZ says.
const fakeGo = `#!/usr/bin/env bash
case "$1" in
list)
  if [ "$2" = -f ]; then echo "$FAKE_DIR"; else echo example.com/fake; fi ;;
test)
  case " $* " in
  *" -fuzz "*)
    case "$FAKE_FUZZ" in
    pass)
      printf 'fuzz: elapsed: 10s, execs: 100000 (10000/sec)\nPASS\nok  \texample.com/fake\t10.0s\n' ;;
    deadline)
      printf -- '--- FAIL: FuzzX (10.11s)\n    context deadline exceeded\nFAIL\nexit status 1\nFAIL\texample.com/fake\t10.1s\n'
      exit 1 ;;
    deadline-and-more)
      printf -- '--- FAIL: FuzzX (10.11s)\n    context deadline exceeded\n    fuzzing process hung or terminated unexpectedly: exit status 2\nFAIL\nexit status 1\nFAIL\texample.com/fake\t10.1s\n'
      exit 1 ;;
    crash)
      mkdir -p "$FAKE_DIR/testdata/fuzz/FuzzX"
      printf 'go test fuzz v1\n[]byte("x")\n' > "$FAKE_DIR/testdata/fuzz/FuzzX/0123456789abcdef"
      printf -- '--- FAIL: FuzzX (3.00s)\n    --- FAIL: FuzzX (0.00s)\n        boom\n\n    Failing input written to testdata/fuzz/FuzzX/0123456789abcdef\nFAIL\nexit status 1\nFAIL\texample.com/fake\t3.0s\n'
      exit 1 ;;
    esac ;;
  *)
    echo "$*" >> "$FAKE_DIR/replays"
    exit "${FAKE_REPLAY:-0}" ;;
  esac ;;
esac
`

// runFuzzScript runs fuzz.sh with the fake go and returns its exit code,
// its output and how many times it replayed the committed corpus.
func runFuzzScript(t *testing.T, fuzz string, replayStatus string) (int, string, int) {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	pkg := testkit.Tree(t, map[string]string{"x_test.go": "package x\n\nfunc FuzzX(f *testing.F) {}\n"})
	cmd := exec.Command("bash", "fuzz.sh", "10s")
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"FAKE_DIR="+pkg, "FAKE_FUZZ="+fuzz, "FAKE_REPLAY="+replayStatus)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	// No replays file means the script never replayed the corpus.
	replays, err := os.ReadFile(filepath.Join(pkg, "replays"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return code, string(out), strings.Count(string(replays), "\n")
}

// scripts/fuzz.sh fails on what can be reproduced and on nothing else: an
// input that fuzzing wrote, a committed case that fails again, or any
// failure it cannot tell apart from those; but not Go 1.26's coordinator
// reporting its own -fuzztime deadline with no input written, after which
// the committed corpus is replayed once more.
func TestFuzzScriptFailsOnlyOnReproducibleFindings(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	for _, tt := range []struct {
		name    string
		fuzz    string
		replay  string
		code    int
		replays int
	}{
		{"clean run", "pass", "0", 0, 1},
		{"deadline reported as a failure, nothing written", "deadline", "0", 0, 2},
		{"deadline and another failure", "deadline-and-more", "0", 1, 1},
		{"crasher written", "crash", "0", 1, 1},
		{"committed case fails again", "pass", "1", 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, replays := runFuzzScript(t, tt.fuzz, tt.replay)
			if code != tt.code || replays != tt.replays {
				t.Fatalf("exit %d after %d replays, want exit %d after %d:\n%s", code, replays, tt.code, tt.replays, out)
			}
		})
	}
}
