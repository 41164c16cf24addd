//go:build linux || darwin || freebsd || netbsd || openbsd

package main

import (
	"syscall"
	"time"
)

// selfCPUTime is the driver's own user+system CPU time.
func selfCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
