// Package iris is the iris classifier shared by the wasm module (../main.go)
// and its trainer (../train). Keeping the arithmetic in one place is what
// makes reference_predictions.json, computed natively by the trainer, a
// valid oracle for the module compiled to wasm.
package iris

import "math"

// Sizes of the model.
const (
	NFeatures = 4
	NClasses  = 3
)

// FeatureNames are the input columns, in order.
var FeatureNames = [NFeatures]string{"sepal_length", "sepal_width", "petal_length", "petal_width"}

// Classes are the class labels, in output order.
var Classes = [NClasses]string{"setosa", "versicolor", "virginica"}

// Params is a multinomial logistic regression on standardised features.
type Params struct {
	Mean, Std [NFeatures]float64
	W         [NClasses][NFeatures]float64
	B         [NClasses]float64
}

// Logits writes the class scores of one row x into z.
//
// The loops are unrolled by hand, on purpose: Go's wasm backend sends
// every jump through a loop header, and under mlbox's call deadlines each
// loop header costs an interrupt check (docs/wasm-abi.md, "Limits").
// Straight-line code keeps the module about twice as fast. The order of the
// floating-point operations is the same as a loop's, so the results match
// to the last bit.
func (p *Params) Logits(x []float64, z *[NClasses]float64) {
	_ = x[NFeatures-1]
	s0 := (x[0] - p.Mean[0]) / p.Std[0]
	s1 := (x[1] - p.Mean[1]) / p.Std[1]
	s2 := (x[2] - p.Mean[2]) / p.Std[2]
	s3 := (x[3] - p.Mean[3]) / p.Std[3]
	w := &p.W
	z[0] = p.B[0] + w[0][0]*s0 + w[0][1]*s1 + w[0][2]*s2 + w[0][3]*s3
	z[1] = p.B[1] + w[1][0]*s0 + w[1][1]*s1 + w[1][2]*s2 + w[1][3]*s3
	z[2] = p.B[2] + w[2][0]*s0 + w[2][1]*s1 + w[2][2]*s2 + w[2][3]*s3
}

// Predict writes the class probabilities of one row x (len NFeatures) into
// out (len NClasses): the softmax of the logits.
func (p *Params) Predict(x, out []float64) {
	var z [NClasses]float64
	p.Logits(x, &z)
	_ = out[NClasses-1]
	m := max(z[0], z[1], z[2])
	e0, e1, e2 := math.Exp(z[0]-m), math.Exp(z[1]-m), math.Exp(z[2]-m)
	sum := e0 + e1 + e2
	out[0], out[1], out[2] = e0/sum, e1/sum, e2/sum
}

// Argmax returns the index of the largest probability.
func Argmax(p []float64) int {
	best := 0
	for k := range p {
		if p[k] > p[best] {
			best = k
		}
	}
	return best
}
