package ir

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// pipeline builds: scale two inputs, one-hot a third, a linear layer to
// two classes, softmax.
func pipeline() *Model {
	m := &Model{Task: Classification, PredictFn: PredictLabel, HasProba: true,
		Inputs: []Input{{Name: "a", Type: "double"}, {Name: "b", Type: "double"}, {Name: "c", Type: "string", Categories: []string{"x", "y"}}},
		Labels: []json.RawMessage{json.RawMessage(`0`), json.RawMessage(`1`)}}
	m.NSlots = 3
	sc := m.Alloc(2)
	m.Add(&Map{In: []int{0, 1}, Out: sc, Ops: []Op{{Kind: OpSub, Vals: []float64{1, 2}}, {Kind: OpDiv, Vals: []float64{2}}}})
	oh := m.Alloc(2)
	m.Add(&OneHot{In: 2, Cats: []float64{0, 1}, Cols: []int{0, 1}, Out: oh, Column: "c"})
	d := m.Alloc(2)
	m.Add(&Linear{In: append(sc, oh...), Out: d, W: []float64{1, 0, 1, 0, 0, 1, 0, 1}, B: []float64{0.5, 0}})
	p := m.Alloc(2)
	m.Add(&Softmax{In: d, Out: p})
	m.Out = p
	return m
}

func TestEvalPipeline(t *testing.T) {
	m := pipeline()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := m.Eval([]float64{3, 2, 1})
	if err != nil {
		t.Fatal(err)
	}
	// scaled (1, 0), one-hot (0, 1): d = (1.5, 1)
	e0, e1 := math.Exp(0), math.Exp(-0.5)
	if out[0] != e0/(e0+e1) || out[1] != e1/(e0+e1) {
		t.Fatalf("%v", out)
	}
	if _, err := m.Eval([]float64{3, 2, -1}); !errors.Is(err, ErrUnknownCategory) || !strings.Contains(err.Error(), `"c"`) {
		t.Fatalf("unknown category: %v", err)
	}
}

func TestTrees(t *testing.T) {
	// x0 <= 0.5 ? (x1 <= 2 ? 1 : 2) : 3; NaN at the root goes left, at
	// node 1 right.
	tr := Tree{
		Feature:     []int32{0, 1, -1, -1, -1},
		Threshold:   []float64{0.5, 2, 0, 0, 0},
		Left:        []int32{1, 2, -1, -1, -1},
		Right:       []int32{4, 3, -1, -1, -1},
		MissingLeft: []bool{true, false, false, false, false},
		Value:       []float64{0, 0, 1, 2, 3},
	}
	m := &Model{Task: Regression, PredictFn: PredictLabel, Inputs: []Input{{Name: "x0"}, {Name: "x1"}}, NSlots: 2}
	o := m.Alloc(1)
	m.Add(&Trees{In: []int{0, 1}, Out: o, Trees: []Tree{tr, tr}, Average: true, Float32: true})
	m.Out = o
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ x0, x1, want float64 }{
		{0.5, 2, 1}, {0.5, 2.5, 2}, {0.6, 0, 3}, {math.NaN(), 1, 1}, {0, math.NaN(), 2},
		// float32 rounding: 0.50000000001 rounds to 0.5 and goes left.
		{0.50000000001, 0, 1},
	} {
		out, _ := m.Eval([]float64{c.x0, c.x1})
		if out[0] != c.want {
			t.Errorf("%v,%v: %v, want %v", c.x0, c.x1, out[0], c.want)
		}
	}
	if d := tr.Depth(); d != 2 {
		t.Fatalf("depth %d", d)
	}
	bad := tr
	bad.Left = []int32{0, 2, -1, -1, -1} // a loop
	m.Steps[0].(*Trees).Trees[1] = bad
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "must follow it") {
		t.Fatalf("loop: %v", err)
	}
}

func TestNormalizeAndOps(t *testing.T) {
	v := []float64{0, 0, 0, 0}
	(&Normalize{In: []int{0, 1}, Out: []int{2, 3}, Zero: ZeroUniform}).Eval(v)
	if v[2] != 0.5 || v[3] != 0.5 {
		t.Fatal(v)
	}
	v = []float64{0, 0, 0, 0}
	(&Normalize{In: []int{0, 1}, Out: []int{2, 3}, Zero: ZeroKeep}).Eval(v)
	if v[2] != 0 || v[3] != 0 {
		t.Fatal(v)
	}
	// onnxruntime 1.32's Normalizer on these rows (float32 inputs but one).
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		norm     NormKind
		in, want []float64
	}{
		{NormL2, []float64{1, -3, 2}, []float64{0.26726123690605164, -0.8017837405204773, 0.5345224738121033}},
		{NormL2, []float64{-1, -2, -0.5}, []float64{-0.4364357888698578, -0.8728715777397156, -0.2182178944349289}},
		{NormL2, []float64{0, -1, 0}, []float64{0, -1, 0}},
		{NormL2, []float64{1e30, 1e30, 3}, []float64{nan, nan, 0}},
		// A double input: squared in float64, then rounded.
		{NormL2, []float64{-2.4057942757603423, 0.5}, []float64{-0.9790784120559692, 0.20348340272903442}},
		{NormL1, []float64{1, -3, 2}, []float64{0.1666666716337204, -0.5, 0.3333333432674408}},
		{NormL1, []float64{inf, 1, 2}, []float64{nan, 0, 0}},
		{NormL1, []float64{0, 0, math.Copysign(0, -1)}, []float64{0, 0, math.Copysign(0, -1)}},
		{NormL1, []float64{1e-30, 2e-30, 0}, []float64{0.3333333432674408, 0.6666666865348816, 0}},
		{NormMax, []float64{-1, -2, -0.5}, []float64{2, 4, 1}},
		{NormMax, []float64{nan, -1, -2}, []float64{nan, 1, 2}},
		{NormMax, []float64{0, -1, 0}, []float64{0, -1, 0}},
		{NormMax, []float64{-inf, -inf}, []float64{inf, inf}},
		{NormMax, []float64{inf, -inf, 1}, []float64{nan, nan, 0}},
		{NormMax, []float64{3, 2, nan}, []float64{1, 0.6666666865348816, nan}},
	} {
		n := len(c.in)
		v := append(append([]float64{}, c.in...), make([]float64, n)...)
		s := &Normalize{In: make([]int, n), Out: make([]int, n), Norm: c.norm}
		for i := range n {
			s.In[i], s.Out[i] = i, n+i
		}
		s.Eval(v)
		for i, w := range c.want {
			if g := v[n+i]; math.Float64bits(g) != math.Float64bits(w) && !(g != g && w != w) {
				t.Errorf("norm %d of %v: got %v, want %v", c.norm, c.in, v[n:], c.want)
				break
			}
		}
	}
	rep := Op{Kind: OpReplace, Vals: []float64{7}, Match: math.NaN()}
	if rep.Apply(0, math.NaN()) != 7 || rep.Apply(0, 1) != 1 {
		t.Fatal("replace")
	}
	if (&Op{Kind: OpMax, Vals: []float64{0}}).Apply(0, math.NaN()) == (&Op{Kind: OpMax, Vals: []float64{0}}).Apply(0, math.NaN()) {
		t.Fatal("max must propagate NaN")
	}
}

func TestValidate(t *testing.T) {
	for name, mut := range map[string]func(m *Model){
		"no inputs":        func(m *Model) { m.Inputs = nil },
		"labels":           func(m *Model) { m.Labels = m.Labels[:1] },
		"write twice":      func(m *Model) { m.Steps = append(m.Steps, m.Steps[0]) },
		"read before":      func(m *Model) { m.Steps[0], m.Steps[1] = m.Steps[2], m.Steps[0] },
		"weights":          func(m *Model) { m.Steps[2].(*Linear).W = nil },
		"out of range":     func(m *Model) { m.Out = []int{99, 0} },
		"one-hot col":      func(m *Model) { m.Steps[1].(*OneHot).Cols[0] = 5 },
		"proba not proba":  func(m *Model) { m.PredictFn = PredictProba; m.HasProba = false },
		"predict_fn":       func(m *Model) { m.PredictFn = "decision_function" },
		"duplicate inputs": func(m *Model) { m.Inputs[1].Name = "a" },
		"op constants":     func(m *Model) { m.Steps[0].(*Map).Ops[0].Vals = []float64{1, 2, 3} },
	} {
		m := pipeline()
		mut(m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPrune(t *testing.T) {
	m := pipeline()
	// Serve the decisions: the softmax is dead, the rest is not.
	m.Out = m.Steps[2].Writes()
	m.Prune()
	if len(m.Steps) != 3 {
		t.Fatalf("%d steps left", len(m.Steps))
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	// Only the first input's scaling feeds the output; the refusing
	// one-hot encoder stays.
	m = pipeline()
	m.Task, m.Labels, m.PredictFn, m.HasProba = Regression, nil, PredictLabel, false
	m.Out = m.Steps[0].Writes()[:1]
	m.Prune()
	if len(m.Steps) != 2 {
		t.Fatalf("%d steps left", len(m.Steps))
	}
	if _, ok := m.Steps[1].(*OneHot); !ok {
		t.Fatalf("%T", m.Steps[1])
	}
}

func TestPowAgreesWithMathPow(t *testing.T) {
	xs := []float64{0, math.Copysign(0, -1), 1, -1, 2, -2, 0.5, -0.5, 3.7, -3.7, 1e10, -1e-10, math.Inf(1), math.Inf(-1), math.NaN()}
	cs := []float64{0, 1, 2, 3, -1, -2, -3, 0.5, -0.5, 1.7, 4, 5}
	for _, x := range xs {
		for _, c := range cs {
			got, want := Pow(x, c), math.Pow(x, c)
			if math.IsInf(x, -1) && c != math.Trunc(c) {
				continue // NaN here, documented
			}
			if !(got == want || got != got && want != want || math.Abs(got-want) <= 1e-14*math.Abs(want)) || math.Signbit(got) != math.Signbit(want) && want == want {
				t.Errorf("Pow(%v, %v) = %v, math.Pow %v", x, c, got, want)
			}
		}
	}
}

func TestExpfIsGlibcs(t *testing.T) {
	// glibc 2.36's expf on inputs where it differs from the correctly
	// rounded exp (float32 bits).
	for _, c := range [][2]uint32{{0xc11ef28f, 0x384b5e56}, {0xc1bf5ef1, 0x2e339dcd}, {0xc1505641, 0x361486fc},
		{0xc1e0e109, 0x2b2e5eef}, {0xc0a5770f, 0x3bba2046}, {0xc15fd3f2, 0x3561a022}} {
		x := math.Float32frombits(c[0])
		if got := math.Float32bits(Expf(x)); got != c[1] {
			t.Errorf("Expf(%v) = %#x, glibc %#x", x, got, c[1])
		}
		if math.Float32bits(float32(math.Exp(float64(x)))) == c[1] {
			t.Errorf("Expf(%v): the rounded exp agrees; not a telling case", x)
		}
	}
	inf := float32(math.Inf(1))
	for x, want := range map[float32]float32{0: 1, -inf: 0, inf: inf, 89: inf, -104: 0, 1: 2.7182817} {
		if got := Expf(x); got != want {
			t.Errorf("Expf(%v) = %v, want %v", x, got, want)
		}
	}
	if n := Expf(float32(math.NaN())); n == n {
		t.Error("Expf(NaN) is a number")
	}
}
