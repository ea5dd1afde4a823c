package compress

import (
	"io"
	"strings"
	"sync"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// New returns the middleware that compresses a site's responses as they
// flow, with the coding the client prefers among order (the site's
// preference). A response is left as it is when its handler chose its
// coding itself (it set Content-Encoding, or Vary: Accept-Encoding, as
// the static handler does), when its type is not compressible, when it
// declared fewer than MinSize bytes, when either side said
// "Cache-Control: no-transform", or when the request asks for a range.
func New(order []Coding) handlers.Middleware {
	order = append([]Coding(nil), order...)
	return func(next handlers.Handler) handlers.Handler {
		return &handler{next: next, order: order}
	}
}

type handler struct {
	next  handlers.Handler
	order []Coding
}

var writerPool = sync.Pool{New: func() any { return new(writer) }}

func (h *handler) Serve(w handlers.ResponseWriter, r *handlers.Request) error {
	cw := writerPool.Get().(*writer)
	*cw = writer{WriterWrapper: handlers.WriterWrapper{ResponseWriter: w}, r: r, declared: -1}
	// Without Accept-Encoding only identity is sent (as every peer does,
	// though RFC 9110 §12.5.3 would allow any coding): nothing to weigh.
	if r.Header.Has("Accept-Encoding") && !r.Header.Has("Range") && !r.Header.HasToken("Cache-Control", "no-transform") {
		cw.coding = Negotiate(r.Header, h.order)
	}
	err := h.next.Serve(cw, r)
	if cerr := cw.finish(); err == nil && cerr != nil && !cw.Written() {
		err = cerr
	}
	*cw = writer{}
	writerPool.Put(cw)
	return err
}

// writer decides at the final WriteHeader whether the body is compressed,
// and then sends it through an Encoder to the writer below. A response it
// does not compress goes to that writer untouched, ReadFrom included, so a
// file keeps its sendfile.
type writer struct {
	handlers.WriterWrapper
	r        *handlers.Request
	coding   Coding // what the client would take; Identity: none
	declared int64  // SetContentLength's, -1 when not declared
	decided  bool
	discard  bool // a 304 made here from a 200: the body is dropped
	enc      *Encoder
}

func (w *writer) SetContentLength(n int64) {
	if !w.decided {
		w.declared = n
	}
}

func (w *writer) WriteHeader(status int) {
	if w.decided {
		return
	}
	if status >= 100 && status < 200 {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.decided = true
	h := w.Header()
	compressing := w.decide(h, status)
	if !compressing {
		if w.declared >= 0 {
			w.ResponseWriter.SetContentLength(w.declared)
		}
		w.ResponseWriter.WriteHeader(status)
		return
	}
	h.DelCanonical("Content-Length")
	h.SetCanonical("Content-Encoding", w.coding.Token())
	if etag := h.Get("ETag"); etag != "" {
		coded := codedETag(etag, w.coding)
		h.SetCanonical("ETag", coded)
		if ifNoneMatch(w.r.Header, coded) && (w.r.Method == "GET" || w.r.Method == "HEAD") {
			// RFC 9110 §13.1.2: the client has this coding's
			// representation already.
			h.DelCanonical("Content-Encoding")
			w.discard = true
			w.ResponseWriter.WriteHeader(304)
			return
		}
	}
	w.ResponseWriter.WriteHeader(status)
	if w.r.Method != "HEAD" {
		w.enc = NewEncoder(w.coding, w.ResponseWriter)
	}
}

// decide applies the rules and sets Vary on a response whose coding
// depends on the request's Accept-Encoding.
func (w *writer) decide(h *parser.ResponseHeader, status int) bool {
	f := scanFields(h)
	if f.encoded || f.varies {
		return false // its handler chose
	}
	if status == 304 {
		h.Add("Vary", "Accept-Encoding")
		return false
	}
	if status < 200 || status >= 300 || status == 204 || status == 206 {
		return false
	}
	if !Compressible(f.ctype) || (w.declared >= 0 && w.declared < MinSize) || f.noTransform {
		return false
	}
	h.Add("Vary", "Accept-Encoding")
	return w.coding != Identity
}

// responseFields are what the rules read of a response's fields.
type responseFields struct {
	ctype                        string
	encoded, varies, noTransform bool
}

// scanFields reads them in one pass; names in a ResponseHeader are
// canonical, so they compare as they are.
func scanFields(h *parser.ResponseHeader) (f responseFields) {
	for i := range h.Len() {
		switch fl := h.At(i); fl.Name {
		case "Content-Type":
			if f.ctype == "" {
				f.ctype = fl.Value
			}
		case "Content-Encoding":
			f.encoded = true
		case "Vary":
			f.varies = f.varies || listHas(fl.Value, "Accept-Encoding")
		case "Cache-Control":
			f.noTransform = f.noTransform || listHas(fl.Value, "no-transform")
		}
	}
	return f
}

// NoTransform reports whether a response's fields say "Cache-Control:
// no-transform" (RFC 9110 §7.7): nothing between it and the client may
// change its coding.
func NoTransform(h *parser.ResponseHeader) bool { return scanFields(h).noTransform }

func (w *writer) Write(p []byte) (int, error) {
	if !w.decided {
		w.WriteHeader(200)
	}
	switch {
	case w.discard:
		return len(p), nil
	case w.enc != nil:
		return w.enc.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

func (w *writer) WriteString(s string) (int, error) {
	if w.enc == nil && !w.discard && w.decided {
		return w.ResponseWriter.WriteString(s)
	}
	return w.Write([]byte(s))
}

func (w *writer) ReadFrom(r io.Reader) (int64, error) {
	if !w.decided {
		w.WriteHeader(200)
	}
	switch {
	case w.discard:
		return io.Copy(io.Discard, r)
	case w.enc != nil:
		return io.Copy(w.enc, r)
	}
	return w.ResponseWriter.ReadFrom(r)
}

func (w *writer) Flush() error {
	if w.enc != nil {
		if err := w.enc.Flush(); err != nil {
			return err
		}
	}
	return w.ResponseWriter.Flush()
}

// finish ends the coding once the handler has returned.
func (w *writer) finish() error {
	if w.enc == nil {
		return nil
	}
	err := w.enc.Close()
	w.enc = nil
	return err
}

// codedETag is the tag of etag's representation in coding c: each coding
// has its own (RFC 9110 §8.8.3), weak or strong as the original.
func codedETag(etag string, c Coding) string {
	if len(etag) < 2 || etag[len(etag)-1] != '"' {
		return etag
	}
	return etag[:len(etag)-1] + "-" + c.Token() + `"`
}

// ifNoneMatch reports whether the request's If-None-Match names etag (weak
// comparison, §13.1.2), or is "*".
func ifNoneMatch(h *parser.Header, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	found := false
	h.Values("If-None-Match", func(v []byte) {
		eachElement(string(v), func(t string) {
			t = strings.TrimPrefix(t, "W/")
			found = found || t == want || t == "*"
		})
	})
	return found
}

// listHas reports whether a comma-separated list has token (case
// ignored).
func listHas(list, token string) bool {
	found := false
	eachElement(list, func(e string) { found = found || strings.EqualFold(e, token) })
	return found
}

// eachElement calls fn with each element of a comma-separated list, its
// white space trimmed.
func eachElement(list string, fn func(string)) {
	for list != "" {
		e := list
		if i := strings.IndexByte(list, ','); i >= 0 {
			e, list = list[:i], list[i+1:]
		} else {
			list = ""
		}
		if e = strings.TrimSpace(e); e != "" {
			fn(e)
		}
	}
}
