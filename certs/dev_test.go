package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var devHosts = []string{"localhost", "*.localhost", "127.0.0.1", "::1"}

func caPool(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	return pool
}

func verify(leaf *x509.Certificate, pool *x509.CertPool, host string) error {
	_, err := leaf.Verify(x509.VerifyOptions{
		DNSName:   host,
		Roots:     pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

func TestDevCertificateLeafVerifiesAgainstItsCA(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dev") // made by DevCertificate
	certFile, keyFile, caFile, err := DevCertificate(dir, devHosts)
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{certFile: "localhost.pem", keyFile: "localhost.key", caFile: "moreweb-dev-ca.pem"} {
		if got != filepath.Join(dir, want) {
			t.Errorf("path %s, want %s in %s", got, want, dir)
		}
	}
	pair, err := LoadPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := caPool(t, caFile)
	for _, host := range []string{"localhost", "a.localhost", "127.0.0.1", "::1"} {
		if err := verify(pair.Leaf, pool, host); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	for _, host := range []string{"a.b.localhost", "example.com", "127.0.0.2"} {
		if err := verify(pair.Leaf, pool, host); err == nil {
			t.Errorf("the leaf verifies for %s", host)
		}
	}

	ca, err := LoadPair(caFile, filepath.Join(dir, "moreweb-dev-ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pair.Certificate) != 2 || !bytes.Equal(pair.Certificate[1], ca.Leaf.Raw) {
		t.Error("the chain file is not the leaf then the CA")
	}
	for _, c := range []*x509.Certificate{pair.Leaf, ca.Leaf} {
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Errorf("%s: key %T, want ECDSA P-256", c.Subject, c.PublicKey)
		}
	}
	if life := pair.Leaf.NotAfter.Sub(pair.Leaf.NotBefore); life < 364*24*time.Hour || life > 366*24*time.Hour {
		t.Errorf("leaf valid for %v, want a year (browsers refuse more than 825 days)", life)
	}
	if life := ca.Leaf.NotAfter.Sub(ca.Leaf.NotBefore); life < 10*364*24*time.Hour {
		t.Errorf("CA valid for %v, want 10 years", life)
	}
	if !ca.Leaf.IsCA || pair.Leaf.IsCA {
		t.Error("the CA is not a CA, or the leaf is one")
	}
	for _, f := range []string{keyFile, filepath.Join(dir, "moreweb-dev-ca.key")} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	left, err := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if err != nil || len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestDevCertificateReusesTheCAAndRemakesTheLeaf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert1, _, caFile, err := DevCertificate(dir, devHosts)
	if err != nil {
		t.Fatal(err)
	}
	ca1, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := caPool(t, caFile) // what a browser or curl --cacert trusts
	first, err := os.ReadFile(cert1)
	if err != nil {
		t.Fatal(err)
	}

	certFile, keyFile, caFile2, err := DevCertificate(dir, []string{"localhost", "dev.test"})
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := os.ReadFile(caFile2)
	if err != nil {
		t.Fatal(err)
	}
	if caFile2 != caFile || !bytes.Equal(ca1, ca2) {
		t.Fatal("the second call made a new CA")
	}
	second, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first, second) {
		t.Fatal("the leaf was not made again")
	}
	pair, err := LoadPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(pair.Leaf, pool, "dev.test"); err != nil {
		t.Fatalf("the new leaf does not verify against the CA trusted before: %v", err)
	}
}

func TestDevCertificateRefusesToReplaceACAWhoseKeyIsGone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, _, caFile, err := DevCertificate(dir, devHosts)
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "moreweb-dev-ca.key")); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = DevCertificate(dir, devHosts)
	if err == nil || !strings.Contains(err.Error(), "development CA cannot be reused") {
		t.Fatalf("error %v, want the CA refused", err)
	}
	after, err := os.ReadFile(caFile)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatal("the CA certificate was replaced")
	}
}

func TestDevCertificateMakesACAWhoseCertificateWasNeverWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A run cut short after writing the CA key: nothing can trust it.
	writeFile(t, filepath.Join(dir, "moreweb-dev-ca.key"), leafFor(t, "x").keyPEM)
	certFile, keyFile, caFile, err := DevCertificate(dir, devHosts)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := LoadPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(pair.Leaf, caPool(t, caFile), "localhost"); err != nil {
		t.Fatal(err)
	}
}

func TestDevCertificateNeedsAHost(t *testing.T) {
	t.Parallel()
	for _, hosts := range [][]string{nil, {"localhost", " "}} {
		if _, _, _, err := DevCertificate(t.TempDir(), hosts); err == nil {
			t.Errorf("DevCertificate(%q) made a certificate", hosts)
		}
	}
}
