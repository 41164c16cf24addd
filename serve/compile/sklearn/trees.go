package sklearn

import (
	"fmt"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// forest maps a decision tree, a random forest or extra trees: the trees'
// leaf values (class fractions, or values) averaged in estimators_ order,
// with inputs rounded to float32 and NaN routed by missing_go_to_left.
func (b *builder) forest(o *pyobj.Object, cols []col, classifier bool) (*head, error) {
	name := shortName(o)
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	var ests []*pyobj.Object
	switch name {
	case "DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor":
		ests = []*pyobj.Object{o}
	default:
		ev, err := attr(o, "estimators_")
		if err != nil {
			return nil, err
		}
		l, err := items(ev)
		if err != nil {
			return nil, ir.Invalidf("%s.estimators_: %v", name, err)
		}
		if len(l) == 0 {
			return nil, ir.Invalidf("%s has no estimators", name)
		}
		for i, e := range l {
			eo, ok := e.(*pyobj.Object)
			if !ok {
				return nil, ir.Invalidf("%s.estimators_[%d] is a %s", name, i, typeName(e))
			}
			switch shortName(eo) {
			case "DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor":
			default:
				return nil, ir.Unsupportedf("%s over %s", name, className(eo))
			}
			ests = append(ests, eo)
		}
	}
	h := &head{name: name}
	nOut := 0
	if classifier {
		lab, err := labels(o)
		if err != nil {
			return nil, err
		}
		h.task, h.labels = ir.Classification, lab
		nOut = len(lab)
	} else {
		h.task = ir.Regression
	}
	st := &ir.Trees{In: slots(cols), Float32: true, Average: len(ests) > 1}
	counts := before(b.ver, 1, 4) // classifier leaves hold counts before 1.4
	for i, e := range ests {
		t, outs, err := readTree(e, len(cols), classifier, nOut, counts)
		if err != nil {
			return nil, fmt.Errorf("%s tree %d: %w", name, i, err)
		}
		if nOut == 0 {
			nOut = outs
		} else if outs != nOut {
			return nil, ir.Invalidf("%s tree %d has %d outputs, not %d", name, i, outs, nOut)
		}
		st.Trees = append(st.Trees, t)
	}
	st.Out = b.m.Alloc(nOut)
	b.m.Add(st)
	h.out = st.Out
	if classifier {
		h.proba = st.Out
	}
	return h, nil
}

// readTree converts one fitted tree's tree_ to node arrays.
func readTree(e *pyobj.Object, nf int, classifier bool, nClasses int, counts bool) (ir.Tree, int, error) {
	tv, err := attr(e, "tree_")
	if err != nil {
		return ir.Tree{}, 0, err
	}
	to, ok := tv.(*pyobj.Object)
	if !ok || to.Class.String() != "sklearn.tree._tree.Tree" {
		return ir.Tree{}, 0, ir.Invalidf("tree_ is a %s", typeName(tv))
	}
	if len(to.Args) >= 1 {
		if n, err := integer(to.Args[0]); err != nil || n != int64(nf) {
			return ir.Tree{}, 0, ir.Invalidf("the tree was built for %v features, the model gets %d", to.Args[0], nf)
		}
	}
	nv, err := attr(to, "nodes")
	if err != nil {
		return ir.Tree{}, 0, err
	}
	nodes, ok := nv.(*pyobj.Array)
	if !ok || len(nodes.Shape) != 1 {
		return ir.Tree{}, 0, ir.Invalidf("Tree.nodes is not a 1-d array")
	}
	n := nodes.Shape[0]
	if n < 1 || n > ir.MaxTreeNodes {
		return ir.Tree{}, 0, ir.Invalidf("a tree of %d nodes", n)
	}
	field := func(name string, ints bool) ([]float64, []int64, error) {
		f, err := nodes.Field(name)
		if err != nil {
			return nil, nil, ir.Invalidf("Tree.nodes: %v", err)
		}
		if ints {
			v, err := f.Int64s()
			if err != nil {
				return nil, nil, ir.Invalidf("Tree.nodes.%s: %v", name, err)
			}
			return nil, v, nil
		}
		v, err := f.Float64s()
		if err != nil {
			return nil, nil, ir.Invalidf("Tree.nodes.%s: %v", name, err)
		}
		return v, nil, nil
	}
	_, left, err := field("left_child", true)
	if err != nil {
		return ir.Tree{}, 0, err
	}
	_, right, err := field("right_child", true)
	if err != nil {
		return ir.Tree{}, 0, err
	}
	_, feat, err := field("feature", true)
	if err != nil {
		return ir.Tree{}, 0, err
	}
	thr, _, err := field("threshold", false)
	if err != nil {
		return ir.Tree{}, 0, err
	}
	var missLeft []int64
	if _, err := nodes.Field("missing_go_to_left"); err == nil {
		if _, missLeft, err = field("missing_go_to_left", true); err != nil {
			return ir.Tree{}, 0, err
		}
	}
	vv, err := attr(to, "values")
	if err != nil {
		return ir.Tree{}, 0, err
	}
	vals, shape, err := floats(vv)
	if err != nil {
		return ir.Tree{}, 0, ir.Invalidf("Tree.values: %v", err)
	}
	if len(shape) != 3 || shape[0] != n || shape[1] < 1 || shape[2] < 1 {
		return ir.Tree{}, 0, ir.Invalidf("Tree.values has shape %v for %d nodes", shape, n)
	}
	nOutputs, width := shape[1], shape[2]
	var nOut int
	if classifier {
		if nOutputs != 1 {
			return ir.Tree{}, 0, ir.Unsupportedf("multi-output classifier trees")
		}
		if width < nClasses {
			return ir.Tree{}, 0, ir.Invalidf("tree values hold %d classes, the model has %d", width, nClasses)
		}
		nOut = nClasses
	} else {
		if width != 1 {
			return ir.Tree{}, 0, ir.Invalidf("regression tree values have width %d", width)
		}
		nOut = nOutputs
	}
	t := ir.Tree{
		Feature: make([]int32, n), Threshold: thr, Left: make([]int32, n), Right: make([]int32, n),
		MissingLeft: make([]bool, n), Value: make([]float64, n*nOut),
	}
	for i := range n {
		if left[i] == -1 { // scikit-learn's TREE_LEAF
			t.Feature[i], t.Left[i], t.Right[i] = -1, -1, -1
			t.Threshold[i] = 0
			base := i * nOutputs * width
			if classifier {
				row := vals[base : base+nClasses]
				sum := 1.0
				if counts {
					sum = 0
					for _, c := range vals[base : base+width] {
						sum += c
					}
					if sum == 0 {
						sum = 1
					}
				}
				for k, v := range row {
					if counts {
						v /= sum
					}
					t.Value[i*nOut+k] = v
				}
			} else {
				for o := range nOutputs {
					t.Value[i*nOut+o] = vals[base+o*width]
				}
			}
			continue
		}
		if feat[i] < 0 || feat[i] >= int64(nf) || left[i] > int64(n) || right[i] > int64(n) || left[i] < 0 || right[i] < 0 {
			return ir.Tree{}, 0, ir.Invalidf("node %d: feature %d, children %d and %d (of %d nodes, %d features)", i, feat[i], left[i], right[i], n, nf)
		}
		t.Feature[i], t.Left[i], t.Right[i] = int32(feat[i]), int32(left[i]), int32(right[i])
		if missLeft != nil {
			t.MissingLeft[i] = missLeft[i] != 0
		}
	}
	return t, nOut, nil
}
