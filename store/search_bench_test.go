package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkSearchRuns is workload c of make bench in process: 20k runs with
// 20 params and 50 metrics, a metric and param filter, ordered by a metric,
// 100 full runs per page.
func BenchmarkSearchRuns(b *testing.B) {
	s, err := Open(b.TempDir(), Options{NoSync: true, OpenTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		r, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0", StartTime: int64(i)})
		if err != nil {
			b.Fatal(err)
		}
		ps := make([]Param, 20)
		for j := range ps {
			ps[j] = Param{Key: fmt.Sprintf("p%d", j), Value: string(rune('a' + rng.IntN(4)))}
		}
		ms := make([]Metric, 50)
		for j := range ms {
			ms[j] = Metric{Key: fmt.Sprintf("m%d", j), Value: rng.Float64(), Timestamp: 1}
		}
		if err := s.LogBatch(ctx, r.Info.RunID, ms, ps, nil); err != nil {
			b.Fatal(err)
		}
	}
	req := SearchRunsRequest{ExperimentIDs: []string{"0"}, Filter: "metrics.m0 > 0.9 and params.p0 = 'a'", OrderBy: []string{"metrics.m1 DESC"}, MaxResults: 100}
	b.ResetTimer()
	for b.Loop() {
		runs, _, err := s.SearchRuns(ctx, req)
		if err != nil || len(runs) != 100 {
			b.Fatal(len(runs), err)
		}
	}
}
