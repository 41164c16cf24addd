package sklearn

import (
	"fmt"
	"math"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// isolationForest maps IsolationForest: each tree's leaf holds its path
// length (the node's depth + the average path length of its samples - 1,
// as scikit-learn precomputes them per node), summed over the trees in
// order; the score is 2^-(Σ / (trees · c(max_samples))), decision_function
// -score - offset_, and predict 1 (an inlier) unless that is below 0, then
// -1. Trees fitted on a subset of the features read their own columns.
func (b *builder) isolationForest(o *pyobj.Object, cols []col) (*head, error) {
	const name = "IsolationForest"
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	ev, err := attr(o, "estimators_")
	if err != nil {
		return nil, err
	}
	ests, err := items(ev)
	if err != nil || len(ests) == 0 {
		return nil, ir.Invalidf("IsolationForest.estimators_: %d trees, %v", len(ests), err)
	}
	list := func(attrName string) ([]pyobj.Value, error) {
		v, err := attr(o, attrName)
		if err != nil {
			return nil, err
		}
		l, err := items(v)
		if err != nil || len(l) != len(ests) {
			return nil, ir.Invalidf("IsolationForest.%s has %d entries for %d trees (%v)", attrName, len(l), len(ests), err)
		}
		return l, nil
	}
	feats, err := list("estimators_features_")
	if err != nil {
		return nil, err
	}
	depths, err := list("_decision_path_lengths")
	if err != nil {
		return nil, ir.Unsupportedf("IsolationForest without per-node path lengths (an older scikit-learn)")
	}
	apls, err := list("_average_path_length_per_tree")
	if err != nil {
		return nil, err
	}
	num := func(attrName string) (float64, error) { return finiteNumber(o, attrName) }
	maxFeatures, err := num("_max_features")
	if err != nil {
		return nil, err
	}
	maxSamples, err := num("_max_samples")
	if err != nil {
		return nil, err
	}
	offset, err := num("offset_")
	if err != nil {
		return nil, err
	}
	subsample := int(maxFeatures) != len(cols)
	st := &ir.Trees{In: slots(cols), Float32: true}
	for i, e := range ests {
		eo, ok := e.(*pyobj.Object)
		if !ok || shortName(eo) != "ExtraTreeRegressor" {
			return nil, ir.Unsupportedf("IsolationForest over %s", typeName(e))
		}
		nf := len(cols)
		var fmap []float64
		if subsample {
			if fmap, _, err = floats(feats[i]); err != nil {
				return nil, ir.Invalidf("IsolationForest.estimators_features_[%d]: %v", i, err)
			}
			nf = len(fmap)
		}
		t, _, err := readTree(eo, nf, false, 0, false)
		if err != nil {
			return nil, fmt.Errorf("IsolationForest tree %d: %w", i, err)
		}
		dpl, _, err1 := floats(depths[i])
		apl, _, err2 := floats(apls[i])
		n := len(t.Feature)
		if err1 != nil || err2 != nil || len(dpl) != n || len(apl) != n {
			return nil, ir.Invalidf("IsolationForest tree %d: path lengths for %d and %d of %d nodes", i, len(dpl), len(apl), n)
		}
		for j := range n {
			if t.Feature[j] < 0 {
				t.Value[j] = dpl[j] + apl[j] - 1.0
				continue
			}
			if subsample {
				f := fmap[t.Feature[j]]
				if f < 0 || f >= float64(len(cols)) || f != math.Trunc(f) {
					return nil, ir.Invalidf("IsolationForest tree %d reads feature %v of %d", i, f, len(cols))
				}
				t.Feature[j] = int32(f)
			}
		}
		st.Trees = append(st.Trees, t)
	}
	m := b.m
	st.Out = m.Alloc(1)
	m.Add(st)
	den := float64(len(ests)) * averagePathLength(maxSamples)
	var ratio []int
	if den != 0 {
		ratio = m.Map(st.Out, []ir.Op{{Kind: ir.OpDiv, Vals: []float64{den}}})
	} else { // a single training sample: the ratio is set to 1
		ratio = m.Map(st.Out, []ir.Op{{Kind: ir.OpSet, Vals: []float64{1}}})
	}
	// 2^-r as exp(-r·ln 2), then -score - offset_.
	dec := m.Map(ratio, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-math.Ln2}}, {Kind: ir.OpExp},
		{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpSub, Vals: []float64{offset}}})
	outlier := m.Map(dec, []ir.Op{{Kind: ir.OpLess, Vals: []float64{0}}})
	inlier := m.Map(outlier, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}})
	return &head{name: name, task: ir.Classification, labels: []jsonValue{jsonValue("-1"), jsonValue("1")},
		out: append(outlier, inlier...), decision: dec}, nil
}

// averagePathLength is scikit-learn's _average_path_length of n samples:
// the average path length of an unsuccessful search in a binary search
// tree of n nodes.
func averagePathLength(n float64) float64 {
	switch {
	case n <= 1:
		return 0
	case n == 2:
		return 1
	}
	return 2.0*(math.Log(n-1.0)+0.5772156649015329) - 2.0*(n-1.0)/n
}
