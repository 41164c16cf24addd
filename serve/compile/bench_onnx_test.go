package compile_test

import (
	"math"
	"path/filepath"
	"testing"

	"mlbox/serve/compile/wasmgen"
)

// The ONNX benchmarks of `make bench` (bench/onnx runs them):
// MLBOX_BENCH_ONNX is the directory bench/onnx/onnx_models.py wrote
// (forest/, pipeline/ and svc/, MLflow model directories as mlflow.onnx saves
// them, and rows.json: held-out rows and onnxruntime's probabilities on
// them). Without it they are skipped.
//
//	BenchmarkONNXCompile/NAME                     front end and code generation
//	BenchmarkONNXPredict/NAME/batch=1000, batch=1   ns/row in the serving runtime

var onnxModels = []string{"forest", "pipeline", "svc"}

func BenchmarkONNXCompile(b *testing.B) {
	dir, _, _ := benchData(b, "MLBOX_BENCH_ONNX", onnxModels)
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
	dir, want, data := benchData(b, "MLBOX_BENCH_ONNX", onnxModels)
	// onnxruntime's answers, float32.
	benchPredict(b, dir, onnxModels, data, want, wasmgen.Options{}, func(_ string, got, want float64) bool {
		return math.Abs(got-want) <= 1e-6*math.Abs(want)+1e-7
	})
}
