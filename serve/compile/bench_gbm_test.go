package compile_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"mlbox/serve"
	"mlbox/serve/compile"
	"mlbox/serve/compile/wasmgen"
)

// The boosted-tree benchmarks of `make bench` (bench/gbm runs them):
// MLBOX_BENCH_GBM is the directory bench/gbm/gbm_models.py wrote
// (xgboost/ and lightgbm/, MLflow model directories as mlflow.xgboost and
// mlflow.lightgbm save them, and rows.json: held-out rows and each
// library's predict_proba on them). Without it they are skipped.
//
//	BenchmarkGBMCompile/NAME        front end and code generation, from the files' bytes
//	BenchmarkGBMCacheHit/NAME       a compiled module read back from the cache
//	BenchmarkGBMLoad/NAME           wazero compiling the module
//	BenchmarkGBMPredict/NAME/batch=1000, batch=1   ns/row in the serving runtime

var gbmModels = []string{"xgboost", "lightgbm"}

// gbmOptions are the code generator's options for BenchmarkGBMPredict:
// the defaults, or MLBOX_BENCH_RUNGROUP trees per loop iteration, and
// with MLBOX_BENCH_UNSORTED=1 deep runs in tree order.
func gbmOptions() wasmgen.Options {
	n, _ := strconv.Atoi(os.Getenv("MLBOX_BENCH_RUNGROUP"))
	h, _ := strconv.Atoi(os.Getenv("MLBOX_BENCH_HEAD"))
	return wasmgen.Options{RunGroup: n, UnsortedRuns: os.Getenv("MLBOX_BENCH_UNSORTED") != "", HeadLevels: h}
}

func gbmDir(b *testing.B) (string, map[string][][]float64, [][]float64) {
	return benchData(b, "MLBOX_BENCH_GBM", gbmModels)
}

// benchData reads the directory the environment variable env names (the
// benchmark is skipped without it): its rows.json holds "data" (the rows)
// and, for each model, the reference library's answers on them.
func benchData(b *testing.B, env string, models []string) (string, map[string][][]float64, [][]float64) {
	dir := os.Getenv(env)
	if dir == "" {
		b.Skip(env + " is not set (make bench sets it)")
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
	for _, name := range models {
		var w [][]float64
		if err := json.Unmarshal(r[name], &w); err != nil {
			b.Fatal(err)
		}
		want[name] = w
	}
	return dir, want, data
}

func BenchmarkGBMCompile(b *testing.B) {
	dir, _, _ := gbmDir(b)
	for _, name := range gbmModels {
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

func BenchmarkGBMCacheHit(b *testing.B) {
	dir, _, _ := gbmDir(b)
	c, err := compile.OpenCache(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range gbmModels {
		b.Run(name, func(b *testing.B) {
			src := benchSource(b, filepath.Join(dir, name))
			mod, err := src.Compile(wasmgen.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Put(src.Key, mod.Wasm); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				// What a restart does: read the model files, hash them, find the module.
				src := benchSource(b, filepath.Join(dir, name))
				if _, ok, err := c.Get(src.Key); err != nil || !ok {
					b.Fatal("cache miss", err)
				}
			}
		})
	}
}

func BenchmarkGBMLoad(b *testing.B) {
	dir, _, _ := gbmDir(b)
	ctx := context.Background()
	for _, name := range gbmModels {
		b.Run(name, func(b *testing.B) {
			mod, err := benchSource(b, filepath.Join(dir, name)).Compile(wasmgen.Options{})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
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

func BenchmarkGBMPredict(b *testing.B) {
	dir, want, data := gbmDir(b)
	// The libraries' answers: XGBoost in float32, LightGBM in float64.
	benchPredict(b, dir, gbmModels, data, want, gbmOptions(), func(name string, got, want float64) bool {
		tol := 1e-6
		if name == "lightgbm" {
			tol = 1e-9
		}
		return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
	})
}

// benchPredict compiles each model of dir, checks its answers on data
// against want (close), and measures ns/row in the serving runtime, a
// batch of all the rows and one row per call.
func benchPredict(b *testing.B, dir string, models []string, data [][]float64, want map[string][][]float64,
	opts wasmgen.Options, close func(name string, got, want float64) bool) {
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
	for _, name := range models {
		mod, err := benchSource(b, filepath.Join(dir, name)).Compile(opts)
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
		for i, p := range want[name] {
			for k := range p {
				if !close(name, out[i*no+k], p[k]) {
					b.Fatalf("%s row %d: %v, the reference %v", name, i, out[i*no:(i+1)*no], p)
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
