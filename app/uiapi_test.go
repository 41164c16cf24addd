package app

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"mlbox/store"
)

func TestUIRunCountAndColumns(t *testing.T) {
	s := startServer(t)
	exp := s.must(t, "POST", api+"/experiments/create", map[string]any{"name": "ui"})["experiment_id"].(string)
	other := s.must(t, "POST", api+"/experiments/create", map[string]any{"name": "other"})["experiment_id"].(string)
	for i := range 7 {
		r := createRun(t, s, exp)
		s.must(t, "POST", api+"/runs/log-batch", map[string]any{"run_id": r,
			"metrics": []any{map[string]any{"key": "acc", "value": float64(i), "timestamp": 1}},
			"params":  []any{map[string]any{"key": "lr", "value": fmt.Sprint(i % 2)}},
			"tags":    []any{map[string]any{"key": "team", "value": "x"}}})
	}
	r := createRun(t, s, other)
	s.must(t, "POST", api+"/runs/log-batch", map[string]any{"run_id": r,
		"metrics": []any{map[string]any{"key": "elsewhere", "value": 1, "timestamp": 1}}})

	count := func(body map[string]any) float64 {
		t.Helper()
		return s.must(t, "POST", "/api/mlbox/v1/runs/count", body)["count"].(float64)
	}
	if n := count(map[string]any{"experiment_ids": []string{exp}}); n != 7 {
		t.Errorf("count %v, want 7", n)
	}
	if n := count(map[string]any{"experiment_ids": []string{exp}, "filter": "params.lr = '1' and metrics.acc > 2"}); n != 2 {
		t.Errorf("filtered count %v, want 2", n)
	}
	if n := count(map[string]any{"experiment_ids": []string{exp, other}}); n != 8 {
		t.Errorf("two experiments: count %v, want 8", n)
	}
	st, m, _ := s.call(t, "POST", "/api/mlbox/v1/runs/count", map[string]any{"experiment_ids": []string{exp}, "filter": "metrics.acc >"})
	if st != 400 || m["error_code"] != "INVALID_PARAMETER_VALUE" {
		t.Errorf("bad filter: %d %v", st, m)
	}

	cols := s.must(t, "GET", "/api/mlbox/v1/experiments/"+exp+"/columns", nil)
	if got := fmt.Sprint(cols["params"], cols["metrics"], cols["tags"]); got != "[lr] [acc] [mlflow.runName mlflow.user team]" && got != "[lr] [acc] [mlflow.runName team]" {
		t.Errorf("columns %s", got)
	}
	st, m, _ = s.call(t, "GET", "/api/mlbox/v1/experiments/12345/columns", nil)
	if st != 404 || m["error_code"] != "RESOURCE_DOES_NOT_EXIST" {
		t.Errorf("unknown experiment: %d %v", st, m)
	}
}

// Every response says how long the server took, in a Server-Timing header.
func TestServerTimingHeader(t *testing.T) {
	s := startServer(t)
	for _, c := range []struct{ method, path string }{{"GET", "/health"}, {"POST", api + "/runs/search"}, {"GET", api + "/runs/get?run_id=nope"}} {
		req, _ := http.NewRequest(c.method, s.URL+c.path, strings.NewReader(`{"experiment_ids":["0"]}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		st := resp.Header.Get("Server-Timing")
		var ms float64
		if _, err := fmt.Sscanf(st, "app;dur=%f", &ms); err != nil || ms < 0 || ms > 10000 {
			t.Errorf("%s %s: Server-Timing %q", c.method, c.path, st)
		}
	}
}

// appendRunsJSON writes the runs of a page in order, comma-separated.
func TestAppendRunsJSONParallelSame(t *testing.T) {
	for _, n := range []int{0, 1, 31, 32, 64, 65, 100, 257} {
		runs := make([]*store.Run, n)
		var want []byte
		for i := range runs {
			runs[i] = &store.Run{Info: store.RunInfo{RunID: fmt.Sprint("r", i), Status: "FINISHED"},
				Data: store.RunData{Metrics: []store.Metric{{Key: "m", Value: float64(i) / 3}}}}
			if i > 0 {
				want = append(want, ',')
			}
			want = runs[i].AppendJSON(want)
		}
		if got := appendRunsJSON(nil, runs); string(got) != string(want) {
			t.Fatalf("%d runs: parallel encoding differs", n)
		}
	}
}
