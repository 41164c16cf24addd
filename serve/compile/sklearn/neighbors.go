package sklearn

import (
	"math"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// kNeighbors maps KNeighborsClassifier and KNeighborsRegressor over their
// stored training points (_fit_X), whatever index scikit-learn searched
// them with (brute force, KD tree or ball tree find the same neighbours
// but for ties of distance, broken here towards the earlier point):
// Euclidean or Manhattan distance, uniform or distance weights.
// predict_proba is the class weight sums normalised, predict their arg
// max (the smallest of the most common classes, as scikit-learn's mode);
// the regressor averages the neighbours' targets.
func (b *builder) kNeighbors(o *pyobj.Object, cols []col, classifier bool) (*head, error) {
	name := shortName(o)
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	pts, n, nf, err := matrix(o, "_fit_X")
	if err != nil {
		return nil, err
	}
	if nf != len(cols) || n == 0 {
		return nil, ir.Invalidf("%s._fit_X is %d×%d for %d columns", name, n, nf, len(cols))
	}
	kv, err := attr(o, "n_neighbors")
	if err != nil {
		return nil, err
	}
	k, err := integer(kv)
	if err != nil || k < 1 || k > int64(n) {
		return nil, ir.Invalidf("%s.n_neighbors is %v for %d points", name, kv, n)
	}
	if k > ir.MaxNeighbors {
		return nil, ir.Unsupportedf("%s(n_neighbors=%d) (mlbox takes up to %d)", name, k, ir.MaxNeighbors)
	}
	weights, err := optStr(o, "weights")
	if err != nil {
		return nil, ir.Unsupportedf("%s with a callable weights", name)
	}
	if weights != "uniform" && weights != "distance" {
		return nil, ir.Unsupportedf("%s(weights=%q)", name, weights)
	}
	p, err := neighborsMetric(o)
	if err != nil {
		return nil, err
	}
	yv, err := attr(o, "_y")
	if err != nil {
		return nil, err
	}
	y, yShape, err := floats(yv)
	if err != nil || len(y) != n || len(yShape) != 1 {
		return nil, ir.Unsupportedf("%s with targets of shape %v (mlbox serves one output)", name, yShape)
	}
	st := &ir.Neighbors{In: slots(cols), Points: pts, Value: y, K: int(k), P: p, Distance: weights == "distance"}
	m := b.m
	if !classifier {
		st.Out = m.Alloc(1)
		m.Add(st)
		return &head{name: name, task: ir.Regression, out: st.Out}, nil
	}
	lab, err := labels(o)
	if err != nil {
		return nil, err
	}
	st.Classes = len(lab)
	st.Out = m.Alloc(len(lab))
	m.Add(st)
	proba := m.Alloc(len(lab))
	m.Add(&ir.Normalize{In: st.Out, Out: proba, Zero: ir.ZeroUniform})
	return &head{name: name, task: ir.Classification, labels: lab, out: st.Out, proba: proba}, nil
}

// neighborsMetric returns p of the fitted distance: 2 for Euclidean, 1
// for Manhattan.
func neighborsMetric(o *pyobj.Object) (int, error) {
	metric, err := optStr(o, "effective_metric_")
	if err != nil {
		return 0, ir.Unsupportedf("%s with a callable metric", shortName(o))
	}
	switch metric {
	case "euclidean", "l2":
		return 2, nil
	case "manhattan", "cityblock", "l1":
		return 1, nil
	case "minkowski":
		var pv pyobj.Value
		if params, ok := o.Attr("effective_metric_params_"); ok {
			if d, ok := params.(*pyobj.Dict); ok {
				pv, _ = d.Get("p")
			}
		}
		if pv == nil {
			pv, _ = o.Attr("p")
		}
		if pf, err := number(pv); err == nil {
			switch pf {
			case 2:
				return 2, nil
			case 1:
				return 1, nil
			}
		}
		return 0, ir.Unsupportedf("%s(metric=\"minkowski\", p=%v) (mlbox serves p = 1 and 2)", shortName(o), pv)
	}
	return 0, ir.Unsupportedf("%s(metric=%q) (mlbox serves euclidean and manhattan)", shortName(o), metric)
}

// nearestCentroid maps NearestCentroid with uniform class priors (the
// default): the class of the nearest centroid, Euclidean or Manhattan,
// the first at equal distance (scikit-learn's pairwise_distances_argmin).
func (b *builder) nearestCentroid(o *pyobj.Object, cols []col) (*head, error) {
	const name = "NearestCentroid"
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	lab, err := labels(o)
	if err != nil {
		return nil, err
	}
	cent, k, nf, err := matrix(o, "centroids_")
	if err != nil {
		return nil, err
	}
	if k != len(lab) || nf != len(cols) {
		return nil, ir.Invalidf("NearestCentroid.centroids_ is %d×%d for %d classes and %d columns", k, nf, len(lab), len(cols))
	}
	if pv, ok := o.Attr("class_prior_"); ok && pv != nil {
		prior, _, err := floats(pv)
		if err != nil || len(prior) != k {
			return nil, ir.Invalidf("NearestCentroid.class_prior_: %v", err)
		}
		for _, p := range prior { // numpy's isclose(p, 1/k)
			if u := 1 / float64(k); !(math.Abs(p-u) <= 1e-8+1e-5*u) {
				return nil, ir.Unsupportedf("NearestCentroid with class priors other than uniform")
			}
		}
	}
	metric, err := optStr(o, "metric")
	if err != nil {
		return nil, ir.Unsupportedf("NearestCentroid with a callable metric")
	}
	p := 2
	switch metric {
	case "euclidean", "":
	case "manhattan":
		p = 1
	default:
		return nil, ir.Unsupportedf("NearestCentroid(metric=%q)", metric)
	}
	idx := make([]float64, k)
	for i := range idx {
		idx[i] = float64(i)
	}
	st := &ir.Neighbors{In: slots(cols), Points: cent, Value: idx, K: 1, P: p, Classes: k, Out: b.m.Alloc(k)}
	b.m.Add(st)
	return &head{name: name, task: ir.Classification, labels: lab, out: st.Out}, nil
}
