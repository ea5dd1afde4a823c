//go:build !linux

package listener

import "syscall"

// Elsewhere an idle connection waits on a goroutine of its own (see
// idlepoll_linux.go for why Linux does better).
type idlePoller struct{}

type idleOwner struct{}

func (sup *Supervisor) idlePoller() *idlePoller    { return nil }
func (sup *Supervisor) runningPoller() *idlePoller { return nil }
func (sup *Supervisor) stopIdlePoller()            {}
func (p *idlePoller) park(c *conn) bool            { return false }
func (p *idlePoller) take(c *conn) bool            { return false }
func rawFD(raw syscall.RawConn) int32              { return -1 }
