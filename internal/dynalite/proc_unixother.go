//go:build unix && !linux

package dynalite

import "syscall"

// setParentDeathSignal is a no-op where the kernel offers no parent-death signal.
func setParentDeathSignal(*syscall.SysProcAttr) {}
