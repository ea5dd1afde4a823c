package parser

import (
	"bytes"
	"net/netip"
)

var (
	asterisk  = []byte("*")
	slashOnly = []byte("/")
)

// splitTarget classifies the request-target (RFC 9112 §3.2) and fills the
// path, query and, for absolute-form, the host.
func (r *Request) splitTarget() error {
	t := r.Target
	switch {
	case r.Method == "CONNECT":
		// RFC 9112 §3.2.3: CONNECT takes the authority-form, and only it.
		colon := bytes.LastIndexByte(t, ':')
		if colon <= 0 || colon == len(t)-1 || !validHost(t) {
			return errTargetForm
		}
		r.Form = AuthorityForm
		r.Host = t
		return nil
	case len(t) == 1 && t[0] == '*':
		if r.Method != "OPTIONS" {
			return errTargetForm
		}
		r.Form = AsteriskForm
		r.RawPath, r.Path = asterisk, asterisk
		return nil
	case t[0] == '/':
		r.Form = OriginForm
		return r.splitPathQuery(t)
	}
	if rest, ok := cutScheme(t); ok {
		r.Form = AbsoluteForm
		end := bytes.IndexAny(rest, "/?")
		if end < 0 {
			end = len(rest)
		}
		authority := rest[:end]
		// RFC 9110 §4.2.1: an http URI with an empty host is invalid;
		// userinfo is deprecated and only ever used to mislead (§4.2.4).
		if len(authority) == 0 || authority[0] == ':' || bytes.IndexByte(authority, '@') >= 0 || !validHost(authority) {
			return errAbsoluteTarget
		}
		r.Host = authority
		if end == len(rest) || rest[end] == '?' {
			// "http://host" and "http://host?q" ask for the root.
			r.RawPath, r.Path = slashOnly, slashOnly
			if end < len(rest) {
				r.RawQuery = rest[end+1:]
			}
			return nil
		}
		return r.splitPathQuery(rest[end:])
	}
	if bytes.Contains(t, []byte("://")) {
		return errAbsoluteTarget // a scheme we do not serve
	}
	return errTargetForm // authority-form, and the method is not CONNECT
}

// cutScheme strips a case-insensitive "http://" or "https://".
func cutScheme(t []byte) ([]byte, bool) {
	if len(t) > 7 && equalFold(t[:7], "http://") {
		return t[7:], true
	}
	if len(t) > 8 && equalFold(t[:8], "https://") {
		return t[8:], true
	}
	return nil, false
}

func (r *Request) splitPathQuery(pq []byte) error {
	raw := pq
	if q := bytes.IndexByte(pq, '?'); q >= 0 {
		raw, r.RawQuery = pq[:q], pq[q+1:]
	}
	r.RawPath = raw
	if !needsCleaning(raw) {
		r.Path = raw
		return nil
	}
	return r.cleanPath(raw)
}

// needsCleaning is the fast path: most paths have no escapes, no empty
// segment and no dot-segment, and are used as sent.
func needsCleaning(p []byte) bool {
	for i, c := range p {
		if c == '%' {
			return true
		}
		if c == '/' && i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.') {
			return true
		}
	}
	return false
}

// cleanPath percent-decodes raw, then removes dot-segments (RFC 3986 §5.2.4)
// and merges repeated slashes. Decoding comes first so that "%2e%2e" and
// "%2F" cannot smuggle a ".." or a separator past the normalisation: the
// path a handler sees is exactly the one a filesystem would walk.
func (r *Request) cleanPath(raw []byte) error {
	buf := r.pathBuf[:0]
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) {
				return errPercent
			}
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return errPercent
			}
			c = hi<<4 | lo
			if c == 0 {
				return errNULInPath
			}
			i += 2
		}
		buf = append(buf, c)
	}
	decoded := len(buf)

	// The cleaned path is built after the decoded one in the same buffer.
	buf = append(buf, '/')
	out := decoded + 1
	for i := 0; i < decoded; {
		j := i
		for j < decoded && buf[j] != '/' {
			j++
		}
		switch seg := buf[i:j]; {
		case len(seg) == 0 || isDot(seg):
			// Repeated slash or "."; nothing to add.
		case isDotDot(seg):
			if len(buf) > out {
				buf = buf[:len(buf)-1]
				for len(buf) > out && buf[len(buf)-1] != '/' {
					buf = buf[:len(buf)-1]
				}
			}
		default:
			buf = append(buf, seg...)
			buf = append(buf, '/')
		}
		i = j + 1
	}
	// The output ends in '/' here; keep it only where the input asked for a
	// directory: a trailing slash, "." or "..".
	last := buf[bytes.LastIndexByte(buf[:decoded], '/')+1 : decoded]
	trailingSlash := len(last) == 0 || isDot(last) || isDotDot(last)
	if !trailingSlash && len(buf) > out {
		buf = buf[:len(buf)-1]
	}
	r.pathBuf = buf
	r.Path = buf[decoded:]
	return nil
}

// validHost checks uri-host [ ":" port ] (RFC 3986 §3.2.2, §3.2.3).
func validHost(h []byte) bool {
	if len(h) == 0 {
		return true
	}
	var port []byte
	if h[0] == '[' {
		end := bytes.IndexByte(h, ']')
		if end < 2 {
			return false
		}
		for _, c := range h[1:end] {
			if _, hex := unhex(c); !hex && c != ':' && c != '.' {
				return false
			}
		}
		// IP-literal = "[" IPv6address "]": the bytes alone let "[0]"
		// or "[1.2.3.4]" through.
		if a, err := netip.ParseAddr(string(h[1:end])); err != nil || !a.Is6() {
			return false
		}
		rest := h[end+1:]
		if len(rest) > 0 {
			if rest[0] != ':' {
				return false
			}
			port = rest[1:]
		}
	} else {
		host := h
		if i := bytes.IndexByte(h, ':'); i >= 0 {
			host, port = h[:i], h[i+1:]
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !isRegNameByte[c] {
				return false
			}
			if c == '%' {
				if i+2 >= len(host) {
					return false
				}
				if _, ok := unhex(host[i+1]); !ok {
					return false
				}
				if _, ok := unhex(host[i+2]); !ok {
					return false
				}
			}
		}
	}
	if len(port) > 5 {
		return false
	}
	n := 0
	for _, c := range port {
		if !isDigit(c) {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

func isDot(seg []byte) bool    { return len(seg) == 1 && seg[0] == '.' }
func isDotDot(seg []byte) bool { return len(seg) == 2 && seg[0] == '.' && seg[1] == '.' }

// SplitOriginTarget splits an origin-form target ("/path?query", as HTTP/2
// sends :path) the way request heads are: the raw path, the path decoded
// and cleaned as handlers see it, and the query. A cleaned path is built in
// scratch, which is returned grown for reuse.
func SplitOriginTarget(target, scratch []byte) (rawPath, path, rawQuery, grown []byte, err error) {
	if len(target) == 0 || target[0] != '/' {
		return nil, nil, nil, scratch, errTargetForm
	}
	r := Request{pathBuf: scratch}
	err = r.splitPathQuery(target)
	return r.RawPath, r.Path, r.RawQuery, r.pathBuf, err
}

// ValidHost reports whether h is a uri-host with an optional port, as the
// Host field and HTTP/2's :authority must be; empty is valid.
func ValidHost(h []byte) bool { return validHost(h) }
