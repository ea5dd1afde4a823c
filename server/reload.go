package server

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/listener"
)

// Reload applies the config file again, all or nothing, and logs one line
// saying how it went:
//
//	load:   read, decode and check the whole file (config.Load)
//	skip:   the normalized config hashes the same as the one serving,
//	        unless the trigger is SIGHUP
//	build:  routing tables with every handler and template (vhost.Build)
//	access: open the new access log, if access_log or its format changed
//	apply:  bind new listeners, swap each listener's snapshot, drain the
//	        removed ones (Supervisor.Apply)
//
// Everything before apply's swap can fail and leaves the running snapshot
// untouched; what the attempt opened is closed again.
func (a *Server) Reload(trigger string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	began := time.Now()
	cfg, err := a.opts.Reload()
	// SIGHUP is the operator asking for everything to be opened again
	// (static roots, templates, error pages), so it rebuilds an unchanged
	// config too; the watcher's event for an unchanged file asks nothing.
	unchanged := err == nil && cfg.Hash == a.cfg.Hash
	if unchanged && trigger != "SIGHUP" {
		a.log.Info("reload skipped: config unchanged", zap.String("trigger", trigger),
			zap.String("hash", shortHash(cfg)), zap.Duration("took", time.Since(began)))
		return
	}
	var snap listener.Snapshot
	if err == nil {
		snap, err = a.build(cfg)
	}
	var ch listener.Changes
	if err == nil {
		ch, err = a.sup.Apply(cfg, snap)
		if err != nil {
			snap.Owner.Retire() // nothing used it: closes at once
		}
	}
	if err != nil {
		a.log.Error("reload failed; the previous config keeps serving",
			zap.String("trigger", trigger),
			zap.Strings("errors", describe(err, cfg)),
			zap.String("serving", shortHash(a.cfg)),
			zap.Time("serving_since", a.loadedAt),
			zap.Duration("took", time.Since(began)))
		return
	}

	old := a.cfg
	a.cfg, a.loadedAt = cfg, time.Now()
	// Requests in flight keep the old snapshot, its roots and its access
	// log, until they end; then the old generation closes them.
	a.gen.Retire()
	a.gen, a.access = snap.Owner, snap.Access
	a.useACME(a.pendingACME, cfg)
	a.logs.set(&cfg.Server)
	logWarnings(a.log, cfg)
	if unchanged {
		a.log.Info("reloaded: config unchanged, files reopened", zap.String("trigger", trigger),
			zap.String("hash", shortHash(cfg)), zap.Duration("took", time.Since(began)))
		return
	}

	added, removed, kept := diffNames(siteNames(old), siteNames(cfg))
	fields := []zap.Field{
		zap.String("trigger", trigger),
		zap.String("hash", shortHash(cfg)),
		zap.Strings("sites_added", added),
		zap.Strings("sites_removed", removed),
		zap.Strings("sites_kept", kept),
		zap.Strings("listeners_added", listenerNames(cfg, ch.Added)),
		zap.Strings("listeners_removed", listenerNames(old, ch.Removed)),
		zap.Strings("listeners_kept", listenerNames(cfg, ch.Kept)),
	}
	live, fixed := config.DiffServer(&old.Server, &cfg.Server, &a.started)
	if len(live) > 0 {
		fields = append(fields, zap.Strings("server_changed", live))
	}
	if len(fixed) > 0 {
		fields = append(fields, zap.Strings("restart_needed", fixed))
	}
	fields = append(fields, zap.Duration("took", time.Since(began)))
	if len(fixed) > 0 {
		a.log.Warn("reloaded; some [server] settings take effect only after a restart", fields...)
		return
	}
	a.log.Info("reloaded", fields...)
}

// accessLogFor returns the access log cfg asks for, counted as used by
// one more generation: the running one when access_log and
// access_log_format are unchanged, else a newly opened one; nil for "off".
func (a *Server) accessLogFor(cfg *config.Config) (*listener.AccessLog, error) {
	s := &cfg.Server
	if s.AccessLog == "off" {
		return nil, nil
	}
	l := a.access
	if cur := &a.cfg.Server; l == nil || s.AccessLog != cur.AccessLog || s.AccessLogFormat != cur.AccessLogFormat {
		var err error
		l, err = listener.OpenAccessLog(s.AccessLog, s.AccessLogFormat)
		if err != nil {
			return nil, &placedError{key: []any{"server", "access_log"}, err: fmt.Errorf("cannot open the access log: %w", err)}
		}
		l.SetErrorLog(a.log)
	}
	a.accessMu.Lock()
	a.accessUsers[l]++
	a.accessMu.Unlock()
	return l, nil
}

// releaseAccess is a generation giving up its access log; the last one
// closes it, after the entries of the generation's last requests.
func (a *Server) releaseAccess(l *listener.AccessLog) error {
	if l == nil {
		return nil
	}
	a.accessMu.Lock()
	a.accessUsers[l]--
	last := a.accessUsers[l] == 0
	if last {
		delete(a.accessUsers, l)
	}
	a.accessMu.Unlock()
	if !last {
		return nil
	}
	return l.Close()
}

// placedError is a failure of a reload that belongs to one key of the
// config file.
type placedError struct {
	key []any // as config.DiagnosticAt takes it
	err error
}

func (e *placedError) Error() string { return e.err.Error() }
func (e *placedError) Unwrap() error { return e.err }

// describe turns a reload's error into log lines, each with its place in
// the file (FILE:LINE:COL) where the error has one.
func describe(err error, cfg *config.Config) []string {
	var list config.ErrorList
	if errors.As(err, &list) {
		lines := make([]string, len(list))
		for i, d := range list {
			lines[i] = d.String()
		}
		return lines
	}
	if cfg == nil || cfg.File == "" {
		return strings.Split(err.Error(), "\n")
	}
	var bind *listener.BindError
	if errors.As(err, &bind) {
		for i, l := range cfg.Listeners {
			if l.Name == bind.Name {
				err = &placedError{key: []any{"listener", i, "address"}, err: fmt.Errorf("cannot listen on %s: %w", bind.Address, bind.Err)}
				break
			}
		}
	}
	var placed *placedError
	if errors.As(err, &placed) {
		// The file as it was read a moment ago; if it changed since, the
		// next reload reports on the new text anyway.
		src, _ := os.ReadFile(cfg.File)
		return []string{config.DiagnosticAt(cfg.File, src, placed.err.Error(), placed.key...).String()}
	}
	return []string{cfg.File + ": " + err.Error()}
}

// shortHash names a config snapshot in the log: the start of its hash.
func shortHash(cfg *config.Config) string {
	return hex.EncodeToString(cfg.Hash[:6])
}

// siteNames are the names sites go by in the log: each vhost's first host,
// or "default".
func siteNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Vhosts))
	for _, v := range cfg.Vhosts {
		name := "default"
		if len(v.Hosts) > 0 {
			name = v.Hosts[0]
		}
		names = append(names, name)
	}
	return names
}

// diffNames compares two lists of names as sets, each result sorted.
func diffNames(before, after []string) (added, removed, kept []string) {
	had := make(map[string]bool, len(before))
	for _, n := range before {
		had[n] = true
	}
	has := make(map[string]bool, len(after))
	for _, n := range after {
		if has[n] {
			continue
		}
		has[n] = true
		if had[n] {
			kept = append(kept, n)
		} else {
			added = append(added, n)
		}
	}
	for n := range had {
		if !has[n] {
			removed = append(removed, n)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(kept)
	return added, removed, kept
}

// listenerNames renders listener addresses as NAME=ADDRESS, with the
// names cfg gives them.
func listenerNames(cfg *config.Config, addrs []string) []string {
	out := make([]string, 0, len(addrs))
	for _, addr := range addrs {
		name := "?"
		for _, l := range cfg.Listeners {
			if l.Address == addr {
				name = l.Name
				break
			}
		}
		out = append(out, name+"="+addr)
	}
	return out
}
