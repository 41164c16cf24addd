//go:build !linux

package main

import (
	"io/fs"
	"os"
	"path/filepath"
)

// syncFS fsyncs every file under dir (syncfs(2) is Linux's).
func syncFS(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if f, err := os.OpenFile(p, os.O_RDWR, 0); err == nil {
				f.Sync()
				f.Close()
			}
		}
		return nil
	})
}
