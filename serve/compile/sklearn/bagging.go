package sklearn

import (
	"strconv"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// baggingMembers returns a Bagging model's fitted estimators with the
// columns each reads (estimators_features_).
func baggingMembers(o *pyobj.Object, cols []col) ([]*pyobj.Object, [][]col, error) {
	name := shortName(o)
	ests, err := fitted(o, 1000)
	if err != nil {
		return nil, nil, err
	}
	fv, err := attr(o, "estimators_features_")
	if err != nil {
		return nil, nil, err
	}
	feats, err := items(fv)
	if err != nil || len(feats) != len(ests) {
		return nil, nil, ir.Invalidf("%s.estimators_features_ has %d entries for %d estimators", name, len(feats), len(ests))
	}
	sub := make([][]col, len(ests))
	for i := range ests {
		idx, _, err := floats(feats[i])
		if err != nil {
			return nil, nil, ir.Invalidf("%s.estimators_features_[%d]: %v", name, i, err)
		}
		for _, f := range idx {
			if f < 0 || f >= float64(len(cols)) || f != float64(int(f)) {
				return nil, nil, ir.Invalidf("%s estimator %d reads column %v of %d", name, i, f, len(cols))
			}
			sub[i] = append(sub[i], cols[int(f)])
		}
	}
	return ests, sub, nil
}

// bagging maps BaggingClassifier and BaggingRegressor: each estimator over
// its own columns; the classifier sums the estimators' predict_proba
// (or a vote for the predicted class when one has none) per class, in
// estimator order, and divides by their number (predict: the arg max);
// the regressor averages the predictions.
func (b *builder) bagging(o *pyobj.Object, cols []col, classifier bool) (*head, error) {
	name := shortName(o)
	ests, sub, err := baggingMembers(o, cols)
	if err != nil {
		return nil, err
	}
	var lab []jsonValue
	if classifier {
		if lab, err = labels(o); err != nil {
			return nil, err
		}
	}
	k := len(lab)
	m := b.m
	var parts [][]int
	zero := -1 // a column of zeros, once needed
	for i, e := range ests {
		h, err := b.predictor(e, sub[i])
		if err != nil {
			return nil, err
		}
		if !classifier {
			if h.task != ir.Regression || len(h.out) != 1 {
				return nil, ir.Unsupportedf("%s over %s with %d outputs", name, h.name, len(h.out))
			}
			parts = append(parts, h.out)
			continue
		}
		if h.task != ir.Classification {
			return nil, ir.Invalidf("%s estimator %s is not a classifier", name, h.name)
		}
		// The estimators are fitted on the class indices, some of them
		// perhaps on a sample without every class.
		pos := make([]int, len(h.labels))
		for j, l := range h.labels {
			c, err := strconv.Atoi(string(l))
			if err != nil || c < 0 || c >= k {
				return nil, ir.Invalidf("%s estimator %d has the class %s of %d", name, i, l, k)
			}
			pos[j] = c
		}
		vals := h.proba
		if vals == nil { // a vote for the predicted class
			idx := m.Alloc(1)
			m.Add(&ir.ArgMax{In: h.out, Out: idx[0]})
			vals = make([]int, len(pos))
			for j := range pos {
				vals[j] = m.Map(idx, []ir.Op{{Kind: ir.OpEqual, Vals: []float64{float64(j)}}})[0]
			}
		}
		full := vals
		if len(pos) != k || !identity(pos) {
			if zero < 0 {
				zero = m.Map(vals[:1], []ir.Op{{Kind: ir.OpSet, Vals: []float64{0}}})[0]
			}
			full = make([]int, k)
			for c := range full {
				full[c] = zero
			}
			for j, c := range pos {
				full[c] = vals[j]
			}
		}
		parts = append(parts, full)
	}
	mean := average(m, parts, nil)
	if !classifier {
		return &head{name: name, task: ir.Regression, out: mean}, nil
	}
	return &head{name: name, task: ir.Classification, labels: lab, out: mean, proba: mean}, nil
}

// identity says whether p is 0, 1, 2, ...
func identity(p []int) bool {
	for i, v := range p {
		if v != i {
			return false
		}
	}
	return true
}
