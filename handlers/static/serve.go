package static

import (
	"io"
	"os"
	"time"

	"github.com/moreweb/moreweb/handlers"
)

// serveFile answers GET or HEAD for the regular file e, whose body is in
// memory or in f, opened for this request. The steps follow RFC 9110: pick
// the representation (a sidecar or the file, §12.5.3), take its validators
// (§8.8), evaluate preconditions (§13.2.2), then ranges (§14.2), and only
// then write. Everything that can fail as an error page fails before
// WriteHeader.
//
// A body in memory goes out with w.Write, in the same write as the head. A
// body in a file goes to w.ReadFrom as an *io.LimitedReader over the
// *os.File, limited to the size the header announced: the listener hands
// that to sendfile, and a file that grows while being sent cannot overrun
// Content-Length and corrupt the connection.
func (fl *files) serveFile(w handlers.ResponseWriter, r *handlers.Request, e *entry, f *os.File, now time.Time) error {
	rep, coding := body{e: e, f: f}, ""
	vary := e.side.any()
	if vary {
		if i := chooseCoding(r.Header, &e.side); i >= 0 {
			se, sf, err := fl.openName(e.sideNames[i], now)
			if err == nil && !se.dir {
				if sf != nil {
					defer sf.Close()
				}
				rep, coding = body{e: se, f: sf}, codings[i].token
			} else {
				// Gone or turned into a directory since it was
				// probed: send the file itself, and look again next
				// time.
				fl.cache.drop(e)
			}
		}
	}

	v := rep.e.validatorsAs(coding, now)
	h := w.Header()
	h.SetCanonical("X-Content-Type-Options", "nosniff")
	if vary {
		h.SetCanonical("Vary", "Accept-Encoding")
	}
	switch checkPreconditions(r, v, now) {
	case failed:
		return &handlers.Error{Status: 412}
	case notModified:
		// §15.4.5: the fields a 200 would carry that caches need to
		// update the stored response; Cache-Control is added by the
		// site's headers layer on every response alike.
		h.SetCanonical("ETag", v.etag)
		h.SetCanonical("Last-Modified", v.lastModified)
		w.WriteHeader(304)
		return nil
	}

	size := rep.e.id.size
	var ranges []byteRange
	// §14.2: Range is ignored for methods other than GET, so HEAD
	// describes the whole representation and ranges are never HEAD's.
	if r.Method == "GET" {
		if rv := r.Header.Get("Range"); rv != nil && ifRangeMatches(r, v) {
			var res rangeResult
			ranges, res = parseRange(rv, size)
			if res == rangeUnsatisfiable {
				h.SetCanonical("Content-Range", unsatisfied(size))
				return &handlers.Error{Status: 416}
			}
		}
	}

	ctype := ContentType(e.name)
	h.SetCanonical("Content-Type", ctype)
	if coding != "" {
		h.SetCanonical("Content-Encoding", coding)
	}
	h.SetCanonical("Accept-Ranges", "bytes")
	h.SetCanonical("ETag", v.etag)
	h.SetCanonical("Last-Modified", v.lastModified)
	switch len(ranges) {
	case 0:
		w.SetContentLength(size)
		w.WriteHeader(200)
		if r.Method != "HEAD" && size > 0 {
			rep.send(w, byteRange{0, size})
		}
		return nil
	case 1:
		return sendSingle(w, &rep, ranges[0], size)
	default:
		return sendMultipart(w, &rep, ranges, size, ctype)
	}
}

// body is where a representation's bytes come from: the entry's memory, or
// a file opened for this request.
type body struct {
	e   *entry
	f   *os.File // nil when the body is in e.body
	pos int64    // f's offset: fresh from open, it is 0
}

// seek positions a file body at off; it is a no-op for memory, and for a
// file already there (a whole body from a fresh descriptor costs no lseek).
func (b *body) seek(off int64) error {
	if b.f == nil || b.pos == off {
		return nil
	}
	if _, err := b.f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	b.pos = off
	return nil
}

// send writes the bytes of br: from memory with one Write, from a file
// through ReadFrom, which the listener turns into sendfile for anything
// larger than its buffer.
func (b *body) send(w handlers.ResponseWriter, br byteRange) (int64, error) {
	if b.f == nil {
		n, err := w.Write(b.e.body[br.start : br.start+br.length])
		return int64(n), err
	}
	if err := b.seek(br.start); err != nil {
		return 0, err
	}
	n, err := w.ReadFrom(&io.LimitedReader{R: b.f, N: br.length})
	b.pos += n
	return n, err
}
