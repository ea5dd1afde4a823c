package listener

import (
	"errors"
	"net"
	"time"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

var (
	errUpgradeLate = errors.New("upgrade after the response began")
	errUpgrade10   = errors.New("upgrade over HTTP/1.0")
	errUpgradeBody = errors.New("upgrade before the request body was read")
)

// Upgrade sends "101 Switching Protocols" with the header set so far and
// gives the socket to the handler (RFC 9110 §7.8, §15.2.2). The request's
// body must have been read: the bytes after it are the new protocol's.
func (w *responseWriter) Upgrade() (net.Conn, error) {
	switch {
	case w.wroteHeader || w.headSent:
		return nil, errUpgradeLate
	case w.req == nil || w.req.ProtoMinor == 0:
		return nil, errUpgrade10
	case !w.req.Body.Done():
		return nil, errUpgradeBody
	}
	head := parser.AppendStatusLine(w.headBuf[:0], 101)
	head = parser.AppendDate(head, w.received)
	head, err := parser.AppendHeaders(head, &w.header)
	if err != nil {
		return nil, err
	}
	head = append(head, "\r\n"...)
	w.headBuf = head[:0]
	w.wroteHeader, w.headSent, w.noBody = true, true, true
	w.status = 101
	w.closeAfter = true
	if err := w.writeWith(head); err != nil {
		return nil, err
	}
	w.upgraded = true
	c := w.owner
	// The handler sets its own deadlines from now on.
	c.t.conn.SetDeadline(time.Time{})
	return &upgradedConn{Conn: c.t.conn, early: c.rd.TakeBuffered()}, nil
}

// upgradedConn is the socket after an upgrade: bytes the client sent
// right behind its request are read first.
type upgradedConn struct {
	net.Conn
	early []byte
}

func (u *upgradedConn) Read(p []byte) (int, error) {
	if len(u.early) > 0 {
		n := copy(p, u.early)
		u.early = u.early[n:]
		return n, nil
	}
	return u.Conn.Read(p)
}

var _ handlers.Upgrader = (*responseWriter)(nil)
