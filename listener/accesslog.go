package listener

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/moreweb/moreweb/handlers"
)

// AccessLog writes one entry per request, as a JSON object or an
// Apache/nginx combined line. Serving never waits for the disk: entries are
// formatted into one of several memory buffers, each under its own short
// lock (connections are spread over them, so no lock is shared by every
// request), and a background goroutine writes the buffers out. If the
// output stalls and a buffer reaches its cap, or a write fails (a full
// disk, a closed pipe), entries are dropped and counted rather than
// blocking, and the error log says so.
//
// The output only ever holds whole entries: a write cut short inside an
// entry is undone or finished before anything else is written (see
// writeEntries).
type AccessLog struct {
	combined bool
	path     string // "" for stdout/stderr

	shards  [accessShards]accessShard
	dropped atomic.Int64

	outMu sync.Mutex // held while writing, and by Reopen to switch files
	out   io.Writer
	file  *os.File // when path != ""
	// cut is the output as a file we opened and may shorten, nil for
	// stdout and stderr, which others (a shell, the error log) may share.
	cut cuttable
	// torn is the rest of an entry whose start is already in out: it is
	// written before any other entry, so that the line is finished.
	torn []byte
	rep  dropReport

	errlog      atomic.Pointer[zap.Logger]
	reportEvery time.Duration

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// cuttable is what shortening the output file back to an entry boundary
// needs; *os.File has it.
type cuttable interface {
	Stat() (os.FileInfo, error)
	Seek(offset int64, whence int) (int64, error)
	Truncate(size int64) error
}

// dropReport is what the error log has been told about dropped entries,
// kept by the writer goroutine under outMu.
type dropReport struct {
	dropping  bool
	announced bool      // the current run has had a line
	since     time.Time // when the current run of drops began
	untold    time.Time // when the oldest drop no line has told happened
	last      time.Time // the last line about drops
	base      int64     // Dropped() when the run began
	reported  int64     // Dropped() at the last line
	seen      int64     // Dropped() at the end of the previous flush
	cause     error
}

// errOutputSlow is the cause of drops when no write failed: the buffers
// filled faster than the output took them.
var errOutputSlow = errors.New("entries came faster than the output took them")

const accessShards = 8

type accessShard struct {
	mu  sync.Mutex
	buf []byte
	_   [40]byte // keeps each shard's lock on its own cache line
}

const (
	accessFlushEvery = 200 * time.Millisecond
	accessKickAt     = 64 << 10
	accessCap        = 8 << 20
	// accessReportEvery spaces the error log's lines about drops, so that a
	// full disk under load gives a line every few seconds, not one per
	// entry.
	accessReportEvery = 5 * time.Second
)

// OpenAccessLog opens the access log: "stdout", "stderr", or a file path
// (appended to, created 0644). format is "json" or "combined". Drops are
// reported on stderr until SetErrorLog names another logger.
func OpenAccessLog(dest, format string) (*AccessLog, error) {
	l := newAccessLog(format)
	switch dest {
	case "stdout":
		l.out = os.Stdout
	case "stderr":
		l.out = os.Stderr
	default:
		l.path = dest
		if err := l.Reopen(); err != nil {
			return nil, err
		}
	}
	go l.writer()
	return l, nil
}

func newAccessLog(format string) *AccessLog {
	l := &AccessLog{
		combined:    format == "combined",
		reportEvery: accessReportEvery,
		kick:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	l.errlog.Store(zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(os.Stderr), zapcore.InfoLevel)))
	return l
}

// SetErrorLog names the logger that hears about entries the access log
// could not write.
func (l *AccessLog) SetErrorLog(log *zap.Logger) {
	if log != nil {
		l.errlog.Store(log)
	}
}

// Reopen opens the log file again by name, for logrotate: after a rename,
// new entries go to a new file at the configured path.
func (l *AccessLog) Reopen() error {
	if l.path == "" {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	l.outMu.Lock()
	old := l.file
	if len(l.torn) > 0 {
		// The torn line belongs to the old file: finish it there or
		// count it lost, never start the new file with its end.
		if _, err := l.out.Write(l.torn); err != nil {
			l.dropped.Add(1)
		}
		l.torn = l.torn[:0]
	}
	l.file, l.out, l.cut = f, f, f
	l.outMu.Unlock()
	if old != nil {
		old.Close() // the writer holds outMu while it writes: nothing is lost
	}
	return nil
}

// Dropped is the number of entries lost to a stalled or failing output.
func (l *AccessLog) Dropped() int64 { return l.dropped.Load() }

// Close flushes what is buffered and stops the writer.
func (l *AccessLog) Close() error {
	close(l.stop)
	<-l.done
	l.outMu.Lock()
	defer l.outMu.Unlock()
	l.closeReport(time.Now())
	if l.file != nil {
		return l.file.Close()
	}
	return nil
}

func (l *AccessLog) writer() {
	defer close(l.done)
	tick := time.NewTicker(accessFlushEvery)
	defer tick.Stop()
	var spare [accessShards][]byte
	for {
		select {
		case <-tick.C:
		case <-l.kick:
		case <-l.stop:
			l.flush(&spare, time.Now())
			return
		}
		l.flush(&spare, time.Now())
	}
}

// flush swaps each shard's buffer for a spare under the shard's lock and
// writes what it took without holding any lock loggers need. After a
// failed write the rest of this round is dropped without trying: the
// output is failing, and the next round tries again.
func (l *AccessLog) flush(spare *[accessShards][]byte, now time.Time) {
	l.outMu.Lock()
	defer l.outMu.Unlock()
	wrote := false
	var err error
	if len(l.torn) > 0 {
		err = l.finishTorn()
		wrote = err == nil
	}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		pending := sh.buf
		sh.buf = spare[i][:0]
		sh.mu.Unlock()
		if len(pending) > 0 {
			if err != nil {
				l.dropped.Add(int64(bytes.Count(pending, newline)))
			} else {
				var lost int
				lost, err = l.writeEntries(pending)
				l.dropped.Add(int64(lost))
				wrote = wrote || err == nil
			}
		}
		spare[i] = pending
	}
	l.report(now, err, wrote)
}

var newline = []byte{'\n'}

// writeEntries writes b, whole entries each ending in '\n', and returns
// how many of them are lost.
//
// A write can stop inside an entry (a disk filling up mid-write). The
// entries before that point are in the output and the ones after it are
// lost; the torn one must not stay half-written, or it would run into the
// next line written once space returns. In a file we opened, it is cut off
// again: the file is shortened to the end of the last whole entry, and the
// torn entry is lost too. Where that cannot be done (stdout, stderr, a
// pipe, or a file someone else wrote to or truncated since, as logrotate's
// copytruncate does), the rest of the torn entry is kept and written first
// by the next flush, which finishes the line; until it can be, nothing
// else is written.
func (l *AccessLog) writeEntries(b []byte) (lost int, err error) {
	n, err := l.out.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err == nil {
		return 0, nil
	}
	whole := bytes.LastIndexByte(b[:n], '\n') + 1
	lost = bytes.Count(b[whole:], newline)
	if whole < n {
		if l.cutBack(int64(n - whole)) {
			return lost, err
		}
		end := n + bytes.IndexByte(b[n:], '\n') + 1
		l.torn = append(l.torn[:0], b[n:end]...)
		lost--
	}
	return lost, err
}

// finishTorn writes the rest of a torn entry.
func (l *AccessLog) finishTorn() error {
	n, err := l.out.Write(l.torn)
	if err == nil && n < len(l.torn) {
		err = io.ErrShortWrite
	}
	l.torn = l.torn[:copy(l.torn, l.torn[n:])]
	return err
}

// cutBack shortens the output file by the k bytes of a torn entry that the
// last write left at its end. It checks first that those bytes are still
// the file's last ones: with O_APPEND the descriptor's offset is the end
// of our last write, and it is the file's size unless another process
// wrote to the file or truncated it since. The file is the one the
// descriptor names, which after a logrotate rename is the rotated file
// and not the one now at the path, so it is cut through the descriptor.
func (l *AccessLog) cutBack(k int64) bool {
	if l.cut == nil {
		return false
	}
	fi, err := l.cut.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	end, err := l.cut.Seek(0, io.SeekCurrent)
	if err != nil || end != fi.Size() || end < k {
		return false
	}
	if l.cut.Truncate(end-k) != nil {
		return false
	}
	// Without O_APPEND the next write would leave a hole at end-k.
	_, err = l.cut.Seek(end-k, io.SeekStart)
	return err == nil
}

// report tells the error log about drops: one line when they start, then
// at most one every reportEvery while they go on, saying how many and why,
// and one when a write works again with none dropped since the last flush.
// A run of drops that starts within reportEvery of the last line is not
// announced, and neither is its end: its count goes into the next line, so
// that an output failing every other flush cannot flood the error log.
func (l *AccessLog) report(now time.Time, err error, wrote bool) {
	r := &l.rep
	total := l.dropped.Load()
	fresh := total > r.seen
	r.seen = total
	if fresh && r.untold.IsZero() {
		r.untold = now
	}
	if err != nil {
		r.cause = err
	} else if fresh && r.cause == nil {
		r.cause = errOutputSlow
	}
	log := l.errlog.Load()
	quiet := !r.last.IsZero() && now.Sub(r.last) < l.reportEvery
	switch {
	case fresh && !r.dropping:
		r.dropping, r.announced, r.since, r.base = true, !quiet, r.untold, r.reported
		if !quiet {
			log.Warn("access log: dropping entries: "+r.cause.Error(),
				zap.Int64("dropped", total-r.reported), zap.Error(r.cause))
			r.told(now, total)
		}
	case fresh || (!r.dropping && total > r.reported):
		if !quiet {
			l.summary(log, now, total)
			r.announced = r.dropping
		}
	case r.dropping && wrote && err == nil:
		r.dropping = false
		if r.announced {
			log.Info(fmt.Sprintf("access log: writing again; %d entries dropped in %.0f s", total-r.base, now.Sub(r.since).Seconds()),
				zap.Int64("dropped", total-r.base), zap.Duration("for", now.Sub(r.since)), zap.Error(r.cause))
			r.told(now, total)
		}
	}
	if !r.dropping && r.reported == total {
		r.cause = nil
	}
}

func (l *AccessLog) summary(log *zap.Logger, now time.Time, total int64) {
	r := &l.rep
	d := now.Sub(r.last)
	log.Warn(fmt.Sprintf("access log: %d entries dropped in the last %.0f s: %v", total-r.reported, d.Seconds(), r.cause),
		zap.Int64("dropped", total-r.reported), zap.Duration("in", d), zap.Int64("dropped_total", total), zap.Error(r.cause))
	r.told(now, total)
}

func (r *dropReport) told(now time.Time, total int64) {
	r.last, r.reported, r.untold = now, total, time.Time{}
}

// closeReport is the last word at Close: a torn entry still unfinished is
// lost, and drops not yet told are told now.
func (l *AccessLog) closeReport(now time.Time) {
	if len(l.torn) > 0 {
		l.torn = l.torn[:0]
		l.dropped.Add(1)
	}
	if total := l.dropped.Load(); total > l.rep.reported {
		if l.rep.cause == nil {
			l.rep.cause = errOutputSlow
		}
		l.summary(l.errlog.Load(), now, total)
	}
}

// Log records one request; shard spreads callers over the buffers (a
// connection passes the same number each time). req is the request as
// every protocol presents it, so that each logs through this one code; it
// is nil for a request refused before it could be parsed.
func (l *AccessLog) Log(shard uint32, remote, site string, req *handlers.Request, status int, bytes int64, d time.Duration) {
	now := time.Now()
	sh := &l.shards[shard%accessShards]
	sh.mu.Lock()
	if len(sh.buf) > accessCap/accessShards {
		sh.mu.Unlock()
		l.dropped.Add(1)
		return
	}
	if l.combined {
		sh.buf = appendCombined(sh.buf, now, remote, req, status, bytes)
	} else {
		sh.buf = appendJSON(sh.buf, now, remote, site, req, status, bytes, d)
	}
	kick := len(sh.buf) > accessKickAt/accessShards
	sh.mu.Unlock()
	if kick {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// logFields are the request's values an entry shows; all empty for a
// request that could not be parsed. A protocol may leave Header nil.
func logFields(req *handlers.Request) (method, proto string, target, referer, ua []byte) {
	if req == nil {
		return "", "", nil, nil, nil
	}
	if req.Header != nil {
		referer, ua = req.Header.Get("Referer"), req.Header.Get("User-Agent")
	}
	return req.Method, req.Proto, req.Target, referer, ua
}

func appendJSON(b []byte, now time.Time, remote, site string, req *handlers.Request, status int, bytes int64, d time.Duration) []byte {
	b = append(b, `{"time":"`...)
	b = now.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","remote":`...)
	b = appendJSONString(b, []byte(remote))
	b = append(b, `,"vhost":`...)
	b = appendJSONString(b, []byte(site))
	method, proto, target, referer, ua := logFields(req)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, []byte(method))
	b = append(b, `,"target":`...)
	b = appendJSONString(b, target)
	b = append(b, `,"protocol":"`...)
	b = append(b, proto...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, bytes, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', 3, 64)
	b = append(b, `,"referer":`...)
	b = appendJSONString(b, referer)
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, ua)
	if req != nil && req.TLS != nil {
		// Only on TLS connections, so a plain entry stays as short as it was.
		b = append(b, `,"tls":"`...)
		b = append(b, tls.VersionName(req.TLS.Version)...)
		b = append(b, `","sni":`...)
		b = appendJSONString(b, []byte(req.TLS.ServerName))
	}
	return append(b, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as a JSON string. Control characters (C0, DEL,
// C1, U+2028 and U+2029) are escaped and invalid UTF-8 becomes U+FFFD, so a
// client cannot forge log lines, drive a terminal or break the JSON.
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r <= 0x9f || r == 0x2028 || r == 0x2029 {
			// C1 controls (U+0080-U+009F: CSI, OSC and NEL for terminals
			// that read UTF-8) and the Unicode line separators are as
			// dangerous in a log as C0 ones.
			b = append(b, '\\', 'u', hexDigits[r>>12], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// appendCombined writes the Apache/nginx "combined" format:
//
//	%h - - [%t] "%r" %>s %b "%{Referer}i" "%{User-Agent}i"
//
// with client text escaped as nginx does (\xHH for quotes, backslashes,
// controls and bytes >= 0x7f).
func appendCombined(b []byte, now time.Time, remote string, req *handlers.Request, status int, bytes int64) []byte {
	host := remote
	for i := len(remote) - 1; i >= 0; i-- {
		if remote[i] == ':' {
			host = remote[:i]
			break
		}
	}
	if len(host) > 1 && host[0] == '[' {
		host = host[1 : len(host)-1]
	}
	b = append(b, host...)
	b = append(b, " - - ["...)
	b = now.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, `] "`...)
	method, proto, target, referer, ua := logFields(req)
	if req != nil {
		// Escaped too: the method is a token only where the protocol's
		// parser checked it, and not every protocol has this one's.
		b = appendLogEscaped(b, method)
		b = append(b, ' ')
		b = appendLogEscaped(b, target)
		b = append(b, ' ')
		b = append(b, proto...)
	} else {
		b = append(b, '-')
	}
	b = append(b, `" `...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, bytes, 10)
	b = append(b, ` "`...)
	if referer == nil {
		b = append(b, '-')
	}
	b = appendLogEscaped(b, referer)
	b = append(b, `" "`...)
	if ua == nil {
		b = append(b, '-')
	}
	b = appendLogEscaped(b, ua)
	return append(b, "\"\n"...)
}

func appendLogEscaped[S string | []byte](b []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}
