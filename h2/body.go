package h2

import (
	"io"
	"time"

	"github.com/moreweb/moreweb/parser"
)

// bodyReader is a stream's request body as the handler reads it. What it
// reads goes back to the client as flow-control window, so a handler that
// reads slowly slows the client down instead of making the server buffer.
type bodyReader struct{ st *stream }

var errBodyTimeout = &parser.Error{Status: 408, Reason: "request body not received within idle_timeout"}

func (r *bodyReader) Read(p []byte) (int, error) {
	st := r.st
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	// As in sendData, the timeout's state is made only when a wait starts.
	var timer *time.Timer
	var timedOut *bool
	for st.bodyOff == len(st.body) && !st.remoteDone && st.bodyErr == nil && !st.reset {
		if timedOut != nil && *timedOut {
			return 0, errBodyTimeout
		}
		if timer == nil && c.o.IdleTimeout > 0 {
			expired := new(bool)
			timedOut = expired
			timer = time.AfterFunc(c.o.IdleTimeout, func() {
				c.mu.Lock()
				*expired = true
				st.bodyCond.Broadcast()
				c.mu.Unlock()
			})
			defer timer.Stop()
		}
		st.bodyCond.Wait()
	}
	if st.bodyOff < len(st.body) {
		n := copy(p, st.body[st.bodyOff:])
		st.bodyOff += n
		if st.bodyOff == len(st.body) {
			st.body, st.bodyOff = st.body[:0], 0
		}
		c.returnConnCredit(int64(n))
		st.credit += int64(n)
		if !st.remoteDone && st.credit >= streamWindow/2 {
			inc, id := st.credit, st.id
			st.credit = 0
			st.recvWindow += inc
			c.w.control(func(b []byte) []byte { return appendWindowUpdate(b, id, uint32(inc)) })
		}
		return n, nil
	}
	switch {
	case st.bodyErr != nil:
		return 0, st.bodyErr
	case st.remoteDone:
		return 0, io.EOF
	default:
		return 0, errStreamClosed
	}
}
