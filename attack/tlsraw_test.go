package attack

// Hand-made TLS for the TLS attack suite. crypto/tls refuses to send what
// an attacker sends, so: ClientHellos are taken from crypto/tls and then
// edited (names and protocols no client would offer, framing no client
// would write); the server's first flight is read in the clear, which in
// TLS 1.2 includes the certificate it chose; and a TLS 1.3 record layer
// takes over a connection crypto/tls set up, from the traffic secrets it
// logs, to write records it never writes (empty ones, KeyUpdates).

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/moreweb/moreweb/internal/testkit"
)

// Record and handshake message types, and the extensions edited here.
const (
	recordCCS       = 0x14
	recordAlert     = 0x15
	recordHandshake = 0x16
	recordAppData   = 0x17

	msgClientHello = 1
	msgServerHello = 2
	msgTicket      = 4
	msgCertificate = 11
	msgKeyUpdate   = 24

	extServerName        = 0
	extALPN              = 16
	extSupportedVersions = 43

	maxFragment = 1 << 14
)

// TLS alert descriptions the tests name.
const (
	alertUnexpectedMessage = 10
	alertHandshakeFailure  = 40
)

func u24(b []byte) int { return int(b[0])<<16 | int(b[1])<<8 | int(b[2]) }

// captureHello returns the ClientHello crypto/tls sends under cfg as a
// handshake message (type, length, body), read off a pipe that is closed
// before the handshake can go on.
func captureHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		defer client.Close()
		tls.Client(client, cfg).Handshake() // fails once the pipe closes
	}()
	server.SetDeadline(time.Now().Add(5 * time.Second))
	var hs []byte
	for len(hs) < 4 || len(hs) < 4+u24(hs[1:]) {
		var hdr [5]byte
		if _, err := io.ReadFull(server, hdr[:]); err != nil {
			t.Fatalf("capturing a ClientHello: %v", err)
		}
		if hdr[0] != recordHandshake {
			t.Fatalf("crypto/tls began with a record of type %d", hdr[0])
		}
		body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
		if _, err := io.ReadFull(server, body); err != nil {
			t.Fatalf("capturing a ClientHello: %v", err)
		}
		hs = append(hs, body...)
	}
	if hs[0] != msgClientHello {
		t.Fatalf("crypto/tls sent handshake message %d first", hs[0])
	}
	return hs[:4+u24(hs[1:])]
}

// hello is a ClientHello split where the edits go: everything before the
// extensions, kept as it was, and the extensions one by one.
type hello struct {
	head []byte
	exts []helloExt
}

type helloExt struct {
	typ  uint16
	data []byte
}

func parseHello(t testing.TB, msg []byte) *hello {
	t.Helper()
	body := msg[4:]
	off := 2 + 32                                       // legacy_version, random
	off += 1 + int(body[off])                           // legacy_session_id
	off += 2 + int(binary.BigEndian.Uint16(body[off:])) // cipher_suites
	off += 1 + int(body[off])                           // legacy_compression_methods
	h := &hello{head: bytes.Clone(body[:off])}
	exts := body[off+2 : off+2+int(binary.BigEndian.Uint16(body[off:]))]
	for len(exts) > 0 {
		typ, n := binary.BigEndian.Uint16(exts), int(binary.BigEndian.Uint16(exts[2:]))
		h.exts = append(h.exts, helloExt{typ, bytes.Clone(exts[4 : 4+n])})
		exts = exts[4+n:]
	}
	return h
}

// with returns a copy of h with extension typ's data replaced, or added
// if h has none; nil data removes it.
func (h *hello) with(typ uint16, data []byte) *hello {
	c := &hello{head: h.head}
	found := false
	for _, e := range h.exts {
		if e.typ == typ {
			found = true
			if data == nil {
				continue
			}
			e.data = data
		}
		c.exts = append(c.exts, e)
	}
	if !found && data != nil {
		// Last, where pre_shared_key would have to be; crypto/tls sends
		// none, as the test clients keep no sessions.
		c.exts = append(c.exts, helloExt{typ, data})
	}
	return c
}

// message is the ClientHello as a handshake message. The length fields
// are the true ones; what is illegal is inside the extensions' data.
func (h *hello) message(t testing.TB) []byte {
	t.Helper()
	var exts []byte
	for _, e := range h.exts {
		if len(e.data) > 0xffff {
			t.Fatalf("extension %d of %d bytes does not fit its length field", e.typ, len(e.data))
		}
		exts = binary.BigEndian.AppendUint16(exts, e.typ)
		exts = binary.BigEndian.AppendUint16(exts, uint16(len(e.data)))
		exts = append(exts, e.data...)
	}
	if len(exts) > 0xffff {
		t.Fatalf("%d bytes of extensions do not fit their length field", len(exts))
	}
	n := len(h.head) + 2 + len(exts)
	msg := []byte{msgClientHello, byte(n >> 16), byte(n >> 8), byte(n)}
	msg = append(msg, h.head...)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(exts)))
	return append(msg, exts...)
}

// records frames data as plaintext records of type typ, each at most the
// protocol's 2^14 bytes, with the version a first flight carries.
func records(typ byte, data []byte) []byte {
	var out []byte
	for len(data) > 0 {
		n := min(len(data), maxFragment)
		out = append(out, typ, 3, 1, byte(n>>8), byte(n))
		out = append(out, data[:n]...)
		data = data[n:]
	}
	return out
}

// serverNameExt is a server_name extension listing names, each of type
// nameType (0 is host_name, the only one defined).
func serverNameExt(nameType byte, names ...string) []byte {
	var list []byte
	for _, n := range names {
		list = append(list, nameType)
		list = binary.BigEndian.AppendUint16(list, uint16(len(n)))
		list = append(list, n...)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(list))), list...)
}

// alpnExt is an application_layer_protocol_negotiation extension.
func alpnExt(protos ...string) []byte {
	var list []byte
	for _, p := range protos {
		list = append(list, byte(len(p)))
		list = append(list, p...)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(list))), list...)
}

// flight is what the server answered a ClientHello with, as far as it can
// be read without keys: in TLS 1.2 up to the certificate it chose, in
// TLS 1.3 the ServerHello; or an alert, or nothing before closing.
type flight struct {
	serverHello bool
	version     uint16
	alpn        string
	cert        *x509.Certificate
	alert       int // -1: none
	closed      bool
	err         error // neither an answer nor a close: a timeout, a malformed record
}

func (f flight) String() string {
	switch {
	case f.err != nil:
		return "error: " + f.err.Error()
	case f.alert >= 0:
		return fmt.Sprintf("alert %d", f.alert)
	case f.cert != nil:
		return fmt.Sprintf("%s, certificate %s, ALPN %q", tls.VersionName(f.version), strings.Join(f.cert.DNSNames, ","), f.alpn)
	case f.serverHello:
		return fmt.Sprintf("%s ServerHello", tls.VersionName(f.version))
	case f.closed:
		return "closed without an answer"
	}
	return "nothing"
}

// readFlight reads the server's answer to a ClientHello until it says
// which way the handshake went, or deadline.
func readFlight(nc net.Conn, deadline time.Time) flight {
	f := flight{alert: -1}
	nc.SetReadDeadline(deadline)
	var hs []byte
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			if isClosed(err) || errors.Is(err, io.ErrUnexpectedEOF) {
				f.closed = true
			} else {
				f.err = err
			}
			return f
		}
		body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
		if _, err := io.ReadFull(nc, body); err != nil {
			f.err = fmt.Errorf("record of type %d cut short: %w", hdr[0], err)
			return f
		}
		switch hdr[0] {
		case recordAlert:
			if len(body) != 2 {
				f.err = fmt.Errorf("alert of %d bytes", len(body))
			} else {
				f.alert = int(body[1])
			}
			return f
		case recordCCS:
			continue
		case recordHandshake:
		default:
			// Encrypted: TLS 1.3, known from the ServerHello already.
			if !f.serverHello {
				f.err = fmt.Errorf("record of type %d before a ServerHello", hdr[0])
			}
			return f
		}
		hs = append(hs, body...)
		for len(hs) >= 4 && len(hs) >= 4+u24(hs[1:]) {
			typ, msg := hs[0], hs[4:4+u24(hs[1:])]
			hs = hs[4+len(msg):]
			switch typ {
			case msgServerHello:
				f.serverHello = true
				parseServerHello(&f, msg)
				if f.version == tls.VersionTLS13 {
					return f
				}
			case msgCertificate:
				// certificate_list<0..2^24-1>, the leaf first.
				if len(msg) >= 6 {
					if n := u24(msg[3:]); len(msg) >= 6+n {
						f.cert, f.err = x509.ParseCertificate(msg[6 : 6+n])
					}
				}
				if f.cert == nil && f.err == nil {
					f.err = errors.New("malformed Certificate message")
				}
				return f
			}
		}
	}
}

// parseServerHello takes the version and the ALPN choice out of a
// ServerHello body; a malformed one leaves them empty.
func parseServerHello(f *flight, b []byte) {
	if len(b) < 2+32+1 {
		return
	}
	f.version = binary.BigEndian.Uint16(b)
	b = b[2+32:]
	if len(b) < 1+int(b[0])+2+1+2 {
		return
	}
	b = b[1+int(b[0])+2+1:]
	exts := b[2:]
	for len(exts) >= 4 {
		typ, n := binary.BigEndian.Uint16(exts), int(binary.BigEndian.Uint16(exts[2:]))
		if len(exts) < 4+n {
			return
		}
		data := exts[4 : 4+n]
		switch {
		case typ == extSupportedVersions && n == 2:
			f.version = binary.BigEndian.Uint16(data)
		case typ == extALPN && n >= 3:
			f.alpn = string(data[3 : 3+int(data[2])])
		}
		exts = exts[4+n:]
	}
}

// teeConn keeps a copy of everything read from the socket, so that the
// records crypto/tls read past its handshake can be read again.
type teeConn struct {
	net.Conn
	read bytes.Buffer
}

func (c *teeConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Write(b[:n])
	return n, err
}

// tls13Conn is a TLS 1.3 connection whose handshake crypto/tls did and
// whose records this file writes and reads from then on, with the traffic
// secrets crypto/tls logged.
type tls13Conn struct {
	nc      net.Conn
	hash    func() hash.Hash
	keyLen  int
	out, in trafficKey
	raw     []byte // server bytes not yet made into records
	started bool   // a server record opened under the application key
	data    bytes.Buffer
	alert   int
	updates int // KeyUpdates the server sent
}

type trafficKey struct {
	secret []byte
	aead   cipher.AEAD
	iv     []byte
	seq    uint64
}

// hkdfExpandLabel is HKDF-Expand-Label with an empty context (RFC 8446
// §7.1), all that traffic keys and their updates need.
func hkdfExpandLabel(h func() hash.Hash, secret []byte, label string, n int) []byte {
	label = "tls13 " + label
	info := []byte{byte(n >> 8), byte(n), byte(len(label))}
	info = append(info, label...)
	info = append(info, 0)
	out, err := hkdf.Expand(h, secret, string(info), n)
	if err != nil {
		panic(err)
	}
	return out
}

func (c *tls13Conn) setKey(k *trafficKey, secret []byte) {
	block, err := aes.NewCipher(hkdfExpandLabel(c.hash, secret, "key", c.keyLen))
	if err != nil {
		panic(err)
	}
	k.aead, err = cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	k.secret, k.iv, k.seq = secret, hkdfExpandLabel(c.hash, secret, "iv", 12), 0
}

func (c *tls13Conn) updateKey(k *trafficKey) {
	c.setKey(k, hkdfExpandLabel(c.hash, k.secret, "traffic upd", c.hash().Size()))
}

func (k *trafficKey) nonce() []byte {
	n := bytes.Clone(k.iv)
	for i := 0; i < 8; i++ {
		n[len(n)-1-i] ^= byte(k.seq >> (8 * i))
	}
	k.seq++
	return n
}

// takeOverTLS13 completes a TLS 1.3 handshake with crypto/tls on nc and
// takes the connection over. It skips the test when the suite negotiated
// is not AES-GCM (ChaCha20 would need x/crypto).
func takeOverTLS13(t testing.TB, nc net.Conn) *tls13Conn {
	t.Helper()
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	tee := &teeConn{Conn: nc}
	var keys bytes.Buffer
	tc := tls.Client(tee, &tls.Config{
		ServerName:   "example.com",
		RootCAs:      testkit.TestCA(t).Pool,
		MinVersion:   tls.VersionTLS13,
		KeyLogWriter: &keys,
	})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS 1.3 handshake: %v", err)
	}
	c := &tls13Conn{nc: nc, alert: -1, raw: tee.read.Bytes()}
	switch suite := tc.ConnectionState().CipherSuite; suite {
	case tls.TLS_AES_128_GCM_SHA256:
		c.hash, c.keyLen = sha256.New, 16
	case tls.TLS_AES_256_GCM_SHA384:
		c.hash, c.keyLen = sha512.New384, 32
	default:
		t.Skipf("negotiated %s, which this record layer does not speak", tls.CipherSuiteName(suite))
	}
	secret := func(label string) []byte {
		for _, line := range strings.Split(keys.String(), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == label {
				b, err := hex.DecodeString(f[2])
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}
		t.Fatalf("crypto/tls logged no %s", label)
		return nil
	}
	c.setKey(&c.out, secret("CLIENT_TRAFFIC_SECRET_0"))
	c.setKey(&c.in, secret("SERVER_TRAFFIC_SECRET_0"))
	return c
}

// record seals content as one record of type typ.
func (c *tls13Conn) record(typ byte, content []byte) []byte {
	inner := append(bytes.Clone(content), typ)
	n := len(inner) + c.out.aead.Overhead()
	hdr := []byte{recordAppData, 3, 3, byte(n >> 8), byte(n)}
	return c.out.aead.Seal(bytes.Clone(hdr), c.out.nonce(), inner, hdr)
}

// keyUpdate is a KeyUpdate record; the records after it are under the
// next key, as the server will expect.
func (c *tls13Conn) keyUpdate(requested bool) []byte {
	req := byte(0)
	if requested {
		req = 1
	}
	rec := c.record(recordHandshake, []byte{msgKeyUpdate, 0, 0, 1, req})
	c.updateKey(&c.out)
	return rec
}

// readUntil reads and opens the server's records until done reports true,
// the server sends an alert or closes, or deadline.
func (c *tls13Conn) readUntil(deadline time.Time, done func() bool) error {
	c.nc.SetReadDeadline(deadline)
	buf := make([]byte, 32<<10)
	for {
		for len(c.raw) >= 5 && len(c.raw) >= 5+int(binary.BigEndian.Uint16(c.raw[3:])) {
			n := 5 + int(binary.BigEndian.Uint16(c.raw[3:]))
			rec := c.raw[:n]
			c.raw = c.raw[n:]
			if err := c.open(rec); err != nil {
				return err
			}
			if c.alert >= 0 {
				return nil
			}
		}
		if done() {
			return nil
		}
		n, err := c.nc.Read(buf)
		c.raw = append(c.raw, buf[:n]...)
		if err != nil {
			return err
		}
	}
}

// open handles one server record. Those before the first that opens under
// the application key are the handshake's, which crypto/tls read already.
func (c *tls13Conn) open(rec []byte) error {
	if rec[0] != recordAppData {
		if c.started {
			return fmt.Errorf("plaintext record of type %d after the handshake", rec[0])
		}
		return nil
	}
	seq := c.in.seq
	inner, err := c.in.aead.Open(nil, c.in.nonce(), rec[5:], rec[:5])
	if err != nil {
		c.in.seq = seq
		if c.started {
			return fmt.Errorf("server record %d does not open: %v", seq, err)
		}
		return nil
	}
	c.started = true
	inner = bytes.TrimRight(inner, "\x00")
	if len(inner) == 0 {
		return errors.New("server record without a content type")
	}
	typ, content := inner[len(inner)-1], inner[:len(inner)-1]
	switch typ {
	case recordAppData:
		c.data.Write(content)
	case recordAlert:
		if len(content) == 2 {
			c.alert = int(content[1])
		}
	case recordHandshake:
		for len(content) >= 4 {
			mt, n := content[0], u24(content[1:])
			if len(content) < 4+n {
				return errors.New("server handshake message split across records")
			}
			switch mt {
			case msgTicket:
			case msgKeyUpdate:
				c.updates++
				c.updateKey(&c.in)
			default:
				return fmt.Errorf("server sent handshake message %d after the handshake", mt)
			}
			content = content[4+n:]
		}
	}
	return nil
}
