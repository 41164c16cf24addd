package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRetrainIrisEndToEnd is the scheduler issue's end-to-end case: a
// retraining job (defined in config.toml) retrains the Go iris example,
// compiles it to WebAssembly, logs and registers it with `mlbox models log`
// through MLFLOW_TRACKING_URI, the job's follow-up moves the champion alias
// through the promotion gate, and the hot swap serves the new version.
func TestRetrainIrisEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm module")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain")
	}
	work := t.TempDir()
	src := filepath.Join(work, "src")
	// A copy of the example in a module of its own, so retraining does not
	// touch the repository.
	if err := copyTree("examples/iris-go", filepath.Join(src, "examples", "iris-go")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module mlbox\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`set -e
cd %q
%q run ./train -steps 2000
GOOS=wasip1 GOARCH=wasm %q build -buildmode=c-shared -o %q .
%q models log --experiment "$MLFLOW_EXPERIMENT_NAME" --register iris --profile profile.json %q
`, filepath.Join(src, "examples", "iris-go"), goBin, goBin, filepath.Join(work, "model.wasm"), os.Args[0], filepath.Join(work, "model.wasm"))
	cfg := fmt.Sprintf(`[[registry.gates]]
model = "iris"
name = "staged-models-only"
targets = ["alias:champion"]
metric = "attributes.status = 'FINISHED'"

[[scheduler.jobs]]
name = "retrain-iris"
kind = "command"
[scheduler.jobs.command]
argv = ["sh", "-c", %q]
dir = %q
timeout = "10m"
experiment = "iris-retraining"
env = { MLBOX_TEST_MAIN = "1", GOFLAGS = "-mod=mod" }
promote = { model = "iris", alias = "champion" }
`, script, work)
	cfgPath := filepath.Join(work, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startMlbox(t, filepath.Join(work, "data"), "--config", cfgPath)
	base := "http://" + p.addr

	resp, err := http.Post(base+"/api/mlbox/v1/jobs/retrain-iris/run", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("run job: %d %s", resp.StatusCode, b)
	}
	deadline := time.Now().Add(8 * time.Minute)
	var run map[string]any
	for {
		resp, err := http.Get(base + "/api/mlbox/v1/jobs/retrain-iris/runs")
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Runs []map[string]any `json:"runs"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if len(out.Runs) > 0 && out.Runs[0]["status"] != "running" {
			run = out.Runs[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job did not finish: %v\n%s", out.Runs, p.log.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if run["status"] != "succeeded" {
		logResp, _ := http.Get(base + "/api/mlbox/v1/jobs/retrain-iris/runs/1/log")
		var logText []byte
		if logResp != nil {
			logText, _ = io.ReadAll(logResp.Body)
			logResp.Body.Close()
		}
		t.Fatalf("job run: %v\n%s", run, logText)
	}
	if prom, _ := run["promotion"].(map[string]any); prom["status"] != "promoted" {
		t.Fatalf("promotion: %v", run["promotion"])
	}

	// The new version is served: predictions equal the retrained reference.
	refRaw, err := os.ReadFile(filepath.Join(src, "examples", "iris-go", "reference_predictions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Inputs [][]float64 `json:"inputs"`
		Labels []string    `json:"labels"`
	}
	if err := json.Unmarshal(refRaw, &ref); err != nil || len(ref.Inputs) == 0 || len(ref.Inputs) != len(ref.Labels) {
		t.Fatalf("reference predictions: %v (%d rows)", err, len(ref.Inputs))
	}
	in, _ := json.Marshal(map[string]any{"data": ref.Inputs})
	for {
		resp, err := http.Post(base+"/models/iris/predict", "application/json", strings.NewReader(string(in)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			var out struct {
				Predictions []any `json:"predictions"`
			}
			json.Unmarshal(b, &out)
			if len(out.Predictions) != len(ref.Labels) {
				t.Fatalf("%d predictions for %d rows", len(out.Predictions), len(ref.Labels))
			}
			for i, p := range out.Predictions {
				if fmt.Sprint(p) != ref.Labels[i] {
					t.Fatalf("row %d: prediction %v, want %q", i, p, ref.Labels[i])
				}
			}
			if v := resp.Header.Get("Mlbox-Model-Version"); v != "1" {
				t.Fatalf("served version %q", v)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not served: %d %s", resp.StatusCode, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
