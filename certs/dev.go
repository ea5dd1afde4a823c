package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The files DevCertificate keeps in its directory.
const (
	devCAFile   = "moreweb-dev-ca.pem"
	devCAKey    = "moreweb-dev-ca.key"
	devLeafFile = "localhost.pem"
	devLeafKey  = "localhost.key"
)

const (
	devCALifetime = 10 * 365 * 24 * time.Hour
	// One year is well under the 825 days browsers accept from a locally
	// trusted CA, and under the 398 days they accept from a public one.
	devLeafLifetime = 365 * 24 * time.Hour
	// Back-dating covers a client whose clock is a little behind.
	devBackdate = time.Hour
)

// DevCertificate makes (or reuses) a local development CA in dir
// (moreweb-dev-ca.pem and moreweb-dev-ca.key, ECDSA P-256, 10 years, key file 0600)
// and writes a leaf certificate signed by it, localhost.pem (chain: leaf then CA) and
// localhost.key (0600), valid for hosts (DNS names and IP literals, such as
// "localhost", "*.localhost", "127.0.0.1", "::1"), ECDSA P-256, valid 1 year, with the
// serverAuth extended key usage. It returns the three paths.
//
// An existing CA is reused, so that a browser or curl --cacert that trusts it keeps
// working; the leaf is always made anew. A CA certificate that is there but cannot
// be used (its key missing or not matching, expired) is an error rather than
// replaced, since something may trust it. Files are written to a temporary name and
// renamed into place, so a server following localhost.pem never reads half a file.
func DevCertificate(dir string, hosts []string) (certFile, keyFile, caFile string, err error) {
	dnsNames, ips, err := splitHosts(hosts)
	if err != nil {
		return "", "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", fmt.Errorf("development CA: %w", err)
	}
	caFile = filepath.Join(dir, devCAFile)
	caKeyFile := filepath.Join(dir, devCAKey)
	ca, caKey, err := loadDevCA(caFile, caKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		ca, caKey, err = makeDevCA(caFile, caKeyFile)
	}
	if err != nil {
		return "", "", "", err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{Organization: []string{"moreweb development certificate"}},
		NotBefore:    now.Add(-devBackdate),
		NotAfter:     now.Add(devLeafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return "", "", "", fmt.Errorf("development certificate: %w", err)
	}
	certFile = filepath.Join(dir, devLeafFile)
	keyFile = filepath.Join(dir, devLeafKey)
	keyPEM, err := encodeKey(key)
	if err != nil {
		return "", "", "", err
	}
	chain := append(pemCert(der), pemCert(ca.Raw)...)
	// The key first: a server following the pair sees a mismatch for a
	// moment, which it retries, rather than a new key with an old leaf.
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return "", "", "", err
	}
	if err := writeFileAtomic(certFile, chain, 0o644); err != nil {
		return "", "", "", err
	}
	return certFile, keyFile, caFile, nil
}

func splitHosts(hosts []string) (dnsNames []string, ips []net.IP, err error) {
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			return nil, nil, errors.New("development certificate: empty host name")
		}
		if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
			ips = append(ips, ip)
			continue
		}
		dnsNames = append(dnsNames, h)
	}
	if len(dnsNames)+len(ips) == 0 {
		return nil, nil, errors.New("development certificate: no hosts to make it for")
	}
	return dnsNames, ips, nil
}

// loadDevCA returns the CA in dir; an error wrapping fs.ErrNotExist means
// there is no CA certificate yet and one may be made.
func loadDevCA(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	if _, err := os.Stat(certFile); err != nil {
		return nil, nil, err
	}
	// A key without its certificate is a CA whose making was cut short:
	// nothing can trust it, so it is made again.
	pair, err := LoadPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("development CA cannot be reused (remove %s and %s to make a new one; clients must then trust the new CA): %w", certFile, keyFile, unwrapNotExist(err))
	}
	ca := pair.Leaf
	switch {
	case !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0:
		err = fmt.Errorf("%s is not a CA certificate", certFile)
	case time.Now().Add(devLeafLifetime).After(ca.NotAfter):
		err = fmt.Errorf("%s expires on %s, before a new leaf would", certFile, ca.NotAfter.Format(time.DateOnly))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("development CA cannot be reused (remove %s and %s to make a new one; clients must then trust the new CA): %w", certFile, keyFile, err)
	}
	return ca, pair.PrivateKey.(crypto.Signer), nil
}

// unwrapNotExist keeps a missing CA key from reading as a missing CA.
func unwrapNotExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New(err.Error())
	}
	return err
}

func makeDevCA(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	name := "moreweb development CA"
	if h, err := os.Hostname(); err == nil && h != "" {
		name += " (" + h + ")" // tells CAs of several machines apart in a trust store
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{Organization: []string{"moreweb development"}, CommonName: name},
		NotBefore:             now.Add(-devBackdate),
		NotAfter:              now.Add(devCALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// It signs leaves only; an intermediate under it would not verify.
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("development CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("development CA: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	// The certificate last: its presence is what marks a complete CA.
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(certFile, pemCert(der), 0o644); err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}

func randomSerial() *big.Int {
	// 128 random bits, as the CA/Browser Forum asks for at least 64.
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return n
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// writeFileAtomic writes data to name through a temporary file in the same
// directory, so that readers see the old file or the new one, and a key is
// never readable by others even for a moment.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	// CreateTemp makes the file 0600; the umask does not apply to Chmod.
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
