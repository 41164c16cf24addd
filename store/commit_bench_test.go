package store

import (
	"fmt"
	"sync"
	"testing"
)

// BenchmarkGroupCommit: 16 writers log single metrics to their own runs.
// Reports writes per commit and page writes per commit.
func BenchmarkGroupCommit(b *testing.B) {
	s, _ := openTest(b)
	var ids []string
	for i := 0; i < 16; i++ {
		r, _ := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0"})
		ids = append(ids, r.Info.RunID)
	}
	st0 := s.db.Stats()
	c0, w0 := s.stats.Commits.Load(), st0.TxStats.GetWrite()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/16 + 1
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if err := s.LogBatch(ctx, ids[c], []Metric{{Key: fmt.Sprint("m", c), Value: float64(i), Timestamp: int64(i), Step: int64(i)}}, nil, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	st1 := s.db.Stats()
	commits := float64(s.stats.Commits.Load() - c0)
	b.ReportMetric(float64(per*16)/commits, "writes/commit")
	b.ReportMetric(float64(st1.TxStats.GetWrite()-w0)/commits, "pages/commit")
}
