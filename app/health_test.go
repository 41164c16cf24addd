package app

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mlbox/internal/testfs"
)

// A full disk, for real: writes answer 507 RESOURCE_EXHAUSTED (which
// MLflow's client does not retry) naming the data dir and the free bytes,
// artifact uploads too; reads go on; /readyz and /metrics say read-only;
// and writes work again by themselves once space is freed.
func TestDiskFull(t *testing.T) {
	fs := testfs.Small(t, "96m") // the metric log preallocates 64 MiB
	s := startServer(t, func(c *Config) { c.DataDir = filepath.Join(fs, "data") })
	exp := s.must(t, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "full"})["experiment_id"].(string)
	run := s.must(t, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	filler := testfs.Fill(t, fs, "filler")

	// Writes until the disk refuses one (bbolt first fills the free pages
	// it has).
	var st int
	var body map[string]any
	var raw string
	metrics := make([]map[string]any, 1000)
	for i := 0; i < 5000; i++ {
		for j := range metrics {
			metrics[j] = map[string]any{"key": fmt.Sprintf("m%d", j%40), "value": 1, "timestamp": i, "step": i*1000 + j}
		}
		st, body, raw = s.call(t, "POST", "/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": run, "metrics": metrics})
		if st != 200 {
			break
		}
	}
	if st != http.StatusInsufficientStorage || body["error_code"] != "RESOURCE_EXHAUSTED" ||
		!strings.Contains(raw, filepath.Join(fs, "data")) || !strings.Contains(raw, "bytes free") {
		t.Fatalf("write on a full disk: %d %s", st, raw)
	}
	// Every write is refused at once; reads work.
	if st, _, raw := s.call(t, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "x"}); st != 507 || !strings.Contains(raw, "read-only") {
		t.Fatalf("create experiment: %d %s", st, raw)
	}
	if st, _, raw := s.call(t, "GET", "/api/2.0/mlflow/runs/get?run_id="+run, nil); st != 200 {
		t.Fatalf("get run: %d %s", st, raw)
	}
	if st, _, raw := s.call(t, "POST", "/api/2.0/mlflow/runs/search", map[string]any{"experiment_ids": []string{exp}}); st != 200 {
		t.Fatalf("search: %d %s", st, raw)
	}
	if st, _, raw := s.call(t, "GET", "/readyz", nil); st != 200 || !strings.Contains(raw, "read-only") {
		t.Fatalf("readyz: %d %s", st, raw)
	}
	if m := metricsText(t, s); !strings.Contains(m, "mlbox_store_read_only 1") || !strings.Contains(m, "mlbox_store_disk_free_bytes ") {
		t.Fatalf("metrics lack the read-only gauges")
	}
	// An artifact upload to the full local disk.
	req, _ := http.NewRequest("PUT", s.URL+"/api/2.0/mlflow-artifacts/artifacts/"+exp+"/"+run+"/artifacts/big.bin", bytes.NewReader(make([]byte, 4<<20)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 507 || !strings.Contains(string(b), "RESOURCE_EXHAUSTED") {
		t.Fatalf("upload on a full disk: %d %s", resp.StatusCode, b)
	}

	// Space back.
	os.Remove(filler)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _, raw := s.call(t, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "after"})
		if st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still refused 20s after space came back: %d %s", st, raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, _, raw := s.call(t, "GET", "/readyz", nil); st != 200 || strings.Contains(raw, "read-only") {
		t.Fatalf("readyz after: %d %s", st, raw)
	}
}

func metricsText(t *testing.T, s *testServer) string {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
