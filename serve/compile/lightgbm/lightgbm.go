// Package lightgbm is the model compiler's front end for models logged
// with mlflow.lightgbm: a Booster's text file (model.lgb), or the sklearn
// wrappers LGBMClassifier and LGBMRegressor, which MLflow saves with
// skops (the default) or pickle, with the model text inside. Files are
// read with package pyobj's readers, which never run anything.
//
// What predicts is reproduced as LightGBM computes it
// (../shared/reference/gbm-onnx-formats.md §3): float64 inputs, a numeric
// split goes left when x <= threshold, NaN is 0 for missing type None,
// NaN and ±1e-35 take default_left for missing type Zero, NaN takes it
// for missing type NaN; a categorical split sends the codes in its bitset
// left and NaN right; tree i adds to output i % num_tree_per_iteration;
// rf averages; the objective's link turns the sums into the prediction.
// What /invocations answers is what mlflow.lightgbm's pyfunc predict
// returns: an LGBMClassifier's labels (from classes_), an LGBMRegressor's
// values, a Booster's transformed output.
package lightgbm

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

// Producer names the front end in compiled models.
const Producer = "mlbox lightgbm front end"

// MaxModelBytes bounds the model file read.
const MaxModelBytes = 128 << 20

// ReadFile returns a file of the model directory, at most limit bytes.
type ReadFile = func(name string, limit int64) ([]byte, error)

// Handles says whether the MLmodel is for this front end.
func Handles(mm *mlmodel.MLmodel) bool { return mm.Flavor("lightgbm") != nil }

// Files lists the files of the model directory that Build reads.
func Files(mm *mlmodel.MLmodel) ([]string, error) {
	file, err := frontend.DataFile(mm, "lightgbm", "data")
	if err != nil {
		return nil, err
	}
	return []string{file}, nil
}

// allowed are the classes a wrapper's file may name, besides the numpy and
// builtin types pyobj handles itself. Only their state is read; none is
// ever constructed.
func allowed(module, name string) bool {
	switch module + "." + name {
	case "lightgbm.sklearn.LGBMClassifier", "lightgbm.sklearn.LGBMRegressor", "lightgbm.sklearn.LGBMRanker",
		"lightgbm.sklearn.LGBMModel", "lightgbm.basic.Booster", "collections.OrderedDict", "collections.defaultdict",
		"sklearn.preprocessing._label.LabelEncoder":
		return true
	}
	return false
}

// Build reads the model and returns its description. The errors are
// *ir.UnsupportedError, *ir.InvalidError or read's.
func Build(mm *mlmodel.MLmodel, read ReadFile) (*ir.Model, error) {
	files, err := Files(mm)
	if err != nil {
		return nil, err
	}
	file, fl := files[0], mm.Flavor("lightgbm")
	if code := fl.Fields["code"]; code != nil {
		return nil, ir.Unsupportedf("the model was logged with code_paths (%v); mlbox only compiles plain LightGBM models", code)
	}
	pf := mm.Flavor("python_function")
	if pf == nil {
		return nil, ir.Unsupportedf("the model has no python_function flavor")
	}
	if p := pf.String("predict_fn"); p != "" && p != ir.PredictLabel {
		return nil, ir.Unsupportedf("predict_fn %s (mlflow.lightgbm serves predict)", p)
	}
	class := fl.String("model_class")
	if class == "" {
		class = "lightgbm.basic.Booster"
	}
	data, err := read(file, MaxModelBytes)
	if err != nil {
		return nil, err
	}
	var text string
	var w *wrapper
	switch class {
	case "lightgbm.basic.Booster":
		text = string(data)
	case "lightgbm.sklearn.LGBMClassifier", "lightgbm.sklearn.LGBMRegressor":
		format := fl.String("serialization_format")
		if format == "" {
			format = "cloudpickle" // what MLflow assumes for old models
		}
		var root pyobj.Value
		switch format {
		case "skops":
			root, err = pyobj.ReadSkops(data, allowed, pyobj.Limits{})
		case "pickle", "cloudpickle":
			root, err = pyobj.ReadPickle(data, allowed, pyobj.Limits{})
		default:
			return nil, ir.Unsupportedf("lightgbm serialization_format %q", format)
		}
		if err != nil {
			var re *pyobj.RefusedError
			if errors.As(err, &re) {
				return nil, ir.Unsupportedf("%s references %s, which mlbox does not allow in a LightGBM model file (it never runs code)", file, re.Name)
			}
			return nil, ir.Invalidf("%s: %v", file, err)
		}
		if w, err = readWrapper(root, class); err != nil {
			return nil, err
		}
		text = w.text
	default:
		return nil, ir.Unsupportedf("LightGBM model class %s (mlbox compiles Booster, LGBMClassifier and LGBMRegressor)", class)
	}
	m, err := parseText(text)
	if err != nil {
		return nil, ir.Invalidf("%s: %v", file, err)
	}
	return m.describe(w, mm.Signature)
}

// wrapper is what an sklearn wrapper adds to its booster.
type wrapper struct {
	class  string
	text   string
	labels []json.RawMessage // classifier only
}

func readWrapper(root pyobj.Value, class string) (*wrapper, error) {
	o, ok := root.(*pyobj.Object)
	if !ok || o.Class.String() != class {
		return nil, ir.Invalidf("the model file holds a %T, not a %s", root, class)
	}
	w := &wrapper{class: class}
	bv, _ := o.Attr("_Booster")
	b, ok := bv.(*pyobj.Object)
	if !ok || b.Class.String() != "lightgbm.basic.Booster" {
		return nil, ir.Invalidf("%s has no fitted _Booster", class)
	}
	h, _ := b.Attr("_handle")
	if w.text, ok = h.(string); !ok {
		// Older LightGBM pickles keep the model text under "model_str"
		// ... but 4.x writes _handle; anything else is not a model.
		return nil, ir.Invalidf("%s's booster holds no model text", class)
	}
	if strings.HasSuffix(class, "Classifier") {
		cv, _ := o.Attr("_classes")
		labels, err := labelValues(cv)
		if err != nil {
			return nil, ir.Invalidf("%s classes_: %v", class, err)
		}
		w.labels = labels
	}
	return w, nil
}

// labelValues turns classes_ into JSON labels as the scoring server
// writes them (ndarray.tolist(): ints, floats, strings, bools).
func labelValues(v pyobj.Value) ([]json.RawMessage, error) {
	a, ok := v.(*pyobj.Array)
	if !ok || a.DType == nil || len(a.Shape) != 1 {
		return nil, errors.New("not a 1-d array")
	}
	var out []json.RawMessage
	switch a.DType.Kind {
	case 'i', 'u':
		n, err := a.Int64s()
		if err != nil {
			return nil, err
		}
		for _, x := range n {
			out = append(out, json.RawMessage(strconv.FormatInt(x, 10)))
		}
	case 'b':
		n, err := a.Int64s()
		if err != nil {
			return nil, err
		}
		for _, x := range n {
			out = append(out, json.RawMessage(strconv.FormatBool(x != 0)))
		}
	case 'f':
		f, err := a.Float64s()
		if err != nil {
			return nil, err
		}
		for _, x := range f {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, errors.New("a NaN or infinite class label")
			}
			s := strconv.FormatFloat(x, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eE") {
				s += ".0" // Python writes 1.0
			}
			out = append(out, json.RawMessage(s))
		}
	case 'U', 'S', 'O':
		s, err := a.Strings()
		if err != nil {
			return nil, err
		}
		for _, x := range s {
			b, _ := json.Marshal(x)
			out = append(out, b)
		}
	default:
		return nil, fmt.Errorf("labels of dtype %s", a.DType)
	}
	return out, nil
}

// describe builds the model description; w is nil for a Booster.
func (m *model) describe(w *wrapper, sig *mlmodel.Signature) (*ir.Model, error) {
	md := &ir.Model{PredictFn: ir.PredictLabel, Producer: Producer}
	k := m.perIteration
	if len(m.trees)%k != 0 {
		return nil, ir.Invalidf("%d trees for %d per iteration", len(m.trees), k)
	}
	in, err := m.inputs(md, sig)
	if err != nil {
		return nil, err
	}
	raw := make([]int, k)
	for i := range raw {
		raw[i] = md.NSlots
		md.NSlots++
	}
	ts := &ir.Trees{In: in, Out: raw, Average: m.average, CatLeft: true, Groups: make([]int32, len(m.trees))}
	nodes := 0
	for i := range m.trees {
		t, err := m.tree(i)
		if err != nil {
			return nil, err
		}
		if nodes += len(t.Feature); nodes > ir.MaxTreeNodes {
			return nil, ir.Unsupportedf("more than %d tree nodes", ir.MaxTreeNodes)
		}
		ts.Trees = append(ts.Trees, t)
		ts.Groups[i] = int32(i % k)
	}
	md.Steps = append(md.Steps, ts)

	// The link.
	obj := m.objective[0]
	sigmoid := 1.0
	for _, p := range m.objective[1:] {
		if v, ok := strings.CutPrefix(p, "sigmoid:"); ok {
			if sigmoid, err = strconv.ParseFloat(v, 64); err != nil || !(sigmoid > 0) || math.IsInf(sigmoid, 0) {
				return nil, ir.Invalidf("objective %q", strings.Join(m.objective, " "))
			}
		}
		if p == "sqrt" {
			return nil, ir.Unsupportedf("LightGBM's reg_sqrt (objective %q)", strings.Join(m.objective, " "))
		}
	}
	logistic := []ir.Op{{Kind: ir.OpMul, Vals: []float64{sigmoid}}, {Kind: ir.OpLogistic}}
	if sigmoid == 1 {
		logistic = logistic[1:]
	}
	pred := raw
	proba := false
	switch obj {
	case "binary":
		pred, proba = md.Map(raw, logistic), true
	case "multiclassova":
		pred, proba = md.Map(raw, logistic), true
	case "multiclass", "softmax":
		pred, proba = md.Alloc(k), true
		md.Steps = append(md.Steps, &ir.Softmax{In: raw, Out: pred})
	case "cross_entropy", "xentropy":
		pred = md.Map(raw, []ir.Op{{Kind: ir.OpLogistic}})
	case "cross_entropy_lambda", "xentlambda":
		pred = md.Map(raw, []ir.Op{{Kind: ir.OpExp}, {Kind: ir.OpAdd, Vals: []float64{1}}, {Kind: ir.OpLog}})
	case "poisson", "gamma", "tweedie":
		pred = md.Map(raw, []ir.Op{{Kind: ir.OpExp}})
	case "regression", "regression_l2", "regression_l1", "huber", "fair", "quantile", "mape", "lambdarank", "rank_xendcg":
	default:
		return nil, ir.Unsupportedf("LightGBM objective %q", strings.Join(m.objective, " "))
	}

	switch {
	case w != nil && strings.HasSuffix(w.class, "Classifier"):
		if !proba {
			return nil, ir.Unsupportedf("LGBMClassifier with objective %s", obj)
		}
		md.Task, md.HasProba, md.Labels = ir.Classification, true, w.labels
		if k == 1 {
			// predict_proba is (1-p, p); predict its arg max.
			q := md.Map(pred, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}})
			md.Out = []int{q[0], pred[0]}
		} else {
			md.Out = pred
		}
		if len(md.Labels) != len(md.Out) {
			return nil, ir.Invalidf("%d classes for %d outputs", len(md.Labels), len(md.Out))
		}
	default:
		md.Task, md.Out = ir.Regression, pred
	}
	md.Prune()
	if err := md.Validate(); err != nil {
		return nil, ir.Invalidf("%v", err)
	}
	return md, nil
}

// inputs sets the model's inputs (the signature's columns, else the
// model's feature names) and returns the input of each feature.
func (m *model) inputs(md *ir.Model, sig *mlmodel.Signature) ([]int, error) {
	nf := m.maxFeature + 1
	names := m.featureNames
	// The pandas categories of each categorical feature.
	cats := make([][]any, nf)
	if len(m.pandasCats) > 0 {
		if len(m.pandasCats) != len(m.catFeatures) {
			return nil, ir.Invalidf("%d pandas category lists for %d categorical features", len(m.pandasCats), len(m.catFeatures))
		}
		for i, f := range m.catFeatures {
			var list []any
			if err := json.Unmarshal(m.pandasCats[i], &list); err != nil {
				return nil, ir.Invalidf("pandas_categorical: %v", err)
			}
			cats[f] = list
		}
	}
	strCats := func(f int) []string {
		if cats[f] == nil {
			return nil
		}
		var out []string
		for _, c := range cats[f] {
			s, ok := c.(string)
			if !ok {
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	var err error
	if md.Inputs, err = frontend.SignatureInputs(sig); err != nil {
		return nil, err
	}
	if md.Inputs == nil {
		if err := frontend.CheckTensor(sig, nf); err != nil {
			return nil, err
		}
		for f := range nf {
			name := "Column_" + strconv.Itoa(f)
			if names != nil {
				name = names[f]
			}
			typ := "double"
			if strCats(f) != nil {
				typ = "string"
			}
			md.Inputs = append(md.Inputs, ir.Input{Name: name, Type: typ, Required: true})
		}
	}
	md.NSlots = len(md.Inputs)
	in := make([]int, nf)
	byName := names != nil
	if byName {
		for _, n := range names {
			if !slices.ContainsFunc(md.Inputs, func(c ir.Input) bool { return c.Name == n }) {
				byName = false
				break
			}
		}
		// Names LightGBM made up (Column_0, …, for a numpy array) match
		// the columns by position.
		if !byName && !strings.HasPrefix(names[0], "Column_") {
			return nil, ir.Invalidf("the model was fitted on columns %v, which the signature does not all have", names[:min(len(names), 5)])
		}
	}
	for f := range in {
		if byName {
			in[f] = slices.IndexFunc(md.Inputs, func(c ir.Input) bool { return c.Name == names[f] })
		} else {
			if f >= len(md.Inputs) {
				return nil, ir.Invalidf("the model takes %d features, the signature has %d columns", nf, len(md.Inputs))
			}
			in[f] = f
		}
	}
	for f, k := range in {
		sc := strCats(f)
		switch {
		case md.Inputs[k].Type == "string" && sc == nil:
			return nil, ir.Unsupportedf("column %q is a string, but the model takes it as a number", md.Inputs[k].Name)
		case md.Inputs[k].Type != "string" && sc != nil:
			return nil, ir.Unsupportedf("the model's categories for column %q are strings, the signature says %s", md.Inputs[k].Name, md.Inputs[k].Type)
		case sc != nil:
			md.Inputs[k].Categories = sc
		}
	}
	m.valueCats = make([][]float64, nf)
	for f := range nf {
		if cats[f] == nil || strCats(f) != nil {
			continue
		}
		for _, c := range cats[f] {
			v, ok := c.(float64)
			if !ok {
				return nil, ir.Unsupportedf("pandas categories %v of column %q", cats[f], md.Inputs[in[f]].Name)
			}
			m.valueCats[f] = append(m.valueCats[f], v)
		}
	}
	return in, nil
}

// tree converts tree i, numbering its nodes depth first (a child always
// follows its parent) and refusing cycles and shared nodes.
func (m *model) tree(i int) (ir.Tree, error) {
	rt := &m.trees[i]
	var t ir.Tree
	if rt.linear {
		return t, ir.Unsupportedf("linear trees (linear_tree=True)")
	}
	ni := rt.numLeaves - 1
	seen := make([]bool, ni+rt.numLeaves)
	type item struct {
		child  int // LightGBM's: >= 0 internal node, < 0 leaf ^child
		parent int32
		left   bool
	}
	stack := []item{{child: 0, parent: -1}}
	if ni == 0 {
		stack[0].child = -1
	}
	special := false
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		c := it.child
		key := c
		if c < 0 {
			key = ni + ^c
		}
		if c >= ni || c < 0 && ^c >= rt.numLeaves || seen[key] {
			return t, ir.Invalidf("tree %d: child %d is outside the tree or reached twice", i, c)
		}
		seen[key] = true
		id := int32(len(t.Feature))
		if it.parent >= 0 {
			if it.left {
				t.Left[it.parent] = id
			} else {
				t.Right[it.parent] = id
			}
		}
		t.Left, t.Right = append(t.Left, 0), append(t.Right, 0)
		t.Kind, t.Sets = append(t.Kind, ir.NodeNumeric), append(t.Sets, nil)
		if c < 0 {
			t.Feature = append(t.Feature, -1)
			t.Threshold = append(t.Threshold, 0)
			t.MissingLeft = append(t.MissingLeft, false)
			t.Value = append(t.Value, rt.leafValue[^c])
			continue
		}
		f, thr, dt := rt.feature[c], rt.threshold[c], rt.decision[c]
		t.Feature = append(t.Feature, int32(f))
		t.Value = append(t.Value, 0)
		if dt&1 != 0 {
			set, err := m.set(f, rt, thr)
			var ue *ir.UnsupportedError
			switch {
			case errors.As(err, &ue):
				return t, err
			case err != nil:
				return t, ir.Invalidf("tree %d: node %d: %v", i, c, err)
			}
			t.Threshold = append(t.Threshold, 0)
			t.MissingLeft = append(t.MissingLeft, false) // NaN goes right
			t.Kind[id], t.Sets[id] = ir.NodeCategorical, set
			special = true
		} else {
			if math.IsNaN(thr) {
				return t, ir.Invalidf("tree %d: node %d has a NaN threshold", i, c)
			}
			t.Threshold = append(t.Threshold, thr)
			switch (dt >> 2) & 3 {
			case 0: // None: NaN is 0
				t.MissingLeft = append(t.MissingLeft, 0 <= thr)
			case 1: // Zero
				t.MissingLeft = append(t.MissingLeft, dt&2 != 0)
				t.Kind[id] = ir.NodeZeroMissing
				special = true
			case 2: // NaN
				t.MissingLeft = append(t.MissingLeft, dt&2 != 0)
			default:
				return t, ir.Invalidf("tree %d: node %d has decision_type %d", i, c, dt)
			}
		}
		stack = append(stack, item{child: rt.right[c], parent: id}, item{child: rt.left[c], parent: id, left: true})
	}
	if !special {
		t.Kind, t.Sets = nil, nil
	}
	return t, nil
}

// set returns a categorical node's bitset. threshold indexes the tree's
// cat_boundaries. For a feature with numeric pandas categories the input
// is the category value, not its code, so the set is moved to the values.
func (m *model) set(f int, rt *tree, threshold float64) ([]uint32, error) {
	ci := int(threshold)
	if threshold != float64(ci) || ci < 0 || ci+1 >= len(rt.catBounds) {
		return nil, fmt.Errorf("category set %v of %d", threshold, max(len(rt.catBounds)-1, 0))
	}
	words := rt.catWords[rt.catBounds[ci]:rt.catBounds[ci+1]]
	if len(words) > ir.MaxSetWords {
		return nil, ir.Unsupportedf("a category set of %d words (at most %d)", len(words), ir.MaxSetWords)
	}
	if len(words) == 0 {
		words = []uint32{0}
	}
	vals := m.valueCats[f]
	if vals == nil {
		return slices.Clone(words), nil
	}
	var out []uint32
	for code := range 32 * len(words) {
		if words[code/32]&(1<<(code%32)) == 0 || code >= len(vals) {
			continue
		}
		v := vals[code]
		if v != math.Trunc(v) || v < 0 || v >= 32*ir.MaxSetWords {
			return nil, ir.Unsupportedf("the category %v (mlbox takes integer categories from 0 to %d)", v, 32*ir.MaxSetWords-1)
		}
		for int(v)/32 >= len(out) {
			out = append(out, 0)
		}
		out[int(v)/32] |= 1 << (int(v) % 32)
	}
	if out == nil {
		out = []uint32{0}
	}
	return out, nil
}
