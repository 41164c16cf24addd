package sklearn

import (
	"fmt"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// transformers map the transformers (the steps before a predictor) by
// class name (set in init: they call transform, which reads it).
var transformers map[string]func(b *builder, o *pyobj.Object, cols []col) ([]col, error)

func init() {
	transformers = map[string]func(b *builder, o *pyobj.Object, cols []col) ([]col, error){
		"ColumnTransformer":   (*builder).columnTransformer,
		"FunctionTransformer": (*builder).functionTransformer,
		"StandardScaler":      (*builder).scaler,
		"MinMaxScaler":        (*builder).scaler,
		"MaxAbsScaler":        (*builder).scaler,
		"RobustScaler":        (*builder).scaler,
		"SimpleImputer": func(b *builder, o *pyobj.Object, cols []col) ([]col, error) {
			return b.imputer(o, cols, nil)
		},
		"OneHotEncoder":      (*builder).oneHot,
		"OrdinalEncoder":     (*builder).ordinal,
		"TargetEncoder":      (*builder).targetEncoder,
		"PCA":                (*builder).projection,
		"TruncatedSVD":       (*builder).projection,
		"PolynomialFeatures": (*builder).polynomial,
		"Binarizer":          (*builder).binarizer,
		"Normalizer":         (*builder).normalizer,
		"KBinsDiscretizer":   (*builder).kBins,
		"VarianceThreshold":  (*builder).selection,
		"SelectKBest":        (*builder).selection,
		"SelectPercentile":   (*builder).selection,
	}
}

// transform maps a transformer (a step before the predictor) over cols.
func (b *builder) transform(v pyobj.Value, cols []col) ([]col, error) {
	switch v := v.(type) {
	case nil:
		return cols, nil // a step set to None
	case string:
		if v == "passthrough" {
			return cols, nil
		}
		return nil, ir.Invalidf("pipeline step %q", v)
	case *pyobj.Object:
		if shortName(v) == "Pipeline" {
			steps, err := pipelineSteps(v)
			if err != nil {
				return nil, err
			}
			return b.chain(steps, cols)
		}
		if t, ok := transformers[shortName(v)]; ok {
			return t(b, v, cols)
		}
		return nil, ir.Unsupportedf("%s", className(v))
	}
	return nil, ir.Invalidf("a %s where a transformer was expected", typeName(v))
}

// predictor maps the final estimator.
func (b *builder) predictor(o *pyobj.Object, cols []col) (*head, error) {
	switch shortName(o) {
	case "Pipeline":
		steps, err := pipelineSteps(o)
		if err != nil {
			return nil, err
		}
		if len(steps) == 0 {
			return nil, ir.Invalidf("empty Pipeline")
		}
		if cols, err = b.chain(steps[:len(steps)-1], cols); err != nil {
			return nil, err
		}
		last, ok := steps[len(steps)-1].(*pyobj.Object)
		if !ok {
			return nil, ir.Unsupportedf("a Pipeline whose last step is %s (no predict)", typeName(steps[len(steps)-1]))
		}
		return b.predictor(last, cols)
	case "LogisticRegression", "SGDClassifier", "LinearSVC", "RidgeClassifier", "LogisticRegressionCV", "RidgeClassifierCV",
		"Perceptron", "PassiveAggressiveClassifier", "LinearDiscriminantAnalysis":
		return b.linearClassifier(o, cols)
	case "LinearRegression", "Ridge", "Lasso", "ElasticNet", "SGDRegressor", "LinearSVR", "RidgeCV", "LassoCV", "ElasticNetCV",
		"MultiTaskLasso", "MultiTaskElasticNet", "MultiTaskLassoCV", "MultiTaskElasticNetCV", "Lars", "LarsCV", "LassoLars",
		"LassoLarsCV", "LassoLarsIC", "OrthogonalMatchingPursuit", "OrthogonalMatchingPursuitCV", "BayesianRidge",
		"ARDRegression", "HuberRegressor", "TheilSenRegressor", "QuantileRegressor", "PassiveAggressiveRegressor",
		"PoissonRegressor", "GammaRegressor", "TweedieRegressor":
		return b.linearRegressor(o, cols)
	case "OneVsRestClassifier":
		return b.oneVsRest(o, cols)
	case "DecisionTreeClassifier", "ExtraTreeClassifier", "RandomForestClassifier", "ExtraTreesClassifier":
		return b.forest(o, cols, true)
	case "DecisionTreeRegressor", "ExtraTreeRegressor", "RandomForestRegressor", "ExtraTreesRegressor":
		return b.forest(o, cols, false)
	case "GradientBoostingClassifier":
		return b.gradientBoosting(o, cols, true)
	case "GradientBoostingRegressor":
		return b.gradientBoosting(o, cols, false)
	case "HistGradientBoostingClassifier":
		return b.histGradientBoosting(o, cols, true)
	case "HistGradientBoostingRegressor":
		return b.histGradientBoosting(o, cols, false)
	case "GaussianNB":
		return b.gaussianNB(o, cols)
	case "MultinomialNB", "ComplementNB", "BernoulliNB":
		return b.discreteNB(o, cols)
	case "SVC", "NuSVC":
		return b.svc(o, cols)
	case "CalibratedClassifierCV":
		return b.calibrated(o, cols)
	case "VotingClassifier":
		return b.votingClassifier(o, cols)
	case "VotingRegressor":
		return b.votingRegressor(o, cols)
	case "TransformedTargetRegressor":
		return b.transformedTarget(o, cols)
	case "MultiOutputRegressor":
		return b.multiOutput(o, cols)
	case "AdaBoostClassifier":
		return b.adaBoost(o, cols)
	case "BaggingClassifier":
		return b.bagging(o, cols, true)
	case "BaggingRegressor":
		return b.bagging(o, cols, false)
	case "StackingClassifier":
		return b.stacking(o, cols, true)
	case "StackingRegressor":
		return b.stacking(o, cols, false)
	case "SVR", "NuSVR":
		return b.svr(o, cols)
	case "OneClassSVM":
		return b.oneClassSVM(o, cols)
	case "IsolationForest":
		return b.isolationForest(o, cols)
	case "NearestCentroid":
		return b.nearestCentroid(o, cols)
	case "KernelRidge":
		return b.kernelRidge(o, cols)
	case "KNeighborsClassifier":
		return b.kNeighbors(o, cols, true)
	case "KNeighborsRegressor":
		return b.kNeighbors(o, cols, false)
	case "MLPClassifier":
		return b.mlp(o, cols, true)
	case "MLPRegressor":
		return b.mlp(o, cols, false)
	}
	if _, ok := transformers[shortName(o)]; ok {
		return nil, ir.Unsupportedf("%s has no predict; serve a Pipeline that ends in a model", className(o))
	}
	return nil, ir.Unsupportedf("%s", className(o))
}

// chain maps transformers one after the other. A SimpleImputer followed
// by a OneHotEncoder that learned a missing category passes missing
// strings through: the encoder saw them at fit, so the imputer did not
// take them for missing (None in a pandas 2 object column is not NaN).
func (b *builder) chain(steps []pyobj.Value, cols []col) ([]col, error) {
	for i, s := range steps {
		var err error
		if o, ok := s.(*pyobj.Object); ok && shortName(o) == "SimpleImputer" && i+1 < len(steps) {
			if next, ok := steps[i+1].(*pyobj.Object); ok && shortName(next) == "OneHotEncoder" {
				cols, err = b.imputer(o, cols, missingCategories(next))
				if err != nil {
					return nil, err
				}
				continue
			}
		}
		if cols, err = b.transform(s, cols); err != nil {
			return nil, err
		}
	}
	return cols, nil
}

// missingCategories reports, per column, whether a OneHotEncoder has a
// missing (None or NaN) category.
func missingCategories(o *pyobj.Object) []bool {
	v, ok := o.Attr("categories_")
	if !ok {
		return nil
	}
	l, err := items(v)
	if err != nil {
		return nil
	}
	out := make([]bool, len(l))
	for i, c := range l {
		cats, err := categories(c)
		if err != nil {
			continue
		}
		for _, ct := range cats {
			out[i] = out[i] || ct.missing
		}
	}
	return out
}

// pipelineSteps returns the estimators of Pipeline.steps.
func pipelineSteps(o *pyobj.Object) ([]pyobj.Value, error) {
	v, err := attr(o, "steps")
	if err != nil {
		return nil, err
	}
	l, err := items(v)
	if err != nil {
		return nil, ir.Invalidf("Pipeline.steps: %v", err)
	}
	out := make([]pyobj.Value, len(l))
	for i, s := range l {
		t, ok := s.(pyobj.Tuple)
		if !ok || len(t) != 2 {
			return nil, ir.Invalidf("Pipeline.steps[%d] is not a (name, estimator) pair", i)
		}
		out[i] = t[1]
	}
	return out, nil
}

// columnTransformer applies each fitted transformer to its columns and
// concatenates the results in order.
func (b *builder) columnTransformer(o *pyobj.Object, cols []col) ([]col, error) {
	names, hasNames, err := featureNames(o)
	if err != nil {
		return nil, err
	}
	if hasNames && len(names) != len(cols) {
		return nil, ir.Invalidf("ColumnTransformer was fitted on %d columns and gets %d", len(names), len(cols))
	}
	v, err := attr(o, "transformers_")
	if err != nil {
		return nil, err
	}
	ts, err := items(v)
	if err != nil {
		return nil, ir.Invalidf("ColumnTransformer.transformers_: %v", err)
	}
	var out []col
	for i, tv := range ts {
		t, ok := tv.(pyobj.Tuple)
		if !ok || len(t) != 3 {
			return nil, ir.Invalidf("ColumnTransformer.transformers_[%d] is not a (name, transformer, columns) triple", i)
		}
		name, _ := str(t[0])
		idx, err := selectColumns(t[2], names, len(cols))
		if err != nil {
			return nil, ir.Invalidf("ColumnTransformer %q columns: %v", name, err)
		}
		if s, ok := str(t[1]); ok && s == "drop" {
			continue
		}
		if len(idx) == 0 {
			continue // sklearn skips transformers with no columns
		}
		sel := make([]col, len(idx))
		for j, k := range idx {
			sel[j] = cols[k]
		}
		res, err := b.transform(t[1], sel)
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	return out, nil
}

// selectColumns resolves a ColumnTransformer column spec to indices: a
// name, an int, a list or array of either, a slice, or a boolean mask.
func selectColumns(spec pyobj.Value, names []string, n int) ([]int, error) {
	byName := func(s string) (int, error) {
		for i, nm := range names {
			if nm == s {
				return i, nil
			}
		}
		if names == nil {
			return 0, fmt.Errorf("column %q selected by name, but the transformer has no feature names", s)
		}
		return 0, fmt.Errorf("no column %q", s)
	}
	byIndex := func(k int64) (int, error) {
		if k < 0 {
			k += int64(n)
		}
		if k < 0 || k >= int64(n) {
			return 0, fmt.Errorf("column index %d outside %d columns", k, n)
		}
		return int(k), nil
	}
	switch s := spec.(type) {
	case string:
		i, err := byName(s)
		return []int{i}, err
	case int64:
		i, err := byIndex(s)
		return []int{i}, err
	case *pyobj.Slice:
		return sliceColumns(s, byName, n)
	case *pyobj.Array:
		switch s.DType.Kind {
		case 'b':
			mask, err := s.Int64s()
			if err != nil {
				return nil, err
			}
			if len(mask) != n {
				return nil, fmt.Errorf("a mask of %d for %d columns", len(mask), n)
			}
			var out []int
			for i, m := range mask {
				if m != 0 {
					out = append(out, i)
				}
			}
			return out, nil
		case 'i', 'u':
			ks, err := s.Int64s()
			if err != nil {
				return nil, err
			}
			out := make([]int, len(ks))
			for i, k := range ks {
				if out[i], err = byIndex(k); err != nil {
					return nil, err
				}
			}
			return out, nil
		}
	}
	l, err := items(spec)
	if err != nil {
		if _, ok := spec.(*pyobj.Array); ok {
			if ss, err2 := strs(spec); err2 == nil {
				l = make([]pyobj.Value, len(ss))
				for i, x := range ss {
					l[i] = x
				}
				err = nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("a %s (callable column selectors are not supported)", typeName(spec))
		}
	}
	allBool := len(l) == n && len(l) > 0
	for _, e := range l {
		if _, ok := e.(bool); !ok {
			allBool = false
		}
	}
	var out []int
	for i, e := range l {
		switch e := e.(type) {
		case bool:
			if !allBool {
				return nil, fmt.Errorf("a boolean among column selectors")
			}
			if e {
				out = append(out, i)
			}
		case string:
			k, err := byName(e)
			if err != nil {
				return nil, err
			}
			out = append(out, k)
		default:
			k, err := integer(e)
			if err != nil {
				return nil, err
			}
			j, err := byIndex(k)
			if err != nil {
				return nil, err
			}
			out = append(out, j)
		}
	}
	return out, nil
}

// sliceColumns resolves a slice: integer bounds as Python's, name bounds
// inclusive (as pandas' loc).
func sliceColumns(s *pyobj.Slice, byName func(string) (int, error), n int) ([]int, error) {
	start, stop, step := 0, n, 1
	if s.Step != nil {
		k, err := integer(s.Step)
		if err != nil || k != 1 {
			return nil, fmt.Errorf("a slice with step %v", s.Step)
		}
	}
	bound := func(v pyobj.Value, def int, end bool) (int, error) {
		switch v := v.(type) {
		case nil:
			return def, nil
		case string:
			i, err := byName(v)
			if end {
				i++
			}
			return i, err
		}
		k, err := integer(v)
		if err != nil {
			return 0, err
		}
		if k < 0 {
			k += int64(n)
		}
		return int(max(0, min(k, int64(n)))), nil
	}
	var err error
	if start, err = bound(s.Start, 0, false); err != nil {
		return nil, err
	}
	if stop, err = bound(s.Stop, n, true); err != nil {
		return nil, err
	}
	var out []int
	for i := start; i < stop; i += step {
		out = append(out, i)
	}
	return out, nil
}

// functionTransformer passes columns through when it has no function (as
// scikit-learn 1.9 stores "passthrough"); any function is code, refused.
func (b *builder) functionTransformer(o *pyobj.Object, cols []col) ([]col, error) {
	if f, ok := o.Attr("func"); ok && f != nil {
		name := typeName(f)
		if g, ok := f.(*pyobj.Global); ok {
			name = g.String()
		}
		return nil, ir.Unsupportedf("FunctionTransformer with func=%s", name)
	}
	return cols, nil
}
