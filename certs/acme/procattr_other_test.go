//go:build !linux

package acme

import "syscall"

func childProcAttr() *syscall.SysProcAttr { return nil }
