package testkit

import "syscall"

// childProcAttr has the kernel kill pebble and its DNS server when the test
// binary ends. For the DNS server, which serves the whole binary, that is
// the only way it ends; for pebble it covers a binary that dies without
// running its cleanups (a timeout's panic), so that neither lives on
// holding ports.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
