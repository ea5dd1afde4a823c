package listener

import (
	"context"
	"sync"
	"time"
)

// lifetime is a connection's context.Context, the Ctx of every request on
// it: it ends when the connection is closed, when a write to the client
// fails, or when the server starts to stop. HTTP/1.1 does not read the
// socket while a handler runs, so a client that merely goes quiet is
// noticed at the next write.
//
// It lives in the pooled conn and makes its channel only when a handler
// asks for Done, so a request that never waits costs nothing.
type lifetime struct {
	mu   sync.Mutex
	done chan struct{}
	err  error
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (l *lifetime) Deadline() (time.Time, bool) { return time.Time{}, false }
func (l *lifetime) Value(any) any               { return nil }

func (l *lifetime) Done() <-chan struct{} {
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

func (l *lifetime) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// end marks the lifetime over, once.
func (l *lifetime) end() {
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

// renew readies a pooled conn's lifetime for its next connection.
func (l *lifetime) renew() {
	l.mu.Lock()
	l.done, l.err = nil, nil
	l.mu.Unlock()
}

var _ context.Context = (*lifetime)(nil)
