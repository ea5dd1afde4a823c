package config

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"sort"
	"strconv"
	"strings"
)

// hashConfig fingerprints the normalized config, so the watcher can skip a
// reload when a save changed only comments or layout. Templates and error
// pages are read at load time, so their contents count too: a reload after
// editing one must not be skipped. The bytes hashed are the ones the
// snapshot serves: an error page's Body, and a template's source (from
// contents, by path) that its Template was parsed from.
func hashConfig(cfg *Config, contents map[string][]byte) [32]byte {
	h := sha256.New()
	w := fieldWriter{h}
	w.line("file", cfg.File)
	hashServer(w, &cfg.Server)
	for _, l := range cfg.Listeners {
		w.line("listener", l.Name, l.Address, l.TLS, l.HTTP2)
	}
	w.line("acme", cfg.ACME.Email, cfg.ACME.CA, cfg.ACME.CARoot, cfg.ACME.Storage, cfg.ACME.Challenges)
	for _, v := range cfg.Vhosts {
		w.line("vhost", v.Default, v.Root, v.Listing, v.FollowSymlinks, v.ServeDotfiles)
		w.line("hosts", v.Hosts)
		w.line("listeners", v.Listeners)
		w.line("index", v.Index)
		for _, p := range v.Paths {
			w.line("path", p.URLPath, p.File, p.Template != nil)
			if p.Template != nil {
				w.blob(contents[p.File])
			}
		}
		w.pages("error_pages", v.ErrorPages)
		for _, f := range v.Headers {
			w.line("header", f.Name, f.Value)
		}
		for _, r := range v.Redirects {
			w.line("redirect", r.From, r.To, r.Status)
		}
		for _, p := range v.Proxies {
			w.line("proxy", p.Path, p.StripPrefix, p.Balance, p.HealthPath, p.HealthInterval, p.ConnectTimeout, p.ResponseHeaderTimeout, len(p.To))
			for _, u := range p.To {
				w.line("upstream", u.Network, u.Address, u.Name)
			}
		}
		w.line("https", v.HTTPSRedirect, v.HSTS)
		w.line("compress", strings.Join(v.Compress, ","))
		if v.TLS != nil {
			w.line("tls", v.TLS.Cert, v.TLS.Key, v.TLS.ACME)
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// fieldWriter writes each field quoted, so no two different configs can
// produce the same stream.
type fieldWriter struct{ h hash.Hash }

func (w fieldWriter) line(fields ...any) {
	for _, f := range fields {
		if list, ok := f.([]string); ok {
			fmt.Fprintf(w.h, "%q ", list) // each element quoted
			continue
		}
		fmt.Fprintf(w.h, "%q ", fmt.Sprint(f))
	}
	w.h.Write([]byte{'\n'})
}

// blob writes b after its length, so that it cannot run into what follows.
func (w fieldWriter) blob(b []byte) {
	w.line("bytes", len(b))
	w.h.Write(b)
}

func (w fieldWriter) pages(name string, pages ErrorPages) {
	statuses := make([]int, 0, len(pages))
	for s := range pages {
		statuses = append(statuses, s)
	}
	sort.Ints(statuses)
	for _, s := range statuses {
		w.line(name, strconv.Itoa(s), pages[s].Path)
		w.blob(pages[s].Body)
	}
}
