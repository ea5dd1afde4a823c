package proxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// tunnel answers the client's upgrade with the backend's 101 and then
// copies bytes both ways until either side ends, or neither sends
// anything for the idle limit. The handler's call lasts as long as the
// tunnel, so the config the request came in with stays alive with it: a
// reload does not cut it, and a stop cuts it with the other connections
// still open when the shutdown timeout ends.
func (ex *exchange) tunnel(bc *backendConn, resp *parser.Response) error {
	up, ok := handlers.As[handlers.Upgrader](ex.w)
	if !ok {
		return &handlers.Error{Status: 502, Err: errNoUpgrader}
	}
	h := ex.w.Header()
	connection := resp.Header.Get("Connection")
	for i := range resp.Header.Len() {
		f := resp.Header.At(i)
		if isHopByHop(f.Name) || namedIn(connection, f.Name) || equalFold(f.Name, "Date") {
			continue
		}
		addField(h, f.Name, f.Value)
	}
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", string(resp.Header.Get("Upgrade")))
	early := bc.rd.TakeBuffered()
	cc, err := up.Upgrade()
	if err != nil {
		bc.close()
		return err
	}
	bc.nc.SetDeadline(time.Time{})
	if len(early) > 0 {
		if _, err := cc.Write(early); err != nil {
			cc.Close()
			bc.close()
			return nil
		}
	}
	t := &tunnelState{idle: ex.h.tunnelIdle}
	t.touch()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t.pipe(bc.nc, cc) // client to backend
		closeWrite(bc.nc)
	}()
	t.pipe(cc, bc.nc) // backend to client
	// The backend is done: so is the client's side of the tunnel.
	cc.Close()
	wg.Wait()
	bc.close()
	return nil
}

type tunnelState struct {
	idle time.Duration
	last atomic.Int64 // UnixNano of the last byte either way
}

func (t *tunnelState) touch() { t.last.Store(time.Now().UnixNano()) }

// pipe copies from src to dst. A read that waits longer than the idle
// limit ends the pipe only when the other direction was quiet too.
func (t *tunnelState) pipe(dst, src net.Conn) {
	buf := make([]byte, 16<<10)
	for {
		src.SetReadDeadline(time.Now().Add(t.idle))
		n, err := src.Read(buf)
		if n > 0 {
			t.touch()
			dst.SetWriteDeadline(time.Now().Add(t.idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if isTimeout(err) && time.Since(time.Unix(0, t.last.Load())) < t.idle {
				continue
			}
			if !errors.Is(err, io.EOF) {
				// Wake the other direction: it ends too.
				src.Close()
				dst.Close()
			}
			return
		}
	}
}

// closeWrite half-closes a connection that can, so that the other side
// reads the end of what was sent and can finish its own.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}
