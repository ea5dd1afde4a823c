package server

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/handlers/errorpage"
	"github.com/moreweb/moreweb/listener"
	"github.com/moreweb/moreweb/vhost"
)

// Server is a running moreweb: the config it serves, the supervisor owning
// the sockets, the logs, and the resources of every config snapshot still
// in use. Start builds it from a config the way the command does; the
// command, the tests and the attack suites all run this same wiring.
//
// Reloads, log reopening and shutdown take mu, so they happen one at a
// time whether they come from the watcher, a signal or a test.
type Server struct {
	opts Options
	logs *logSwitch
	log  *zap.Logger
	sup  *listener.Supervisor
	// started is the [server] the process began with: the keys only a
	// restart applies (max_connections) keep these values.
	started config.Server

	mu       sync.Mutex
	cfg      *config.Config // the snapshot serving
	loadedAt time.Time      // when cfg started serving
	gen      *listener.Generation
	access   *listener.AccessLog // the serving snapshot's; nil when off
	acme     *acmeRef            // nil when no site orders certificates
	// pendingACME is the manager of the snapshot last built, for useACME
	// once that snapshot serves.
	pendingACME *acmeRef

	// Access logs outlive a snapshot when the next one keeps the same
	// file: each is closed when the last generation using it closes.
	accessMu    sync.Mutex
	accessUsers map[*listener.AccessLog]int
	// open counts generations whose resources are not closed yet.
	open sync.WaitGroup
}

// Options are what the caller of Start decides beyond the config.
type Options struct {
	// Reload reads the config again for a reload. Nil: LoadFile of the
	// first config's file (ZeroConfig configs have none and never change).
	Reload func() (*config.Config, error)
	// Log receives the error and lifecycle log, in the config's format.
	// Nil: standard error.
	Log io.Writer
	// Version is logged at start.
	Version string
}

// LoadFile is how a running server reads its config file again. A save
// may be caught half-written, so a failed load is only reported once the
// file has settled.
func LoadFile(path string) func() (*config.Config, error) {
	return func() (*config.Config, error) { return config.LoadSettled(path, config.DefaultSettle) }
}

// Start binds every listener of cfg and serves it until Stop or Serve's
// end.
func Start(cfg *config.Config, opts Options) (*Server, error) {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Reload == nil {
		opts.Reload = func() (*config.Config, error) { return cfg, nil }
		if cfg.File != "" {
			opts.Reload = LoadFile(cfg.File)
		}
	}
	logs := newLogSwitch(&cfg.Server, opts.Log)
	s := &Server{
		opts:        opts,
		cfg:         cfg,
		loadedAt:    time.Now(),
		logs:        logs,
		log:         logs.logger(),
		started:     cfg.Server,
		accessUsers: map[*listener.AccessLog]int{},
	}
	s.sup = listener.NewSupervisor(s.log, cfg.Server.MaxConnections)
	snap, err := s.build(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := s.sup.Apply(cfg, snap); err != nil {
		snap.Owner.Retire()
		return nil, err
	}
	s.gen, s.access = snap.Owner, snap.Access
	s.useACME(s.pendingACME, cfg)
	for _, l := range cfg.Listeners {
		s.log.Info("listening", zap.String("listener", l.Name), zap.String("address", l.Address), zap.Bool("tls", l.TLS), zap.Bool("http2", l.HTTP2))
	}
	logWarnings(s.log, cfg)
	s.log.Info("moreweb started", zap.String("version", opts.Version), zap.String("config", cfg.File),
		zap.String("hash", shortHash(cfg)), zap.Int("sites", len(cfg.Vhosts)))
	return s, nil
}

// Check builds everything cfg asks for without serving it, for -t: what
// only shows when the sites are built (a root that cannot be opened) is
// reported too.
func Check(cfg *config.Config) error {
	routes, err := vhost.Build(cfg, vhost.Options{Certs: loadedCerts})
	if err != nil {
		return err
	}
	return routes.Close()
}

// build makes the snapshot cfg is served with: routing tables with every
// handler and template, and the access log, all owned by a new generation.
// Called with mu held, or before the server runs.
func (s *Server) build(cfg *config.Config) (listener.Snapshot, error) {
	ref, err := s.acmeFor(cfg)
	if err != nil {
		return listener.Snapshot{}, err
	}
	if ref != nil {
		// Stored certificates are served from the snapshot's first
		// handshake; Manage, which also drops names, waits until it serves.
		ref.m.Preload(acmeNames(cfg))
	}
	releaseACME := func() error {
		if ref != nil {
			return ref.release()
		}
		return nil
	}
	routes, err := buildRoutes(cfg, s.log, vhost.Options{Certs: watchedCerts(s.log, ref), Port: s.boundPort(cfg)})
	if err != nil {
		releaseACME()
		return listener.Snapshot{}, err
	}
	access, err := s.accessLogFor(cfg)
	if err != nil {
		routes.Close()
		releaseACME()
		return listener.Snapshot{}, err
	}
	s.open.Add(1)
	gen := listener.NewGeneration(routes,
		listener.CloserFunc(func() error { return s.releaseAccess(access) }),
		listener.CloserFunc(releaseACME),
		listener.CloserFunc(func() error { s.open.Done(); return nil }))
	var challenges listener.Challenger
	if ref != nil {
		challenges = acmeChallenges{ref.m}
	}
	routers := make(map[string]listener.Router, len(routes.Tables))
	for name, t := range routes.Tables {
		routers[name] = t
	}
	tlsCerts := map[string]listener.Certifier{}
	for _, l := range cfg.Listeners {
		if l.TLS {
			tlsCerts[l.Name] = routes.Tables[l.Name]
		}
	}
	s.pendingACME = ref
	return listener.Snapshot{
		Routers:    routers,
		Certs:      tlsCerts,
		Challenges: challenges,
		Errors:     errorpage.FromBytes(cfg.Server.ErrorPages.Bodies()),
		Access:     access,
		Owner:      gen,
	}, nil
}

// Addrs returns the addresses listened on, by configured address (":0"
// in a config becomes the port the kernel chose).
func (s *Server) Addrs() map[string]net.Addr { return s.sup.Addrs() }

// Log is the server's error and lifecycle logger.
func (s *Server) Log() *zap.Logger { return s.log }

// buildRoutes compiles every listener's routing table. What the sites
// notice while serving (a static root replaced or gone) goes to log.
func buildRoutes(cfg *config.Config, log *zap.Logger, opt vhost.Options) (*vhost.Routes, error) {
	log = log.Named("static")
	opt.Log = func(site, root, msg string, err error) {
		if err != nil {
			log.Warn(msg, zap.String("site", site), zap.String("root", root), zap.Error(err))
			return
		}
		log.Info(msg, zap.String("site", site), zap.String("root", root))
	}
	return vhost.Build(cfg, opt)
}

// Watch starts watching the config file at path until ctx ends; each
// change it reports is to be a reload. What the watcher has to say about
// itself (a re-arm, the file gone and back) goes to the log.
//
// The watcher is armed after the serving config was read from path; a
// save in between is reported too, measured against what was read.
func (a *Server) Watch(ctx context.Context, path string, debounce time.Duration) <-chan struct{} {
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

// Serve runs until SIGINT or SIGTERM and returns the exit code. changes,
// from the watcher, may be nil. One goroutine handles both, so reloads
// never overlap, and changes that come during a reload wait as one.
func (a *Server) Serve(signals <-chan os.Signal, changes <-chan struct{}) int {
	for {
		select {
		case sig, ok := <-signals:
			if !ok {
				return 0
			}
			switch sig {
			case syscall.SIGHUP:
				a.Reload("SIGHUP")
			case syscall.SIGUSR1:
				a.ReopenLogs()
			case syscall.SIGINT, syscall.SIGTERM:
				return a.shutdown(sig, signals)
			}
		case _, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			a.Reload("file changed")
		}
	}
}

func (a *Server) shutdown(sig os.Signal, signals <-chan os.Signal) int {
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
	cut, err := a.stopLocked(ctx)
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

// Stop stops accepting, lets requests in flight finish until ctx ends,
// then cuts the rest, and closes every snapshot's resources. It returns
// how many connections were cut.
func (a *Server) Stop(ctx context.Context) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopLocked(ctx)
}

func (a *Server) stopLocked(ctx context.Context) (int, error) {
	cut, err := a.sup.Shutdown(ctx)
	// Every connection has ended, so every request has released its
	// snapshot: retiring the serving one closes the last resources.
	if a.gen != nil {
		a.gen.Retire()
		a.gen = nil
	}
	a.useACME(nil, a.cfg)
	a.open.Wait()
	return cut, err
}

// ReopenLogs opens the access log file again, for logrotate.
func (a *Server) ReopenLogs() {
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

// logWarnings logs what -t warns about, each time a config is taken up.
func logWarnings(log *zap.Logger, cfg *config.Config) {
	for _, w := range cfg.Warnings {
		log.Warn(w.Msg, zap.String("at", w.String()))
	}
}
