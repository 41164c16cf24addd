// Package sklearn is the compiler's scikit-learn front end: it reads a
// model logged by mlflow.sklearn (skops, pickle or cloudpickle), checks
// every class it names against an allow-list, and maps the fitted
// estimator to the model description (package ir).
//
// Nothing in a model file is ever executed: the readers of package pyobj
// interpret the bytes into plain values, and this package reads fitted
// attributes from them. The predict arithmetic of each family is in
// /work/shared/reference/sklearn-formats.md §3–6 terms: scaling and
// imputation element-wise, one-hot encoding by category table, linear
// models as a dense layer and a link, trees with float32 routing and
// sklearn's NaN routing.
package sklearn

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"mlbox/serve/compile/frontend"
	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
	"mlbox/serve/mlmodel"
)

// Producer names this front end in module metadata.
const Producer = "mlbox compiler, sklearn front end"

// MaxModelBytes bounds the model file read.
const MaxModelBytes = 1 << 30

// ReadFile returns a file of the model directory, at most limit bytes.
type ReadFile = func(name string, limit int64) ([]byte, error)

// Handles says whether the MLmodel is for this front end.
func Handles(mm *mlmodel.MLmodel) bool { return mm.Flavor("sklearn") != nil }

// Files lists the files of the model directory that Build reads.
func Files(mm *mlmodel.MLmodel) ([]string, error) {
	file, err := frontend.DataFile(mm, "sklearn", "pickled_model")
	if err != nil {
		return nil, err
	}
	return []string{file}, nil
}

// Build reads the model and returns its description. The errors are
// *ir.UnsupportedError (a model this compiler does not handle),
// *ir.InvalidError (a malformed model file), or an error from read.
func Build(mm *mlmodel.MLmodel, read ReadFile) (*ir.Model, error) {
	files, err := Files(mm)
	if err != nil {
		return nil, err
	}
	file, fl := files[0], mm.Flavor("sklearn")
	if code := fl.Fields["code"]; code != nil {
		return nil, ir.Unsupportedf("the model was logged with code_paths (%v); mlbox only compiles plain scikit-learn estimators", code)
	}
	format := fl.String("serialization_format")
	if format == "" {
		format = "pickle" // what MLflow assumes
	}
	data, err := read(file, MaxModelBytes)
	if err != nil {
		return nil, err
	}
	var root pyobj.Value
	switch format {
	case "skops":
		root, err = pyobj.ReadSkops(data, allowed, pyobj.Limits{})
	case "pickle", "cloudpickle":
		root, err = pyobj.ReadPickle(data, allowed, pyobj.Limits{})
	default:
		return nil, ir.Unsupportedf("sklearn serialization_format %q", format)
	}
	if err != nil {
		var re *pyobj.RefusedError
		if errors.As(err, &re) {
			return nil, ir.Unsupportedf("%s references %s, which mlbox does not allow in a model file (it reads scikit-learn and numpy objects only, and never runs code)", file, re.Name)
		}
		return nil, ir.Invalidf("%s: %v", file, err)
	}
	predictFn := ir.PredictLabel
	if pf := mm.Flavor("python_function"); pf != nil {
		if p := pf.String("predict_fn"); p != "" {
			predictFn = p
		}
	} else {
		return nil, ir.Unsupportedf("the model has no python_function flavor (an estimator without predict, which MLflow cannot serve either)")
	}
	return build(root, mm.Signature, predictFn)
}

// build maps a decoded estimator to a model.
func build(root pyobj.Value, sig *mlmodel.Signature, predictFn string) (*ir.Model, error) {
	o, ok := root.(*pyobj.Object)
	if !ok {
		return nil, ir.Invalidf("the model file holds a %s, not an estimator", typeName(root))
	}
	b := &builder{m: &ir.Model{PredictFn: predictFn, Producer: Producer}}
	b.ver = versionOf(o)
	cols, err := b.inputs(o, sig)
	if err != nil {
		return nil, err
	}
	h, err := b.predictor(o, cols)
	if err != nil {
		return nil, err
	}
	m := b.m
	m.Task, m.Labels, m.OutputNames = h.task, h.labels, nil
	// The outputs: the scores whose arg max is predict's label, which are
	// the probabilities for most classifiers; the probabilities when
	// predict_fn asks for them.
	m.Out = h.out
	m.HasProba = h.proba != nil && slices.Equal(h.proba, h.out)
	switch predictFn {
	case ir.PredictLabel:
	case ir.PredictProba, ir.PredictLogProba:
		if h.task != ir.Classification {
			return nil, ir.Unsupportedf("predict_fn %s on %s, which is not a classifier", predictFn, className(o))
		}
		if h.proba == nil {
			return nil, ir.Unsupportedf("predict_fn %s: %s has no predict_proba", predictFn, h.name)
		}
		m.Out, m.HasProba = h.proba, true
	default:
		return nil, ir.Unsupportedf("predict_fn %s (mlbox serves predict, predict_proba and predict_log_proba)", predictFn)
	}
	m.Prune()
	if err := m.Validate(); err != nil {
		return nil, ir.Invalidf("%v", err)
	}
	return m, nil
}

// col is one column flowing between steps.
type col struct {
	slot int
	// input is the module input the column is, unchanged; -1 for a
	// computed column.
	input int
	// str says the column holds string codes of module input strIn's
	// table.
	str   bool
	strIn int
}

// head is what a predictor produced.
type head struct {
	// out are the outputs of predict: values, or scores whose arg max is
	// the label.
	out    []int
	task   ir.Task
	labels []jsonValue
	// proba are the probabilities of the classes (often the same slots as
	// out); nil when the model has no predict_proba.
	proba []int
	// decision is decision_function (one column for a binary model); nil
	// when the model has none or mlbox does not compute it.
	decision []int
	name     string
}

type jsonValue = json.RawMessage

type builder struct {
	m *ir.Model
	// typed says the input's type came from the signature.
	typed []bool
	codes []map[string]int
	ver   [2]int
}

// inputs sets the module inputs from the signature (else the estimator's
// feature names, else f0…) and returns the columns in the order the root
// estimator takes them.
func (b *builder) inputs(root *pyobj.Object, sig *mlmodel.Signature) ([]col, error) {
	names, hasNames, err := featureNames(root)
	if err != nil {
		return nil, err
	}
	nIn, err := nFeaturesIn(root, len(names))
	if err != nil {
		return nil, err
	}
	m := b.m
	if m.Inputs, err = frontend.SignatureInputs(sig); err != nil {
		return nil, err
	}
	switch {
	case m.Inputs != nil:
		for range m.Inputs {
			b.typed = append(b.typed, true)
		}
	case hasNames:
		for _, n := range names {
			m.Inputs = append(m.Inputs, ir.Input{Name: n, Type: "double", Required: true})
			b.typed = append(b.typed, false)
		}
	default:
		if nIn <= 0 {
			return nil, ir.Invalidf("%s states no n_features_in_", className(root))
		}
		if err := frontend.CheckTensor(sig, nIn); err != nil {
			return nil, err
		}
		for i := range nIn {
			m.Inputs = append(m.Inputs, ir.Input{Name: "f" + strconv.Itoa(i), Type: "double", Required: true})
			b.typed = append(b.typed, false)
		}
	}
	if len(m.Inputs) > ir.MaxInputs {
		return nil, ir.Unsupportedf("%d input columns (at most %d)", len(m.Inputs), ir.MaxInputs)
	}
	m.NSlots = len(m.Inputs)
	b.codes = make([]map[string]int, len(m.Inputs))
	index := map[string]int{}
	for i, in := range m.Inputs {
		index[in.Name] = i
	}
	mk := func(i int) col {
		c := col{slot: i, input: i, strIn: i}
		c.str = m.Inputs[i].Type == "string"
		return c
	}
	var cols []col
	switch {
	case hasNames:
		for _, n := range names {
			i, ok := index[n]
			if !ok {
				return nil, ir.Invalidf("the model was fitted on a column %q that the signature does not have", n)
			}
			cols = append(cols, mk(i))
		}
	default:
		if nIn > len(m.Inputs) {
			return nil, ir.Invalidf("the model takes %d features, the signature has %d columns", nIn, len(m.Inputs))
		}
		if nIn <= 0 {
			nIn = len(m.Inputs)
		}
		for i := range nIn {
			cols = append(cols, mk(i))
		}
	}
	return cols, nil
}

// code returns the code of string s in input in's table, adding it.
func (b *builder) code(in int, s string) float64 {
	if b.codes[in] == nil {
		b.codes[in] = map[string]int{}
		for i, c := range b.m.Inputs[in].Categories {
			b.codes[in][c] = i
		}
	}
	if c, ok := b.codes[in][s]; ok {
		return float64(c)
	}
	c := len(b.m.Inputs[in].Categories)
	b.m.Inputs[in].Categories = append(b.m.Inputs[in].Categories, s)
	b.codes[in][s] = c
	return float64(c)
}

// makeString turns a module input whose type the signature did not give
// into a string column (an encoder found string categories for it).
func (b *builder) makeString(c *col, who string) error {
	if c.str {
		return nil
	}
	if c.input < 0 || b.typed[c.input] {
		what := "a computed column"
		if c.input >= 0 {
			what = fmt.Sprintf("column %q (%s in the signature)", b.m.Inputs[c.input].Name, b.m.Inputs[c.input].Type)
		}
		return ir.Unsupportedf("%s has string categories for %s", who, what)
	}
	b.m.Inputs[c.input].Type = "string"
	c.str, c.strIn = true, c.input
	return nil
}

// numeric checks that no column holds string codes.
func (b *builder) numeric(cols []col, who string) error {
	for _, c := range cols {
		if c.str {
			return ir.Unsupportedf("%s gets the string column %q; encode it first (OneHotEncoder)", who, b.m.Inputs[c.strIn].Name)
		}
	}
	return nil
}

func slots(cols []col) []int {
	out := make([]int, len(cols))
	for i, c := range cols {
		out[i] = c.slot
	}
	return out
}

// computed returns new columns for slots.
func computed(s []int) []col {
	out := make([]col, len(s))
	for i, v := range s {
		out[i] = col{slot: v, input: -1}
	}
	return out
}

// versionOf returns the _sklearn_version an estimator was saved with
// ({0,0} when absent).
func versionOf(o *pyobj.Object) [2]int {
	v, ok := o.Attr("_sklearn_version")
	if !ok {
		return [2]int{}
	}
	s, _ := v.(string)
	maj, rest, _ := strings.Cut(s, ".")
	mnr, _, _ := strings.Cut(rest, ".")
	a, err1 := strconv.Atoi(maj)
	bb, err2 := strconv.Atoi(strings.TrimRightFunc(mnr, func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return [2]int{}
	}
	return [2]int{a, bb}
}

// before reports whether version v is older than maj.min (an unknown
// version counts as current).
func before(v [2]int, maj, min int) bool {
	if v == [2]int{} {
		return false
	}
	return v[0] < maj || v[0] == maj && v[1] < min
}

// featureNames returns feature_names_in_ when the estimator has it: the
// columns, in the order it takes them.
func featureNames(o *pyobj.Object) ([]string, bool, error) {
	v, ok := o.Attr("feature_names_in_")
	if !ok || v == nil {
		// A Pipeline's are its first step's (a property, not stored).
		if first, ok := pipelineFirst(o); ok {
			return featureNames(first)
		}
		return nil, false, nil
	}
	names, err := strs(v)
	if err != nil {
		return nil, false, ir.Invalidf("%s.feature_names_in_: %v", className(o), err)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return nil, false, ir.Invalidf("%s.feature_names_in_ repeats %q", className(o), n)
		}
		seen[n] = true
	}
	return names, true, nil
}

// nFeaturesIn returns n_features_in_ (or def).
func nFeaturesIn(o *pyobj.Object, def int) (int, error) {
	v, ok := o.Attr("n_features_in_")
	if !ok {
		if p, ok := pipelineFirst(o); ok {
			return nFeaturesIn(p, def)
		}
		return def, nil
	}
	n, err := integer(v)
	if err != nil || n < 0 || n > ir.MaxInputs {
		return 0, ir.Invalidf("%s.n_features_in_ is %v", className(o), v)
	}
	return int(n), nil
}

// pipelineFirst returns the first estimator of a Pipeline.
func pipelineFirst(o *pyobj.Object) (*pyobj.Object, bool) {
	if shortName(o) != "Pipeline" {
		return nil, false
	}
	steps, err := pipelineSteps(o)
	if err != nil {
		return nil, false
	}
	for _, s := range steps {
		if so, ok := s.(*pyobj.Object); ok {
			return so, true
		}
	}
	return nil, false
}

func typeName(v pyobj.Value) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case *pyobj.Object:
		return v.Class.String()
	default:
		return fmt.Sprintf("%T", v)
	}
}

func className(o *pyobj.Object) string { return o.Class.String() }

// shortName is the class name without its module, for sklearn classes;
// "" for anything else.
func shortName(o *pyobj.Object) string {
	if o == nil || o.Class == nil || !strings.HasPrefix(o.Class.Module, "sklearn.") {
		return ""
	}
	return o.Class.Name
}

func isNaN(f float64) bool { return math.IsNaN(f) }
