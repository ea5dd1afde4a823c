package listener

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/moreweb/moreweb/certs"
	"github.com/moreweb/moreweb/handlers"
)

// Certifier picks the certificate of a TLS handshake from its ClientHello;
// *vhost.Table is one. nil, nil means no site fits the name: the handshake
// fails with the unrecognized_name alert.
type Certifier interface {
	Certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error)
}

// Challenger answers ACME HTTP-01 validations (RFC 8555 §8.3) on plain
// listeners, before redirects and routing: the CA asks for
// http://NAME/.well-known/acme-challenge/TOKEN and must get the key
// authorization, whatever the site would have done with the path. ok is
// false for a token it does not know; the request is then routed as any
// other, so that files a site keeps there (certbot's webroot) still serve.
// path is the request's path as sent, still percent-encoded, with its dot
// segments and repeated slashes: only the exact path the CA asks for is a
// validation, and a cleaned path would make every other spelling of it one.
type Challenger interface {
	Challenge(host, path []byte) (body []byte, ok bool)
}

// ChallengePrefix is the path HTTP-01 validations are asked for under.
const ChallengePrefix = "/.well-known/acme-challenge/"

// ALPNChallenge is the protocol an ACME server asks for when it validates
// a name by TLS-ALPN-01 (RFC 8737): the handshake is the whole exchange.
const ALPNChallenge = "acme-tls/1"

// newTLSConfig is a TLS listener's configuration. It is made once per
// listener and kept across reloads, so that the session ticket keys crypto/tls
// makes and rotates by itself (a new key each day, each valid a week) stay
// valid through a reload and resumed sessions keep working. What a reload
// changes, the certificates, is looked up per handshake in the snapshot.
func (s *server) newTLSConfig() *tls.Config {
	h2 := s.newTLSConfigFor([]string{"h2", "http/1.1", ALPNChallenge})
	h1 := s.newTLSConfigFor([]string{"http/1.1", ALPNChallenge})
	// http2 may change on reload; the choice is per handshake, between two
	// configurations made once.
	return &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			if s.snap.Load().http2 {
				return h2, nil
			}
			return h1, nil
		},
	}
}

func (s *server) newTLSConfigFor(protos []string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// TLS 1.2 suites with forward secrecy (ECDHE) and AEAD only;
		// TLS 1.3's suites are all both and are not configurable.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos:     protos,
		GetCertificate: s.certificate,
	}
}

// certificate is the handshake's GetCertificate: the newest snapshot's
// choice, remembered on the connection for the 421 check of its requests.
func (s *server) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	snap := s.snap.Load()
	if snap.certs == nil {
		return nil, errors.New("the listener no longer has tls = true")
	}
	cert, err := snap.certs.Certificate(hello)
	if sock, ok := hello.Conn.(*tlsSocket); ok {
		sock.cert = cert
	}
	return cert, err
}

// tlsSocket is the socket under a TLS connection, carrying the certificate
// its handshake presented. Embedding *net.TCPConn keeps SyscallConn, so
// the idle poller and deferred-accept timing still see the descriptor.
type tlsSocket struct {
	*net.TCPConn
	cert *tls.Certificate
	// closeBy, once set, caps every write deadline. crypto/tls gives its
	// close_notify five seconds; for a client that stopped reading that is
	// five seconds of a connection that can do nothing but wait, so the
	// close gives the alert only a moment to leave.
	closeBy time.Time
}

// closeSoon makes the writes from now on, the close_notify among them,
// give up after a moment.
func (s *tlsSocket) closeSoon() { s.closeBy = time.Now().Add(100 * time.Millisecond) }

func (s *tlsSocket) SetWriteDeadline(t time.Time) error {
	if !s.closeBy.IsZero() && (t.IsZero() || t.After(s.closeBy)) {
		t = s.closeBy
	}
	return s.TCPConn.SetWriteDeadline(t)
}

func (s *tlsSocket) SetDeadline(t time.Time) error {
	if err := s.TCPConn.SetReadDeadline(t); err != nil {
		return err
	}
	return s.SetWriteDeadline(t)
}

// serveTLS runs the handshake, bounded by read_header_timeout and cut
// short by shutdown, then serves HTTP/1.1 over the TLS connection.
func (s *server) serveTLS(nc net.Conn, set *Settings) {
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		s.log.Error("TLS needs a TCP socket", zap.String("remote", nc.RemoteAddr().String()))
		s.dropConn(nc)
		return
	}
	sock := &tlsSocket{TCPConn: tcp}
	tc := tls.Server(sock, s.tlsConf)
	nc.SetDeadline(time.Now().Add(set.ReadHeaderTimeout))
	ctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(s.stopCtx, cancel)
	err := tc.HandshakeContext(ctx)
	stop()
	cancel()
	if err != nil {
		s.handshakeFailed(nc, err)
		s.dropConn(nc)
		return
	}
	nc.SetDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol == ALPNChallenge {
		// The challenge certificate was the answer; no request follows.
		s.dropConn(tc)
		return
	}
	t := newTransport(tc)
	t.tls.cert, t.tls.sock = sock.cert, sock
	if t.tls.state.NegotiatedProtocol == "h2" {
		s.serveH2(t)
		return
	}
	s.serveHTTP1(t)
}

// handshakeFailed answers what can be answered. A client that sent plain
// HTTP to the TLS port gets a 400 it can read, in plain text, as the
// browser or curl user needs to see why nothing worked; anything else
// (bad hellos, no shared version, timeouts, scanners) is logged at debug.
func (s *server) handshakeFailed(nc net.Conn, err error) {
	var re tls.RecordHeaderError
	if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader[:]) {
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		io.WriteString(nc, plainHTTPOnTLS)
		return
	}
	if ce := s.log.Check(zap.DebugLevel, "TLS handshake failed"); ce != nil {
		ce.Write(zap.String("remote", nc.RemoteAddr().String()), zap.Error(err))
	}
}

var plainHTTPOnTLS = func() string {
	const body = "This port speaks HTTPS: use an https:// URL to reach it.\n"
	return "HTTP/1.1 400 Bad Request\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"\r\n" + body
}()

// looksLikeHTTP reports whether the first bytes of a connection are the
// start of an HTTP/1 request line (a method in capitals and a space)
// rather than a TLS record.
func looksLikeHTTP(b []byte) bool {
	for i, c := range b {
		switch {
		case c == ' ' && i > 0:
			return true
		case c < 'A' || c > 'Z':
			return false
		}
	}
	return len(b) > 0
}

// dropConn closes a connection that never reached a protocol.
func (s *server) dropConn(nc net.Conn) {
	nc.Close()
	s.sup.releaseSlot()
	s.wg.Done()
}

// tlsState is the request's TLS facts, nil on a plain connection.
func (t *transport) tlsState() *tls.ConnectionState {
	if t.tls == nil {
		return nil
	}
	return &t.tls.state
}

// covers reports whether a request for host may be answered on this
// connection: always on a plain one; on TLS, when the certificate the
// handshake presented is valid for host, so that a connection a browser
// opened for one name and reuses for another (HTTP/1.1 does not, but
// clients with connection coalescing do) is never answered for a name the
// client could not verify.
func (t *transport) covers(host []byte) bool {
	if t.tls == nil || t.tls.cert == nil || t.tls.cert.Leaf == nil {
		return true
	}
	name := hostName(host)
	if string(name) == t.tls.covered {
		return true
	}
	n := strings.ToLower(string(name))
	if !certs.Covers(t.tls.cert.Leaf, n) {
		return false
	}
	t.tls.covered = n
	return true
}

// hostName is host without its port and one trailing dot; an IP-literal
// loses its brackets.
func hostName(host []byte) []byte {
	if len(host) > 0 && host[0] == '[' {
		if i := bytes.IndexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return host
	}
	if i := bytes.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return bytes.TrimSuffix(host, []byte("."))
}

var challengePrefix = []byte(ChallengePrefix)

// answerChallenge writes the key authorization for an HTTP-01 validation,
// reporting false, with nothing written, for a token ch does not know.
func answerChallenge(ch Challenger, w handlers.ResponseWriter, r *handlers.Request) bool {
	body, ok := ch.Challenge(hostName(r.Host), r.RawPath)
	if !ok {
		return false
	}
	w.Header().SetCanonical("Content-Type", "text/plain")
	w.SetContentLength(int64(len(body)))
	w.WriteHeader(200)
	if r.Method != "HEAD" {
		w.Write(body)
	}
	return true
}
