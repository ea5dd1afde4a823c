package listener

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const fsizeChildEnv = "MOREWEB_TEST_FSIZE_LOG"

// A real file and a real short write: under RLIMIT_FSIZE the kernel writes
// what fits below the limit and then refuses with EFBIG, as it does with
// ENOSPC on a full disk, without needing a filesystem to fill. The limit
// binds the whole process, so the writes happen in a child process, this
// test binary run again.
func TestAccessLogFileIsCutBackToWholeEntriesAfterARealShortWrite(t *testing.T) {
	if path := os.Getenv(fsizeChildEnv); path != "" {
		fsizeChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "access.log")
	cmd := exec.Command(os.Args[0], "-test.run=^TestAccessLogFileIsCutBackToWholeEntriesAfterARealShortWrite$")
	cmd.Env = append(os.Environ(), fsizeChildEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var dropped, whole int
	if _, err := fmt.Sscanf(string(out[strings.Index(string(out), "dropped="):]), "dropped=%d whole=%d", &dropped, &whole); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	if dropped < 1 || whole < 1 {
		t.Fatalf("dropped %d, %d whole entries before the limit: the test needs both", dropped, whole)
	}
	t.Logf("child: %d entries written before the limit, %d dropped", whole, dropped)
	data, _ := os.ReadFile(path)
	if n := wholeJSONLines(t, data); n != whole+5 {
		t.Fatalf("%d entries in the file, want the %d before the limit and 5 after", n, whole)
	}
}

func fsizeChild(path string) {
	fail := func(format string, args ...any) {
		fmt.Printf(format+"\n", args...)
		os.Exit(1)
	}
	l := newAccessLog("json")
	l.path = path
	if err := l.Reopen(); err != nil {
		fail("open: %v", err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		fail("getrlimit: %v", err)
	}
	small := lim
	small.Cur = 1000
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &small); err != nil {
		fail("setrlimit: %v", err)
	}
	logEntries(l, 10)
	var spare [accessShards][]byte
	l.flush(&spare, time.Now())
	if !errors.Is(l.rep.cause, syscall.EFBIG) {
		fail("cause %v, want EFBIG", l.rep.cause)
	}
	if len(l.torn) > 0 {
		fail("torn entry kept instead of cut off")
	}
	data, _ := os.ReadFile(path)
	whole := strings.Count(string(data), "\n")
	if len(data) == 0 || data[len(data)-1] != '\n' {
		fail("file ends inside an entry: %q", data)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		fail("setrlimit: %v", err)
	}
	logEntries(l, 5)
	l.flush(&spare, time.Now())
	fmt.Printf("dropped=%d whole=%d\n", l.Dropped(), whole)
}
