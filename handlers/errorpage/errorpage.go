// Package errorpage is the one place where a site's handler errors become
// responses: a handler returns *handlers.Error and Wrap renders the site's
// page for that status, or a small built-in one, with the status kept.
package errorpage

import (
	"errors"
	"runtime/debug"
	"strconv"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// Pages maps a status to the bytes of its page. The bytes are the ones the
// config snapshot read once and hashed, so an edit to a page file is seen
// on the next reload, and a page removed after loading keeps being served.
// A nil Pages is valid and serves the built-in pages.
type Pages map[int][]byte

// FromBytes makes Pages of bodies (status -> page bytes). Nothing is read
// here: a page read a second time could differ from the bytes the snapshot
// hashed. The bytes are shared with the caller, and nobody may modify them.
func FromBytes(bodies map[int][]byte) Pages {
	if len(bodies) == 0 {
		return nil
	}
	p := make(Pages, len(bodies))
	for status, b := range bodies {
		p[status] = b
	}
	return p
}

// staleFields describe the body the handler meant to send, not the error
// page that replaces it: an ETag or Last-Modified would let a cache
// revalidate the page as if it were the file, a Content-Encoding would make
// the client decode plain HTML, a Content-Disposition would save the page
// under the file's name. Fields that belong to the error (Allow on a 405,
// Content-Range on a 416) and the site's own [vhost.headers] stay.
var staleFields = []string{
	"Content-Encoding",
	"Content-Disposition",
	"Content-Location",
	"ETag",
	"Last-Modified",
	"Accept-Ranges",
}

// Write answers status with its page from p, else the built-in page.
// A status outside 400-599 is a bug in whoever produced it, and answers 500.
// r may be nil, for errors raised before a request could be parsed; the
// writer drops the body for HEAD itself.
func (p Pages) Write(w handlers.ResponseWriter, r *handlers.Request, status int) {
	if status < 400 || status > 599 {
		status = 500
	}
	page, ok := p[status]
	if !ok {
		page = builtin(status)
	}
	h := w.Header()
	// The names are constants in canonical form: no request pays to
	// canonicalise them.
	for _, name := range staleFields {
		h.DelCanonical(name)
	}
	if status != 416 {
		h.DelCanonical("Content-Range")
	}
	h.SetCanonical("Content-Type", "text/html; charset=utf-8")
	h.SetCanonical("X-Content-Type-Options", "nosniff")
	w.SetContentLength(int64(len(page)))
	w.WriteHeader(status)
	w.Write(page) // a write error is the connection's, seen by the loop
}

// WriteError is Write, making Pages the handlers.ErrorWriter a protocol
// answers with before a site is known.
func (p Pages) WriteError(w handlers.ResponseWriter, r *handlers.Request, status int) {
	p.Write(w, r, status)
}

var _ handlers.ErrorWriter = Pages(nil)

// builtinPages are made once for every status with a reason phrase: the
// page names the status and nothing else, never any client input.
var builtinPages = func() map[int][]byte {
	m := make(map[int][]byte)
	for status := 400; status <= 599; status++ {
		if parser.StatusText(status) != "" {
			m[status] = makePage(status)
		}
	}
	return m
}()

func builtin(status int) []byte {
	if b, ok := builtinPages[status]; ok {
		return b
	}
	return makePage(status)
}

func makePage(status int) []byte {
	title := strconv.Itoa(status)
	if text := parser.StatusText(status); text != "" {
		title += " " + text
	}
	return []byte("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + title +
		"</title></head>\n<body><h1>" + title + "</h1></body></html>\n")
}

// Wrap returns next with its errors rendered by p. It is the outermost
// layer of a site, so that every error the site produces, from any
// middleware or handler and panics included, gets the site's page.
func Wrap(next handlers.Handler, p Pages) handlers.Handler {
	return &wrapped{next: next, pages: p}
}

type wrapped struct {
	next  handlers.Handler
	pages Pages
}

// Serve returns next's error even after rendering it, so the connection loop
// can log the cause; the loop sees w.Written() and writes nothing more. Once
// next has written its head the error can no longer become a page, and the
// loop decides what to do with the connection. A panic becomes a 500 whose
// error carries the panic's value and stack for the log.
func (x *wrapped) Serve(w handlers.ResponseWriter, r *handlers.Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &handlers.Error{Status: 500, Err: &handlers.PanicError{Value: v, Stack: debug.Stack()}}
			x.render(w, r, err)
		}
	}()
	err = x.next.Serve(w, r)
	if err != nil && w.Written() {
		// Too late for a page: the response began before it failed.
		return errors.Join(err, handlers.ErrResponseCut)
	}
	x.render(w, r, err)
	return err
}

func (x *wrapped) render(w handlers.ResponseWriter, r *handlers.Request, err error) {
	if err != nil && !w.Written() {
		x.pages.Write(w, r, handlers.StatusOf(err))
	}
}

// WriteError answers status with the site's page: for an error found after
// the handler returned (a header field that could not be sent).
func (x *wrapped) WriteError(w handlers.ResponseWriter, r *handlers.Request, status int) {
	x.pages.Write(w, r, status)
}

var (
	_ handlers.Handler     = (*wrapped)(nil)
	_ handlers.ErrorWriter = (*wrapped)(nil)
)
