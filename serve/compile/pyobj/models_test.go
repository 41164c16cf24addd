package pyobj

import (
	"math"
	"slices"
	"testing"
)

// The same checks run on every format a model was saved in.

func checkPipelineLR(t *testing.T, e *expectations, v Value) {
	want := &e.PipelineLR
	p := mustObject(t, v, "sklearn.pipeline.Pipeline")
	steps := mustList(t, mustAttr(t, p, "steps"))
	if len(steps) != 2 {
		t.Fatalf("%d steps", len(steps))
	}
	s0, s1 := mustList(t, steps[0]), mustList(t, steps[1])
	if s0[0] != "scaler" || s1[0] != "clf" {
		t.Errorf("step names %v, %v", s0[0], s1[0])
	}
	scaler := mustObject(t, s0[1], "sklearn.preprocessing._data.StandardScaler")
	if got := mustFloats(t, mustAttr(t, scaler, "mean_")); !equalFloats(got, want.Mean) {
		t.Errorf("mean_ %v, want %v", got, want.Mean)
	}
	if got := mustFloats(t, mustAttr(t, scaler, "scale_")); !equalFloats(got, want.Scale) {
		t.Errorf("scale_ %v, want %v", got, want.Scale)
	}
	if wm, _ := scaler.Attr("with_mean"); wm != true {
		t.Errorf("with_mean %v", wm)
	}
	ns := mustArray(t, mustAttr(t, scaler, "n_samples_seen_"))
	if len(ns.Shape) != 0 || ns.DType.String() != "<f8" {
		t.Errorf("n_samples_seen_ is a %s array of shape %v, want a numpy.float64 scalar", ns.DType, ns.Shape)
	}
	if got := mustInts(t, ns); len(got) != 1 || got[0] != int64(want.NSamplesSeen) {
		t.Errorf("n_samples_seen_ %v", got)
	}
	if got := mustAttr(t, scaler, "_sklearn_version"); got != want.SklearnVersion {
		t.Errorf("_sklearn_version %v", got)
	}
	if _, ok := scaler.Attr("feature_names_in_"); ok {
		t.Errorf("feature_names_in_ present; the scaler was fitted on an ndarray")
	}

	lr := mustObject(t, s1[1], "sklearn.linear_model._logistic.LogisticRegression")
	coef := mustArray(t, mustAttr(t, lr, "coef_"))
	if !slices.Equal(coef.Shape, want.CoefShape) {
		t.Errorf("coef_ shape %v, want %v", coef.Shape, want.CoefShape)
	}
	if coef.DType.String() != "<f8" {
		t.Errorf("coef_ dtype %s", coef.DType)
	}
	if coef.Fortran != want.CoefFortran {
		t.Errorf("coef_ Fortran %v, want %v", coef.Fortran, want.CoefFortran)
	}
	if got := mustFloats(t, coef); !equalFloats(got, flatten2(want.Coef)) {
		t.Errorf("coef_ %v, want %v", got, want.Coef)
	}
	if got := mustFloats(t, mustAttr(t, lr, "intercept_")); !equalFloats(got, want.Intercept) {
		t.Errorf("intercept_ %v, want %v", got, want.Intercept)
	}
	if got := mustInts(t, mustAttr(t, lr, "classes_")); !equalInts(got, want.Classes) {
		t.Errorf("classes_ %v, want %v", got, want.Classes)
	}
	if c, _ := lr.Attr("C"); c != 1.0 {
		t.Errorf("C = %v", c)
	}
	if c, _ := lr.Attr("max_iter"); c != int64(500) {
		t.Errorf("max_iter = %v", c)
	}
}

func checkRF3(t *testing.T, e *expectations, v Value) {
	want := &e.RF3
	rf := mustObject(t, v, "sklearn.ensemble._forest.RandomForestClassifier")
	if got := mustFloats(t, mustAttr(t, rf, "classes_")); !equalFloats(got, want.Classes) {
		t.Errorf("classes_ %v", got)
	}
	trees := mustList(t, mustAttr(t, rf, "estimators_"))
	if len(trees) != len(want.Trees) {
		t.Fatalf("%d trees, want %d", len(trees), len(want.Trees))
	}
	for i, tv := range trees {
		wt := want.Trees[i]
		dt := mustObject(t, tv, "sklearn.tree._classes.DecisionTreeClassifier")
		tree := mustObject(t, mustAttr(t, dt, "tree_"), "sklearn.tree._tree.Tree")
		if len(tree.Args) != 3 || tree.Args[0] != int64(wt.NFeatures) || tree.Args[2] != int64(1) {
			t.Errorf("tree %d Args %v", i, tree.Args)
		}
		if got := mustInts(t, tree.Args[1]); !equalInts(got, []int64{3}) {
			t.Errorf("tree %d n_classes %v", i, got)
		}
		if got := mustAttr(t, tree, "node_count"); got != int64(wt.NodeCount) {
			t.Errorf("tree %d node_count %v", i, got)
		}
		if got := mustAttr(t, tree, "max_depth"); got != int64(wt.MaxDepth) {
			t.Errorf("tree %d max_depth %v", i, got)
		}
		nodes := mustArray(t, mustAttr(t, tree, "nodes"))
		if nodes.DType.Kind != 'V' || nodes.DType.Size != 64 || !slices.Equal(nodes.Shape, []int{wt.NodeCount}) {
			t.Fatalf("tree %d nodes: %s %v", i, nodes.DType, nodes.Shape)
		}
		field := func(name string) *Array {
			f, err := nodes.Field(name)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
		if got := mustInts(t, field("left_child")); !equalInts(got, wt.LeftChild) {
			t.Errorf("tree %d left_child %v, want %v", i, got, wt.LeftChild)
		}
		if got := mustInts(t, field("right_child")); !equalInts(got, wt.RightChild) {
			t.Errorf("tree %d right_child %v, want %v", i, got, wt.RightChild)
		}
		if got := mustInts(t, field("feature")); !equalInts(got, wt.Feature) {
			t.Errorf("tree %d feature %v, want %v", i, got, wt.Feature)
		}
		if got := mustFloats(t, field("threshold")); !equalFloats(got, wt.Threshold) {
			t.Errorf("tree %d threshold %v, want %v", i, got, wt.Threshold)
		}
		if got := mustInts(t, field("missing_go_to_left")); !equalInts(got, wt.MissingGoToLeft) {
			t.Errorf("tree %d missing_go_to_left %v, want %v", i, got, wt.MissingGoToLeft)
		}
		values := mustArray(t, mustAttr(t, tree, "values"))
		if !slices.Equal(values.Shape, wt.ValuesShape) {
			t.Errorf("tree %d values shape %v, want %v", i, values.Shape, wt.ValuesShape)
		}
		if got := mustFloats(t, values); !equalFloats(got, wt.Values) {
			t.Errorf("tree %d values %v, want %v", i, got, wt.Values)
		}
	}
}

func checkOneHot(t *testing.T, e *expectations, v Value) {
	want := &e.OneHot
	enc := mustObject(t, v, "sklearn.preprocessing._encoders.OneHotEncoder")
	cats := mustList(t, mustAttr(t, enc, "categories_"))
	if len(cats) != len(want.Categories) {
		t.Fatalf("%d categories_", len(cats))
	}
	for i, c := range cats {
		a := mustArray(t, c)
		if a.DType.Kind != 'O' {
			t.Errorf("categories_[%d] dtype %s", i, a.DType)
		}
		got, err := a.Strings()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want.Categories[i]) {
			t.Errorf("categories_[%d] %q, want %q", i, got, want.Categories[i])
		}
	}
	if got := mustAttr(t, enc, "handle_unknown"); got != want.HandleUnknown {
		t.Errorf("handle_unknown %v", got)
	}
	if g, ok := mustAttr(t, enc, "dtype").(*Global); !ok || g.String() != "numpy.float64" {
		t.Errorf("dtype %v", mustAttr(t, enc, "dtype"))
	}
}

func checkImputer(t *testing.T, e *expectations, v Value) {
	want := &e.Imputer
	imp := mustObject(t, v, "sklearn.impute._base.SimpleImputer")
	if got := mustFloats(t, mustAttr(t, imp, "statistics_")); !equalFloats(got, want.Statistics) {
		t.Errorf("statistics_ %v, want %v", got, want.Statistics)
	}
	if got := mustAttr(t, imp, "strategy"); got != want.Strategy {
		t.Errorf("strategy %v", got)
	}
	if mv, ok := mustAttr(t, imp, "missing_values").(float64); !ok || !math.IsNaN(mv) {
		t.Errorf("missing_values %v", mustAttr(t, imp, "missing_values"))
	}
	dt, ok := mustAttr(t, imp, "_fit_dtype").(*DType)
	if !ok || dt.String() != want.FitDType {
		t.Errorf("_fit_dtype %v, want %s", mustAttr(t, imp, "_fit_dtype"), want.FitDType)
	}
}

func checkGB(t *testing.T, e *expectations, v Value) {
	want := &e.GB
	gb := mustObject(t, v, "sklearn.ensemble._gb.GradientBoostingClassifier")
	est := mustArray(t, mustAttr(t, gb, "estimators_"))
	if est.DType.Kind != 'O' || !slices.Equal(est.Shape, want.EstimatorsShape) || len(est.Objects) != est.Len() {
		t.Fatalf("estimators_ is a %s array of shape %v with %d objects", est.DType, est.Shape, len(est.Objects))
	}
	for i, o := range est.Objects {
		dt := mustObject(t, o, "sklearn.tree._classes.DecisionTreeRegressor")
		tree := mustObject(t, mustAttr(t, dt, "tree_"), "sklearn.tree._tree.Tree")
		if got := mustAttr(t, tree, "node_count"); got != want.NodeCounts[i] {
			t.Errorf("estimator %d node_count %v, want %v", i, got, want.NodeCounts[i])
		}
		nodes := mustArray(t, mustAttr(t, tree, "nodes"))
		th, err := nodes.Field("threshold")
		if err != nil {
			t.Fatal(err)
		}
		if got := mustFloats(t, th); got[0] != want.RootThresholds[i] {
			t.Errorf("estimator %d root threshold %v, want %v", i, got[0], want.RootThresholds[i])
		}
	}
	if got := mustAttr(t, gb, "learning_rate"); got != want.LearningRate {
		t.Errorf("learning_rate %v", got)
	}
	init := mustObject(t, mustAttr(t, gb, "init_"), "sklearn.dummy.DummyClassifier")
	if got := mustFloats(t, mustAttr(t, init, "class_prior_")); !equalFloats(got, want.ClassPrior) {
		t.Errorf("class_prior_ %v, want %v", got, want.ClassPrior)
	}
	// The random state is opaque, but it is there.
	if rs, ok := mustAttr(t, gb, "_rng").(*Object); !ok || rs.State == nil {
		t.Errorf("_rng %v", mustAttr(t, gb, "_rng"))
	}
}

func checkHGB(t *testing.T, e *expectations, v Value) {
	want := &e.HGB
	hgb := mustObject(t, v, "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier")
	its := mustList(t, mustAttr(t, hgb, "_predictors"))
	if len(its) != want.NIter {
		t.Fatalf("%d iterations", len(its))
	}
	for i, it := range its {
		for k, p := range mustList(t, it) {
			pred := mustObject(t, p, "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor")
			nodes := mustArray(t, mustAttr(t, pred, "nodes"))
			if nodes.DType.Size != 56 {
				t.Errorf("TreePredictor nodes itemsize %d", nodes.DType.Size)
			}
			val, err := nodes.Field("value")
			if err != nil {
				t.Fatal(err)
			}
			if got := mustFloats(t, val); !equalFloats(got, want.NodeValues[i][k]) {
				t.Errorf("predictor %d,%d values %v, want %v", i, k, got, want.NodeValues[i][k])
			}
		}
	}
	base := mustArray(t, mustAttr(t, hgb, "_baseline_prediction"))
	if !slices.Equal(base.Shape, want.BaselineShape) || !equalFloats(mustFloats(t, base), want.Baseline) {
		t.Errorf("_baseline_prediction %v %v", base.Shape, mustFloats(t, base))
	}
	isCat := mustInts(t, mustAttr(t, hgb, "is_categorical_"))
	for i, c := range want.IsCategorical {
		if (isCat[i] != 0) != c {
			t.Errorf("is_categorical_ %v, want %v", isCat, want.IsCategorical)
		}
	}
	pre := mustObject(t, mustAttr(t, hgb, "_preprocessor"), "sklearn.compose._column_transformer.ColumnTransformer")
	var names []string
	var fn Value
	for _, tr := range mustList(t, mustAttr(t, pre, "transformers_")) {
		tr := mustList(t, tr)
		names = append(names, tr[0].(string))
		if tr[0] == "numerical" {
			ft := mustObject(t, tr[1], "sklearn.preprocessing._function_transformer.FunctionTransformer")
			fn = mustAttr(t, ft, "func")
		}
	}
	if !slices.Equal(names, want.Transformers) {
		t.Errorf("transformers_ %v, want %v", names, want.Transformers)
	}
	// functools.partial(check_array, ...): the same shape in both formats.
	partial := mustObject(t, fn, "functools.partial")
	if g, ok := partial.Args[0].(*Global); !ok || g.String() != want.PartialFunc {
		t.Errorf("partial func %v", partial.Args)
	}
	if st, ok := partial.State.(Tuple); !ok || len(st) != 4 || st[0] != partial.Args[0] {
		t.Errorf("partial state %v", partial.State)
	} else if kw, ok := st[2].(*Dict); !ok || kw.Len() == 0 {
		t.Errorf("partial keywords %v", st[2])
	}
}

var modelChecks = map[string]func(*testing.T, *expectations, Value){
	"pipeline_lr": checkPipelineLR,
	"rf3":         checkRF3,
	"onehot":      checkOneHot,
	"imputer":     checkImputer,
	"gb":          checkGB,
	"hgb_cat":     checkHGB,
}

func TestReadPickleModels(t *testing.T) {
	e := loadExpect(t)
	for model, check := range modelChecks {
		variants := []string{"_p2", "_p3", "_p4", "_p5", "_cloudpickle"}
		switch model {
		case "pipeline_lr":
			variants = append(variants, "_p2_numpy1")
		case "gb", "hgb_cat":
			variants = []string{"_p4"}
		}
		for _, variant := range variants {
			name := model + variant + ".pkl"
			t.Run(name, func(t *testing.T) {
				v, err := ReadPickle(readTestFile(t, name), testAllow, Limits{})
				if err != nil {
					t.Fatal(err)
				}
				check(t, e, v)
			})
		}
	}
}

func TestReadSkopsModels(t *testing.T) {
	e := loadExpect(t)
	for model, check := range modelChecks {
		name := model + ".skops"
		t.Run(name, func(t *testing.T) {
			v, err := ReadSkops(readTestFile(t, name), testAllow, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			check(t, e, v)
		})
	}
}
