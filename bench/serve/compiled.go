//go:build unix

package main

// The compiled-model part of the serving benchmark: scikit-learn models
// as users log them (a 100-tree depth-8 random forest and a
// StandardScaler + LogisticRegression pipeline on 20 features, trained
// by sklearn_models.py), registered in mlbox, which compiles them to
// wasm; measured in process against scikit-learn and onnxruntime, over
// HTTP against `mlflow models serve`, and for compile time.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"mlbox/bench/internal/benchutil"
)

// compiledModels are the models, by name, and their directories under
// the benchmark's temporary directory.
var compiledModels = []string{"forest", "pipeline"}

// skBaseline is what sklearn_models.py measured, µs per row.
type skBaseline struct {
	SklearnBatch float64 `json:"sklearn_batch"`
	SklearnRow   float64 `json:"sklearn_row"`
	OrtBatch     float64 `json:"ort_batch"`
	OrtRow       float64 `json:"ort_row"`
	OrtError     string  `json:"ort_error,omitempty"`
}

// compiledReport is the compiled-model part of the report.
type compiledReport struct {
	Baselines map[string]skBaseline `json:"baselines"`
	// InProcess: ns per row (batch=1000, batch=1) and ns per compile, by
	// benchmark name.
	InProcess map[string]float64 `json:"in_process"`
	// CompileState is each model's mlbox.compile tag once registered.
	CompileState map[string]string `json:"compile_state"`
	// Restart: a second start on the same data.
	RestartToServeMs float64 `json:"restart_to_serve_ms"`
	RestartCompiled  float64 `json:"restart_compiled"`
	RestartCached    float64 `json:"restart_cached"`
}

// trainSklearn runs sklearn_models.py into dir.
func trainSklearn(ctx context.Context, cfg *config, dir string) (map[string]skBaseline, error) {
	py, err := binPath(cfg.python)
	if err != nil {
		return nil, fmt.Errorf("python: %w (make venv, or pass --python)", err)
	}
	script, err := filepath.Abs("bench/serve/sklearn_models.py")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, py, script, dir)
	cmd.Env = append(os.Environ(), "MLFLOW_TRACKING_URI=file://"+filepath.Join(dir, "mlruns"), "MLFLOW_ALLOW_FILE_STORE=true")
	var res map[string]json.RawMessage
	if err := benchutil.PythonJSON(cmd, &res); err != nil {
		return nil, err
	}
	bl := map[string]skBaseline{}
	for _, name := range compiledModels {
		var b skBaseline
		if err := json.Unmarshal(res[name], &b); err != nil {
			return nil, fmt.Errorf("sklearn_models.py: %s: %v", name, err)
		}
		bl[name] = b
	}
	return bl, nil
}

// rest calls mlbox's MLflow REST API.
func rest(ctx context.Context, base, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s %s: HTTP %d %.300s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// registerModelDir uploads an MLflow model directory as the artifacts
// "model" of a new run (through the artifact proxy, as the client does),
// registers it as a new version of name and points champion at it.
func registerModelDir(ctx context.Context, base, name, dir string) (string, error) {
	var exp struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := rest(ctx, base, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "bench-" + name}, &exp); err != nil {
		return "", err
	}
	var run struct {
		Run struct {
			Info struct {
				RunID       string `json:"run_id"`
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := rest(ctx, base, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp.ExperimentID}, &run); err != nil {
		return "", err
	}
	root := strings.TrimLeft(strings.TrimPrefix(run.Run.Info.ArtifactURI, "mlflow-artifacts:"), "/")
	files, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if f.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			return "", err
		}
		u := base + "/api/2.0/mlflow-artifacts/artifacts/" + root + "/model/" + url.PathEscape(f.Name())
		req, _ := http.NewRequestWithContext(ctx, "PUT", u, bytes.NewReader(b))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("uploading %s: HTTP %d", f.Name(), resp.StatusCode)
		}
	}
	if err := rest(ctx, base, "POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": name}, nil); err != nil {
		return "", err
	}
	var mv struct {
		ModelVersion struct {
			Version string `json:"version"`
		} `json:"model_version"`
	}
	if err := rest(ctx, base, "POST", "/api/2.0/mlflow/model-versions/create", map[string]any{"name": name,
		"source": "runs:/" + run.Run.Info.RunID + "/model", "run_id": run.Run.Info.RunID}, &mv); err != nil {
		return "", err
	}
	v := mv.ModelVersion.Version
	return v, rest(ctx, base, "POST", "/api/2.0/mlflow/registered-models/alias", map[string]any{"name": name, "alias": "champion", "version": v}, nil)
}

// compileState waits for a version's mlbox.compile tag to leave pending.
func compileState(ctx context.Context, base, name, version string) (string, error) {
	deadline := time.Now().Add(120 * time.Second)
	for time.Now().Before(deadline) {
		var mv struct {
			ModelVersion struct {
				Tags []struct{ Key, Value string } `json:"tags"`
			} `json:"model_version"`
		}
		if err := rest(ctx, base, "GET", "/api/2.0/mlflow/model-versions/get?name="+url.QueryEscape(name)+"&version="+version, nil, &mv); err != nil {
			return "", err
		}
		for _, t := range mv.ModelVersion.Tags {
			if t.Key == "mlbox.compile" && t.Value != "pending" {
				return t.Value, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("%s v%s: not compiled within 120s", name, version)
}

// oneRowBody is an /invocations body of the first held-out row.
func oneRowBody(dir string) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "rows.json"))
	if err != nil {
		return nil, err
	}
	var rows struct {
		Columns []string    `json:"columns"`
		Data    [][]float64 `json:"data"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": rows.Columns, "data": rows.Data[:1]}})
}

// metricValue reads one sample from /metrics (0 when absent).
func metricValue(ctx context.Context, base, sample string) float64 {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

var reCompiledBench = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) ns/row)?`)

// compiledInProcess runs serve/compile's benchmarks on the models in dir.
func compiledInProcess(ctx context.Context, cfg *config, dir string) (map[string]float64, error) {
	res := map[string]float64{}
	err := goBench(ctx, cfg, "./serve/compile/", "Compile|CompiledLoad|CompiledPredict", []string{"MLBOX_BENCH_MODELS=" + dir}, func(line string) {
		if m := reCompiledBench.FindStringSubmatch(line); m != nil {
			v := m[2]
			if m[3] != "" {
				v = m[3]
			}
			res[m[1]], _ = strconv.ParseFloat(v, 64)
		}
	})
	return res, err
}

// checkCompiled adds the compiled-model targets (the ratios).
func (r *report) checkCompiled(cfg *config) {
	c := r.Compiled
	if c == nil {
		return
	}
	f, p := c.Baselines["forest"], c.Baselines["pipeline"]
	inp := func(name string) float64 { return c.InProcess[name] / 1000 } // µs
	add := func(what string, v float64, unit, limit string, met bool) {
		r.Targets = append(r.Targets, targetCheck{what, v, unit, limit, met})
	}
	if v := inp("CompiledPredict/forest/batch=1000"); v > 0 && f.OrtBatch > 0 {
		add(fmt.Sprintf("forest batch: %.2f µs/row vs onnxruntime %.2f", v, f.OrtBatch), v/f.OrtBatch, "x ort", "<= 0.75", v/f.OrtBatch <= 0.75)
	}
	if v := inp("CompiledPredict/forest/batch=1"); v > 0 && f.OrtRow > 0 {
		add(fmt.Sprintf("forest one row: %.2f µs vs onnxruntime %.1f", v, f.OrtRow), f.OrtRow/v, "x faster", ">= 3", f.OrtRow/v >= 3)
		add(fmt.Sprintf("forest one row: %.2f µs vs scikit-learn %.0f", v, f.SklearnRow), f.SklearnRow/v, "x faster", ">= 500", f.SklearnRow/v >= 500)
	}
	if v := inp("CompiledPredict/pipeline/batch=1000"); v > 0 && p.OrtBatch > 0 {
		add(fmt.Sprintf("pipeline batch: %.1f ns/row vs onnxruntime %.1f", v*1000, p.OrtBatch*1000), v/p.OrtBatch, "x ort", "<= 1", v/p.OrtBatch <= 1)
	}
	ml, mb := r.find(r.Closed, r.bestMLflowOf("pipeline"), 16), r.find(r.Closed, "mlbox pipeline /invocations", 16)
	if ml != nil && mb != nil && ml.RPS > 0 {
		add(fmt.Sprintf("pipeline /invocations at 16 conns: %.0f vs mlflow %.0f req/s", mb.RPS, ml.RPS), mb.RPS/ml.RPS, "x mlflow", ">= 50", mb.RPS/ml.RPS >= 50)
	}
	if v := c.InProcess["Compile/forest"] + c.InProcess["CompiledLoad/forest"]; v > 0 {
		add("forest compile (front end + code + wazero)", v/1e9, "s", "< 0.5", v/1e9 < 0.5)
	}
	if c.RestartToServeMs > 0 {
		add(fmt.Sprintf("models compiled after a restart (served in %.0f ms)", c.RestartToServeMs), c.RestartCompiled, "", "== 0", c.RestartCompiled == 0)
	}
}

// bestMLflowOf names the better mlflow variant of a model.
func (r *report) bestMLflowOf(model string) string {
	best, name := 0.0, ""
	for _, c := range r.Closed {
		if strings.HasPrefix(c.Target, "mlflow "+model+" ") && c.RPS > best {
			best, name = c.RPS, c.Target
		}
	}
	return name
}

func (c *compiledReport) print(w io.Writer) {
	fmt.Fprintf(w, "\ncompiled scikit-learn models (bench/serve/sklearn_models.py: 20 features; 1,000 held-out rows)\n")
	fmt.Fprintf(w, "  compile state: forest %q, pipeline %q\n", c.CompileState["forest"], c.CompileState["pipeline"])
	for _, name := range compiledModels {
		b := c.Baselines[name]
		fmt.Fprintf(w, "  %-8s µs/row   batch of 1,000   one row per call\n", name)
		fmt.Fprintf(w, "    mlbox (in process)   %10.3f   %10.3f\n", c.InProcess["CompiledPredict/"+name+"/batch=1000"]/1000, c.InProcess["CompiledPredict/"+name+"/batch=1"]/1000)
		fmt.Fprintf(w, "    onnxruntime          %10.3f   %10.3f   (skl2onnx, 1 thread)%s\n", b.OrtBatch, b.OrtRow, map[bool]string{true: " " + b.OrtError}[b.OrtError != ""])
		fmt.Fprintf(w, "    scikit-learn         %10.3f   %10.1f   (predict_proba)\n", b.SklearnBatch, b.SklearnRow)
		fmt.Fprintf(w, "    compile: %.1f ms (front end and code), %.1f ms (wazero compile and warm-up)\n", c.InProcess["Compile/"+name]/1e6, c.InProcess["CompiledLoad/"+name]/1e6)
	}
	fmt.Fprintf(w, "  restart on the same data: served after %.0f ms; compiled %.0f, from the cache %.0f\n", c.RestartToServeMs, c.RestartCompiled, c.RestartCached)
}
