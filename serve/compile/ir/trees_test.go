package ir

import (
	"math"
	"testing"
)

// stump is a one-split tree on feature 0 with leaves lv, rv.
func stump(kind uint8, thr float64, missingLeft bool, set []uint32, lv, rv float64) Tree {
	t := Tree{
		Feature:     []int32{0, -1, -1},
		Threshold:   []float64{thr, 0, 0},
		Left:        []int32{1, -1, -1},
		Right:       []int32{2, -1, -1},
		MissingLeft: []bool{missingLeft, false, false},
		Value:       []float64{0, lv, rv},
		Kind:        []uint8{kind, NodeNumeric, NodeNumeric},
	}
	if set != nil {
		t.Sets = [][]uint32{set, nil, nil}
	}
	return t
}

func evalTrees(t *testing.T, s *Trees, x float64) []float64 {
	t.Helper()
	v := make([]float64, 1+len(s.Out))
	v[0] = x
	if err := s.Eval(v); err != nil {
		t.Fatal(err)
	}
	return v[1:]
}

func TestTreesNodeKinds(t *testing.T) {
	nan := math.NaN()
	set := []uint32{1<<2 | 1<<5} // codes 2 and 5
	cases := []struct {
		name    string
		tree    Tree
		catLeft bool
		unkMiss bool
		x       float64
		want    float64
	}{
		{"numeric le", stump(NodeNumeric, 1.5, false, nil, 10, 20), false, false, 1.5, 10},
		{"numeric gt", stump(NodeNumeric, 1.5, false, nil, 10, 20), false, false, 1.6, 20},
		{"numeric nan right", stump(NodeNumeric, 1.5, false, nil, 10, 20), false, false, nan, 20},
		{"zero missing tiny", stump(NodeZeroMissing, -1, true, nil, 10, 20), false, false, 1e-36, 10},
		{"zero missing nan", stump(NodeZeroMissing, -1, true, nil, 10, 20), false, false, nan, 10},
		{"zero missing big", stump(NodeZeroMissing, -1, true, nil, 10, 20), false, false, 1e-30, 20},
		{"cat in set right (xgboost)", stump(NodeCategorical, 0, true, set, 10, 20), false, false, 5.9, 20},
		{"cat not in set left", stump(NodeCategorical, 0, true, set, 10, 20), false, false, 3, 10},
		{"cat negative not in set", stump(NodeCategorical, 0, false, set, 10, 20), false, false, -3, 10},
		{"cat -0.5 truncs to 0", stump(NodeCategorical, 0, false, []uint32{1}, 10, 20), false, false, -0.5, 20},
		{"cat in set left (lightgbm)", stump(NodeCategorical, 0, false, set, 10, 20), true, false, 2, 10},
		{"cat nan missing", stump(NodeCategorical, 0, true, set, 10, 20), true, false, nan, 10},
		{"cat huge not in set", stump(NodeCategorical, 0, true, set, 10, 20), true, false, 1e10, 20},
		{"cat unknown missing", stump(NodeCategorical, 0, true, set, 10, 20), true, true, 40, 10},
	}
	for _, c := range cases {
		s := &Trees{In: []int{0}, Out: []int{1}, Trees: []Tree{c.tree}, CatLeft: c.catLeft, UnknownMissing: c.unkMiss}
		m := &Model{Task: Regression, Inputs: []Input{{Name: "x", Type: "double"}}, NSlots: 2, Steps: []Step{s}, Out: []int{1}, PredictFn: PredictLabel}
		if err := m.Validate(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := evalTrees(t, s, c.x)[0]; got != c.want {
			t.Errorf("%s: x=%v got %v, want %v", c.name, c.x, got, c.want)
		}
	}
}

func TestTreesGroupsAccum32Average(t *testing.T) {
	a := stump(NodeNumeric, 0, false, nil, 0.1, 0.2)
	b := stump(NodeNumeric, 0, false, nil, 1, 2)
	c := stump(NodeNumeric, 0, false, nil, 3, 5)
	s := &Trees{In: []int{0}, Out: []int{1, 2}, Trees: []Tree{a, b, c}, Groups: []int32{0, 1, 1}, Base: []float64{1, 0}}
	if got := evalTrees(t, s, 1); got[0] != 1.2 || got[1] != 7 {
		t.Fatalf("groups: got %v", got)
	}
	s.Average = true
	if got := evalTrees(t, s, 1); got[0] != 1.2 || got[1] != 3.5 {
		t.Fatalf("average by group size: got %v", got)
	}
	// float32 summation: 2^24 + 1 is lost in float32.
	big := stump(NodeNumeric, 0, false, nil, 1<<24, 1<<24)
	one := stump(NodeNumeric, 0, false, nil, 1, 1)
	s = &Trees{In: []int{0}, Out: []int{1}, Trees: []Tree{big, one}, Accum32: true}
	if got := evalTrees(t, s, 1)[0]; got != 1<<24 {
		t.Fatalf("accum32: got %v", got)
	}
	s.Accum32 = false
	if got := evalTrees(t, s, 1)[0]; got != 1<<24+1 {
		t.Fatalf("float64: got %v", got)
	}
}

func TestTreesValidateNew(t *testing.T) {
	bad := []*Trees{
		{Trees: []Tree{stump(NodeNumeric, 0, false, nil, 1, 2)}, Groups: []int32{1}},
		{Trees: []Tree{stump(NodeCategorical, 0, false, nil, 1, 2)}},
		{Trees: []Tree{stump(7, 0, false, nil, 1, 2)}},
		{Trees: []Tree{stump(NodeNumeric, 0, false, nil, 1, 2)}, Accum32: true, Base: []float64{0.1}},
	}
	for i, s := range bad {
		s.In, s.Out = []int{0}, []int{1}
		m := &Model{Task: Regression, Inputs: []Input{{Name: "x", Type: "double"}}, NSlots: 2, Steps: []Step{s}, Out: []int{1}, PredictFn: PredictLabel}
		if err := m.Validate(); err == nil {
			t.Errorf("case %d: validated", i)
		}
	}
}
