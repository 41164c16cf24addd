package app

import (
	"context"
	"testing"

	"mlbox/store"
)

// BenchmarkMetricHistory100k: read and encode a 100k-step history, the
// server-side part of bench workload d.
func BenchmarkMetricHistory100k(b *testing.B) {
	st, err := store.Open(b.TempDir(), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	run, _ := st.CreateRun(ctx, store.CreateRunRequest{ExperimentID: "0"})
	for i := 0; i < 100; i++ {
		ms := make([]store.Metric, 1000)
		for j := range ms {
			n := int64(i*1000 + j)
			ms[j] = store.Metric{Key: "loss", Value: 1 / float64(n+1), Timestamp: 1700000000000 + n, Step: n}
		}
		if err := st.LogBatch(ctx, run.Info.RunID, ms, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body, err := st.AppendMetricHistoryJSON(ctx, nil, run.Info.RunID, "loss", 0, "")
		if err != nil || len(body) < 100000*40 {
			b.Fatal(err, len(body))
		}
	}
}
