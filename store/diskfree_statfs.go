//go:build linux || darwin || freebsd || dragonfly

package store

import "syscall"

// DiskFreeAt returns the bytes an unprivileged user may still write on
// the file system holding dir.
func DiskFreeAt(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
