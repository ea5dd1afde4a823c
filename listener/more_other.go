//go:build !linux

package listener

import "syscall"

// flushMore is a plain flush where MSG_MORE is not available.
func (w *responseWriter) flushMore() error { return w.flush() }

func (w *responseWriter) trySendMore(fd uintptr) bool { return true }

func (w *responseWriter) capUnsent() {}

func unreadInput(raw syscall.RawConn) bool { return false }
