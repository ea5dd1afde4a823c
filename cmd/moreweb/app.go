package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/moreweb/moreweb/config"
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
	routers, err := buildRouters(cfg, a.log)
	if err != nil {
		return nil, err
	}
	if cfg.Server.AccessLog != "off" {
		a.access, err = listener.OpenAccessLog(cfg.Server.AccessLog, cfg.Server.AccessLogFormat)
		if err != nil {
			return nil, fmt.Errorf("access_log: %w", err)
		}
		a.access.SetErrorLog(a.log)
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

// buildRouters compiles every listener's routing table. What the sites
// notice while serving (a static root replaced or gone) goes to log.
func buildRouters(cfg *config.Config, log *zap.Logger) (map[string]listener.Router, error) {
	log = log.Named("static")
	tables, err := vhost.Build(cfg, func(site, root, msg string, err error) {
		if err != nil {
			log.Warn(msg, zap.String("site", site), zap.String("root", root), zap.Error(err))
			return
		}
		log.Info(msg, zap.String("site", site), zap.String("root", root))
	})
	if err != nil {
		return nil, err
	}
	routers := make(map[string]listener.Router, len(tables))
	for name, t := range tables {
		routers[name] = t
	}
	return routers, nil
}

// watch starts watching the config file at path until ctx ends; each
// change it reports is to be a reload. What the watcher has to say about
// itself (a re-arm, the file gone and back) goes to the log.
//
// The watcher is armed after the serving config was read from path; a
// save in between is reported too, measured against what was read.
func (a *app) watch(ctx context.Context, path string, debounce time.Duration) <-chan struct{} {
	log := a.log.Named("watch")
	a.mu.Lock()
	since := a.cfg.FileSum
	a.mu.Unlock()
	return config.Watch(ctx, path, config.WatchOptions{
		Debounce: debounce,
		Since:    &since,
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
	// A second SIGINT or SIGTERM means now; a SIGHUP or SIGUSR1 meanwhile
	// is dropped and the wait goes on. The signal is passed on before the
	// cut, so that the log can say it cut the connections, not the timeout.
	second := make(chan os.Signal, 1)
	go func() {
		for {
			select {
			case s, ok := <-signals:
				if !ok {
					signals = nil // closed: no second signal can come
					continue
				}
				if s == syscall.SIGINT || s == syscall.SIGTERM {
					second <- s
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
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
		select {
		case s := <-second:
			a.log.Error("second signal: stopped at once, connections cut", zap.String("signal", s.String()), zap.Int("connections", cut))
		default:
			a.log.Error("shutdown_timeout reached: connections cut", zap.Duration("shutdown_timeout", timeout), zap.Int("connections", cut))
		}
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
