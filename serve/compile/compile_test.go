package compile_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"mlbox/serve"
	"mlbox/serve/compile"
	"mlbox/serve/compile/wasmgen"
	"mlbox/serve/internal/zootest"
)

// TestZooModules compiles every fixture to a module, loads it in the
// serving runtime (which checks the ABI and warms it), and checks its
// predictions against scikit-learn's and against the reference evaluator:
// trees bit for bit, the rest within 1e-12 of the evaluator.
func TestZooModules(t *testing.T) {
	ctx := context.Background()
	rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	var dirs []string
	for _, fe := range []string{"sklearn", "xgboost", "lightgbm"} {
		if _, err := os.Stat(filepath.Join(fe, "testdata")); err != nil && fe != "sklearn" {
			continue // a front end without fixtures (yet)
		}
		d, err := zootest.Dirs(fe)
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d...)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(filepath.Dir(dir))+"/"+filepath.Base(dir), func(t *testing.T) {
			c, err := zootest.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			mlm, err := os.ReadFile(filepath.Join(dir, "MLmodel"))
			if err != nil {
				t.Fatal(err)
			}
			src, err := compile.Read(mlm, zootest.Reader(dir))
			if err != nil {
				t.Fatal(err)
			}
			mod, err := src.Compile(wasmgen.Options{})
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			model, err := rt.Load(ctx, mod.Wasm)
			if err != nil {
				t.Fatalf("%s: loading the module: %v", c.Name, err)
			}
			defer model.Close()
			meta := model.Meta()
			if meta.NFeatures != len(mod.Model.Inputs) || len(meta.Columns) != meta.NFeatures || meta.PredictFn != mod.Model.PredictFn {
				t.Fatalf("metadata %+v", meta)
			}
			tol := 1e-12
			if c.Exact() {
				tol = 0
			}
			err = c.Check(mod.Model, func(in []float64) ([]float64, error) {
				out, err := model.Predict(ctx, in, 1)
				if err != nil {
					return nil, err
				}
				ref, err := mod.Model.Eval(in)
				if err != nil {
					return nil, err
				}
				for k := range ref {
					if !zootest.Close(out[k], ref[k], tol) && !(math.IsNaN(out[k]) && math.IsNaN(ref[k])) {
						t.Errorf("output %d: module %v, evaluator %v", k, out, ref)
						break
					}
				}
				return out, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// The same rows as one batch.
			var batch []float64
			for _, row := range c.Rows {
				in, _ := zootest.EncodeRow(mod.Model.Inputs, c.Columns, row)
				batch = append(batch, in...)
			}
			if out, err := model.Predict(ctx, batch, len(c.Rows)); err == nil {
				i := 0
				err = c.Check(mod.Model, func([]float64) ([]float64, error) {
					o := out[i*meta.NOutputs : (i+1)*meta.NOutputs]
					i++
					return o, nil
				})
			}
			if err != nil {
				t.Fatalf("batch: %v", err)
			}
		})
	}
}
