package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/moreweb/moreweb/certs"
)

// devCertHosts are the names a development certificate covers by default:
// every *.localhost name resolves to loopback in browsers and curl, so one
// certificate serves every local site.
var devCertHosts = []string{"localhost", "*.localhost", "127.0.0.1", "::1"}

// devCert is `moreweb dev-cert`: a local CA, made once and kept, and a
// certificate it signs for local names, so that HTTPS can be tried on a
// fresh machine without a public name or a CA of the internet.
func devCert(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("moreweb dev-cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "certs", "the `directory` to write the CA and the certificate to")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: moreweb dev-cert [-dir DIR] [NAME ...]\n\n"+
			"Makes a development CA in DIR (kept and reused) and a certificate signed by it\n"+
			"for the NAMEs (default: localhost *.localhost 127.0.0.1 ::1).\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	hosts := fs.Args()
	if len(hosts) == 0 {
		hosts = devCertHosts
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(stderr, "moreweb dev-cert:", err)
		return 1
	}
	cert, key, ca, err := certs.DevCertificate(*dir, hosts)
	if err != nil {
		fmt.Fprintln(stderr, "moreweb dev-cert:", err)
		return 1
	}
	fmt.Fprintf(stdout, "certificate %s\nkey         %s\nCA          %s\n\n"+
		"Clients that trust the CA see no warning:\n"+
		"  curl --cacert %s https://alpha.localhost:8443/\n"+
		"  browsers: import %s as a certificate authority in their certificate settings\n",
		cert, key, ca, ca, ca)
	return 0
}
