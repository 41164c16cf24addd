package main

import (
	"bytes"
	"encoding/json"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mlbox/serve"
)

var (
	reRunID   = regexp.MustCompile(`(?m)^run_id: (\w+)$`)
	reVersion = regexp.MustCompile(`(?m)^registered: \S+ version (\d+)$`)
)

func TestModelsLog(t *testing.T) {
	base := startInProcess(t)
	wasm := filepath.Join("examples", "iris-go", "model.wasm")
	profile := filepath.Join("examples", "iris-go", "profile.json")
	var out, errb bytes.Buffer
	code := run2(&out, &errb, "models", "log", "--tracking-uri", base, "--experiment", "iris-exp",
		"--register", "iris", "--alias", "champion", "--profile", profile, wasm)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errb.String(), out.String())
	}
	m := reRunID.FindStringSubmatch(out.String())
	v := reVersion.FindStringSubmatch(out.String())
	if m == nil || v == nil || v[1] != "1" || !strings.Contains(out.String(), "alias: iris@champion -> version 1") {
		t.Fatalf("output:\n%s", out.String())
	}
	runID := m[1]

	dir := t.TempDir()
	out.Reset()
	if code := run2(&out, &errb, "models", "download", "--tracking-uri", base, "models:/iris@champion", dir); code != 0 {
		t.Fatalf("download: exit %d: %s", code, errb.String())
	}
	for _, f := range []struct{ got, want string }{{"model.wasm", wasm}, {"profile.json", profile}} {
		got, err := os.ReadFile(filepath.Join(dir, f.got))
		want, _ := os.ReadFile(f.want)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: downloaded %d bytes (%v), logged %d", f.got, len(got), err, len(want))
		}
	}
	mlmodel, err := os.ReadFile(filepath.Join(dir, "MLmodel"))
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := inspectModule(t.Context(), mustRead(t, wasm))
	sigIn, _ := meta.Signature()
	for _, want := range []string{
		"artifact_path: model\nflavors:\n  wasm:\n    module: 'model.wasm'\n    sha256: '",
		"    abi_version: 1\n    task: 'classification'\n    dtype: 'f64'\n    output_dtype: 'f64'\n    n_features: 4\n    n_outputs: 3\n    max_batch_rows: 1024\n    profile: 'profile.json'\n",
		"run_id: '" + runID + "'\n",
		"signature:\n  inputs: '" + sigIn + "'\n",
	} {
		if !strings.Contains(string(mlmodel), want) {
			t.Fatalf("MLmodel lacks %q:\n%s", want, mlmodel)
		}
	}

	// The run: finished, with params and the model history.
	api := base + "/api/2.0/mlflow"
	r := mustJSON(t, "GET", api+"/runs/get?run_id="+runID, nil)["run"].(map[string]any)
	if st := r["info"].(map[string]any)["status"]; st != "FINISHED" {
		t.Fatalf("run status %v", st)
	}
	params, tags := map[string]string{}, map[string]string{}
	data := r["data"].(map[string]any)
	for _, p := range data["params"].([]any) {
		p := p.(map[string]any)
		params[p["key"].(string)] = p["value"].(string)
	}
	for _, p := range data["tags"].([]any) {
		p := p.(map[string]any)
		tags[p["key"].(string)] = p["value"].(string)
	}
	if params["n_features"] != "4" || params["n_outputs"] != "3" || params["task"] != "classification" || len(params["module_sha256"]) != 64 {
		t.Fatalf("params %v", params)
	}
	var hist []map[string]any
	if err := json.Unmarshal([]byte(tags["mlflow.log-model.history"]), &hist); err != nil || len(hist) != 1 ||
		hist[0]["artifact_path"] != "model" || hist[0]["flavors"].(map[string]any)["wasm"] == nil {
		t.Fatalf("log-model history %q: %v", tags["mlflow.log-model.history"], err)
	}

	// Again, into the existing experiment and model: version 2, alias moves.
	out.Reset()
	if code := run2(&out, &errb, "models", "log", wasm, "--tracking-uri", base, "--experiment", "iris-exp", "--register", "iris", "--alias", "champion"); code != 0 {
		t.Fatalf("second log: exit %d: %s", code, errb.String())
	}
	if v := reVersion.FindStringSubmatch(out.String()); v == nil || v[1] != "2" {
		t.Fatalf("second log:\n%s", out.String())
	}
	q := url.Values{"name": {"iris"}, "alias": {"champion"}}
	if mv := mustJSON(t, "GET", api+"/registered-models/alias?"+q.Encode(), nil)["model_version"].(map[string]any); mv["version"] != "2" {
		t.Fatalf("alias points at %v", mv["version"])
	}
	exps := mustJSON(t, "POST", api+"/experiments/search", map[string]any{"max_results": 100})["experiments"].([]any)
	if len(exps) != 2 { // Default and iris-exp
		t.Fatalf("%d experiments", len(exps))
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestModelsLogRefusesBadModules checks that nothing reaches the server
// for a module (or profile) that does not validate.
func TestModelsLogRefusesBadModules(t *testing.T) {
	base := startInProcess(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "bad.wasm")
	os.WriteFile(garbage, []byte("\x00asm\x01\x00\x00\x00garbage"), 0o644)
	badProfile := filepath.Join(dir, "profile.json")
	os.WriteFile(badProfile, []byte(`{"format":"mlbox-profile/1","rows":0,"features":[{"name":"x","edges":[0,1],"counts":[0]}]}`), 0o644)
	scenarios := []struct {
		name string
		args []string
		want string
	}{
		{"not a module", []string{garbage}, "invalid"},
		{"missing file", []string{filepath.Join(dir, "nope.wasm")}, "no such file"},
		{"profile does not match", []string{"--profile", badProfile, filepath.Join("examples", "iris-go", "model.wasm")}, "profile"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"models", "log", "--tracking-uri", base, "--experiment", "bad", "--register", "bad"}, sc.args...)
			if code := run2(&out, &errb, args...); code != 1 || !strings.Contains(strings.ToLower(errb.String()), sc.want) {
				t.Fatalf("exit %d, stderr %q", code, errb.String())
			}
		})
	}
	// Nothing was created: only the Default experiment, no models, no runs.
	api := base + "/api/2.0/mlflow"
	if exps := mustJSON(t, "POST", api+"/experiments/search", map[string]any{"max_results": 100})["experiments"].([]any); len(exps) != 1 {
		t.Fatalf("%d experiments after refused logs", len(exps))
	}
	if ms := mustJSON(t, "GET", api+"/registered-models/search", nil)["registered_models"]; ms != nil {
		t.Fatalf("registered models %v", ms)
	}
	var out, errb bytes.Buffer
	if code := run2(&out, &errb, "models", "log", "--experiment", "x", "--alias", "a", "m.wasm"); code != 2 {
		t.Fatalf("--alias without --register: exit %d", code)
	}
}

func TestModelsProfile(t *testing.T) {
	var want serve.Profile
	if err := json.Unmarshal(mustRead(t, filepath.Join("examples", "iris-go", "profile.json")), &want); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "profile.json")
	var so, se bytes.Buffer
	csvPath := filepath.Join("examples", "iris-go", "iris.csv")
	if code := run2(&so, &se, "models", "profile", "--label", "species", "--out", out, csvPath); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	var got serve.Profile
	if err := json.Unmarshal(mustRead(t, out), &got); err != nil {
		t.Fatal(err)
	}
	sameHists := func(what string, got, want []serve.Histogram) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d histograms, want %d", what, len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Name != w.Name || len(g.Edges) != len(w.Edges) || !slicesEqual(g.Counts, w.Counts) || g.Missing != w.Missing ||
				math.Abs(g.Mean-w.Mean) > 1e-6 || math.Abs(g.Std-w.Std) > 1e-6 {
				t.Fatalf("%s %d:\n got %+v\nwant %+v", what, i, g, w)
			}
			for j := range w.Edges {
				if math.Abs(g.Edges[j]-w.Edges[j]) > 1e-9 {
					t.Fatalf("%s %s edge %d: %v, want %v", what, w.Name, j, g.Edges[j], w.Edges[j])
				}
			}
		}
	}
	if got.Format != serve.ProfileFormat || got.Rows != 150 {
		t.Fatalf("profile %+v", got)
	}
	sameHists("feature", got.Features, want.Features)
	if !strings.Contains(so.String(), "150 rows, 4 features") {
		t.Fatalf("stdout %q", so.String())
	}

	// With the model: its feature names pick the columns, and its outputs
	// are profiled too, as the example's trainer did natively.
	so.Reset()
	if code := run2(&so, &se, "models", "profile", "--model", filepath.Join("examples", "iris-go", "model.wasm"), csvPath); code != 0 {
		t.Fatalf("--model: exit %d: %s", code, se.String())
	}
	got = serve.Profile{}
	if err := json.Unmarshal(so.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	sameHists("feature", got.Features, want.Features)
	sameHists("output", got.Outputs, want.Outputs)

	// Quantile bins hold about the same number of rows.
	so.Reset()
	if code := run2(&so, &se, "models", "profile", "--method", "quantile", "--bins", "4", "--features", "sepal_width,sepal_length", csvPath); code != 0 {
		t.Fatalf("quantile: exit %d: %s", code, se.String())
	}
	got = serve.Profile{}
	json.Unmarshal(so.Bytes(), &got)
	if len(got.Features) != 2 || got.Features[0].Name != "sepal_width" {
		t.Fatalf("quantile profile %+v", got)
	}
	for _, h := range got.Features {
		for _, c := range h.Counts {
			if c < 20 || c > 60 {
				t.Fatalf("%s: quantile counts %v", h.Name, h.Counts)
			}
		}
	}

	// Missing values, a constant and a text column.
	csvFile := filepath.Join(t.TempDir(), "d.csv")
	os.WriteFile(csvFile, []byte("a,b,c,label\n1,5,x,0\n,5,y,1\n3,5,z,0\nNA,5,w,1\n"), 0o644)
	so.Reset()
	se.Reset()
	if code := run2(&so, &se, "models", "profile", "--label", "label", "--bins", "2", csvFile); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	got = serve.Profile{}
	json.Unmarshal(so.Bytes(), &got)
	if len(got.Features) != 2 || got.Features[0].Missing != 2 || !slicesEqual(got.Features[0].Counts, []int64{1, 1}) ||
		!slicesEqual(got.Features[1].Counts, []int64{4}) || !strings.Contains(se.String(), `"c" is not numeric`) {
		t.Fatalf("profile %+v, stderr %q", got, se.String())
	}
	for _, bad := range [][]string{{"--label", "nope", csvFile}, {"--features", "c", csvFile}, {"--model", filepath.Join("examples", "forest-rust", "model.wasm"), csvFile}} {
		if code := run2(&so, &se, append([]string{"models", "profile"}, bad...)...); code != 1 {
			t.Fatalf("%v: exit %d", bad, code)
		}
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
