package tmpl

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"os"
	"strings"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// maxParts bounds the parts of a multipart/form-data body, as net/http's
// ReadForm does: each part costs a header map and an entry in the form
// beside its bytes, so many tiny parts would cost far more than the body.
const maxParts = 1000

// The refusals a form body gets, allocated once. Their causes are fixed
// strings: nothing a client sent reaches the log through them.
var (
	errUnsupportedType = &handlers.Error{Status: 415, Err: errors.New("form body of another type than urlencoded or multipart/form-data")}
	errNoContentType   = &handlers.Error{Status: 415, Err: errors.New("form body without Content-Type")}
	errCharset         = &handlers.Error{Status: 415, Err: errors.New("form body in a charset other than UTF-8")}
	errFilePart        = &handlers.Error{Status: 415, Err: errors.New("multipart form with a file part")}
	errTooManyParts    = &handlers.Error{Status: 413, Err: errors.New("multipart form with more than 1000 parts")}
	errBoundary        = &handlers.Error{Status: 400, Err: errors.New("multipart form without a valid boundary")}
	errParams          = &handlers.Error{Status: 400, Err: errors.New("urlencoded form with malformed Content-Type parameters")}
	errEndedEarly      = &handlers.Error{Status: 400, Err: errors.New("multipart form body ended before its closing boundary")}
	errDisposition     = &handlers.Error{Status: 400, Err: errors.New("multipart part without a form-data Content-Disposition and a name")}
)

// readForm reads a POST body into the form a template sees as .Form.
//
// What it may hold is bounded by the body itself, which the protocol cuts
// off at max_body_bytes (413): a urlencoded body is read whole and parsed
// (net/url refuses more than 10000 fields); a multipart one is read a part
// at a time, at most maxParts of them, each field kept as a string of its
// own size. Nothing is ever written to disk: a file part is refused (415)
// as soon as its header is read.
func readForm(r *handlers.Request) (url.Values, error) {
	form := url.Values{}
	body := &bodyReader{r: r.Body}
	if r.ContentLength == 0 {
		return form, nil
	}
	if r.ContentLength < 0 {
		// A length not known in advance (chunked, HTTP/2): whether there
		// is a body at all is only known by reading.
		var first [1]byte
		n, err := io.ReadFull(body, first[:])
		if n == 0 {
			if err == io.EOF {
				return form, nil
			}
			return nil, readError(err)
		}
		body.unread = first[0]
		body.hasUnread = true
	}

	ct := ""
	if r.Header != nil {
		ct = strings.TrimSpace(string(r.Header.Get("Content-Type")))
	}
	if ct == "" {
		return nil, errNoContentType
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		// The type can still be told when only its parameters are broken:
		// then the header is malformed, rather than of a type not taken.
		mt, _, _ := strings.Cut(ct, ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "application/x-www-form-urlencoded":
			return nil, errParams
		case "multipart/form-data":
			return nil, errBoundary
		}
		return nil, errUnsupportedType
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return nil, errCharset
	}
	switch mediaType {
	case "application/x-www-form-urlencoded":
		return readURLEncoded(body)
	case "multipart/form-data":
		boundary, ok := params["boundary"]
		if !ok || !validBoundary(boundary) {
			return nil, errBoundary
		}
		return readMultipart(body, boundary, form)
	}
	return nil, errUnsupportedType
}

func readURLEncoded(body *bodyReader) (url.Values, error) {
	buf := getBuffer()
	defer putBuffer(buf)
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, readError(err)
	}
	q, err := url.ParseQuery(buf.String())
	if err != nil {
		return nil, &handlers.Error{Status: 400, Err: errors.New("malformed urlencoded form body")}
	}
	return q, nil
}

func readMultipart(body *bodyReader, boundary string, form url.Values) (url.Values, error) {
	body.close = []byte("--" + boundary + "--")
	mr := multipart.NewReader(body, boundary)
	buf := getBuffer()
	defer putBuffer(buf)
	for parts := 0; ; parts++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			if !body.closed {
				// NextPart also says io.EOF for a body cut off in a
				// part's header.
				if body.err != nil {
					return nil, readError(body.err)
				}
				return nil, errEndedEarly
			}
			// The epilogue after the closing boundary means nothing, but
			// it is read, so that a body over max_body_bytes answers 413
			// wherever the excess is.
			if _, err := io.Copy(io.Discard, body); err != nil {
				return nil, readError(err)
			}
			return form, nil
		}
		if err != nil {
			return nil, body.failure()
		}
		if parts == maxParts {
			return nil, errTooManyParts
		}
		disposition, dp, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		if err != nil || disposition != "form-data" {
			return nil, errDisposition
		}
		if _, ok := dp["filename"]; ok {
			return nil, errFilePart
		}
		name, ok := dp["name"]
		if !ok {
			return nil, errDisposition
		}
		buf.Reset()
		if _, err := buf.ReadFrom(p); err != nil {
			return nil, body.failure()
		}
		form[name] = append(form[name], buf.String())
	}
}

// validBoundary is RFC 2046 §5.1.1's boundary: 1 to 70 of its characters,
// the last not a space.
func validBoundary(b string) bool {
	if len(b) == 0 || len(b) > 70 || b[len(b)-1] == ' ' {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("'()+_,-./:=? ", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// bodyReader reads the request body and keeps the first error the body
// itself gave, so that a multipart parse that failed because the body did
// (413 over max_body_bytes, 400 for broken chunking, 408) answers with the
// body's status rather than as a malformed form. unread is a byte already
// read to learn whether there is a body, given back first.
//
// For multipart it also watches for the close delimiter, a line of
// "--boundary--" (RFC 2046 §5.1.1): mime/multipart answers io.EOF both
// after it and for a body cut off in a part's header, and only the first
// is a whole form.
type bodyReader struct {
	r         io.Reader
	err       error
	unread    byte
	hasUnread bool

	close   []byte // "--boundary--", nil when not watching
	matched int    // bytes of close matched on this line, -1 for none
	closed  bool   // a close-delimiter line was read
}

func (b *bodyReader) Read(p []byte) (n int, err error) {
	if b.hasUnread && len(p) > 0 {
		p[0] = b.unread
		b.hasUnread = false
		n = 1
	} else {
		n, err = b.r.Read(p)
		if err != nil && err != io.EOF && b.err == nil {
			b.err = err
		}
	}
	if b.close != nil && !b.closed {
		b.watch(p[:n], err == io.EOF)
	}
	return n, err
}

// watch follows the lines of p for the close delimiter, which may be
// followed by spaces and tabs (transport padding) before its line end or
// the end of the body.
func (b *bodyReader) watch(p []byte, eof bool) {
	full := len(b.close)
	for _, c := range p {
		switch {
		case c == '\n':
			if b.matched == full {
				b.closed = true
				return
			}
			b.matched = 0
		case b.matched < 0:
		case b.matched < full:
			if c == b.close[b.matched] {
				b.matched++
			} else {
				b.matched = -1
			}
		case c != ' ' && c != '\t' && c != '\r':
			b.matched = -1
		}
	}
	if eof && b.matched == full {
		b.closed = true
	}
}

// failure is the error a form that could not be read answers with: the
// body's own, else 400 for a malformed multipart body (no closing
// boundary, a broken part header).
func (b *bodyReader) failure() error {
	if b.err != nil {
		return readError(b.err)
	}
	return &handlers.Error{Status: 400, Err: errors.New("malformed multipart form body")}
}

// readError is the answer to a body that could not be read: the status the
// protocol gave it (413, 400, 408), 408 for a read deadline, else 400.
func readError(err error) error {
	var pe *parser.Error
	switch {
	case errors.As(err, &pe):
		return &handlers.Error{Status: pe.Status, Err: err}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &handlers.Error{Status: 408, Err: err}
	}
	return &handlers.Error{Status: 400, Err: err}
}
