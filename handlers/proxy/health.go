package proxy

import (
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/moreweb/moreweb/parser"
)

// checker asks every backend of a route for its health path, each
// interval, until stopped; a backend is skipped while its last answer was
// not 2xx.
type checker struct {
	path     string
	interval time.Duration
	ups      []*upstream
	stop     chan struct{}
	wg       sync.WaitGroup
	log      func(msg string, backend string, err error)
}

func (c *checker) start() {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(c.interval)
		defer t.Stop()
		for {
			c.checkAll()
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
		}
	}()
}

func (c *checker) checkAll() {
	var wg sync.WaitGroup
	for _, u := range c.ups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.check(u)
			was := u.checkDown.Load()
			u.checkDown.Store(err != nil)
			switch {
			case err != nil && !was && c.log != nil:
				c.log("upstream down", u.Name, err)
			case err == nil && was && c.log != nil:
				c.log("upstream up", u.Name, nil)
			}
		}()
	}
	wg.Wait()
}

// check makes one GET of the health path on a connection of its own.
func (c *checker) check(u *upstream) error {
	timeout := min(c.interval, 10*time.Second)
	nc, err := net.DialTimeout(u.Network, u.Address, min(u.connectTimeout, timeout))
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(timeout))
	host := u.Address
	if u.Network == "unix" {
		host = "localhost"
	}
	req := "GET " + c.path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: moreweb-health-check\r\nConnection: close\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		return err
	}
	rd := parser.NewResponseReader(nc, responseLimits)
	defer rd.Release()
	for {
		resp, err := rd.ReadResponse("GET")
		if err != nil {
			return err
		}
		if resp.Status >= 100 && resp.Status < 200 && resp.Status != 101 {
			continue
		}
		if resp.Status < 200 || resp.Status > 299 {
			return &statusError{resp.Status}
		}
		return nil
	}
}

type statusError struct{ status int }

func (e *statusError) Error() string { return "health check answered " + strconv.Itoa(e.status) }

func (c *checker) close() {
	close(c.stop)
	c.wg.Wait()
}
