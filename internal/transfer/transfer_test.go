package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

func TestQuoteNonFinite(t *testing.T) {
	in := `{"metrics":[{"key":"NaN","value":NaN},{"key":"a \"NaN\" b","value":-Infinity},{"key":"x","value":Infinity},{"key":"y","value":1.5}]}`
	var out struct {
		Metrics []Metric `json:"metrics"`
	}
	if err := json.Unmarshal(quoteNonFinite([]byte(in)), &out); err != nil {
		t.Fatal(err)
	}
	m := out.Metrics
	if len(m) != 4 || m[0].Key != "NaN" || !math.IsNaN(float64(m[0].Value)) || m[1].Key != `a "NaN" b` ||
		!math.IsInf(float64(m[1].Value), -1) || !math.IsInf(float64(m[2].Value), 1) || m[3].Value != 1.5 {
		t.Fatalf("%+v", m)
	}
	b, _ := json.Marshal(m)
	if string(b) != `[{"key":"NaN","value":"NaN","timestamp":0,"step":0},{"key":"a \"NaN\" b","value":"-Infinity","timestamp":0,"step":0},{"key":"x","value":"Infinity","timestamp":0,"step":0},{"key":"y","value":1.5,"timestamp":0,"step":0}]` {
		t.Fatalf("%s", b)
	}
}

func TestProxyPath(t *testing.T) {
	for in, want := range map[string]string{
		"mlflow-artifacts:/1/abc/artifacts":                   "1/abc/artifacts",
		"mlflow-artifacts://host:5000/1/models/m-1/artifacts": "1/models/m-1/artifacts",
		"mlflow-artifacts:":                                   "",
	} {
		if got, ok := proxyPath(in); !ok || got != want {
			t.Errorf("%s: %q %v", in, got, ok)
		}
	}
	if _, ok := proxyPath("s3://b/k"); ok {
		t.Error("s3 is not proxied")
	}
}

func TestInt64AcceptsStrings(t *testing.T) {
	var v struct{ A, B Int64 }
	if err := json.Unmarshal([]byte(`{"A":"12345678901234","B":7}`), &v); err != nil || v.A != 12345678901234 || v.B != 7 {
		t.Fatalf("%+v %v", v, err)
	}
}

// TestExportVersionOnce: an export cut off after MLflow created a model
// version but before the ledger recorded it takes that version when run
// again, instead of creating a second; two source versions of the same
// run and source still get a target version each.
func TestExportVersionOnce(t *testing.T) {
	var mu sync.Mutex
	var versions []ModelVersion // the target's
	creates := 0
	tgt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/api/2.0/mlflow/model-versions/search":
			f := r.URL.Query().Get("filter")
			var out []ModelVersion
			for _, v := range versions {
				if f == fmt.Sprintf("name='%s' and run_id='%s'", v.Name, v.RunID) {
					out = append(out, v)
				}
			}
			json.NewEncoder(w).Encode(map[string]any{"model_versions": out})
		case "/api/2.0/mlflow/model-versions/create":
			var req ModelVersion
			json.NewDecoder(r.Body).Decode(&req)
			creates++
			req.Version = strconv.Itoa(len(versions) + 1)
			versions = append(versions, req)
			json.NewEncoder(w).Encode(map[string]any{"model_version": req})
		case "/api/2.0/mlflow/model-versions/transition-stage":
			w.Write([]byte("{}"))
		default:
			http.Error(w, r.URL.Path, 404)
		}
	}))
	defer tgt.Close()
	ledgerPosts := 0
	failLedger := false
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if failLedger {
			http.Error(w, `{"error_code": "INTERNAL_ERROR", "message": "cut off"}`, 400)
			return
		}
		ledgerPosts++
		w.Write([]byte("{}"))
	}))
	defer src.Close()
	sc, _ := NewClient(src.URL, "", "", "")
	tc, _ := NewClient(tgt.URL, "", "", "")
	newCopier := func() *copier {
		return &copier{opt: Options{Export: true, Warn: func(string) {}}, src: sc, tgt: tc, stats: &Stats{}, kind: "export",
			runMap: map[string]string{"r1": "t1"}, modelMap: map[string]string{}, srcRunArt: map[string]string{},
			srcModelArt: map[string]string{}, tgtArt: map[string]string{}, ledger: map[string]string{}}
	}
	ctx := context.Background()
	v1 := ModelVersion{Name: "m", Version: "1", RunID: "r1", Source: "runs:/r1/model", CurrentStage: "Production"}
	v2 := ModelVersion{Name: "m", Version: "2", RunID: "r1", Source: "runs:/r1/model"}
	// The first export creates version 1 and is cut off before recording it.
	c := newCopier()
	failLedger = true
	if _, err := c.version(ctx, v1); err == nil {
		t.Fatal("the ledger write failed, the version did not")
	}
	failLedger = false
	// Run again (a new process: the ledger as the source has it, empty).
	c = newCopier()
	for _, v := range []ModelVersion{v1, v2} {
		got, err := c.version(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if got != v.Version {
			t.Errorf("source version %s became %s", v.Version, got)
		}
	}
	if creates != 2 || len(versions) != 2 {
		t.Errorf("%d creates, %d versions in the target; want 2 each", creates, len(versions))
	}
	// A third run copies nothing.
	if _, err := c.version(ctx, v2); err != nil || creates != 2 {
		t.Errorf("again: %v, %d creates", err, creates)
	}
}
