package onnx

import (
	"math"

	"mlbox/serve/compile/ir"
)

// TreeEnsemble (ai.onnx.ml 5) modes.
const (
	mode5LEQ = iota
	mode5LT
	mode5GTE
	mode5GT
	mode5EQ
	mode5NEQ
	mode5Member
)

// Bounds on what a TreeEnsemble expands to: equality and membership
// nodes become pairs of comparisons, and the subtree they fall through to
// is copied under each. The budget counts a node's leaf values too.
const (
	maxTree5Nodes = 1 << 23
	maxTree5Depth = 1 << 12
)

// tree5 builds one ir.Tree from a TreeEnsemble's node and leaf arrays.
type tree5 struct {
	feats, trueIDs, falseIDs []int64
	trueLeaf, falseLeaf      []int64
	tracks                   []int64
	modes                    []int64
	splits                   []float64
	sets                     [][]float64 // MEMBER nodes' values, by node
	leafT                    []int64
	leafW                    []float64
	nOut, nFeat              int
	dbl                      bool
	n                        *Node
	budget                   *int

	tr *ir.Tree
}

func (b *tree5) add() (int32, error) {
	if *b.budget < 1+b.nOut {
		return 0, unsupported(b.n, "more than %d tree nodes and values once expanded", maxTree5Nodes)
	}
	*b.budget -= 1 + b.nOut
	t := b.tr
	i := int32(len(t.Feature))
	t.Feature = append(t.Feature, -1)
	t.Threshold = append(t.Threshold, 0)
	t.Left = append(t.Left, 0)
	t.Right = append(t.Right, 0)
	t.MissingLeft = append(t.MissingLeft, false)
	t.Value = append(t.Value, make([]float64, b.nOut)...)
	return i, nil
}

// ref is a child: a node or a leaf index.
type ref struct {
	id   int64
	leaf bool
}

func (b *tree5) build(r ref, depth int) (int32, error) {
	if depth > maxTree5Depth {
		return 0, unsupported(b.n, "a tree deeper than %d (or a cycle)", maxTree5Depth)
	}
	if r.leaf {
		if r.id < 0 || r.id >= int64(len(b.leafT)) {
			return 0, ir.Invalidf("node %s: leaf %d of %d", b.n.Name, r.id, len(b.leafT))
		}
		i, err := b.add()
		if err != nil {
			return 0, err
		}
		t := b.leafT[r.id]
		if t < 0 || t >= int64(b.nOut) {
			return 0, ir.Invalidf("node %s: leaf target %d of %d", b.n.Name, t, b.nOut)
		}
		b.tr.Value[int(i)*b.nOut+int(t)] = b.leafW[r.id]
		return i, nil
	}
	id := r.id
	if id < 0 || id >= int64(len(b.modes)) {
		return 0, ir.Invalidf("node %s: node %d of %d", b.n.Name, id, len(b.modes))
	}
	f := b.feats[id]
	if f < 0 || f >= int64(b.nFeat) {
		return 0, unsupported(b.n, "feature %d of %d", f, b.nFeat)
	}
	yes, no := ref{b.trueIDs[id], b.trueLeaf[id] == 1}, ref{b.falseIDs[id], b.falseLeaf[id] == 1}
	nanYes := b.tracks != nil && b.tracks[id] == 1
	t := hold(b.splits[id], b.dbl)
	switch b.modes[id] {
	case mode5LEQ, mode5LT, mode5GTE, mode5GT:
		i, err := b.add()
		if err != nil {
			return 0, err
		}
		left, right := yes, no
		thr := t
		switch b.modes[id] {
		case mode5LT:
			thr = below(t, b.dbl)
		case mode5GT: // x > t: not x <= t
			left, right = no, yes
		case mode5GTE: // x >= t: not x < t
			thr, left, right = below(t, b.dbl), no, yes
		}
		b.tr.Feature[i], b.tr.Threshold[i] = int32(f), thr
		b.tr.MissingLeft[i] = nanYes == (left == yes)
		l, err := b.build(left, depth+1)
		if err != nil {
			return 0, err
		}
		r, err := b.build(right, depth+1)
		if err != nil {
			return 0, err
		}
		b.tr.Left[i], b.tr.Right[i] = l, r
		return i, nil
	case mode5EQ:
		return b.equal(int32(f), []float64{t}, yes, no, nanYes, depth)
	case mode5NEQ: // x != t: equal goes the false way; NaN is never equal
		return b.equal(int32(f), []float64{t}, no, yes, false, depth)
	case mode5Member:
		set := make([]float64, len(b.sets[id]))
		for k, v := range b.sets[id] {
			set[k] = hold(v, b.dbl)
		}
		return b.equal(int32(f), set, yes, no, nanYes, depth)
	}
	return 0, unsupported(b.n, "node mode %d", b.modes[id])
}

// equal builds "x is one of vals": for each value t, x <= t then not
// x <= below(t); NaN goes to yes when nanYes.
func (b *tree5) equal(f int32, vals []float64, yes, no ref, nanYes bool, depth int) (int32, error) {
	if len(vals) == 0 {
		return b.build(no, depth+1)
	}
	t := vals[0]
	a, err := b.add()
	if err != nil {
		return 0, err
	}
	c, err := b.add()
	if err != nil {
		return 0, err
	}
	b.tr.Feature[a], b.tr.Threshold[a], b.tr.MissingLeft[a] = f, t, nanYes
	b.tr.Feature[c], b.tr.Threshold[c], b.tr.MissingLeft[c] = f, below(t, b.dbl), false
	rest, err := b.equal(f, vals[1:], yes, no, false, depth+1)
	if err != nil {
		return 0, err
	}
	b.tr.Left[a], b.tr.Right[a] = c, rest
	if rest, err = b.equal(f, vals[1:], yes, no, false, depth+1); err != nil {
		return 0, err
	}
	hit, err := b.build(yes, depth+1)
	if err != nil {
		return 0, err
	}
	b.tr.Left[c], b.tr.Right[c] = rest, hit
	return a, nil
}

// treeEnsemble5 lowers TreeEnsemble (ai.onnx.ml 5): comparisons in the
// input's type, sums in it over the trees in order.
func (l *lowering) treeEnsemble5(n *Node) error {
	v, err := l.row(n, 0)
	if err != nil {
		return err
	}
	tensor := func(name string) ([]float64, DataType, error) {
		a := n.Attr(name)
		if a == nil || a.T == nil {
			return nil, 0, nil
		}
		x, err := numbers(a.T)
		return x, a.T.DataType, err
	}
	b := &tree5{n: n, nFeat: len(v.slots), dbl: v.typ() == Double}
	b.feats, b.trueIDs, b.falseIDs = attrInts(n, "nodes_featureids"), attrInts(n, "nodes_truenodeids"), attrInts(n, "nodes_falsenodeids")
	b.trueLeaf, b.falseLeaf, b.tracks = attrInts(n, "nodes_trueleafs"), attrInts(n, "nodes_falseleafs"), attrInts(n, "nodes_missing_value_tracks_true")
	b.leafT = attrInts(n, "leaf_targetids")
	var st DataType
	if b.splits, st, err = tensor("nodes_splits"); err != nil {
		return unsupported(n, "nodes_splits: %v", err)
	}
	if st != 0 && st != v.typ() {
		return unsupported(n, "%s splits for a %s input", st, v.typ())
	}
	modes, _, err := tensor("nodes_modes")
	if err != nil {
		return unsupported(n, "nodes_modes: %v", err)
	}
	for _, m := range modes {
		b.modes = append(b.modes, int64(m))
	}
	if b.leafW, _, err = tensor("leaf_weights"); err != nil {
		return unsupported(n, "leaf_weights: %v", err)
	}
	nn := len(b.feats)
	if nn == 0 || len(b.trueIDs) != nn || len(b.falseIDs) != nn || len(b.trueLeaf) != nn || len(b.falseLeaf) != nn ||
		len(b.splits) != nn || len(b.modes) != nn || (b.tracks != nil && len(b.tracks) != nn) || len(b.leafT) != len(b.leafW) {
		return unsupported(n, "node or leaf attributes of different lengths")
	}
	member, _, err := tensor("membership_values")
	if err != nil {
		return unsupported(n, "membership_values: %v", err)
	}
	b.sets = make([][]float64, nn)
	for i, m := range b.modes {
		if m != mode5Member {
			continue
		}
		k := 0
		for k < len(member) && !math.IsNaN(member[k]) {
			k++
		}
		if k == len(member) && k == 0 {
			return unsupported(n, "node %d: a membership set past membership_values", i)
		}
		b.sets[i], member = member[:k], member[min(k+1, len(member)):]
	}
	nt := int64(1)
	if a := n.Attr("n_targets"); a != nil {
		nt = a.I
	}
	if nt < 1 || nt > ir.MaxOutputs {
		return unsupported(n, "%d targets", nt)
	}
	b.nOut = int(nt)
	budget := maxTree5Nodes
	b.budget = &budget
	ts := &ir.Trees{In: v.slots, Float32: !b.dbl, Accum32: !b.dbl, Base: make([]float64, b.nOut)}
	if a := n.Attr("aggregate_function"); a != nil {
		switch a.I {
		case 0: // AVERAGE
			ts.Average = true
		case 1: // SUM
		default:
			return unsupported(n, "aggregate_function %d (mlbox sums or averages)", a.I)
		}
	}
	for _, root := range attrInts(n, "tree_roots") {
		b.tr = &ir.Tree{}
		if _, err := b.build(ref{id: root}, 0); err != nil {
			return err
		}
		ts.Trees = append(ts.Trees, *b.tr)
	}
	if len(ts.Trees) == 0 {
		return unsupported(n, "no trees")
	}
	out := l.m.Alloc(b.nOut)
	ts.Out = out
	l.m.Add(ts)
	post := int64(0)
	if a := n.Attr("post_transform"); a != nil {
		post = a.I
	}
	elem := v.typ()
	// onnxruntime (1.32) takes post_transform 1 as LOGISTIC and 2 as
	// SOFTMAX, the reverse of the ONNX spec's codes; mlbox answers what
	// onnxruntime answers.
	switch post {
	case 0:
	case 1:
		lg := l.m.Map(out, []ir.Op{{Kind: ir.OpLogistic}})
		out = lg
	case 2:
		sm := l.m.Alloc(len(out))
		l.m.Add(&ir.Softmax{In: out, Out: sm})
		out = sm
	default:
		return unsupported(n, "post_transform %d", post)
	}
	if elem == Float && post != 0 {
		out = l.round32(out)
	}
	l.output(n, 0, &value{slots: out, elem: elem})
	return nil
}
