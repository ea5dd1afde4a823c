package acme

import "syscall"

// childProcAttr has the kernel kill pebble and its DNS server when the test
// binary dies without running its cleanups (a timeout's panic), so that
// they do not live on holding ports.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
