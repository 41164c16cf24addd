//go:build unix && !linux

package main

import (
	"syscall"
	"time"
)

func childAttrs() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func groupCPUTime(int) (time.Duration, bool) { return 0, false }

func selfCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
