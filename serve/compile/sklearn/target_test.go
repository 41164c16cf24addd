package sklearn

import (
	"math"
	"testing"

	"mlbox/serve/compile/ir"
)

// TestExpm1 checks the expm1 steps against math.Expm1 near 0, where
// exp(x) - 1 alone loses digits, and away from it.
func TestExpm1(t *testing.T) {
	m := &ir.Model{}
	m.Inputs = []ir.Input{{Name: "x"}}
	x := m.Alloc(1)
	m.Out = expm1(m, x)
	for _, v := range []float64{0, 1e-300, -1e-12, 3e-9, -7e-7, 9.99e-6, 1e-5, -1.00001e-5, 2e-5, 1e-3, -0.5, 1, 12.5, -40, 700} {
		got, err := m.Eval([]float64{v})
		if err != nil {
			t.Fatal(err)
		}
		want := math.Expm1(v)
		if d := math.Abs(got[0] - want); d > 1e-10*math.Abs(want) {
			t.Errorf("expm1(%g) = %.17g, want %.17g (relative error %.2g)", v, got[0], want, d/math.Abs(want))
		}
	}
	if got, _ := m.Eval([]float64{math.NaN()}); !math.IsNaN(got[0]) {
		t.Errorf("expm1(NaN) = %v", got[0])
	}
}
