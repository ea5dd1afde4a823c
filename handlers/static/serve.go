package static

import (
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// serveFile answers GET or HEAD for the regular file f, opened as name. The
// steps follow RFC 9110: pick the representation (a sidecar or the file,
// §12.5.3), derive its validators (§8.8), evaluate preconditions (§13.2.2),
// then ranges (§14.2), and only then write. Everything that can fail as an
// error page fails before WriteHeader.
//
// The body goes to w.ReadFrom as an *io.LimitedReader over the *os.File,
// limited to the size the header announced: the listener can hand that to
// sendfile, and a file that grows while being sent cannot overrun
// Content-Length and corrupt the connection.
func (fl *files) serveFile(w handlers.ResponseWriter, r *parser.Request, name string, f *os.File, fi fs.FileInfo) error {
	now := time.Now()
	body, info, coding := f, fi, ""
	side := fl.sidecars.lookup(fl.fsys, name, fi, now)
	vary := side.any()
	if vary {
		if i := chooseCoding(&r.Header, &side); i >= 0 {
			sf, sfi, err := openStat(fl.fsys, name+codings[i].ext)
			switch {
			case err == nil && sfi.Mode().IsRegular():
				defer sf.Close()
				body, info, coding = sf, sfi, codings[i].token
			case err == nil:
				sf.Close()
				fallthrough
			default:
				// Gone or turned into a directory since it was
				// probed: send the file itself, and look again next
				// time.
				fl.sidecars.forget(name)
			}
		}
	}

	v := newValidators(info, coding, now)
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if vary {
		h.Set("Vary", "Accept-Encoding")
	}
	switch checkPreconditions(r, &v, now) {
	case failed:
		return &handlers.Error{Status: 412}
	case notModified:
		// §15.4.5: the fields a 200 would carry that caches need to
		// update the stored response; Cache-Control is added by the
		// site's headers layer on every response alike.
		h.Set("ETag", v.etag)
		h.Set("Last-Modified", v.lastModified())
		w.WriteHeader(304)
		return nil
	}

	size := info.Size()
	var ranges []byteRange
	// §14.2: Range is ignored for methods other than GET, so HEAD
	// describes the whole representation and ranges are never HEAD's.
	if r.Method == "GET" {
		if rv := r.Header.Get("Range"); rv != nil && ifRangeMatches(r, &v) {
			var res rangeResult
			ranges, res = parseRange(rv, size)
			if res == rangeUnsatisfiable {
				h.Set("Content-Range", unsatisfied(size))
				return &handlers.Error{Status: 416}
			}
		}
	}

	ctype := ContentType(name)
	h.Set("Content-Type", ctype)
	if coding != "" {
		h.Set("Content-Encoding", coding)
	}
	h.Set("Accept-Ranges", "bytes")
	h.Set("ETag", v.etag)
	h.Set("Last-Modified", v.lastModified())
	head := r.Method == "HEAD"
	switch len(ranges) {
	case 0:
		w.SetContentLength(size)
		w.WriteHeader(200)
		if !head && size > 0 {
			w.ReadFrom(&io.LimitedReader{R: body, N: size})
		}
		return nil
	case 1:
		return sendSingle(w, body, ranges[0], size)
	default:
		return sendMultipart(w, body, ranges, size, ctype)
	}
}
