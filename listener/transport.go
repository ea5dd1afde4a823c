package listener

import (
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"syscall"
)

// A connection goes from the accept loop to a protocol through one seam:
//
//	accept -> (PROXY header) -> (TLS handshake, ALPN) -> protocol
//
// transport is what the seam hands the protocol: where to read and write,
// and which shortcuts past that apply. Every shortcut is decided here, from
// what the connection is, and each is a named field, so that no behaviour
// hangs on a type assertion made deep in the protocol that could silently
// switch it off.
type transport struct {
	// conn is where the protocol reads and writes: the socket itself, or
	// a *tls.Conn over it.
	conn net.Conn
	// socket is the raw socket below conn, for waiting on readiness
	// without a buffer; nil when conn is not a socket (a test's pipe).
	socket syscall.RawConn
	// tcp is the TCP connection below conn, plain or under TLS, for what
	// only TCP does (half-close, linger); nil when conn is not TCP.
	tcp *net.TCPConn
	// fd is the socket's descriptor, -1 if unknown; the idle poller
	// parks connections by it.
	fd int32
	// plaintext says conn is the socket, so bytes may go to it past conn:
	// writes flagged MSG_MORE and file bodies by sendfile. Over TLS every
	// byte must pass through the record layer instead.
	plaintext bool
	// tls is the session, nil on a plain connection. What only a TLS
	// connection needs lives behind this one pointer, so a plain
	// connection does not grow.
	tls *tlsSession
}

// tlsSession is what the connection loop keeps of a TLS connection.
type tlsSession struct {
	state tls.ConnectionState
	// cert is the certificate the handshake presented: a request's host
	// must be one it covers (RFC 9110 §15.5.20: 421 otherwise).
	cert *tls.Certificate
	// covered is the last host found covered, so a keep-alive
	// connection checks its host once.
	covered string
	// sock is the socket under the session.
	sock *tlsSocket
}

// peer is the client's address, or the zero AddrPort when conn is not TCP.
// It is derived for each request rather than kept: an idle connection is
// smaller without it, and it costs no allocation.
func (t *transport) peer() netip.AddrPort {
	if ta, ok := t.conn.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	return netip.AddrPort{}
}

// newTransport describes nc as accepted, or as a finished TLS handshake
// made it.
func newTransport(nc net.Conn) transport {
	t := transport{conn: nc, fd: -1}
	under := nc
	if tc, ok := nc.(*tls.Conn); ok {
		t.tls = &tlsSession{state: tc.ConnectionState()}
		under = tc.NetConn()
	} else {
		t.plaintext = true
	}
	switch u := under.(type) {
	case *net.TCPConn:
		t.tcp = u
	case *tlsSocket:
		t.tcp = u.TCPConn
	}
	if sc, ok := under.(syscall.Conn); ok {
		t.socket, _ = sc.SyscallConn()
	}
	if t.socket == nil {
		t.plaintext = false // a pipe: no sendfile, no MSG_MORE
	}
	t.fd = rawFD(t.socket)
	return t
}

// socketCloser is what shutdown closes to cut the connection at once: the
// socket itself, never a *tls.Conn, whose Close would wait to send
// close_notify.
func (t *transport) socketCloser() io.Closer {
	if t.tcp != nil {
		return t.tcp
	}
	return t.conn
}
