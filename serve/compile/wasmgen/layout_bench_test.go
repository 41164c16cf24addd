package wasmgen_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"mlbox/serve"
	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/wasmgen"
)

// Tree layouts on the ensemble shapes of the benchmarks, on 20
// features: a random forest of 100 trees of depth 8 with two outputs
// (bench/serve), XGBoost-like depth-wise trees of depth 6 in float32 with
// float32 sums and LightGBM-like leaf-wise trees of 31 leaves in float64
// (500 trees each, bench/gbm). Thresholds are drawn from the inputs' distribution,
// so branches are as unpredictable as on real data. The numbers choose
// the layout per shape (docs/performance.md).
//
//	go test ./serve/compile/wasmgen -run '^$' -bench TreeLayout -v
//
// MLBOX_BENCH_LAYOUTS="auto straight" limits the layouts measured.

// leafWise grows a tree the way LightGBM does: split a random leaf until
// it has the leaves.
func leafWise(r *rand.Rand, nf, leaves int) ir.Tree {
	var t ir.Tree
	add := func() int32 {
		t.Feature = append(t.Feature, -1)
		t.Threshold = append(t.Threshold, 0)
		t.Left = append(t.Left, -1)
		t.Right = append(t.Right, -1)
		t.MissingLeft = append(t.MissingLeft, false)
		t.Value = append(t.Value, r.NormFloat64()*0.1)
		return int32(len(t.Feature) - 1)
	}
	open := []int32{add()}
	for len(open) < leaves {
		k := r.IntN(len(open))
		n := open[k]
		t.Feature[n] = int32(r.IntN(nf))
		t.Threshold[n] = r.NormFloat64()
		t.MissingLeft[n] = r.IntN(2) == 0
		l := add()
		rr := add()
		t.Left[n], t.Right[n] = l, rr
		open[k] = l
		open = append(open, rr)
	}
	return t
}

func boostedShape(shape string) *ir.Model {
	r := rand.New(rand.NewPCG(3, 4))
	nf, ntrees := 20, 500
	if n, err := strconv.Atoi(os.Getenv("MLBOX_BENCH_TREES")); err == nil {
		ntrees = n
	}
	m := &ir.Model{PredictFn: ir.PredictLabel, Task: ir.Regression, NSlots: nf}
	in := make([]int, nf)
	for i := range nf {
		m.Inputs = append(m.Inputs, ir.Input{Name: fmt.Sprint("f", i), Type: "double"})
		in[i] = i
	}
	s := &ir.Trees{In: in}
	for range ntrees {
		var t ir.Tree
		if shape == "forest" {
			if len(s.Trees) == 100 {
				break
			}
			t = randTree(r, nf, 2, 8)
			s.Float32, s.Average = true, true
		} else if shape == "xgboost" {
			t = randTree(r, nf, 1, 6)
			for i := range t.Value {
				t.Value[i] = float64(float32(t.Value[i]))
			}
			s.Float32, s.Accum32 = true, true
		} else {
			t = leafWise(r, nf, 31)
		}
		s.Trees = append(s.Trees, t)
	}
	nout := 1
	if shape == "forest" {
		nout = 2
	}
	s.Out = m.Alloc(nout)
	m.Add(s)
	m.Out = s.Out
	return m
}

func BenchmarkTreeLayout(b *testing.B) {
	ctx := context.Background()
	rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{PoolSize: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	r := rand.New(rand.NewPCG(5, 6))
	const n = 1000
	in := make([]float64, n*20)
	for i := range in {
		in[i] = r.NormFloat64()
	}
	for _, shape := range []string{"forest", "xgboost", "lightgbm"} {
		m := boostedShape(shape)
		depths := map[int]int{}
		for _, t := range m.Steps[0].(*ir.Trees).Trees {
			depths[t.Depth()]++
		}
		b.Logf("%s depths: %v", shape, depths)
		layouts := strings.Fields(os.Getenv("MLBOX_BENCH_LAYOUTS"))
		if len(layouts) == 0 {
			layouts = []string{"auto", "complete", "straight", "deep", "branchy"}
		}
		for _, layout := range layouts {
			start := time.Now()
			opt := layout
			if opt == "auto" {
				opt = ""
			}
			rg, _ := strconv.Atoi(os.Getenv("MLBOX_BENCH_RUNGROUP"))
			wasm, err := wasmgen.Generate(m, wasmgen.Options{TreeLayout: opt, RunGroup: rg})
			if err != nil {
				b.Fatal(err)
			}
			gen := time.Since(start)
			start = time.Now()
			mod, err := rt.LoadWith(ctx, wasm, serve.LoadOptions{Trusted: true})
			if err != nil {
				b.Fatal(err)
			}
			load := time.Since(start)
			name := layout
			b.Logf("%s/%s: %d KB, generate %v, wazero compile %v", shape, name, len(wasm)>>10, gen, load)
			no := len(m.Out)
			out := make([]float64, n*no)
			b.Run(shape+"/"+name+"/batch=1000", func(b *testing.B) {
				for b.Loop() {
					if err := mod.PredictInto(ctx, out, in, n); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
			})
			b.Run(shape+"/"+name+"/batch=1", func(b *testing.B) {
				i := 0
				for b.Loop() {
					if err := mod.PredictInto(ctx, out[:no], in[i*20:(i+1)*20], 1); err != nil {
						b.Fatal(err)
					}
					i = (i + 1) % n
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
			})
			mod.Close()
		}
	}
}
