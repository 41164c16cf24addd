package serve

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// In-process inference benchmarks on the committed example modules:
//
//	go test -run '^$' -bench 'PredictRow' -benchtime 2s ./serve/
//
// Each reports ns/row (wall) besides ns/op, and for serial runs cpu-ns/row:
// the process's CPU time per row, which a busy machine disturbs less. "serial" is one goroutine calling one
// instance; "parallel" is GOMAXPROCS goroutines on a pool of GOMAXPROCS
// instances, so its ns/row is wall time per row across all cores.

func BenchmarkIrisPredictRow(b *testing.B) {
	benchPredict(b, "iris-go", func(i int) float64 { return []float64{5.8, 3.0, 4.3, 1.3}[i%4] + float64(i%13)/10 })
}

func BenchmarkForestPredictRow(b *testing.B) {
	benchPredict(b, "forest-rust", func(i int) float64 { return float64(i%17)/4 - 2 })
}

// BenchmarkMockPredictRow measures the host overhead alone: the mock's
// prediction is a few adds.
func BenchmarkMockPredictRow(b *testing.B) {
	r := newTestRuntime(b, RuntimeConfig{PoolSize: 1})
	m := mustLoad(b, r, mockModule(mockSpec{MaxRows: 64}))
	benchModel(b, m, func(i int) float64 { return 10 + float64(i%5) })
	// An HTTP request's context is cancelable, which costs a
	// context.AfterFunc per call.
	b.Run("serial-cancelable-ctx/batch=1", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		in, dst := []float64{10, 1, 2, 3}, make([]float64, 2)
		b.ReportAllocs()
		for b.Loop() {
			if err := m.PredictInto(ctx, dst, in, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchPredict(b *testing.B, example string, value func(int) float64) {
	r := newTestRuntime(b, RuntimeConfig{})
	m := mustLoad(b, r, readExample(b, example))
	benchModel(b, m, value)
}

func benchModel(b *testing.B, m *Model, value func(int) float64) {
	meta := m.Meta()
	for _, batch := range []int{1, 64} {
		in := make([]float64, batch*meta.NFeatures)
		for i := range in {
			in[i] = value(i)
		}
		b.Run(fmt.Sprintf("serial/batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			dst := make([]float64, batch*meta.NOutputs)
			b.ReportAllocs()
			n, cpu := 0, cpuNanos()
			for b.Loop() {
				if err := m.PredictInto(ctx, dst, in, batch); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*batch), "ns/row")
			if cpu > 0 {
				b.ReportMetric(float64(cpuNanos()-cpu)/float64(n*batch), "cpu-ns/row")
			}
		})
		if m.pool.size < 2 {
			continue
		}
		b.Run(fmt.Sprintf("parallel/batch=%d", batch), func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(1) // GOMAXPROCS goroutines, one per instance
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				dst := make([]float64, batch*meta.NOutputs)
				for pb.Next() {
					if err := m.PredictInto(ctx, dst, in, batch); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/row")
			b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
		})
	}
}
