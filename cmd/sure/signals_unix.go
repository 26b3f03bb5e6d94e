//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// dieOf ends the process by sig, as if it had not been caught, so that a
// shell sees what stopped it.
func dieOf(sig os.Signal) {
	s, ok := sig.(syscall.Signal)
	if !ok {
		os.Exit(exitInterrupted)
	}
	signal.Reset(sig)
	unix.Kill(unix.Getpid(), s)
	os.Exit(128 + int(s))
}
