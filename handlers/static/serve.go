package static

import (
	"io"
	"os"
	"time"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/compress"
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
	rep, coding := body{e: e, f: f, data: e.body}, ""
	ctype := e.ctype
	// On the fly: a file of a compressible type, not a coded file itself,
	// big enough to gain.
	otf := len(fl.compress) > 0 && e.coding == "" && e.id.size >= compress.MinSize && e.compressible
	vary := e.side.any() || otf
	var v *validators
	stream := compress.Identity
	if vary {
		c := compress.Identity
		if r.Header.Has("Accept-Encoding") { // none: identity, and no list to weigh
			offer, n := fl.offer(e, otf)
			c = compress.Negotiate(r.Header, offer[:n])
		}
		switch {
		case c == compress.Identity:
		case e.side.has(c):
			// A sidecar wins over compressing on the fly.
			se, sf, err := fl.openName(e.sideNames[sidecarIndex(c)], now)
			if err == nil && !se.dir {
				if sf != nil {
					defer sf.Close()
				}
				rep, coding = body{e: se, f: sf, data: se.body}, c.Token()
			} else {
				// Gone or turned into a directory since it was
				// probed: send the file itself, and look again next
				// time.
				fl.cache.drop(e)
			}
		case r.Method == "GET" && r.Header.Has("Range"), r.Header.HasToken("Cache-Control", "no-transform"),
			compress.NoTransform(w.Header()):
			// Ranges are of the file as it is; no-transform, from the
			// client or in the site's own headers, asks for it as it is.
		default:
			cf := fl.codedAs(e, c, now)
			switch {
			case !e.inMemory:
				v, coding, stream = &cf.v, c.Token(), c
			case cf.body != nil:
				v, coding = &cf.v, c.Token()
				rep = body{e: e, data: cf.body}
			}
		}
	}

	if v == nil {
		v = rep.e.validatorsAs(coding, now)
	}
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

	h.SetCanonical("Content-Type", ctype)
	if coding != "" {
		h.SetCanonical("Content-Encoding", coding)
	}
	h.SetCanonical("ETag", v.etag)
	h.SetCanonical("Last-Modified", v.lastModified)
	if stream != compress.Identity {
		return sendCompressed(w, r, &rep, stream)
	}

	size := rep.size()
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

	h.SetCanonical("Accept-Ranges", "bytes")
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

// sendCompressed sends a file too big to keep compressed, compressing it
// as it goes out: its length is not known beforehand, and it offers no
// ranges (a range of a compressed stream would need the whole stream made
// first).
func sendCompressed(w handlers.ResponseWriter, r *handlers.Request, rep *body, c compress.Coding) error {
	w.WriteHeader(200)
	if r.Method == "HEAD" {
		return nil
	}
	enc := compress.NewEncoder(c, w)
	_, err := rep.copyTo(enc)
	if cerr := enc.Close(); err == nil {
		err = cerr
	}
	return err
}

// body is where a representation's bytes come from: the entry's memory, or
// a file opened for this request.
type body struct {
	e    *entry
	f    *os.File // nil when the body is in data
	data []byte   // the body in memory: e's, or a compressed form of it
	pos  int64    // f's offset: fresh from open, it is 0
}

// size is the representation's length.
func (b *body) size() int64 {
	if b.f == nil {
		return int64(len(b.data))
	}
	return b.e.id.size
}

// copyTo writes the whole body to dst.
func (b *body) copyTo(dst io.Writer) (int64, error) {
	if b.f == nil {
		n, err := dst.Write(b.data)
		return int64(n), err
	}
	if err := b.seek(0); err != nil {
		return 0, err
	}
	n, err := io.Copy(dst, &io.LimitedReader{R: b.f, N: b.e.id.size})
	b.pos += n
	return n, err
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
		n, err := w.Write(b.data[br.start : br.start+br.length])
		return int64(n), err
	}
	if err := b.seek(br.start); err != nil {
		return 0, err
	}
	n, err := w.ReadFrom(&io.LimitedReader{R: b.f, N: br.length})
	b.pos += n
	return n, err
}
