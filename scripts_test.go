package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scripts/deps.sh, as a user who is not root on a machine missing every
// package: it stops at once and prints the command to run.
func TestDepsScriptNotRoot(t *testing.T) {
	bin := t.TempDir()
	for name, body := range map[string]string{
		"id":      "#!/bin/sh\necho 1000\n",
		"python3": "#!/bin/sh\nexit 1\n", // no venv module
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	cmd := exec.Command(bash, "scripts/deps.sh")
	cmd.Env = []string{"PATH=" + bin} // no chromium, no gcc
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "sudo apt-get install -y --no-install-recommends chromium gcc python3-venv") {
		t.Fatalf("%v: %s", err, out)
	}
}
