// Package lifetime is a context.Context for a connection or a stream that
// is reused from a pool: it makes its channel only when someone waits.
package lifetime

import (
	"context"
	"sync"
	"time"
)

// Lifetime is the Ctx of requests: an HTTP/1.1 connection's, which ends
// when the connection closes, a write to the client fails or the server
// starts to stop; an HTTP/2 stream's, which ends with the stream too.
//
// It lives in a pooled object and makes its channel only when a handler
// asks for Done, so a request that never waits costs nothing. The zero
// value is a live lifetime.
type Lifetime struct {
	mu   sync.Mutex
	done chan struct{}
	err  error
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (l *Lifetime) Deadline() (time.Time, bool) { return time.Time{}, false }
func (l *Lifetime) Value(any) any               { return nil }

func (l *Lifetime) Done() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		if l.err != nil {
			return closedChan
		}
		l.done = make(chan struct{})
	}
	return l.done
}

func (l *Lifetime) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// End marks the lifetime over, once.
func (l *Lifetime) End() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	l.err = context.Canceled
	if l.done != nil {
		close(l.done)
	}
}

// Renew readies a pooled lifetime for its next use.
func (l *Lifetime) Renew() {
	l.mu.Lock()
	l.done, l.err = nil, nil
	l.mu.Unlock()
}

var _ context.Context = (*Lifetime)(nil)
