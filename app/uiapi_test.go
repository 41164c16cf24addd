package app

import (
	"fmt"
	"testing"
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
