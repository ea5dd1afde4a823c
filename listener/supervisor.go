package listener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/handlers"
)

// Supervisor owns the listening sockets. Apply reconciles them with a config:
// everything new is built and bound first, then each listener's snapshot is
// swapped in one atomic store, then removed listeners drain. A socket whose
// address stays in the config is kept across reloads, so no connection is
// ever refused because of a reload.
type Supervisor struct {
	log   *zap.Logger
	slots chan struct{} // one per open connection: max_connections

	// fileBodies counts response bodies sent from a file by the kernel
	// (sendfile), apart from those copied through a buffer.
	fileBodies atomic.Int64

	mu      sync.Mutex
	servers map[string]*server // by address
	retired sync.WaitGroup     // removed listeners still draining

	idle idleOwner // where idle connections park, once one has
}

// NewSupervisor returns a Supervisor allowing maxConns connections at once
// over all listeners. The cap is fixed for the life of the process.
func NewSupervisor(log *zap.Logger, maxConns int) *Supervisor {
	if maxConns <= 0 {
		maxConns = 10000
	}
	return &Supervisor{
		log:     log,
		slots:   make(chan struct{}, maxConns),
		servers: make(map[string]*server),
	}
}

func (sup *Supervisor) releaseSlot() { <-sup.slots }

// FileBodies is how many response bodies have gone from a file to a
// socket in the kernel, without a copy through user space.
func (sup *Supervisor) FileBodies() int64 { return sup.fileBodies.Load() }

// listenConfig turns off TCP keep-alive probes on accepted connections:
// idle_timeout already ends idle connections, and the probes' four
// setsockopt calls per connection are a tenth of the cost of a short one.
var listenConfig = net.ListenConfig{KeepAlive: -1}

// Changes says what an Apply did, for the reload log line.
type Changes struct {
	Added, Removed, Kept []string // listener addresses
}

// BindError is Apply's error when a listener's address cannot be bound, so
// that a caller can point at that listener in the config file.
type BindError struct {
	Name, Address string
	Err           error
}

func (e *BindError) Error() string {
	return fmt.Sprintf("listener %q: cannot listen on %s: %v", e.Name, e.Address, e.Err)
}

func (e *BindError) Unwrap() error { return e.Err }

// Snapshot is what Apply serves a config with: each listener's router by
// listener name, the access log (nil for none), and the generation that
// owns their resources. A nil Owner means they own nothing to close.
type Snapshot struct {
	Routers map[string]Router
	// Certs are the certificates of the listeners with tls = true, by
	// listener name.
	Certs map[string]Certifier
	// Challenges answers ACME HTTP-01 validations on plain listeners; nil
	// when no site orders certificates.
	Challenges Challenger
	// Errors renders the errors raised before a site is known: malformed
	// requests, and hosts no site claims.
	Errors handlers.ErrorWriter
	Access *AccessLog
	Owner  *Generation
}

// Apply makes the running listeners match cfg, each serving with the router
// of the same name. On error nothing has changed: sockets bound by this
// attempt are closed again and the old snapshots keep serving. The caller
// keeps its reference to snap.Owner and retires it when the snapshot is
// replaced; requests in flight keep theirs until they end.
func (sup *Supervisor) Apply(cfg *config.Config, snap Snapshot) (Changes, error) {
	snap0 := snap
	routers, access, owner := snap.Routers, snap.Access, snap.Owner
	if owner == nil {
		owner = NewGeneration()
	}
	sup.mu.Lock()
	defer sup.mu.Unlock()

	pages := snap.Errors
	if pages == nil {
		return Changes{}, errors.New("no error pages to answer with before a site is known")
	}
	settings := SettingsFrom(&cfg.Server)

	var ch Changes
	bound := map[string]net.Listener{}
	fail := func(err error) (Changes, error) {
		for _, ln := range bound {
			ln.Close()
		}
		return Changes{}, err
	}
	want := map[string]bool{}
	for _, l := range cfg.Listeners {
		want[l.Address] = true
		if _, ok := routers[l.Name]; !ok {
			return fail(fmt.Errorf("listener %q: no routing table", l.Name))
		}
		if _, ok := snap.Certs[l.Name]; l.TLS && !ok {
			return fail(fmt.Errorf("listener %q: tls = true but no certificates", l.Name))
		}
		if _, running := sup.servers[l.Address]; running {
			ch.Kept = append(ch.Kept, l.Address)
			continue
		}
		ln, err := listenConfig.Listen(context.Background(), "tcp", l.Address)
		if err != nil {
			return fail(&BindError{Name: l.Name, Address: l.Address, Err: err})
		}
		bound[l.Address] = ln
		ch.Added = append(ch.Added, l.Address)
	}

	// Nothing can fail from here on: switch.
	for _, ln := range bound {
		deferAccept(ln, settings.deferral > 0)
	}
	for _, l := range cfg.Listeners {
		snap := &snapshot{name: l.Name, router: routers[l.Name], http2: l.HTTP2, settings: settings, pages: pages, access: access, owner: owner}
		if l.TLS {
			snap.certs = snap0.Certs[l.Name]
		} else {
			snap.acme = snap0.Challenges
		}
		if s, ok := sup.servers[l.Address]; ok {
			if s.snap.Load().settings.deferral != settings.deferral {
				deferAccept(s.ln, settings.deferral > 0)
			}
			s.snap.Store(snap)
			continue
		}
		s := &server{
			sup:     sup,
			addr:    l.Address,
			ln:      bound[l.Address],
			log:     sup.log.With(zap.String("listener", l.Name)),
			done:    make(chan struct{}),
			conns:   make(map[*conn]struct{}),
			h2conns: make(map[*h2conn]struct{}),
		}
		s.stopCtx, s.stopTLS = context.WithCancel(context.Background())
		s.tlsConf = s.newTLSConfig()
		s.snap.Store(snap)
		sup.servers[l.Address] = s
		s.wg.Add(1)
		go s.acceptLoop()
	}
	for addr, s := range sup.servers {
		if want[addr] {
			continue
		}
		ch.Removed = append(ch.Removed, addr)
		delete(sup.servers, addr)
		s.stopAccepting()
		sup.retired.Add(1)
		go func() {
			defer sup.retired.Done()
			ctx, cancel := context.WithTimeout(context.Background(), settings.ShutdownTimeout)
			defer cancel()
			if cut := s.wait(ctx); cut > 0 {
				s.log.Warn("removed listener: connections cut at shutdown_timeout", zap.Int("connections", cut))
			}
		}()
	}
	sort.Strings(ch.Added)
	sort.Strings(ch.Removed)
	sort.Strings(ch.Kept)
	return ch, nil
}

// Addrs returns the addresses actually listened on, by configured address
// (":0" in a config becomes the port the kernel chose).
func (sup *Supervisor) Addrs() map[string]net.Addr {
	sup.mu.Lock()
	defer sup.mu.Unlock()
	out := make(map[string]net.Addr, len(sup.servers))
	for addr, s := range sup.servers {
		out[addr] = s.ln.Addr()
	}
	return out
}

// Shutdown stops accepting everywhere, lets requests in flight finish and
// closes idle connections. When ctx ends first, the remaining connections
// are cut and their number returned with an error.
func (sup *Supervisor) Shutdown(ctx context.Context) (int, error) {
	sup.mu.Lock()
	servers := make([]*server, 0, len(sup.servers))
	for addr, s := range sup.servers {
		servers = append(servers, s)
		delete(sup.servers, addr)
	}
	sup.mu.Unlock()
	for _, s := range servers {
		s.stopAccepting()
	}
	cut := 0
	for _, s := range servers {
		cut += s.wait(ctx)
	}
	sup.retired.Wait()
	sup.stopIdlePoller() // every connection has ended: none is parked
	if cut > 0 {
		return cut, fmt.Errorf("shutdown_timeout reached: %d connections cut", cut)
	}
	return 0, nil
}
