package certs

import (
	"crypto/x509"
	"net/netip"
	"strings"
)

// Covers reports whether the certificate leaf is valid for host (a lower-case name
// without port, or an IP literal): DNS SANs exact match, or a wildcard SAN "*.example.com"
// covering exactly one label (a.example.com yes, example.com and a.b.example.com no),
// IP SANs for IP hosts. The CommonName is ignored, as browsers ignore it.
// Names compare without regard to case and to a final dot.
func Covers(leaf *x509.Certificate, host string) bool {
	if leaf == nil {
		return false
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return false
	}
	// ParseAddr's error for a DNS name would be an allocation on every
	// request; only what could be an IP literal is parsed.
	if mayBeIP(host) {
		if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
			return coversIP(leaf, ip.Unmap())
		}
	}
	for _, san := range leaf.DNSNames {
		if matchDNS(strings.TrimSuffix(san, "."), host) {
			return true
		}
	}
	return false
}

func mayBeIP(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c == ':' || c == '[' {
			return true
		}
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

func coversIP(leaf *x509.Certificate, ip netip.Addr) bool {
	for _, b := range leaf.IPAddresses {
		a, ok := netip.AddrFromSlice(b)
		if ok && a.Unmap() == ip.WithZone("") {
			return true
		}
	}
	return false
}

func matchDNS(san, host string) bool {
	if suffix, ok := strings.CutPrefix(san, "*."); ok {
		// The wildcard stands for exactly one whole, non-empty label.
		dot := strings.IndexByte(host, '.')
		return suffix != "" && dot > 0 && strings.EqualFold(host[dot+1:], suffix)
	}
	return strings.EqualFold(san, host)
}
