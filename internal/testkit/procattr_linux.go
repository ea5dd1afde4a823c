package testkit

import "syscall"

// childProcAttr has the kernel kill pebble, its DNS server and h2spec when
// the test binary ends. For the DNS server, which serves the whole binary,
// that is the only way it ends; for the others it covers a binary that
// dies without running its cleanups (a timeout's panic), so that none
// lives on holding ports or connections.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
