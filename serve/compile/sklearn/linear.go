package sklearn

import (
	"slices"
	"strconv"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

func itoa(i int) string { return strconv.Itoa(i) }

// decision adds d = X·coef_ᵀ + intercept_ and returns its slots (one per
// row of coef_).
func (b *builder) decision(o *pyobj.Object, cols []col) ([]int, error) {
	name := shortName(o)
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	w, rows, n, err := matrix(o, "coef_")
	if err != nil {
		return nil, err
	}
	if n != len(cols) {
		return nil, ir.Invalidf("%s.coef_ has %d columns, the model gets %d features", name, n, len(cols))
	}
	var bias []float64
	if iv, ok := o.Attr("intercept_"); ok {
		f, shape, err := floats(iv)
		if err != nil {
			return nil, ir.Invalidf("%s.intercept_: %v", name, err)
		}
		switch {
		case len(shape) == 0 && rows == 1:
			bias = f
		case len(shape) == 1 && len(f) == rows:
			bias = f
		case len(shape) == 1 && len(f) == 1 && rows == 1:
			bias = f
		default:
			return nil, ir.Invalidf("%s.intercept_ has shape %v for %d outputs", name, shape, rows)
		}
	}
	out := b.m.Alloc(rows)
	b.m.Add(&ir.Linear{In: slots(cols), Out: out, W: w, B: bias})
	return out, nil
}

// linearRegressor maps the linear regressors (LinearRegression, Ridge,
// Lasso, ElasticNet and their CV and multi-task forms, SGDRegressor,
// LinearSVR, Lars, OrthogonalMatchingPursuit, BayesianRidge, ARD, Huber,
// Theil-Sen, quantile and passive-aggressive regression): the decision is
// the prediction. The generalized linear models (Poisson, Gamma, Tweedie)
// put it through their link's inverse: exp for the log link.
func (b *builder) linearRegressor(o *pyobj.Object, cols []col) (*head, error) {
	name := shortName(o)
	d, err := b.decision(o, cols)
	if err != nil {
		return nil, err
	}
	logLink := false
	switch name {
	case "PoissonRegressor", "GammaRegressor":
		logLink = true
	case "TweedieRegressor":
		link, err := optStr(o, "link")
		if err != nil {
			return nil, err
		}
		pv, err := attr(o, "power")
		if err != nil {
			return nil, err
		}
		power, err := number(pv)
		if err != nil {
			return nil, ir.Invalidf("TweedieRegressor.power: %v", err)
		}
		switch link {
		case "auto":
			logLink = power > 0
		case "log":
			logLink = true
		case "identity":
		default:
			return nil, ir.Unsupportedf("TweedieRegressor(link=%q)", link)
		}
	}
	if logLink {
		d = b.m.Map(d, []ir.Op{{Kind: ir.OpExp}})
	}
	return &head{out: d, task: ir.Regression, name: name}, nil
}

// linearClassifier maps LogisticRegression, SGDClassifier, LinearSVC and
// RidgeClassifier. The outputs are probabilities where the model has
// them, else decision scores arranged so that their arg max is the label
// ([-d, d] for a binary model).
func (b *builder) linearClassifier(o *pyobj.Object, cols []col) (*head, error) {
	name := shortName(o)
	lab, err := labels(o)
	if err != nil {
		return nil, err
	}
	d, err := b.decision(o, cols)
	if err != nil {
		return nil, err
	}
	k := len(lab)
	if k == 2 && len(d) != 1 || k > 2 && len(d) != k {
		return nil, ir.Invalidf("%s has %d decision rows for %d classes", name, len(d), k)
	}
	h := &head{task: ir.Classification, labels: lab, name: name, decision: d}
	link := "none"
	switch name {
	case "LinearDiscriminantAnalysis":
		link = "logistic-ovr" // expit of the decision for two classes
		if k > 2 {
			link = "softmax"
		}
	case "LogisticRegression", "LogisticRegressionCV":
		link = "logistic-ovr"
		if k > 2 {
			link = "softmax"
		}
		if mc, err := optStr(o, "multi_class"); err != nil {
			return nil, err
		} else if mc != "" && mc != "deprecated" {
			// scikit-learn before 1.5/1.7: multi_class decided OvR.
			solver, _ := optStr(o, "solver")
			ovr := mc == "ovr" || mc == "warn" || mc == "auto" && (k == 2 || solver == "liblinear")
			switch {
			case ovr:
				link = "logistic-ovr"
			case k == 2:
				link = "softmax-binary"
			default:
				link = "softmax"
			}
		}
	case "SGDClassifier":
		loss, err := optStr(o, "loss")
		if err != nil {
			return nil, err
		}
		switch loss {
		case "log_loss", "log":
			link = "logistic-ovr"
		case "modified_huber":
			link = "modified-huber"
		}
	}
	m := b.m
	switch link {
	case "none":
		h.out = marginOutputs(m, d)
	case "logistic-ovr":
		p := m.Alloc(len(d))
		m.Add(&ir.Map{In: d, Out: p, Ops: []ir.Op{{Kind: ir.OpLogistic}}})
		h.out = b.ovrProba(p)
		h.proba = h.out
	case "softmax":
		p := m.Alloc(len(d))
		m.Add(&ir.Softmax{In: d, Out: p})
		h.out, h.proba = p, p
	case "softmax-binary":
		neg := m.Alloc(1)
		m.Add(&ir.Map{In: d, Out: neg, Ops: []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}}})
		p := m.Alloc(2)
		m.Add(&ir.Softmax{In: []int{neg[0], d[0]}, Out: p})
		h.out, h.proba = p, p
	case "modified-huber":
		p := m.Alloc(len(d))
		m.Add(&ir.Map{In: d, Out: p, Ops: []ir.Op{
			{Kind: ir.OpMax, Vals: []float64{-1}}, {Kind: ir.OpMin, Vals: []float64{1}},
			{Kind: ir.OpAdd, Vals: []float64{1}}, {Kind: ir.OpDiv, Vals: []float64{2}}}})
		if len(p) == 1 {
			// [1-p, p] with p = (clip(d)+1)/2: its arg max is d > 0, as predict.
			h.out = b.complement(p[0])
			h.proba = h.out
		} else {
			// Clipping ties classes whose decisions differ: predict is the
			// arg max of the decisions.
			q := m.Alloc(len(p))
			m.Add(&ir.Normalize{In: p, Out: q, Zero: ir.ZeroUniform})
			h.out, h.proba = d, q
		}
	}
	return h, nil
}

// marginOutputs returns scores whose arg max is the label: [-d, d] for a
// single decision (d > 0 → class 1), else d.
func marginOutputs(m *ir.Model, d []int) []int {
	if len(d) != 1 {
		return d
	}
	neg := m.Alloc(1)
	m.Add(&ir.Map{In: d, Out: neg, Ops: []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}}})
	return []int{neg[0], d[0]}
}

// complement returns [1-p, p].
func (b *builder) complement(p int) []int {
	q := b.m.Alloc(1)
	b.m.Add(&ir.Map{In: []int{p}, Out: q, Ops: []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}}})
	return []int{q[0], p}
}

// ovrProba turns per-class positive probabilities into scikit-learn's
// one-vs-rest probabilities: [1-p, p] for one, else normalised (uniform
// when all are 0).
func (b *builder) ovrProba(p []int) []int {
	if len(p) == 1 {
		return b.complement(p[0])
	}
	q := b.m.Alloc(len(p))
	b.m.Add(&ir.Normalize{In: p, Out: q, Zero: ir.ZeroUniform})
	return q
}

// oneVsRest maps OneVsRestClassifier over binary classifiers: each
// estimator's positive-class probability (or decision), normalised.
func (b *builder) oneVsRest(o *pyobj.Object, cols []col) (*head, error) {
	lab, err := labels(o)
	if err != nil {
		return nil, err
	}
	ev, err := attr(o, "estimators_")
	if err != nil {
		return nil, err
	}
	ests, err := items(ev)
	if err != nil {
		return nil, ir.Invalidf("OneVsRestClassifier.estimators_: %v", err)
	}
	if len(lab) == 2 && len(ests) != 1 || len(lab) > 2 && len(ests) != len(lab) {
		return nil, ir.Invalidf("OneVsRestClassifier has %d estimators for %d classes", len(ests), len(lab))
	}
	var score, pos []int
	proba := true
	for i, e := range ests {
		eo, ok := e.(*pyobj.Object)
		if !ok {
			return nil, ir.Invalidf("OneVsRestClassifier.estimators_[%d] is a %s", i, typeName(e))
		}
		h, err := b.predictor(eo, cols)
		if err != nil {
			return nil, err
		}
		if h.task != ir.Classification || len(h.out) != 2 {
			return nil, ir.Unsupportedf("OneVsRestClassifier over %s", className(eo))
		}
		// predict takes each estimator's decision (its positive score);
		// predict_proba its positive probability.
		score = append(score, h.out[1])
		if h.proba == nil {
			proba = false
		} else {
			pos = append(pos, h.proba[1])
		}
	}
	h := &head{task: ir.Classification, labels: lab, name: "OneVsRestClassifier"}
	if len(score) == 1 {
		h.out = marginOutputs(b.m, score)
		if proba {
			h.proba = b.complement(pos[0])
			if slices.Equal(score, pos) {
				h.out = h.proba
			}
		}
		return h, nil
	}
	h.out = score
	if proba {
		// Normalised where the sum is not 0, else left as is.
		q := b.m.Alloc(len(pos))
		b.m.Add(&ir.Normalize{In: pos, Out: q, Zero: ir.ZeroKeep})
		h.proba = q
		if slices.Equal(score, pos) {
			h.out = q // normalising keeps the arg max
		}
	}
	return h, nil
}
