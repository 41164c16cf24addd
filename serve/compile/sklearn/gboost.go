package sklearn

import (
	"fmt"
	"math"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// gradientBoosting maps GradientBoostingClassifier/Regressor
// (../shared/reference/sklearn-formats.md §4.3): raw[k] = init[k] +
// Σ_stages learning_rate·tree[stage][k](x), routed in float32 like every
// scikit-learn tree, added stage by stage as predict_stages does (the
// product learning_rate·value is the one it adds). The init estimator's
// raw prediction is a constant: the loss's link of the DummyClassifier's
// priors, the DummyRegressor's constant, or zeros.
func (b *builder) gradientBoosting(o *pyobj.Object, cols []col, classifier bool) (*head, error) {
	name := shortName(o)
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	loss, err := optStr(o, "loss")
	if err != nil {
		return nil, err
	}
	lrv, err := attr(o, "learning_rate")
	if err != nil {
		return nil, err
	}
	lr, err := number(lrv)
	if err != nil {
		return nil, ir.Invalidf("%s.learning_rate: %v", name, err)
	}
	ev, err := attr(o, "estimators_")
	if err != nil {
		return nil, err
	}
	ests, shape, err := objectArray(ev)
	if err != nil {
		return nil, ir.Invalidf("%s.estimators_: %v", name, err)
	}
	if len(shape) != 2 || shape[0] < 1 || shape[1] < 1 {
		return nil, ir.Invalidf("%s.estimators_ has shape %v", name, shape)
	}
	stages, k := shape[0], shape[1]
	h := &head{name: name, task: ir.Regression}
	var lab []jsonValue
	if classifier {
		if lab, err = labels(o); err != nil {
			return nil, err
		}
		h.task, h.labels = ir.Classification, lab
		want := len(lab)
		if want == 2 {
			want = 1
		}
		if k != want {
			return nil, ir.Invalidf("%s has %d trees per stage for %d classes", name, k, len(lab))
		}
		switch loss {
		case "log_loss", "deviance", "exponential":
		default:
			return nil, ir.Unsupportedf("%s(loss=%q)", name, loss)
		}
		if loss == "exponential" && k != 1 {
			return nil, ir.Invalidf("%s: exponential loss with %d classes", name, len(lab))
		}
	} else {
		switch loss {
		case "squared_error", "ls", "absolute_error", "lad", "huber", "quantile":
		default:
			return nil, ir.Unsupportedf("%s(loss=%q)", name, loss)
		}
	}
	base, err := gbInit(o, name, loss, k, classifier)
	if err != nil {
		return nil, err
	}
	st := &ir.Trees{In: slots(cols), Float32: true, Base: base, Groups: make([]int32, 0, stages*k)}
	for s := range stages {
		for j := range k {
			e, ok := ests[s*k+j].(*pyobj.Object)
			if !ok || shortName(e) != "DecisionTreeRegressor" {
				return nil, ir.Invalidf("%s.estimators_[%d, %d] is a %s", name, s, j, typeName(ests[s*k+j]))
			}
			t, outs, err := readTree(e, len(cols), false, 0, false)
			if err != nil {
				return nil, fmt.Errorf("%s stage %d: %w", name, s, err)
			}
			if outs != 1 {
				return nil, ir.Invalidf("%s stage %d has a tree of %d outputs", name, s, outs)
			}
			for i := range t.Value {
				t.Value[i] *= lr
			}
			st.Trees = append(st.Trees, t)
			st.Groups = append(st.Groups, int32(j))
		}
	}
	st.Out = b.m.Alloc(k)
	b.m.Add(st)
	raw := st.Out
	if !classifier {
		h.out = raw
		return h, nil
	}
	m := b.m
	switch {
	case k == 1:
		// predict_proba [1-expit(s·raw), expit(s·raw)] (s = 2 for the
		// exponential loss); predict is its arg max, raw > 0 (scikit-
		// learn's raw >= 0 differs only when raw is exactly 0).
		ops := []ir.Op{{Kind: ir.OpLogistic}}
		if loss == "exponential" {
			ops = append([]ir.Op{{Kind: ir.OpMul, Vals: []float64{2}}}, ops...)
		}
		p := m.Alloc(1)
		m.Add(&ir.Map{In: raw, Out: p, Ops: ops})
		h.out = b.complement(p[0])
	default:
		p := m.Alloc(k)
		m.Add(&ir.Softmax{In: raw, Out: p})
		h.out = p
	}
	h.proba = h.out
	return h, nil
}

// gbInit returns the init estimator's raw prediction.
func gbInit(o *pyobj.Object, name, loss string, k int, classifier bool) ([]float64, error) {
	iv, err := attr(o, "init_")
	if err != nil {
		return nil, err
	}
	if s, ok := str(iv); ok {
		if s != "zero" {
			return nil, ir.Invalidf("%s.init_ is %q", name, s)
		}
		return make([]float64, k), nil
	}
	io, ok := iv.(*pyobj.Object)
	if !ok {
		return nil, ir.Invalidf("%s.init_ is a %s", name, typeName(iv))
	}
	switch {
	case classifier && shortName(io) == "DummyClassifier":
		strategy, err := optStr(io, "strategy")
		if err != nil {
			return nil, err
		}
		if strategy != "prior" && strategy != "" {
			return nil, ir.Unsupportedf("%s with an init DummyClassifier(strategy=%q)", name, strategy)
		}
		pv, err := attr(io, "class_prior_")
		if err != nil {
			return nil, err
		}
		p, _, err := floats(pv)
		if err != nil {
			return nil, ir.Invalidf("%s.init_.class_prior_: %v", name, err)
		}
		eps := math.Nextafter(1, 2) - 1 // float64 eps
		clip := func(x float64) float64 { return math.Min(math.Max(x, eps), 1-eps) }
		if k == 1 {
			if len(p) != 2 {
				return nil, ir.Invalidf("%s.init_ has %d priors for a binary model", name, len(p))
			}
			r := logit(clip(p[1]))
			if loss == "exponential" {
				r *= 0.5
			}
			return []float64{r}, nil
		}
		if len(p) != k {
			return nil, ir.Invalidf("%s.init_ has %d priors for %d classes", name, len(p), k)
		}
		// MultinomialLogit: log(p / gmean(p)).
		var mean float64
		for i := range p {
			p[i] = clip(p[i])
			mean += math.Log(p[i])
		}
		gm := math.Exp(mean / float64(k))
		out := make([]float64, k)
		for i := range p {
			out[i] = math.Log(p[i] / gm)
		}
		return out, nil
	case !classifier && shortName(io) == "DummyRegressor":
		cv, err := attr(io, "constant_")
		if err != nil {
			return nil, err
		}
		c, _, err := floats(cv)
		if err != nil || len(c) != k {
			return nil, ir.Invalidf("%s.init_.constant_ has %d values for %d outputs", name, len(c), k)
		}
		return c, nil
	}
	return nil, ir.Unsupportedf("%s with the init estimator %s (mlbox takes the default, or init=\"zero\")", name, className(io))
}

// logit is scipy.special.logit, which switches formula near 1/2.
func logit(p float64) float64 {
	if p < 0.3 || p > 0.65 {
		return math.Log(p / (1 - p))
	}
	return math.Log1p(2*p-1) - math.Log1p(-(2*p - 1))
}

// objectArray returns the items of an object ndarray (or a nested list)
// in C order, with its shape.
func objectArray(v pyobj.Value) ([]pyobj.Value, []int, error) {
	if a, ok := v.(*pyobj.Array); ok {
		if a.Objects == nil {
			return nil, nil, fmt.Errorf("an array of %s, not of objects", a.DType)
		}
		if n, ok := shapeProduct(a.Shape); !ok || n != len(a.Objects) {
			return nil, nil, fmt.Errorf("an object array of shape %v with %d items", a.Shape, len(a.Objects))
		}
		return a.Objects, a.Shape, nil
	}
	rows, err := items(v)
	if err != nil {
		return nil, nil, err
	}
	var out []pyobj.Value
	width := -1
	for _, r := range rows {
		cells, err := items(r)
		if err != nil {
			return nil, nil, err
		}
		if width >= 0 && len(cells) != width {
			return nil, nil, fmt.Errorf("ragged rows")
		}
		width = len(cells)
		out = append(out, cells...)
	}
	return out, []int{len(rows), max(width, 0)}, nil
}

func shapeProduct(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 || d > 1<<30 || n > (1<<30)/max(d, 1) {
			return 0, false
		}
		n *= d
	}
	return n, true
}
