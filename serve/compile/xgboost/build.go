package xgboost

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
	"mlbox/serve/mlmodel"
)

// Objectives by what turns the margin into the prediction.
var (
	sigmoidObjectives = []string{"binary:logistic", "reg:logistic"}
	expObjectives     = []string{"count:poisson", "reg:gamma", "reg:tweedie", "survival:aft"}
	identObjectives   = []string{"binary:logitraw", "reg:squarederror", "reg:linear", "reg:squaredlogerror",
		"reg:pseudohubererror", "reg:absoluteerror", "reg:quantileerror", "rank:pairwise", "rank:ndcg", "rank:map"}
)

// margin0 converts the stored base score to the margin the sum starts
// from (§2.4), in float32.
func (b *booster) margin0() ([]float64, error) {
	out := make([]float64, b.groups)
	for g := range out {
		s := b.base[0]
		if len(b.base) > 1 {
			s = b.base[g]
		}
		var m float32
		switch {
		case slices.Contains(sigmoidObjectives, b.objective):
			t := float32(float32(1/s) - 1)
			m = -float32(math.Log(float64(t)))
		case slices.Contains(expObjectives, b.objective):
			m = float32(math.Log(float64(s)))
		default:
			m = s
		}
		if math.IsInf(float64(m), 0) || m != m {
			return nil, ir.Invalidf("base_score %v gives the margin %v for %s", s, m, b.objective)
		}
		out[g] = float64(m)
	}
	return out, nil
}

// describe builds the model description. class is the MLmodel's
// model_class (xgboost.sklearn.XGBClassifier, xgboost.core.Booster, …).
func (b *booster) describe(class string, sig *mlmodel.Signature) (*ir.Model, error) {
	sklearn := strings.HasPrefix(class, "xgboost.sklearn.")
	classifier := sklearn && strings.Contains(class, "Classifier")
	switch {
	case sklearn, class == "xgboost.core.Booster":
	default:
		return nil, ir.Unsupportedf("XGBoost model class %s (mlbox compiles Booster and the xgboost.sklearn wrappers)", class)
	}
	switch {
	case slices.Contains(sigmoidObjectives, b.objective), slices.Contains(expObjectives, b.objective),
		slices.Contains(identObjectives, b.objective), b.objective == "multi:softprob", b.objective == "multi:softmax":
	default:
		return nil, ir.Unsupportedf("XGBoost objective %s", b.objective)
	}
	m := &ir.Model{PredictFn: ir.PredictLabel, Producer: Producer}
	if b.version != "" {
		m.Producer += " (xgboost " + b.version + ", " + class + ")"
	}
	in, err := b.inputs(m, sig)
	if err != nil {
		return nil, err
	}
	base, err := b.margin0()
	if err != nil {
		return nil, err
	}
	nTrees := len(b.trees)
	if sklearn && b.best >= 0 {
		// The wrappers predict with iterations [0, best_iteration].
		n := (b.best + 1) * b.parallel * int64(b.groups)
		if b.indptr != nil {
			if b.best+1 >= int64(len(b.indptr)) {
				return nil, ir.Invalidf("best_iteration %d of %d iterations", b.best, len(b.indptr)-1)
			}
			n = b.indptr[b.best+1]
		}
		if n < 0 || n > int64(nTrees) {
			return nil, ir.Invalidf("best_iteration %d needs %d of %d trees", b.best, n, nTrees)
		}
		nTrees = int(n)
	}
	margins := make([]int, b.groups)
	for g := range margins {
		margins[g] = m.NSlots
		m.NSlots++
	}
	ts := &ir.Trees{In: in, Out: margins, Float32: true, Accum32: true, Base: base, Groups: make([]int32, nTrees)}
	nodes := 0
	for i := range nTrees {
		t, err := b.tree(i)
		if err != nil {
			return nil, err
		}
		if nodes += len(t.Feature); nodes > ir.MaxTreeNodes {
			return nil, ir.Unsupportedf("more than %d tree nodes", ir.MaxTreeNodes)
		}
		ts.Trees = append(ts.Trees, t)
		ts.Groups[i] = int32(b.treeInfo[i])
	}
	if nTrees == 0 {
		// No trees (best_iteration before the first): the margin is the
		// base, which goes in with a one-leaf tree of value 0.
		ts.Trees = []ir.Tree{{Feature: []int32{-1}, Threshold: []float64{0}, Left: []int32{0}, Right: []int32{0}, MissingLeft: []bool{false}, Value: []float64{0}}}
		ts.Groups = []int32{0}
	}
	m.Steps = append(m.Steps, ts)

	// The prediction from the margins.
	pred := margins
	switch {
	case slices.Contains(sigmoidObjectives, b.objective):
		// f32(1 / f32(1 + f32(exp(-m)))), each step rounded as XGBoost
		// does; 1/d is exp(-log d), within 1e-16 of it, which rounds to
		// the same float32.
		pred = m.Map(margins, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpExp}, {Kind: ir.OpRound32},
			{Kind: ir.OpAdd, Vals: []float64{1}}, {Kind: ir.OpRound32},
			{Kind: ir.OpLog}, {Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpExp}, {Kind: ir.OpRound32}})
	case slices.Contains(expObjectives, b.objective):
		pred = m.Map(margins, []ir.Op{{Kind: ir.OpExp}, {Kind: ir.OpRound32}})
	case b.objective == "multi:softprob":
		probs := m.Alloc(b.groups)
		m.Steps = append(m.Steps, &ir.Softmax{In: margins, Out: probs})
		pred = m.Map(probs, []ir.Op{{Kind: ir.OpRound32}})
	}

	switch {
	case b.objective == "multi:softmax":
		// predict answers the arg max of the margins (the first of the
		// largest): the class index, as an integer from a classifier
		// and as a float from a Booster.
		m.Task, m.Out = ir.Classification, margins
		for k := range b.groups {
			l := strconv.Itoa(k)
			if !classifier {
				l += ".0"
			}
			m.Labels = append(m.Labels, json.RawMessage(l))
		}
	case classifier && b.objective == "multi:softprob":
		m.Task, m.Out, m.HasProba = ir.Classification, pred, true
		m.Labels = indexLabels(b.groups)
	case classifier && b.groups == 1 && (slices.Contains(sigmoidObjectives, b.objective) || b.objective == "binary:logitraw"):
		// predict answers 1 when the output is above 0.5: the arg max of
		// (1-p, p), with 1-p rounded to float32 (exact for p ≥ 0.5, and
		// never below p otherwise).
		q := m.Map(pred, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}, {Kind: ir.OpRound32}})
		m.Task, m.Out = ir.Classification, []int{q[0], pred[0]}
		m.HasProba = b.objective != "binary:logitraw"
		m.Labels = indexLabels(2)
	case classifier:
		return nil, ir.Unsupportedf("%s with objective %s and %d outputs", class, b.objective, b.groups)
	default:
		m.Task, m.Out = ir.Regression, pred
	}
	m.Prune()
	if err := m.Validate(); err != nil {
		return nil, ir.Invalidf("%v", err)
	}
	return m, nil
}

func indexLabels(n int) []json.RawMessage {
	out := make([]json.RawMessage, n)
	for k := range out {
		out[k] = json.RawMessage(strconv.Itoa(k))
	}
	return out
}

// inputs sets the model's inputs (the signature's columns, else the
// model's feature names, else f0…) and returns the input of each feature.
func (b *booster) inputs(m *ir.Model, sig *mlmodel.Signature) ([]int, error) {
	names := b.featureNames
	var err error
	if m.Inputs, err = frontend.SignatureInputs(sig); err != nil {
		return nil, err
	}
	if m.Inputs == nil {
		if err := frontend.CheckTensor(sig, b.numFeature); err != nil {
			return nil, err
		}
		for f := range b.numFeature {
			name := "f" + strconv.Itoa(f)
			if names != nil {
				name = names[f]
			}
			typ := "double"
			if b.cats != nil && b.cats[f].strs != nil {
				typ = "string"
			}
			m.Inputs = append(m.Inputs, ir.Input{Name: name, Type: typ, Required: true})
		}
	}
	m.NSlots = len(m.Inputs)
	in := make([]int, b.numFeature)
	for f := range in {
		if names == nil {
			if f >= len(m.Inputs) {
				return nil, ir.Invalidf("the model takes %d features, the signature has %d columns", b.numFeature, len(m.Inputs))
			}
			in[f] = f
			continue
		}
		k := slices.IndexFunc(m.Inputs, func(c ir.Input) bool { return c.Name == names[f] })
		if k < 0 {
			return nil, ir.Invalidf("the model was fitted on a column %q that the signature does not have", names[f])
		}
		in[f] = k
	}
	for f, k := range in {
		cat := b.categorical(f)
		strCats := b.cats != nil && b.cats[f].strs != nil
		switch {
		case m.Inputs[k].Type == "string" && !cat:
			return nil, ir.Unsupportedf("column %q is a string, but the model takes it as a number", m.Inputs[k].Name)
		case m.Inputs[k].Type == "string" && !strCats:
			return nil, ir.Unsupportedf("column %q is a string, but the model's categories for it are not strings", m.Inputs[k].Name)
		case m.Inputs[k].Type != "string" && strCats:
			return nil, ir.Unsupportedf("the model's categories for column %q are strings, the signature says %s", m.Inputs[k].Name, m.Inputs[k].Type)
		case strCats:
			if m.Inputs[k].Categories != nil && !slices.Equal(m.Inputs[k].Categories, b.cats[f].strs) {
				return nil, ir.Invalidf("column %q is two features with different categories", m.Inputs[k].Name)
			}
			m.Inputs[k].Categories = b.cats[f].strs
		}
	}
	return in, nil
}

// categorical says whether feature f is categorical.
func (b *booster) categorical(f int) bool {
	if b.featureTypes != nil && b.featureTypes[f] == "c" {
		return true
	}
	return b.cats != nil && (b.cats[f].strs != nil || b.cats[f].nums != nil)
}

// tree converts tree i, numbering its nodes in depth-first order (so a
// child always follows its parent, whatever the file's numbering) and
// refusing cycles and shared nodes.
func (b *booster) tree(i int) (ir.Tree, error) {
	rt := &b.trees[i]
	n := len(rt.left)
	var wd float32 = 1
	if b.weightDrop != nil {
		wd = b.weightDrop[i]
	}
	var t ir.Tree
	newID := make([]int32, n)
	for j := range newID {
		newID[j] = -1
	}
	type item struct {
		old    int64
		parent int32
		left   bool
	}
	stack := []item{{old: 0, parent: -1}}
	special := false
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		o := it.old
		if o < 0 || o >= int64(n) || newID[o] >= 0 {
			return t, ir.Invalidf("tree %d: node %d is outside the tree or reached twice", i, o)
		}
		id := int32(len(t.Feature))
		newID[o] = id
		if it.parent >= 0 {
			if it.left {
				t.Left[it.parent] = id
			} else {
				t.Right[it.parent] = id
			}
		}
		t.Left, t.Right = append(t.Left, 0), append(t.Right, 0)
		t.MissingLeft = append(t.MissingLeft, rt.defLeft[o] != 0)
		t.Kind = append(t.Kind, ir.NodeNumeric)
		t.Sets = append(t.Sets, nil)
		if rt.left[o] == -1 {
			v := rt.cond[o]
			if wd != 1 {
				v = v * wd
			}
			t.Feature = append(t.Feature, -1)
			t.Threshold = append(t.Threshold, 0)
			t.Value = append(t.Value, float64(v))
			continue
		}
		f := rt.feat[o]
		if f < 0 || f >= int64(b.numFeature) {
			return t, ir.Invalidf("tree %d: node %d splits on feature %d of %d", i, o, f, b.numFeature)
		}
		t.Feature = append(t.Feature, int32(f))
		t.Value = append(t.Value, 0)
		switch rt.splitType[o] {
		case 0:
			// x < c is x <= the float32 below c, for a float32 x.
			c := rt.cond[o]
			if c != c {
				return t, ir.Invalidf("tree %d: node %d has a NaN threshold", i, o)
			}
			t.Threshold = append(t.Threshold, float64(math.Nextafter32(c, float32(math.Inf(-1)))))
		case 1:
			set, err := b.set(int(f), rt.sets[o])
			var ue *ir.UnsupportedError
			switch {
			case errors.As(err, &ue):
				return t, err
			case err != nil:
				return t, ir.Invalidf("tree %d: node %d: %v", i, o, err)
			}
			t.Threshold = append(t.Threshold, 0)
			t.Kind[id] = ir.NodeCategorical
			t.Sets[id] = set
			special = true
		default:
			return t, ir.Invalidf("tree %d: node %d has split type %d", i, o, rt.splitType[o])
		}
		// Right first, so that the left subtree is numbered next.
		stack = append(stack, item{old: rt.right[o], parent: id}, item{old: rt.left[o], parent: id, left: true})
		if len(stack) > n {
			return t, ir.Invalidf("tree %d: more children than nodes", i)
		}
	}
	if !special {
		t.Kind, t.Sets = nil, nil
	}
	return t, nil
}

// set builds a categorical node's bitset. The codes index the feature's
// category table; a string feature's input is that code (the host maps
// the string), a numeric feature's input is the category value itself,
// so its set holds the values (non-negative integers).
func (b *booster) set(f int, codes []int64) ([]uint32, error) {
	var nums []float64
	if b.cats != nil {
		nums = b.cats[f].nums
	}
	var bits []int64
	for _, c := range codes {
		if c < 0 {
			return nil, fmt.Errorf("category code %d", c)
		}
		if nums != nil {
			if c >= int64(len(nums)) {
				return nil, fmt.Errorf("category code %d of %d", c, len(nums))
			}
			v := nums[c]
			if v != math.Trunc(v) || v < 0 || v >= 32*ir.MaxSetWords {
				return nil, ir.Unsupportedf("the category %v (mlbox takes integer categories from 0 to %d)", v, 32*ir.MaxSetWords-1)
			}
			c = int64(v)
		} else if strs := b.catStrs(f); strs != nil && c >= int64(len(strs)) {
			return nil, fmt.Errorf("category code %d of %d", c, len(strs))
		}
		if c >= 32*ir.MaxSetWords {
			return nil, ir.Unsupportedf("category code %d (at most %d)", c, 32*ir.MaxSetWords-1)
		}
		bits = append(bits, c)
	}
	words := 1
	for _, c := range bits {
		words = max(words, int(c/32)+1)
	}
	set := make([]uint32, words)
	for _, c := range bits {
		set[c/32] |= 1 << (c % 32)
	}
	return set, nil
}

func (b *booster) catStrs(f int) []string {
	if b.cats == nil {
		return nil
	}
	return b.cats[f].strs
}
