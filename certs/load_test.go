package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadPairReturnsTheChainLeafFirstWithLeafSet(t *testing.T) {
	dir := t.TempDir()
	ca := testCA(t)
	leaf := makeCert(t, &x509.Certificate{DNSNames: []string{"example.com"}}, &ca)
	certFile, keyFile := filepath.Join(dir, "site.pem"), filepath.Join(dir, "site.key")
	writeFile(t, certFile, concat(leaf.certPEM, ca.certPEM))
	writeFile(t, keyFile, leaf.keyPEM)

	c, err := LoadPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf == nil || !c.Leaf.Equal(leaf.leaf) {
		t.Fatalf("Leaf = %v, want the first certificate", c.Leaf)
	}
	if len(c.Certificate) != 2 || !bytes.Equal(c.Certificate[0], leaf.leaf.Raw) || !bytes.Equal(c.Certificate[1], ca.leaf.Raw) {
		t.Fatalf("chain has %d certificates, want leaf then CA", len(c.Certificate))
	}
	if !publicKeyMatches(c.Leaf.PublicKey, c.PrivateKey.(crypto.Signer)) {
		t.Fatal("PrivateKey is not the leaf's")
	}
}

func TestLoadPairAcceptsRSAPKCS1AndECSEC1AndEd25519PKCS8Keys(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey := leafFor(t, "ec.example").key.(*ecdsa.PrivateKey)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	if err != nil {
		t.Fatal(err)
	}
	// openssl ecparam -genkey writes the curve before the key.
	ecParams := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}})
	for _, tc := range []struct {
		name   string
		key    crypto.Signer
		keyPEM []byte
	}{
		{"RSA PKCS1", rsaKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})},
		{"EC SEC1 after EC PARAMETERS", ecKey, concat(ecParams, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}))},
		{"Ed25519 PKCS8", edKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := makeCertWithKey(t, &x509.Certificate{DNSNames: []string{"example.com"}}, nil, tc.key)
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "site.pem"), filepath.Join(dir, "site.key")
			writeFile(t, certFile, c.certPEM)
			writeFile(t, keyFile, tc.keyPEM)
			got, err := LoadPair(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Leaf.Equal(c.leaf) {
				t.Fatal("wrong leaf")
			}
		})
	}
}

func TestLoadPairAcceptsACombinedFileAsBothCertificateAndKey(t *testing.T) {
	c := leafFor(t, "example.com")
	combined := filepath.Join(t.TempDir(), "combined.pem")
	// openssl x509 -text puts a description before the PEM.
	writeFile(t, combined, concat([]byte("Certificate:\n    Data: ...\n"), c.certPEM, c.keyPEM))
	got, err := LoadPair(combined, combined)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Certificate) != 1 || !got.Leaf.Equal(c.leaf) {
		t.Fatal("wrong chain")
	}
}

// TestLoadPairErrorsNameTheFileAndTheProblem covers every way a pair can
// fail to load.
func TestLoadPairErrorsNameTheFileAndTheProblem(t *testing.T) {
	good := leafFor(t, "example.com")
	other := leafFor(t, "example.com")
	ca := testCA(t)
	signed := makeCert(t, &x509.Certificate{DNSNames: []string{"example.com"}}, &ca)
	garbageCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	garbageKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not DER")})
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00000000000000000000000000000000"},
		Bytes:   []byte("ciphertext")})
	pkcs8Encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("ciphertext")})
	publicKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("whatever")})

	const cert, key = "{cert}", "{key}" // replaced by the paths
	for _, tc := range []struct {
		name       string
		cert, key  []byte // nil: the file does not exist
		want       string
		notExist   bool
		certIsADir bool
	}{
		{name: "certificate missing", key: good.keyPEM, want: cert + ": cannot read the file: no such file or directory", notExist: true},
		{name: "key missing", cert: good.certPEM, want: key + ": cannot read the file: no such file or directory", notExist: true},
		{name: "certificate is a directory", key: good.keyPEM, certIsADir: true, want: cert + ": cannot read the file: is a directory"},
		{name: "certificate empty", cert: []byte(" \n"), key: good.keyPEM, want: cert + ": the file is empty"},
		{name: "key empty", cert: good.certPEM, key: []byte{}, want: key + ": the file is empty"},
		{name: "certificate not PEM", cert: []byte("hello\n"), key: good.keyPEM, want: cert + ": no PEM certificate in the file"},
		{name: "certificate file holds only a public key", cert: publicKey, key: good.keyPEM, want: cert + ": no PEM certificate in the file"},
		{name: "certificate does not parse", cert: garbageCert, key: good.keyPEM, want: cert + ": certificate 1 in the file does not parse: "},
		{name: "second certificate does not parse", cert: concat(good.certPEM, garbageCert), key: good.keyPEM, want: cert + ": certificate 2 in the file does not parse: "},
		{name: "key first in chain file", cert: concat(good.keyPEM, good.certPEM), key: good.keyPEM, want: cert + ": the file starts with a private key, not the certificate (are the certificate and key files swapped?)"},
		{name: "files swapped", cert: good.keyPEM, key: good.certPEM, want: cert + ": the file starts with a private key"},
		{name: "key not PEM", cert: good.certPEM, key: []byte("hello\n"), want: key + ": not a PEM private key"},
		{name: "key file holds a certificate", cert: good.certPEM, key: good.certPEM, want: key + ": not a PEM private key: the file holds a certificate (are the certificate and key files swapped?)"},
		{name: "key does not parse", cert: good.certPEM, key: garbageKey, want: key + ": the PRIVATE KEY does not parse: not a PKCS #1, SEC 1 or PKCS #8 private key"},
		{name: "key encrypted (legacy)", cert: good.certPEM, key: legacyEncrypted, want: key + ": the private key is encrypted"},
		{name: "key encrypted (PKCS8)", cert: good.certPEM, key: pkcs8Encrypted, want: key + ": the private key is encrypted"},
		{name: "not a pair", cert: good.certPEM, key: other.keyPEM, want: cert + " and " + key + " are not a pair: the key does not match the certificate"},
		{name: "leaf not first", cert: concat(ca.certPEM, signed.certPEM), key: signed.keyPEM, want: cert + " and " + key + " are not a pair: the key matches certificate 2 in the file, not the first; the leaf certificate must come first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "site.pem"), filepath.Join(dir, "site.key")
			if tc.cert != nil {
				writeFile(t, certFile, tc.cert)
			}
			if tc.certIsADir {
				if err := os.Mkdir(certFile, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if tc.key != nil {
				writeFile(t, keyFile, tc.key)
			}
			c, err := LoadPair(certFile, keyFile)
			if err == nil {
				t.Fatalf("loaded %v", c.Leaf.Subject)
			}
			want := strings.NewReplacer(cert, certFile, key, keyFile).Replace(tc.want)
			if !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error\n  %v\nwant it to start with\n  %s", err, want)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tc.notExist {
				t.Fatalf("errors.Is(err, fs.ErrNotExist) = %v", got)
			}
		})
	}
}

func TestLoadPairReportsAnUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	good := leafFor(t, "example.com")
	certFile, keyFile := writePair(t, t.TempDir(), good)
	if err := os.Chmod(keyFile, 0); err != nil {
		t.Fatal(err)
	}
	_, err := LoadPair(certFile, keyFile)
	want := keyFile + ": cannot read the file: permission denied"
	if err == nil || err.Error() != want || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("error %v, want %s", err, want)
	}
}

// TestLoadPairNeverPanicsOnGarbage feeds operator mistakes and corrupted
// files as the certificate, the key and both.
func TestLoadPairNeverPanicsOnGarbage(t *testing.T) {
	good := leafFor(t, "example.com")
	block, _ := pem.Decode(good.certPEM)
	half := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes[:len(block.Bytes)/2]})
	random := make([]byte, 4096)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	garbage := map[string][]byte{
		"random bytes":          random,
		"NUL bytes":             make([]byte, 1000),
		"begin without end":     []byte("-----BEGIN CERTIFICATE-----\nMIIB\n"),
		"bad base64":            []byte("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
		"random DER":            pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: random}),
		"truncated DER":         half,
		"truncated PEM":         good.certPEM[:len(good.certPEM)/2],
		"random RSA key":        pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: random}),
		"random EC key":         pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: random}),
		"random PKCS8 key":      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: random}),
		"empty blocks":          []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"),
		"headers only":          []byte("-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\n-----END PRIVATE KEY-----\n"),
		"long line":             bytes.Repeat([]byte("A"), 1<<20),
		"certificate truncated": good.certPEM[:10],
	}
	for name, data := range garbage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			bad := filepath.Join(dir, "bad")
			certFile, keyFile := writePair(t, dir, good)
			writeFile(t, bad, data)
			for _, files := range [][2]string{{bad, keyFile}, {certFile, bad}, {bad, bad}} {
				if _, err := LoadPair(files[0], files[1]); err == nil {
					t.Errorf("LoadPair(%s, %s) loaded garbage", filepath.Base(files[0]), filepath.Base(files[1]))
				}
			}
		})
	}
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
