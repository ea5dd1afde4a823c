//go:build !linux

package listener

// flushMore is a plain flush where MSG_MORE is not available.
func (w *responseWriter) flushMore() error { return w.flush() }

func (w *responseWriter) trySendMore(fd uintptr) bool { return true }

func (w *responseWriter) capUnsent() {}
