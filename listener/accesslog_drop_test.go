package listener

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// An access log whose flushes the test drives, with a clock of its own and
// the error log observed. The background writer is not started.
func manualAccessLog(t *testing.T, out io.Writer, cut cuttable) (*AccessLog, *observer.ObservedLogs) {
	t.Helper()
	l := newAccessLog("json")
	l.out, l.cut = out, cut
	core, logs := observer.New(zapcore.InfoLevel)
	l.SetErrorLog(zap.New(core))
	return l, logs
}

// logEntries records n requests, all in one shard so that one flush writes
// them in order with one write.
func logEntries(l *AccessLog, n int) {
	for i := 0; i < n; i++ {
		l.Log(0, "192.0.2.1:4000", "site", nil, 400, 0, time.Millisecond)
	}
}

func flushAt(l *AccessLog, now time.Time) {
	var spare [accessShards][]byte
	l.flush(&spare, now)
}

// fullDisk is an output on a disk with room bytes free: a write that does
// not fit writes what fits and fails with ENOSPC, as write(2) does, and
// fails outright while room is 0.
type fullDisk struct {
	w    io.Writer
	room int
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if len(p) <= d.room {
		d.room -= len(p)
		return d.w.Write(p)
	}
	n, _ := d.w.Write(p[:d.room])
	d.room = 0
	return n, syscall.ENOSPC
}

// fullDiskFile is a log file on such a disk.
type fullDiskFile struct {
	*os.File
	disk *fullDisk
}

func (f fullDiskFile) Write(p []byte) (int, error) { return f.disk.Write(p) }

// wholeJSONLines fails unless data is complete lines, each one JSON
// object, and returns how many there are.
func wholeJSONLines(t *testing.T, data []byte) int {
	t.Helper()
	if len(data) == 0 {
		return 0
	}
	if data[len(data)-1] != '\n' {
		t.Fatalf("output ends inside a line: ...%q", data[max(0, len(data)-60):])
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for _, line := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line is not a JSON object: %q: %v", line, err)
		}
	}
	return len(lines)
}

// messages returns the error log's lines, checking that each one about
// drops starts with "access log:".
func messages(t *testing.T, logs *observer.ObservedLogs) []string {
	t.Helper()
	var m []string
	for _, e := range logs.All() {
		if !strings.HasPrefix(e.Message, "access log: ") {
			t.Errorf("unexpected log line %q", e.Message)
		}
		m = append(m, e.Message)
	}
	return m
}

func wantMessages(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("error log lines:\n%s\nwant %d lines like:\n%s", strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Fatalf("error log line %d is %q, want it to hold %q", i, got[i], want[i])
		}
	}
}

// When the disk fills in the middle of an entry, the log file is cut back
// to the last whole entry: entries are written whole or not at all, and
// every one that is not is counted. The error log says once that drops
// began, then at most once per report interval how many, and once that
// writing works again.
func TestAccessLogFileKeepsOnlyWholeEntriesWhenTheDiskFills(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	disk := &fullDisk{w: f, room: 1000}
	out := fullDiskFile{f, disk}
	l, logs := manualAccessLog(t, out, out)
	t0 := time.Now()

	logEntries(l, 10)
	flushAt(l, t0)
	data, _ := os.ReadFile(path)
	whole := wholeJSONLines(t, data)
	if whole == 0 || whole >= 10 || len(data) >= 1000 {
		t.Fatalf("%d whole entries in %d bytes: the test needs an entry cut by the full disk", whole, len(data))
	}
	if got := l.Dropped(); got != int64(10-whole) {
		t.Fatalf("Dropped() = %d, want %d", got, 10-whole)
	}
	wantMessages(t, messages(t, logs), "access log: dropping entries: no space left on device")

	logEntries(l, 5)
	flushAt(l, t0.Add(time.Second)) // within the report interval: no line
	logEntries(l, 3)
	flushAt(l, t0.Add(6*time.Second))
	wantMessages(t, messages(t, logs), "dropping entries", "access log: 8 entries dropped in the last 6 s: no space left on device")

	disk.room = 1 << 20
	logEntries(l, 4)
	flushAt(l, t0.Add(7*time.Second))
	data, _ = os.ReadFile(path)
	if n := wholeJSONLines(t, data); n != whole+4 {
		t.Fatalf("%d entries in the file, want %d", n, whole+4)
	}
	if got, want := l.Dropped(), int64(10-whole+8); got != want {
		t.Fatalf("Dropped() = %d, want %d", got, want)
	}
	wantMessages(t, messages(t, logs), "dropping entries", "8 entries dropped", "access log: writing again")
}

// Where the output cannot be cut back (stdout, stderr, a pipe), the torn
// entry is finished before anything else is written once the output takes
// bytes again, so its line is whole; entries that come while it cannot be
// are dropped and counted.
func TestAccessLogStreamFinishesATornEntryBeforeTheNext(t *testing.T) {
	var buf bytes.Buffer
	disk := &fullDisk{w: &buf, room: 1000}
	l, logs := manualAccessLog(t, disk, nil)
	t0 := time.Now()

	logEntries(l, 10)
	flushAt(l, t0)
	if bytes.HasSuffix(buf.Bytes(), newline) {
		t.Fatal("the test needs an entry torn by the full output")
	}
	whole := bytes.Count(buf.Bytes(), newline)
	// The torn entry is not lost: its end waits to be written.
	if got := l.Dropped(); got != int64(10-whole-1) {
		t.Fatalf("Dropped() = %d, want %d", got, 10-whole-1)
	}

	logEntries(l, 2)
	flushAt(l, t0.Add(time.Second))
	if got := l.Dropped(); got != int64(10-whole-1+2) {
		t.Fatalf("Dropped() = %d, want %d: nothing may follow a torn entry", got, 10-whole-1+2)
	}

	disk.room = 1 << 20
	logEntries(l, 3)
	flushAt(l, t0.Add(2*time.Second))
	if n := wholeJSONLines(t, buf.Bytes()); n != whole+1+3 {
		t.Fatalf("%d entries, want %d", n, whole+1+3)
	}
	wantMessages(t, messages(t, logs), "access log: dropping entries: no space left on device",
		"access log: writing again; "+strconv.Itoa(10-whole-1+2)+" entries dropped in 2 s")
}

// On /dev/full every write fails with the kernel's ENOSPC: every entry is
// counted, and the error log has one line when dropping starts and then
// one per report interval, however many flushes fail in between.
func TestAccessLogOnDevFullCountsDropsAndRateLimitsTheWarnings(t *testing.T) {
	f, err := os.OpenFile("/dev/full", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer f.Close()
	l, logs := manualAccessLog(t, f, f)
	t0 := time.Now()
	logEntries(l, 3)
	flushAt(l, t0)
	for s := 1; s <= 12; s++ {
		logEntries(l, 1)
		flushAt(l, t0.Add(time.Duration(s)*time.Second))
	}
	if got := l.Dropped(); got != 15 {
		t.Fatalf("Dropped() = %d, want 15", got)
	}
	wantMessages(t, messages(t, logs),
		"access log: dropping entries: write /dev/full: no space left on device",
		"access log: 5 entries dropped in the last 5 s: write /dev/full: no space left on device",
		"access log: 5 entries dropped in the last 5 s",
	)
	// Close tells what no line has told yet: the two of seconds 11 and 12.
	l.closeReport(t0.Add(13 * time.Second))
	wantMessages(t, messages(t, logs), "dropping", "5 entries", "5 entries", "access log: 2 entries dropped in the last 3 s")
}

// Entries dropped because the output is too slow (no write failed, the
// buffers filled) are reported the same way, with that cause.
func TestAccessLogReportsEntriesDroppedToAFullBuffer(t *testing.T) {
	var buf bytes.Buffer
	l, logs := manualAccessLog(t, &buf, nil)
	for len(l.shards[0].buf) <= accessCap/accessShards {
		logEntries(l, 1)
	}
	logEntries(l, 2)
	if got := l.Dropped(); got != 2 {
		t.Fatalf("Dropped() = %d, want 2", got)
	}
	flushAt(l, time.Now())
	wantMessages(t, messages(t, logs), "access log: dropping entries: entries came faster than the output took them")
	logEntries(l, 1)
	flushAt(l, time.Now())
	wantMessages(t, messages(t, logs), "dropping entries", "access log: writing again; 2 entries dropped")
	wholeJSONLines(t, buf.Bytes())
}

// A torn entry that could not be cut off and a Reopen before it is
// finished: the new file never starts with the end of an old entry.
func TestAccessLogReopenNeverCarriesATornEntryIntoTheNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, _ := manualAccessLog(t, nil, nil)
	l.path = path
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	defer l.file.Close()
	var torn bytes.Buffer
	l.out, l.cut = &fullDisk{w: &torn, room: 100}, nil
	logEntries(l, 2)
	flushAt(l, time.Now())
	if len(l.torn) == 0 {
		t.Fatal("the test needs a torn entry")
	}
	dropped := l.Dropped()
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	if l.Dropped() != dropped+1 {
		t.Fatalf("Dropped() = %d, want the unfinished entry counted: %d", l.Dropped(), dropped+1)
	}
	logEntries(l, 1)
	flushAt(l, time.Now())
	data, _ := os.ReadFile(path)
	if n := wholeJSONLines(t, data); n != 1 {
		t.Fatalf("%d entries in the new file, want 1", n)
	}
}

// An output that fails every other flush does not get two error log lines
// a flush: a run of drops that starts within the report interval of the
// last line is told in the next line instead, and by Close every drop has
// been told.
func TestAccessLogFlappingOutputDoesNotFloodTheErrorLog(t *testing.T) {
	var buf bytes.Buffer
	disk := &fullDisk{w: &buf}
	l, logs := manualAccessLog(t, disk, nil)
	t0 := time.Now()
	for i := 0; i < 50; i++ { // 10 s of flushes, 200 ms apart
		if i%2 == 0 {
			disk.room = 0
		} else {
			disk.room = 1 << 20
		}
		logEntries(l, 1)
		flushAt(l, t0.Add(time.Duration(i)*accessFlushEvery))
	}
	if got := l.Dropped(); got != 25 {
		t.Fatalf("Dropped() = %d, want 25", got)
	}
	// A start and an end in each 5 s.
	if n := len(logs.All()); n > 4 {
		t.Fatalf("%d error log lines in 10 s:\n%s", n, strings.Join(messages(t, logs), "\n"))
	}
	l.closeReport(t0.Add(10 * time.Second))
	t.Log(strings.Join(messages(t, logs), "\n"))
	if l.rep.reported != l.Dropped() {
		t.Fatalf("%d of %d drops told", l.rep.reported, l.Dropped())
	}
	wholeJSONLines(t, buf.Bytes())
}
