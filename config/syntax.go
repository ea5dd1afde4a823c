package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// hostProfile converts internationalized names to ASCII the way browsers
// look them up, which is how they arrive in Host headers. Hyphen checks
// are off, as in browsers: labels like "r3---sn-abc" are in real use.
var hostProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.CheckHyphens(false),
)

// normalizeHost returns the form of a host pattern that requests are
// matched against, or a message saying why it is not a valid pattern.
func normalizeHost(h string) (string, string) {
	name := strings.TrimSuffix(h, ".")
	wild := strings.HasPrefix(name, "*.")
	if wild {
		name = name[2:]
	}
	switch {
	case name == "":
		return "", fmt.Sprintf("%q is not a host name", h)
	case strings.Contains(name, "*"):
		return "", fmt.Sprintf("%q: a wildcard is a leading \"*.\" followed by a name, like \"*.example.org\"", h)
	case strings.Contains(name, ":"):
		return "", fmt.Sprintf("%q: a host has no port here; listeners decide ports", h)
	}
	ascii, err := hostProfile.ToASCII(name)
	if err != nil {
		return "", fmt.Sprintf("%q is not a valid host name: %v", h, err)
	}
	ascii = strings.ToLower(ascii)
	if msg := checkDNSName(ascii); msg != "" {
		return "", fmt.Sprintf("%q is not a valid host name: %s", h, msg)
	}
	if wild {
		ascii = "*." + ascii
	}
	return ascii, ""
}

// checkDNSName applies RFC 1035's preferred syntax (as relaxed by RFC 1123
// to allow a leading digit) to an ASCII name.
func checkDNSName(name string) string {
	if len(name) > 253 {
		return "longer than 253 characters"
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return "empty label"
		}
		if len(label) > 63 {
			return fmt.Sprintf("label %q is longer than 63 characters", label)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Sprintf("label %q starts or ends with a hyphen", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Sprintf("label %q has %q; use letters, digits and hyphens", label, c)
			}
		}
	}
	return ""
}

// checkAddress returns why addr cannot be listened on, or "".
func checkAddress(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return fmt.Sprintf("%q is not host:port: %s", addr, ae.Err)
		}
		return fmt.Sprintf("%q is not host:port", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Sprintf("%q: the port must be a number from 0 to 65535", addr)
	}
	if host == "" {
		return ""
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	if strings.Contains(host, ":") {
		return fmt.Sprintf("%q: %q is not an IPv6 address", addr, host)
	}
	if msg := checkDNSName(strings.ToLower(strings.TrimSuffix(host, "."))); msg != "" {
		return fmt.Sprintf("%q: %q is neither an IP address nor a host name: %s", addr, host, msg)
	}
	return ""
}

// parseErrorStatus reads an error_pages key. Only the plain three-digit
// form is accepted so the key in messages is the one in the file.
func parseErrorStatus(k string) (int, string) {
	n, err := strconv.Atoi(k)
	if err != nil || len(k) != 3 || k[0] < '0' || k[0] > '9' {
		return 0, fmt.Sprintf("%q is not an HTTP status code", k)
	}
	if n < 400 || n > 599 {
		return 0, fmt.Sprintf("status %d is not an error status (400-599)", n)
	}
	return n, ""
}

// checkRedirectFrom returns why from cannot be matched against a request
// path, or "".
func checkRedirectFrom(from string) string {
	switch {
	case !strings.HasPrefix(from, "/"):
		return fmt.Sprintf("%q must start with \"/\"", from)
	case hasCTL(from, false):
		return "must not contain control characters"
	case strings.Contains(strings.TrimSuffix(from, "/*"), "*"):
		return fmt.Sprintf("%q: \"*\" may only end a prefix, as \"/*\"", from)
	}
	return ""
}

// framingHeaders are the headers that decide how a message is delimited or
// whether the connection lives on; the response writer owns them, and a
// configured value would break framing.
var framingHeaders = map[string]bool{
	"content-length":    true,
	"transfer-encoding": true,
	"connection":        true,
	"keep-alive":        true,
	"upgrade":           true,
	"te":                true,
	"trailer":           true,
}

// isToken reports whether s is an RFC 9110 token:
//
//	token  = 1*tchar
//	tchar  = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//	         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// hasCTL reports a control character (RFC 5234 CTL: %x00-1F / %x7F);
// horizontal tab is allowed where a field value allows it.
func hasCTL(s string, allowTab bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && !(allowTab && c == '\t') || c == 0x7f {
			return true
		}
	}
	return false
}
