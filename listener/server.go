package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// Router picks the site for a request's host; *vhost.Table is one. It is
// declared here so that listener and vhost never import each other.
type Router interface {
	// Route returns the site's handler and name for the log; false means
	// no site and no default on this listener (421).
	Route(host []byte) (h handlers.Handler, site string, ok bool)
}

// Settings are the [server] values the connection loop applies.
type Settings struct {
	ReadHeaderTimeout  time.Duration
	IdleTimeout        time.Duration
	WriteTimeout       time.Duration
	ShutdownTimeout    time.Duration
	Limits             parser.Limits
	MaxRequestsPerConn int // 0: no cap
	// deferral is how long a silent new connection may already have
	// waited in the kernel before it was accepted (acceptDeferral), or 0
	// when the listeners do not defer accepts.
	deferral time.Duration
}

// deferralFor says whether listeners defer accepts under this header
// timeout: only when it leaves room for the deferral, so that a silent
// connection is still closed read_header_timeout after it connected.
func deferralFor(readHeaderTimeout time.Duration) time.Duration {
	if acceptDeferral > 0 && readHeaderTimeout >= 2*acceptDeferral {
		return acceptDeferral
	}
	return 0
}

// SettingsFrom takes the connection settings out of a config.
func SettingsFrom(s *config.Server) Settings {
	lim := parser.DefaultLimits()
	lim.MaxHeaderBytes = s.MaxHeaderBytes
	lim.MaxBodyBytes = s.MaxBodyBytes
	if lim.MaxBodyBytes == 0 {
		lim.MaxBodyBytes = parser.NoBody // the config's 0 refuses every body
	}
	if lim.MaxTargetBytes > lim.MaxHeaderBytes {
		lim.MaxTargetBytes = lim.MaxHeaderBytes
	}
	return Settings{
		ReadHeaderTimeout:  s.ReadHeaderTimeout,
		IdleTimeout:        s.IdleTimeout,
		WriteTimeout:       s.WriteTimeout,
		ShutdownTimeout:    s.ShutdownTimeout,
		Limits:             lim,
		MaxRequestsPerConn: s.MaxRequestsPerConnection,
		deferral:           deferralFor(s.ReadHeaderTimeout),
	}
}

// snapshot is what one listener serves with: replaced whole on reload, read
// once per request, never modified.
type snapshot struct {
	name     string
	router   Router
	certs    Certifier  // nil on a plain listener
	http2    bool       // ALPN h2 on TLS; h2c with prior knowledge on plain
	acme     Challenger // nil when no site orders certificates
	settings Settings
	pages    handlers.ErrorWriter
	access   *AccessLog
	owner    *Generation
}

// acquire returns the newest snapshot with a reference taken on its
// generation, for one request; false means the listener was removed and
// its last snapshot retired, so there is nothing left to serve with.
func (s *server) acquire() (*snapshot, bool) {
	for {
		snap := s.snap.Load()
		if snap.owner.acquire() {
			return snap, true
		}
		if s.snap.Load() == snap {
			return nil, false
		}
	}
}

// server is one listening socket, its accept loop and its connections.
type server struct {
	sup      *Supervisor
	addr     string
	ln       net.Listener
	log      *zap.Logger
	snap     atomic.Pointer[snapshot]
	draining atomic.Bool
	done     chan struct{}
	// stopCtx ends when the listener stops accepting, to cut handshakes
	// short.
	stopCtx context.Context
	stopTLS context.CancelFunc
	tlsConf *tls.Config

	mu      sync.Mutex
	conns   map[*conn]struct{}
	h2conns map[*h2conn]struct{}
	wg      sync.WaitGroup // the accept loop and every connection
}

func (s *server) track(c *conn, add bool) {
	s.mu.Lock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	s.mu.Unlock()
}

// acceptLoop takes a connection slot before it accepts, so that at
// max_connections new connections wait in the kernel's backlog instead of
// being accepted and starved.
func (s *server) acceptLoop() {
	defer s.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		select {
		case s.sup.slots <- struct{}{}:
		case <-s.done:
			return
		}
		nc, err := s.ln.Accept()
		if err != nil {
			s.sup.releaseSlot()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: wait and retry rather than spin.
			s.log.Warn("accept failed", zap.String("address", s.addr), zap.Error(err))
			select {
			case <-time.After(backoff):
			case <-s.done:
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		s.wg.Add(1)
		go s.serveConn(nc)
	}
}

// stopAccepting closes the socket and asks idle connections to close; busy
// ones close after their current response.
func (s *server) stopAccepting() {
	if s.draining.Swap(true) {
		return
	}
	close(s.done)
	s.stopTLS()
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.life.End() // handlers that wait give up
	}
	for hc := range s.h2conns {
		hc.conn.Shutdown() // GOAWAY; streams in flight finish
	}
	s.mu.Unlock()
	s.closeIdle()
}

func (s *server) closeIdle() {
	var parked []*conn
	s.mu.Lock()
	for c := range s.conns {
		if !c.state.CompareAndSwap(stateIdle, stateClosing) {
			continue
		}
		// Looked up after the mark: a connection parking in a poller
		// started since is then found there, or sees the mark (park).
		if poller := s.sup.runningPoller(); poller != nil && poller.take(c) {
			parked = append(parked, c) // no goroutine to wake: close it here
			continue
		}
		// Wakes the goroutine blocked in Read (over TLS perhaps in the
		// write a Read makes); it sees the state and ends.
		if c.t.tls != nil {
			c.t.conn.SetDeadline(time.Now())
		} else {
			c.t.conn.SetReadDeadline(time.Now())
		}
	}
	s.mu.Unlock()
	for _, c := range parked {
		c.close()
	}
}

// wait blocks until every connection has ended or ctx is done; then the
// remaining connections are cut, and their number returned.
func (s *server) wait(ctx context.Context) int {
	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-finished:
			return 0
		case <-tick.C:
			// A connection that was busy a moment ago may be idle now.
			s.closeIdle()
		case <-ctx.Done():
			s.closeIdle()
			// The sockets themselves are closed, not a *tls.Conn over
			// one: its Close sends close_notify, which waits for a write
			// the connection may be stuck in. And outside mu, so that no
			// close waits while holding what every connection's end needs.
			s.mu.Lock()
			cut := make([]io.Closer, 0, len(s.conns))
			for c := range s.conns {
				cut = append(cut, c.t.socketCloser())
			}
			for hc := range s.h2conns {
				cut = append(cut, hc.t.socketCloser())
			}
			s.mu.Unlock()
			for _, sock := range cut {
				sock.Close()
			}
			<-finished
			return len(cut)
		}
	}
}
