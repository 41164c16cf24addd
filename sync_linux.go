//go:build linux

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the file system holding dir (syncfs(2)): one call for
// every file a restore wrote, instead of an fsync each.
func syncFS(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		unix.Sync()
		return
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		unix.Sync()
	}
}
