package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mlbox/app"
)

func startInProcess(t *testing.T) string {
	t.Helper()
	return startOn(t, t.TempDir())
}

// startOn serves the data dir dir in process.
func startOn(t *testing.T, dir string) string {
	t.Helper()
	cfg := app.DefaultConfig()
	cfg.DataDir = dir
	return startWith(t, cfg)
}

// startWith serves cfg in process.
func startWith(t *testing.T, cfg app.Config) string {
	t.Helper()
	a, err := app.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	return "http://" + ln.Addr().String()
}

func mustJSON(t *testing.T, method, url string, in any) map[string]any {
	t.Helper()
	var body *bytes.Reader
	if s, ok := in.(string); ok {
		body = bytes.NewReader([]byte(s))
	} else {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, body)
	if _, raw := in.(string); !raw {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %v", method, url, resp.StatusCode, out)
	}
	return out
}

func TestModelsDownload(t *testing.T) {
	url := startInProcess(t)
	api := url + "/api/2.0/mlflow"
	run := mustJSON(t, "POST", api+"/runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	for name, content := range map[string]string{"MLmodel": "flavors: {}\n", "model.wasm": "\x00asm", "data/weights.bin": "0123456789"} {
		mustJSON(t, "PUT", url+"/api/2.0/mlflow-artifacts/artifacts/0/"+run+"/artifacts/model/"+name, content)
	}
	mustJSON(t, "POST", api+"/registered-models/create", map[string]any{"name": "iris"})
	mustJSON(t, "POST", api+"/model-versions/create", map[string]any{"name": "iris", "source": "runs:/" + run + "/model", "run_id": run})
	mustJSON(t, "POST", api+"/registered-models/alias", map[string]any{"name": "iris", "alias": "champion", "version": "1"})
	mustJSON(t, "POST", api+"/model-versions/transition-stage", map[string]any{"name": "iris", "version": "1", "stage": "Production"})

	for _, uri := range []string{"models:/iris@champion", "models:/iris/Production", "models:/iris/1", "models:/iris/latest"} {
		dir := t.TempDir()
		var out, errb bytes.Buffer
		if code := run2(&out, &errb, "models", "download", "--tracking-uri", url, uri, dir); code != 0 {
			t.Fatalf("%s: exit %d: %s", uri, code, errb.String())
		}
		b, err := os.ReadFile(filepath.Join(dir, "data", "weights.bin"))
		if err != nil || string(b) != "0123456789" {
			t.Fatalf("%s: weights %q %v", uri, b, err)
		}
		if !strings.Contains(out.String(), "3 files") {
			t.Fatalf("%s: output %q", uri, out.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run2(&out, &errb, "models", "download", "--tracking-uri", url, "models:/iris@nope", t.TempDir()); code != 1 || !strings.Contains(errb.String(), "INVALID_PARAMETER_VALUE") {
		t.Fatalf("unknown alias: exit %d %s", code, errb.String())
	}
	t.Setenv("MLFLOW_TRACKING_URI", url)
	if code := run2(&out, &errb, "models", "download", "models:/iris/Staging", t.TempDir()); code != 1 || !strings.Contains(errb.String(), "no version in stage") {
		t.Fatalf("empty stage: exit %d %s", code, errb.String())
	}
}

func run2(stdout, stderr *bytes.Buffer, args ...string) int { return run(args, stdout, stderr) }
