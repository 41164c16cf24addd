package pyobj

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// sklearnGlobals is the allow-list of reference/sklearn-formats.md §2.5
// (the 46 globals and the extended set), minus the names the readers
// handle themselves, plus the names skops uses for the same objects.
var sklearnGlobals = []string{
	"numpy.random._pickle.__randomstate_ctor",
	"numpy.random._pickle.__generator_ctor",
	"numpy.random._pickle.__bit_generator_ctor",
	"numpy.random._mt19937.MT19937",
	"numpy.random._pcg64.PCG64",
	"numpy.random.bit_generator.SeedSequence",
	"numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
	"sklearn._loss._loss.CyHalfBinomialLoss",
	"sklearn._loss._loss.CyHalfMultinomialLoss",
	"sklearn._loss._loss.__pyx_unpickle_CyHalfMultinomialLoss",
	"sklearn._loss.link.Interval",
	"sklearn._loss.link.LogitLink",
	"sklearn._loss.link.MultinomialLogit",
	"sklearn._loss.loss.HalfBinomialLoss",
	"sklearn._loss.loss.HalfMultinomialLoss",
	"sklearn.compose._column_transformer.ColumnTransformer",
	"sklearn.dummy.DummyClassifier",
	"sklearn.ensemble._forest.RandomForestClassifier",
	"sklearn.ensemble._gb.GradientBoostingClassifier",
	"sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
	"sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
	"sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
	"sklearn.impute._base.SimpleImputer",
	"sklearn.linear_model._base.LinearRegression",
	"sklearn.linear_model._logistic.LogisticRegression",
	"sklearn.linear_model._ridge.Ridge",
	"sklearn.naive_bayes.GaussianNB",
	"sklearn.neural_network._multilayer_perceptron.MLPClassifier",
	"sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
	"sklearn.pipeline.Pipeline",
	"sklearn.preprocessing._data.MinMaxScaler",
	"sklearn.preprocessing._data.StandardScaler",
	"sklearn.preprocessing._encoders.OneHotEncoder",
	"sklearn.preprocessing._label.LabelBinarizer",
	"sklearn.preprocessing._label.LabelEncoder",
	"sklearn.svm._classes.LinearSVC",
	"sklearn.tree._classes.DecisionTreeClassifier",
	"sklearn.tree._classes.DecisionTreeRegressor",
	"sklearn.tree._tree.Tree",
	// Extended set.
	"sklearn.dummy.DummyRegressor",
	"sklearn.ensemble._forest.RandomForestRegressor",
	"sklearn.ensemble._forest.ExtraTreesClassifier",
	"sklearn.tree._classes.ExtraTreeClassifier",
	"sklearn.ensemble._gb.GradientBoostingRegressor",
	"sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
	"sklearn.neural_network._multilayer_perceptron.MLPRegressor",
	"sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
	"sklearn.impute._base.MissingIndicator",
	"sklearn.preprocessing._encoders.OrdinalEncoder",
	"sklearn.preprocessing._function_transformer.FunctionTransformer",
	"sklearn._loss.loss.HalfSquaredError",
	"sklearn._loss.loss.HalfPoissonLoss",
	"sklearn._loss.loss.ExponentialLoss",
	"sklearn._loss._loss.CyHalfSquaredError",
	"sklearn._loss._loss.CyHalfPoissonLoss",
	"sklearn._loss._loss.CyExponentialLoss",
	"sklearn._loss.link.IdentityLink",
	"sklearn._loss.link.LogLink",
	"sklearn._loss.link.HalfLogitLink",
	"functools.partial",
	"sklearn.utils.validation.check_array",
	// skops spellings.
	"numpy.random.mtrand.RandomState",
	"numpy.random._generator.Generator",
}

var allowed = func() map[string]bool {
	m := make(map[string]bool)
	for _, n := range sklearnGlobals {
		m[n] = true
	}
	return m
}()

// testAllow allows the sklearn globals. It also allows a few names that the
// readers must refuse anyway, to test that second line of defence.
func testAllow(module, name string) bool {
	switch module + "." + name {
	case "os.system", "builtins.eval", "posix.system", "subprocess.Popen":
		return true
	}
	return allowed[module+"."+name]
}

func readTestFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expectations is testdata/expect.json, written by gen.py.
type expectations struct {
	PipelineLR struct {
		Mean, Scale    []float64
		NSamplesSeen   int   `json:"n_samples_seen"`
		CoefShape      []int `json:"coef_shape"`
		Coef           [][]float64
		CoefFortran    bool `json:"coef_fortran"`
		Intercept      []float64
		Classes        []int64
		SklearnVersion string `json:"sklearn_version"`
	} `json:"pipeline_lr"`
	RF3 struct {
		Classes []float64
		Trees   []struct {
			NodeCount       int       `json:"node_count"`
			MaxDepth        int       `json:"max_depth"`
			NFeatures       int       `json:"n_features"`
			LeftChild       []int64   `json:"left_child"`
			RightChild      []int64   `json:"right_child"`
			Feature         []int64   `json:"feature"`
			Threshold       []float64 `json:"threshold"`
			MissingGoToLeft []int64   `json:"missing_go_to_left"`
			ValuesShape     []int     `json:"values_shape"`
			Values          []float64 `json:"values"`
		}
	} `json:"rf3"`
	OneHot struct {
		Categories    [][]string
		HandleUnknown string `json:"handle_unknown"`
	} `json:"onehot"`
	Imputer struct {
		Statistics []float64
		Strategy   string
		FitDType   string `json:"fit_dtype"`
	} `json:"imputer"`
	GB struct {
		EstimatorsShape []int     `json:"estimators_shape"`
		NodeCounts      []int64   `json:"node_counts"`
		RootThresholds  []float64 `json:"root_thresholds"`
		LearningRate    float64   `json:"learning_rate"`
		ClassPrior      []float64 `json:"class_prior"`
	} `json:"gb"`
	HGB struct {
		NIter         int           `json:"n_iter"`
		NodeValues    [][][]float64 `json:"node_values"`
		Baseline      []float64
		BaselineShape []int  `json:"baseline_shape"`
		PartialFunc   string `json:"partial_func"`
		Transformers  []string
		IsCategorical []bool `json:"is_categorical"`
	} `json:"hgb_cat"`
	NPY     map[string]json.RawMessage `json:"npy"`
	Refused map[string]string          `json:"refused"`
}

func loadExpect(t testing.TB) *expectations {
	t.Helper()
	var e expectations
	if err := json.Unmarshal(readTestFile(t, "expect.json"), &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

// Accessors that fail the test instead of returning errors.

func mustObject(t testing.TB, v Value, class string) *Object {
	t.Helper()
	o, ok := v.(*Object)
	if !ok {
		t.Fatalf("want a %s object, got %s", class, typeName(v))
	}
	if o.Class.String() != class {
		t.Fatalf("want a %s object, got %s", class, o.Class)
	}
	return o
}

func mustAttr(t testing.TB, o *Object, name string) Value {
	t.Helper()
	v, ok := o.Attr(name)
	if !ok {
		t.Fatalf("%s has no attribute %q", o.Class, name)
	}
	return v
}

func mustArray(t testing.TB, v Value) *Array {
	t.Helper()
	a, ok := v.(*Array)
	if !ok {
		t.Fatalf("want an ndarray, got %s", typeName(v))
	}
	return a
}

func mustFloats(t testing.TB, v Value) []float64 {
	t.Helper()
	f, err := mustArray(t, v).Float64s()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustInts(t testing.TB, v Value) []int64 {
	t.Helper()
	n, err := mustArray(t, v).Int64s()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustList(t testing.TB, v Value) []Value {
	t.Helper()
	switch v := v.(type) {
	case *List:
		return v.Items
	case Tuple:
		return v
	}
	t.Fatalf("want a list, got %s", typeName(v))
	return nil
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func flatten2(m [][]float64) []float64 {
	var out []float64
	for _, row := range m {
		out = append(out, row...)
	}
	return out
}
