package sklearn

import (
	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// adaBoost maps AdaBoostClassifier (SAMME): per estimator and class, the
// estimator's weight w when it predicts the class, else -w/(K-1), summed
// over the estimators in order and divided by the sum of the weights: the
// decision function (for two classes, its second column minus its
// first). predict is its arg max (two classes: the second when > 0);
// predict_proba the softmax of decision/(K-1) (two classes: of
// [-d, d]/2).
func (b *builder) adaBoost(o *pyobj.Object, cols []col) (*head, error) {
	const name = "AdaBoostClassifier"
	if alg, _ := optStr(o, "algorithm"); alg == "SAMME.R" {
		return nil, ir.Unsupportedf("AdaBoostClassifier(algorithm=\"SAMME.R\")")
	}
	lab, err := labels(o)
	if err != nil {
		return nil, err
	}
	ests, err := fitted(o, 2000)
	if err != nil {
		return nil, err
	}
	wts, err := vector(o, "estimator_weights_", -1)
	if err != nil {
		return nil, err
	}
	if len(wts) < len(ests) {
		return nil, ir.Invalidf("AdaBoostClassifier has %d weights for %d estimators", len(wts), len(ests))
	}
	var wsum float64
	for _, w := range wts {
		wsum += w
	}
	k := len(lab)
	m := b.m
	var parts [][]int
	for i, eo := range ests {
		h, err := b.predictor(eo, cols)
		if err != nil {
			return nil, err
		}
		if h.task != ir.Classification {
			return nil, ir.Invalidf("AdaBoostClassifier estimator %s is not a classifier", h.name)
		}
		idx := m.Alloc(1)
		m.Add(&ir.ArgMax{In: h.out, Out: idx[0]})
		w := wts[i]
		hit := m.Map(idx, []ir.Op{{Kind: ir.OpSet, Vals: []float64{w}}})
		miss := m.Map(idx, []ir.Op{{Kind: ir.OpSet, Vals: []float64{-1 / float64(k-1) * w}}})
		vals := make([]int, k)
		for c := range k {
			// the estimator's position of class c (none: never predicted)
			at := indexOf(h.labels, lab[c])
			ind := m.Map(idx, []ir.Op{{Kind: ir.OpEqual, Vals: []float64{float64(at)}}})
			vals[c] = m.Alloc(1)[0]
			m.Add(&ir.Select{Cond: ind, A: hit, B: miss, Out: vals[c : c+1]})
		}
		parts = append(parts, vals)
	}
	pred := m.Map(sumInOrder(m, parts), []ir.Op{{Kind: ir.OpDiv, Vals: []float64{wsum}}})
	h := &head{name: name, task: ir.Classification, labels: lab}
	var logits []int
	if k == 2 {
		neg := m.Map(pred[:1], []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}})
		d := m.Alloc(1)
		m.Add(&ir.Binary{A: neg, B: pred[1:], Out: d, Kind: ir.OpAdd})
		h.decision = d
		h.out = marginOutputs(m, d)
		logits = m.Map(h.out, []ir.Op{{Kind: ir.OpDiv, Vals: []float64{2}}})
	} else {
		h.decision, h.out = pred, pred
		logits = m.Map(pred, []ir.Op{{Kind: ir.OpDiv, Vals: []float64{float64(k - 1)}}})
	}
	h.proba = m.Alloc(k)
	m.Add(&ir.Softmax{In: logits, Out: h.proba})
	return h, nil
}
