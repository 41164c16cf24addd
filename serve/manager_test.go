package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"mlbox/store"
	"mlbox/store/artifact"
)

// fixture is a real registry (bbolt store, local artifacts) with a
// Manager serving it over httptest.
type fixture struct {
	t      *testing.T
	st     *store.Store
	arts   artifact.Store
	m      *Manager
	srv    *httptest.Server
	set    *metrics.Set
	mu     sync.Mutex
	events []store.Event
}

func newFixture(t *testing.T, mutate ...func(*ManagerConfig)) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	arts, err := artifact.NewLocal(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, arts: arts, set: metrics.NewSet()}
	cfg := ManagerConfig{Runtime: RuntimeConfig{PoolSize: 2}, Resync: -1, Metrics: f.set}
	for _, fn := range mutate {
		fn(&cfg)
	}
	m, err := NewManager(context.Background(), cfg, st, arts)
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	st.OnEvent(m.Notify)
	st.OnEvent(func(ev store.Event) {
		f.mu.Lock()
		f.events = append(f.events, ev)
		f.mu.Unlock()
	})
	m.Start(context.Background())
	f.srv = httptest.NewServer(m.Handler())
	t.Cleanup(func() {
		f.srv.Close()
		if err := m.Close(); err != nil {
			t.Errorf("Manager.Close: %v", err)
		}
		st.Close()
		arts.Close()
	})
	return f
}

func (f *fixture) eventsOf(typ string) []store.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Event
	for _, e := range f.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// wasmMLmodelFile is an MLmodel with a wasm flavor for module bytes.
func wasmMLmodelFile(wasm []byte, extra string) string {
	sum := sha256.Sum256(wasm)
	return "artifact_path: model\nflavors:\n  wasm:\n    module: model.wasm\n    sha256: " + hex.EncodeToString(sum[:]) +
		"\n    abi_version: 1\n" + extra + "model_uuid: 'abc'\nsignature:\n  inputs: '[]'\n"
}

const sklearnMLmodel = `artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    python_version: 3.11.4
  sklearn:
    pickled_model: model.pkl
    sklearn_version: 1.3.0
model_uuid: 0a1b
`

// addVersion registers a new version of model (created if needed) whose
// artifacts are files (name → content) and returns its number.
func (f *fixture) addVersion(model string, files map[string][]byte) string {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.st.GetRegisteredModel(ctx, model); err != nil {
		if _, err := f.st.CreateRegisteredModel(ctx, model, "", nil, "test"); err != nil {
			f.t.Fatal(err)
		}
	}
	run, err := f.st.CreateRun(ctx, store.CreateRunRequest{ExperimentID: "0"})
	if err != nil {
		f.t.Fatal(err)
	}
	base := strings.TrimLeft(strings.TrimPrefix(run.Info.ArtifactURI, "mlflow-artifacts:"), "/") + "/model/"
	for name, b := range files {
		if err := f.arts.Put(ctx, base+name, bytes.NewReader(b), int64(len(b))); err != nil {
			f.t.Fatal(err)
		}
	}
	mv, err := f.st.CreateModelVersion(ctx, store.CreateModelVersionRequest{Name: model, Source: "runs:/" + run.Info.RunID + "/model", RunID: run.Info.RunID}, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	return mv.Version
}

// addWasm registers a wasm version of model.
func (f *fixture) addWasm(model string, wasm []byte) string {
	return f.addVersion(model, map[string][]byte{"MLmodel": []byte(wasmMLmodelFile(wasm, "")), "model.wasm": wasm})
}

func (f *fixture) alias(model, alias, version string) {
	f.t.Helper()
	if err := f.st.SetRegisteredModelAlias(context.Background(), model, alias, version, "test"); err != nil {
		f.t.Fatal(err)
	}
}

// post sends a JSON body and returns status, headers and body.
func (f *fixture) post(path, ctype, body string) (int, http.Header, string) {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (f *fixture) predict(path, body string) (int, string, string) {
	f.t.Helper()
	st, h, b := f.post(path, "application/json", body)
	return st, h.Get(HeaderModelVersion), b
}

// hammer sends body to path from 4 goroutines until the returned stop is
// called, which returns the requests per answering version and the
// answers that were not 200 want.
func (f *fixture) hammer(path, body, want string) (stop func() (map[string]int, []string)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	var failures []string
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				resp, err := client.Post(f.srv.URL+path, "application/json", strings.NewReader(body))
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode != 200 || string(b) != want {
					failures = append(failures, fmt.Sprintf("%d %.200s", resp.StatusCode, b))
				}
				seen[resp.Header.Get(HeaderModelVersion)]++
				mu.Unlock()
			}
		}()
	}
	return func() (map[string]int, []string) {
		close(done)
		wg.Wait()
		return seen, failures
	}
}

// waitServing waits until model's deployment serves version.
func (f *fixture) waitServing(model, version string) {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if d := f.m.deployment(model); d != nil {
			if r := d.route.Load(); r.main != nil && r.main.lv.version == version {
				return
			}
		}
		if time.Now().After(deadline) {
			st, err := f.m.Status(context.Background(), model)
			f.t.Fatalf("%s is not serving version %s: %+v %v", model, version, st, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// namedSpec is a mock with named features a, b, c, d; tag makes the bytes
// (and so the sha) distinct.
func namedSpec(tag string) mockSpec {
	return mockSpec{NF: 4, NO: 2, MaxRows: 64, Meta: `{"abi_version":1,"name":"` + tag + `","task":"regression","dtype":"f64",` +
		`"n_features":4,"feature_names":["a","b","c","d"],"n_outputs":2,"output_names":["y","z"],"max_batch_rows":64}`}
}

func TestServeDeploymentLifecycle(t *testing.T) {
	f := newFixture(t)
	v1 := f.addWasm("m", mockModule(namedSpec("v1")))

	// No alias, no Production version: nothing to serve.
	st, _, body := f.predict("/models/m/predict", `{"data": [0, 2, 3, 5]}`)
	if st != 404 || !strings.Contains(body, "RESOURCE_DOES_NOT_EXIST") || !strings.Contains(body, `no alias \"champion\"`) {
		t.Fatalf("no target: %d %s", st, body)
	}
	// An unknown model.
	if st, _, body := f.predict("/models/nope/predict", `{"data": [0, 2, 3, 5]}`); st != 404 || !strings.Contains(body, "RESOURCE_DOES_NOT_EXIST") {
		t.Fatalf("unknown model: %d %s", st, body)
	}

	// Production stage serves when there is no alias.
	if _, err := f.st.TransitionModelVersionStage(context.Background(), "m", v1, "Production", false, "test"); err != nil {
		t.Fatal(err)
	}
	f.waitServing("m", v1)
	st, ver, body := f.predict("/models/m/predict", `{"data": [0, 2, 3, 5]}`)
	if st != 200 || ver != v1 || body != `{"predictions":[[10,20]]}` {
		t.Fatalf("predict: %d v=%s %s", st, ver, body)
	}
	status, err := f.m.Status(context.Background(), "m")
	if err != nil || status.State != StateServing || status.Serving.Target != "stage Production" || status.Serving.Version != v1 {
		t.Fatalf("status %+v %v", status, err)
	}

	// The champion alias wins over the stage.
	v2 := f.addWasm("m", mockModule(namedSpec("v2")))
	f.alias("m", "champion", v2)
	f.waitServing("m", v2)
	if st, ver, _ := f.predict("/models/m/predict", `{"data": [[0, 2, 3, 5], [0, 0, 0, 1]]}`); st != 200 || ver != v2 {
		t.Fatalf("after alias: %d %s", st, ver)
	}

	// Explicit targets.
	if st, ver, body := f.predict("/models/m/versions/"+v1+"/predict", `{"data": [0, 1, 1, 2]}`); st != 200 || ver != v1 || body != `{"predictions":[[4,8]]}` {
		t.Fatalf("explicit version: %d %s %s", st, ver, body)
	}
	if st, ver, _ := f.predict("/models/m@champion/invocations", `{"inputs": [[0, 1, 1, 2]]}`); st != 200 || ver != v2 {
		t.Fatalf("explicit alias: %d %s", st, ver)
	}
	if st, _, body := f.predict("/models/m@nope/predict", `{"data": [0, 1, 1, 2]}`); st != 404 {
		t.Fatalf("unknown alias: %d %s", st, body)
	}
	if st, _, body := f.predict("/models/m/versions/99/predict", `{"data": [0, 1, 1, 2]}`); st != 404 {
		t.Fatalf("unknown version: %d %s", st, body)
	}

	// GET info.
	resp, err := http.Get(f.srv.URL + "/models/m")
	if err != nil {
		t.Fatal(err)
	}
	var info Info
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if resp.StatusCode != 200 || info.Version != v2 || info.Target != "alias champion" || info.Metadata.NFeatures != 4 || !strings.Contains(info.Signature.Inputs, `"name":"a"`) {
		t.Fatalf("info: %d %+v", resp.StatusCode, info)
	}

	// A version whose sklearn model file is not a pickle: not servable,
	// with its compile state as a version tag.
	f.addVersion("sk", map[string][]byte{"MLmodel": []byte(sklearnMLmodel), "model.pkl": []byte("x")})
	f.alias("sk", "champion", "1")
	st, _, body = f.predict("/models/sk/predict", `{"data": [1]}`)
	if st != 409 || !strings.Contains(body, "INVALID_STATE") || !strings.Contains(body, "invalid: model.pkl") {
		t.Fatalf("sklearn: %d %s", st, body)
	}
	if s, _ := f.m.Status(context.Background(), "sk"); s.State != StateNotServable {
		t.Fatalf("sklearn status %+v", s)
	}
	if mv, _ := f.st.GetModelVersion(context.Background(), "sk", "1"); len(mv.Tags) != 1 || mv.Tags[0].Key != CompileTag || !strings.HasPrefix(mv.Tags[0].Value, "invalid: model.pkl") {
		t.Fatalf("compile state tag: %+v", mv.Tags)
	}
	// A flavor nothing compiles.
	f.addVersion("pt", map[string][]byte{"MLmodel": []byte("flavors:\n  python_function: {}\n  pytorch: {}\n")})
	f.alias("pt", "champion", "1")
	st, _, body = f.predict("/models/pt/predict", `{"data": [1]}`)
	if st != 409 || !strings.Contains(body, "no flavor mlbox can serve (flavors: python_function, pytorch)") {
		t.Fatalf("pytorch: %d %s", st, body)
	}

	// Deleting the alias falls back to the Production stage (v1).
	if err := f.st.DeleteRegisteredModelAlias(context.Background(), "m", "champion", "test"); err != nil {
		t.Fatal(err)
	}
	f.waitServing("m", v1)

	// Deleting the model drops the deployment.
	if err := f.st.DeleteRegisteredModel(context.Background(), "m", "test"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.m.deployment("m") != nil {
		if time.Now().After(deadline) {
			t.Fatal("deployment of a deleted model remains")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st, _, _ := f.predict("/models/m/predict", `{"data": [0, 2, 3, 5]}`); st != 404 {
		t.Fatalf("deleted model: %d", st)
	}
}

func TestServeLoadFailureKeepsServing(t *testing.T) {
	f := newFixture(t)
	v1 := f.addWasm("m", mockModule(namedSpec("v1")))
	f.alias("m", "champion", v1)
	f.waitServing("m", v1)

	bad := []byte("\x00asm\x01\x00\x00\x00garbage")
	v2 := f.addVersion("m", map[string][]byte{"MLmodel": []byte(wasmMLmodelFile(bad, "")), "model.wasm": bad})
	good := mockModule(namedSpec("v3"))
	v3 := f.addVersion("m", map[string][]byte{"MLmodel": []byte(wasmMLmodelFile(good, "    n_features: 5\n")), "model.wasm": good})
	v4 := f.addVersion("m", map[string][]byte{"MLmodel": []byte(wasmMLmodelFile(mockModule(namedSpec("other")), "")), "model.wasm": good})
	for _, c := range []struct{ v, want string }{
		{v2, "invalid wasm model"},
		{v3, "n_features is 5 in MLmodel, 4 in the module"},
		{v4, "MLmodel says"},
	} {
		f.alias("m", "champion", c.v)
		deadline := time.Now().Add(10 * time.Second)
		for {
			s, err := f.m.Status(context.Background(), "m")
			if err != nil {
				t.Fatal(err)
			}
			if s.LastError != nil && s.LastError.Version == c.v {
				if !strings.Contains(s.LastError.Message, c.want) || s.Serving == nil || s.Serving.Version != v1 || s.State != StateServing {
					t.Fatalf("version %s: status %+v, last error %+v", c.v, s, s.LastError)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("version %s: no load error: %+v", c.v, s)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if st, ver, body := f.predict("/models/m/predict", `{"data": [0, 2, 3, 5]}`); st != 200 || ver != v1 {
			t.Fatalf("while %s is broken: %d %s %s", c.v, st, ver, body)
		}
	}
}

// TestServeHotSwapUnderLoad moves the champion alias back and forth while
// clients hammer /predict: every request must succeed.
func TestServeHotSwapUnderLoad(t *testing.T) {
	// warm: the replaced version stays loaded (keep_versions), so swapping
	// back is instant; cold: every swap loads, and closes the old version
	// under the requests still using it.
	t.Run("warm", func(t *testing.T) { testHotSwap(t, 2) })
	t.Run("cold", func(t *testing.T) { testHotSwap(t, -1) })
}

func testHotSwap(t *testing.T, keep int) {
	f := newFixture(t, func(c *ManagerConfig) { c.KeepVersions = keep })
	v1 := f.addWasm("m", mockModule(namedSpec("v1")))
	v2 := f.addWasm("m", mockModule(namedSpec("v2")))
	f.alias("m", "champion", v1)
	f.waitServing("m", v1)

	stop := f.hammer("/models/m/predict", `{"data": [[0, 2, 3, 5], [0, 1, 1, 2]]}`, `{"predictions":[[10,20],[4,8]]}`)
	for i := 0; i < 20; i++ {
		v := v2
		if i%2 == 1 {
			v = v1
		}
		f.alias("m", "champion", v)
		f.waitServing("m", v)
		time.Sleep(20 * time.Millisecond)
	}
	seen, failures := stop()
	if len(failures) > 0 {
		t.Fatalf("%d failed requests, e.g. %v", len(failures), failures[:min(5, len(failures))])
	}
	if seen[v1] == 0 || seen[v2] == 0 {
		t.Fatalf("versions seen: %v", seen)
	}
	t.Logf("requests per version: %v", seen)
}

func TestServeCanarySplit(t *testing.T) {
	f := newFixture(t)
	v1 := f.addWasm("m", mockModule(namedSpec("v1")))
	v2 := f.addWasm("m", mockModule(namedSpec("v2")))
	f.alias("m", "champion", v1)
	f.alias("m", "challenger", v2)
	st, err := f.m.PutSettings(context.Background(), "m", []byte(`{"canary": {"alias": "challenger", "share": 0.2}, "rollback": {"auto": false}}`))
	if err != nil {
		t.Fatal(err)
	}
	if st.Canary == nil || st.Canary.Version != v2 || st.Canary.Share != 0.2 || st.Serving.Version != v1 {
		t.Fatalf("status %+v", st)
	}
	const n = 2000
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/4; i++ {
				resp, err := f.srv.Client().Post(f.srv.URL+"/models/m/predict", "application/json", strings.NewReader(`{"data": [0, 2, 3, 5]}`))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				counts[resp.Header.Get(HeaderModelVersion)]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	share := float64(counts[v2]) / n
	if counts[v1]+counts[v2] != n || share < 0.16 || share > 0.24 {
		t.Fatalf("canary share %.3f (%v), want 0.2 ± 0.04", share, counts)
	}
	s, _ := f.m.Status(context.Background(), "m")
	if s.Canary.Requests != int64(counts[v2]) || s.Serving.Requests != int64(counts[v1]) {
		t.Fatalf("per-version counts: main %d canary %d, want %v", s.Serving.Requests, s.Canary.Requests, counts)
	}
}

// TestServeAutoRollback: a canary that fails every request is taken out of
// traffic, audited and announced.
func TestServeAutoRollback(t *testing.T) {
	f := newFixture(t)
	v1 := f.addWasm("m", mockModule(namedSpec("v1")))
	badSpec := namedSpec("refuses")
	badSpec.Always = modeReport
	v2 := f.addWasm("m", mockModule(badSpec))
	f.alias("m", "champion", v1)
	f.alias("m", "challenger", v2)
	if _, err := f.m.PutSettings(context.Background(), "m", []byte(`{"canary": {"alias": "challenger", "share": 0.5},
		"rollback": {"window": "30s", "min_requests": 20}}`)); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for i := 0; i < 100; i++ {
		st, ver, body := f.predict("/models/m/predict", `{"data": [0, 2, 3, 5]}`)
		if st != 200 {
			if ver != v2 || st != 400 || !strings.Contains(body, "The model refused the input: mode 5 says no") {
				t.Fatalf("failure from %s: %d %s", ver, st, body)
			}
			failed++
		}
	}
	if failed < 20 {
		t.Fatalf("only %d canary failures", failed)
	}
	deadline := time.Now().Add(10 * time.Second)
	var s *Status
	for {
		var err error
		if s, err = f.m.Status(context.Background(), "m"); err != nil {
			t.Fatal(err)
		}
		if s.Canary == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rollback: %+v", s.Canary)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rb := s.Settings.Canary.RolledBack
	if rb == nil || rb.Version != v2 || !strings.Contains(rb.Reason, "error rate") || s.Rollbacks != 1 {
		t.Fatalf("settings after rollback: %+v rollbacks=%d", s.Settings.Canary, s.Rollbacks)
	}
	for i := 0; i < 50; i++ {
		if st, ver, _ := f.predict("/models/m/predict", `{"data": [0, 2, 3, 5]}`); st != 200 || ver != v1 {
			t.Fatalf("after rollback: %d from %s", st, ver)
		}
	}
	// The audit entry and the event follow the swap out of traffic.
	for deadline := time.Now().Add(10 * time.Second); len(f.eventsOf("deployment.rolled_back")) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no deployment.rolled_back event")
		}
		time.Sleep(10 * time.Millisecond)
	}
	audit, err := f.st.ListAudit(context.Background(), "m", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range audit {
		if e.Action == "deployment.rolled_back" && e.Version == v2 && e.After == v1 && e.Rule == "automatic" && strings.Contains(e.Detail, "error rate") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no audit entry: %+v", audit)
	}
	evs := f.eventsOf("deployment.rolled_back")
	if len(evs) != 1 || evs[0].Data["version"] != v2 || evs[0].Data["incumbent_version"] != v1 || evs[0].Data["automatic"] != true {
		t.Fatalf("events %+v", evs)
	}

	// A new challenger version gets the canary share again.
	v3 := f.addWasm("m", mockModule(namedSpec("v3")))
	f.alias("m", "challenger", v3)
	deadline = time.Now().Add(10 * time.Second)
	for {
		s, _ = f.m.Status(context.Background(), "m")
		if s.Canary != nil && s.Canary.Version == v3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("canary did not resume: %+v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeManualRollback(t *testing.T) {
	f := newFixture(t)
	v1 := f.addWasm("m", mockModule(namedSpec("v1")))
	v2 := f.addWasm("m", mockModule(namedSpec("v2")))
	ctx := context.Background()
	if _, err := f.m.Rollback(ctx, "m", "", "alice"); err == nil || store.KindOf(err) != store.KindInvalid {
		t.Fatalf("rollback without alias: %v", err)
	}
	f.alias("m", "champion", v1)
	if _, err := f.m.Rollback(ctx, "m", "", "alice"); err == nil || !strings.Contains(err.Error(), "no previous version") {
		t.Fatalf("rollback of a first alias: %v", err)
	}
	f.alias("m", "champion", v2)
	f.waitServing("m", v2)
	res, err := f.m.Rollback(ctx, "m", "", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if res.From != v2 || res.To != v1 || res.Alias != "champion" || res.Status == nil || res.Status.Serving.Version != v1 {
		t.Fatalf("rollback: %+v", res)
	}
	if st, ver, _ := f.predict("/models/m/predict", `{"data": [0, 2, 3, 5]}`); st != 200 || ver != v1 {
		t.Fatalf("after rollback: %d %s", st, ver)
	}
	mv, _ := f.st.GetModelVersionByAlias(ctx, "m", "champion")
	if mv.Version != v1 {
		t.Fatalf("alias at %s", mv.Version)
	}
	evs := f.eventsOf("deployment.rolled_back")
	if len(evs) != 1 || evs[0].Data["automatic"] != false || evs[0].Data["actor"] != "alice" {
		t.Fatalf("events %+v", evs)
	}
	// Again: undoes the first.
	if res, err = f.m.Rollback(ctx, "m", "champion", "alice"); err != nil || res.To != v2 {
		t.Fatalf("second rollback: %+v %v", res, err)
	}
}

func TestServeShadow(t *testing.T) {
	f := newFixture(t)
	v1 := f.addWasm("m", mockModule(namedSpec("v1")))
	// The shadow's features are in another order; mirrored rows are
	// reordered by name.
	spec := mockSpec{NF: 4, NO: 2, MaxRows: 64, Meta: `{"abi_version":1,"name":"sh","task":"regression","dtype":"f64",` +
		`"n_features":4,"feature_names":["d","c","b","a"],"n_outputs":2,"max_batch_rows":64}`}
	v2 := f.addWasm("m", mockModule(spec))
	f.alias("m", "champion", v1)
	f.alias("m", "shadow", v2)
	st, err := f.m.PutSettings(context.Background(), "m", []byte(`{"shadow": {"alias": "shadow", "enabled": true}}`))
	if err != nil || st.Shadow == nil || st.Shadow.Version != v2 {
		t.Fatalf("status %+v %v", st, err)
	}
	for i := 0; i < 30; i++ {
		if st, ver, body := f.predict("/models/m/predict", `{"data": [0, 2, 3, 0.5]}`); st != 200 || ver != v1 || body != `{"predictions":[[5.5,11]]}` {
			t.Fatalf("with shadow: %d %s %s", st, ver, body)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, _ := f.m.Status(context.Background(), "m")
		if s.Shadow.Requests+int64(s.ShadowDropped) == 30 {
			if s.Shadow.Failures != 0 || s.Serving.Requests != 30 {
				t.Fatalf("shadow status %+v", s.Shadow)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shadow saw %d requests", s.Shadow.Requests)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeLimits(t *testing.T) {
	f := newFixture(t, func(c *ManagerConfig) {
		c.Limits = Limits{MaxRequestBytes: 256, RateLimit: 5, RateBurst: 3}
	})
	v1 := f.addWasm("m", mockModule(namedSpec("v1")))
	f.alias("m", "champion", v1)
	f.waitServing("m", v1)

	big := `{"data": [` + strings.Repeat("[0, 2, 3, 5],", 30) + `[0, 2, 3, 5]]}`
	st, _, body := f.post("/models/m/predict", "application/json", big)
	if st != 413 || !strings.Contains(body, "serve.max_request_bytes") {
		t.Fatalf("too large: %d %s", st, body)
	}
	// The 413 took a token; the burst is 3.
	codes := []int{}
	var retry string
	for i := 0; i < 4; i++ {
		st, h, body := f.post("/models/m/predict", "application/json", `{"data": [0, 2, 3, 5]}`)
		codes = append(codes, st)
		if st == 429 {
			retry = h.Get("Retry-After")
			if !strings.Contains(body, "REQUEST_LIMIT_EXCEEDED") {
				t.Fatalf("429 body %s", body)
			}
		}
	}
	if fmt.Sprint(codes) != "[200 200 429 429]" || retry != "1" {
		t.Fatalf("codes %v, Retry-After %q", codes, retry)
	}
	// Another client (a bearer token) has its own bucket.
	req, _ := http.NewRequest("POST", f.srv.URL+"/models/m/predict", strings.NewReader(`{"data": [0, 2, 3, 5]}`))
	req.Header.Set("Authorization", "Bearer abc")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token client: %d", resp.StatusCode)
	}
	time.Sleep(250 * time.Millisecond) // one token back at 5/s
	if st, _, _ := f.post("/models/m/predict", "application/json", `{"data": [0, 2, 3, 5]}`); st != 200 {
		t.Fatalf("after refill: %d", st)
	}

	// The auth hook.
	f.m.SetTokenCheck(func(r *http.Request) error {
		if tok, _ := bearer(r); tok != "secret" {
			return &HTTPError{Status: 403, Code: "PERMISSION_DENIED", Msg: "bad token"}
		}
		return nil
	})
	req, _ = http.NewRequest("POST", f.srv.URL+"/models/m/predict", strings.NewReader(`{"data": [0, 2, 3, 5]}`))
	req.Header.Set("Authorization", "Bearer wrong")
	resp, err = f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "PERMISSION_DENIED") {
		t.Fatalf("auth hook: %d %s", resp.StatusCode, b)
	}
}

// TestServeModelErrors: a trap is a 500 for that request only; the next
// request is served.
func TestServeModelErrors(t *testing.T) {
	f := newFixture(t, func(c *ManagerConfig) { c.Runtime.CallTimeout = 300 * time.Millisecond })
	v1 := f.addWasm("m", mockModule(namedSpec("v1")))
	f.alias("m", "champion", v1)
	for _, c := range []struct {
		in   string
		code int
		want string
	}{
		{`{"data": [1, 0, 0, 0]}`, 500, `"INTERNAL_ERROR"`},
		{`{"data": [2, 0, 0, 0]}`, 504, `"DEADLINE_EXCEEDED"`},
		{`{"data": [5, 0, 0, 0]}`, 400, `mode 5 says no`},
		{`{"data": [6, 0, 0, 0]}`, 500, `panic: mock model exploded`},
		{`{"data": [0, 2, 3]}`, 400, `data has 3 values; the model takes 4 features (a, b, c, d)`},
		{`{"data": [[0, 2, 3, "x"]]}`, 400, `non-numeric`},
		{`{"rows": []}`, 400, `unknown field`},
		{`not json`, 400, `BAD_REQUEST`},
	} {
		st, _, body := f.predict("/models/m/predict", c.in)
		if st != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want %d %s", c.in, st, body, c.code, c.want)
		}
		if st, _, _ := f.predict("/models/m/predict", `{"data": [0, 1, 1, 2]}`); st != 200 {
			t.Fatalf("after %s: %d", c.in, st)
		}
	}
	if v := f.set.GetOrCreateCounter(`mlbox_serve_model_errors_total{model="m",version="` + v1 + `",role="main",kind="trap"}`).Get(); v != 2 {
		t.Errorf("trap counter %d", v)
	}
	if v := f.set.GetOrCreateCounter(`mlbox_serve_requests_total{model="m",version="` + v1 + `",role="main",code="200"}`).Get(); v != 8 {
		t.Errorf("200 counter %d", v)
	}
}

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

type bodyReader struct{ *bytes.Reader }

func (bodyReader) Close() error { return nil }

// TestHandlerAllocs bounds what a /predict request allocates in the
// handler once warm: about 6 objects for the request deadline
// (context.WithTimeout, and the context.AfterFunc wazero then needs) and 6
// for wazero's per-call deadline watcher; nothing per row or per value.
func TestHandlerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are off under the race detector")
	}
	f := newFixture(t)
	v1 := f.addWasm("m", mockModule(namedSpec("v1")))
	f.alias("m", "champion", v1)
	f.waitServing("m", v1)
	h := f.m.Handler()
	measure := func(body string) float64 {
		rd := bytes.NewReader([]byte(body))
		req := httptest.NewRequest("POST", "/models/m/predict", nil)
		req.Header.Set("Content-Type", "application/json")
		req = req.WithContext(context.Background())
		w := &nopWriter{h: http.Header{}}
		run := func() {
			rd.Seek(0, io.SeekStart)
			req.Body = bodyReader{rd}
			req.ContentLength = -1
			h.ServeHTTP(w, req)
		}
		for range 10 {
			run()
		}
		return testing.AllocsPerRun(200, run)
	}
	one := measure(`{"data": [0, 2, 3, 5]}`)
	many := measure(`{"data": [` + strings.Repeat("[0, 2, 3, 5],", 49) + `[0, 2, 3, 5]]}`)
	t.Logf("allocations per request: %v (1 row), %v (50 rows)", one, many)
	// A little slack: a GC may empty the buffer pool during the run.
	if one > 15 || many > one+3 {
		t.Fatalf("allocations per request: %v (1 row), %v (50 rows)", one, many)
	}
}

// Requests refused before they reach a model (413, 415, 429, the auth
// hook) are in the request log with their status, as the docs promise
// every failure is; requests to names that are not models are not.
func TestServeRefusedRequestsAreLogged(t *testing.T) {
	rl, err := OpenRequestLog(t.TempDir(), RequestLogConfig{SampleRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	f := newFixture(t, func(c *ManagerConfig) {
		c.Limits = Limits{MaxRequestBytes: 256, RateLimit: 1, RateBurst: 3}
		c.Observe = ObserveConfig{RequestLog: rl, SampleRate: 1}
	})
	v1 := f.addWasm("m", mockModule(namedSpec("v1")))
	f.alias("m", "champion", v1)
	f.waitServing("m", v1)
	big := `{"data": [` + strings.Repeat("[0, 2, 3, 5],", 30) + `[0, 2, 3, 5]]}`
	if st, _, _ := f.post("/models/m/predict", "application/json", big); st != 413 {
		t.Fatalf("too large: %d", st)
	}
	if st, _, _ := f.post("/models/m/invocations", "text/xml", "<x/>"); st != 415 {
		t.Fatalf("content type: %d", st)
	}
	for range 2 {
		f.post("/models/m/predict", "application/json", `{"data": [0, 2, 3, 5]}`)
	}
	if st, _, _ := f.post("/models/nosuchmodel/predict", "application/json", `{"data": [0]}`); st != 429 {
		t.Fatalf("rate limit: %d", st)
	}
	f.m.SetTokenCheck(func(r *http.Request) error {
		return &HTTPError{Status: 403, Code: "PERMISSION_DENIED", Msg: "bad token"}
	})
	time.Sleep(1100 * time.Millisecond) // a token back
	if st, _, _ := f.post("/models/m/predict", "application/json", `{"data": [0, 2, 3, 5]}`); st != 403 {
		t.Fatalf("auth: %d", st)
	}
	want := map[int]bool{413: true, 415: true, 429: true, 403: true}
	deadline := time.Now().Add(10 * time.Second)
	for {
		es, err := rl.Recent("m", 20)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int]bool{}
		for _, e := range es {
			if e.Status >= 400 {
				got[e.Status] = true
				if e.Error == "" {
					t.Fatalf("entry without its error: %+v", e)
				}
			}
		}
		if len(got) == len(want) {
			for s := range want {
				if !got[s] {
					t.Fatalf("statuses logged %v, want %v", got, want)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("statuses logged %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if es, _ := rl.Recent("nosuchmodel", 10); len(es) != 0 {
		t.Fatalf("a name that is not a model got a log: %v", es)
	}
}
