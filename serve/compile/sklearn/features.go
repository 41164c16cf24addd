package sklearn

import (
	"math"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// Feature transformers that make new columns out of the numeric ones:
// projections (PCA, TruncatedSVD), polynomial terms and thresholds.

// projection maps PCA and TruncatedSVD: x·componentsᵀ, then for PCA
// minus mean·componentsᵀ (scikit-learn centres after the projection) and,
// with whiten, divided by √explained_variance (at least the float64
// epsilon).
func (b *builder) projection(o *pyobj.Object, cols []col) ([]col, error) {
	name := shortName(o)
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	cv, err := attr(o, "components_")
	if err != nil {
		return nil, err
	}
	if arr, ok := cv.(*pyobj.Array); ok && arr.DType != nil && arr.DType.Kind == 'f' && arr.DType.Size != 8 {
		return nil, ir.Unsupportedf("%s fitted on float%d data", name, 8*arr.DType.Size)
	}
	comp, k, n, err := matrix(o, "components_")
	if err != nil {
		return nil, err
	}
	if n != len(cols) || k == 0 {
		return nil, ir.Invalidf("%s.components_ is %d×%d for %d columns", name, k, n, len(cols))
	}
	var bias []float64
	if name == "PCA" {
		mean, err := vector(o, "mean_", n)
		if err != nil {
			return nil, err
		}
		bias = make([]float64, k)
		for j := range k {
			var s float64
			for f := range n {
				s += float64(mean[f] * comp[j*n+f])
			}
			bias[j] = -s
		}
	}
	if !allFinite(comp, bias) {
		return nil, ir.Invalidf("%s holds a non-finite component or mean", name)
	}
	m := b.m
	out := m.Alloc(k)
	m.Add(&ir.Linear{In: slots(cols), Out: out, W: comp, B: bias})
	if whiten, err := optBool(o, "whiten", false); err != nil {
		return nil, err
	} else if whiten && name == "PCA" {
		ev, err := vector(o, "explained_variance_", k)
		if err != nil {
			return nil, err
		}
		scale := make([]float64, k)
		for j, v := range ev {
			if math.IsNaN(v) || v < 0 || math.IsInf(v, 0) {
				return nil, ir.Invalidf("PCA.explained_variance_[%d] is %v", j, v)
			}
			scale[j] = max(math.Sqrt(v), 0x1p-52)
		}
		out = m.Map(out, []ir.Op{{Kind: ir.OpDiv, Vals: scale}})
	}
	return computed(out), nil
}

// polynomial maps PolynomialFeatures as scikit-learn computes a dense
// row: the bias column (include_bias), the columns, then each higher
// degree's terms, a term of degree d being a term of degree d-1 times a
// column (in the order scikit-learn builds them), the terms below
// min_degree left out.
func (b *builder) polynomial(o *pyobj.Object, cols []col) ([]col, error) {
	name := shortName(o)
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	deg, err := attr(o, "degree")
	if err != nil {
		return nil, err
	}
	minDeg, maxDeg := int64(0), int64(0)
	if t, ok := deg.(pyobj.Tuple); ok && len(t) == 2 {
		lo, err1 := integer(t[0])
		hi, err2 := integer(t[1])
		if err1 != nil || err2 != nil {
			return nil, ir.Invalidf("PolynomialFeatures.degree is %v", deg)
		}
		minDeg, maxDeg = lo, hi
	} else if maxDeg, err = integer(deg); err != nil {
		return nil, ir.Invalidf("PolynomialFeatures.degree is %v", deg)
	}
	if minDeg < 0 || maxDeg < minDeg || maxDeg > 16 {
		return nil, ir.Unsupportedf("PolynomialFeatures(degree=%v)", deg)
	}
	interaction, err := optBool(o, "interaction_only", false)
	if err != nil {
		return nil, err
	}
	bias, err := optBool(o, "include_bias", true)
	if err != nil {
		return nil, err
	}
	n := len(cols)
	x := slots(cols)
	m := b.m
	var terms []int // every term of degree ≥ 1, in scikit-learn's order
	var degree []int
	if maxDeg >= 1 {
		terms, degree = append(terms, x...), make([]int, n)
		for i := range degree {
			degree[i] = 1
		}
		// index[f]: where the terms of the last degree that start at
		// column f begin (relative to terms); index[n] is their end.
		index := make([]int, n+1)
		for f := range n + 1 {
			index[f] = f
		}
		for d := 2; d <= int(maxDeg); d++ {
			next := make([]int, 0, n+1)
			end := index[n]
			for f := range n {
				start := index[f]
				next = append(next, len(terms))
				if interaction {
					start += index[f+1] - index[f]
				}
				if end <= start {
					break
				}
				if len(terms)+end-start > ir.MaxSlots/4 {
					return nil, ir.Unsupportedf("PolynomialFeatures of degree %d over %d columns: too many terms", maxDeg, n)
				}
				prev := terms[start:end]
				xs := make([]int, len(prev))
				for i := range xs {
					xs[i] = x[f]
				}
				out := m.Alloc(len(prev))
				m.Add(&ir.Binary{A: append([]int{}, prev...), B: xs, Out: out, Kind: ir.OpMul})
				terms = append(terms, out...)
				for range prev {
					degree = append(degree, d)
				}
			}
			next = append(next, len(terms))
			for len(next) < n+1 { // a break above: no more terms start later
				next = append(next, len(terms))
			}
			index = next
		}
	}
	var out []int
	if bias { // the bias column stays whatever min_degree is

		out = m.Map(x[:1], []ir.Op{{Kind: ir.OpSet, Vals: []float64{1}}})
	}
	for i, t := range terms {
		if int64(degree[i]) >= max(minDeg, 1) {
			out = append(out, t)
		}
	}
	if want, err := nOutputs(o); err == nil && want >= 0 && want != len(out) {
		return nil, ir.Invalidf("PolynomialFeatures makes %d columns here and n_output_features_ is %d", len(out), want)
	}
	if len(out) == 0 {
		return nil, ir.Invalidf("PolynomialFeatures makes no column")
	}
	return computed(out), nil
}

// nOutputs reads n_output_features_ (-1 when absent).
func nOutputs(o *pyobj.Object) (int, error) {
	v, ok := o.Attr("n_output_features_")
	if !ok || v == nil {
		return -1, nil
	}
	n, err := integer(v)
	return int(n), err
}

// binarizer maps Binarizer: 1 where the value is above threshold, else 0.
func (b *builder) binarizer(o *pyobj.Object, cols []col) ([]col, error) {
	if err := b.numeric(cols, "Binarizer"); err != nil {
		return nil, err
	}
	tv, err := attr(o, "threshold")
	if err != nil {
		return nil, err
	}
	t, err := number(tv)
	if err != nil || math.IsNaN(t) {
		return nil, ir.Invalidf("Binarizer.threshold is %v", tv)
	}
	return computed(b.m.Map(slots(cols), []ir.Op{{Kind: ir.OpGreater, Vals: []float64{t}}})), nil
}

// kBins maps KBinsDiscretizer: each column's bin, numpy's searchsorted of
// the value among the inner edges (side="right": the number of inner
// edges at or below it), then for the one-hot encodings its fitted
// OneHotEncoder (dense here, whatever scikit-learn returns).
func (b *builder) kBins(o *pyobj.Object, cols []col) ([]col, error) {
	const name = "KBinsDiscretizer"
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	if dt, ok := o.Attr("dtype"); ok && dt != nil {
		if g, ok := dt.(*pyobj.Global); !ok || g.Name != "float64" {
			return nil, ir.Unsupportedf("KBinsDiscretizer(dtype=%s) (mlbox computes in float64)", typeName(dt))
		}
	}
	ev, err := attr(o, "bin_edges_")
	if err != nil {
		return nil, err
	}
	edges, err := items(ev)
	if err != nil || len(edges) != len(cols) {
		return nil, ir.Invalidf("KBinsDiscretizer.bin_edges_ for %d columns: %d, %v", len(cols), len(edges), err)
	}
	m := b.m
	var bins []int
	for i, c := range cols {
		e, _, err := floats(edges[i])
		if err != nil || len(e) < 2 || len(e) > ir.MaxCategories {
			return nil, ir.Invalidf("KBinsDiscretizer.bin_edges_[%d]: %d edges, %v", i, len(e), err)
		}
		inner := e[1 : len(e)-1]
		if len(inner) == 0 {
			bins = append(bins, m.Map([]int{c.slot}, []ir.Op{{Kind: ir.OpSet, Vals: []float64{0}}})[0])
			continue
		}
		in := make([]int, len(inner))
		ones := make([]float64, len(inner))
		for j, edge := range inner {
			in[j] = m.Map([]int{c.slot}, []ir.Op{{Kind: ir.OpLess, Vals: []float64{edge}}})[0]
			ones[j] = -1
		}
		bin := m.Alloc(1)
		m.Add(&ir.Linear{In: in, Out: bin, W: ones, B: []float64{float64(len(inner))}})
		bins = append(bins, bin[0])
	}
	encode, err := optStr(o, "encode")
	if err != nil {
		return nil, err
	}
	switch encode {
	case "ordinal":
		return computed(bins), nil
	case "onehot", "onehot-dense":
		enc, err := attr(o, "_encoder")
		if err != nil {
			return nil, err
		}
		eo, ok := enc.(*pyobj.Object)
		if !ok || shortName(eo) != "OneHotEncoder" {
			return nil, ir.Invalidf("KBinsDiscretizer._encoder is a %s", typeName(enc))
		}
		return b.oneHot(eo, computed(bins))
	}
	return nil, ir.Unsupportedf("KBinsDiscretizer(encode=%q)", encode)
}

// normalizer maps Normalizer: each row divided by its l1 (Σ|x|), l2
// (√Σx²) or max (max |x|) norm, a norm below 10·ε taken as 1 (scikit-
// learn's _handle_zeros_in_scale).
func (b *builder) normalizer(o *pyobj.Object, cols []col) ([]col, error) {
	if err := b.numeric(cols, "Normalizer"); err != nil {
		return nil, err
	}
	norm, err := optStr(o, "norm")
	if err != nil {
		return nil, err
	}
	m := b.m
	x := slots(cols)
	n := len(x)
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	sum := func(in []int) int {
		s := m.Alloc(1)
		m.Add(&ir.Linear{In: in, Out: s, W: ones})
		return s[0]
	}
	var nv int
	switch norm {
	case "l1":
		nv = sum(m.Map(x, []ir.Op{{Kind: ir.OpAbs}}))
	case "l2", "":
		nv = m.Map([]int{sum(m.Map(x, []ir.Op{{Kind: ir.OpSquare}}))}, []ir.Op{{Kind: ir.OpPow, Vals: []float64{0.5}}})[0]
	case "max":
		a := m.Map(x, []ir.Op{{Kind: ir.OpAbs}})
		nv = a[0]
		for _, s := range a[1:] {
			next := m.Alloc(1)
			m.Add(&ir.Binary{A: []int{nv}, B: []int{s}, Out: next, Kind: ir.OpMax})
			nv = next[0]
		}
	default:
		return nil, ir.Unsupportedf("Normalizer(norm=%q)", norm)
	}
	tiny := m.Map([]int{nv}, []ir.Op{{Kind: ir.OpLess, Vals: []float64{10 * 0x1p-52}}})
	one := m.Map([]int{nv}, []ir.Op{{Kind: ir.OpSet, Vals: []float64{1}}})
	safe := m.Alloc(1)
	m.Add(&ir.Select{Cond: tiny, A: one, B: []int{nv}, Out: safe})
	den := make([]int, n)
	for i := range den {
		den[i] = safe[0]
	}
	out := m.Alloc(n)
	m.Add(&ir.Binary{A: x, B: den, Out: out, Kind: ir.OpDiv})
	return computed(out), nil
}
