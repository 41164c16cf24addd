package app

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// BenchmarkLogMetricHandler measures the CPU cost of one log-metric request
// through the router and middleware (fsync included; run with -cpu to vary).
func BenchmarkLogMetricHandler(b *testing.B) {
	s := startServer(b)
	run := s.must(b, "POST", api+"/runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	h := s.App.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			body := []byte(`{"run_id":"` + run + `","key":"m","value":0.5,"timestamp":` + strconv.Itoa(i) + `,"step":` + strconv.Itoa(i) + `}`)
			req := httptest.NewRequest("POST", api+"/runs/log-metric", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code, w.Body.String())
			}
		}
	})
}
