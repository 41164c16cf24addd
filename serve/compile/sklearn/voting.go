package sklearn

import (
	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// fitted returns a meta-estimator's fitted estimators (estimators_), at
// most max of them.
func fitted(o *pyobj.Object, max int) ([]*pyobj.Object, error) {
	name := shortName(o)
	v, err := attr(o, "estimators_")
	if err != nil {
		return nil, err
	}
	l, err := items(v)
	if err != nil || len(l) == 0 || len(l) > max {
		return nil, ir.Invalidf("%s.estimators_: %d estimators (1 to %d), %v", name, len(l), max, err)
	}
	out := make([]*pyobj.Object, len(l))
	for i, e := range l {
		eo, ok := e.(*pyobj.Object)
		if !ok {
			return nil, ir.Invalidf("%s.estimators_[%d] is a %s", name, i, typeName(e))
		}
		out[i] = eo
	}
	return out, nil
}

// votingMembers returns a VotingClassifier's or VotingRegressor's fitted
// estimators with their weights (nil: unweighted): the weights of the
// estimators set to "drop" left out, as scikit-learn's
// _weights_not_none does.
func votingMembers(o *pyobj.Object) ([]*pyobj.Object, []float64, error) {
	name := shortName(o)
	ests, err := fitted(o, 64)
	if err != nil {
		return nil, nil, err
	}
	wv, ok := o.Attr("weights")
	if !ok || wv == nil {
		return ests, nil, nil
	}
	all, _, err := floats(wv)
	if err != nil {
		return nil, nil, ir.Invalidf("%s.weights: %v", name, err)
	}
	sv, err := attr(o, "estimators")
	if err != nil {
		return nil, nil, err
	}
	declared, err := items(sv)
	if err != nil || len(declared) != len(all) {
		return nil, nil, ir.Invalidf("%s has %d weights for %d estimators", name, len(all), len(declared))
	}
	var w []float64
	for i, d := range declared {
		t, ok := d.(pyobj.Tuple)
		if !ok || len(t) != 2 {
			return nil, nil, ir.Invalidf("%s.estimators[%d] is not a (name, estimator) pair", name, i)
		}
		if s, ok := t[1].(string); ok && s == "drop" {
			continue
		}
		w = append(w, all[i])
	}
	if len(w) != len(ests) {
		return nil, nil, ir.Invalidf("%s has %d weights for %d fitted estimators", name, len(w), len(ests))
	}
	return ests, w, nil
}

// average is numpy's average over the members' columns: Σ_e w_e·x_e / Σ w
// (unweighted: Σ x_e / n), summed in member order.
func average(m *ir.Model, xs [][]int, w []float64) []int {
	scale := float64(len(xs))
	if w != nil {
		scale = 0
		weighted := make([][]int, len(xs))
		for e, x := range xs {
			weighted[e] = m.Map(x, []ir.Op{{Kind: ir.OpMul, Vals: []float64{w[e]}}})
			scale += w[e]
		}
		xs = weighted
	}
	return m.Map(sumInOrder(m, xs), []ir.Op{{Kind: ir.OpDiv, Vals: []float64{scale}}})
}

// sumInOrder adds the columns xs element-wise in order, ((x0 + x1) + x2)
// + …, as Python's sum over an ensemble's members does.
func sumInOrder(m *ir.Model, xs [][]int) []int {
	sum := xs[0]
	for _, x := range xs[1:] {
		next := m.Alloc(len(x))
		m.Add(&ir.Binary{A: sum, B: x, Out: next, Kind: ir.OpAdd})
		sum = next
	}
	return sum
}

// votingClassifier maps VotingClassifier. Its members are fitted on the
// class indices. Soft: predict_proba is the (weighted) average of theirs,
// predict its arg max. Hard: per class the (weighted) count of members
// predicting it, the first class with the most winning.
func (b *builder) votingClassifier(o *pyobj.Object, cols []col) (*head, error) {
	lab, err := labels(o)
	if err != nil {
		return nil, err
	}
	voting, err := optStr(o, "voting")
	if err != nil {
		return nil, err
	}
	ests, w, err := votingMembers(o)
	if err != nil {
		return nil, err
	}
	k := len(lab)
	m := b.m
	var probas, indicators [][]int
	for _, e := range ests {
		h, err := b.predictor(e, cols)
		if err != nil {
			return nil, err
		}
		if h.task != ir.Classification || len(h.labels) != k {
			return nil, ir.Invalidf("VotingClassifier member %s has %d classes for %d", h.name, len(h.labels), k)
		}
		switch voting {
		case "soft":
			if h.proba == nil {
				return nil, ir.Unsupportedf("VotingClassifier(voting=\"soft\") over %s, which has no predict_proba", h.name)
			}
			probas = append(probas, h.proba)
		case "hard":
			idx := m.Alloc(1)
			m.Add(&ir.ArgMax{In: h.out, Out: idx[0]})
			ind := make([]int, k)
			for c := range k {
				ind[c] = m.Map(idx, []ir.Op{{Kind: ir.OpEqual, Vals: []float64{float64(c)}}})[0]
			}
			indicators = append(indicators, ind)
		default:
			return nil, ir.Unsupportedf("VotingClassifier(voting=%q)", voting)
		}
	}
	if voting == "soft" {
		p := average(m, probas, w)
		return &head{name: "VotingClassifier", task: ir.Classification, labels: lab, out: p, proba: p}, nil
	}
	// votes[c] = Σ_e w_e·[member e predicts c], in member order.
	in := make([]int, 0, len(ests)*k)
	W := make([]float64, k*len(ests)*k)
	for e, ind := range indicators {
		in = append(in, ind...)
		for c := range k {
			we := 1.0
			if w != nil {
				we = w[e]
			}
			W[c*len(ests)*k+e*k+c] = we
		}
	}
	votes := m.Alloc(k)
	m.Add(&ir.Linear{In: in, Out: votes, W: W})
	return &head{name: "VotingClassifier", task: ir.Classification, labels: lab, out: votes}, nil
}

// votingRegressor maps VotingRegressor: the (weighted) average of the
// members' predictions.
func (b *builder) votingRegressor(o *pyobj.Object, cols []col) (*head, error) {
	ests, w, err := votingMembers(o)
	if err != nil {
		return nil, err
	}
	var outs [][]int
	for _, e := range ests {
		h, err := b.predictor(e, cols)
		if err != nil {
			return nil, err
		}
		if h.task != ir.Regression || len(h.out) != 1 {
			return nil, ir.Unsupportedf("VotingRegressor member %s with %d outputs", h.name, len(h.out))
		}
		outs = append(outs, h.out)
	}
	return &head{name: "VotingRegressor", task: ir.Regression, out: average(b.m, outs, w)}, nil
}
