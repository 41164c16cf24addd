package serve

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestGoModuleFailures builds testdata/gomodel, a Go wasip1 module that
// panics, loops and exhausts its memory on request, and checks that real Go
// failures surface as the ABI says: a panic is a trap carrying the panic
// text, a loop is interrupted, running out of memory is a trap, and the
// pool recovers each time.
func TestGoModuleFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go wasm module")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	wasmPath := filepath.Join(t.TempDir(), "gomodel.wasm")
	cmd := exec.Command(gobin, "build", "-buildmode=c-shared", "-o", wasmPath, "./testdata/gomodel")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 2, MemoryLimitPages: 128, CallTimeout: 300 * time.Millisecond})
	m := mustLoad(t, r, wasm)
	ctx := context.Background()
	cases := []struct {
		name     string
		mode     float64
		kind     ErrorKind
		fragment string
	}{
		{"panic", 1, KindTrap, "panic: assignment to entry in nil map"},
		{"infinite loop", 2, KindTimeout, "deadline"},
		{"out of memory", 3, KindTrap, "out of memory"},
		{"reported", 4, KindModelReported, "go says no"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Predict(ctx, []float64{tc.mode, 0.5}, 1)
			merr := wantModelError(t, err, tc.kind, tc.fragment)
			t.Logf("%s: %v", tc.name, merr)
			got, err := m.Predict(ctx, []float64{10, 0.5, 20, 1}, 2)
			if err != nil {
				t.Fatalf("call after %s: %v", tc.name, err)
			}
			equal(t, got, []float64{10.5, 21})
			waitLive(t, m)
		})
	}
	if s := m.Stats(); s.Replaced != 3 {
		t.Fatalf("stats %+v", s)
	}
}
