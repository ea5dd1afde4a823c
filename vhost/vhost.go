// Package vhost compiles a config snapshot into one routing table per
// listener: host -> site, each site with its handler chain built once, so
// that serving a request looks a name up and calls a ready handler.
package vhost

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/handlers/compress"
	"github.com/moreweb/moreweb/handlers/errorpage"
	"github.com/moreweb/moreweb/handlers/pathmap"
	"github.com/moreweb/moreweb/handlers/proxy"
	"github.com/moreweb/moreweb/handlers/redirect"
	"github.com/moreweb/moreweb/handlers/static"
	"github.com/moreweb/moreweb/handlers/tmpl"
)

// Site is one [[vhost]] ready to serve.
type Site struct {
	// Name is the site's first host, or "default" for a default site
	// with none; the access log shows it.
	Name string
	// Handler serves the site's requests, errors included: it renders the
	// site's error pages itself and returns the error only for the log.
	Handler handlers.Handler
	// closers release what the site holds open (its static root, its
	// certificate files' watcher).
	closers []io.Closer
	// certs gives the site's certificate on TLS listeners; nil when the
	// site has no [vhost.tls].
	certs CertSource
}

// Routes is a config's routing: a table for each listener, and the sites
// they share, which own open resources until Close.
type Routes struct {
	// Tables are keyed by listener name.
	Tables map[string]*Table
	sites  []*Site
}

// Close releases every site's resources. Call it once no request can use
// the routes any more.
func (r *Routes) Close() error {
	var errs []error
	for _, s := range r.sites {
		for _, c := range s.closers {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("site %s: %w", s.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Logger is told what a site notices about its files while it serves: its
// static root (the path as configured) replaced, gone or back. err is set
// when the site answers 404 because of it.
type Logger func(site, root, msg string, err error)

// Options are what Build needs from the server beyond the config.
type Options struct {
	// Log may be nil.
	Log Logger
	// Certs opens a TLS site's certificate source; the closer, if any, is
	// closed with the routes. Required when a site has [vhost.tls].
	Certs func(v *config.Vhost) (CertSource, io.Closer, error)
	// Port returns the port a listener is bound to, for redirects to
	// HTTPS; nil uses the port in the listener's address.
	Port func(listener string) string
}

// Build compiles cfg into a table for each of its listeners, keyed by
// listener name. A listener no vhost is served on gets an empty table
// (every request 421). Each site is built once and shared by the tables of
// all its listeners. log may be nil.
//
// cfg has been validated, so the conflicts Build checks for (two claims on
// one host or two defaults on a listener) mean a bug, not a user's error.
func Build(cfg *config.Config, opt Options) (*Routes, error) {
	r := &Routes{Tables: make(map[string]*Table, len(cfg.Listeners))}
	for _, l := range cfg.Listeners {
		r.Tables[l.Name] = &Table{exact: map[string]*Site{}, wildcard: map[string]*Site{}}
	}
	fail := func(err error) (*Routes, error) {
		r.Close() // what was opened before the failure
		return nil, err
	}
	for i := range cfg.Vhosts {
		v := &cfg.Vhosts[i]
		site, err := buildSite(cfg, v, opt)
		if err != nil {
			return fail(fmt.Errorf("vhost[%d]: %w", i, err))
		}
		r.sites = append(r.sites, site)
		listeners := v.Listeners
		if len(listeners) == 0 {
			for _, l := range cfg.Listeners {
				listeners = append(listeners, l.Name)
			}
		}
		for _, name := range listeners {
			t := r.Tables[name]
			if t == nil {
				return fail(fmt.Errorf("vhost[%d]: no listener named %q", i, name))
			}
			if err := t.add(site, v); err != nil {
				return fail(fmt.Errorf("vhost[%d]: listener %q: %w", i, name, err))
			}
		}
	}
	return r, nil
}

func (t *Table) add(s *Site, v *config.Vhost) error {
	if v.Default {
		if t.def != nil {
			return fmt.Errorf("a second default site, after %q", t.def.Name)
		}
		t.def = s
	}
	for _, h := range v.Hosts {
		h = strings.TrimSuffix(strings.ToLower(h), ".")
		m := t.exact
		if suffix, ok := strings.CutPrefix(h, "*."); ok {
			m, h = t.wildcard, suffix
		}
		if other := m[h]; other != nil {
			return fmt.Errorf("host %q is already %q's", h, other.Name)
		}
		m[h] = s
	}
	return nil
}

// buildSite assembles a site's handler, outermost first:
//
//	errorpage -> middleware (nosniff, headers, compress) -> Chain{redirect, pathmap, static}
//
// The error page layer is outermost, so every error of the site, a panic
// in any layer included, gets the site's page. The headers go on before the
// chain runs, so they are on error pages too and a handler can still
// replace one (a site-wide Content-Type yields to the file's). Parts the
// vhost does not configure are left out; a site with none answers every
// request 404.
func buildSite(cfg *config.Config, v *config.Vhost, opt Options) (*Site, error) {
	log := opt.Log
	s := &Site{Name: "default"}
	if len(v.Hosts) > 0 {
		s.Name = v.Hosts[0]
	}

	codings := siteCodings(v)
	var chain handlers.Chain
	if len(v.Redirects) > 0 {
		rules := make([]redirect.Rule, len(v.Redirects))
		for i, r := range v.Redirects {
			rules[i] = redirect.Rule{From: r.From, To: r.To, Status: r.Status}
		}
		chain = append(chain, redirect.New(rules))
	}
	if len(v.Paths) > 0 {
		routes := make(map[string]handlers.Handler, len(v.Paths))
		for _, p := range v.Paths {
			if p.Template != nil {
				routes[p.URLPath] = tmpl.New(p.Template)
			} else {
				routes[p.URLPath] = static.File(p.File, codings...)
			}
		}
		chain = append(chain, pathmap.New(routes))
	}
	if len(v.Proxies) > 0 {
		px := proxy.New(proxyOptions(cfg, v, s.Name, log))
		chain = append(chain, px)
		s.closers = append(s.closers, px)
	}
	if v.Root != "" {
		o := static.Options{
			Root:           v.Root,
			Index:          v.Index,
			Listing:        v.Listing,
			FollowSymlinks: v.FollowSymlinks,
			ServeDotfiles:  v.ServeDotfiles,
			Compress:       codings,
		}
		if log != nil {
			name, root := s.Name, v.Root
			o.Log = func(msg string, err error) { log(name, root, msg, err) }
		}
		st, err := static.New(o)
		if err != nil {
			return nil, fmt.Errorf("root: %w", err)
		}
		chain = append(chain, st)
		s.closers = append(s.closers, st)
	}

	if v.TLS != nil {
		if opt.Certs == nil {
			s.Close()
			return nil, errors.New("tls: no certificate source")
		}
		src, closer, err := opt.Certs(v)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		s.certs = src
		if closer != nil {
			s.closers = append(s.closers, closer)
		}
	}

	pages := errorpage.FromBytes(v.ErrorPages.Bodies())
	var h handlers.Handler = chain
	for _, mw := range siteMiddleware(cfg, v, opt) {
		h = mw(h)
	}
	s.Handler = errorpage.Wrap(h, pages)
	return s, nil
}

// proxyOptions are the site's [[vhost.proxy]] tables as the proxy takes
// them. A tunnel quiet both ways for 10 minutes is closed: WebSocket
// clients and servers ping far more often than that.
func proxyOptions(cfg *config.Config, v *config.Vhost, site string, log Logger) proxy.Options {
	o := proxy.Options{TrustedProxies: cfg.Server.TrustedProxies, TunnelIdle: 10 * time.Minute}
	for _, p := range v.Proxies {
		rt := proxy.Route{
			Path:                  p.Path,
			StripPrefix:           p.StripPrefix,
			Balance:               p.Balance,
			HealthPath:            p.HealthPath,
			HealthInterval:        p.HealthInterval,
			ConnectTimeout:        p.ConnectTimeout,
			ResponseHeaderTimeout: p.ResponseHeaderTimeout,
		}
		for _, u := range p.To {
			rt.To = append(rt.To, proxy.Backend{Network: u.Network, Address: u.Address, Name: u.Name})
		}
		o.Routes = append(o.Routes, rt)
	}
	if log != nil {
		o.Log = func(msg, backend string, err error) { log(site, backend, msg, err) }
	}
	return o
}

// siteMiddleware lists the layers a site's config asks for, innermost
// first; a layer the site does not use is not there at all. The redirect to
// HTTPS is innermost of them, so that it carries the site's headers; HSTS
// and nosniff go on before anything else runs, so that a site's own headers
// can still override them.
func siteMiddleware(cfg *config.Config, v *config.Vhost, opt Options) []handlers.Middleware {
	var mws []handlers.Middleware
	if codings := siteCodings(v); len(codings) > 0 {
		// Innermost: it sees the fields the handler set, and the
		// site's headers (no-transform) set before it ran.
		mws = append(mws, compress.New(codings))
	}
	if v.HTTPSRedirect {
		mws = append(mws, httpsRedirect(tlsPort(cfg, v, opt)))
	}
	if len(v.Headers) > 0 {
		mws = append(mws, withHeaders(v.Headers))
	}
	if v.HSTS != "" {
		mws = append(mws, hsts(v.HSTS))
	}
	return append(mws, noSniff)
}

// siteCodings is v's compress list as codings; config has checked the
// names.
func siteCodings(v *config.Vhost) []compress.Coding {
	var cs []compress.Coding
	for _, name := range v.Compress {
		if c, err := compress.Parse(name); err == nil {
			cs = append(cs, c)
		}
	}
	return cs
}

// tlsPort returns the port of v's first TLS listener, as a redirect to
// HTTPS names it.
func tlsPort(cfg *config.Config, v *config.Vhost, opt Options) func() string {
	for _, name := range v.Listeners {
		for _, l := range cfg.Listeners {
			if l.Name != name || !l.TLS {
				continue
			}
			if opt.Port != nil {
				return func() string { return opt.Port(name) }
			}
			_, port, _ := net.SplitHostPort(l.Address)
			return func() string { return port }
		}
	}
	return func() string { return "" }
}

// Close releases what s holds open.
func (s *Site) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
