package app

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const api = "/api/2.0/mlflow"

func createRun(t *testing.T, s *testServer, exp string) string {
	m := s.must(t, "POST", api+"/runs/create", map[string]any{"experiment_id": exp, "start_time": 1000})
	return m["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
}

// TestAPIScenarios checks status codes and error codes for good and bad
// requests, in the spirit of PocketBase's ApiScenario tables.
func TestAPIScenarios(t *testing.T) {
	s := startServer(t)
	exp := s.must(t, "POST", api+"/experiments/create", map[string]any{"name": "scen"})["experiment_id"].(string)
	run := createRun(t, s, exp)
	deleted := createRun(t, s, exp)
	s.must(t, "POST", api+"/runs/delete", map[string]any{"run_id": deleted})

	scenarios := []struct {
		name, method, path string
		body               any
		status             int
		code               string // expected error_code, "" for success
		contains           string
	}{
		{"health", "GET", "/health", nil, 200, "", "OK"},
		{"version", "GET", "/version", nil, 200, "", "3."},
		{"metrics", "GET", "/metrics", nil, 200, "", "mlbox_store_size_bytes"},
		{"unknown api route is a non-JSON 404", "GET", api + "/nope", nil, 404, "", "404 page not found"},
		{"ajax-api prefix", "GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id=0", nil, 200, "", `"Default"`},
		{"get default experiment", "GET", api + "/experiments/get?experiment_id=0", nil, 200, "", `"name":"Default"`},
		{"experiment_id as number", "POST", api + "/experiments/get", `{"experiment_id": 0}`, 200, "", `"Default"`},
		{"missing experiment", "GET", api + "/experiments/get?experiment_id=999", nil, 404, "RESOURCE_DOES_NOT_EXIST", "999"},
		{"missing required param", "GET", api + "/experiments/get", nil, 400, "INVALID_PARAMETER_VALUE", "experiment_id"},
		{"duplicate experiment", "POST", api + "/experiments/create", map[string]any{"name": "scen"}, 400, "RESOURCE_ALREADY_EXISTS", "scen"},
		{"empty experiment name", "POST", api + "/experiments/create", map[string]any{"name": ""}, 400, "INVALID_PARAMETER_VALUE", "name"},
		{"get-by-name missing", "GET", api + "/experiments/get-by-name?experiment_name=zzz", nil, 404, "RESOURCE_DOES_NOT_EXIST", "zzz"},
		{"malformed json", "POST", api + "/runs/create", `{"experiment_id": `, 400, "INVALID_PARAMETER_VALUE", "Malformed"},
		{"wrong type", "POST", api + "/runs/log-metric", map[string]any{"run_id": run, "key": "a", "value": "abc", "timestamp": 1}, 400, "INVALID_PARAMETER_VALUE", "number"},
		{"json string body (old clients)", "POST", api + "/runs/get", `"{\"run_id\": \"` + run + `\"}"`, 200, "", run},
		{"missing run", "GET", api + "/runs/get?run_id=abc", nil, 404, "RESOURCE_DOES_NOT_EXIST", "abc"},
		{"run_uuid alone", "GET", api + "/runs/get?run_uuid=" + run, nil, 200, "", run},
		{"log metric NaN", "POST", api + "/runs/log-metric", map[string]any{"run_id": run, "key": "m", "value": "NaN", "timestamp": "5", "step": 1}, 200, "", "{}"},
		{"log metric missing timestamp", "POST", api + "/runs/log-metric", map[string]any{"run_id": run, "key": "m", "value": 1}, 400, "INVALID_PARAMETER_VALUE", "timestamp"},
		{"bad metric key", "POST", api + "/runs/log-metric", map[string]any{"run_id": run, "key": "../x", "value": 1, "timestamp": 1}, 400, "INVALID_PARAMETER_VALUE", "Invalid metric name"},
		{"log to deleted run", "POST", api + "/runs/set-tag", map[string]any{"run_id": deleted, "key": "a", "value": "b"}, 400, "INVALID_PARAMETER_VALUE", "active"},
		{"param", "POST", api + "/runs/log-parameter", map[string]any{"run_id": run, "key": "p", "value": "1"}, 200, "", "{}"},
		{"param change", "POST", api + "/runs/log-parameter", map[string]any{"run_id": run, "key": "p", "value": "2"}, 400, "INVALID_PARAMETER_VALUE", "Changing param values"},
		{"delete missing tag", "POST", api + "/runs/delete-tag", map[string]any{"run_id": run, "key": "nope"}, 404, "RESOURCE_DOES_NOT_EXIST", "nope"},
		{"bad filter", "POST", api + "/runs/search", map[string]any{"experiment_ids": []string{exp}, "filter": "metrics.a >"}, 400, "INVALID_PARAMETER_VALUE", ""},
		{"max_results too big", "POST", api + "/runs/search", map[string]any{"experiment_ids": []string{exp}, "max_results": 50001}, 400, "INVALID_PARAMETER_VALUE", "50000"},
		{"bad view type", "POST", api + "/runs/search", map[string]any{"experiment_ids": []string{exp}, "run_view_type": "SOME"}, 400, "INVALID_PARAMETER_VALUE", "view type"},
		{"GET search with repeated keys", "GET", api + "/runs/search?experiment_ids=" + exp + "&order_by=start_time+DESC&order_by=run_id&max_results=5", nil, 200, "", run},
		{"search experiments bad page token", "POST", api + "/experiments/search", map[string]any{"max_results": 10, "page_token": "!!"}, 400, "INVALID_PARAMETER_VALUE", "page token"},
		{"update run status", "POST", api + "/runs/update", map[string]any{"run_id": run, "status": "FINISHED", "end_time": 2000}, 200, "", `"status":"FINISHED"`},
		{"update run bad status", "POST", api + "/runs/update", map[string]any{"run_id": run, "status": "DONE"}, 400, "INVALID_PARAMETER_VALUE", "status"},
		{"history", "GET", api + "/metrics/get-history?run_id=" + run + "&metric_key=m", nil, 200, "", `"value":"NaN"`},
		{"bulk interval too many runs", "GET", api + "/metrics/get-history-bulk-interval?metric_key=m&" + strings.Repeat("run_ids=x&", 101), nil, 400, "INVALID_PARAMETER_VALUE", "100"},
		{"log batch too many metrics", "POST", api + "/runs/log-batch", map[string]any{"run_id": run, "metrics": manyMetrics(1001)}, 400, "INVALID_PARAMETER_VALUE", "1000"},
		{"wrong content type", "POST", api + "/runs/get", "", 400, "INVALID_PARAMETER_VALUE", "Content-Type"},
		{"oversized body", "POST", api + "/runs/log-batch", `{"run_id":"` + strings.Repeat("a", 17<<20) + `"}`, 413, "INVALID_PARAMETER_VALUE", "too large"},
		{"log inputs", "POST", api + "/runs/log-inputs", map[string]any{"run_id": run, "datasets": []any{map[string]any{"tags": []any{map[string]any{"key": "mlflow.data.context", "value": "train"}}, "dataset": map[string]any{"name": "d", "digest": "x", "source_type": "local", "source": "{}"}}}}, 200, "", "{}"},
		{"log inputs missing source", "POST", api + "/runs/log-inputs", map[string]any{"run_id": run, "datasets": []any{map[string]any{"dataset": map[string]any{"name": "d", "digest": "x"}}}}, 400, "INVALID_PARAMETER_VALUE", "source"},
		{"artifact path traversal", "GET", "/api/2.0/mlflow-artifacts/artifacts/0/..%2F..%2Fetc/passwd", nil, 400, "INVALID_PARAMETER_VALUE", "Invalid path"},
		{"artifact dot segments", "GET", "/api/2.0/mlflow-artifacts/artifacts/0/../../etc/passwd", nil, 400, "INVALID_PARAMETER_VALUE", "Invalid path"},
		{"artifact put dot segments", "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/../../b", "x", 400, "INVALID_PARAMETER_VALUE", "Invalid path"},
		{"artifact list empty", "GET", "/api/2.0/mlflow-artifacts/artifacts?path=0/nothing", nil, 200, "", "{}"},
		{"multipart on local is 501", "POST", "/api/2.0/mlflow-artifacts/mpu/create/0/x", map[string]any{"path": "/tmp/big.bin", "num_parts": 2}, 501, "NOT_IMPLEMENTED", "Multipart upload is not supported for the current artifact repository"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			body := sc.body
			if sc.name == "wrong content type" {
				st, m, raw := rawCall(t, s, sc.method, sc.path, "text/plain", "run_id=x")
				checkScenario(t, st, m, raw, sc.status, sc.code, sc.contains)
				return
			}
			st, m, raw := s.call(t, sc.method, sc.path, body)
			checkScenario(t, st, m, raw, sc.status, sc.code, sc.contains)
		})
	}
}

func checkScenario(t *testing.T, st int, m map[string]any, raw string, status int, code, contains string) {
	t.Helper()
	if st != status {
		t.Fatalf("status %d, want %d: %s", st, status, abbrevS(raw))
	}
	if code != "" {
		if m == nil || m["error_code"] != code {
			t.Fatalf("error_code %v, want %s: %s", m["error_code"], code, abbrevS(raw))
		}
		if _, ok := m["message"].(string); !ok {
			t.Fatalf("no message: %s", abbrevS(raw))
		}
	}
	if contains != "" && !strings.Contains(raw, contains) {
		t.Fatalf("body lacks %q: %s", contains, abbrevS(raw))
	}
}

func abbrevS(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

func rawCall(t *testing.T, s *testServer, method, path, ct, body string) (int, map[string]any, string) {
	t.Helper()
	req, _ := newReq(method, s.URL+path, ct, body)
	return doReq(t, req)
}

func manyMetrics(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"key": "k", "value": i, "timestamp": 1, "step": i}
	}
	return out
}

// TestConcurrentLogging: many clients share commits; every acknowledged
// point is readable afterwards.
func TestConcurrentLogging(t *testing.T) {
	s := startServer(t)
	run := createRun(t, s, "0")
	var wg sync.WaitGroup
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				st, _, raw := s.call(t, "POST", api+"/runs/log-metric", map[string]any{"run_id": run, "key": fmt.Sprintf("c%d", c), "value": i, "timestamp": i, "step": i})
				if st != 200 {
					t.Errorf("log-metric: %d %s", st, raw)
					return
				}
			}
		}()
	}
	wg.Wait()
	for c := 0; c < 16; c++ {
		m := s.must(t, "GET", api+"/metrics/get-history?run_id="+run+"&metric_key="+url.QueryEscape(fmt.Sprintf("c%d", c)), nil)
		if n := len(m["metrics"].([]any)); n != 25 {
			t.Fatalf("c%d has %d points", c, n)
		}
	}
	commits := s.App.store.Stats().Commits.Load()
	t.Logf("400 writes in %d commits", commits)
}

func TestSearchPagingOverHTTP(t *testing.T) {
	s := startServer(t)
	exp := s.must(t, "POST", api+"/experiments/create", map[string]any{"name": "paging"})["experiment_id"].(string)
	for i := 0; i < 25; i++ {
		r := createRun(t, s, exp)
		s.must(t, "POST", api+"/runs/log-batch", map[string]any{"run_id": r, "metrics": []any{map[string]any{"key": "acc", "value": float64(i) / 25, "timestamp": 1}}})
	}
	seen := map[string]bool{}
	tok := ""
	last := 2.0
	for {
		body := map[string]any{"experiment_ids": []string{exp}, "max_results": 10, "order_by": []string{"metrics.acc DESC"}}
		if tok != "" {
			body["page_token"] = tok
		}
		m := s.must(t, "POST", api+"/runs/search", body)
		for _, r := range m["runs"].([]any) {
			run := r.(map[string]any)
			seen[run["info"].(map[string]any)["run_id"].(string)] = true
			acc := run["data"].(map[string]any)["metrics"].([]any)[0].(map[string]any)["value"].(float64)
			if acc > last {
				t.Fatalf("not descending: %v after %v", acc, last)
			}
			last = acc
		}
		next, ok := m["next_page_token"].(string)
		if !ok {
			break
		}
		if next == "" {
			t.Fatal("empty next_page_token must be omitted")
		}
		tok = next
	}
	if len(seen) != 25 {
		t.Fatalf("saw %d runs", len(seen))
	}
}
