package compile_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"mlbox/serve"
	"mlbox/serve/compile/onnx"
	"mlbox/serve/compile/wasmgen"
	"mlbox/serve/internal/zootest"
)

// TestONNXModules compiles every ONNX test model (onnx/testdata, whose
// reference evaluation onnx's own tests check against onnxruntime) to a
// module and checks, in the serving runtime, that the module answers what
// the evaluator does on the rows onnxruntime was run on: one row a call
// and all rows as one batch.
func TestONNXModules(t *testing.T) {
	b, err := os.ReadFile("onnx/testdata/expect.json")
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]struct {
		Rows [][]any `json:"rows"`
	}
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	sort.Strings(names)
	ctx := context.Background()
	rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			m, err := onnx.Load(filepath.Join("onnx/testdata", name), "model.onnx", onnx.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			low, err := onnx.Lower(m)
			if err != nil {
				t.Fatal(err)
			}
			im := low.Model
			wasm, err := wasmgen.Generate(im, wasmgen.Options{})
			if err != nil {
				t.Fatal(err)
			}
			mod, err := rt.Load(ctx, wasm)
			if err != nil {
				t.Fatal(err)
			}
			defer mod.Close()
			var cols []string
			for _, in := range im.Inputs {
				cols = append(cols, in.Name)
			}
			var batch []float64
			for _, row := range all[name].Rows {
				x, err := zootest.EncodeRow(im.Inputs, cols, row)
				if err != nil {
					t.Fatal(err)
				}
				batch = append(batch, x...)
			}
			rows := len(all[name].Rows)
			whole, err := mod.Predict(ctx, batch, rows)
			if err != nil {
				t.Fatal(err)
			}
			nf, no := len(im.Inputs), len(im.Out)
			for r := range rows {
				in := batch[r*nf : (r+1)*nf]
				want, err := im.Eval(in)
				if err != nil {
					t.Fatal(err)
				}
				one, err := mod.Predict(ctx, in, 1)
				if err != nil {
					t.Fatal(err)
				}
				for k := range want {
					for _, got := range []float64{one[k], whole[r*no+k]} {
						if !zootest.Close(got, want[k], 1e-12) && !(math.IsNaN(got) && math.IsNaN(want[k])) {
							t.Fatalf("row %d output %d: module %v, evaluator %v", r, k, got, want[k])
						}
					}
				}
			}
		})
	}
}
