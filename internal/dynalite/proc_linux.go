//go:build linux

package dynalite

import "syscall"

// setParentDeathSignal makes the kernel kill dynalite when the process that started it dies without
// calling Close (a test binary killed by -timeout, a Ctrl-C'd `lcauth dev`), so no server is orphaned.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
