// Package testfs gives tests a real small file system to fill: a tmpfs
// mounted for the test (root only). Tests only.
package testfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Small mounts a tmpfs of the given size (e.g. "96m") on a temporary
// directory for the test and returns it. Without root or mount the test
// is skipped, or fails when MLBOX_REQUIRE_TMPFS is set (make test sets it
// when it runs as root).
func Small(t testing.TB, size string) string {
	t.Helper()
	skip := func(why string) {
		if os.Getenv("MLBOX_REQUIRE_TMPFS") != "" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		skip(fmt.Sprintf("mount tmpfs: %v %s", err, out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// Fill writes a file in dir until the file system is full, to the last
// byte it takes, and returns its path (remove it to free the space).
func Fill(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for n := len(buf); n > 0; n /= 2 {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
	return p
}
