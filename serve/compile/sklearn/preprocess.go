package sklearn

import (
	"math"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// scaler maps StandardScaler, MinMaxScaler, MaxAbsScaler and RobustScaler
// to element-wise operations in scikit-learn's order.
func (b *builder) scaler(o *pyobj.Object, cols []col) ([]col, error) {
	name := shortName(o)
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	n := len(cols)
	var ops []ir.Op
	add := func(kind ir.OpKind, attr string) error {
		v, err := vector(o, attr, n)
		if err != nil {
			return err
		}
		ops = append(ops, ir.Op{Kind: kind, Vals: v})
		return nil
	}
	switch name {
	case "StandardScaler":
		withMean, err := optBool(o, "with_mean", true)
		if err != nil {
			return nil, err
		}
		withStd, err := optBool(o, "with_std", true)
		if err != nil {
			return nil, err
		}
		if withMean {
			if err := add(ir.OpSub, "mean_"); err != nil {
				return nil, err
			}
		}
		if s, ok := o.Attr("scale_"); withStd && ok && s != nil {
			if err := add(ir.OpDiv, "scale_"); err != nil {
				return nil, err
			}
		}
	case "MinMaxScaler":
		if err := add(ir.OpMul, "scale_"); err != nil {
			return nil, err
		}
		if err := add(ir.OpAdd, "min_"); err != nil {
			return nil, err
		}
		clip, err := optBool(o, "clip", false)
		if err != nil {
			return nil, err
		}
		if clip {
			fr, err := vector(o, "feature_range", 2)
			if err != nil {
				return nil, err
			}
			ops = append(ops, ir.Op{Kind: ir.OpMax, Vals: fr[:1]}, ir.Op{Kind: ir.OpMin, Vals: fr[1:]})
		}
	case "MaxAbsScaler":
		if err := add(ir.OpDiv, "scale_"); err != nil {
			return nil, err
		}
	case "RobustScaler":
		if c, ok := o.Attr("center_"); ok && c != nil {
			if on, err := optBool(o, "with_centering", true); err != nil {
				return nil, err
			} else if on {
				if err := add(ir.OpSub, "center_"); err != nil {
					return nil, err
				}
			}
		}
		if s, ok := o.Attr("scale_"); ok && s != nil {
			if on, err := optBool(o, "with_scaling", true); err != nil {
				return nil, err
			} else if on {
				if err := add(ir.OpDiv, "scale_"); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(ops) == 0 {
		return cols, nil
	}
	out := b.m.Alloc(n)
	b.m.Add(&ir.Map{In: slots(cols), Out: out, Ops: ops})
	return computed(out), nil
}

// imputer maps SimpleImputer: missing values become the fitted statistic;
// columns whose statistic is NaN are dropped (unless keep_empty_features);
// add_indicator appends 0/1 columns. passMissing[i] leaves missing values
// of string column i as they are (see chain).
func (b *builder) imputer(o *pyobj.Object, cols []col, passMissing []bool) ([]col, error) {
	strategy, err := optStr(o, "strategy")
	if err != nil {
		return nil, err
	}
	switch strategy {
	case "mean", "median", "most_frequent", "constant":
	default:
		return nil, ir.Unsupportedf("SimpleImputer(strategy=%q)", strategy)
	}
	mv, _ := o.Attr("missing_values")
	statsV, err := attr(o, "statistics_")
	if err != nil {
		return nil, err
	}
	stats, err := categories(statsV)
	if err != nil {
		return nil, ir.Invalidf("SimpleImputer.statistics_: %v", err)
	}
	if len(stats) != len(cols) {
		return nil, ir.Invalidf("SimpleImputer has %d statistics for %d columns", len(stats), len(cols))
	}
	keep, err := optBool(o, "keep_empty_features", false)
	if err != nil {
		return nil, err
	}
	// The missing-value marker in a column's terms.
	match := func(c col) (float64, error) {
		mc := catValue(mv)
		switch {
		case mc.missing:
			return math.NaN(), nil
		case mc.isStr:
			if !c.str {
				return 0, ir.Unsupportedf("SimpleImputer(missing_values=%q) on the numeric column", mc.s)
			}
			return b.code(c.strIn, mc.s), nil
		}
		return mc.f, nil
	}
	var out []col
	for i, c := range cols {
		st := stats[i]
		if st.missing && !keep {
			continue // dropped: all missing at fit
		}
		m, err := match(c)
		if err != nil {
			return nil, err
		}
		fill := st.f
		switch {
		case st.missing:
			fill = 0
		case st.isStr:
			if err := b.makeString(&c, "SimpleImputer"); err != nil {
				return nil, err
			}
			fill = b.code(c.strIn, st.s)
		case c.str:
			return nil, ir.Unsupportedf("SimpleImputer fills the string column %q with a number", b.m.Inputs[c.strIn].Name)
		}
		if c.str && isNaN(m) && len(out) < len(passMissing) && passMissing[len(out)] {
			out = append(out, c)
			continue
		}
		s := b.m.Alloc(1)
		b.m.Add(&ir.Map{In: []int{c.slot}, Out: s, Ops: []ir.Op{{Kind: ir.OpReplace, Vals: []float64{fill}, Match: m}}})
		nc := col{slot: s[0], input: -1, str: c.str, strIn: c.strIn}
		out = append(out, nc)
	}
	addInd, err := optBool(o, "add_indicator", false)
	if err != nil {
		return nil, err
	}
	if ind, ok := o.Attr("indicator_"); addInd && ok && ind != nil {
		io, ok := ind.(*pyobj.Object)
		if !ok || shortName(io) != "MissingIndicator" {
			return nil, ir.Invalidf("SimpleImputer.indicator_ is a %s", typeName(ind))
		}
		fv, err := attr(io, "features_")
		if err != nil {
			return nil, err
		}
		feats, _, err := floats(fv)
		if err != nil {
			return nil, ir.Invalidf("MissingIndicator.features_: %v", err)
		}
		for _, f := range feats {
			k := int(f)
			if float64(k) != f || k < 0 || k >= len(cols) {
				return nil, ir.Invalidf("MissingIndicator feature %v outside %d columns", f, len(cols))
			}
			m, err := match(cols[k])
			if err != nil {
				return nil, err
			}
			s := b.m.Alloc(1)
			b.m.Add(&ir.Map{In: []int{cols[k].slot}, Out: s, Ops: []ir.Op{{Kind: ir.OpIsMissing, Match: m}}})
			out = append(out, col{slot: s[0], input: -1})
		}
	}
	return out, nil
}

// oneHot maps OneHotEncoder, with scikit-learn's infrequent-category
// grouping, drop, and unknown-value policies.
func (b *builder) oneHot(o *pyobj.Object, cols []col) ([]col, error) {
	cv, err := attr(o, "categories_")
	if err != nil {
		return nil, err
	}
	cl, err := items(cv)
	if err != nil {
		return nil, ir.Invalidf("OneHotEncoder.categories_: %v", err)
	}
	if len(cl) != len(cols) {
		return nil, ir.Invalidf("OneHotEncoder has categories for %d columns and gets %d", len(cl), len(cols))
	}
	handle, err := optStr(o, "handle_unknown")
	if err != nil {
		return nil, err
	}
	switch handle {
	case "", "error":
		handle = "error"
	case "ignore", "infrequent_if_exist", "warn":
	default:
		return nil, ir.Unsupportedf("OneHotEncoder(handle_unknown=%q)", handle)
	}
	infrequent, err := optBool(o, "_infrequent_enabled", false)
	if err != nil {
		return nil, err
	}
	perFeature := func(name string) ([]pyobj.Value, error) {
		v, ok := o.Attr(name)
		if !ok || v == nil {
			return nil, nil
		}
		l, err := items(v)
		if err != nil {
			return nil, ir.Invalidf("OneHotEncoder.%s: %v", name, err)
		}
		if len(l) != len(cols) {
			return nil, ir.Invalidf("OneHotEncoder.%s has %d entries for %d columns", name, len(l), len(cols))
		}
		return l, nil
	}
	drops, err := perFeature("_drop_idx_after_grouping")
	if err != nil {
		return nil, err
	}
	if _, ok := o.Attr("_drop_idx_after_grouping"); !ok {
		if drops, err = perFeature("drop_idx_"); err != nil {
			return nil, err
		}
	}
	var infreqIdx, mappings []pyobj.Value
	if infrequent {
		if infreqIdx, err = perFeature("_infrequent_indices"); err != nil {
			return nil, err
		}
		if mappings, err = perFeature("_default_to_infrequent_mappings"); err != nil {
			return nil, err
		}
	}
	var out []col
	for i, c := range cols {
		cats, err := categories(cl[i])
		if err != nil {
			return nil, ir.Invalidf("OneHotEncoder.categories_[%d]: %v", i, err)
		}
		if len(cats) > ir.MaxCategories {
			return nil, ir.Unsupportedf("OneHotEncoder column with %d categories", len(cats))
		}
		hasStr := false
		for _, ct := range cats {
			hasStr = hasStr || ct.isStr
		}
		if hasStr {
			if err := b.makeString(&c, "OneHotEncoder"); err != nil {
				return nil, err
			}
		} else if c.str {
			return nil, ir.Unsupportedf("OneHotEncoder has numeric categories for the string column %q", b.m.Inputs[c.strIn].Name)
		}
		// group[k]: the encoded index of category k before the drop.
		group := make([]int, len(cats))
		for k := range group {
			group[k] = k
		}
		nGroups := len(cats)
		infreqGroup := -1
		if mappings != nil && mappings[i] != nil {
			mp, _, err := floats(mappings[i])
			if err != nil || len(mp) != len(cats) {
				return nil, ir.Invalidf("OneHotEncoder infrequent mapping of column %d", i)
			}
			nGroups = 0
			for k, g := range mp {
				if g < 0 || g >= float64(len(cats)) || g != math.Trunc(g) {
					return nil, ir.Invalidf("OneHotEncoder infrequent mapping of column %d", i)
				}
				group[k] = int(g)
				nGroups = max(nGroups, int(g)+1)
			}
			if infreqIdx != nil && infreqIdx[i] != nil {
				ii, _, err := floats(infreqIdx[i])
				if err != nil || len(ii) == 0 || ii[0] < 0 || int(ii[0]) >= len(cats) {
					return nil, ir.Invalidf("OneHotEncoder infrequent indices of column %d", i)
				}
				infreqGroup = group[int(ii[0])]
			}
		}
		drop := -1
		if drops != nil && drops[i] != nil {
			d, err := integer(drops[i])
			if err != nil || d < 0 || d >= int64(nGroups) {
				return nil, ir.Invalidf("OneHotEncoder drop index of column %d", i)
			}
			drop = int(d)
		}
		adjust := func(g int) int {
			switch {
			case drop < 0 || g < drop:
				return g
			case g == drop:
				return -1
			}
			return g - 1
		}
		width := nGroups
		if drop >= 0 {
			width--
		}
		st := &ir.OneHot{In: c.slot, Cats: make([]float64, len(cats)), Cols: make([]int, len(cats)), Column: b.colName(c, i)}
		for k, ct := range cats {
			switch {
			case ct.missing:
				st.Cats[k] = math.NaN()
			case ct.isStr:
				st.Cats[k] = b.code(c.strIn, ct.s)
			default:
				st.Cats[k] = ct.f
			}
			st.Cols[k] = adjust(group[k])
		}
		switch {
		case handle == "error":
			st.Unknown = ir.UnknownError
		case infreqGroup >= 0 && handle != "ignore" && adjust(infreqGroup) >= 0:
			st.Unknown, st.UnknownCol = ir.UnknownColumn, adjust(infreqGroup)
		default:
			st.Unknown = ir.UnknownIgnore
		}
		st.Out = b.m.Alloc(width)
		if width == 0 {
			continue
		}
		b.m.Add(st)
		out = append(out, computed(st.Out)...)
	}
	return out, nil
}

// colName names a column for messages: its input's name, else its
// position.
func (b *builder) colName(c col, i int) string {
	switch {
	case c.input >= 0:
		return b.m.Inputs[c.input].Name
	case c.str:
		return b.m.Inputs[c.strIn].Name
	}
	return "#" + itoa(i)
}

// ordinal maps OrdinalEncoder: each value to the index of its category;
// the missing category (NaN among the categories; None is an ordinary
// one) to encoded_missing_value, and with
// handle_unknown="use_encoded_value" anything else to unknown_value (else
// an unknown value is the request's error, as in scikit-learn).
func (b *builder) ordinal(o *pyobj.Object, cols []col) ([]col, error) {
	cl, err := encoderCategories(o, len(cols))
	if err != nil {
		return nil, err
	}
	if infrequent, err := optBool(o, "_infrequent_enabled", false); err != nil {
		return nil, err
	} else if infrequent {
		return nil, ir.Unsupportedf("OrdinalEncoder with infrequent categories (min_frequency or max_categories)")
	}
	handle, err := optStr(o, "handle_unknown")
	if err != nil {
		return nil, err
	}
	special := func(name string) (float64, error) {
		v, ok := o.Attr(name)
		if !ok || v == nil {
			return math.NaN(), nil
		}
		f, err := number(v)
		if err != nil {
			return 0, ir.Invalidf("OrdinalEncoder.%s: %v", name, err)
		}
		return f, nil
	}
	var unknownValue float64
	switch handle {
	case "", "error":
		handle = "error"
	case "use_encoded_value":
		if unknownValue, err = special("unknown_value"); err != nil {
			return nil, err
		}
	default:
		return nil, ir.Unsupportedf("OrdinalEncoder(handle_unknown=%q)", handle)
	}
	missingValue, err := special("encoded_missing_value")
	if err != nil {
		return nil, err
	}
	m := b.m
	// constant returns a column holding v.
	constant := func(at int, v float64) int {
		return m.Map([]int{at}, []ir.Op{{Kind: ir.OpSet, Vals: []float64{v}}})[0]
	}
	var out []col
	for i, c := range cols {
		oh, cats, err := b.categoryLookup(c, i, cl[i], "OrdinalEncoder", handle == "use_encoded_value")
		if err != nil {
			return nil, err
		}
		n := len(cats)
		w := make([]float64, n)
		missing := -1
		for k, ct := range cats {
			w[k] = float64(k)
			// None is a category like any other to OrdinalEncoder (pandas
			// 2 keeps missing strings as None); NaN is the missing one.
			if ct.missing && !ct.none {
				w[k], missing = 0, k
			}
		}
		m.Add(oh)
		code := m.Alloc(1)
		m.Add(&ir.Linear{In: oh.Out[:n], Out: code, W: w})
		// The missing category and unknown values take their own values
		// (NaN by default, which no sum of weights can give).
		pick := func(cond int, v float64) {
			s := m.Alloc(1)
			m.Add(&ir.Select{Cond: []int{cond}, A: []int{constant(code[0], v)}, B: code, Out: s})
			code = s
		}
		if missing >= 0 {
			pick(oh.Out[missing], missingValue)
		}
		if handle == "use_encoded_value" {
			pick(oh.Out[n], unknownValue)
		}
		out = append(out, computed(code)...)
	}
	return out, nil
}

// targetEncoder maps TargetEncoder: each value to its category's fitted
// encoding (one column per feature, or per feature and class for a
// multiclass target), an unknown value to the target mean.
func (b *builder) targetEncoder(o *pyobj.Object, cols []col) ([]col, error) {
	const name = "TargetEncoder"
	cl, err := encoderCategories(o, len(cols))
	if err != nil {
		return nil, err
	}
	ev, err := attr(o, "encodings_")
	if err != nil {
		return nil, err
	}
	encs, err := items(ev)
	if err != nil || len(encs) == 0 || len(encs)%len(cols) != 0 {
		return nil, ir.Invalidf("TargetEncoder.encodings_: %d for %d columns, %v", len(encs), len(cols), err)
	}
	per := len(encs) / len(cols) // classes of a multiclass target, else 1
	mv, err := attr(o, "target_mean_")
	if err != nil {
		return nil, err
	}
	means, _, err := floats(mv)
	if err != nil || len(means) != per {
		return nil, ir.Invalidf("TargetEncoder.target_mean_ has %d values for %d per column (%v)", len(means), per, err)
	}
	m := b.m
	var out []col
	for i, c := range cols {
		oh, cats, err := b.categoryLookup(c, i, cl[i], name, true)
		if err != nil {
			return nil, err
		}
		n := len(cats)
		m.Add(oh)
		for e := range per {
			enc, _, err := floats(encs[i*per+e])
			if err != nil || len(enc) != n {
				return nil, ir.Invalidf("TargetEncoder.encodings_[%d] has %d values for %d categories (%v)", i*per+e, len(enc), n, err)
			}
			w := append(append([]float64{}, enc...), means[e])
			for _, v := range w {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, ir.Invalidf("TargetEncoder holds an encoding of %v", v)
				}
			}
			s := m.Alloc(1)
			m.Add(&ir.Linear{In: oh.Out, Out: s, W: w}) // one term is 1·w, the others 0
			out = append(out, computed(s)...)
		}
	}
	return out, nil
}

// encoderCategories reads an encoder's categories_, one entry per column
// of the n it gets.
func encoderCategories(o *pyobj.Object, n int) ([]pyobj.Value, error) {
	cv, err := attr(o, "categories_")
	if err != nil {
		return nil, err
	}
	cl, err := items(cv)
	if err != nil || len(cl) != n {
		return nil, ir.Invalidf("%s.categories_ for %d columns: %v", shortName(o), n, err)
	}
	return cl, nil
}

// categoryLookup reads the categories cv of column c (the i-th an encoder
// gets) and makes its lookup: a OneHot step, not yet added, whose Out[k]
// is 1 for category k (a missing category, None or NaN, matching a
// missing value; string categories make c a string column) and Out[n],
// with unknown, for any other value (else such a value is the request's
// error). who names the encoder in errors.
func (b *builder) categoryLookup(c col, i int, cv pyobj.Value, who string, unknown bool) (*ir.OneHot, []category, error) {
	cats, err := categories(cv)
	if err != nil {
		return nil, nil, ir.Invalidf("%s.categories_[%d]: %v", who, i, err)
	}
	n := len(cats)
	if n == 0 || n > ir.MaxCategories {
		return nil, nil, ir.Unsupportedf("a %s column with %d categories", who, n)
	}
	hasStr := false
	for _, ct := range cats {
		hasStr = hasStr || ct.isStr
	}
	if hasStr {
		if err := b.makeString(&c, who); err != nil {
			return nil, nil, err
		}
	} else if c.str {
		return nil, nil, ir.Unsupportedf("%s has numeric categories for the string column %q", who, b.m.Inputs[c.strIn].Name)
	}
	oh := &ir.OneHot{In: c.slot, Cats: make([]float64, n), Cols: make([]int, n), Unknown: ir.UnknownError, Column: b.colName(c, i)}
	if unknown {
		oh.Unknown, oh.UnknownCol = ir.UnknownColumn, n
	}
	for k, ct := range cats {
		oh.Cols[k] = k
		switch {
		case ct.missing:
			oh.Cats[k] = math.NaN()
		case ct.isStr:
			oh.Cats[k] = b.code(c.strIn, ct.s)
		default:
			oh.Cats[k] = ct.f
		}
	}
	oh.Out = b.m.Alloc(n + 1)
	return oh, cats, nil
}
