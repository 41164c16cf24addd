//go:build !linux

package serve

func cpuNanos() int64 { return 0 }
