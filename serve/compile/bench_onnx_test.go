package compile_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"mlbox/serve"
	"mlbox/serve/compile/wasmgen"
)

// The ONNX benchmarks of `make bench` (bench/onnx runs them):
// MLBOX_BENCH_ONNX is the directory bench/onnx/onnx_models.py wrote
// (forest/ and pipeline/, MLflow model directories as mlflow.onnx saves
// them, and rows.json: held-out rows and onnxruntime's probabilities on
// them). Without it they are skipped.
//
//	BenchmarkONNXCompile/NAME                     front end and code generation
//	BenchmarkONNXPredict/NAME/batch=1000, batch=1   ns/row in the serving runtime

var onnxModels = []string{"forest", "pipeline"}

func onnxDir(b *testing.B) (string, map[string][][]float64, [][]float64) {
	dir := os.Getenv("MLBOX_BENCH_ONNX")
	if dir == "" {
		b.Skip("MLBOX_BENCH_ONNX is not set (make bench sets it)")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "rows.json"))
	if err != nil {
		b.Fatal(err)
	}
	var r map[string]json.RawMessage
	if err := json.Unmarshal(raw, &r); err != nil {
		b.Fatal(err)
	}
	var data [][]float64
	if err := json.Unmarshal(r["data"], &data); err != nil {
		b.Fatal(err)
	}
	want := map[string][][]float64{}
	for _, name := range onnxModels {
		var w [][]float64
		if err := json.Unmarshal(r[name], &w); err != nil {
			b.Fatal(err)
		}
		want[name] = w
	}
	return dir, want, data
}

func BenchmarkONNXCompile(b *testing.B) {
	dir, _, _ := onnxDir(b)
	for _, name := range onnxModels {
		b.Run(name, func(b *testing.B) {
			src := benchSource(b, filepath.Join(dir, name))
			for b.Loop() {
				if _, err := src.Compile(wasmgen.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkONNXPredict(b *testing.B) {
	dir, want, data := onnxDir(b)
	ctx := context.Background()
	rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{PoolSize: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	var in []float64
	for _, r := range data {
		in = append(in, r...)
	}
	nf, n := len(data[0]), len(data)
	for _, name := range onnxModels {
		mod, err := benchSource(b, filepath.Join(dir, name)).Compile(wasmgen.Options{})
		if err != nil {
			b.Fatal(err)
		}
		m, err := rt.LoadWith(ctx, mod.Wasm, serve.LoadOptions{Trusted: true})
		if err != nil {
			b.Fatal(err)
		}
		no := m.Meta().NOutputs
		out := make([]float64, n*no)
		if err := m.PredictInto(ctx, out, in, n); err != nil {
			b.Fatal(err)
		}
		for i, p := range want[name] { // onnxruntime's answers, float32
			for k := range p {
				if d := math.Abs(out[i*no+k] - p[k]); d > 1e-6*math.Abs(p[k])+1e-7 {
					b.Fatalf("%s row %d: %v, onnxruntime %v", name, i, out[i*no:(i+1)*no], p)
				}
			}
		}
		b.Run(name+"/batch=1000", func(b *testing.B) {
			for b.Loop() {
				if err := m.PredictInto(ctx, out, in, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
		})
		b.Run(name+"/batch=1", func(b *testing.B) {
			i := 0
			for b.Loop() {
				if err := m.PredictInto(ctx, out[:no], in[i*nf:(i+1)*nf], 1); err != nil {
					b.Fatal(err)
				}
				i = (i + 1) % n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
		})
		m.Close()
	}
}
