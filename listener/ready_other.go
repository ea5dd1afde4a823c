//go:build !linux

package listener

import "time"

// Elsewhere connections wait for requests in Go's own poller.
type readyDispatcher struct{}

func readyDispatcherInstance() *readyDispatcher                { return nil }
func (d *readyDispatcher) wait(c *conn, until time.Time) error { return nil }
func (d *readyDispatcher) unregister(c *conn)                  {}
func (c *conn) kickReady()                                     {}
