package compile_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"mlbox/serve"
	"mlbox/serve/compile"
	"mlbox/serve/compile/wasmgen"
	"mlbox/serve/internal/zootest"
)

// The compiled-model benchmarks of `make bench` (bench/serve runs them):
// MLBOX_BENCH_MODELS is the directory bench/serve/sklearn_models.py
// wrote (forest/ and pipeline/, MLflow model directories, and rows.json:
// held-out rows and scikit-learn's predict_proba on them). Without it
// they are skipped.
//
//	BenchmarkCompile/NAME          the compiler: MLmodel and model file to module bytes
//	BenchmarkCompiledLoad/NAME     wazero compiling and warming the module
//	BenchmarkCompiledPredict/NAME/batch=1000, batch=1
//	                               the module in the serving runtime, ns/row

type benchRows struct {
	Data     [][]float64 `json:"data"`
	Forest   [][]float64 `json:"forest"`
	Pipeline [][]float64 `json:"pipeline"`
}

func benchModels(b *testing.B) (string, *benchRows) {
	dir := os.Getenv("MLBOX_BENCH_MODELS")
	if dir == "" {
		b.Skip("MLBOX_BENCH_MODELS is not set (make bench sets it)")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "rows.json"))
	if err != nil {
		b.Fatal(err)
	}
	var r benchRows
	if err := json.Unmarshal(raw, &r); err != nil {
		b.Fatal(err)
	}
	return dir, &r
}

func benchSource(b *testing.B, dir string) *compile.Source {
	mlm, err := os.ReadFile(filepath.Join(dir, "MLmodel"))
	if err != nil {
		b.Fatal(err)
	}
	src, err := compile.Read(mlm, zootest.Reader(dir))
	if err != nil {
		b.Fatal(err)
	}
	return src
}

func BenchmarkCompile(b *testing.B) {
	dir, _ := benchModels(b)
	for _, name := range []string{"forest", "pipeline"} {
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

func BenchmarkCompiledLoad(b *testing.B) {
	dir, _ := benchModels(b)
	ctx := context.Background()
	for _, name := range []string{"forest", "pipeline"} {
		b.Run(name, func(b *testing.B) {
			mod, err := benchSource(b, filepath.Join(dir, name)).Compile(wasmgen.Options{})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				// A fresh runtime each time: no compiled code is reused.
				rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{PoolSize: 1})
				if err != nil {
					b.Fatal(err)
				}
				m, err := rt.LoadWith(ctx, mod.Wasm, serve.LoadOptions{Trusted: true})
				if err != nil {
					b.Fatal(err)
				}
				m.Close()
				rt.Close(ctx)
			}
		})
	}
}

func BenchmarkCompiledPredict(b *testing.B) {
	dir, rows := benchModels(b)
	ctx := context.Background()
	rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{PoolSize: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	var in []float64
	for _, r := range rows.Data {
		in = append(in, r...)
	}
	nf, n := len(rows.Data[0]), len(rows.Data)
	for _, name := range []string{"forest", "pipeline"} {
		want := rows.Forest
		if name == "pipeline" {
			want = rows.Pipeline
		}
		mod, err := benchSource(b, filepath.Join(dir, name)).Compile(wasmgen.Options{})
		if err != nil {
			b.Fatal(err)
		}
		// Trusted, as the server loads the modules it compiled.
		m, err := rt.LoadWith(ctx, mod.Wasm, serve.LoadOptions{Trusted: true})
		if err != nil {
			b.Fatal(err)
		}
		out := make([]float64, n*m.Meta().NOutputs)
		// The answers are scikit-learn's (trees exactly).
		if err := m.PredictInto(ctx, out, in, n); err != nil {
			b.Fatal(err)
		}
		for i, p := range want {
			for k := range p {
				if d := math.Abs(out[i*len(p)+k] - p[k]); d > 1e-9 || name == "forest" && d != 0 {
					b.Fatalf("%s row %d: %v, scikit-learn %v", name, i, out[i*len(p):(i+1)*len(p)], p)
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
				if err := m.PredictInto(ctx, out[:m.Meta().NOutputs], in[i*nf:(i+1)*nf], 1); err != nil {
					b.Fatal(err)
				}
				i = (i + 1) % n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
		})
		m.Close()
	}
}
