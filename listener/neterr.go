package listener

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// isExpectedNetError reports whether err is what every server sees from
// ordinary clients: the peer went away, a deadline passed, or we closed
// the socket ourselves. Classified by type, never by message text.
func isExpectedNetError(err error) bool {
	return errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}
