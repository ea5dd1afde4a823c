package listener

import (
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/moreweb/moreweb/parser"
)

// AccessLog writes one entry per request, as a JSON object or an
// Apache/nginx combined line. Serving never waits for the disk: entries are
// formatted into one of several memory buffers, each under its own short
// lock (connections are spread over them, so no lock is shared by every
// request), and a background goroutine writes the buffers out. If the
// output stalls and a buffer reaches its cap, entries are dropped and
// counted rather than blocking.
type AccessLog struct {
	combined bool
	path     string // "" for stdout/stderr

	shards  [accessShards]accessShard
	dropped atomic.Int64

	outMu sync.Mutex // held while writing, and by Reopen to switch files
	out   io.Writer
	file  *os.File // when path != ""

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

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
)

// OpenAccessLog opens the access log: "stdout", "stderr", or a file path
// (appended to, created 0644). format is "json" or "combined".
func OpenAccessLog(dest, format string) (*AccessLog, error) {
	l := &AccessLog{
		combined: format == "combined",
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
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
	l.file, l.out = f, f
	l.outMu.Unlock()
	if old != nil {
		old.Close() // the writer holds outMu while it writes: nothing is lost
	}
	return nil
}

// Dropped is the number of entries lost to a stalled output.
func (l *AccessLog) Dropped() int64 { return l.dropped.Load() }

// Close flushes what is buffered and stops the writer.
func (l *AccessLog) Close() error {
	close(l.stop)
	<-l.done
	l.outMu.Lock()
	defer l.outMu.Unlock()
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
			l.flush(&spare)
			return
		}
		l.flush(&spare)
	}
}

// flush swaps each shard's buffer for a spare under the shard's lock and
// writes what it took without holding any lock loggers need.
func (l *AccessLog) flush(spare *[accessShards][]byte) {
	l.outMu.Lock()
	defer l.outMu.Unlock()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		pending := sh.buf
		sh.buf = spare[i][:0]
		sh.mu.Unlock()
		if len(pending) > 0 {
			l.out.Write(pending)
		}
		spare[i] = pending
	}
}

// Log records one request; shard spreads callers over the buffers (a
// connection passes the same number each time). req is nil for a request
// refused before it could be parsed.
func (l *AccessLog) Log(shard uint32, remote, site string, req *parser.Request, status int, bytes int64, d time.Duration) {
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

func protoOf(req *parser.Request) string {
	if req == nil {
		return ""
	}
	if req.ProtoMinor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

func appendJSON(b []byte, now time.Time, remote, site string, req *parser.Request, status int, bytes int64, d time.Duration) []byte {
	b = append(b, `{"time":"`...)
	b = now.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","remote":`...)
	b = appendJSONString(b, []byte(remote))
	b = append(b, `,"vhost":`...)
	b = appendJSONString(b, []byte(site))
	var method string
	var target, referer, ua []byte
	if req != nil {
		method, target = req.Method, req.Target
		referer, ua = req.Header.Get("Referer"), req.Header.Get("User-Agent")
	}
	b = append(b, `,"method":`...)
	b = appendJSONString(b, []byte(method))
	b = append(b, `,"target":`...)
	b = appendJSONString(b, target)
	b = append(b, `,"protocol":"`...)
	b = append(b, protoOf(req)...)
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
func appendCombined(b []byte, now time.Time, remote string, req *parser.Request, status int, bytes int64) []byte {
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
	var referer, ua []byte
	if req != nil {
		b = append(b, req.Method...)
		b = append(b, ' ')
		b = appendLogEscaped(b, req.Target)
		b = append(b, ' ')
		b = append(b, protoOf(req)...)
		referer, ua = req.Header.Get("Referer"), req.Header.Get("User-Agent")
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

func appendLogEscaped(b, s []byte) []byte {
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}
