package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// proxySite is a listener and a site with one host, for proxy tables to
// follow: line 6 is the first line after it.
const proxySite = `
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
hosts = ["example.com"]
`

// proxyExample is the block proposed for the README's annotated config
// (/work/proxy-config-README.txt), every key at its default.
const proxyExample = `
[server]
trusted_proxies = []

[[listener]]
name = "web"
address = "127.0.0.1:8080"

[[vhost]]
hosts = ["example.com"]

[[vhost.proxy]]
path = "/api/*"
to = ["http://127.0.0.1:3000", "unix:/run/app.sock"]
strip_prefix = false
balance = "round_robin"
health_path = ""
health_interval = "10s"
connect_timeout = "5s"
response_header_timeout = "60s"
`

func TestProxyExampleLoadsAsDocumented(t *testing.T) {
	cfg, _ := mustLoad(t, proxyExample)
	if cfg.Server.TrustedProxies != nil {
		t.Errorf("TrustedProxies = %v, want nil for []", cfg.Server.TrustedProxies)
	}
	want := []Proxy{{
		Path: "/api/*",
		To: []Upstream{
			{Network: "tcp", Address: "127.0.0.1:3000", Name: "http://127.0.0.1:3000"},
			{Network: "unix", Address: "/run/app.sock", Name: "unix:/run/app.sock"},
		},
		Balance:               "round_robin",
		HealthInterval:        10 * time.Second,
		ConnectTimeout:        5 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}}
	if got := cfg.Vhosts[0].Proxies; !reflect.DeepEqual(got, want) {
		t.Errorf("proxies:\n got %+v\nwant %+v", got, want)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
}

// Only path and to are required; a site may serve through proxies alone.
func TestProxyOmittedKeysTakeTheirDefaults(t *testing.T) {
	cfg, _ := mustLoad(t, proxySite+`
[[vhost.proxy]]
path = "/*"
to = ["http://127.0.0.1:3000"]
[[vhost]]
hosts = ["static.example"]
root = "site"
`)
	want := Proxy{
		Path:                  "/*",
		To:                    []Upstream{{Network: "tcp", Address: "127.0.0.1:3000", Name: "http://127.0.0.1:3000"}},
		StripPrefix:           false,
		Balance:               "round_robin",
		HealthPath:            "",
		HealthInterval:        10 * time.Second,
		ConnectTimeout:        5 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	if got := cfg.Vhosts[0].Proxies; len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("proxy:\n got %+v\nwant %+v", got, want)
	}
	if got := cfg.Vhosts[1].Proxies; got != nil {
		t.Errorf("a site without [[vhost.proxy]]: Proxies = %+v, want nil", got)
	}
	if got := cfg.Server.TrustedProxies; got != nil {
		t.Errorf("TrustedProxies = %v, want nil when the key is absent", got)
	}
}

func TestProxyAcceptsEveryBackendFormAndEveryKey(t *testing.T) {
	cfg, _ := mustLoad(t, proxySite+`
[[vhost.proxy]]
path = "/api/*"
to = [
  "http://127.0.0.1:3000",
  "HTTP://App.Internal:08080",
  "http://[::1]:3000",
  "http://[2001:DB8::1]:80",
  "http://app_web_1:3000",
  "http://localhost.:65535",
  "unix:/run/app.sock",
  "unix:/run/../run/other.sock",
]
[[vhost.proxy]]
path = "/exact"
to = ["http://backend:1"]
strip_prefix = true
balance = "least_conn"
health_path = "/healthz?full=1"
health_interval = "2s"
connect_timeout = "750ms"
response_header_timeout = "2m"
[[vhost.proxy]]
path = "/"
to = ["http://backend:2"]
balance = "first"
[[vhost.proxy]]
path = "/api"
to = ["http://backend:3"]
[[vhost.proxy]]
path = "/api/"
to = ["http://backend:4"]
[[vhost.proxy]]
path = "/*"
to = ["http://backend:5"]
[[vhost]]
hosts = ["inline.example"]
proxy = [{ path = "/v1/*", to = ["unix:/tmp/v1.sock"], strip_prefix = true }]
`)
	ps := cfg.Vhosts[0].Proxies
	wantTo := []Upstream{
		{"tcp", "127.0.0.1:3000", "http://127.0.0.1:3000"},
		{"tcp", "app.internal:8080", "HTTP://App.Internal:08080"},
		{"tcp", "[::1]:3000", "http://[::1]:3000"},
		{"tcp", "[2001:db8::1]:80", "http://[2001:DB8::1]:80"},
		{"tcp", "app_web_1:3000", "http://app_web_1:3000"},
		{"tcp", "localhost.:65535", "http://localhost.:65535"},
		{"unix", "/run/app.sock", "unix:/run/app.sock"},
		{"unix", "/run/other.sock", "unix:/run/../run/other.sock"},
	}
	if len(ps) != 6 {
		t.Fatalf("got %d proxies, want 6", len(ps))
	}
	if !reflect.DeepEqual(ps[0].To, wantTo) {
		t.Errorf("to:\n got %+v\nwant %+v", ps[0].To, wantTo)
	}
	wantSet := Proxy{
		Path:                  "/exact",
		To:                    []Upstream{{"tcp", "backend:1", "http://backend:1"}},
		StripPrefix:           true,
		Balance:               "least_conn",
		HealthPath:            "/healthz?full=1",
		HealthInterval:        2 * time.Second,
		ConnectTimeout:        750 * time.Millisecond,
		ResponseHeaderTimeout: 2 * time.Minute,
	}
	if !reflect.DeepEqual(ps[1], wantSet) {
		t.Errorf("every key set:\n got %+v\nwant %+v", ps[1], wantSet)
	}
	var paths []string
	for _, p := range ps {
		paths = append(paths, p.Path)
	}
	if fmt.Sprint(paths) != "[/api/* /exact / /api /api/ /*]" {
		t.Errorf("paths in file order: %q", paths)
	}
	if ps[2].Balance != "first" {
		t.Errorf("balance = %q, want first", ps[2].Balance)
	}
	inline := cfg.Vhosts[1].Proxies
	if len(inline) != 1 || inline[0].Path != "/v1/*" || !inline[0].StripPrefix ||
		!reflect.DeepEqual(inline[0].To, []Upstream{{"unix", "/tmp/v1.sock", "unix:/tmp/v1.sock"}}) {
		t.Errorf("inline proxy table: %+v", inline)
	}
}

// In a site, redirects come first, then the path map, then proxies, then
// the static root: a proxy path that a redirect or a mapped path also
// names is allowed, and the earlier one simply wins at request time.
func TestProxyPathMayEqualAMappedPathOrARedirect(t *testing.T) {
	cfg, _ := mustLoad(t, proxySite+`
root = "site"
[vhost.paths]
"/about" = "pages/about.html"
[[vhost.redirect]]
from = "/old/*"
to = "/new/"
[[vhost.proxy]]
path = "/about"
to = ["http://127.0.0.1:3000"]
[[vhost.proxy]]
path = "/old/*"
to = ["http://127.0.0.1:3000"]
`)
	v := cfg.Vhosts[0]
	if len(v.Proxies) != 2 || len(v.Paths) != 1 || len(v.Redirects) != 1 || len(cfg.Warnings) != 0 {
		t.Errorf("proxies %+v, paths %+v, redirects %+v, warnings %v", v.Proxies, v.Paths, v.Redirects, cfg.Warnings)
	}
}

func TestProxyBackendMustBeHTTPHostPortOrAnAbsoluteUnixSocket(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "every malformed backend, and duplicates",
		src: proxySite + `[[vhost.proxy]]
path = "/api/*"
to = [
  "https://127.0.0.1:3000",
  "127.0.0.1:3000",
  "/run/app.sock",
  "unix:run/app.sock",
  "unix:",
  "unix://run/app.sock",
  "ftp://example.com:21",
  "http://127.0.0.1",
  "http://127.0.0.1:",
  "http://127.0.0.1:0",
  "http://127.0.0.1:65536",
  "http://127.0.0.1:http",
  "http://127.0.0.1:3000/",
  "http://127.0.0.1:3000/app",
  "http://127.0.0.1:3000?x=1",
  "http://127.0.0.1:3000#top",
  "http://user:pw@127.0.0.1:3000",
  "http://::1:3000",
  "http://[127.0.0.1]:3000",
  "http://[::1]",
  "http://:3000",
  "http://",
  "http://bad host:3000",
  "http://300.1.1.1:80",
  "http://-x.example:80",
  "http://[fe80::1%25eth0]:80",
  "http://a:1\u0000",
  "http://127.0.0.1:3000",
  "http://127.0.0.1:03000",
  "unix:/run/a.sock",
  "unix:/run/./a.sock",
  "http://LocalHost:80",
  "http://localhost:80",
]
`,
		want: []want{
			{9, 3, "vhost[0].proxy[0].to[0]", `"https://127.0.0.1:3000": TLS to backends is not offered; use http://`},
			{10, 3, "vhost[0].proxy[0].to[1]", `"127.0.0.1:3000" has no scheme: write "http://127.0.0.1:3000"`},
			{11, 3, "vhost[0].proxy[0].to[2]", `"/run/app.sock" is not a backend address: write "unix:/run/app.sock" for a socket`},
			{12, 3, "vhost[0].proxy[0].to[3]", `"unix:run/app.sock": the socket path must be absolute, as in "unix:/run/app.sock"`},
			{13, 3, "vhost[0].proxy[0].to[4]", `"unix:" needs the socket's absolute path`},
			{14, 3, "vhost[0].proxy[0].to[5]", `"unix://run/app.sock": write the socket's absolute path right after "unix:", with one leading slash`},
			{15, 3, "vhost[0].proxy[0].to[6]", `"ftp://example.com:21": the scheme must be http://, or the address unix:/absolute/path`},
			{16, 3, "vhost[0].proxy[0].to[7]", `"http://127.0.0.1" needs a port, as in "http://127.0.0.1:3000"`},
			{17, 3, "vhost[0].proxy[0].to[8]", `"http://127.0.0.1:" needs a port, as in "http://127.0.0.1:3000"`},
			{18, 3, "vhost[0].proxy[0].to[9]", `"http://127.0.0.1:0": the port must be a number from 1 to 65535`},
			{19, 3, "vhost[0].proxy[0].to[10]", `"http://127.0.0.1:65536": the port must be a number from 1 to 65535`},
			{20, 3, "vhost[0].proxy[0].to[11]", `"http://127.0.0.1:http": the port must be a number from 1 to 65535`},
			{21, 3, "vhost[0].proxy[0].to[12]", `"http://127.0.0.1:3000/" has a path; a backend is only http://host:port`},
			{22, 3, "vhost[0].proxy[0].to[13]", `"http://127.0.0.1:3000/app" has a path; a backend is only http://host:port (requests keep their path; strip_prefix removes the proxy's prefix)`},
			{23, 3, "vhost[0].proxy[0].to[14]", `"http://127.0.0.1:3000?x=1" has a query`},
			{24, 3, "vhost[0].proxy[0].to[15]", `"http://127.0.0.1:3000#top" has a fragment`},
			{25, 3, "vhost[0].proxy[0].to[16]", `a backend address has no user name or password`},
			{26, 3, "vhost[0].proxy[0].to[17]", `"http://::1:3000" is not http://host:port (an IPv6 address goes in brackets, as in "http://[::1]:3000")`},
			{27, 3, "vhost[0].proxy[0].to[18]", `"http://[127.0.0.1]:3000": [127.0.0.1] is not an IPv6 address`},
			{28, 3, "vhost[0].proxy[0].to[19]", `"http://[::1]" needs a port, as in "http://[::1]:3000"`},
			{29, 3, "vhost[0].proxy[0].to[20]", `"http://:3000": needs a host before the port`},
			{30, 3, "vhost[0].proxy[0].to[21]", `"http://" needs a host and a port`},
			{31, 3, "vhost[0].proxy[0].to[22]", `"http://bad host:3000": "bad host" is neither an IP address nor a host name`},
			{32, 3, "vhost[0].proxy[0].to[23]", `"http://300.1.1.1:80": "300.1.1.1" is not an IPv4 address`},
			{33, 3, "vhost[0].proxy[0].to[24]", `"http://-x.example:80": "-x.example" is neither an IP address nor a host name: label "-x" starts or ends with a hyphen`},
			{34, 3, "vhost[0].proxy[0].to[25]", `[fe80::1%25eth0] is not an IPv6 address`},
			{35, 3, "vhost[0].proxy[0].to[26]", `must not contain control characters`},
			{37, 3, "vhost[0].proxy[0].to[28]", `"http://127.0.0.1:03000" is the same backend as to[27]`},
			{39, 3, "vhost[0].proxy[0].to[30]", `"unix:/run/./a.sock" is the same backend as to[29]`},
			{41, 3, "vhost[0].proxy[0].to[32]", `"http://localhost:80" is the same backend as to[31]`},
		},
	}, {
		name: "to missing, empty, not an array, or with a non-string",
		src: proxySite + `[[vhost.proxy]]
path = "/a/*"
[[vhost.proxy]]
path = "/b/*"
to = []
[[vhost.proxy]]
path = "/c/*"
to = "http://127.0.0.1:3000"
[[vhost.proxy]]
path = "/d/*"
to = ["http://127.0.0.1:3000", 3000]
`,
		want: []want{
			{6, 1, "vhost[0].proxy[0].to", `missing; a proxy needs the backends it forwards to, such as to = ["http://127.0.0.1:3000"]`},
			{10, 6, "vhost[0].proxy[1].to", `must name at least one backend`},
			{13, 6, "vhost[0].proxy[2].to", `must be an array of strings, not a string`},
			{16, 32, "vhost[0].proxy[3].to[1]", `must be a string, not an integer`},
		},
	}})
}

func TestProxyPathIsAnExactPathOrAPrefixEndingInSlashStarOncePerSite(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "malformed, unclean and duplicate paths; the same path in another site is fine",
		src: proxySite + `proxy = [
  { path = "api/*", to = ["http://a:1"] },
  { path = "/api*", to = ["http://a:1"] },
  { path = "/a/*/b", to = ["http://a:1"] },
  { path = "*", to = ["http://a:1"] },
  { path = "", to = ["http://a:1"] },
  { path = "/a?b=1", to = ["http://a:1"] },
  { path = "/a#b", to = ["http://a:1"] },
  { path = "/a//b", to = ["http://a:1"] },
  { path = "/a/../b/*", to = ["http://a:1"] },
  { path = "/a/.", to = ["http://a:1"] },
  { path = "/a\tb", to = ["http://a:1"] },
  { path = "/api/*", to = ["http://a:1"] },
  { path = "/api", to = ["http://a:1"] },
  { path = "/api/*", to = ["http://b:1"] },
  { path = 5, to = ["http://a:1"] },
  { to = ["http://a:1"] },
]
[[vhost]]
hosts = ["other.example"]
[[vhost.proxy]]
path = "/api/*"
to = ["http://a:1"]
`,
		want: []want{
			{7, 12, "vhost[0].proxy[0].path", `"api/*" must start with "/"`},
			{8, 12, "vhost[0].proxy[1].path", `"/api*": "*" may only end a prefix, as "/*"`},
			{9, 12, "vhost[0].proxy[2].path", `"/a/*/b": "*" may only end a prefix, as "/*"`},
			{10, 12, "vhost[0].proxy[3].path", `"*" must start with "/"`},
			{11, 12, "vhost[0].proxy[4].path", `"" must start with "/"`},
			{12, 12, "vhost[0].proxy[5].path", `"/a?b=1": a path has no query or fragment`},
			{13, 12, "vhost[0].proxy[6].path", `"/a#b": a path has no query or fragment`},
			{14, 12, "vhost[0].proxy[7].path", `"/a//b" never matches: requests are matched on their cleaned path`},
			{15, 12, "vhost[0].proxy[8].path", `"/a/../b/*" never matches`},
			{16, 12, "vhost[0].proxy[9].path", `"/a/." never matches`},
			{17, 12, "vhost[0].proxy[10].path", `must not contain control characters`},
			{20, 12, "vhost[0].proxy[13].path", `"/api/*" is already proxied by vhost[0].proxy[11]`},
			{21, 12, "vhost[0].proxy[14].path", `must be a string, not an integer`},
			{22, 3, "vhost[0].proxy[15].path", `missing; a proxy needs the path it serves`},
		},
	}})
}

func TestProxyBalanceHealthPathAndDurationsAreChecked(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "balance, health_path, durations, types and an unknown key",
		src: proxySite + `[[vhost.proxy]]
path = "/a/*"
to = ["http://127.0.0.1:3000"]
balance = "random"
health_path = "healthz"
health_interval = "10"
connect_timeout = "0s"
response_header_timeout = "-1s"
[[vhost.proxy]]
path = "/b/*"
to = ["http://127.0.0.1:3000"]
balance = "Round_Robin"
health_path = "/health check"
health_interval = 10
connect_timeout = "5 s"
strip_prefix = "yes"
timeout = "5s"
[[vhost.proxy]]
path = "/c/*"
to = ["http://127.0.0.1:3000"]
health_path = "/h\r\nX: y"
connect_timout = "1s"
`,
		want: []want{
			{9, 11, "vhost[0].proxy[0].balance", `"random" is not one of round_robin, least_conn or first`},
			{10, 15, "vhost[0].proxy[0].health_path", `"healthz" must start with "/"`},
			{11, 19, "vhost[0].proxy[0].health_interval", `"10" is not a duration`},
			{12, 19, "vhost[0].proxy[0].connect_timeout", `must be greater than zero, not "0s"`},
			{13, 27, "vhost[0].proxy[0].response_header_timeout", `must be greater than zero, not "-1s"`},
			{17, 11, "vhost[0].proxy[1].balance", `"Round_Robin" is not one of round_robin, least_conn or first`},
			{18, 15, "vhost[0].proxy[1].health_path", `"/health check" must not contain spaces or control characters`},
			{19, 19, "vhost[0].proxy[1].health_interval", `must be a duration string such as "750ms" or "10s", not an integer`},
			{20, 19, "vhost[0].proxy[1].connect_timeout", `"5 s" is not a duration`},
			{21, 16, "vhost[0].proxy[1].strip_prefix", `must be a boolean (true or false), not a string`},
			{22, 1, "vhost[0].proxy[1].timeout", `unknown key`},
			{26, 15, "vhost[0].proxy[2].health_path", `must not contain spaces or control characters`},
			{27, 1, "vhost[0].proxy[2].connect_timout", `unknown key (did you mean "connect_timeout"?)`},
		},
	}, {
		name: "proxy is an array of tables",
		src: proxySite + `root = "site"
proxy = { path = "/", to = ["http://127.0.0.1:3000"] }
`,
		want: []want{{7, 9, "vhost[0].proxy", "must be an array of tables ([[vhost.proxy]]), not a table"}},
	}, {
		name: "a site with nothing names proxies among what it could serve",
		src:  proxySite,
		want: []want{{4, 1, "vhost[0]", "give the vhost a root, paths, a [[vhost.redirect]] or a [[vhost.proxy]]"}},
	}})
}

func TestTrustedProxiesAreCIDRsOrSingleAddresses(t *testing.T) {
	cfg, _ := mustLoad(t, `
[server]
trusted_proxies = ["10.0.0.0/8", "::1/128", "192.168.1.7", "FD00::1", "172.16.0.0/12", "fd00::/8", "0.0.0.0/0"]
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
default = true
root = "site"
`)
	var got []string
	for _, p := range cfg.Server.TrustedProxies {
		got = append(got, p.String())
	}
	if want := "[10.0.0.0/8 ::1/128 192.168.1.7/32 fd00::1/128 172.16.0.0/12 fd00::/8 0.0.0.0/0]"; fmt.Sprint(got) != want {
		t.Errorf("TrustedProxies = %s, want %s", got, want)
	}
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].Key != "server.trusted_proxies[6]" || cfg.Warnings[0].Line != 2 ||
		!strings.Contains(cfg.Warnings[0].Msg, `"0.0.0.0/0" trusts every IPv4 client`) {
		t.Errorf("warnings = %v, want one for 0.0.0.0/0", cfg.Warnings)
	}

	runErrCases(t, []errCase{{
		name: "bad CIDRs and addresses, duplicates",
		src: `
[server]
trusted_proxies = [
  "10.0.0.0/33",
  "10.1.2.3/8",
  "10.0.0.0/",
  "10.0.0.0/08",
  "example.com",
  "10.0.0/8",
  "fe80::1%eth0",
  "::ffff:10.0.0.1",
  "::ffff:10.0.0.0/104",
  "::ffff:0:0/64",
  "10.0.0.1",
  "10.0.0.1/32",
  "",
  1,
  "::/129",
]
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
default = true
root = "site"
`,
		want: []want{
			{3, 3, "server.trusted_proxies[0]", `"10.0.0.0/33": the prefix length of an IPv4 network is a number from 0 to 32`},
			{4, 3, "server.trusted_proxies[1]", `"10.1.2.3/8" has address bits set past /8; write "10.0.0.0/8" for the network, or "10.1.2.3/32" for the one address`},
			{5, 3, "server.trusted_proxies[2]", `"10.0.0.0/": the prefix length of an IPv4 network is a number from 0 to 32`},
			{6, 3, "server.trusted_proxies[3]", `"10.0.0.0/08": the prefix length`},
			{7, 3, "server.trusted_proxies[4]", `"example.com" is not a CIDR such as "10.0.0.0/8" or "fd00::/8", nor an IP address`},
			{8, 3, "server.trusted_proxies[5]", `"10.0.0/8" is not a CIDR`},
			{9, 3, "server.trusted_proxies[6]", `"fe80::1%eth0": a trusted network has no IPv6 zone`},
			{10, 3, "server.trusted_proxies[7]", `"::ffff:10.0.0.1" is an IPv4-mapped IPv6 address; write "10.0.0.1"`},
			{11, 3, "server.trusted_proxies[8]", `"::ffff:10.0.0.0/104" is an IPv4-mapped IPv6 address; write "10.0.0.0/8"`},
			{12, 3, "server.trusted_proxies[9]", `"::ffff:0:0/64" is an IPv4-mapped IPv6 network; list IPv4 networks in their IPv4 form`},
			{14, 3, "server.trusted_proxies[11]", `"10.0.0.1/32" is the same network as server.trusted_proxies[10]`},
			{15, 3, "server.trusted_proxies[12]", `"" is not a CIDR`},
			{16, 3, "server.trusted_proxies[13]", `must be a string, not an integer`},
			{17, 3, "server.trusted_proxies[14]", `"::/129": the prefix length of an IPv6 network is a number from 0 to 128`},
		},
	}, {
		name: "a string, not an array",
		src: `
[server]
trusted_proxies = "10.0.0.0/8"
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
default = true
root = "site"
`,
		want: []want{{2, 19, "server.trusted_proxies", "must be an array of strings, not a string"}},
	}})
}

// trusted_proxies is applied by a reload: DiffServer names it live, and
// no list differs from an empty one.
func TestTrustedProxiesChangeOnReloadWithoutARestart(t *testing.T) {
	old := defaultServer()
	cur := old
	cur.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	live, restart := DiffServer(&old, &cur, &old)
	if fmt.Sprint(live) != "[trusted_proxies]" || len(restart) != 0 {
		t.Errorf("DiffServer = %q, %q; want trusted_proxies live", live, restart)
	}
	empty := old
	empty.TrustedProxies = []netip.Prefix{}
	if live, restart := DiffServer(&old, &empty, &old); len(live) != 0 || len(restart) != 0 {
		t.Errorf("nil to empty: DiffServer = %q, %q; want nothing", live, restart)
	}
	if hashConfig(&Config{Server: old}, nil) != hashConfig(&Config{Server: empty}, nil) {
		t.Error("nil and an empty list hash differently")
	}
}

// A reload that changes any proxy key, or trusted_proxies, must not be
// skipped as unchanged; one that changes only layout and comments is.
func TestHashChangesWhenAProxyKeyChanges(t *testing.T) {
	base := `
[server]
trusted_proxies = ["10.0.0.0/8"]
[[listener]]
name = "web"
address = "127.0.0.1:0"
[[vhost]]
hosts = ["example.com"]
[[vhost.proxy]]
path = "/api/*"
to = ["http://127.0.0.1:3000", "unix:/run/app.sock"]
strip_prefix = false
balance = "round_robin"
health_path = "/healthz"
health_interval = "10s"
connect_timeout = "5s"
response_header_timeout = "60s"
`
	dir := newSite(t)
	hash := func(src string) [32]byte {
		t.Helper()
		cfg, err := Load(writeConfig(t, dir, src))
		if err != nil {
			t.Fatalf("Load:\n%v", err)
		}
		return cfg.Hash
	}
	h0 := hash(base)
	relaid := strings.Replace(base, `to = ["http://127.0.0.1:3000", "unix:/run/app.sock"]`,
		"# the app\nto = [\n  \"http://127.0.0.1:3000\",\n  \"unix:/run/app.sock\", # its socket\n]", 1)
	relaid = strings.Replace(relaid, `balance = "round_robin"`, `balance="round_robin"`, 1)
	if hash(relaid) != h0 {
		t.Error("layout and comments changed the hash")
	}
	for _, c := range []struct{ from, to string }{
		{`path = "/api/*"`, `path = "/app/*"`},
		{`"http://127.0.0.1:3000", `, `"http://127.0.0.1:3001", `},
		{`"http://127.0.0.1:3000", `, `"http://127.0.0.1:03000", `}, // same address, another name in logs
		{`to = ["http://127.0.0.1:3000", "unix:/run/app.sock"]`, `to = ["unix:/run/app.sock", "http://127.0.0.1:3000"]`},
		{`, "unix:/run/app.sock"]`, `]`},
		{`strip_prefix = false`, `strip_prefix = true`},
		{`balance = "round_robin"`, `balance = "least_conn"`},
		{`health_path = "/healthz"`, `health_path = ""`},
		{`health_interval = "10s"`, `health_interval = "11s"`},
		{`connect_timeout = "5s"`, `connect_timeout = "6s"`},
		{`response_header_timeout = "60s"`, `response_header_timeout = "61s"`},
		{`response_header_timeout = "60s"`, "response_header_timeout = \"60s\"\n[[vhost.proxy]]\npath = \"/b\"\nto = [\"http://b:1\"]"},
		{`trusted_proxies = ["10.0.0.0/8"]`, `trusted_proxies = ["10.0.0.0/9"]`},
		{`trusted_proxies = ["10.0.0.0/8"]`, `trusted_proxies = []`},
	} {
		changed := strings.Replace(base, c.from, c.to, 1)
		if changed == base {
			t.Fatalf("%q is not in the base config", c.from)
		}
		if hash(changed) == h0 {
			t.Errorf("%s -> %s did not change the hash", c.from, c.to)
		}
	}
}
