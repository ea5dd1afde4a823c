// Package certs keeps TLS certificates and keys that live in files: it
// loads and checks a pair, follows its files as they are renewed, tells
// whether a certificate covers a host or is about to expire, and makes a
// local development CA.
package certs

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// LoadPair reads a PEM certificate chain (leaf first) and its PEM private key and
// checks them: both files readable, PEM, the key matches the leaf. The returned
// certificate has Leaf set. Errors name the file and the problem, e.g.
// "certs/site.pem: no PEM certificate in the file".
//
// Blocks other than certificates that come after the first certificate in
// the chain file are ignored, so that a combined file (chain then key) may
// be given as both certFile and keyFile.
func LoadPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := readFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readFile(keyFile)
	if err != nil {
		return nil, err
	}
	return parsePair(certFile, keyFile, certPEM, keyPEM)
}

func readFile(name string) ([]byte, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		// The *PathError would repeat the name after the operation; the
		// cause alone reads better after "name: ", and errors.Is still works.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: cannot read the file: %w", name, err)
	}
	return data, nil
}

func parsePair(certFile, keyFile string, certPEM, keyPEM []byte) (*tls.Certificate, error) {
	chain, err := parseChain(certFile, certPEM)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyFile, keyPEM)
	if err != nil {
		return nil, err
	}
	leaf := chain[0]
	if !publicKeyMatches(leaf.PublicKey, key) {
		// A chain written root first, or in any order, matches a later
		// certificate; saying which one points at the fix.
		for i, c := range chain[1:] {
			if publicKeyMatches(c.PublicKey, key) {
				return nil, fmt.Errorf("%s and %s are not a pair: the key matches certificate %d in the file, not the first; the leaf certificate must come first", certFile, keyFile, i+2)
			}
		}
		return nil, fmt.Errorf("%s and %s are not a pair: the key does not match the certificate", certFile, keyFile)
	}
	der := make([][]byte, len(chain))
	for i, c := range chain {
		der[i] = c.Raw
	}
	return &tls.Certificate{Certificate: der, PrivateKey: key, Leaf: leaf}, nil
}

// parseChain returns the certificates of a chain file in their order.
func parseChain(name string, data []byte) ([]*x509.Certificate, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: the file is empty", name)
	}
	var chain []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			if len(chain) == 0 && isKeyType(b.Type) {
				return nil, fmt.Errorf("%s: the file starts with a private key, not the certificate (are the certificate and key files swapped?)", name)
			}
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d in the file does not parse: %w", name, len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate in the file", name)
	}
	return chain, nil
}

func isKeyType(t string) bool { return strings.HasSuffix(t, "PRIVATE KEY") }

// parseKey returns the first private key of a key file, in any of the
// encodings OpenSSL and certbot write.
func parseKey(name string, data []byte) (crypto.Signer, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: the file is empty", name)
	}
	sawCert := false
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			sawCert = true
			continue
		case b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] == "4,ENCRYPTED":
			return nil, fmt.Errorf("%s: the private key is encrypted; the server needs it unencrypted (openssl pkey -in %s -out plain.key)", name, name)
		case !isKeyType(b.Type):
			continue // "EC PARAMETERS" and the like, written by openssl ecparam
		}
		key, err := parseKeyDER(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: the %s does not parse: %w", name, b.Type, err)
		}
		return key, nil
	}
	if sawCert {
		return nil, fmt.Errorf("%s: not a PEM private key: the file holds a certificate (are the certificate and key files swapped?)", name)
	}
	return nil, fmt.Errorf("%s: not a PEM private key", name)
}

func parseKeyDER(der []byte) (crypto.Signer, error) {
	// The PEM type is often wrong (a PKCS #8 key labelled "RSA PRIVATE
	// KEY"), so every encoding is tried, as crypto/tls does.
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("not a PKCS #1, SEC 1 or PKCS #8 private key")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign TLS handshakes", k)
	}
	return s, nil
}

func publicKeyMatches(pub crypto.PublicKey, key crypto.Signer) bool {
	p, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && p.Equal(key.Public())
}
