package acme

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// decoy is a loopback listener that certmagic's HTTP-01 and TLS-ALPN-01
// solvers are pointed at. certmagic has no setting that keeps those
// solvers from listening: each one tries to bind its address and, when the
// address is taken by something that accepts connections, assumes that
// whoever holds it answers challenges (certmagic's solvers.go,
// robustTryListen). Holding the address here makes that assumption true in
// the way moreweb needs: the answers come from HTTPChallenge and
// Certificate on moreweb's own listeners, and certmagic never binds a port.
// The decoy itself answers nothing; it only accepts and closes, so that its
// backlog never fills and certmagic's probe keeps succeeding.
type decoy struct {
	ln   net.Listener
	done chan struct{}
	once sync.Once
}

func newDecoy() (*decoy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("acme: loopback address for certmagic's solvers: %w", err)
	}
	d := &decoy{ln: ln, done: make(chan struct{})}
	go d.run()
	return d, nil
}

func (d *decoy) run() {
	defer close(d.done)
	for {
		c, err := d.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// A passing shortage (of descriptors) must not end the loop:
			// a decoy that stops accepting fills its backlog and then
			// fails certmagic's probe.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		c.Close()
	}
}

func (d *decoy) close() {
	d.once.Do(func() {
		d.ln.Close()
		<-d.done
	})
}
