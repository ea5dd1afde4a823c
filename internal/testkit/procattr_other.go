//go:build !linux

package testkit

import "syscall"

// childProcAttr has nothing to offer here: without Pdeathsig the DNS
// server started for a test binary outlives it (holding two loopback
// ports, doing nothing) until it is killed by hand.
func childProcAttr() *syscall.SysProcAttr { return nil }
