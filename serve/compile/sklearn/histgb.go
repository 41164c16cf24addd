package sklearn

import (
	"fmt"
	"math"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// histGradientBoosting maps HistGradientBoostingClassifier/Regressor
// (../shared/reference/sklearn-formats.md §4.4): raw[k] =
// _baseline_prediction[k] + Σ_iterations leaf value (the learning rate is
// in the leaves), in float64, NaN by missing_go_to_left, categorical
// splits by their raw-category bitsets (codes in the set go left; NaN,
// negative and unknown codes take the missing side).
//
// With categorical features the model carries a _preprocessor that puts
// the categorical columns first, each through an OrdinalEncoder (codes in
// sorted-category order, unknown and missing values NaN), then the numeric
// ones; the trees' features index that layout. Here each encoded column
// becomes a one-hot of its categories folded back to the code, with the
// unknown, missing or NaN value coded -1, which the trees route to the
// missing side as scikit-learn routes its NaN.
func (b *builder) histGradientBoosting(o *pyobj.Object, cols []col, classifier bool) (*head, error) {
	name := shortName(o)
	cols, err := b.hgbPreprocess(o, cols)
	if err != nil {
		return nil, err
	}
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	loss, err := optStr(o, "loss")
	if err != nil {
		return nil, err
	}
	bv, err := attr(o, "_baseline_prediction")
	if err != nil {
		return nil, err
	}
	base, bshape, err := floats(bv)
	if err != nil {
		return nil, ir.Invalidf("%s._baseline_prediction: %v", name, err)
	}
	k := len(base)
	if k < 1 || len(bshape) > 2 {
		return nil, ir.Invalidf("%s._baseline_prediction has shape %v", name, bshape)
	}
	h := &head{name: name, task: ir.Regression}
	if classifier {
		lab, err := labels(o)
		if err != nil {
			return nil, err
		}
		want := len(lab)
		if want == 2 {
			want = 1
		}
		if k != want {
			return nil, ir.Invalidf("%s has %d trees per iteration for %d classes", name, k, len(lab))
		}
		h.task, h.labels = ir.Classification, lab
	}
	pv, err := attr(o, "_predictors")
	if err != nil {
		return nil, err
	}
	iters, err := items(pv)
	if err != nil {
		return nil, ir.Invalidf("%s._predictors: %v", name, err)
	}
	st := &ir.Trees{In: slots(cols), Base: base, CatLeft: true, UnknownMissing: true}
	for it, iv := range iters {
		preds, err := items(iv)
		if err != nil || len(preds) != k {
			return nil, ir.Invalidf("%s._predictors[%d] has %d predictors for %d outputs", name, it, len(preds), k)
		}
		for j, p := range preds {
			po, ok := p.(*pyobj.Object)
			if !ok || shortName(po) != "TreePredictor" {
				return nil, ir.Invalidf("%s._predictors[%d][%d] is a %s", name, it, j, typeName(p))
			}
			t, err := readPredictor(po, len(cols))
			if err != nil {
				return nil, fmt.Errorf("%s iteration %d: %w", name, it, err)
			}
			st.Trees = append(st.Trees, t)
			st.Groups = append(st.Groups, int32(j))
		}
	}
	if len(st.Trees) == 0 {
		// No iterations: the baseline alone, through one leaf of 0.
		st.Trees = []ir.Tree{{Feature: []int32{-1}, Threshold: []float64{0}, Left: []int32{0}, Right: []int32{0}, MissingLeft: []bool{false}, Value: []float64{0}}}
		st.Groups = []int32{0}
	}
	st.Out = b.m.Alloc(k)
	b.m.Add(st)
	raw := st.Out
	m := b.m
	switch {
	case !classifier:
		switch loss {
		case "squared_error", "absolute_error", "quantile":
			h.out = raw
		case "poisson", "gamma":
			out := m.Alloc(k)
			m.Add(&ir.Map{In: raw, Out: out, Ops: []ir.Op{{Kind: ir.OpExp}}})
			h.out = out
		default:
			return nil, ir.Unsupportedf("%s(loss=%q)", name, loss)
		}
		return h, nil
	case k == 1:
		// [1-expit(raw), expit(raw)]; its arg max is raw > 0, as predict.
		p := m.Alloc(1)
		m.Add(&ir.Map{In: raw, Out: p, Ops: []ir.Op{{Kind: ir.OpLogistic}}})
		h.out = b.complement(p[0])
	default:
		p := m.Alloc(k)
		m.Add(&ir.Softmax{In: raw, Out: p})
		h.out = p
	}
	h.proba = h.out
	return h, nil
}

// hgbPreprocess applies the model's _preprocessor (if any) and returns the
// columns in the trees' layout.
func (b *builder) hgbPreprocess(o *pyobj.Object, cols []col) ([]col, error) {
	pv, ok := o.Attr("_preprocessor")
	if !ok || pv == nil {
		if cv, ok := o.Attr("is_categorical_"); ok && cv != nil {
			if c, _, err := floats(cv); err == nil {
				for _, x := range c {
					if x != 0 {
						return nil, ir.Unsupportedf("%s with categorical features and no _preprocessor", shortName(o))
					}
				}
			}
		}
		return cols, nil
	}
	p, ok := pv.(*pyobj.Object)
	if !ok || shortName(p) != "ColumnTransformer" {
		return nil, ir.Invalidf("%s._preprocessor is a %s", shortName(o), typeName(pv))
	}
	names, _, err := featureNames(p)
	if err != nil {
		return nil, err
	}
	tv, err := attr(p, "transformers_")
	if err != nil {
		return nil, err
	}
	ts, err := items(tv)
	if err != nil {
		return nil, ir.Invalidf("_preprocessor.transformers_: %v", err)
	}
	var out []col
	for i, x := range ts {
		t, ok := x.(pyobj.Tuple)
		if !ok || len(t) != 3 {
			return nil, ir.Invalidf("_preprocessor.transformers_[%d] is not a triple", i)
		}
		idx, err := selectColumns(t[2], names, len(cols))
		if err != nil {
			return nil, ir.Invalidf("_preprocessor columns: %v", err)
		}
		if s, ok := str(t[1]); ok {
			if s == "drop" {
				continue
			}
			if s == "passthrough" {
				for _, j := range idx {
					out = append(out, cols[j])
				}
				continue
			}
		}
		tr, ok := t[1].(*pyobj.Object)
		if !ok {
			return nil, ir.Invalidf("_preprocessor.transformers_[%d] is a %s", i, typeName(t[1]))
		}
		switch shortName(tr) {
		case "FunctionTransformer":
			// partial(check_array, dtype=float64): the numeric columns, as
			// they are. (The function is never called, only recognised.)
			for _, j := range idx {
				out = append(out, cols[j])
			}
		case "OrdinalEncoder":
			enc, err := b.ordinalCodes(tr, cols, idx)
			if err != nil {
				return nil, err
			}
			out = append(out, enc...)
		default:
			return nil, ir.Unsupportedf("a HistGradientBoosting preprocessor step %s", className(tr))
		}
	}
	return out, nil
}

// ordinalCodes maps the OrdinalEncoder of a HistGradientBoosting model:
// each value to the index of its category, anything else to -1.
func (b *builder) ordinalCodes(o *pyobj.Object, cols []col, idx []int) ([]col, error) {
	cl, err := encoderCategories(o, len(idx))
	if err != nil {
		return nil, err
	}
	var out []col
	for i, j := range idx {
		oh, cats, err := b.categoryLookup(cols[j], j, cl[i], "HistGradientBoosting's OrdinalEncoder", true)
		if err != nil {
			return nil, err
		}
		n := len(cats)
		w := make([]float64, n+1)
		for k, ct := range cats {
			w[k] = float64(k)
			if ct.missing {
				oh.Cols[k] = n // missing is coded NaN: the missing side
			}
		}
		w[n] = -1
		b.m.Add(oh)
		code := b.m.Alloc(1)
		b.m.Add(&ir.Linear{In: oh.Out, Out: code, W: w})
		out = append(out, computed(code)...)
	}
	return out, nil
}

// readPredictor converts a TreePredictor's node records.
func readPredictor(p *pyobj.Object, nf int) (ir.Tree, error) {
	nv, err := attr(p, "nodes")
	if err != nil {
		return ir.Tree{}, err
	}
	nodes, ok := nv.(*pyobj.Array)
	if !ok || len(nodes.Shape) != 1 || nodes.Shape[0] < 1 || nodes.Shape[0] > ir.MaxTreeNodes {
		return ir.Tree{}, ir.Invalidf("TreePredictor.nodes is not a 1-d record array")
	}
	n := nodes.Shape[0]
	fl := func(name string) ([]float64, error) {
		f, err := nodes.Field(name)
		if err != nil {
			return nil, ir.Invalidf("TreePredictor.nodes: %v", err)
		}
		v, err := f.Float64s()
		if err != nil {
			return nil, ir.Invalidf("TreePredictor.nodes.%s: %v", name, err)
		}
		return v, nil
	}
	in := func(name string) ([]int64, error) {
		f, err := nodes.Field(name)
		if err != nil {
			return nil, ir.Invalidf("TreePredictor.nodes: %v", err)
		}
		v, err := f.Int64s()
		if err != nil {
			return nil, ir.Invalidf("TreePredictor.nodes.%s: %v", name, err)
		}
		return v, nil
	}
	value, err := fl("value")
	if err != nil {
		return ir.Tree{}, err
	}
	thr, err := fl("num_threshold")
	if err != nil {
		return ir.Tree{}, err
	}
	var feat, left, right, miss, leaf, cat, bidx []int64
	for _, f := range []struct {
		name string
		dst  *[]int64
	}{{"feature_idx", &feat}, {"left", &left}, {"right", &right}, {"missing_go_to_left", &miss}, {"is_leaf", &leaf}} {
		if *f.dst, err = in(f.name); err != nil {
			return ir.Tree{}, err
		}
	}
	if _, err := nodes.Field("is_categorical"); err == nil {
		if cat, err = in("is_categorical"); err != nil {
			return ir.Tree{}, err
		}
		if bidx, err = in("bitset_idx"); err != nil {
			return ir.Tree{}, err
		}
	}
	var sets [][]uint32
	if rv, ok := p.Attr("raw_left_cat_bitsets"); ok && rv != nil {
		words, shape, err := floats(rv)
		if err != nil || len(shape) != 2 || (shape[0] > 0 && shape[1] != 8) {
			return ir.Tree{}, ir.Invalidf("TreePredictor.raw_left_cat_bitsets has shape %v", shape)
		}
		for r := range shape[0] {
			set := make([]uint32, 8)
			for w := range 8 {
				set[w] = uint32(words[r*8+w])
			}
			sets = append(sets, set)
		}
	}
	t := ir.Tree{Feature: make([]int32, n), Threshold: make([]float64, n), Left: make([]int32, n), Right: make([]int32, n),
		MissingLeft: make([]bool, n), Value: make([]float64, n)}
	special := false
	for i := range n {
		if leaf[i] != 0 {
			t.Feature[i], t.Value[i] = -1, value[i]
			continue
		}
		if feat[i] < 0 || feat[i] >= int64(nf) || left[i] <= int64(i) || right[i] <= int64(i) || left[i] >= int64(n) || right[i] >= int64(n) {
			return ir.Tree{}, ir.Invalidf("node %d: feature %d, children %d and %d (of %d nodes, %d features)", i, feat[i], left[i], right[i], n, nf)
		}
		t.Feature[i], t.Left[i], t.Right[i] = int32(feat[i]), int32(left[i]), int32(right[i])
		t.MissingLeft[i] = miss[i] != 0
		if cat != nil && cat[i] != 0 {
			if bidx[i] < 0 || bidx[i] >= int64(len(sets)) {
				return ir.Tree{}, ir.Invalidf("node %d: category bitset %d of %d", i, bidx[i], len(sets))
			}
			if t.Kind == nil {
				t.Kind, t.Sets = make([]uint8, n), make([][]uint32, n)
			}
			t.Kind[i], t.Sets[i] = ir.NodeCategorical, sets[bidx[i]]
			special = true
			continue
		}
		if math.IsNaN(thr[i]) {
			return ir.Tree{}, ir.Invalidf("node %d has a NaN threshold", i)
		}
		t.Threshold[i] = thr[i]
	}
	_ = special
	return t, nil
}
