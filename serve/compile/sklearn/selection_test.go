package sklearn

import (
	"math"
	"slices"
	"testing"

	"mlbox/serve/compile/pyobj"
)

// TestPercentileMask checks SelectPercentile's mask against what
// scikit-learn's _get_support_mask gives for the same scores (ties and
// NaN included; the table was made with scikit-learn 1.9 and numpy 2.4).
func TestPercentileMask(t *testing.T) {
	cases := []struct {
		p      float64
		scores []float64
		want   []bool
	}{
		{7.0, []float64{0.055180123975368534, 0.8313278347754415, 0.36373689710058943, 0.979444999161446}, []bool{false, false, false, true}},
		{10.0, []float64{2.0, 0.5, 0.5, 3.5, 1.0}, []bool{false, false, false, true, false}},
		{25.0, []float64{0.6494588832440994, 0.8194727930524142, 0.24254040538005428, 0.7643726086611824, 0.11090076173906371, 0.20415474783059218}, []bool{false, true, false, true, false, false}},
		{33.3, []float64{1.0, 1.0, 1.0}, []bool{false, false, false}},
		{45.0, []float64{0.4921359986061542, 0.7318711002604598, 0.01458075109635204, 0.09336303363433629, 0.8265542486873563, 0.8334927420628391, 0.8924110171617035, 0.9580135044748375, 0.5613371205346787, 0.09054869553755707}, []bool{false, true, false, false, true, true, true, true, false, false}},
		{50.0, []float64{1.0, 2.0, 2.0, 1.0, 1.0, math.NaN(), 3.5}, []bool{false, true, true, false, false, false, true}},
		{66.0, []float64{0.8161676797255514, 0.9256434886576563, 0.0057350565425872135, 0.7205595731921262}, []bool{true, true, false, false}},
		{75.0, []float64{1.0, math.NaN()}, []bool{true, false}},
		{90.0, []float64{0.6966649294064508, 0.575413707416418, 0.5797213985135312, 0.06450689881253835, 0.17724612961510178, 0.3415270860974229, 0.6087025833938575, 0.19547495607235332}, []bool{true, true, true, false, true, true, true, true}},
		{99.0, []float64{0.5, 3.5, 3.5, math.NaN(), 1.0, 0.5, 2.0, 0.5, 0.5}, []bool{true, true, true, false, true, true, true, true, true}},
		{12.5, []float64{0.8119023911804106, 0.9266826152438743, 0.9126267637037832, 0.8248107204385254, 0.09420273217732267, 0.3610484184638091, 0.03550903176033027, 0.5463583485408069, 0.7961427208560042}, []bool{false, true, false, false, false, false, false, false, false}},
		{60.0, []float64{2.0, 3.5, 1.0, 0.5, 0.5, 1.0, math.NaN()}, []bool{true, true, true, false, false, true, false}},
		{80.0, []float64{0.5834997437200565, 0.9392993519648516, 0.9435400820158796}, []bool{false, true, true}},
		{37.0, []float64{1.0, 3.5, 1.0, 2.0}, []bool{false, true, false, true}},
		{50.0, []float64{1.0, 1.0, 1.0, 1.0, 2.0}, []bool{true, false, false, false, true}},
		{40.0, []float64{3.0, 3.0, 3.0, 3.0, 3.0}, []bool{true, true, false, false, false}},
		{30.0, []float64{2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0}, []bool{true, false, true, false, false, false, false}},
		{70.0, []float64{math.NaN(), 1.0, 1.0, math.NaN(), 0.5, 1.0}, []bool{false, true, true, false, true, true}},
		{55.0, []float64{0.1, 0.2, 0.2, 0.2, 0.3, 0.3}, []bool{false, true, false, false, true, true}},
	}
	for i, c := range cases {
		scores := make([]any, len(c.scores))
		for j, s := range c.scores {
			scores[j] = s
		}
		o := &pyobj.Object{Class: &pyobj.Global{Module: "sklearn.feature_selection._univariate_selection", Name: "SelectPercentile"},
			State: &pyobj.Dict{Keys: []pyobj.Value{"percentile", "scores_"}, Values: []pyobj.Value{c.p, &pyobj.List{Items: scores}}}}
		cols := make([]col, len(c.scores))
		for j := range cols {
			cols[j] = col{slot: j, input: j}
		}
		b := &builder{}
		out, err := b.selection(o, cols)
		got := make([]bool, len(cols))
		for _, oc := range out {
			got[oc.slot] = true
		}
		if err != nil && slices.Contains(c.want, true) || err == nil && !slices.Equal(got, c.want) {
			t.Errorf("case %d: percentile %v of %v: kept %v (%v), scikit-learn %v", i, c.p, c.scores, got, err, c.want)
		}
	}
}
