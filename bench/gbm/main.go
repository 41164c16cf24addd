// Command gbm is the boosted-tree benchmark of `make bench`: XGBoost with
// 500 trees of depth 6 and LightGBM with 500 trees of 31 leaves on 20
// features, as mlflow.xgboost and mlflow.lightgbm save them, compiled by
// mlbox and run in its serving runtime, against the libraries themselves
// (XGBoost's inplace_predict, LightGBM's Booster.predict, one thread),
// onnxruntime on the onnxmltools conversion and, where it installs,
// lleaves (LLVM) for LightGBM; in the same run, as ratios. See
// docs/performance.md.
//
//	go run ./bench/gbm [--python .venv/bin/python] [--benchtime 2s]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"mlbox/bench/internal/gobench"

	"mlbox/bench/internal/benchutil"
)

var (
	python    = flag.String("python", ".venv/bin/python", "`PATH` of the Python with mlflow, xgboost, lightgbm, onnxmltools and onnxruntime (make venv)")
	lleavesPy = flag.String("lleaves-python", "", "`PATH` of a Python with lleaves; empty: build the cached venv of bench/gbm/requirements-lleaves.txt (skipped if it does not install)")
	benchtime = flag.String("benchtime", "2s", "go test -benchtime for the mlbox side")
	count     = flag.Int("count", 5, "go test -count for the mlbox side: the median of this many runs is reported")
	jsonPath  = flag.String("json", "", "also write the results to `FILE`")
	workDir   = flag.String("dir", "", "`DIR` for the models (default: a temporary directory, removed at the end)")
)

type libBaseline struct {
	LibBatch float64 `json:"lib_batch"`
	LibRow   float64 `json:"lib_row"`
	OrtBatch float64 `json:"ort_batch"`
	OrtRow   float64 `json:"ort_row"`
	OrtError string  `json:"ort_error,omitempty"`
}

type lleavesResult struct {
	Batch   float64 `json:"lleaves_batch"`
	Row     float64 `json:"lleaves_row"`
	Compile float64 `json:"compile_s"`
	MaxDiff float64 `json:"max_abs_diff"`
	Skipped string  `json:"skipped,omitempty"`
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench/gbm [flags]\n\nThe boosted-tree benchmark. See docs/performance.md.\n\nflags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gbm:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	dir, cleanup, err := benchutil.WorkDir(*workDir, "mlbox-bench-gbm-")
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Printf("boosted-tree benchmark: %d CPUs, %s/%s, %s; models in %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), dir)

	// 1. Train, save with MLflow, measure the libraries and onnxruntime.
	start := time.Now()
	cmd := exec.CommandContext(ctx, *python, "bench/gbm/gbm_models.py", dir)
	cmd.Env = append(os.Environ(), "MLFLOW_TRACKING_URI=sqlite:///"+filepath.Join(dir, "mlflow.db"))
	var res map[string]json.RawMessage
	if err := benchutil.PythonJSON(cmd, &res); err != nil {
		return err
	}
	base := map[string]libBaseline{}
	for _, name := range []string{"xgboost", "lightgbm"} {
		var b libBaseline
		if err := json.Unmarshal(res[name], &b); err != nil {
			return fmt.Errorf("gbm_models.py: %s: %v", name, err)
		}
		base[name] = b
	}
	fmt.Printf("trained and measured the libraries in %v (versions %s)\n", time.Since(start).Round(time.Second), res["versions"])

	// 2. lleaves, in its own venv.
	ll := runLleaves(ctx, dir)

	// 3. mlbox in process.
	mlbox, runs, err := gobench.Run(ctx, "GBM", "./serve/compile/", *benchtime, *count, "MLBOX_BENCH_GBM="+dir)
	if err != nil {
		return err
	}

	// 4. The table.
	us := func(ns float64) float64 { return ns / 1000 }
	type row struct{ what, mlbox, base, ratio, target, met string }
	var rows []row
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	x, l := base["xgboost"], base["lightgbm"]
	xb, xr := us(mlbox["GBMPredict/xgboost/batch=1000"]), us(mlbox["GBMPredict/xgboost/batch=1"])
	lb, lr := us(mlbox["GBMPredict/lightgbm/batch=1000"]), us(mlbox["GBMPredict/lightgbm/batch=1"])
	rows = append(rows,
		row{"XGBoost, batch of 1,000", f3(xb) + " µs/row", "XGBoost " + f3(x.LibBatch) + ", onnxruntime " + f3(x.OrtBatch), f2(xb/x.LibBatch) + "× XGBoost", "≤ 1×", yes(xb <= x.LibBatch)},
		row{"XGBoost, one row per call", f3(xr) + " µs", "XGBoost " + f3(x.LibRow) + ", onnxruntime " + f3(x.OrtRow), f1(x.LibRow/xr) + "× / " + f1(x.OrtRow/xr) + "× faster", "≥ 5× and > 1×", yes(x.LibRow/xr >= 5 && x.OrtRow > xr)},
	)
	llb := "lleaves: " + ll.Skipped
	llok := true
	if ll.Skipped == "" {
		llb = "lleaves " + f3(ll.Batch)
		llok = lb <= 1.5*ll.Batch
	}
	rows = append(rows,
		row{"LightGBM, batch of 1,000", f3(lb) + " µs/row", "LightGBM " + f3(l.LibBatch) + ", onnxruntime " + f3(l.OrtBatch) + ", " + llb, f2(lb/l.LibBatch) + "× LightGBM" + llRatio(lb, ll), "≤ 0.5× and ≤ 1.5× lleaves", yes(lb <= 0.5*l.LibBatch && llok)},
		row{"LightGBM, one row per call", f3(lr) + " µs", "LightGBM " + f3(l.LibRow) + ", onnxruntime " + f3(l.OrtRow) + llRow(ll), f1(l.LibRow/lr) + "× / " + f1(l.OrtRow/lr) + "× faster", "≥ 5× and > 1×", yes(l.LibRow/lr >= 5 && l.OrtRow > lr)},
	)
	for _, name := range []string{"xgboost", "lightgbm"} {
		c := mlbox["GBMCompile/"+name] / 1e6
		ld := mlbox["GBMLoad/"+name] / 1e6
		hit := mlbox["GBMCacheHit/"+name] / 1e6
		rows = append(rows, row{"compile " + name + ", 500 trees", fmt.Sprintf("%.1f ms + %.1f ms wazero", c, ld), fmt.Sprintf("cached: %.1f ms to find it again", hit), "", "< 1 s", yes(c+ld < 1000)})
	}
	fmt.Println()
	fmt.Println("| | mlbox | baselines (same run) | ratio | target | met |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", r.what, r.mlbox, r.base, r.ratio, r.target, r.met)
	}
	if ll.Skipped == "" {
		fmt.Printf("\nlleaves compiled the LightGBM model in %.1f s (max |diff| to LightGBM %.2g).\n", ll.Compile, ll.MaxDiff)
	}
	if *jsonPath != "" {
		b, _ := json.MarshalIndent(map[string]any{"cores": runtime.NumCPU(), "libraries": base, "lleaves": ll, "mlbox_ns": mlbox, "mlbox_runs_ns": runs}, "", "  ")
		if err := os.WriteFile(*jsonPath, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func runLleaves(ctx context.Context, dir string) lleavesResult {
	py := *lleavesPy
	if py == "" {
		out, err := exec.CommandContext(ctx, "scripts/venv.sh", "bench/gbm/requirements-lleaves.txt", ".venv-lleaves").Output()
		if err != nil {
			return lleavesResult{Skipped: "its venv did not build (" + err.Error() + ")"}
		}
		py = filepath.Join(strings.TrimSpace(string(out)), "bin", "python")
	}
	cmd := exec.CommandContext(ctx, py, "bench/gbm/lleaves_bench.py", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return lleavesResult{Skipped: fmt.Sprintf("failed (%v: %s)", err, benchutil.Tail(stderr.String(), 300))}
	}
	var r lleavesResult
	if err := json.Unmarshal(out, &r); err != nil {
		return lleavesResult{Skipped: fmt.Sprintf("printed %q", benchutil.Tail(string(out), 200))}
	}
	return r
}

func llRatio(lb float64, ll lleavesResult) string {
	if ll.Skipped != "" {
		return ""
	}
	return ", " + f2(lb/ll.Batch) + "× lleaves"
}

func llRow(ll lleavesResult) string {
	if ll.Skipped != "" {
		return ""
	}
	return ", lleaves " + f3(ll.Row)
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
func f3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
