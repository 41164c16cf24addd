package serve

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mlbox/serve/compile"
	"mlbox/serve/compile/wasmgen"
	"mlbox/serve/internal/zootest"
)

// The serving features on models mlbox compiles itself: scikit-learn
// models as mlflow.sklearn writes them (the compiler's fixtures).

const zooDir = "compile/sklearn/testdata/zoo"

// zooFiles reads a fixture model directory (its MLmodel and model file),
// plus extra files.
func zooFiles(t *testing.T, name string, extra map[string][]byte) (map[string][]byte, *zootest.Case) {
	t.Helper()
	dir := filepath.Join(zooDir, name)
	files := map[string][]byte{}
	for _, f := range []string{"MLmodel", "model.pkl", "model.skops"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
			files[f] = b
		}
	}
	for k, v := range extra {
		files[k] = v
	}
	c, err := zootest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return files, c
}

// splitBody is the dataframe_split body of some of a case's rows.
func splitBody(c *zootest.Case, rows [][]any) string {
	b, _ := json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": c.Columns, "data": rows}})
	return string(b)
}

// waitTag waits for a version's compile state.
func (f *fixture) waitTag(model, version string) string {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mv, err := f.st.GetModelVersion(context.Background(), model, version)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, tg := range mv.Tags {
			if tg.Key == CompileTag && tg.Value != "pending" {
				return tg.Value
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s v%s: not compiled after 30s: %+v", model, version, mv.Tags)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServeCompiledSwapUnderLoad(t *testing.T) {
	cache := t.TempDir()
	f := newFixture(t, func(c *ManagerConfig) { c.CompileDir = cache })
	// The same pipeline logged in two formats: the answers must not change
	// while the versions swap.
	skops, c := zooFiles(t, "pipe_scaler_logreg_cancer-skops", nil)
	pkl, _ := zooFiles(t, "pipe_scaler_logreg_cancer-pickle", nil)
	v1 := f.addVersion("m", skops)
	v2 := f.addVersion("m", pkl)
	// Compiled in the background on registration, before any deployment.
	for _, v := range []string{v1, v2} {
		if st := f.waitTag("m", v); st != "compiled" {
			t.Fatalf("v%s: %s", v, st)
		}
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 2 {
		t.Fatalf("compile cache holds %d entries, want 2", len(entries))
	}
	f.alias("m", "champion", v1)
	f.waitServing("m", v1)
	body := splitBody(c, c.Rows)
	st, _, want := f.predict("/models/m/invocations", body)
	if st != 200 || want != `{"predictions":`+string(c.Expected.Predictions)+`}` {
		t.Fatalf("%d %s, want %s", st, want, c.Expected.Predictions)
	}
	stop := f.hammer("/models/m/invocations", body, want)
	for i := range 16 {
		v := v2
		if i%2 == 1 {
			v = v1
		}
		f.alias("m", "champion", v)
		f.waitServing("m", v)
		time.Sleep(15 * time.Millisecond)
	}
	seen, failures := stop()
	if len(failures) > 0 {
		t.Fatalf("%d failed requests, e.g. %v", len(failures), failures[:min(3, len(failures))])
	}
	if seen[v1] == 0 || seen[v2] == 0 {
		t.Fatalf("versions seen: %v", seen)
	}
	s, _ := f.m.Status(context.Background(), "m")
	if s.Serving == nil || s.Serving.Compile != "compiled" {
		t.Fatalf("status: %+v", s.Serving)
	}
}

// TestServeCompiledCanaryRollback: a canary that refuses unknown
// categories, which the serving version accepts, is rolled back.
func TestServeCompiledCanaryRollback(t *testing.T) {
	f := newFixture(t, func(c *ManagerConfig) { c.CompileDir = t.TempDir() })
	good, c := zooFiles(t, "ohe_infrequent_ifbinary-pickle", nil)
	strict, _ := zooFiles(t, "ohe_error_nodrop_logreg-pickle", nil)
	v1 := f.addVersion("m", good)
	v2 := f.addVersion("m", strict)
	f.alias("m", "champion", v1)
	f.alias("m", "challenger", v2)
	if _, err := f.m.PutSettings(context.Background(), "m", []byte(`{"canary": {"alias": "challenger", "share": 0.5},
		"rollback": {"window": "30s", "min_requests": 20}}`)); err != nil {
		t.Fatal(err)
	}
	// Rows with a category neither model saw at fit.
	var unseen [][]any
	for _, r := range c.Rows {
		row := slices.Clone(r)
		row[0] = "teal"
		unseen = append(unseen, row)
	}
	refused := 0
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, ver, b := f.predict("/models/m/invocations", splitBody(c, unseen[:1]))
		if ver == v2 {
			if st != 400 || !strings.Contains(b, `unknown category in column \"color\"`) {
				t.Fatalf("canary: %d %s", st, b)
			}
			refused++
		} else if st != 200 {
			t.Fatalf("main: %d %s", st, b)
		}
		s, _ := f.m.Status(context.Background(), "m")
		if s.Canary == nil && refused > 0 {
			break // rolled back
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rollback after %d refused requests: %+v", refused, s)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); len(f.eventsOf("deployment.rolled_back")) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no deployment.rolled_back event")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestServeCompiledRequestLogAndDrift: requests to a compiled model (string
// columns included) reach the request log, and a profile shipped next to
// the model drives drift.
func TestServeCompiledRequestLogAndDrift(t *testing.T) {
	rl, err := OpenRequestLog(t.TempDir(), RequestLogConfig{SampleRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	f := newFixture(t, func(cfg *ManagerConfig) {
		cfg.CompileDir = t.TempDir()
		cfg.Observe = ObserveConfig{RequestLog: rl, SampleRate: 1, Drift: DriftConfig{Window: 40, MinRows: 40}}
	})
	files, c := zooFiles(t, "ct_pipelines_passthrough-pickle", nil)
	v := f.addVersion("m", files)
	f.alias("m", "champion", v)
	f.waitServing("m", v)
	lv := f.m.deployment("m").route.Load().main.lv
	// A profile of the fixture's rows, as the module sees them.
	var enc [][]float64
	for _, r := range c.Rows {
		in := make([]float64, lv.meta.NFeatures)
		for i := range in {
			in[i] = math.NaN()
		}
		for j, name := range c.Columns {
			k, ok := lv.names[name]
			if !ok {
				continue
			}
			switch x := r[j].(type) {
			case float64:
				in[k] = x
			case string:
				in[k] = float64(slices.Index(lv.meta.Columns[k].Categories, x))
			}
		}
		enc = append(enc, in)
	}
	prof := Profile{Format: ProfileFormat, Rows: int64(len(enc))}
	for k, name := range lv.meta.InputNames() {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, in := range enc {
			if !math.IsNaN(in[k]) {
				lo, hi = math.Min(lo, in[k]), math.Max(hi, in[k])
			}
		}
		h := Histogram{Name: name, Edges: []float64{lo, lo + (hi-lo)/2, hi + 1e-9}, Counts: []int64{0, 0}}
		for _, in := range enc {
			if math.IsNaN(in[k]) {
				h.Missing++
			} else {
				h.Counts[h.Bin(in[k])]++
			}
		}
		prof.Features = append(prof.Features, h)
	}
	pb, _ := json.Marshal(prof)
	files["profile.json"] = pb
	v2 := f.addVersion("m", files)
	f.alias("m", "champion", v2)
	f.waitServing("m", v2)
	// The training rows: no drift. Then x1 shifted far: x1 drifts.
	st, _, b := f.predict("/models/m/invocations", splitBody(c, c.Rows))
	if st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	ds, _ := f.m.Drift(context.Background(), "m")
	if len(ds) != 1 || !ds[0].Profile || ds[0].Rows != len(c.Rows) || len(ds[0].Alerting) != 0 {
		t.Fatalf("drift on training rows: %+v", ds)
	}
	x1 := slices.Index(c.Columns, "x1")
	var shifted [][]any
	for _, r := range c.Rows {
		row := slices.Clone(r)
		row[x1] = 1000.0
		shifted = append(shifted, row)
	}
	if st, _, b := f.predict("/models/m/invocations", splitBody(c, shifted)); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		ds, _ = f.m.Drift(context.Background(), "m")
		if len(ds) != 1 || ds[0].PSI["x1"] < 1 || ds[0].PSI["color"] != 0 || slices.Contains(ds[0].Alerting, "color") {
			t.Fatalf("drift after shifting x1: %+v", ds)
		}
		if slices.Contains(ds[0].Alerting, "x1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("x1 does not alert: %+v", ds)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A refused request and the served ones are in the request log, with
	// the string values as sent.
	if st, _, _ := f.predict("/models/m/invocations", `{"dataframe_split": {"columns": ["color"], "data": [["red"]]}}`); st != 400 {
		t.Fatalf("missing columns: %d", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		es, err := rl.Recent("m", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) >= 3 {
			var statuses []int
			for _, e := range es {
				statuses = append(statuses, e.Status)
			}
			if !slices.Contains(statuses, 400) || !slices.Contains(statuses, 200) || !strings.Contains(string(es[len(es)-1].Input)+string(es[0].Input), `"red"`) {
				t.Fatalf("request log: %v", statuses)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request log has %d entries", len(es))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeCompileCachedRestart: a second manager over the same data
// finds the module in the cache and compiles nothing.
func TestServeCompileCachedRestart(t *testing.T) {
	cache := t.TempDir()
	f := newFixture(t, func(c *ManagerConfig) { c.CompileDir = cache })
	files, _ := zooFiles(t, "rf_clf_nan_train_proba-pickle", nil)
	v := f.addVersion("m", files)
	f.alias("m", "champion", v)
	f.waitServing("m", v)
	if n := f.set.GetOrCreateCounter(`mlbox_compile_total{result="compiled"}`).Get(); n != 1 {
		t.Fatalf("compiled %d times", n)
	}
	m2, err := NewManager(context.Background(), ManagerConfig{CompileDir: cache, Resync: -1, Runtime: RuntimeConfig{PoolSize: 1}}, f.st, f.arts)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if _, err := m2.Reconcile(context.Background(), "m"); err != nil {
		t.Fatal(err)
	}
	if s, _ := m2.Status(context.Background(), "m"); s.Serving == nil || s.Serving.Version != v {
		t.Fatalf("%+v", s)
	}
	if n := m2.set.GetOrCreateCounter(`mlbox_compile_total{result="cached"}`).Get(); n != 1 {
		t.Fatalf("cache hits %d", n)
	}
	if n := m2.set.GetOrCreateCounter(`mlbox_compile_total{result="compiled"}`).Get(); n != 0 {
		t.Fatalf("compiled %d times after a restart", n)
	}
}

// TestServeDefaultPredict: POST /predict at the root serves the one model
// being served, and lists them when there are several.
func TestServeDefaultPredict(t *testing.T) {
	f := newFixture(t, func(c *ManagerConfig) { c.CompileDir = t.TempDir() })
	h := f.m.DefaultHandler("")
	post := func(body string) (int, string) {
		req, _ := http.NewRequest("POST", "/predict", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	if st, b := post(`{"data": [1]}`); st != 400 || !strings.Contains(b, "none is") {
		t.Fatalf("%d %s", st, b)
	}
	files, c := zooFiles(t, "ridge_reg-pickle", nil)
	v := f.addVersion("a", files)
	f.alias("a", "champion", v)
	f.waitServing("a", v)
	row, _ := json.Marshal(map[string]any{"data": c.Rows[:2]})
	if st, b := post(string(row)); st != 200 || !strings.HasPrefix(b, `{"predictions":[`) {
		t.Fatalf("%d %s", st, b)
	}
	v = f.addVersion("b", files)
	f.alias("b", "champion", v)
	f.waitServing("b", v)
	if st, b := post(string(row)); st != 400 || !strings.Contains(b, "2 are (a, b)") {
		t.Fatalf("%d %s", st, b)
	}
	h = f.m.DefaultHandler("b")
	if st, b := post(string(row)); st != 200 {
		t.Fatalf("named: %d %s", st, b)
	}
}

// TestCompiledModulesConform: a compiled module, loaded as any module is
// (untrusted), passes what hand-written ones do: the ABI checks of Load,
// concurrent calls on a pool giving the answers of sequential ones,
// batches split by the host; and the offline hand-off (the module logged
// as a wasm flavor) serves what the compiled version serves.
func TestCompiledModulesConform(t *testing.T) {
	ctx := context.Background()
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 4})
	for _, name := range []string{"ct_pipelines_passthrough-skops", "rf_clf_nan_train_proba-pickle", "linreg_two_targets-pickle"} {
		files, c := zooFiles(t, name, nil)
		src, err := compile.Read(files["MLmodel"], func(n string, _ int64) ([]byte, error) { return files[n], nil })
		if err != nil {
			t.Fatal(err)
		}
		mod, err := src.Compile(wasmgen.Options{MaxBatchRows: 7})
		if err != nil {
			t.Fatal(err)
		}
		m := mustLoad(t, r, mod.Wasm)
		meta := m.Meta()
		lv := &loadedVersion{}
		lv.setMeta(meta)
		st := &reqState{}
		rows, err := decodeInvocations([]byte(splitBody(c, c.Rows)), lv, st)
		if err != nil {
			t.Fatal(err)
		}
		in := slices.Clone(st.in[:rows*meta.NFeatures])
		want, err := m.Predict(ctx, in, rows) // 40 rows: split into batches of 7
		if err != nil {
			t.Fatal(err)
		}
		resp := lv.appendResponse(nil, slices.Clone(want), rows, false, true)
		if string(resp) != `{"predictions":`+string(c.Expected.Predictions)+`}` && !strings.Contains(c.Family, "Linear") {
			t.Fatalf("%s: %s, want %s", name, resp, c.Expected.Predictions)
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					row := (g*50 + i) % rows
					got, err := m.Predict(ctx, in[row*meta.NFeatures:(row+1)*meta.NFeatures], 1)
					if err != nil {
						t.Error(err)
						return
					}
					if !slices.Equal(got, want[row*meta.NOutputs:(row+1)*meta.NOutputs]) {
						t.Errorf("%s row %d: %v, sequentially %v", name, row, got, want[row*meta.NOutputs:(row+1)*meta.NOutputs])
						return
					}
				}
			}()
		}
		wg.Wait()
	}

	// The hand-off: compiled offline, logged as a wasm flavor.
	f := newFixture(t, func(c *ManagerConfig) { c.CompileDir = t.TempDir() })
	files, c := zooFiles(t, "ct_pipelines_passthrough-skops", nil)
	src, _ := compile.Read(files["MLmodel"], func(n string, _ int64) ([]byte, error) { return files[n], nil })
	mod, err := src.Compile(wasmgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v1 := f.addVersion("sk", files)
	v2 := f.addWasm("wasm", mod.Wasm)
	f.alias("sk", "champion", v1)
	f.alias("wasm", "champion", v2)
	_, _, a := f.predict("/models/sk/invocations", splitBody(c, c.Rows))
	_, _, b := f.predict("/models/wasm/invocations", splitBody(c, c.Rows))
	if a != b || a != `{"predictions":`+string(c.Expected.Predictions)+`}` {
		t.Fatalf("compiled %s, handed off %s", a, b)
	}
}

// TestServeCompileStates: the background compile records every outcome
// on the version, before any deployment asks.
func TestServeCompileStates(t *testing.T) {
	f := newFixture(t, func(c *ManagerConfig) { c.CompileDir = t.TempDir() })
	files, _ := zooFiles(t, "ridge_reg-pickle", nil)
	for _, c := range []struct {
		name, pkl string
		want      string
	}{
		{"ok", string(files["model.pkl"]), "compiled"},
		{"missing", "", "invalid: the model file model.pkl is missing"},
		{"dummy", "\x80\x02csklearn.dummy\nDummyClassifier\n)\x81}b.", "unsupported: sklearn.dummy.DummyClassifier"},
		{"evil", "\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsR.", "unsupported: model.pkl references os.system"},
		{"truncated", "\x80\x04\x95\x10", "invalid: model.pkl"},
	} {
		fs := map[string][]byte{"MLmodel": files["MLmodel"]}
		if c.pkl != "" {
			fs["model.pkl"] = []byte(c.pkl)
		}
		v := f.addVersion(c.name, fs)
		if got := f.waitTag(c.name, v); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	for result, want := range map[string]uint64{"compiled": 1, "unsupported": 2, "invalid": 1} {
		if n := f.set.GetOrCreateCounter(`mlbox_compile_total{result="` + result + `"}`).Get(); n != want {
			t.Errorf("%s compiles counted %d, want %d", result, n, want)
		}
	}
}
