package parser

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// snapshot copies every exported field of a Request except Body out of the
// read buffer, so that it outlives the next parse and compares with ==-like
// equality. The body is checked by reading it.
type snapshot struct {
	Method         string
	Target         string
	Form           Form
	RawPath        string
	Path           string
	RawQuery       string
	ProtoMajor     int
	ProtoMinor     int
	Host           string
	Header         []kv
	ContentLength  int64
	Chunked        bool
	ExpectContinue bool
	KeepAlive      bool
}

// kv is one header field line as strings.
type kv struct{ Name, Value string }

func (kv kv) String() string { return fmt.Sprintf("%q: %q", kv.Name, kv.Value) }

func snap(r *Request) snapshot {
	return snapshot{
		Method:         r.Method,
		Target:         string(r.Target),
		Form:           r.Form,
		RawPath:        string(r.RawPath),
		Path:           string(r.Path),
		RawQuery:       string(r.RawQuery),
		ProtoMajor:     r.ProtoMajor,
		ProtoMinor:     r.ProtoMinor,
		Host:           string(r.Host),
		Header:         fieldsOf(&r.Header),
		ContentLength:  r.ContentLength,
		Chunked:        r.Chunked,
		ExpectContinue: r.ExpectContinue,
		KeepAlive:      r.KeepAlive,
	}
}

func fieldsOf(h *Header) []kv {
	if h.Len() == 0 {
		return nil
	}
	out := make([]kv, h.Len())
	for i := range out {
		f := h.At(i)
		out[i] = kv{string(f.Name), string(f.Value)}
	}
	return out
}

// diffSnapshots names the fields in which got and want differ, or "".
func diffSnapshots(got, want snapshot) string {
	var b strings.Builder
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < gv.NumField(); i++ {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !reflect.DeepEqual(g, w) {
			fmt.Fprintf(&b, "\n\t%s: got %v, want %v", gv.Type().Field(i).Name, g, w)
		}
	}
	return b.String()
}

// TestSnapshotCoversRequest keeps snapshot honest: a field added to Request
// must be added to snapshot too, or the tables stop asserting all of them.
func TestSnapshotCoversRequest(t *testing.T) {
	st := reflect.TypeOf(snapshot{})
	rt := reflect.TypeOf(Request{})
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		// Body is read separately; Received is the server's, not parsed.
		if !f.IsExported() || f.Name == "Body" || f.Name == "Received" {
			continue
		}
		if _, ok := st.FieldByName(f.Name); !ok {
			t.Errorf("Request.%s is not in snapshot", f.Name)
		}
	}
}

// source hands out its bytes step at a time (all at once when step is 0),
// then reports io.EOF, or errBlocked when it stands in for a client that
// sent a prefix and waits: a parser that asks for more then has not refused
// what it already had.
type source struct {
	s    string
	step int
	eof  bool
}

// errBlocked is what a source that does not end returns once its bytes are gone.
var errBlocked = errors.New("test: read would block")

func (r *source) Read(p []byte) (int, error) {
	if len(r.s) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		return 0, errBlocked
	}
	if r.step > 0 && len(p) > r.step {
		p = p[:r.step]
	}
	n := copy(p, r.s)
	r.s = r.s[n:]
	return n, nil
}

// feeds are the ways a test hands the same bytes to a Reader: whole, one
// byte per Read (the worst a network can do), and small odd pieces that
// split lines and chunks anywhere.
var feeds = []struct {
	name string
	step int
}{
	{"whole", 0},
	{"byte-at-a-time", 1},
	{"7-bytes-at-a-time", 7},
}

// statusOf returns the Status of a *Error, or -1 for any other error and 0
// for nil.
func statusOf(err error) int {
	if err == nil {
		return 0
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Status
	}
	return -1
}

// readAll reads a body to its end with a small buffer, so that chunk and
// buffer boundaries are crossed inside reads.
func readAll(b *Body) ([]byte, error) {
	var out []byte
	var buf [7]byte
	for {
		n, err := b.Read(buf[:])
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// defaults is DefaultLimits as ParseHead takes them.
func defaults() *Limits {
	l := DefaultLimits()
	return &l
}
