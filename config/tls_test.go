package config

import (
	"strings"
	"testing"
	"time"

	"github.com/moreweb/moreweb/internal/testkit"
)

// tlsFiles are certificate files for the TLS checks: a pair for a.test and
// www.a.test, a wildcard pair, a pair whose key is another's, and files
// that are not PEM.
func tlsFiles(t *testing.T) map[string]string {
	ca := testkit.TestCA(t)
	day := time.Now().Add(90 * 24 * time.Hour)
	a := ca.Issue(t, day, "a.test", "www.a.test")
	wild := ca.Issue(t, day, "*.b.test")
	other := ca.Issue(t, day, "c.test")
	soon := ca.Issue(t, time.Now().Add(3*24*time.Hour), "d.test")
	return map[string]string{
		"certs/a.pem":     string(a.Cert),
		"certs/a.key":     string(a.Key),
		"certs/wild.pem":  string(wild.Cert),
		"certs/wild.key":  string(wild.Key),
		"certs/other.key": string(other.Key),
		"certs/soon.pem":  string(soon.Cert),
		"certs/soon.key":  string(soon.Key),
		"certs/text.pem":  "not a certificate",
	}
}

const tlsListeners = `
[[listener]]
name = "plain"
address = "127.0.0.1:0"
[[listener]]
name = "tls"
address = "127.0.0.1:0"
tls = true
`

func TestTLSSiteNeedsCertAndKeyOrACME(t *testing.T) {
	files := tlsFiles(t)
	runErrCases(t, []errCase{{
		name:  "a site on a TLS listener without [vhost.tls]",
		files: files,
		src: tlsListeners + `
[[vhost]]
hosts = ["a.test"]
root = "site"
`,
		want: []want{{9, 1, "vhost[0]", `listener "tls" has tls = true, so this site needs a [vhost.tls] table`}},
	}, {
		name:  "cert without key, key without cert, both with acme, neither",
		files: files,
		src: tlsListeners + `
[[vhost]]
hosts = ["a.test"]
root = "site"
listeners = ["tls"]
[vhost.tls]
cert = "certs/a.pem"
[[vhost]]
hosts = ["www.a.test"]
root = "site"
listeners = ["tls"]
[vhost.tls]
key = "certs/a.key"
[[vhost]]
hosts = ["c.test"]
root = "site"
listeners = ["tls"]
[vhost.tls]
cert = "certs/a.pem"
key = "certs/a.key"
acme = true
[[vhost]]
hosts = ["d.test"]
root = "site"
listeners = ["tls"]
[vhost.tls]
`,
		want: []want{
			{13, 1, "vhost[0].tls.key", "missing; cert needs the key file"},
			{19, 1, "vhost[1].tls.cert", "missing; key needs the certificate file"},
			{28, 1, "vhost[2].tls.acme", "either cert and key, or acme = true, not both"},
			{33, 1, "vhost[3].tls", "needs cert and key (PEM files), or acme = true"},
		},
	}})
}

func TestTLSCertificateFilesMustLoadAsAPair(t *testing.T) {
	files := tlsFiles(t)
	site := func(cert, key string) string {
		return tlsListeners + `
[[vhost]]
hosts = ["a.test"]
root = "site"
listeners = ["tls"]
[vhost.tls]
cert = "` + cert + `"
key = "` + key + `"
`
	}
	runErrCases(t, []errCase{{
		name: "missing", files: files, src: site("certs/none.pem", "certs/a.key"),
		want: []want{{14, 8, "vhost[0].tls.cert", "none.pem"}},
	}, {
		name: "not PEM", files: files, src: site("certs/text.pem", "certs/a.key"),
		want: []want{{14, 8, "vhost[0].tls.cert", "text.pem"}},
	}, {
		name: "key not PEM", files: files, src: site("certs/a.pem", "certs/text.pem"),
		want: []want{{15, 7, "vhost[0].tls.key", "text.pem"}},
	}, {
		name: "not a pair", files: files, src: site("certs/a.pem", "certs/other.key"),
		want: []want{{14, 8, "vhost[0].tls.cert", "not a pair"}},
	}})
}

func TestTLSCertificateNotCoveringAHostOrExpiringSoonIsAWarning(t *testing.T) {
	dir := newSite(t)
	testkit.WriteTree(t, dir, tlsFiles(t))
	path := writeConfig(t, dir, tlsListeners+`
[[vhost]]
hosts = ["a.test", "www.a.test", "x.a.test", "*.a.test"]
root = "site"
listeners = ["tls"]
[vhost.tls]
cert = "certs/a.pem"
key = "certs/a.key"
[[vhost]]
hosts = ["*.b.test", "z.b.test"]
root = "site"
listeners = ["tls"]
[vhost.tls]
cert = "certs/wild.pem"
key = "certs/wild.key"
[[vhost]]
hosts = ["d.test"]
root = "site"
listeners = ["tls"]
[vhost.tls]
cert = "certs/soon.pem"
key = "certs/soon.key"
`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, w.String())
	}
	if len(got) != 3 ||
		!strings.Contains(got[0], `site.toml:10:34: vhost[0].hosts[2]: the certificate in `) || !strings.Contains(got[0], `does not cover "x.a.test"`) ||
		!strings.Contains(got[1], `site.toml:10:46: vhost[0].hosts[3]:`) || !strings.Contains(got[1], `does not cover "*.a.test"`) ||
		!strings.Contains(got[2], `site.toml:28:8: vhost[2].tls.cert: the certificate in `) || !strings.Contains(got[2], "expires") {
		t.Fatalf("warnings:\n%s", strings.Join(got, "\n"))
	}
}

func TestACMEIsRefusedForNamesNoPublicCAIssues(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "wildcard, localhost, IP, single label, default without hosts",
		src: tlsListeners + `
[[vhost]]
hosts = ["*.a.test", "localhost", "app.localhost", "192.0.2.1", "intranet", "ok.example.com"]
root = "site"
listeners = ["tls"]
[vhost.tls]
acme = true
[[vhost]]
default = true
root = "site"
listeners = ["tls"]
[vhost.tls]
acme = true
`,
		want: []want{
			{10, 10, "vhost[0].hosts[0]", "wildcard needs the DNS-01 challenge"},
			{10, 22, "vhost[0].hosts[1]", "no public CA issues for localhost"},
			{10, 35, "vhost[0].hosts[2]", "no public CA issues for localhost"},
			{10, 52, "vhost[0].hosts[3]", "an IP address"},
			{10, 65, "vhost[0].hosts[4]", "single-label"},
			{20, 8, "vhost[1].tls.acme", "needs the site's hosts"},
		},
	}})
}

func TestACMETableValuesAreChecked(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "email, ca, ca_root, storage, challenges",
		files: map[string]string{
			"notes.txt": "no certificate here",
		},
		src: `
[acme]
email = "not an address"
ca = "http://ca.example/directory"
ca_root = "notes.txt"
storage = "file.txt"
challenges = ["dns-01", "http-02"]
` + tlsListeners + `
[[vhost]]
hosts = ["a.example.com"]
root = "site"
listeners = ["tls"]
[vhost.tls]
acme = true
`,
		want: []want{
			{2, 9, "acme.email", "is not an email address"},
			{3, 6, "acme.ca", "is not an https:// URL"},
			{4, 11, "acme.ca_root", "no PEM certificate"},
			{5, 11, "acme.storage", "is not a directory"},
			{6, 15, "acme.challenges[0]", "dns-01 is not offered"},
			{6, 25, "acme.challenges[1]", `"http-02" is not one of http-01 or tls-alpn-01`},
		},
	}})
}

func TestACMEDefaultsAreLetsEncryptAndBothChallenges(t *testing.T) {
	cfg, dir := mustLoad(t, `
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
hosts = ["a.example.com"]
root = "site"
`)
	a := cfg.ACME
	if a.CA != DefaultACMECA || a.Storage != dir+"/acme" || strings.Join(a.Challenges, ",") != "http-01,tls-alpn-01" || a.Email != "" {
		t.Fatalf("ACME defaults: %+v", a)
	}
}

func TestHTTPSRedirectNeedsATLSListenerAndHSTSNeedsMaxAge(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "redirect on a plain-only site; hsts without max-age, with a bad one",
		src: tlsListeners + `
[[vhost]]
hosts = ["a.test"]
root = "site"
listeners = ["plain"]
https_redirect = true
hsts = "includeSubDomains"
[[vhost]]
hosts = ["b.test"]
root = "site"
listeners = ["plain"]
hsts = "max-age=two years"
`,
		want: []want{
			{13, 18, "vhost[0].https_redirect", "needs the site on a listener with tls = true"},
			{14, 8, "vhost[0].hsts", "needs max-age"},
			{19, 8, "vhost[1].hsts", "max-age must be a number of seconds"},
		},
	}})
}
