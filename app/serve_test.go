package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mlbox/serve"
)

// put uploads raw bytes through the artifact proxy.
func (s *testServer) put(t testing.TB, path string, b []byte) {
	t.Helper()
	req, _ := http.NewRequest("PUT", s.URL+"/api/2.0/mlflow-artifacts/artifacts/"+path, bytes.NewReader(b))
	addTestCreds(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT %s: %d", path, resp.StatusCode)
	}
}

// post sends body with a content type; returns status, headers and body.
func (s *testServer) post(t testing.TB, path, ctype, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	addTestCreds(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func readExample(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", "iris-go", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// registerIris logs the iris example as a run's wasm model, through the
// REST API and the artifact proxy, and registers a version of model.
func registerIris(t *testing.T, s *testServer, model string) string {
	t.Helper()
	wasm := readExample(t, "model.wasm")
	sum := sha256.Sum256(wasm)
	mlmodel := "artifact_path: model\nflavors:\n  wasm:\n    module: model.wasm\n    sha256: " + hex.EncodeToString(sum[:]) +
		"\n    abi_version: 1\n    task: classification\n    dtype: f64\n    n_features: 4\n    n_outputs: 3\n    profile: profile.json\nmodel_uuid: x\n"
	run := createRun(t, s, "0")
	base := "0/" + run + "/artifacts/model/"
	s.put(t, base+"MLmodel", []byte(mlmodel))
	s.put(t, base+"model.wasm", wasm)
	s.put(t, base+"profile.json", readExample(t, "profile.json"))
	if st, _, _ := s.call(t, "GET", api+"/registered-models/get?name="+model, nil); st == 404 {
		s.must(t, "POST", api+"/registered-models/create", map[string]any{"name": model})
	}
	mv := s.must(t, "POST", api+"/model-versions/create", map[string]any{"name": model, "source": "runs:/" + run + "/model", "run_id": run})
	return mv["model_version"].(map[string]any)["version"].(string)
}

func setAlias(t *testing.T, s *testServer, model, alias, version string) {
	t.Helper()
	s.must(t, "POST", api+"/registered-models/alias", map[string]any{"name": model, "alias": alias, "version": version})
}

// waitServing polls the status API until model serves version.
func waitServing(t *testing.T, s *testServer, model, version string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, m, _ := s.call(t, "GET", "/api/mlbox/v1/deployments/"+model, nil)
		if st == 200 {
			if sv, ok := m["serving"].(map[string]any); ok && sv["version"] == version {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not serve version %s: %v", model, version, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type irisReference struct {
	Features []string    `json:"features"`
	Inputs   [][]float64 `json:"inputs"`
	Probs    [][]float64 `json:"probabilities"`
	Labels   []string    `json:"labels"`
}

// TestServeIrisOverHTTP: the iris example, registered through the MLflow
// API, predicts its reference predictions over HTTP.
func TestServeIrisOverHTTP(t *testing.T) {
	s := startServer(t)
	v := registerIris(t, s, "iris")
	setAlias(t, s, "iris", "champion", v)
	waitServing(t, s, "iris", v)

	var ref irisReference
	if err := json.Unmarshal(readExample(t, "reference_predictions.json"), &ref); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"data": ref.Inputs})
	st, h, raw := s.post(t, "/models/iris/predict?probabilities=true", "application/json", string(body))
	if st != 200 || h.Get(serve.HeaderModelVersion) != v {
		t.Fatalf("predict: %d %s", st, raw)
	}
	var out struct {
		Predictions   []string    `json:"predictions"`
		Probabilities [][]float64 `json:"probabilities"`
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Predictions) != len(ref.Labels) || len(out.Probabilities) != len(ref.Probs) {
		t.Fatalf("%d predictions for %d references", len(out.Predictions), len(ref.Labels))
	}
	for i := range ref.Labels {
		if out.Predictions[i] != ref.Labels[i] {
			t.Fatalf("row %d: %s, reference %s", i, out.Predictions[i], ref.Labels[i])
		}
		for k, p := range ref.Probs[i] {
			if math.Abs(out.Probabilities[i][k]-p) > 1e-12 {
				t.Fatalf("row %d class %d: %v, reference %v", i, k, out.Probabilities[i][k], p)
			}
		}
	}

	// The MLflow scoring protocol, columns in another order.
	cols := []string{ref.Features[3], ref.Features[2], ref.Features[1], ref.Features[0]}
	rows := make([][]float64, len(ref.Inputs))
	for i, x := range ref.Inputs {
		rows[i] = []float64{x[3], x[2], x[1], x[0]}
	}
	body, _ = json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": cols, "data": rows}})
	st, _, raw = s.post(t, "/models/iris/invocations", "application/json", string(body))
	var inv struct {
		Predictions []string `json:"predictions"`
	}
	if st != 200 || json.Unmarshal([]byte(raw), &inv) != nil || fmt.Sprint(inv.Predictions) != fmt.Sprint(ref.Labels) {
		t.Fatalf("invocations: %d %.200s", st, raw)
	}

	// What serves there, and its drift window (the version has a profile).
	info := s.must(t, "GET", "/models/iris", nil)
	if info["version"] != v || info["metadata"].(map[string]any)["n_features"] != 4.0 {
		t.Fatalf("info %v", info)
	}
	drift := s.must(t, "GET", "/api/mlbox/v1/deployments/iris/drift", nil)["versions"].([]any)
	if len(drift) != 1 || drift[0].(map[string]any)["profile"] != true || drift[0].(map[string]any)["rows"].(float64) != float64(2*len(ref.Inputs)) {
		t.Fatalf("drift %v", drift)
	}

	// A refused input (NaN) is a 400 and lands in the request log.
	st, _, raw = s.post(t, "/models/iris/predict", "application/json", `{"data": [NaN, 1, 1, 1]}`)
	if st != 400 || !strings.Contains(raw, "BAD_REQUEST") {
		t.Fatalf("NaN: %d %s", st, raw)
	}
	reqs := s.must(t, "GET", "/api/mlbox/v1/deployments/iris/requests?n=10", nil)["requests"].([]any)
	if len(reqs) == 0 || reqs[0].(map[string]any)["status"] != 400.0 || reqs[0].(map[string]any)["version"] != v {
		t.Fatalf("request log %v", reqs)
	}

	// Serving metrics are on /metrics.
	_, _, metrics := s.call(t, "GET", "/metrics", nil)
	for _, want := range []string{
		`mlbox_serve_requests_total{model="iris",version="` + v + `",role="main",code="200"} 2`,
		`mlbox_serve_rows_total{model="iris",version="` + v + `",role="main"} ` + fmt.Sprint(2*len(ref.Inputs)),
		`mlbox_serve_request_duration_seconds_bucket{model="iris",version="` + v + `",role="main",le=`,
		`mlbox_serve_requests_in_flight{model="iris"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestDeploymentsAPI(t *testing.T) {
	s := startServer(t)
	v := registerIris(t, s, "iris")
	setAlias(t, s, "iris", "champion", v)
	waitServing(t, s, "iris", v)

	list := s.must(t, "GET", "/api/mlbox/v1/deployments", nil)["deployments"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "iris" || list[0].(map[string]any)["state"] != "serving" {
		t.Fatalf("list %v", list)
	}
	d := s.must(t, "GET", "/api/mlbox/v1/deployments/iris", nil)
	set := d["settings"].(map[string]any)
	if set["alias"] != "champion" || set["stage"] != "Production" || d["custom_settings"] != false {
		t.Fatalf("deployment %v", d)
	}
	for _, c := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"PUT", "/api/mlbox/v1/deployments/iris", `{"canary": {"share": 2}}`, 400, "canary.share"},
		{"PUT", "/api/mlbox/v1/deployments/iris", `{"canary": {"alias": "challenger", "share": 0.1}, "typo": 1}`, 400, `unknown field \"typo\"`},
		{"PUT", "/api/mlbox/v1/deployments/nope", `{}`, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"GET", "/api/mlbox/v1/deployments/nope", ``, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "/api/mlbox/v1/deployments/iris/rollback", `{}`, 400, "no previous version"},
		{"POST", "/api/mlbox/v1/deployments/iris/rollback", `{"alias": "other"}`, 400, "alias other not found"},
		{"GET", "/api/mlbox/v1/deployments/iris/requests?n=x", ``, 400, "n must be"},
	} {
		st, _, raw := s.call(t, c.method, c.path, c.body)
		if st != c.code || !strings.Contains(raw, c.want) {
			t.Errorf("%s %s %s: %d %s, want %d %s", c.method, c.path, c.body, st, raw, c.code, c.want)
		}
	}

	// A canary: v2 behind "challenger" takes a share.
	v2 := registerIris(t, s, "iris")
	setAlias(t, s, "iris", "challenger", v2)
	d = s.must(t, "PUT", "/api/mlbox/v1/deployments/iris", `{"canary": {"alias": "challenger", "share": 0.5}}`)
	if d["custom_settings"] != true || d["canary"].(map[string]any)["version"] != v2 || d["canary"].(map[string]any)["share"] != 0.5 {
		t.Fatalf("canary %v", d)
	}
	seen := map[string]int{}
	for i := 0; i < 40; i++ {
		st, h, raw := s.post(t, "/models/iris/predict", "application/json", `{"data": [5.1, 3.5, 1.4, 0.2]}`)
		if st != 200 || raw != `{"predictions":["setosa"]}` {
			t.Fatalf("%d %s", st, raw)
		}
		seen[h.Get(serve.HeaderModelVersion)]++
	}
	if seen[v] == 0 || seen[v2] == 0 {
		t.Fatalf("split %v", seen)
	}
	// Disabled: the endpoint says so.
	s.must(t, "PUT", "/api/mlbox/v1/deployments/iris", `{"enabled": false}`)
	if st, _, raw := s.post(t, "/models/iris/predict", "application/json", `{"data": [5.1, 3.5, 1.4, 0.2]}`); st != 409 || !strings.Contains(raw, "disabled") {
		t.Fatalf("disabled: %d %s", st, raw)
	}
	// DELETE goes back to the defaults.
	d = s.must(t, "DELETE", "/api/mlbox/v1/deployments/iris", nil)
	if d["custom_settings"] != false || d["state"] != "serving" || d["canary"] != nil {
		t.Fatalf("after delete %v", d)
	}
}

func TestDeploymentRollbackAPI(t *testing.T) {
	s := startServer(t)
	v1 := registerIris(t, s, "iris")
	v2 := registerIris(t, s, "iris")
	setAlias(t, s, "iris", "champion", v1)
	setAlias(t, s, "iris", "champion", v2)
	waitServing(t, s, "iris", v2)
	res := s.must(t, "POST", "/api/mlbox/v1/deployments/iris/rollback", `{"alias": "champion"}`)
	if res["from_version"] != v2 || res["to_version"] != v1 || res["status"].(map[string]any)["serving"].(map[string]any)["version"] != v1 {
		t.Fatalf("rollback %v", res)
	}
	if st, h, _ := s.post(t, "/models/iris/predict", "application/json", `{"data": [5.1, 3.5, 1.4, 0.2]}`); st != 200 || h.Get(serve.HeaderModelVersion) != v1 {
		t.Fatalf("after rollback: %d %s", st, h.Get(serve.HeaderModelVersion))
	}
	alias := s.must(t, "GET", api+"/registered-models/alias?name=iris&alias=champion", nil)
	if alias["model_version"].(map[string]any)["version"] != v1 {
		t.Fatalf("alias %v", alias)
	}
	entries := s.must(t, "GET", "/api/mlbox/v1/models/iris/audit", nil)["entries"].([]any)
	last := entries[len(entries)-1].(map[string]any)
	if last["action"] != "deployment.rolled_back" || last["before"] != v2 || last["after"] != v1 {
		t.Fatalf("audit %v", last)
	}
}

func TestServeDisabled(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Serve.Enabled = false })
	st, m, _ := s.call(t, "POST", "/models/iris/predict", `{"data": [1, 2, 3, 4]}`)
	if st != 404 || m["error_code"] != "ENDPOINT_NOT_FOUND" {
		t.Fatalf("%d %v", st, m)
	}
	if st, _, _ := s.call(t, "GET", "/api/mlbox/v1/deployments", nil); st != 404 {
		t.Fatalf("deployments: %d", st)
	}
}

func TestServeConfigValidation(t *testing.T) {
	c := DefaultConfig()
	c.Serve.TargetAlias, c.Serve.TargetStage = "", ""
	c.Serve.RequestLogSampleRate = 2
	c.Serve.RollbackMaxP99Ratio = 0.5
	c.Serve.TargetStage = "Archived"
	err := c.Validate()
	for _, want := range []string{"serve.target_stage", "serve.request_log_sample_rate", "serve.rollback_max_p99_ratio"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %s", err, want)
		}
	}
}
