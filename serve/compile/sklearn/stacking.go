package sklearn

import (
	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// stacking maps StackingClassifier and StackingRegressor: the final
// estimator over the members' stacked outputs, each by its stack method
// (predict_proba without the first column for two classes,
// decision_function, or predict: a classifier member's class index), then
// with passthrough the columns themselves. The members of a classifier
// are fitted on the class indices, so the final estimator's labels are
// indices into the stacking's classes.
func (b *builder) stacking(o *pyobj.Object, cols []col, classifier bool) (*head, error) {
	name := shortName(o)
	ests, err := fitted(o, 64)
	if err != nil {
		return nil, err
	}
	mv, err := attr(o, "stack_method_")
	if err != nil {
		return nil, err
	}
	ml, err := items(mv)
	if err != nil || len(ml) != len(ests) {
		return nil, ir.Invalidf("%s.stack_method_ has %d entries for %d estimators", name, len(ml), len(ests))
	}
	var lab []jsonValue
	if classifier {
		if lab, err = labels(o); err != nil {
			return nil, err
		}
	}
	m := b.m
	var meta []int
	for i, eo := range ests {
		method, _ := str(ml[i])
		h, err := b.predictor(eo, cols)
		if err != nil {
			return nil, err
		}
		switch {
		case method == "predict" && h.task == ir.Regression:
			meta = append(meta, h.out...)
		case method == "predict" && h.task == ir.Classification:
			idx := m.Alloc(1)
			m.Add(&ir.ArgMax{In: h.out, Out: idx[0]})
			meta = append(meta, idx...)
		case method == "predict_proba" && h.proba != nil:
			p := h.proba
			if len(lab) == 2 {
				p = p[1:]
			}
			meta = append(meta, p...)
		case method == "decision_function" && h.decision != nil:
			meta = append(meta, h.decision...)
		default:
			return nil, ir.Unsupportedf("%s over %s by %s (mlbox does not compute it)", name, h.name, method)
		}
	}
	metaCols := computed(meta)
	if pass, err := optBool(o, "passthrough", false); err != nil {
		return nil, err
	} else if pass {
		if err := b.numeric(cols, name+"(passthrough=True)"); err != nil {
			return nil, err
		}
		metaCols = append(metaCols, cols...)
	}
	fv, err := attr(o, "final_estimator_")
	if err != nil {
		return nil, err
	}
	fo, ok := fv.(*pyobj.Object)
	if !ok {
		return nil, ir.Invalidf("%s.final_estimator_ is a %s", name, typeName(fv))
	}
	h, err := b.predictor(fo, metaCols)
	if err != nil {
		return nil, err
	}
	if !classifier {
		if h.task != ir.Regression {
			return nil, ir.Invalidf("StackingRegressor's final estimator %s is not a regressor", h.name)
		}
		return &head{name: name, task: ir.Regression, out: h.out}, nil
	}
	if h.task != ir.Classification || len(h.labels) != len(lab) {
		return nil, ir.Invalidf("StackingClassifier's final estimator %s has %d classes for %d", h.name, len(h.labels), len(lab))
	}
	return &head{name: name, task: ir.Classification, labels: lab, out: h.out, proba: h.proba, decision: h.decision}, nil
}
