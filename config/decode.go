package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// vhostSource keeps where a vhost's values came from, for the checks in
// validate.go that compare vhosts with each other and with listeners.
type vhostSource struct {
	hosts      []item  // normalized, without duplicates
	listeners  []item  // as written; nil when the key is absent
	defaultKey keyPath // where default = … is, or would be
	table      keyPath // the [[vhost]] table itself
	redirect   keyPath // where https_redirect = … is
}

// listenerSource keeps where a listener's name and address came from.
type listenerSource struct {
	name, address keyPath
}

// decode turns the generic tree into a Config, reporting every problem it
// finds on the way. The Config is only meaningful when no problem was found.
func (c *checker) decode(tree map[string]any) *Config {
	root := c.table(nil, tree)
	cfg := &Config{Server: defaultServer()}
	if t := root.sub("server"); t != nil {
		cfg.Server = c.server(t)
	}

	lts, _ := root.tables("listener")
	lsrc := make([]listenerSource, 0, len(lts))
	for _, lt := range lts {
		l, src := c.listener(lt)
		cfg.Listeners = append(cfg.Listeners, l)
		lsrc = append(lsrc, src)
	}
	if isMissing(tree["listener"]) {
		c.keyErrorf(keyPath{"listener"}, "no listener defined; add a [[listener]] table with a name and an address")
	}

	vts, _ := root.tables("vhost")
	vsrc := make([]vhostSource, 0, len(vts))
	for _, vt := range vts {
		v, src := c.vhost(vt)
		cfg.Vhosts = append(cfg.Vhosts, v)
		vsrc = append(vsrc, src)
	}
	if isMissing(tree["vhost"]) {
		c.keyErrorf(keyPath{"vhost"}, "no vhost defined; add a [[vhost]] table")
	}
	cfg.ACME = c.acme(root.sub("acme"))
	root.unknown()

	c.crossCheck(cfg, lsrc, vsrc)
	return cfg
}

// isMissing reports an absent value or an empty array; a value of another
// type has been reported as such already.
func isMissing(v any) bool {
	switch a := v.(type) {
	case nil:
		return true
	case []any:
		return len(a) == 0
	case []map[string]any:
		return len(a) == 0
	}
	return false
}

func (c *checker) accessLog(t *table, key, def string) string {
	s, p, ok := t.str(key)
	if !ok {
		return def
	}
	switch s {
	case "stdout", "stderr", "off":
		return s
	}
	abs, ok := c.resolve(p, s)
	if !ok {
		return def
	}
	// The file itself may not exist yet; the logger creates it.
	if msg := checkDir(filepath.Dir(abs)); msg != "" {
		c.valueErrorf(p, "cannot create a log file there: %s", msg)
		return def
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		c.valueErrorf(p, "%q is a directory, not a log file", abs)
		return def
	}
	return abs
}

func (c *checker) listener(t *table) (Listener, listenerSource) {
	var l Listener
	src := listenerSource{name: t.path.key("name"), address: t.path.key("address")}
	if name, p, ok := t.str("name"); ok {
		if name == "" {
			c.valueErrorf(p, "must not be empty")
		}
		l.Name = name
	} else if !t.has("name") {
		c.keyErrorf(src.name, "missing; every listener needs a name for vhosts to refer to")
	}
	if addr, p, ok := t.str("address"); ok {
		if msg := checkAddress(addr); msg != "" {
			c.valueErrorf(p, "%s", msg)
		}
		l.Address = addr
	} else if !t.has("address") {
		c.keyErrorf(src.address, "missing; every listener needs an address (host:port)")
	}
	l.TLS = t.boolean("tls", false)
	l.HTTP2 = t.boolean("http2", l.TLS)
	t.unknown()
	return l, src
}

func (c *checker) vhost(t *table) (Vhost, vhostSource) {
	v := defaultVhost()
	src := vhostSource{defaultKey: t.path.key("default"), table: t.path, redirect: t.path.key("https_redirect")}
	v.Default = t.boolean("default", false)

	hosts, _ := t.strings("hosts")
	seen := map[string]bool{}
	for _, h := range hosts {
		n, msg := normalizeHost(h.s)
		if msg != "" {
			c.valueErrorf(h.path, "%s", msg)
			continue
		}
		if !seen[n] {
			seen[n] = true
			v.Hosts = append(v.Hosts, n)
			src.hosts = append(src.hosts, item{n, h.path})
		}
	}
	if !v.Default && isMissing(t.m["hosts"]) {
		c.keyErrorf(t.path.key("hosts"), "a vhost needs at least one host unless it is the default (default = true)")
	}

	if ls, present := t.strings("listeners"); present {
		src.listeners = append([]item{}, ls...) // non-nil: the key is present
		if isMissing(t.m["listeners"]) {
			c.valueErrorf(t.path.key("listeners"), "must name at least one listener (leave it out for every listener)")
		}
	}

	if s, p, ok := t.str("root"); ok {
		if abs, ok := c.resolve(p, s); ok {
			if msg := checkDir(abs); msg != "" {
				c.valueErrorf(p, "%s", msg)
			} else {
				v.Root = abs
			}
		}
	}
	if idx, present := t.strings("index"); present {
		v.Index = make([]string, 0, len(idx))
		for _, it := range idx {
			if it.s == "" || it.s == "." || it.s == ".." || strings.ContainsAny(it.s, "/\\\x00") {
				c.valueErrorf(it.path, "%q is not a file name", it.s)
				continue
			}
			v.Index = append(v.Index, it.s)
		}
	}
	v.Listing = t.boolean("listing", false)
	v.FollowSymlinks = t.boolean("follow_symlinks", false)
	v.ServeDotfiles = t.boolean("serve_dotfiles", false)
	v.Paths = c.paths(t.sub("paths"))
	v.ErrorPages = c.errorPages(t.sub("error_pages"))
	v.Headers = c.headers(t.sub("headers"))
	rts, _ := t.tables("redirect")
	v.Redirects = c.redirects(rts)
	pts, _ := t.tables("proxy")
	v.Proxies = c.proxies(pts)
	v.TLS = c.vhostTLS(t.sub("tls"), src.hosts)
	v.HTTPSRedirect = t.boolean("https_redirect", false)
	if s, p, ok := t.str("hsts"); ok {
		v.HSTS = c.hsts(p, s)
	}
	if cs, present := t.strings("compress"); present {
		v.Compress = c.codings(cs)
	}

	// Judged on what was written, so a root that failed its own check is
	// not reported a second time as missing. An unknown key is most likely
	// what was meant to serve (rooot, redirects): it is then the one error.
	typo := t.unknown()
	if !typo && !t.has("root") && isEmpty(t.m["paths"]) && isEmpty(t.m["redirect"]) && isEmpty(t.m["proxy"]) {
		c.keyErrorf(t.path, "nothing to serve: give the vhost a root, paths, a [[vhost.redirect]] or a [[vhost.proxy]]")
	}
	return v, src
}

// codings checks a compress list: known codings, each once.
func (c *checker) codings(items []item) []string {
	out := []string{}
	for _, it := range items {
		name := strings.ToLower(it.s)
		switch {
		case name != "zstd" && name != "br" && name != "gzip":
			c.valueErrorf(it.path, "%q is not a coding moreweb compresses with (zstd, br, gzip)", it.s)
		case slices.Contains(out, name):
			c.valueErrorf(it.path, "%q is listed twice", it.s)
		default:
			out = append(out, name)
		}
	}
	return out
}

// isEmpty reports an absent value, an empty table or an empty array.
func isEmpty(v any) bool {
	if m, ok := v.(map[string]any); ok {
		return len(m) == 0
	}
	return isMissing(v)
}

func (c *checker) errorPages(t *table) ErrorPages {
	if t == nil {
		return nil
	}
	pages := ErrorPages{}
	for _, k := range t.keys() {
		p := t.path.key(k)
		status, msg := parseErrorStatus(k)
		if msg != "" {
			c.keyErrorf(p, "%s", msg)
		}
		file, ok := t.m[k].(string)
		if !ok {
			c.typeError(p, "a file path", t.m[k])
			continue
		}
		abs, ok := c.resolve(p, file)
		if !ok {
			continue
		}
		// Read now, not just checked: these bytes are both hashed and
		// served, so the snapshot cannot hash one version and serve another.
		data, msg := c.readOnce(abs)
		if msg != "" {
			c.valueErrorf(p, "%s", msg)
			continue
		}
		pages[status] = ErrorPage{Path: abs, Body: data}
	}
	return pages
}

// resolve makes a path from the file absolute, relative to the file's
// directory so a config works from any working directory.
func (c *checker) resolve(p keyPath, s string) (string, bool) {
	if s == "" {
		c.valueErrorf(p, "must not be empty")
		return "", false
	}
	if filepath.IsAbs(s) {
		return filepath.Clean(s), true
	}
	return filepath.Join(c.dir, s), true
}

// readOnce returns the contents of the file at abs, reading it only the
// first time the config names it: a file named twice (one page for two
// statuses, a template that is also an error page) is then one version.
func (c *checker) readOnce(abs string) ([]byte, string) {
	if data, ok := c.contents[abs]; ok {
		return data, ""
	}
	data, msg := readFile(abs)
	if msg != "" {
		return nil, msg
	}
	if c.contents == nil {
		c.contents = map[string][]byte{}
	}
	c.contents[abs] = data
	return data, ""
}
