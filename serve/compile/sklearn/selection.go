package sklearn

import (
	"math"
	"sort"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// selection maps VarianceThreshold, SelectKBest and SelectPercentile: the
// columns their fitted mask keeps, computed as scikit-learn's
// _get_support_mask does. No step: the kept columns go on as they are.
func (b *builder) selection(o *pyobj.Object, cols []col) ([]col, error) {
	name := shortName(o)
	n := len(cols)
	var keep []bool
	switch name {
	case "VarianceThreshold":
		v, err := vector(o, "variances_", n)
		if err != nil {
			return nil, err
		}
		tv, err := attr(o, "threshold")
		if err != nil {
			return nil, err
		}
		t, err := number(tv)
		if err != nil {
			return nil, ir.Invalidf("VarianceThreshold.threshold: %v", err)
		}
		keep = make([]bool, n)
		for i := range v {
			keep[i] = v[i] > t
		}
	case "SelectKBest", "SelectPercentile":
		scores, err := vector(o, "scores_", n)
		if err != nil {
			return nil, err
		}
		for i, s := range scores { // _clean_nans
			if math.IsNaN(s) {
				scores[i] = -math.MaxFloat64
			}
		}
		if name == "SelectKBest" {
			keep, err = kBest(o, scores)
		} else {
			keep, err = percentile(o, scores)
		}
		if err != nil {
			return nil, err
		}
	}
	var out []col
	for i, c := range cols {
		if keep[i] {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, ir.Unsupportedf("%s keeps no column", name)
	}
	return out, nil
}

// kBest is SelectKBest's mask: the last k of a stable ascending sort of
// the scores ("all": every column).
func kBest(o *pyobj.Object, scores []float64) ([]bool, error) {
	kv, err := attr(o, "k")
	if err != nil {
		return nil, err
	}
	keep := make([]bool, len(scores))
	if s, ok := kv.(string); ok {
		if s != "all" {
			return nil, ir.Invalidf("SelectKBest.k is %q", s)
		}
		for i := range keep {
			keep[i] = true
		}
		return keep, nil
	}
	k, err := integer(kv)
	if err != nil || k < 0 || k > int64(len(scores)) {
		return nil, ir.Invalidf("SelectKBest.k is %v for %d columns", kv, len(scores))
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, c int) bool { return scores[idx[a]] < scores[idx[c]] })
	for _, i := range idx[len(idx)-int(k):] {
		keep[i] = true
	}
	return keep, nil
}

// percentile is SelectPercentile's mask: the scores above numpy's linear
// percentile at 100 - percentile, then the first of the scores equal to
// it up to int(n·percentile/100) columns in all.
func percentile(o *pyobj.Object, scores []float64) ([]bool, error) {
	pv, err := attr(o, "percentile")
	if err != nil {
		return nil, err
	}
	p, err := number(pv)
	if err != nil || !(p >= 0 && p <= 100) {
		return nil, ir.Invalidf("SelectPercentile.percentile is %v", pv)
	}
	n := len(scores)
	keep := make([]bool, n)
	switch p {
	case 100:
		for i := range keep {
			keep[i] = true
		}
		return keep, nil
	case 0:
		return keep, nil
	}
	sorted := append([]float64{}, scores...)
	sort.Float64s(sorted)
	q := (100 - p) / 100
	// numpy's virtual index for the linear method: n·q + (1 - q) - 1.
	v := (float64(n)*q + (1 - q)) - 1
	lo := math.Floor(v)
	g := v - lo
	i0 := min(max(int(lo), 0), n-1)
	i1 := min(max(int(lo)+1, 0), n-1)
	a, c := sorted[i0], sorted[i1]
	d := c - a
	t := a + d*g // numpy's _lerp
	if g >= 0.5 {
		t = c - d*(1-g)
	}
	kept := 0
	for i, s := range scores {
		if s > t {
			keep[i] = true
			kept++
		}
	}
	room := int(float64(n)*p/100) - kept
	for i, s := range scores {
		if room <= 0 {
			break
		}
		if s == t {
			keep[i] = true
			room--
		}
	}
	return keep, nil
}
