package wasmgen

import (
	"strings"
	"testing"

	"mlbox/serve/compile/ir"
)

// A crafted tree as deep as it has nodes would make megabytes of
// straight-line code: refused as too large, quickly.
func TestTooLargeIsUnsupported(t *testing.T) {
	const n = 1 << 20
	tr := ir.Tree{Feature: make([]int32, 2*n+1), Threshold: make([]float64, 2*n+1), Left: make([]int32, 2*n+1),
		Right: make([]int32, 2*n+1), MissingLeft: make([]bool, 2*n+1), Value: make([]float64, 2*n+1)}
	for i := range 2*n + 1 {
		tr.Feature[i] = -1
	}
	// A chain: node 2i splits, its left child 2i+1 is a leaf, its right
	// child 2i+2 goes on.
	for i := 0; i < n; i++ {
		tr.Feature[2*i], tr.Left[2*i], tr.Right[2*i] = 0, int32(2*i+1), int32(2*i+2)
	}
	m := &ir.Model{Task: ir.Regression, PredictFn: ir.PredictLabel, Inputs: []ir.Input{{Name: "x", Type: "double", Required: true}}, NSlots: 1}
	o := m.Alloc(1)
	m.Add(&ir.Trees{In: []int{0}, Out: o, Trees: []ir.Tree{tr}})
	m.Out = o
	if _, err := Generate(m, Options{}); err == nil || !strings.Contains(err.Error(), "too large to compile") {
		t.Fatalf("%v", err)
	}
}
