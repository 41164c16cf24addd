package main

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestCrossBuild: the binary builds (CGO_ENABLED=0) for the systems people
// run a small server or a laptop on, not just the one the tests run on.
// On systems without statfs, the free-space figures read "unknown".
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	gobin := runtime.GOROOT() + "/bin/go"
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	for _, target := range []string{"linux/arm64", "darwin/arm64", "windows/amd64"} {
		goos, goarch, _ := strings.Cut(target, "/")
		t.Run(target, func(t *testing.T) {
			cmd := exec.Command(gobin, "build", "-o", os.DevNull, ".")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("GOOS=%s GOARCH=%s go build: %v\n%s", goos, goarch, err, out)
			}
		})
	}
}
