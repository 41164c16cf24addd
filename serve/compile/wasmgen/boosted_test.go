package wasmgen_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"mlbox/serve"
	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/wasmgen"
)

// randBoosted is a tree ensemble with the boosted-tree features: output
// groups with scalar leaves, float32 sums, categorical and zero-as-missing
// nodes.
func randBoosted(r *rand.Rand) *ir.Model {
	nf := 1 + r.IntN(5)
	nout := 1 + r.IntN(3)
	m := &ir.Model{PredictFn: ir.PredictLabel, Task: ir.Regression, NSlots: nf}
	in := make([]int, nf)
	for i := range nf {
		m.Inputs = append(m.Inputs, ir.Input{Name: string(rune('a' + i)), Type: "double"})
		in[i] = i
	}
	s := &ir.Trees{In: in, Float32: r.IntN(2) == 0, Accum32: r.IntN(2) == 0, Average: r.IntN(4) == 0,
		CatLeft: r.IntN(2) == 0, UnknownMissing: r.IntN(3) == 0}
	grouped := r.IntN(2) == 0
	nv := nout
	if grouped {
		nv = 1
	}
	special := r.IntN(3) > 0
	// Float32 sums mostly come with float32 leaves (XGBoost's), which a
	// run adds with f32.add; some models keep float64 leaves (the f64 path).
	leaves32 := r.IntN(4) > 0
	for range 1 + r.IntN(12) {
		t := randTree(r, nf, nv, r.IntN(8))
		if s.Accum32 && leaves32 {
			for i, v := range t.Value {
				t.Value[i] = float64(float32(v * 1.37))
			}
		}
		if special {
			t.Kind = make([]uint8, len(t.Feature))
			t.Sets = make([][]uint32, len(t.Feature))
			for i := range t.Feature {
				if t.Feature[i] < 0 {
					continue
				}
				switch r.IntN(3) {
				case 1:
					t.Kind[i] = ir.NodeZeroMissing
				case 2:
					t.Kind[i] = ir.NodeCategorical
					t.Sets[i] = make([]uint32, 1+r.IntN(2))
					for w := range t.Sets[i] {
						t.Sets[i][w] = r.Uint32()
					}
				}
			}
		}
		s.Trees = append(s.Trees, t)
		if grouped {
			s.Groups = append(s.Groups, int32(r.IntN(nout)))
		}
	}
	if r.IntN(2) == 0 {
		s.Base = make([]float64, nout)
		for k := range s.Base {
			s.Base[k] = float64(float32(r.NormFloat64()))
		}
	}
	s.Out = m.Alloc(nout)
	m.Add(s)
	m.Out = s.Out
	return m
}

func TestBoostedTreesMatchEvaluator(t *testing.T) {
	ctx := context.Background()
	rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	r := rand.New(rand.NewPCG(7, 17))
	n := 200
	if testing.Short() {
		n = 30
	}
	specials := []float64{math.NaN(), 0, math.Copysign(0, -1), 1e-36, -1e-36, 1e-35, 2e-35, -0.5, -1, -1.5, 31, 32, 33.9, 63, 64, 1e10, -1e10, math.Inf(1), math.Inf(-1)}
	for iter := range n {
		m := randBoosted(r)
		if err := m.Validate(); err != nil {
			t.Fatalf("model %d: %v", iter, err)
		}
		wasm, err := wasmgen.Generate(m, wasmgen.Options{MaxBatchRows: 1 + r.IntN(20), CompleteDepth: []int{1, 4, 10}[r.IntN(3)], RunMin: []int{0, 1, 2, 5}[r.IntN(4)], HeadLevels: []int{-1, 0, 1, 2, 3}[r.IntN(5)]})
		if err != nil {
			t.Fatalf("model %d: %v", iter, err)
		}
		mod, err := rt.LoadWith(ctx, wasm, serve.LoadOptions{Trusted: iter%2 == 0})
		if err != nil {
			t.Fatalf("model %d: load: %v", iter, err)
		}
		rows := 1 + r.IntN(40)
		nf := len(m.Inputs)
		in := make([]float64, rows*nf)
		for i := range in {
			switch r.IntN(4) {
			case 0:
				in[i] = specials[r.IntN(len(specials))]
			case 1:
				in[i] = float64(r.IntN(70)) + r.Float64()*0.99
			default:
				in[i] = r.NormFloat64() * 2
			}
		}
		var want []float64
		for row := range rows {
			x := in[row*nf : (row+1)*nf]
			out, err := m.Eval(x)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mod.Predict(ctx, x, 1)
			if err != nil {
				t.Fatalf("model %d row %d: %v", iter, row, err)
			}
			for k := range out {
				if !(got[k] == out[k] || got[k] != got[k] && out[k] != out[k]) {
					t.Fatalf("model %d row %d (%v): module %v, evaluator %v", iter, row, x, got, out)
				}
			}
			want = append(want, out...)
		}
		got, err := mod.Predict(ctx, in, rows)
		if err != nil {
			t.Fatalf("model %d batch: %v", iter, err)
		}
		for k := range want {
			if !(got[k] == want[k] || got[k] != got[k] && want[k] != want[k]) {
				t.Fatalf("model %d batch output %d: module %v, evaluator %v", iter, k, got[k], want[k])
			}
		}
		mod.Close()
	}
}
