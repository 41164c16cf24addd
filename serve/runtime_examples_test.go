package serve

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The example models of examples/ are committed built, so these tests need
// no Rust or wasm toolchain.

func examplePath(name, file string) string { return filepath.Join("..", "examples", name, file) }

func readExample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(examplePath(name, "model.wasm"))
	if err != nil {
		t.Fatalf("%v (build it with scripts/examples.sh)", err)
	}
	return b
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type irisReference struct {
	Features []string    `json:"features"`
	Classes  []string    `json:"classes"`
	Inputs   [][]float64 `json:"inputs"`
	Probs    [][]float64 `json:"probabilities"`
	Labels   []string    `json:"labels"`
}

func TestIrisGoMatchesReference(t *testing.T) { checkIris(t, readExample(t, "iris-go")) }

func checkIris(t *testing.T, wasm []byte) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 2})
	m := mustLoad(t, r, wasm)
	meta := m.Meta()
	var ref irisReference
	readJSON(t, examplePath("iris-go", "reference_predictions.json"), &ref)
	if meta.Task != Classification || meta.NFeatures != 4 || meta.NOutputs != 3 || meta.DType != F64 {
		t.Fatalf("metadata %+v", meta)
	}
	for i, n := range ref.Features {
		if meta.FeatureNames[i] != n {
			t.Fatalf("feature %d is %q, reference says %q", i, meta.FeatureNames[i], n)
		}
	}
	for i, n := range ref.Classes {
		if meta.OutputNames[i] != n {
			t.Fatalf("class %d is %q, reference says %q", i, meta.OutputNames[i], n)
		}
	}
	// The whole reference as one batch, and row by row.
	var in []float64
	for _, x := range ref.Inputs {
		in = append(in, x...)
	}
	batch, err := m.Predict(context.Background(), in, len(ref.Inputs))
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range ref.Inputs {
		row, err := m.Predict(context.Background(), x, 1)
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range ref.Probs[i] {
			for _, got := range []float64{batch[i*3+k], row[k]} {
				// Native Go and wasm may differ in the last bits of math.Exp.
				if math.Abs(got-want) > 1e-12 {
					t.Fatalf("row %d class %d: got %v, want %v", i, k, got, want)
				}
			}
		}
		best := 0
		for k := range row {
			if row[k] > row[best] {
				best = k
			}
		}
		if meta.OutputNames[best] != ref.Labels[i] {
			t.Fatalf("row %d: label %q, want %q", i, meta.OutputNames[best], ref.Labels[i])
		}
	}

	// The module validates its input and says why.
	_, err = m.Predict(context.Background(), []float64{5, 3, math.NaN(), 1}, 1)
	wantModelError(t, err, KindModelReported, "petal_length is not a finite number")

	// Its training profile matches its metadata.
	b, err := os.ReadFile(examplePath("iris-go", "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseProfile(b, &meta)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rows != 150 || len(p.Outputs) != 3 {
		t.Fatalf("profile %+v", p)
	}
	inst, err := m.pool.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a warm iris-go instance uses %d KiB of linear memory", inst.mem.Size()/1024)
	m.pool.put(inst)
}

// TestExamplesBuildFromSource runs scripts/examples.sh into a temporary
// directory and checks the modules it builds against the references. It
// needs Go and, for the forest, cargo with the wasm32-unknown-unknown
// target; it skips what it cannot build, and everything in -short mode.
func TestExamplesBuildFromSource(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the examples from source")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join("..", "scripts", "examples.sh"))
	cmd.Env = append(os.Environ(), "OUT_DIR="+out)
	b, err := cmd.CombinedOutput()
	t.Logf("scripts/examples.sh:\n%s", b)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("iris-go", func(t *testing.T) {
		wasm, err := os.ReadFile(filepath.Join(out, "iris-go", "model.wasm"))
		if err != nil {
			t.Fatal(err)
		}
		checkIris(t, wasm)
	})
	t.Run("forest-rust", func(t *testing.T) {
		wasm, err := os.ReadFile(filepath.Join(out, "forest-rust", "model.wasm"))
		if os.IsNotExist(err) {
			t.Skip("not built (no cargo or no wasm32-unknown-unknown target)")
		}
		if err != nil {
			t.Fatal(err)
		}
		checkForest(t, wasm)
	})
}

type forestReference struct {
	Features []string    `json:"features"`
	Inputs   [][]float64 `json:"inputs"`
	Outputs  [][]float64 `json:"outputs"`
}

func TestForestRustMatchesReference(t *testing.T) { checkForest(t, readExample(t, "forest-rust")) }

func checkForest(t *testing.T, wasm []byte) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 2})
	m := mustLoad(t, r, wasm)
	meta := m.Meta()
	if meta.Task != Regression || meta.NFeatures != 8 || meta.NOutputs != 1 || meta.DType != F32 || meta.OutputDType != F32 {
		t.Fatalf("metadata %+v", meta)
	}
	var ref forestReference
	readJSON(t, examplePath("forest-rust", "reference_predictions.json"), &ref)
	var in []float64
	for _, x := range ref.Inputs {
		in = append(in, x...)
	}
	got, err := m.Predict(context.Background(), in, len(ref.Inputs))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range ref.Outputs {
		if got[i] != want[0] { // dyadic values: exact in f32 on both sides
			t.Fatalf("row %d: got %v, want %v", i, got[i], want[0])
		}
	}
}
