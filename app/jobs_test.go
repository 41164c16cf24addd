package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"mlbox/scheduler"
	"mlbox/store"
)

// startJobsServer is startServer with a scheduler configuration.
func startJobsServer(t *testing.T, mutate func(*scheduler.Config)) *testServer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := scheduler.DefaultConfig()
	sc.KillGrace = 500 * time.Millisecond
	sc.APICommands = true
	if mutate != nil {
		mutate(&sc)
	}
	if a.sched, err = a.newScheduler(sc); err != nil {
		t.Fatal(err)
	}
	return serveTest(t, a, cfg.Listen)
}

// waitJobRun polls the history API until the run is no longer running.
func waitJobRun(t *testing.T, s *testServer, job string, n int, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := s.must(t, "GET", fmt.Sprintf("/api/mlbox/v1/jobs/%s/runs/%d", job, n), nil)
		run := m["run"].(map[string]any)
		if run["status"] != store.JobRunning {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d of %s still running after %s", n, job, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestJobsAPI(t *testing.T) {
	s := startJobsServer(t, func(c *scheduler.Config) {
		c.Jobs = []scheduler.JobConfig{{Name: "from-config", Kind: store.JobCommand, Schedule: "@daily",
			Command: &store.CommandSpec{Argv: []string{"true"}}}}
	})
	const base = "/api/mlbox/v1/jobs"
	echo := map[string]any{"name": "echo", "kind": "command", "schedule": "0 0 3 * * *", "timezone": "Europe/Paris",
		"command": map[string]any{"argv": []string{"sh", "-c", "echo hello from $MLBOX_JOB_NAME; echo $MLFLOW_TRACKING_URI"}, "timeout": "1m"}}
	scenarios := []struct {
		name, method, path string
		body               any
		status             int
		want               []string
		notWant            []string
	}{
		{"create", "POST", base, echo, 200, []string{`"name":"echo"`, `"source":"api"`, `"next_run_at":`, `"timeout":"1m0s"`, `"overlap":"skip"`}, nil},
		{"duplicate", "POST", base, echo, 400, []string{"RESOURCE_ALREADY_EXISTS"}, nil},
		{"bad schedule", "POST", base, map[string]any{"name": "x", "kind": "command", "schedule": "61 * * * *", "command": map[string]any{"argv": []string{"true"}}}, 400, []string{"INVALID_PARAMETER_VALUE", "61"}, nil},
		{"unknown field", "POST", base, map[string]any{"name": "x", "kind": "command", "schedul": "@daily"}, 400, []string{"INVALID_PARAMETER_VALUE", "schedul"}, nil},
		{"bad kind", "POST", base, map[string]any{"name": "x", "kind": "shell"}, 400, []string{"kind must be"}, nil},
		{"bad name", "POST", base, map[string]any{"name": "a/b", "kind": "command", "command": map[string]any{"argv": []string{"true"}}}, 400, []string{"Invalid job name"}, nil},
		{"not json", "POST", base, "{", 400, []string{"INVALID_PARAMETER_VALUE"}, nil},
		{"list", "GET", base, nil, 200, []string{`"name":"echo"`, `"name":"from-config"`, `"source":"config"`}, nil},
		{"get", "GET", base + "/echo", nil, 200, []string{`"schedule":"0 0 3 * * *"`, `"running":false`}, nil},
		{"get missing", "GET", base + "/nope", nil, 404, []string{"RESOURCE_DOES_NOT_EXIST"}, nil},
		{"patch", "PATCH", base + "/echo", map[string]any{"schedule": "@hourly", "timezone": nil, "description": "hi", "name": "ignored", "state": map[string]any{}}, 200, []string{`"schedule":"@hourly"`, `"description":"hi"`, `"name":"echo"`}, []string{"Europe/Paris"}},
		{"patch bad", "PATCH", base + "/echo", map[string]any{"overlap": "sometimes"}, 400, []string{"overlap must be"}, nil},
		{"patch unknown", "PATCH", base + "/echo", map[string]any{"bogus": 1}, 400, []string{"bogus"}, nil},
		{"patch config job", "PATCH", base + "/from-config", map[string]any{"description": "x"}, 400, []string{"config.toml"}, nil},
		{"delete config job", "DELETE", base + "/from-config", nil, 400, []string{"config.toml"}, nil},
		{"pause", "POST", base + "/echo/pause", nil, 200, []string{`"paused":true`}, []string{"next_run_at"}},
		{"pause config job", "POST", base + "/from-config/pause", nil, 200, []string{`"paused":true`}, nil},
		{"resume", "POST", base + "/echo/resume", nil, 200, []string{`"next_run_at"`}, []string{`"paused":true`}},
		{"run", "POST", base + "/echo/run", nil, 200, []string{`"number":1`, `"trigger":"manual"`, `"status":"running"`}, nil},
		{"run missing", "POST", base + "/nope/run", nil, 404, nil, nil},
		{"runs of missing", "GET", base + "/nope/runs", nil, 404, nil, nil},
		{"bad limit", "GET", base + "/echo/runs?limit=x", nil, 400, nil, nil},
		{"bad number", "GET", base + "/echo/runs/x", nil, 400, nil, nil},
		{"missing run", "GET", base + "/echo/runs/99", nil, 404, nil, nil},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			st, _, raw := s.call(t, sc.method, sc.path, sc.body)
			if st != sc.status {
				t.Fatalf("status %d, want %d: %s", st, sc.status, raw)
			}
			for _, w := range sc.want {
				if !strings.Contains(raw, w) {
					t.Errorf("body lacks %s: %s", w, raw)
				}
			}
			for _, w := range sc.notWant {
				if strings.Contains(raw, w) {
					t.Errorf("body has %s: %s", w, raw)
				}
			}
		})
	}

	run := waitJobRun(t, s, "echo", 1, time.Minute)
	if run["status"] != store.JobSucceeded || run["exit_code"] != 0.0 || run["log_path"] != "_mlbox/jobs/echo/1.log" {
		t.Fatalf("run %v", run)
	}
	resp, err := http.Get(s.URL + "/api/mlbox/v1/jobs/echo/runs/1/log")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "hello from echo") || !strings.Contains(string(body), s.URL) {
		t.Fatalf("log %d: %s", resp.StatusCode, body)
	}
	hist := s.must(t, "GET", "/api/mlbox/v1/jobs/echo/runs", nil)
	if runs := hist["runs"].([]any); len(runs) != 1 {
		t.Fatalf("history %v", hist)
	}
	if stats := hist["stats"].(map[string]any); stats["runs"] != 1.0 || stats["succeeded"] != 1.0 || stats["failures"] != 0.0 {
		t.Fatalf("stats %v", stats)
	}
	_, _, metrics := s.call(t, "GET", "/metrics", nil)
	for _, want := range []string{`mlbox_job_runs_total{job="echo",result="succeeded"} 1`, `mlbox_job_duration_seconds_count{job="echo"} 1`, "mlbox_jobs_running 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	s.must(t, "DELETE", "/api/mlbox/v1/jobs/echo", nil)
	if st, _, _ := s.call(t, "GET", "/api/mlbox/v1/jobs/echo/runs/1/log", nil); st != 404 {
		t.Fatalf("log of a deleted job: %d", st)
	}
}

func TestJobsAPICommandsOff(t *testing.T) {
	s := startJobsServer(t, func(c *scheduler.Config) { c.APICommands = false })
	st, _, raw := s.call(t, "POST", "/api/mlbox/v1/jobs", map[string]any{"name": "x", "kind": "command", "command": map[string]any{"argv": []string{"true"}}})
	if st != 403 || !strings.Contains(raw, "PERMISSION_DENIED") || !strings.Contains(raw, "scheduler.api_commands") {
		t.Fatalf("%d %s", st, raw)
	}
	s.must(t, "POST", "/api/mlbox/v1/jobs", map[string]any{"name": "gc", "kind": "retention", "retention": map[string]any{"purge": map[string]any{"after_days": 30}}})
}

func TestRetentionAPI(t *testing.T) {
	s := startJobsServer(t, nil)
	st, arts := s.App.store, s.App.arts
	ctx := context.Background()
	exp, err := st.CreateExperiment(ctx, "exp", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for i := range 4 {
		r, err := st.CreateRun(ctx, store.CreateRunRequest{ExperimentID: exp, StartTime: time.Now().Add(time.Duration(i) * time.Minute).UnixMilli()})
		if err != nil {
			t.Fatal(err)
		}
		fin := "FINISHED"
		if _, err := st.UpdateRun(ctx, r.Info.RunID, &fin, nil, nil); err != nil {
			t.Fatal(err)
		}
		p := strings.TrimPrefix(r.Info.ArtifactURI, "mlflow-artifacts:/") + "/model.bin"
		if err := arts.Put(ctx, p, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	// Two runs too many: delete, then purge once deleted.
	pol := map[string]any{"name": "tidy", "experiments": []string{"exp"}, "runs": map[string]any{"keep_last": 2}}
	plan := s.must(t, "POST", "/api/mlbox/v1/retention/plan", map[string]any{"policy": pol})
	p0 := plan["plans"].([]any)[0].(map[string]any)
	if p0["dry_run"] != true || p0["summary"].(map[string]any)["runs_deleted"] != 2.0 {
		t.Fatalf("plan %v", plan)
	}
	applied := s.must(t, "POST", "/api/mlbox/v1/retention/apply", map[string]any{"policy": pol})
	a0 := applied["plans"].([]any)[0].(map[string]any)
	if a0["dry_run"] != false || a0["log_seq"] != 1.0 || a0["summary"].(map[string]any)["runs_deleted"] != 2.0 {
		t.Fatalf("apply %v", applied)
	}
	pa, _ := json.Marshal(p0["actions"])
	aa := a0["actions"].([]any)
	for _, a := range aa {
		if a.(map[string]any)["result"] != "done" {
			t.Fatalf("apply %v", a)
		}
		delete(a.(map[string]any), "result")
	}
	if b, _ := json.Marshal(aa); string(b) != string(pa) {
		t.Fatalf("apply differs from plan:\n%s\n%s", b, pa)
	}

	// A retention job is a named policy.
	zero := 0
	s.must(t, "POST", "/api/mlbox/v1/jobs", map[string]any{"name": "purge", "kind": "retention",
		"retention": map[string]any{"experiments": []string{exp}, "purge": map[string]any{"after_days": zero}}})
	plan = s.must(t, "POST", "/api/mlbox/v1/retention/plan", map[string]any{"policy_name": "purge"})
	if sum := plan["plans"].([]any)[0].(map[string]any)["summary"].(map[string]any); sum["runs_purged"] != 2.0 {
		t.Fatalf("plan by name %v", plan)
	}
	if st, _, raw := s.call(t, "POST", "/api/mlbox/v1/retention/plan", map[string]any{"policy_name": "nope"}); st != 404 {
		t.Fatalf("unknown policy: %d %s", st, raw)
	}
	if st, _, raw := s.call(t, "POST", "/api/mlbox/v1/retention/plan", map[string]any{"policy": map[string]any{}}); st != 400 {
		t.Fatalf("empty policy: %d %s", st, raw)
	}
	if st, _, raw := s.call(t, "POST", "/api/mlbox/v1/retention/plan", map[string]any{"policy": map[string]any{"runs": map[string]any{"keep": 1}}}); st != 400 || !strings.Contains(raw, "keep") {
		t.Fatalf("unknown policy field: %d %s", st, raw)
	}
	// No policy: every retention job that is not paused.
	applied = s.must(t, "POST", "/api/mlbox/v1/retention/apply", nil)
	if sum := applied["plans"].([]any)[0].(map[string]any)["summary"].(map[string]any); sum["runs_purged"] != 2.0 {
		t.Fatalf("apply all %v", applied)
	}
	gone := 0
	for _, f := range files {
		if _, err := arts.Open(ctx, f); err != nil {
			gone++
		}
	}
	if gone != 2 {
		t.Fatalf("%d run artifact files gone, want 2", gone)
	}

	log := s.must(t, "GET", "/api/mlbox/v1/retention/log", nil)
	recs := log["records"].([]any)
	if len(recs) != 2 || recs[0].(map[string]any)["policy"] != "purge" || recs[0].(map[string]any)["actions"] != nil {
		t.Fatalf("log %v", log)
	}
	rec := s.must(t, "GET", "/api/mlbox/v1/retention/log/1", nil)["record"].(map[string]any)
	if rec["policy"] != "tidy" || len(rec["actions"].([]any)) != 2 {
		t.Fatalf("record %v", rec)
	}
	if st, _, _ := s.call(t, "GET", "/api/mlbox/v1/retention/log/9", nil); st != 404 {
		t.Fatalf("missing record: %d", st)
	}
}

// TestJobInterruptedByServerShutdown: stopping the server interrupts a
// running command, kills its process group and records the run before
// Serve returns (the store is still open).
func TestJobInterruptedByServerShutdown(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sc := scheduler.DefaultConfig()
	sc.KillGrace = 500 * time.Millisecond
	sc.Jobs = scheduler.Jobs{{Name: "long", Kind: store.JobCommand,
		Command: &store.CommandSpec{Argv: []string{"sh", "-c", "sleep 60 & echo $! > child.pid; echo $$ > leader.pid; wait"}}}}
	if a.sched, err = a.newScheduler(sc); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	s := &testServer{URL: "http://" + ln.Addr().String(), App: a}
	s.must(t, "POST", "/api/mlbox/v1/jobs/long/run", nil)
	work := filepath.Join(cfg.DataDir, "jobs", "long")
	pid := func(name string) int {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(filepath.Join(work, name))
			var n int
			if _, err := fmt.Sscan(string(b), &n); err == nil && n > 0 {
				return n
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("no %s", name)
		return 0
	}
	leader, child := pid("leader.pid"), pid("child.pid")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	run, err := a.store.GetJobRun(context.Background(), "long", 1)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != store.JobInterrupted || !strings.Contains(run.Error, "shutdown") {
		t.Fatalf("run %+v", run)
	}
	for _, p := range []int{leader, child} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
			if err != nil || strings.Contains(string(b), ") Z ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("process %d survived the shutdown", p)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestTrackingURI(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:5000": "http://127.0.0.1:5000",
		"0.0.0.0:5000":   "http://127.0.0.1:5000",
		"[::]:5000":      "http://127.0.0.1:5000",
		"[::1]:5000":     "http://[::1]:5000",
		"10.0.0.7:80":    "http://10.0.0.7:80",
	} {
		a, _ := net.ResolveTCPAddr("tcp", addr)
		if got := trackingURI(a); got != want {
			t.Errorf("%s: %s, want %s", addr, got, want)
		}
	}
}

// retrainScript is a retraining job: the real MLflow client logs a run
// with the iris model artifact and registers a version of "iris".
const retrainScript = `
import os, mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

with mlflow.start_run(run_name="retrain") as run:
    mlflow.log_param("steps", 3000)
    mlflow.log_metric("accuracy", float(os.environ["ACCURACY"]))
    mlflow.log_artifact(os.environ["IRIS_WASM"], artifact_path="model")
client = MlflowClient()
try:
    client.create_registered_model("iris")
except MlflowException:
    pass
mv = client.create_model_version("iris", "runs:/%s/model" % run.info.run_id, run_id=run.info.run_id)
print("registered iris version", mv.version, "from experiment", run.info.experiment_id)
`

// TestRetrainingJob runs a retraining job end to end: the job's command
// (the MLflow Python client) reaches this server through
// MLFLOW_TRACKING_URI, logs a run into MLFLOW_EXPERIMENT_NAME, uploads the
// iris wasm module and registers a version; the follow-up moves the
// champion alias through the promotion gate. (Serving the new version is
// the deployment's part.)
func TestRetrainingJob(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	python := filepath.Join(root, ".venv", "bin", "python")
	if _, err := os.Stat(python); err != nil {
		t.Skip("no .venv (scripts/venv.sh tests/compat/requirements.txt .venv)")
	}
	if err := exec.Command(python, "-c", "import mlflow").Run(); err != nil {
		t.Skipf("mlflow is not importable from .venv: %v", err)
	}
	wasm := filepath.Join(root, "examples", "iris-go", "model.wasm")
	if _, err := os.Stat(wasm); err != nil {
		t.Skip("examples/iris-go/model.wasm is missing")
	}
	s := startJobsServer(t, nil)
	ctx := context.Background()
	if _, err := s.App.store.CreateRegisteredModel(ctx, "iris", "", nil, "t"); err != nil {
		t.Fatal(err)
	}
	if err := s.App.store.SetGates(ctx, "iris", []store.GateRule{{Name: "min-accuracy", Targets: []string{"alias:champion"}, Metric: "metrics.accuracy >= 0.9"}}, "t"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "retrain.py")
	if err := os.WriteFile(script, []byte(retrainScript), 0o600); err != nil {
		t.Fatal(err)
	}
	job := func(name, acc string) map[string]any {
		return map[string]any{"name": name, "kind": "command", "command": map[string]any{
			"argv": []string{python, script}, "dir": dir, "timeout": "5m", "experiment": "iris-retraining",
			"env":     map[string]string{"IRIS_WASM": wasm, "ACCURACY": acc, "PYTHONUNBUFFERED": "1"},
			"promote": map[string]any{"model": "iris", "alias": "champion"}}}
	}
	s.must(t, "POST", "/api/mlbox/v1/jobs", job("retrain-iris", "0.97"))
	s.must(t, "POST", "/api/mlbox/v1/jobs/retrain-iris/run", nil)
	run := waitJobRun(t, s, "retrain-iris", 1, 5*time.Minute)
	logText := func(job string) string {
		resp, err := http.Get(s.URL + "/api/mlbox/v1/jobs/" + job + "/runs/1/log")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if run["status"] != store.JobSucceeded {
		t.Fatalf("run %v\n%s", run, logText("retrain-iris"))
	}
	prom, _ := run["promotion"].(map[string]any)
	if prom == nil || prom["status"] != "promoted" || prom["version"] != "1" {
		t.Fatalf("promotion %v\n%s", prom, logText("retrain-iris"))
	}
	mv, err := s.App.store.GetModelVersionByAlias(ctx, "iris", "champion")
	if err != nil || mv.Version != "1" {
		t.Fatalf("champion: %+v %v", mv, err)
	}
	src, err := s.App.store.GetRun(ctx, mv.RunID)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := s.App.store.GetExperimentByName(ctx, "iris-retraining")
	if exp == nil || src.Info.ExperimentID != exp.ExperimentID {
		t.Fatalf("the run went to experiment %s, not iris-retraining", src.Info.ExperimentID)
	}
	wasmPath := strings.TrimPrefix(src.Info.ArtifactURI, "mlflow-artifacts:/") + "/model/model.wasm"
	obj, err := s.App.arts.Open(ctx, wasmPath)
	if err != nil {
		t.Fatalf("the model artifact: %v", err)
	}
	want, _ := os.ReadFile(wasm)
	if obj.Size() != int64(len(want)) {
		t.Fatalf("model.wasm is %d bytes, want %d", obj.Size(), len(want))
	}
	obj.Close()
	if l := logText("retrain-iris"); !strings.Contains(l, "registered iris version 1") {
		t.Fatalf("log:\n%s", l)
	}

	// A retrained model below the gate is registered but not promoted.
	s.must(t, "POST", "/api/mlbox/v1/jobs", job("retrain-bad", "0.5"))
	s.must(t, "POST", "/api/mlbox/v1/jobs/retrain-bad/run", nil)
	run = waitJobRun(t, s, "retrain-bad", 1, 5*time.Minute)
	if prom, _ := run["promotion"].(map[string]any); run["status"] != store.JobSucceeded || prom == nil || prom["status"] != "blocked" || prom["version"] != "2" {
		t.Fatalf("run %v\n%s", run, logText("retrain-bad"))
	}
	if mv, _ := s.App.store.GetModelVersionByAlias(ctx, "iris", "champion"); mv.Version != "1" {
		t.Fatalf("champion moved to %s", mv.Version)
	}
}
