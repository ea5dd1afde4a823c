package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/listener"
	"github.com/moreweb/moreweb/vhost"
)

// app is a running server: the config it serves, the supervisor owning the
// sockets, and the logs.
//
// Reloads, log reopening and shutdown take mu, so they happen one at a
// time whether they come from the watcher, a signal or a test.
type app struct {
	load     func() (*config.Config, error)
	logs     *logSwitch
	log      *zap.Logger
	sup      *listener.Supervisor
	maxConns int // max_connections as the supervisor was made with

	mu       sync.Mutex
	cfg      *config.Config // the snapshot serving
	loadedAt time.Time      // when cfg started serving
	access   *listener.AccessLog
	// retired are access logs a reload replaced, each closed by its timer
	// once the requests that may still write to it have finished.
	retired map[*listener.AccessLog]*time.Timer
}

func start(cfg *config.Config, load func() (*config.Config, error), stderr io.Writer) (*app, error) {
	logs := newLogSwitch(&cfg.Server, stderr)
	a := &app{
		cfg:      cfg,
		loadedAt: time.Now(),
		load:     load,
		logs:     logs,
		log:      logs.logger(),
		retired:  map[*listener.AccessLog]*time.Timer{},
		maxConns: cfg.Server.MaxConnections,
	}
	routers, err := buildRouters(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Server.AccessLog != "off" {
		a.access, err = listener.OpenAccessLog(cfg.Server.AccessLog, cfg.Server.AccessLogFormat)
		if err != nil {
			return nil, fmt.Errorf("access_log: %w", err)
		}
	}
	a.sup = listener.NewSupervisor(a.log, cfg.Server.MaxConnections)
	if _, err := a.sup.Apply(cfg, routers, a.access); err != nil {
		if a.access != nil {
			a.access.Close()
		}
		return nil, err
	}
	for _, l := range cfg.Listeners {
		a.log.Info("listening", zap.String("listener", l.Name), zap.String("address", l.Address))
	}
	a.log.Info("moreweb started", zap.String("version", version), zap.String("config", cfg.File),
		zap.String("hash", shortHash(cfg)), zap.Int("sites", len(cfg.Vhosts)))
	return a, nil
}

// buildRouters compiles every listener's routing table.
func buildRouters(cfg *config.Config) (map[string]listener.Router, error) {
	tables, err := vhost.Build(cfg)
	if err != nil {
		return nil, err
	}
	routers := make(map[string]listener.Router, len(tables))
	for name, t := range tables {
		routers[name] = router{t}
	}
	return routers, nil
}

// router adapts a vhost table to the listener's Router.
type router struct{ t *vhost.Table }

func (r router) Route(host []byte) (handlers.Handler, string, bool) {
	s, ok := r.t.Route(host)
	if !ok {
		return nil, "", false
	}
	return s.Handler, s.Name, true
}

// watch starts watching the config file at path until ctx ends; each
// change it reports is to be a reload. What the watcher has to say about
// itself (a re-arm, the file gone and back) goes to the log.
func (a *app) watch(ctx context.Context, path string, debounce time.Duration) <-chan struct{} {
	log := a.log.Named("watch")
	return config.Watch(ctx, path, config.WatchOptions{
		Debounce: debounce,
		Log: func(msg string, err error) {
			if err != nil {
				log.Warn(msg, zap.String("config", path), zap.Error(err))
				return
			}
			log.Info(msg, zap.String("config", path))
		},
	})
}

// serve runs until SIGINT or SIGTERM and returns the exit code. changes,
// from the watcher, may be nil. One goroutine handles both, so reloads
// never overlap, and changes that come during a reload wait as one.
func (a *app) serve(signals <-chan os.Signal, changes <-chan struct{}) int {
	for {
		select {
		case sig, ok := <-signals:
			if !ok {
				return 0
			}
			switch sig {
			case syscall.SIGHUP:
				a.reload("SIGHUP")
			case syscall.SIGUSR1:
				a.reopenLogs()
			case syscall.SIGINT, syscall.SIGTERM:
				return a.shutdown(sig, signals)
			}
		case _, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			a.reload("file changed")
		}
	}
}

func (a *app) shutdown(sig os.Signal, signals <-chan os.Signal) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	timeout := a.cfg.Server.ShutdownTimeout
	a.log.Info("shutting down", zap.String("signal", sig.String()), zap.Duration("shutdown_timeout", timeout))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		// A second signal means now.
		select {
		case s := <-signals:
			if s == syscall.SIGINT || s == syscall.SIGTERM {
				a.log.Warn("second signal: exiting at once", zap.String("signal", s.String()))
				cancel()
			}
		case <-ctx.Done():
		}
	}()
	cut, err := a.sup.Shutdown(ctx)
	if a.access != nil {
		a.access.Close()
	}
	for l, t := range a.retired {
		t.Stop()
		delete(a.retired, l)
		l.Close()
	}
	if err != nil {
		a.log.Error("stopped with connections cut", zap.Int("connections", cut), zap.Error(err))
		a.log.Sync()
		return 1
	}
	a.log.Info("stopped")
	a.log.Sync()
	return 0
}

func (a *app) reopenLogs() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.access == nil {
		return
	}
	if err := a.access.Reopen(); err != nil {
		a.log.Error("reopening access log failed", zap.Error(err))
		return
	}
	a.log.Info("access log reopened")
}

// reload applies the config file again, all or nothing, and logs one line
// saying how it went:
//
//	load:   read, decode and check the whole file (config.Load)
//	skip:   the normalized config hashes the same as the one serving
//	build:  routing tables with every handler and template (vhost.Build)
//	access: open the new access log, if access_log or its format changed
//	apply:  bind new listeners, swap each listener's snapshot, drain the
//	        removed ones (Supervisor.Apply)
//
// Everything before apply's swap can fail and leaves the running snapshot
// untouched; what the attempt opened is closed again.
func (a *app) reload(trigger string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	began := time.Now()
	cfg, err := a.load()
	if err == nil && cfg.Hash == a.cfg.Hash {
		a.log.Info("reload skipped: config unchanged", zap.String("trigger", trigger),
			zap.String("hash", shortHash(cfg)), zap.Duration("took", time.Since(began)))
		return
	}
	var routers map[string]listener.Router
	if err == nil {
		routers, err = buildRouters(cfg)
	}
	access, switchAccess := a.access, false
	if err == nil {
		access, switchAccess, err = a.accessLogFor(cfg)
	}
	var ch listener.Changes
	if err == nil {
		ch, err = a.sup.Apply(cfg, routers, access)
		if err != nil && switchAccess && access != nil {
			access.Close()
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
	if switchAccess && a.access != nil {
		// Requests in flight on the old snapshot log to the old access
		// log when they finish; give them shutdown_timeout, as a removed
		// listener's connections get.
		a.retire(a.access, max(old.Server.ShutdownTimeout, cfg.Server.ShutdownTimeout))
	}
	a.access = access
	a.logs.set(&cfg.Server)

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
	live, fixed := serverChanges(&old.Server, &cfg.Server, a.maxConns)
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

// accessLogFor returns the access log cfg asks for: the running one when
// access_log and access_log_format are unchanged, else a newly opened one
// (nil for "off") and switch set.
func (a *app) accessLogFor(cfg *config.Config) (l *listener.AccessLog, switched bool, err error) {
	s, cur := &cfg.Server, &a.cfg.Server
	if s.AccessLog == cur.AccessLog && s.AccessLogFormat == cur.AccessLogFormat {
		return a.access, false, nil
	}
	if s.AccessLog == "off" {
		return nil, true, nil
	}
	l, err = listener.OpenAccessLog(s.AccessLog, s.AccessLogFormat)
	if err != nil {
		return nil, false, &placedError{key: []any{"server", "access_log"}, err: fmt.Errorf("cannot open the access log: %w", err)}
	}
	return l, true, nil
}

// retire closes l after d, or at shutdown if that comes first. Called with
// a.mu held.
func (a *app) retire(l *listener.AccessLog, d time.Duration) {
	a.retired[l] = time.AfterFunc(d, func() {
		a.mu.Lock()
		_, ok := a.retired[l]
		delete(a.retired, l)
		a.mu.Unlock()
		if ok {
			l.Close()
		}
	})
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

// serverChanges names the [server] keys that differ between two configs,
// which apply with this reload, and the ones that differ from what is
// running and only take effect after a restart: max_connections, the size
// of the Supervisor's connection semaphore, made once at start (maxConns).
// Every other key switches live.
func serverChanges(old, cur *config.Server, maxConns int) (live, fixed []string) {
	keys := []struct {
		name string
		a, b any
	}{
		{"log_level", old.LogLevel, cur.LogLevel},
		{"log_format", old.LogFormat, cur.LogFormat},
		{"access_log", old.AccessLog, cur.AccessLog},
		{"access_log_format", old.AccessLogFormat, cur.AccessLogFormat},
		{"read_header_timeout", old.ReadHeaderTimeout, cur.ReadHeaderTimeout},
		{"idle_timeout", old.IdleTimeout, cur.IdleTimeout},
		{"write_timeout", old.WriteTimeout, cur.WriteTimeout},
		{"shutdown_timeout", old.ShutdownTimeout, cur.ShutdownTimeout},
		{"max_header_bytes", old.MaxHeaderBytes, cur.MaxHeaderBytes},
		{"max_body_bytes", old.MaxBodyBytes, cur.MaxBodyBytes},
		{"error_pages", old.ErrorPages, cur.ErrorPages},
	}
	for _, k := range keys {
		if !reflect.DeepEqual(k.a, k.b) {
			live = append(live, k.name)
		}
	}
	if cur.MaxConnections != maxConns {
		fixed = append(fixed, fmt.Sprintf("max_connections: %d until a restart, the file says %d", maxConns, cur.MaxConnections))
	}
	return live, fixed
}

// logSwitch is the error and lifecycle log. Its level and format follow
// [server] log_level and log_format: a reload swaps the core, and every
// logger made from it, named children included, writes through the new one
// from its next line.
type logSwitch struct {
	out  zapcore.WriteSyncer
	core atomic.Pointer[coreRef]
}

// coreRef boxes a core so that its identity can be compared.
type coreRef struct{ zapcore.Core }

func newLogSwitch(s *config.Server, out io.Writer) *logSwitch {
	ls := &logSwitch{out: zapcore.Lock(zapcore.AddSync(out))}
	ls.set(s)
	return ls
}

func (ls *logSwitch) set(s *config.Server) {
	level := zapcore.InfoLevel
	level.UnmarshalText([]byte(s.LogLevel)) // validated by config
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	var encoder zapcore.Encoder
	if s.LogFormat == "json" {
		encoder = zapcore.NewJSONEncoder(enc)
	} else {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	}
	ls.core.Store(&coreRef{zapcore.NewCore(encoder, ls.out, level)})
}

func (ls *logSwitch) logger() *zap.Logger { return zap.New(&switchCore{ls: ls}) }

// switchCore is a zapcore.Core that writes through the logSwitch's current
// core, with the fields added by With on the way to it.
type switchCore struct {
	ls     *logSwitch
	fields []zapcore.Field
	// derived caches the current core with fields added, and which core
	// it was made from.
	derived atomic.Pointer[[2]*coreRef]
}

func (c *switchCore) current() zapcore.Core {
	base := c.ls.core.Load()
	if len(c.fields) == 0 {
		return base.Core
	}
	if d := c.derived.Load(); d != nil && d[0] == base {
		return d[1].Core
	}
	core := &coreRef{base.Core.With(c.fields)}
	c.derived.Store(&[2]*coreRef{base, core})
	return core.Core
}

func (c *switchCore) Enabled(l zapcore.Level) bool { return c.ls.core.Load().Enabled(l) }

func (c *switchCore) With(fields []zapcore.Field) zapcore.Core {
	return &switchCore{ls: c.ls, fields: append(c.fields[:len(c.fields):len(c.fields)], fields...)}
}

func (c *switchCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *switchCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return c.current().Write(e, fields)
}

func (c *switchCore) Sync() error { return c.ls.out.Sync() }
