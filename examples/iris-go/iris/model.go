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
func (p *Params) Logits(x []float64, z *[NClasses]float64) {
	var s [NFeatures]float64
	for j := range s {
		s[j] = (x[j] - p.Mean[j]) / p.Std[j]
	}
	for k := range z {
		v := p.B[k]
		for j := range s {
			v += p.W[k][j] * s[j]
		}
		z[k] = v
	}
}

// Predict writes the class probabilities of one row x (len NFeatures) into
// out (len NClasses).
func (p *Params) Predict(x, out []float64) {
	var z [NClasses]float64
	p.Logits(x, &z)
	m := z[0]
	for _, v := range z[1:] {
		m = max(m, v)
	}
	var sum float64
	for k, v := range z {
		e := math.Exp(v - m)
		out[k] = e
		sum += e
	}
	for k := range out[:NClasses] {
		out[k] /= sum
	}
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
