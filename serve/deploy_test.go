package serve

import (
	"encoding/json"
	"mlbox/serve/mlmodel"
	"strings"
	"testing"
	"time"
)

func TestSettingsParse(t *testing.T) {
	def := DefaultSettings()
	s, err := ParseSettings(nil, def)
	if err != nil || s.Alias != "champion" || s.Stage != "Production" || !s.Enabled || !s.Rollback.Auto || s.Shadow.Share != 1 {
		t.Fatalf("defaults: %+v %v", s, err)
	}
	s, err = ParseSettings([]byte(`{"stage": "staging", "canary": {"alias": "challenger", "share": 0.25}, "rollback": {"window": "2m", "min_requests": 10}}`), def)
	if err != nil || s.Stage != "Staging" || s.Alias != "champion" || s.Canary.Share != 0.25 ||
		time.Duration(s.Rollback.Window) != 2*time.Minute || s.Rollback.MinRequests != 10 || s.Rollback.MaxP99Ratio != 2 {
		t.Fatalf("overlay: %+v %v", s, err)
	}
	if s, err := ParseSettings([]byte(`{"rollback": {"window": 90}}`), def); err != nil || time.Duration(s.Rollback.Window) != 90*time.Second {
		t.Fatalf("window in seconds: %v %v", s.Rollback.Window, err)
	}
	for body, want := range map[string]string{
		`{"canary": {"share": 0.5}}`:                          "canary.alias: required",
		`{"canary": {"alias": "champion", "share": 0.5}}`:     "is the target alias itself",
		`{"canary": {"alias": "c", "share": 1.5}}`:            "canary.share",
		`{"shadow": {"enabled": true}}`:                       "shadow.alias: required",
		`{"stage": "Archived"}`:                               "stage",
		`{"alias": "no spaces"}`:                              "not a valid alias",
		`{"rollback": {"window": "1ms"}}`:                     "rollback.window",
		`{"rollback": {"max_p99_ratio": 0.5}}`:                "rollback.max_p99_ratio",
		`{"rollback": {"max_error_rate_delta": 2}}`:           "rollback.max_error_rate_delta",
		`{"rollback": {"min_requests": 0}}`:                   "rollback.min_requests",
		`{"canary": {"alias": "c", "share": 0.1}, "x": true}`: `unknown field "x"`,
		`{"rollback": {"window": "soon"}}`:                    "invalid duration",
		`{} {}`:                                               "trailing data",
		`[]`:                                                  "cannot unmarshal",
	} {
		if _, err := ParseSettings([]byte(body), def); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

func TestWithRolledBack(t *testing.T) {
	rb := &RolledBack{Version: "3", Reason: "bad", Time: time.Unix(0, 0).UTC()}
	for _, raw := range []string{"", `{"canary": {"alias": "c", "share": 0.5}, "stage": "Staging"}`, `{"canary": null}`} {
		out, err := withRolledBack([]byte(raw), rb)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseSettings(out, DefaultSettings())
		if raw != "" && raw[2] == 'c' && err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Canary struct {
				RolledBack *RolledBack `json:"rolled_back"`
				Share      float64     `json:"share"`
			} `json:"canary"`
		}
		if err := json.Unmarshal(out, &doc); err != nil || doc.Canary.RolledBack == nil || doc.Canary.RolledBack.Version != "3" {
			t.Fatalf("%q → %s (%v)", raw, out, err)
		}
		if strings.Contains(raw, "Staging") && (s.Stage != "Staging" || s.Canary.Share != 0.5) {
			t.Fatalf("lost settings: %s", out)
		}
	}
}

func TestWindow(t *testing.T) {
	w := newWindow(12 * time.Second) // 1 s buckets
	t0 := time.Unix(1000, 0)
	for i := 0; i < 100; i++ {
		w.add(t0, time.Duration(i+1)*time.Millisecond, i%10 == 0)
	}
	s := w.stats(t0)
	if s.Requests != 100 || s.Failures != 10 || s.ErrorRate() != 0.1 {
		t.Fatalf("stats %+v", s)
	}
	// p99 of 1..100 ms is 99 ms; the classes are 4 per power of two.
	if s.P99 < 99*time.Millisecond || s.P99 > 120*time.Millisecond {
		t.Fatalf("p99 %s", s.P99)
	}
	w.add(t0.Add(5*time.Second), time.Millisecond, true)
	if s := w.stats(t0.Add(11 * time.Second)); s.Requests != 101 {
		t.Fatalf("still in the window: %+v", s)
	}
	if s := w.stats(t0.Add(13 * time.Second)); s.Requests != 1 || s.Failures != 1 {
		t.Fatalf("after the first bucket left: %+v", s)
	}
	if s := w.stats(t0.Add(time.Minute)); s.Requests != 0 || s.P99 != 0 {
		t.Fatalf("all expired: %+v", s)
	}
	// Classes are monotonic and bound their latencies.
	prev := time.Duration(-1)
	for d := time.Duration(0); d < 10*time.Second; d = d*5/4 + time.Microsecond {
		c := latClass(d)
		if latUpper(c) < d-time.Microsecond || latUpper(c) < prev {
			t.Fatalf("%s: class %d upper %s (prev %s)", d, c, latUpper(c), prev)
		}
		prev = latUpper(c)
	}
}

func TestJudge(t *testing.T) {
	rs := DefaultSettings().Rollback
	rs.MinRequests = 50
	ok := windowStats{Requests: 500, Failures: 5, P99: 10 * time.Millisecond}
	for _, c := range []struct {
		name    string
		canary  windowStats
		want    string
		inc     windowStats
		noDelta bool
	}{
		{"too few", windowStats{Requests: 49, Failures: 49}, "", ok, false},
		{"errors", windowStats{Requests: 50, Failures: 10, P99: time.Millisecond}, "error rate 20.0%", ok, false},
		{"within margin", windowStats{Requests: 100, Failures: 5, P99: time.Millisecond}, "", ok, false},
		{"slow", windowStats{Requests: 100, P99: 25 * time.Millisecond}, "p99 latency 25ms", ok, false},
		{"slow but incumbent too quiet", windowStats{Requests: 100, P99: 25 * time.Millisecond}, "", windowStats{Requests: 10, P99: time.Millisecond}, false},
		{"fine", windowStats{Requests: 100, Failures: 1, P99: 15 * time.Millisecond}, "", ok, false},
	} {
		got := judge(c.canary, c.inc, rs)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestWasmFlavor(t *testing.T) {
	parse := func(body string) (*wasmFlavor, []string, error) {
		mm, err := mlmodel.Parse([]byte(body))
		if err != nil {
			return nil, nil, err
		}
		fl, err := wasmFlavorOf(mm)
		return fl, mm.FlavorNames(), err
	}
	fl, flavors, err := parse(`artifact_path: model
flavors:
  python_function: {loader_module: x}
  wasm:
    module: 'dir/model.wasm'   # the module
    sha256: "ABCD"
    abi_version: 1
    n_features: 4
    nested:
      n_features: 9
    profile: profile.json
model_uuid: x
signature:
  inputs: '[{"name": "a # not a comment", "type": "double"}]'
`)
	if err != nil || fl.Module != "dir/model.wasm" || fl.SHA256 != "abcd" || fl.Profile != "profile.json" || fl.Fields["n_features"] != "4" ||
		strings.Join(flavors, ",") != "python_function,wasm" {
		t.Fatalf("%+v %v %v", fl, flavors, err)
	}
	if fl, _, err := parse("flavors: {wasm: {module: m, n_outputs: 3}}\n"); err != nil || fl.Module != "m" || fl.Fields["n_outputs"] != "3" {
		t.Fatalf("flow style: %+v %v", fl, err)
	}
	for body, want := range map[string]string{
		sklearnMLmodel:                       "no wasm flavor",
		"flavors: {}\n":                      "no wasm flavor",
		"artifact_path: x\n":                 "no wasm flavor",
		"flavors:\n  wasm:\n    sha256: x\n": "no module field",
		"flavors:\n    wasm:\n  module: m\n": "not valid YAML",
		"flavors:\n  - wasm\n":               "not a mapping",
	} {
		if _, _, err := parse(body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
	m := Metadata{ABIVersion: 1, Task: Regression, DType: F64, OutputDType: F64, NFeatures: 4, NOutputs: 1, MaxBatchRows: 8}
	if err := checkFlavor(&wasmFlavor{Fields: map[string]string{"n_features": "4", "task": "regression"}}, &m); err != nil {
		t.Fatal(err)
	}
	if err := checkFlavor(&wasmFlavor{Fields: map[string]string{"dtype": "f32", "max_batch_rows": "9"}}, &m); err == nil ||
		!strings.Contains(err.Error(), "dtype is f32 in MLmodel, f64 in the module; max_batch_rows is 9") {
		t.Fatal(err)
	}
}
