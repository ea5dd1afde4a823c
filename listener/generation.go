package listener

import (
	"errors"
	"io"
	"sync/atomic"
)

// Generation is what one config snapshot owns and must release: its static
// roots, its access log, later its upstream pools and certificate watchers.
// Whoever builds a snapshot holds one reference; every request served
// with it holds another for as long as it runs. When the owner retires the
// generation (a reload replaced it, or the server stopped) and the last
// request using it ends, its resources are closed, once, off the request
// path. Nothing waits for the garbage collector or a timer.
type Generation struct {
	refs    atomic.Int64
	closers []io.Closer
	done    chan struct{}
	err     error
}

// NewGeneration returns a generation that owns closers, holding the
// caller's reference.
func NewGeneration(closers ...io.Closer) *Generation {
	g := &Generation{closers: closers, done: make(chan struct{})}
	g.refs.Store(1)
	return g
}

// acquire takes a reference for a request; false means the generation is
// closing and must not be used.
func (g *Generation) acquire() bool {
	for {
		n := g.refs.Load()
		if n <= 0 {
			return false
		}
		if g.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference; the last one closes the resources.
func (g *Generation) release() {
	if g.refs.Add(-1) == 0 {
		go g.close()
	}
}

// Retire drops the owner's reference: the generation closes as soon as no
// request uses it.
func (g *Generation) Retire() { g.release() }

func (g *Generation) close() {
	var errs []error
	for _, c := range g.closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	g.err = errors.Join(errs...)
	close(g.done)
}

// Done is closed once the generation's resources are closed.
func (g *Generation) Done() <-chan struct{} { return g.done }

// Err is what closing the resources returned, once Done is closed.
func (g *Generation) Err() error {
	<-g.done
	return g.err
}

// CloserFunc makes a function an io.Closer, for a resource whose release
// is not a Close method.
type CloserFunc func() error

func (f CloserFunc) Close() error { return f() }
