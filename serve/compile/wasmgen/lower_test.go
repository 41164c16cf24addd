package wasmgen_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"mlbox/serve"
	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/wasmgen"
)

// Every step's lowering against its reference evaluator, on random
// models and rows (NaN included), in the serving runtime, trusted and
// not, with every tree layout.

func randTree(r *rand.Rand, nf, nout, depth int) ir.Tree {
	var t ir.Tree
	var grow func(d int) int32
	grow = func(d int) int32 {
		i := int32(len(t.Feature))
		t.Feature = append(t.Feature, -1)
		t.Threshold = append(t.Threshold, 0)
		t.Left = append(t.Left, -1)
		t.Right = append(t.Right, -1)
		t.MissingLeft = append(t.MissingLeft, false)
		for range nout {
			t.Value = append(t.Value, math.Round(r.NormFloat64()*1000)/1000)
		}
		if d == 0 || d < depth-1 && r.IntN(4) == 0 {
			return i
		}
		t.Feature[i] = int32(r.IntN(nf))
		t.Threshold[i] = r.NormFloat64()
		if r.IntN(10) == 0 {
			t.Threshold[i] = math.Inf(1)
		}
		t.MissingLeft[i] = r.IntN(2) == 0
		l := grow(d - 1)
		t.Left[i] = l
		t.Right[i] = grow(d - 1)
		return i
	}
	grow(depth)
	return t
}

func randModel(r *rand.Rand) *ir.Model {
	nf := 1 + r.IntN(6)
	m := &ir.Model{PredictFn: ir.PredictLabel}
	for i := range nf {
		m.Inputs = append(m.Inputs, ir.Input{Name: string(rune('a' + i)), Type: "double", Required: true})
	}
	m.NSlots = nf
	cols := make([]int, nf)
	for i := range cols {
		cols[i] = i
	}
	// Element-wise steps.
	mp := m.Alloc(nf)
	m.Add(&ir.Map{In: cols, Out: mp, Ops: []ir.Op{
		{Kind: ir.OpReplace, Vals: []float64{0.5}, Match: math.NaN()},
		{Kind: ir.OpSub, Vals: []float64{r.NormFloat64()}},
		{Kind: ir.OpDiv, Vals: []float64{1 + r.Float64()}},
	}})
	ind := m.Alloc(1)
	m.Add(&ir.Map{In: cols[:1], Out: ind, Ops: []ir.Op{{Kind: ir.OpIsMissing, Match: math.NaN()}}})
	// A one-hot of a small integer column.
	oh := m.Alloc(3)
	unk := ir.Unknown(r.IntN(3))
	m.Add(&ir.OneHot{In: cols[nf-1], Cats: []float64{-1, 0, 1, math.NaN()}, Cols: []int{0, 1, -1, 2}, Out: oh, Unknown: unk, UnknownCol: 2, Column: "z"})
	// Abs, trunc and a threshold (ONNX's Abs, Cast to an integer, Binarizer).
	at := m.Alloc(nf)
	m.Add(&ir.Map{In: cols, Out: at, Ops: []ir.Op{{Kind: ir.OpMul, Vals: []float64{3}}, {Kind: ir.OpAbs}, {Kind: ir.OpTrunc}, {Kind: ir.OpGreater, Vals: []float64{1}}}})
	// Arithmetic between float32 roundings (ONNX's Scaler), some of which
	// runs in float32, and a step reading a float32 slot.
	r32 := m.Alloc(nf)
	m.Add(&ir.Map{In: cols, Out: r32, Ops: []ir.Op{{Kind: ir.OpRound32}, {Kind: ir.OpSub, Vals: []float64{float64(float32(r.NormFloat64()))}}, {Kind: ir.OpRound32},
		{Kind: ir.OpMul, Vals: []float64{float64(float32(1 + r.Float64()))}}, {Kind: ir.OpRound32}, {Kind: ir.OpAdd, Vals: []float64{0.1}}, {Kind: ir.OpRound32},
		{Kind: ir.OpDiv, Vals: []float64{3}}, {Kind: ir.OpRound32}}})
	s32 := m.Alloc(nf)
	m.Add(&ir.Map{In: r32, Out: s32, Ops: []ir.Op{{Kind: ir.OpMul, Vals: []float64{float64(float32(0.7))}}, {Kind: ir.OpRound32}, {Kind: ir.OpExp}}})
	// glibc's float32 exp, over the whole range (NaN, ±Inf, overflow,
	// underflow).
	ef := m.Map(cols, []ir.Op{{Kind: ir.OpMul, Vals: []float64{[]float64{1, 30, 1e6}[r.IntN(3)]}}, {Kind: ir.OpRound32}, {Kind: ir.OpExpf}})
	s32 = append(s32, ef...)
	// Two columns combined (ONNX's Add, Less, ... of two tensors), a power,
	// a comparison and a constant column.
	kinds := []ir.OpKind{ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpDiv, ir.OpMin, ir.OpMax, ir.OpGreater, ir.OpLess, ir.OpEqual}
	bn := m.Alloc(nf)
	m.Add(&ir.Binary{A: cols, B: append(append([]int{}, cols[1:]...), cols[0]), Out: bn, Kind: kinds[r.IntN(len(kinds))]})
	pw := m.Alloc(nf)
	exps := []float64{0, 1, 2, 3, -1, 0.5, -2.5, 4, 1.7}
	m.Add(&ir.Map{In: bn, Out: pw, Ops: []ir.Op{{Kind: ir.OpPow, Vals: []float64{exps[r.IntN(len(exps))]}}, {Kind: ir.OpMin, Vals: []float64{1e6}}}})
	ls := m.Alloc(2)
	m.Add(&ir.Map{In: []int{cols[0], cols[nf-1]}, Out: ls, Ops: []ir.Op{{Kind: ir.OpLess, Vals: []float64{0.3, -1}}, {Kind: ir.OpSet, Vals: []float64{r.Float64(), 1}}, {Kind: ir.OpLess, Vals: []float64{0.5}},
		{Kind: ir.OpEqual, Vals: []float64{float64(r.IntN(2))}}}})
	// An SVM's kernel over the inputs (NaN included).
	nc := 1 + r.IntN(4)
	rbf := &ir.RBF{In: cols, Out: m.Alloc(nc), Gamma: float64(float32(0.05 + r.Float64()))}
	for range nc * nf {
		rbf.C = append(rbf.C, float64(float32(r.NormFloat64())))
	}
	m.Add(rbf)
	// The same in float64 (scikit-learn's SVC), an odd number of centres
	// at times.
	rbf64 := &ir.RBF{In: cols, Out: m.Alloc(1 + r.IntN(5)), Gamma: 0.01 + r.Float64(), F64: true}
	for range len(rbf64.Out) * nf {
		rbf64.C = append(rbf64.C, r.NormFloat64())
	}
	m.Add(rbf64)
	// A choice, and an SVM's pairwise coupling of probabilities made from
	// the inputs (NaN included).
	sel := m.Alloc(1)
	m.Add(&ir.Select{Cond: ind, A: mp[:1], B: cols[nf-1:], Out: sel})
	kc := 2 + r.IntN(3)
	rm := make([]int, kc*kc)
	for i := range kc {
		for j := i + 1; j < kc; j++ {
			c := cols[(i*kc+j)%nf]
			rij := m.Map([]int{c}, []ir.Op{{Kind: ir.OpMul, Vals: []float64{r.NormFloat64()}}, {Kind: ir.OpLogistic}, {Kind: ir.OpRound32}})
			rji := m.Map(rij, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}, {Kind: ir.OpRound32}})
			rm[i*kc+j], rm[j*kc+i], rm[i*kc+i] = rij[0], rji[0], rij[0]
		}
	}
	rm[(kc-1)*kc+kc-1] = rm[1]
	cp := &ir.Coupling{In: rm, Out: m.Alloc(kc)}
	m.Add(cp)
	// k nearest neighbours over points on a grid, from the inputs and
	// from the inputs truncated onto the grid (ties, distance 0): class
	// votes and a weighted mean, uniform or by distance, p = 1 or 2.
	grid := m.Map(cols, []ir.Op{{Kind: ir.OpTrunc}})
	var knn []int
	for c, in := range [][]int{cols, grid} {
		np := 3 + r.IntN(30)
		kn := &ir.Neighbors{In: in, K: 1 + r.IntN(min(np, 7)), P: 1 + r.IntN(2), Distance: r.IntN(2) == 0}
		if c == 0 {
			kn.Classes = 2 + r.IntN(3)
		}
		for range np * nf {
			kn.Points = append(kn.Points, float64(r.IntN(5)-2))
		}
		for range np {
			if kn.Classes > 0 {
				kn.Value = append(kn.Value, float64(r.IntN(kn.Classes)))
			} else {
				kn.Value = append(kn.Value, r.NormFloat64())
			}
		}
		kn.Out = m.Alloc(max(kn.Classes, 1))
		m.Add(kn)
		knn = append(knn, kn.Out...)
	}
	// libsvm's coupling in float64, over the float64 kernel's values.
	kc64 := 2 + r.IntN(4)
	rm64 := make([]int, kc64*kc64)
	for i := range kc64 {
		for j := i + 1; j < kc64; j++ {
			c := append(append([]int{}, cols...), rbf64.Out...)[(i*kc64+j)%(nf+len(rbf64.Out))]
			rij := m.Map([]int{c}, []ir.Op{{Kind: ir.OpMul, Vals: []float64{r.NormFloat64()}}, {Kind: ir.OpLogistic}, {Kind: ir.OpMax, Vals: []float64{1e-7}}})
			rji := m.Map(rij, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}})
			rm64[i*kc64+j], rm64[j*kc64+i], rm64[i*kc64+i] = rij[0], rji[0], rij[0]
		}
	}
	rm64[(kc64-1)*kc64+kc64-1] = rm64[1]
	cp64 := &ir.Coupling{In: rm64, Out: m.Alloc(kc64), F64: true}
	m.Add(cp64)
	feat := append(append(append(append(append(append(append(append(append(append(append(append(append([]int{}, mp...), ind...), oh...), at...), s32...), pw...), ls...), rbf.Out...), sel...), cp.Out...), rbf64.Out...), cp64.Out...), knn...)
	nout := 1 + r.IntN(3)
	switch r.IntN(3) {
	case 0: // linear → softmax or logistic
		w := make([]float64, nout*len(feat))
		for i := range w {
			w[i] = r.NormFloat64()
		}
		d := m.Alloc(nout)
		fma := r.IntN(3) == 0
		m.Add(&ir.Linear{In: feat, Out: d, W: w, B: w[:nout], AnyOrder: r.IntN(2) == 0, FMA32: fma, Prod32: !fma && r.IntN(3) == 0})
		p := m.Alloc(nout)
		if nout > 1 {
			m.Add(&ir.Softmax{In: d, Out: p})
		} else {
			m.Add(&ir.Map{In: d, Out: p, Ops: []ir.Op{{Kind: ir.OpLogistic}, {Kind: ir.OpMax, Vals: []float64{0.01}}, {Kind: ir.OpLog}}})
		}
		m.Out = p
	case 1: // trees
		// The raw inputs too: trees route NaN.
		tin := append(append([]int{}, feat...), cols...)
		st := &ir.Trees{In: tin, Float32: r.IntN(2) == 0, Average: r.IntN(2) == 0}
		for range 1 + r.IntN(7) {
			st.Trees = append(st.Trees, randTree(r, len(tin), nout, r.IntN(9)))
		}
		if r.IntN(2) == 0 {
			st.Base = make([]float64, nout)
			st.Base[0] = 0.25
		}
		st.Out = m.Alloc(nout)
		m.Add(st)
		m.Out = st.Out
	default: // normalize and exp/tanh
		e := m.Alloc(len(mp))
		m.Add(&ir.Map{In: mp, Out: e, Ops: []ir.Op{{Kind: ir.OpTanh}, {Kind: ir.OpExp}, {Kind: ir.OpSquare}, {Kind: ir.OpMin, Vals: []float64{2}}, {Kind: ir.OpSub, Vals: []float64{1}}}})
		norm := ir.NormKind(r.IntN(4))
		if norm != ir.NormSum { // onnxruntime's: NaN, negatives, zero norms
			e = append(append(append([]int{}, oh...), at...), cols[:r.IntN(len(cols)+1)]...)
		}
		q := m.Alloc(len(e))
		m.Add(&ir.Normalize{In: e, Out: q, Zero: ir.ZeroSum(r.IntN(3)), Norm: norm})
		m.Out = q
	}
	if r.IntN(3) == 0 { // an arg max as one more output (ONNX's label index)
		am := &ir.ArgMax{In: feat[:1+r.IntN(len(feat))], Out: m.Alloc(1)[0]}
		m.Add(am)
		m.Out = append(m.Out, am.Out)
	}
	m.Task = ir.Regression
	if len(m.Out) > 1 && r.IntN(2) == 0 {
		m.Task = ir.Classification
		for i := range m.Out {
			m.Labels = append(m.Labels, json.RawMessage(strconv.Itoa(i)))
		}
	}
	return m
}

func TestLoweringMatchesEvaluator(t *testing.T) {
	ctx := context.Background()
	rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	r := rand.New(rand.NewPCG(1, 2))
	n := 300
	if testing.Short() {
		n = 40
	}
	for iter := range n {
		m := randModel(r)
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		opts := wasmgen.Options{MaxBatchRows: 1 + r.IntN(40), CompleteDepth: []int{1, 4, 10}[r.IntN(3)], RunMin: []int{0, 1, 3}[r.IntN(3)], HeadLevels: []int{-1, 0, 1, 2, 3}[r.IntN(5)]}
		wasm, err := wasmgen.Generate(m, opts)
		if err != nil {
			t.Fatalf("model %d: %v", iter, err)
		}
		mod, err := rt.LoadWith(ctx, wasm, serve.LoadOptions{Trusted: iter%2 == 0})
		if err != nil {
			t.Fatalf("model %d: load: %v", iter, err)
		}
		rows := 1 + r.IntN(60)
		nf := len(m.Inputs)
		in := make([]float64, rows*nf)
		for i := range in {
			switch r.IntN(8) {
			case 0:
				in[i] = math.NaN()
			case 1:
				in[i] = float64(r.IntN(4) - 1) // one-hot categories and unknowns
			default:
				in[i] = r.NormFloat64() * 2
			}
		}
		// Rows one by one against the evaluator, then the batch.
		var want []float64
		refused := false
		for row := range rows {
			out, err := m.Eval(in[row*nf : (row+1)*nf])
			if err != nil {
				refused = true
				got, perr := mod.Predict(ctx, in[row*nf:(row+1)*nf], 1)
				if perr == nil {
					t.Fatalf("model %d row %d: module answered %v, evaluator refused: %v", iter, row, got, err)
				}
				continue
			}
			got, err := mod.Predict(ctx, in[row*nf:(row+1)*nf], 1)
			if err != nil {
				t.Fatalf("model %d row %d: %v", iter, row, err)
			}
			for k := range out {
				if !same(got[k], out[k]) {
					t.Fatalf("model %d row %d (%v): module %v, evaluator %v", iter, row, in[row*nf:(row+1)*nf], got, out)
				}
			}
			want = append(want, out...)
		}
		if !refused {
			got, err := mod.Predict(ctx, in, rows)
			if err != nil {
				t.Fatalf("model %d batch: %v", iter, err)
			}
			for k := range want {
				if !same(got[k], want[k]) {
					t.Fatalf("model %d batch output %d: module %v, evaluator %v", iter, k, got[k], want[k])
				}
			}
		}
		mod.Close()
	}
}

// same: equal, both NaN, or within 1e-12 (math functions are not Go's,
// divisions are folded into weights).
func same(a, b float64) bool {
	if a == b || a != a && b != b {
		return true
	}
	return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b))
}
