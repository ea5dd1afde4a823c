package handlertest

import (
	"io"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// Discard is a ResponseWriter that keeps nothing of the body, so that a
// benchmark measures the handler rather than a recorder's buffer growing
// with the file. Reset readies it for the next request.
type Discard struct {
	Code int
	// Sent counts the body bytes written.
	Sent    int64
	head    parser.ResponseHeader
	trailer parser.ResponseHeader
	buf     [32 << 10]byte // its own, not io.Discard's pool, which the race detector empties at random
}

func (w *Discard) Reset()                          { w.head.Reset(); w.trailer.Reset(); w.Code = 0; w.Sent = 0 }
func (w *Discard) Header() *parser.ResponseHeader  { return &w.head }
func (w *Discard) Trailer() *parser.ResponseHeader { return &w.trailer }
func (w *Discard) SetContentLength(int64)          {}
func (w *Discard) Written() bool                   { return w.Code != 0 }
func (w *Discard) Status() int                     { return w.Code }

func (w *Discard) WriteHeader(status int) {
	if w.Code == 0 && status >= 200 {
		w.Code = status
	}
}

func (w *Discard) Write(p []byte) (int, error) {
	w.WriteHeader(200)
	w.Sent += int64(len(p))
	return len(p), nil
}

func (w *Discard) WriteString(s string) (int, error) {
	w.WriteHeader(200)
	w.Sent += int64(len(s))
	return len(s), nil
}

func (w *Discard) ReadFrom(r io.Reader) (int64, error) {
	w.WriteHeader(200)
	var total int64
	for {
		n, err := r.Read(w.buf[:])
		total += int64(n)
		if err != nil {
			w.Sent += total
			if err == io.EOF {
				err = nil
			}
			return total, err
		}
	}
}

func (w *Discard) Flush() error {
	w.WriteHeader(200)
	return nil
}

var _ handlers.ResponseWriter = (*Discard)(nil)
