//go:build linux

package serve

import "syscall"

// cpuNanos is the CPU time (user + system) this process has used. On a
// busy shared machine it is a steadier measure than wall time.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
