// Package config turns moreweb's TOML file into a checked, immutable
// snapshot.
//
// A file goes through three stages: BurntSushi/toml parses the syntax into a
// generic tree; a strict decoder turns that tree into the typed structs below,
// rejecting unknown keys and wrong types and applying defaults; then checks
// that span the whole file run (listener references, host claims, defaults).
// Every problem found on the way is collected, so one run of `moreweb -t`
// reports all of them, each with its place in the file.
//
// A *Config is never changed after Load, Parse or ZeroConfig return it;
// callers share it between goroutines and must not modify it either.
package config

import (
	"crypto/sha256"
	"errors"
	"html/template"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is one checked snapshot of the configuration.
type Config struct {
	// File is the absolute path of the config file, "" for ZeroConfig.
	File string
	// Server holds the process-wide settings of the [server] table.
	Server Server
	// Listeners are the [[listener]] tables, in file order.
	Listeners []Listener
	// Vhosts are the [[vhost]] tables, in file order.
	Vhosts []Vhost
	// ACME is the [acme] table, defaults filled in; it matters only when
	// a site has tls.acme = true.
	ACME ACME
	// Warnings are problems that do not stop the config from serving: a
	// certificate that does not cover one of its site's hosts, or that
	// expires soon. -t prints them and the server logs them at start.
	Warnings []Diagnostic
	// Hash is the SHA-256 of the normalized config plus the contents of
	// the templates and error pages it names, so a reload that changes
	// nothing can be skipped; comments and formatting do not affect it.
	Hash [32]byte
	// FileSum is the SHA-256 of the file's bytes as they were read, for
	// WatchOptions.Since; zero for ZeroConfig.
	FileSum [32]byte
}

// Server is the [server] table. Every field has its default filled in.
type Server struct {
	// LogLevel is the lowest level logged: debug, info, warn or error.
	LogLevel string
	// LogFormat is how error and lifecycle lines look: console or json.
	LogFormat string
	// AccessLog is where access-log entries go: "stdout", "stderr", "off",
	// or an absolute file path.
	AccessLog string
	// AccessLogFormat is json or combined (the Apache/nginx line).
	AccessLogFormat string
	// ReadHeaderTimeout bounds the time for the request line and headers
	// to arrive. Always positive.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request. Always positive.
	IdleTimeout time.Duration
	// WriteTimeout bounds the time to write one response. Always positive.
	WriteTimeout time.Duration
	// ShutdownTimeout bounds how long a graceful stop waits for requests
	// in flight. Always positive.
	ShutdownTimeout time.Duration
	// MaxHeaderBytes caps the request line plus headers. At least 1.
	MaxHeaderBytes int
	// MaxBodyBytes caps a request body; 0 refuses every body.
	MaxBodyBytes int64
	// MaxConnections caps the connections open at once. At least 1.
	MaxConnections int
	// MaxRequestsPerConnection caps the requests one keep-alive connection
	// may carry; the last is answered with Connection: close. At least 1.
	MaxRequestsPerConnection int
	// TrustedProxies are the networks whose PROXY header and X-Forwarded-*
	// fields are believed. Empty: none (nil). Each is masked (no host bits
	// past its length) and never IPv4-mapped IPv6, so a caller compares it
	// with a client address after Unmap. A bare address in the file is its
	// /32 or /128. A reload applies a change without a restart.
	TrustedProxies []netip.Prefix
	// ErrorPages maps a status (400-599) to the page served for errors
	// raised before a vhost is chosen. Nil when none.
	ErrorPages ErrorPages
}

// ErrorPages maps a status (400-599) to its page.
type ErrorPages map[int]ErrorPage

// ErrorPage is one error page file as the snapshot read it. Body is what
// the snapshot hashes and what it serves: the file is read once, at load,
// so an edit on disk afterwards is seen by the next snapshot and by no
// part of this one.
type ErrorPage struct {
	// Path is the page's absolute path.
	Path string
	// Body is the file's contents; shared, never to be modified.
	Body []byte
}

// Bodies is the pages' contents by status, as the error page layer takes
// them; nil when there are no pages.
func (p ErrorPages) Bodies() map[int][]byte {
	if p == nil {
		return nil
	}
	m := make(map[int][]byte, len(p))
	for status, page := range p {
		m[status] = page.Body
	}
	return m
}

// Listener is one [[listener]] table: a named TCP address to accept on.
type Listener struct {
	// Name is how vhosts refer to the listener; unique in the file.
	Name string
	// Address is host:port as given ("127.0.0.1:8080", "[::1]:8080",
	// ":8080"); port 0 picks a free port.
	Address string
	// TLS makes the listener speak HTTPS; every site on it has a TLS.
	TLS bool
	// HTTP2 asks for HTTP/2 beside HTTP/1.1: by ALPN on a TLS listener
	// (default true), with prior knowledge on a plain one (default false).
	HTTP2 bool
}

// Vhost is one [[vhost]] table: a site.
type Vhost struct {
	// Hosts are the names the site answers to, normalized: lower case,
	// no trailing dot, internationalized names in their ASCII (punycode)
	// form. "*.example.org" is a wildcard for every name under
	// example.org. Empty only when Default is true.
	Hosts []string
	// Listeners names the listeners the site is served on; every listener
	// in the file when the key is absent.
	Listeners []string
	// Default makes the site serve requests whose Host matches no site on
	// one of its listeners. At most one default per listener.
	Default bool
	// Root is the absolute path of the static root, "" when there is none.
	Root string
	// Index lists the file names tried, in order, for a directory.
	Index []string
	// Listing turns on an HTML listing for directories with no index file.
	Listing bool
	// FollowSymlinks lets symlinks under Root point outside it.
	FollowSymlinks bool
	// ServeDotfiles serves path segments starting with "."; .well-known is
	// served either way.
	ServeDotfiles bool
	// Paths maps exact URL paths to files, sorted by URLPath.
	Paths []PathEntry
	// ErrorPages maps a status (400-599) to the page served, with that
	// status, for errors this site produces. Nil when none.
	ErrorPages ErrorPages
	// Headers are added to every response of the site, sorted by name
	// (TOML tables have no order).
	Headers []HeaderField
	// Redirects are the [[vhost.redirect]] tables, in file order.
	Redirects []Redirect
	// Proxies are the [[vhost.proxy]] tables in file order; at request
	// time the longest matching path wins. No two have the same Path. A
	// Path may equal a Paths key or a redirect's From: in a site,
	// redirects come first, then the path map, then proxies, then the
	// static root, so the earlier one simply wins. Nil when none.
	Proxies []Proxy
	// TLS is the [vhost.tls] table: where the site's certificate comes
	// from. Nil when the site has none (it is then on plain listeners
	// only).
	TLS *VhostTLS
	// HTTPSRedirect answers every request on a plain listener with a 308
	// to the same URL over HTTPS (ACME challenges excepted).
	HTTPSRedirect bool
	// HSTS is the Strict-Transport-Security value sent on HTTPS
	// responses; "" sends none.
	HSTS string
	// Compress are the content codings ("zstd", "br", "gzip") responses
	// are compressed with on the fly, in the site's order of preference;
	// empty turns it off.
	Compress []string
}

// VhostTLS is one site's certificate: files (Cert and Key, absolute
// paths) or ACME.
type VhostTLS struct {
	Cert, Key string
	ACME      bool
}

// ACME is the [acme] table: the certificate authority automatic
// certificates are ordered from, and where they are kept.
type ACME struct {
	// Email is the account's contact address, "" for none.
	Email string
	// CA is the directory URL of the ACME server.
	CA string
	// CARoot is the absolute path of a PEM file with roots to trust for
	// the CA's own HTTPS, "" for the system's.
	CARoot string
	// Storage is the absolute path of the directory holding the account
	// and the certificates.
	Storage string
	// Challenges are the challenge types offered: "http-01",
	// "tls-alpn-01".
	Challenges []string
}

// PathEntry maps one exact URL path to a file.
type PathEntry struct {
	// URLPath is the exact path matched; it starts with "/".
	URLPath string
	// File is the absolute path of the file served.
	File string
	// Template is the parsed html/template when the entry has
	// template = true, else nil. It is parsed once per snapshot and safe
	// to execute from many goroutines.
	Template *template.Template
}

// HeaderField is one response header added by a vhost.
type HeaderField struct {
	// Name is an RFC 9110 token, as written in the file.
	Name string
	// Value has no control characters other than tab, and no leading or
	// trailing blanks.
	Value string
}

// Redirect sends requests for From to To.
type Redirect struct {
	// From is an exact path, or a prefix ending in "/*" whose rest is
	// appended to To. It starts with "/".
	From string
	// To is the redirect target; never empty, no control characters.
	To string
	// Status is 301, 302, 303, 307 or 308 (default 301).
	Status int
}

// Proxy is one [[vhost.proxy]] table. Every field has its default filled
// in.
type Proxy struct {
	// Path is an exact path, or a prefix ending in "/*" ("/*" matches
	// everything). Starts with "/"; "*" appears only as the final "/*".
	// It is clean (no empty, "." or ".." segment, no "?" or "#"), as the
	// decoded, cleaned request paths it is matched against are.
	Path string
	// To are the backends, at least one, in file order, no two alike.
	To []Upstream
	// StripPrefix removes the prefix (Path without its "*", keeping one
	// leading "/") from the target sent to the backend: "/api/*" sends
	// "/api/users" as "/users". For an exact Path the target becomes "/".
	StripPrefix bool
	// Balance is "round_robin" (default), "least_conn" or "first".
	Balance string
	// HealthPath, when not "", is requested with GET every HealthInterval;
	// a backend is up while it answers 2xx. It starts with "/" and has no
	// spaces or control characters; it may carry a query.
	HealthPath string
	// HealthInterval is how often HealthPath is requested; default 10s,
	// unused when HealthPath is "". Always positive.
	HealthInterval time.Duration
	// ConnectTimeout bounds dialing a backend; default 5s. Always
	// positive.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the time from the request sent to the
	// response head received; default 60s. Always positive.
	ResponseHeaderTimeout time.Duration
}

// Upstream is one backend address.
type Upstream struct {
	// Network is "tcp" or "unix".
	Network string
	// Address is host:port for tcp, ready for net.Dial: the host lower
	// case (an IP address in its canonical form, IPv6 in brackets), the
	// port a number from 1 to 65535 without leading zeros. For unix it is
	// the socket's absolute path, cleaned; the socket need not exist at
	// load.
	Address string
	// Name is the address as written in the file
	// ("http://127.0.0.1:3000", "unix:/run/app.sock"), for logs and
	// metrics.
	Name string
}

// Load reads and checks the file at path. On failure the error is an
// ErrorList.
func Load(path string) (*Config, error) {
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readConfig reads the file at path; a failure is an ErrorList.
func readConfig(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The path is already the start of the message; keep only why.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, ErrorList{{File: path, Msg: err.Error()}}
	}
	return data, nil
}

// Parse checks data as if read from path: path names the file in messages,
// and relative paths in data are resolved against its directory. On failure
// the error is an ErrorList.
func Parse(path string, data []byte) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, ErrorList{{File: path, Msg: err.Error()}}
	}
	c := &checker{file: path, dir: filepath.Dir(abs), src: data}
	if path == "" {
		// Abs("") is the working directory itself, not a file in it.
		c.dir, abs = abs, ""
	}

	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			line, col := syntaxPosition(data, pe.Position.Start)
			return nil, ErrorList{{File: c.name(), Line: line, Col: col, Msg: pe.Message}}
		}
		return nil, ErrorList{{File: c.name(), Msg: err.Error()}}
	}

	cfg := c.decode(tree)
	if len(c.problems) > 0 {
		return nil, c.errorList()
	}
	cfg.File = abs
	cfg.Warnings = c.place(c.warnings)
	cfg.Hash = hashConfig(cfg, c.contents)
	cfg.FileSum = sha256.Sum256(data)
	return cfg, nil
}

// ZeroConfig is the config used when moreweb runs with no -c: serve root on
// listen with directory listing. Errors name the -root and -listen flags.
func ZeroConfig(root, listen string) (*Config, error) {
	var errs ErrorList
	if msg := checkAddress(listen); msg != "" {
		errs = append(errs, Diagnostic{Key: "-listen", Msg: msg})
	}
	abs, err := filepath.Abs(root)
	if err == nil {
		if msg := checkDir(abs); msg != "" {
			errs = append(errs, Diagnostic{Key: "-root", Msg: msg})
		}
	} else {
		errs = append(errs, Diagnostic{Key: "-root", Msg: err.Error()})
	}
	if len(errs) > 0 {
		return nil, errs
	}

	const name = "default"
	v := defaultVhost()
	v.Listeners = []string{name}
	v.Default = true
	v.Root = abs
	v.Listing = true
	cfg := &Config{
		Server:    defaultServer(),
		Listeners: []Listener{{Name: name, Address: listen}},
		Vhosts:    []Vhost{v},
	}
	cfg.Hash = hashConfig(cfg, nil)
	return cfg, nil
}

func defaultVhost() Vhost {
	return Vhost{Index: []string{"index.html"}, Compress: []string{"zstd", "br", "gzip"}}
}
