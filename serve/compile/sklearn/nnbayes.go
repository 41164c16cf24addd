package sklearn

import (
	"math"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// gaussianNB maps GaussianNB: the joint log-likelihood
//
//	jll_k = log prior_k − ½ Σ_j log(2π·var_kj) − ½ Σ_j (x_j − θ_kj)² / var_kj
//
// as one dense layer over (x, x²), and predict_proba as its softmax
// (exp(jll − logsumexp jll)); predict is the arg max.
func (b *builder) gaussianNB(o *pyobj.Object, cols []col) (*head, error) {
	name := shortName(o)
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	lab, err := labels(o)
	if err != nil {
		return nil, err
	}
	theta, rows, n, err := matrix(o, "theta_")
	if err != nil {
		return nil, err
	}
	vr, vrows, vn, err := matrix(o, "var_")
	if err != nil {
		// scikit-learn before 1.0 called it sigma_.
		if vr, vrows, vn, err = matrix(o, "sigma_"); err != nil {
			return nil, err
		}
	}
	prior, err := vector(o, "class_prior_", rows)
	if err != nil {
		return nil, err
	}
	k := len(lab)
	if rows != k || vrows != k || n != len(cols) || vn != n {
		return nil, ir.Invalidf("%s: theta_ %d×%d, var_ %d×%d for %d classes and %d features", name, rows, n, vrows, vn, k, len(cols))
	}
	m := b.m
	x := slots(cols)
	sq := m.Alloc(n)
	m.Add(&ir.Map{In: x, Out: sq, Ops: []ir.Op{{Kind: ir.OpSquare}}})
	w := make([]float64, k*2*n)
	bias := make([]float64, k)
	for c := range k {
		s := math.Log(prior[c])
		var logs, quad float64
		for j := range n {
			v, t := vr[c*n+j], theta[c*n+j]
			if !(v > 0) || math.IsInf(v, 0) || math.IsNaN(t) || math.IsInf(t, 0) {
				return nil, ir.Invalidf("%s: class %d feature %d has variance %v and mean %v", name, c, j, v, t)
			}
			logs += math.Log(2 * math.Pi * v)
			quad += t * t / v
			w[c*2*n+j] = t / v
			w[c*2*n+n+j] = -0.5 / v
		}
		bias[c] = s - 0.5*logs - 0.5*quad
	}
	jll := m.Alloc(k)
	m.Add(&ir.Linear{In: append(append([]int{}, x...), sq...), Out: jll, W: w, B: bias})
	p := m.Alloc(k)
	m.Add(&ir.Softmax{In: jll, Out: p})
	return &head{name: name, task: ir.Classification, labels: lab, out: p, proba: p}, nil
}

// discreteNB maps MultinomialNB, ComplementNB and BernoulliNB: the joint
// log-likelihood is a dense layer over the row (BernoulliNB: over the row
// binarized at binarize, with weights feature_log_prob_ - log(1 -
// e^feature_log_prob_) and their complement's sum in the bias;
// ComplementNB: no prior unless one class), predict_proba its softmax.
// scikit-learn refuses negative counts for MultinomialNB and ComplementNB;
// mlbox computes with them.
func (b *builder) discreteNB(o *pyobj.Object, cols []col) (*head, error) {
	name := shortName(o)
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	lab, err := labels(o)
	if err != nil {
		return nil, err
	}
	flp, rows, n, err := matrix(o, "feature_log_prob_")
	if err != nil {
		return nil, err
	}
	prior, err := vector(o, "class_log_prior_", rows)
	if err != nil {
		return nil, err
	}
	k := len(lab)
	if rows != k || n != len(cols) {
		return nil, ir.Invalidf("%s: feature_log_prob_ %d×%d for %d classes and %d features", name, rows, n, k, len(cols))
	}
	for _, f := range append(append([]float64{}, flp...), prior...) {
		if math.IsNaN(f) || math.IsInf(f, 1) {
			return nil, ir.Invalidf("%s holds a log probability of %v", name, f)
		}
	}
	m := b.m
	x := slots(cols)
	w, bias := flp, make([]float64, k)
	switch name {
	case "MultinomialNB":
		copy(bias, prior)
	case "ComplementNB":
		if k == 1 {
			copy(bias, prior)
		}
	case "BernoulliNB":
		if bv, ok := o.Attr("binarize"); ok && bv != nil {
			t, err := number(bv)
			if err != nil || math.IsNaN(t) {
				return nil, ir.Invalidf("BernoulliNB.binarize is %v", bv)
			}
			x = m.Map(x, []ir.Op{{Kind: ir.OpGreater, Vals: []float64{t}}})
		}
		w = make([]float64, len(flp))
		for c := range k {
			var negSum float64
			for j := range n {
				neg := math.Log(1 - math.Exp(flp[c*n+j]))
				if math.IsInf(neg, 0) || math.IsNaN(neg) {
					return nil, ir.Unsupportedf("BernoulliNB with a feature of probability %v (alpha=0)", math.Exp(flp[c*n+j]))
				}
				w[c*n+j] = flp[c*n+j] - neg
				negSum += neg
			}
			bias[c] = prior[c] + negSum
		}
	}
	jll := m.Alloc(k)
	m.Add(&ir.Linear{In: x, Out: jll, W: w, B: bias})
	p := m.Alloc(k)
	m.Add(&ir.Softmax{In: jll, Out: p})
	return &head{name: name, task: ir.Classification, labels: lab, out: p, proba: p}, nil
}

// mlp maps MLPClassifier and MLPRegressor: dense layers with the hidden
// activation, then the output activation (softmax, logistic or identity).
func (b *builder) mlp(o *pyobj.Object, cols []col, classifier bool) (*head, error) {
	name := shortName(o)
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	act, err := optStr(o, "activation")
	if err != nil {
		return nil, err
	}
	outAct, err := optStr(o, "out_activation_")
	if err != nil {
		return nil, err
	}
	hidden, err := activation(act)
	if err != nil {
		return nil, ir.Unsupportedf("%s(activation=%q)", name, act)
	}
	cv, err := attr(o, "coefs_")
	if err != nil {
		return nil, err
	}
	coefs, err := items(cv)
	if err != nil {
		return nil, ir.Invalidf("%s.coefs_: %v", name, err)
	}
	iv, err := attr(o, "intercepts_")
	if err != nil {
		return nil, err
	}
	inters, err := items(iv)
	if err != nil || len(inters) != len(coefs) || len(coefs) == 0 {
		return nil, ir.Invalidf("%s has %d weight matrices and %d intercepts", name, len(coefs), len(inters))
	}
	m := b.m
	a := slots(cols)
	for l := range coefs {
		if arr, ok := coefs[l].(*pyobj.Array); ok && arr.DType != nil && arr.DType.Kind == 'f' && arr.DType.Size != 8 {
			return nil, ir.Unsupportedf("%s fitted on float%d data (it then computes in float%d; mlbox computes MLPs in float64)", name, 8*arr.DType.Size, 8*arr.DType.Size)
		}
		wv, shape, err := floats(coefs[l])
		if err != nil || len(shape) != 2 || shape[0] != len(a) {
			return nil, ir.Invalidf("%s.coefs_[%d] has shape %v for %d inputs", name, l, shape, len(a))
		}
		nOut := shape[1]
		bv, bshape, err := floats(inters[l])
		if err != nil || len(bshape) != 1 || len(bv) != nOut {
			return nil, ir.Invalidf("%s.intercepts_[%d] has shape %v for %d units", name, l, bshape, nOut)
		}
		if nOut < 1 || nOut*len(a) > 1<<26 {
			return nil, ir.Unsupportedf("%s layer %d of %d×%d weights", name, l, len(a), nOut)
		}
		// coefs_ is (n_in, n_out); a Linear row per output unit.
		w := make([]float64, nOut*len(a))
		for j := range len(a) {
			for u := range nOut {
				w[u*len(a)+j] = wv[j*nOut+u]
			}
		}
		z := m.Alloc(nOut)
		m.Add(&ir.Linear{In: a, Out: z, W: w, B: bv})
		a = z
		if l == len(coefs)-1 {
			break
		}
		if hidden != nil {
			h := m.Alloc(nOut)
			m.Add(&ir.Map{In: a, Out: h, Ops: hidden})
			a = h
		}
	}
	if !classifier {
		if outAct != "identity" {
			return nil, ir.Unsupportedf("%s with out_activation_ %q", name, outAct)
		}
		return &head{name: name, task: ir.Regression, out: a}, nil
	}
	lab, err := labels(o)
	if err != nil {
		return nil, err
	}
	h := &head{name: name, task: ir.Classification, labels: lab}
	switch {
	case outAct == "softmax" && len(a) == len(lab) && len(lab) > 2:
		p := m.Alloc(len(a))
		m.Add(&ir.Softmax{In: a, Out: p})
		h.out = p
	case outAct == "logistic" && len(a) == 1 && len(lab) == 2:
		// predict_proba [1-p, p]; predict p > 0.5, its arg max.
		p := m.Alloc(1)
		m.Add(&ir.Map{In: a, Out: p, Ops: []ir.Op{{Kind: ir.OpLogistic}}})
		h.out = b.complement(p[0])
	default:
		return nil, ir.Unsupportedf("%s with %d output units, out_activation_ %q and %d classes (multilabel MLPs are not supported)", name, len(a), outAct, len(lab))
	}
	h.proba = h.out
	return h, nil
}

// activation returns the ops of a hidden activation (nil: identity).
func activation(name string) ([]ir.Op, error) {
	switch name {
	case "identity":
		return nil, nil
	case "relu", "":
		return []ir.Op{{Kind: ir.OpMax, Vals: []float64{0}}}, nil
	case "tanh":
		return []ir.Op{{Kind: ir.OpTanh}}, nil
	case "logistic":
		return []ir.Op{{Kind: ir.OpLogistic}}, nil
	}
	return nil, ir.Unsupportedf("activation %q", name)
}
