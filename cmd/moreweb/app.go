package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
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
type app struct {
	cfg    *config.Config
	load   func() (*config.Config, error)
	log    *zap.Logger
	sup    *listener.Supervisor
	access *listener.AccessLog
}

func newLogger(s *config.Server, out io.Writer) *zap.Logger {
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
	core := zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(out)), level)
	return zap.New(core)
}

func start(cfg *config.Config, load func() (*config.Config, error), stderr io.Writer) (*app, error) {
	a := &app{cfg: cfg, load: load, log: newLogger(&cfg.Server, stderr)}
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
	a.log.Info("moreweb started", zap.String("version", version), zap.String("config", cfg.File), zap.Int("sites", len(cfg.Vhosts)))
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

// serve runs until SIGINT or SIGTERM and returns the exit code.
func (a *app) serve(signals <-chan os.Signal) int {
	for sig := range signals {
		switch sig {
		case syscall.SIGHUP:
			a.reload("SIGHUP")
		case syscall.SIGUSR1:
			a.reopenLogs()
		case syscall.SIGINT, syscall.SIGTERM:
			return a.shutdown(sig, signals)
		}
	}
	return 0
}

func (a *app) shutdown(sig os.Signal, signals <-chan os.Signal) int {
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
	if a.access == nil {
		return
	}
	if err := a.access.Reopen(); err != nil {
		a.log.Error("reopening access log failed", zap.Error(err))
		return
	}
	a.log.Info("access log reopened")
}

// reload applies the config file again: all or nothing.
func (a *app) reload(reason string) {
	began := time.Now()
	cfg, err := a.load()
	if err == nil && cfg.Hash == a.cfg.Hash {
		a.log.Info("reload skipped: config unchanged", zap.String("trigger", reason))
		return
	}
	var routers map[string]listener.Router
	if err == nil {
		routers, err = buildRouters(cfg)
	}
	var ch listener.Changes
	if err == nil {
		ch, err = a.sup.Apply(cfg, routers, a.access)
	}
	if err != nil {
		a.log.Error("reload failed; the previous config keeps serving",
			zap.String("trigger", reason),
			zap.Strings("errors", strings.Split(err.Error(), "\n")),
			zap.Duration("took", time.Since(began)))
		return
	}
	a.cfg = cfg
	a.log.Info("reloaded",
		zap.String("trigger", reason),
		zap.Int("sites", len(cfg.Vhosts)),
		zap.Strings("listeners_added", ch.Added),
		zap.Strings("listeners_removed", ch.Removed),
		zap.Strings("listeners_kept", ch.Kept),
		zap.Duration("took", time.Since(began)))
}
