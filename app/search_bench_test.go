package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"mlbox/store"
)

// BenchmarkSearchRunsHandler is the UI's runs/search in process: runs
// with 20 params and 50 metrics, ordered by a metric, 100 full runs a page
// at random offsets (the order cached, as when a table is scrolled).
// Server-side: routing, decoding, the store and the JSON answer.
func BenchmarkSearchRunsHandler(b *testing.B) {
	s := startServer(b)
	ctx := context.Background()
	exp, err := s.App.store.CreateExperiment(ctx, "bench", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	const n = 5000
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		r, err := s.App.store.CreateRun(ctx, store.CreateRunRequest{ExperimentID: exp, StartTime: int64(i + 1)})
		if err != nil {
			b.Fatal(err)
		}
		ps := make([]store.Param, 20)
		for j := range ps {
			ps[j] = store.Param{Key: fmt.Sprintf("p%02d", j), Value: fmt.Sprint(rng.IntN(20))}
		}
		ms := make([]store.Metric, 50)
		for j := range ms {
			ms[j] = store.Metric{Key: fmt.Sprintf("m%02d", j), Value: rng.Float64(), Timestamp: 1}
		}
		if err := s.App.store.LogBatch(ctx, r.Info.RunID, ms, ps, nil); err != nil {
			b.Fatal(err)
		}
	}
	h := s.App.Handler()
	do := func(off int) int {
		tok := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, `{"offset":%d}`, off))
		body := fmt.Sprintf(`{"experiment_ids":[%q],"max_results":100,"order_by":["metrics.m01 DESC"],"page_token":%q}`, exp, tok)
		req := httptest.NewRequest("POST", "/api/2.0/mlflow/runs/search", bytes.NewBufferString(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
		return rec.Body.Len()
	}
	size := do(0)
	b.ReportMetric(float64(size), "bytes/page")
	b.ResetTimer()
	for b.Loop() {
		do(rng.IntN(n - 100))
	}
}
