package certs

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"testing"
	"time"
)

func coversLeaf(t testing.TB) *x509.Certificate {
	t.Helper()
	return makeCert(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "cn-only.example.net"},
		DNSNames:    []string{"example.com", "*.example.com", "Mixed.Example.ORG", "*.Wild.Example.ORG"},
		IPAddresses: []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")},
	}, nil).leaf
}

func TestCoversMatchesSANsExactlyOrByAOneLabelWildcard(t *testing.T) {
	leaf := coversLeaf(t)
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"example.com", true},          // exact
		{"a.example.com", true},        // wildcard, one label
		{"www.example.com", true},      // wildcard, one label
		{"a.b.example.com", false},     // wildcard covers one label, not two
		{"example.org", false},         // not listed
		{"xexample.com", false},        // a suffix is not a label
		{".example.com", false},        // the label must not be empty
		{"mixed.example.org", true},    // SANs compare without case
		{"MIXED.example.org", true},    // and so does the host, should one slip through
		{"a.wild.example.org", true},   // wildcard SAN in mixed case
		{"wild.example.org", false},    // a wildcard does not cover its apex
		{"example.com.", true},         // a final dot is the same name
		{"cn-only.example.net", false}, // the CommonName is ignored
		{"192.0.2.1", true},            // IP SAN
		{"192.0.2.2", false},           // other IP
		{"2001:db8::1", true},          // IPv6 SAN
		{"2001:DB8:0::1", true},        // IPv6 in another spelling
		{"[2001:db8::1]", true},        // bracketed, as in a Host header
		{"::ffff:192.0.2.1", true},     // IPv4-mapped
		{"1.2.3", false},               // digits and dots but no IP: a DNS name
		{"", false},
		{".", false},
	} {
		if got := Covers(leaf, tc.host); got != tc.want {
			t.Errorf("Covers(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

func TestCoversIgnoresTheCommonNameOfALeafWithoutSANs(t *testing.T) {
	leaf := makeCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "example.com"}}, nil).leaf
	if Covers(leaf, "example.com") {
		t.Fatal("a CommonName alone covers the host; browsers would reject it")
	}
	if Covers(nil, "example.com") {
		t.Fatal("a nil leaf covers the host")
	}
}

func TestCoversDoesNotMatchAWildcardAgainstAnIP(t *testing.T) {
	leaf := leafFor(t, "*.0.2.1").leaf
	if Covers(leaf, "192.0.2.1") {
		t.Fatal("a wildcard DNS SAN covers an IP host")
	}
}

func TestCoversDoesNotAllocateForADNSHost(t *testing.T) {
	leaf := coversLeaf(t)
	for _, host := range []string{"example.com", "a.example.com", "a.b.example.com", "nomatch.example.net", "mixed.example.org", "192.0.2.1"} {
		if n := testing.AllocsPerRun(100, func() { Covers(leaf, host) }); n != 0 {
			t.Errorf("Covers(%q) allocates %v times", host, n)
		}
	}
}

func TestExpiringIsTrueWhenTheLeafEndsWithinTheWindow(t *testing.T) {
	now := time.Now()
	leaf := makeCert(t, &x509.Certificate{DNSNames: []string{"example.com"}, NotAfter: now.Add(10 * 24 * time.Hour)}, nil).leaf
	const fortnight = 14 * 24 * time.Hour
	if !Expiring(leaf, now, fortnight) {
		t.Error("a leaf ending in 10 days is not expiring within 14")
	}
	if Expiring(leaf, now, 7*24*time.Hour) {
		t.Error("a leaf ending in 10 days is expiring within 7")
	}
	if !Expiring(leaf, now.Add(20*24*time.Hour), fortnight) {
		t.Error("an expired leaf is not expiring")
	}
	if Expiring(nil, now, fortnight) {
		t.Error("a nil leaf is expiring")
	}
}
