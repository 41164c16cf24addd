package sklearn

import (
	"bytes"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// hasDecision names the classifiers whose decision_function scikit-learn
// has: CalibratedClassifierCV calibrates it rather than predict_proba, so
// one whose decision_function mlbox does not compute cannot be served.
var hasDecision = map[string]bool{
	"LogisticRegression": true, "SGDClassifier": true, "LinearSVC": true, "RidgeClassifier": true,
	"SVC": true, "NuSVC": true, "GradientBoostingClassifier": true, "HistGradientBoostingClassifier": true,
	"OneVsRestClassifier": true, "AdaBoostClassifier": true, "StackingClassifier": true,
}

// calibrated maps CalibratedClassifierCV with the sigmoid method: per
// calibrated classifier, each class's response (decision_function, else
// predict_proba; one column, the positive class, for a binary model)
// through expit(-(a·f + b)); for two classes [1 - p, p], for more the
// values divided by their sum (uniform when it is 0); values in
// (1, 1 + 1e-5] set to 1; then the mean over the classifiers.
// predict is the arg max of that mean.
func (b *builder) calibrated(o *pyobj.Object, cols []col) (*head, error) {
	lab, err := labels(o)
	if err != nil {
		return nil, err
	}
	method, err := optStr(o, "method")
	if err != nil {
		return nil, err
	}
	if method != "sigmoid" {
		return nil, ir.Unsupportedf("CalibratedClassifierCV(method=%q) (mlbox serves sigmoid)", method)
	}
	cv, err := attr(o, "calibrated_classifiers_")
	if err != nil {
		return nil, err
	}
	ccs, err := items(cv)
	if err != nil || len(ccs) == 0 {
		return nil, ir.Invalidf("CalibratedClassifierCV.calibrated_classifiers_: %d items, %v", len(ccs), err)
	}
	if len(ccs) > 64 {
		return nil, ir.Unsupportedf("CalibratedClassifierCV with %d calibrated classifiers", len(ccs))
	}
	parts := make([][]int, len(ccs))
	for i, cc := range ccs {
		if parts[i], err = b.calibratedOne(cc, cols, lab); err != nil {
			return nil, err
		}
	}
	mean := average(b.m, parts, nil)
	return &head{name: "CalibratedClassifierCV", task: ir.Classification, labels: lab, out: mean, proba: mean}, nil
}

// calibratedOne maps one _CalibratedClassifier: its class probabilities
// over the labels lab.
func (b *builder) calibratedOne(v pyobj.Value, cols []col, lab []jsonValue) ([]int, error) {
	cc, ok := v.(*pyobj.Object)
	if !ok || shortName(cc) != "_CalibratedClassifier" {
		return nil, ir.Invalidf("CalibratedClassifierCV holds a %s", typeName(v))
	}
	if method, err := optStr(cc, "method"); err != nil || method != "sigmoid" {
		return nil, ir.Unsupportedf("a calibrated classifier with method %q", method)
	}
	ev, err := attr(cc, "estimator")
	if err != nil {
		return nil, err
	}
	est, ok := ev.(*pyobj.Object)
	if !ok {
		return nil, ir.Invalidf("a calibrated classifier's estimator is a %s", typeName(ev))
	}
	h, err := b.predictor(est, cols)
	if err != nil {
		return nil, err
	}
	if h.task != ir.Classification {
		return nil, ir.Unsupportedf("CalibratedClassifierCV over %s, not a classifier", h.name)
	}
	resp := h.decision
	if resp == nil {
		last := est
		if l, ok := pipelineLast(est); ok {
			last = l
		}
		if hasDecision[shortName(last)] || h.proba == nil {
			return nil, ir.Unsupportedf("CalibratedClassifierCV over %s (mlbox does not compute its decision_function)", h.name)
		}
		resp = h.proba
		if len(resp) == 2 {
			resp = resp[1:] // the positive class
		}
	}
	k := len(lab)
	// Where each of the estimator's classes goes among lab.
	pos := make([]int, len(h.labels))
	for i, l := range h.labels {
		if pos[i] = indexOf(lab, l); pos[i] < 0 {
			return nil, ir.Invalidf("a calibrated classifier's class %s is not among the classes", l)
		}
	}
	cal, err := attr(cc, "calibrators")
	if err != nil {
		return nil, err
	}
	cals, err := items(cal)
	if err != nil {
		return nil, ir.Invalidf("a calibrated classifier's calibrators: %v", err)
	}
	if len(resp) != len(cals) || len(cals) > len(pos) || k == 2 && len(cals) != 1 {
		return nil, ir.Invalidf("%d calibrators for %d responses of %d classes", len(cals), len(resp), k)
	}
	m := b.m
	zero := m.Map(resp[:1], []ir.Op{{Kind: ir.OpSet, Vals: []float64{0}}})[0]
	proba := make([]int, k)
	for j := range proba {
		proba[j] = zero
	}
	for i, c := range cals {
		co, ok := c.(*pyobj.Object)
		if !ok || shortName(co) != "_SigmoidCalibration" {
			return nil, ir.Unsupportedf("a calibrator %s (mlbox serves the sigmoid)", typeName(c))
		}
		av, err := attr(co, "a_")
		if err != nil {
			return nil, err
		}
		bv, err := attr(co, "b_")
		if err != nil {
			return nil, err
		}
		a, err1 := number(av)
		bb, err2 := number(bv)
		if err1 != nil || err2 != nil {
			return nil, ir.Invalidf("a sigmoid calibrator's a_ %v and b_ %v", av, bv)
		}
		idx := pos[i]
		if k == 2 {
			idx++ // the one calibrator is the positive class's
		}
		if idx >= k {
			return nil, ir.Invalidf("a calibrator for class %d of %d", idx, k)
		}
		proba[idx] = m.Map(resp[i:i+1], []ir.Op{{Kind: ir.OpMul, Vals: []float64{a}}, {Kind: ir.OpAdd, Vals: []float64{bb}},
			{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpLogistic}})[0]
	}
	if k == 2 {
		proba[0] = m.Map(proba[1:], []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}})[0]
	} else {
		q := m.Alloc(k)
		m.Add(&ir.Normalize{In: proba, Out: q, Zero: ir.ZeroUniform})
		proba = q
	}
	// proba[(1 < proba) & (proba <= 1 + 1e-5)] = 1
	over := m.Map(proba, []ir.Op{{Kind: ir.OpGreater, Vals: []float64{1}}})
	notFar := m.Map(proba, []ir.Op{{Kind: ir.OpGreater, Vals: []float64{1 + 1e-5}}})
	clip := m.Alloc(k)
	m.Add(&ir.Binary{A: over, B: notFar, Out: clip, Kind: ir.OpGreater}) // over and not beyond
	one := m.Map(proba, []ir.Op{{Kind: ir.OpSet, Vals: []float64{1}}})
	out := m.Alloc(k)
	m.Add(&ir.Select{Cond: clip, A: one, B: proba, Out: out})
	return out, nil
}

// indexOf is the position of the label l among labels, -1 when absent.
func indexOf(labels []jsonValue, l jsonValue) int {
	for i, x := range labels {
		if bytes.Equal(x, l) {
			return i
		}
	}
	return -1
}

// pipelineLast returns the last step of a Pipeline.
func pipelineLast(o *pyobj.Object) (*pyobj.Object, bool) {
	if shortName(o) != "Pipeline" {
		return nil, false
	}
	steps, err := pipelineSteps(o)
	if err != nil || len(steps) == 0 {
		return nil, false
	}
	last, ok := steps[len(steps)-1].(*pyobj.Object)
	return last, ok
}
