// Package tmpl renders html/template pages mapped to URL paths.
//
// The template is parsed once per config snapshot (a parse error is a config
// error); here it is only executed, which html/template allows from many
// goroutines at once.
package tmpl

import (
	"bytes"
	"crypto/tls"
	"html/template"
	"net/url"
	"sync"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// Data is what a template sees as its dot.
type Data struct {
	// Query is the parsed query string: {{.Query.Get "size"}}. A query
	// that does not parse gives what could be read of it.
	Query url.Values
	// Form holds the fields of a POSTed form, urlencoded or
	// multipart/form-data: {{.Form.Get "email"}}. It is kept apart from
	// Query, and empty for GET and HEAD and for a POST without a body.
	Form url.Values
	// Path is the decoded, cleaned request path.
	Path string
	// Host is the host the request is for, as sent (port included).
	Host string
	// Method is the request method.
	Method string
	// Header reads request header fields: {{.Header.Get "User-Agent"}}.
	Header Header
	// TLS is what the connection's TLS says; its fields are empty on a
	// plain connection, so {{if .TLS.Version}} tells the two apart.
	TLS TLS
}

// TLS are the TLS facts a page may show.
type TLS struct {
	// Version is "TLS 1.3" or "TLS 1.2", "" on a plain connection.
	Version string
	// ServerName is the name the client asked for (SNI), "" without.
	ServerName string
	// Protocol is the protocol chosen by ALPN, such as "http/1.1".
	Protocol string
}

// Header gives a template read access to the request's header fields.
type Header struct {
	h *parser.Header
}

// Get returns the first value of the field named name, case-insensitive,
// or "".
func (h Header) Get(name string) string {
	if h.h == nil {
		return ""
	}
	return string(h.h.Get(name))
}

// Values returns every value of the fields named name, in order.
func (h Header) Values(name string) []string {
	var vs []string
	if h.h != nil {
		h.h.Values(name, func(v []byte) { vs = append(vs, string(v)) })
	}
	return vs
}

// Template is the handler for one template page.
type Template struct {
	t *template.Template
}

// New returns a handler that renders t for GET, HEAD and POST; a POST's
// form body is parsed into .Form (see readForm).
func New(t *template.Template) handlers.Handler { return &Template{t: t} }

const allow = "GET, HEAD, POST, OPTIONS"

// Serve renders the page into a buffer first, so that a template failing
// halfway through answers a clean 500 rather than half a page with a 200
// status already sent. Only a POST's body is read; a form that cannot be
// read answers its status (400, 413, 415) before anything is rendered.
func (t *Template) Serve(w handlers.ResponseWriter, r *handlers.Request) error {
	var form url.Values
	switch r.Method {
	case "GET", "HEAD":
	case "POST":
		var err error
		if form, err = readForm(r); err != nil {
			return err
		}
	case "OPTIONS":
		w.Header().Set("Allow", allow)
		w.SetContentLength(0)
		w.WriteHeader(204)
		return nil
	default:
		w.Header().Set("Allow", allow)
		return handlers.ErrMethodNotAllowed
	}

	buf := getBuffer()
	defer putBuffer(buf)
	if err := t.t.Execute(buf, dataOf(r, form)); err != nil {
		return &handlers.Error{Status: 500, Err: err}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.SetContentLength(int64(buf.Len()))
	w.WriteHeader(200)
	_, err := w.Write(buf.Bytes())
	return err
}

func dataOf(r *handlers.Request, form url.Values) *Data {
	q, _ := url.ParseQuery(string(r.RawQuery))
	return &Data{
		Query:  q,
		Form:   form,
		Path:   string(r.Path),
		Host:   string(r.Host),
		Method: r.Method,
		Header: Header{r.Header},
		TLS:    tlsOf(r.TLS),
	}
}

func tlsOf(cs *tls.ConnectionState) TLS {
	if cs == nil {
		return TLS{}
	}
	return TLS{Version: tls.VersionName(cs.Version), ServerName: cs.ServerName, Protocol: cs.NegotiatedProtocol}
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooled keeps one huge page from pinning its buffer for good.
const maxPooled = 64 << 10

func getBuffer() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooled {
		return
	}
	b.Reset()
	bufPool.Put(b)
}

var _ handlers.Handler = (*Template)(nil)
