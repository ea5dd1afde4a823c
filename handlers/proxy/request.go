package proxy

import (
	"bytes"
	"net/netip"
	"strconv"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// appendRequestHead writes the head the backend gets for r: the request
// line with the target the route makes, the client's Host, the client's
// fields but for the hop-by-hop ones (RFC 9110 §7.6.1) and those the proxy
// sets itself, the X-Forwarded-* fields, and the framing of the body the
// proxy sends. upgrade keeps the protocol switch the client asked for.
func (ex *exchange) appendRequestHead(b []byte, bodyLen int64, upgrade []byte) []byte {
	r, rt := ex.r, ex.rt
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = appendTarget(b, r, rt)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)

	trusted := ex.h.trustedPeer(r.RemoteAddr)
	connection := r.Header.Get("Connection")
	var xff, xfProto, xfHost []byte
	cookies := 0
	for i := range r.Header.Len() {
		f := r.Header.At(i)
		switch {
		case isHopByHop(f.Name), namedIn(connection, f.Name),
			equalFold(f.Name, "Host"), equalFold(f.Name, "Content-Length"), equalFold(f.Name, "Expect"),
			underscoreTwin(f.Name):
			continue
		case equalFold(f.Name, "TE"):
			// Only "trailers" is end to end: it says the client takes
			// trailers, which the backend may then send.
			if hasToken(f.Value, "trailers") {
				b = append(b, "TE: trailers\r\n"...)
			}
			continue
		case equalFold(f.Name, "X-Forwarded-For"):
			if trusted {
				xff = appendList(xff, f.Value)
			}
			continue
		case equalFold(f.Name, "X-Forwarded-Proto"):
			if trusted && xfProto == nil {
				xfProto = f.Value
			}
			continue
		case equalFold(f.Name, "X-Forwarded-Host"):
			if trusted && xfHost == nil {
				xfHost = f.Value
			}
			continue
		case !trusted && (equalFold(f.Name, "Forwarded") || equalFold(f.Name, "X-Real-IP")):
			// Claims about the client from the client itself.
			continue
		case equalFold(f.Name, "Cookie"):
			// HTTP/2 may split cookies over several fields (RFC 9113
			// §8.2.3); HTTP/1.1 wants one.
			cookies++
			if cookies > 1 {
				continue
			}
			b = append(b, "Cookie: "...)
			b = appendCookies(b, r.Header)
			b = append(b, "\r\n"...)
			continue
		}
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}

	b = append(b, "X-Forwarded-For: "...)
	if len(xff) > 0 {
		b = append(b, xff...)
		b = append(b, ", "...)
	}
	if r.RemoteAddr.IsValid() {
		b = r.RemoteAddr.Addr().Unmap().AppendTo(b)
	} else {
		b = append(b, "unknown"...)
	}
	b = append(b, "\r\nX-Forwarded-Proto: "...)
	switch {
	case xfProto != nil:
		b = append(b, xfProto...)
	case r.TLS != nil:
		b = append(b, "https"...)
	default:
		b = append(b, "http"...)
	}
	b = append(b, "\r\nX-Forwarded-Host: "...)
	if xfHost != nil {
		b = append(b, xfHost...)
	} else {
		b = append(b, r.Host...)
	}
	b = append(b, "\r\n"...)

	switch {
	case upgrade != nil:
		b = append(b, "Connection: Upgrade\r\nUpgrade: "...)
		b = append(b, upgrade...)
		b = append(b, "\r\n"...)
	case bodyLen < 0:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case bodyLen > 0 || methodWantsLength(r.Method):
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, bodyLen, 10)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// appendTarget appends the target the backend gets. The path is the one
// the client sent when it is already in its clean form; otherwise (dot
// segments, repeated slashes) the cleaned path the route was chosen by, so
// that the backend cannot read the path as another one than moreweb did.
// strip_prefix takes the route's prefix off, keeping the leading slash.
func appendTarget(b []byte, r *handlers.Request, rt *route) []byte {
	if r.Method == "OPTIONS" && string(r.Path) == "*" {
		return append(b, '*')
	}
	start := len(b)
	if isCleanPath(r.RawPath) {
		b = append(b, r.RawPath...)
	} else {
		b = appendEscapedPath(b, r.Path)
	}
	if rt.strip && rt.prefix != "" {
		prefix := rt.prefix[:len(rt.prefix)-1] // keep its slash
		path := b[start:]
		if !bytes.HasPrefix(path, []byte(prefix)) {
			// The prefix matched only once decoded: strip it from the
			// decoded path.
			b = appendEscapedPath(b[:start], r.Path)
			path = b[start:]
		}
		if bytes.HasPrefix(path, []byte(prefix)) {
			n := copy(path, path[len(prefix):])
			b = b[:start+n]
		}
		if len(b) == start {
			b = append(b, '/')
		}
	}
	if len(r.RawQuery) > 0 {
		b = append(b, '?')
		b = append(b, r.RawQuery...)
	}
	return b
}

// isCleanPath reports whether a raw path has no dot segment and no empty
// segment, in plain or percent-encoded dots, so that every reader cleans
// it to itself.
func isCleanPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		seg := p[segStart:i]
		if i < len(p) && len(seg) == 0 {
			return false // "//"
		}
		if isDotSegment(seg) {
			return false
		}
		segStart = i + 1
	}
	return true
}

func isDotSegment(seg []byte) bool {
	dots := 0
	for i := 0; i < len(seg); {
		switch {
		case seg[i] == '.':
			i++
		case i+2 < len(seg) && seg[i] == '%' && seg[i+1] == '2' && (seg[i+2] == 'e' || seg[i+2] == 'E'):
			i += 3
		default:
			return false
		}
		dots++
	}
	return dots == 1 || dots == 2
}

// appendEscapedPath percent-encodes what a path may not hold as it is.
func appendEscapedPath(b, path []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range path {
		if isPathChar(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return b
}

// isPathChar: RFC 3986 pchar and "/", except '%' (which here is a literal
// percent sign of the decoded path, so it is encoded).
func isPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '/':
		return true
	}
	return false
}

// methodWantsLength: a request of these methods without a body still says
// Content-Length: 0, as RFC 9110 §8.6 asks of a user agent whose method
// defines a body.
func methodWantsLength(m string) bool { return m == "POST" || m == "PUT" || m == "PATCH" }

func (h *Handler) trustedPeer(ap netip.AddrPort) bool {
	if len(h.trusted) == 0 || !ap.IsValid() {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range h.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// isHopByHop reports the fields that describe one connection, not the
// message (RFC 9110 §7.6.1), and that a proxy sets itself when it needs
// them. It looks at the length first: it runs for every field both ways.
func isHopByHop(name []byte) bool {
	switch len(name) {
	case 7:
		return equalFold(name, "Upgrade")
	case 10:
		return equalFold(name, "Connection") || equalFold(name, "Keep-Alive")
	case 14:
		return equalFold(name, "HTTP2-Settings")
	case 16:
		return equalFold(name, "Proxy-Connection")
	case 17:
		return equalFold(name, "Transfer-Encoding")
	case 18:
		return equalFold(name, "Proxy-Authenticate")
	case 19:
		return equalFold(name, "Proxy-Authorization")
	}
	return false
}

// underscoreTwin reports a name with '_' that, read with '-' for '_' as
// CGI-style gateways read names (WSGI's HTTP_X_FORWARDED_FOR, PHP's
// $_SERVER), is one of the fields the proxy sets or drops itself:
// "X_Forwarded_For" would reach such an app as the client's own claim in
// the place of moreweb's, "Transfer_Encoding" as framing it never had.
func underscoreTwin(name []byte) bool {
	var buf [20]byte // the longest name below
	if len(name) > len(buf) || bytes.IndexByte(name, '_') < 0 {
		return false
	}
	d := buf[:len(name)]
	for i, c := range name {
		if c == '_' {
			c = '-'
		}
		d[i] = c
	}
	if isHopByHop(d) {
		return true
	}
	for _, owned := range [...]string{"Host", "Content-Length", "Expect", "TE", "Forwarded",
		"X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"} {
		if equalFold(d, owned) {
			return true
		}
	}
	return false
}

// namedIn reports whether name is one of the tokens of a Connection field
// value.
func namedIn(connection, name []byte) bool {
	return len(connection) > 0 && hasToken(connection, name)
}

// hasToken reports whether a comma-separated list holds token, case
// ignored.
func hasToken[T ~string | ~[]byte](list []byte, token T) bool {
	for len(list) > 0 {
		var e []byte
		if i := bytes.IndexByte(list, ','); i >= 0 {
			e, list = list[:i], list[i+1:]
		} else {
			e, list = list, nil
		}
		if equalFold(bytes.Trim(e, " \t"), token) {
			return true
		}
	}
	return false
}

func appendList(b, v []byte) []byte {
	v = bytes.Trim(v, " \t")
	if len(v) == 0 {
		return b
	}
	if len(b) > 0 {
		b = append(b, ", "...)
	}
	return append(b, v...)
}

func appendCookies(b []byte, h *parser.Header) []byte {
	first := true
	h.Values("Cookie", func(v []byte) {
		if !first {
			b = append(b, "; "...)
		}
		first = false
		b = append(b, v...)
	})
	return b
}

func equalFold[T ~string | ~[]byte](b []byte, s T) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if c == d {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
