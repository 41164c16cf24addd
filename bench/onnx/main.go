// Command onnx is the ONNX benchmark of `make bench`: skl2onnx's
// conversions of a 100-tree depth-8 random forest, a StandardScaler +
// LogisticRegression pipeline and a StandardScaler + SVC(probability=True)
// pipeline (20 features), saved by mlflow.onnx,
// compiled by mlbox and run in its serving runtime, against onnxruntime
// on the same model.onnx (one thread); in the same run, as ratios. See
// docs/performance.md.
//
//	go run ./bench/onnx [--python .venv/bin/python] [--benchtime 2s] [--count 5]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"

	"mlbox/bench/internal/benchutil"
	"mlbox/bench/internal/gobench"
)

var (
	python    = flag.String("python", ".venv/bin/python", "`PATH` of the Python with mlflow, skl2onnx and onnxruntime (make venv)")
	benchtime = flag.String("benchtime", "2s", "go test -benchtime for the mlbox side")
	count     = flag.Int("count", 5, "go test -count for the mlbox side: the median of this many runs is reported")
	workDir   = flag.String("dir", "", "`DIR` for the models (default: a temporary directory, removed at the end)")
)

type ortBaseline struct {
	Batch float64 `json:"ort_batch"`
	Row   float64 `json:"ort_row"`
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "onnx:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	dir, cleanup, err := benchutil.WorkDir(*workDir, "mlbox-bench-onnx-")
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Printf("ONNX benchmark: %d CPUs, %s/%s, %s; models in %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), dir)
	start := time.Now()
	var res map[string]json.RawMessage
	if err := benchutil.PythonJSON(exec.CommandContext(ctx, *python, "bench/onnx/onnx_models.py", dir), &res); err != nil {
		return err
	}
	base := map[string]ortBaseline{}
	for _, name := range []string{"forest", "pipeline", "svc"} {
		var b ortBaseline
		if err := json.Unmarshal(res[name], &b); err != nil {
			return err
		}
		base[name] = b
	}
	fmt.Printf("trained and measured onnxruntime in %v (versions %s)\n", time.Since(start).Round(time.Second), res["versions"])

	med, _, err := gobench.Run(ctx, "ONNX", "./serve/compile/", *benchtime, *count, "MLBOX_BENCH_ONNX="+dir)
	if err != nil {
		return err
	}
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	us := func(ns float64) float64 { return ns / 1000 }
	fmt.Println()
	fmt.Println("| | mlbox | onnxruntime (same run) | ratio | target | met |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, c := range []struct {
		name, what string
		target     float64
	}{{"forest", "random forest, 100 trees depth 8", 0.75}, {"pipeline", "StandardScaler + LogisticRegression", 1.0},
		{"svc", "StandardScaler + SVC(probability=True)", 0}} { // 0: no target (the issue set none)
		b := base[c.name]
		mb, mr := us(med["ONNXPredict/"+c.name+"/batch=1000"]), us(med["ONNXPredict/"+c.name+"/batch=1"])
		tb, mtb, tr, mtr := fmt.Sprintf("≤ %.2f×", c.target), yes(mb <= c.target*b.Batch), "≥ 3×", yes(b.Row/mr >= 3)
		if c.target == 0 {
			tb, mtb, tr, mtr = "—", "—", "—", "—"
		}
		fmt.Printf("| %s, batch of 1,000 | %.3f µs/row | %.3f µs/row | %.2f× | %s | %s |\n", c.what, mb, b.Batch, mb/b.Batch, tb, mtb)
		fmt.Printf("| %s, one row per call | %.3f µs | %.3f µs | %.1f× faster | %s | %s |\n", c.what, mr, b.Row, b.Row/mr, tr, mtr)
		fmt.Printf("| %s, compile | %.1f ms | | | | |\n", c.what, med["ONNXCompile/"+c.name]/1e6)
	}
	return nil
}
