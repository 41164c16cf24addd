//go:build !(linux || darwin || freebsd || dragonfly)

package store

import (
	"errors"
	"runtime"
)

// DiskFreeAt is not measured on this system (messages then say
// "unknown", the free-space gauge -1).
func DiskFreeAt(string) (uint64, error) {
	return 0, errors.New("free disk space is not measured on " + runtime.GOOS)
}
