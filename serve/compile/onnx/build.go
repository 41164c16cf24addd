package onnx

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"mlbox/serve/compile/ir"
)

// Lowered is a model's graph as the compiler's model description, with
// what serving needs to answer as onnxruntime does: which graph output is
// the label and which the scores, and whether the scores are a ZipMap
// (a list of {label: probability} maps) or a tensor.
type Lowered struct {
	Model *ir.Model
	// LabelOutput and ScoreOutput name the graph outputs ("" when the
	// graph has none of that kind). A regressor has ScoreOutput only.
	LabelOutput string
	ScoreOutput string
	// ZipMap: ScoreOutput is a sequence of maps.
	ZipMap bool
	// Flat: ScoreOutput is a tensor [N] (one value a row, not a list).
	Flat bool
	// LabelIndex: the label is not the arg max of the scores; the model's
	// last output is its index (ir.NamedOutputs.LabelIndex).
	LabelIndex bool
	// Inputs is the number of graph inputs.
	Inputs int
}

// value is what a tensor name holds while the graph is walked: a tensor
// [N, dims...] whose elements for one row are slots (row-major), or the
// label of a classifier (its arg max over the scores slots).
type value struct {
	slots []int
	// dims are the dimensions after the batch one; nil is [len(slots)],
	// a row of columns.
	dims []int
	// elem is the element type (0 is Float). Float values are rounded to
	// float32 after every operation, as onnxruntime computes them.
	elem DataType
	// strIn: for a string value, the model input whose code table each
	// slot's codes index (see ir.Input.Categories).
	strIn []int
	label bool
	// argmax: the index of the largest of slots (ArgMax), which
	// ArrayFeatureExtractor turns into the label. argKeep: ArgMax's
	// keepdims (the index is [N, 1], else [N]); index: the index as a
	// number, once an operator other than the label's takes it.
	argmax  bool
	argKeep bool
	index   *value
	// stack: the tensor is [stack, N, dims...], stack copies of a row
	// shape before the batch axis, slots stack-major (skl2onnx's bagging:
	// Reshape to [1, -1, k], Concat along axis 0, ReduceMean over it).
	// Only Concat and the reductions over axis 0 take such a tensor.
	stack int
}

// argIndex returns, for an ArgMax value, the index it stands for as a
// number the module computes (ir.ArgMax: the first largest, NaN never
// winning), for an operator other than the label's; other values as they
// are.
func (l *lowering) argIndex(v *value) *value {
	if !v.argmax || v.label {
		return v
	}
	if v.index == nil {
		am := &ir.ArgMax{In: v.slots, Out: l.m.Alloc(1)[0]}
		l.m.Add(am)
		dims := []int{}
		if v.argKeep {
			dims = []int{1}
		}
		v.index = &value{slots: []int{am.Out}, dims: dims, elem: Int64}
	}
	return v.index
}

func (v *value) shape() []int {
	if v.dims == nil {
		return []int{len(v.slots)}
	}
	return v.dims
}

func (v *value) typ() DataType {
	if v.elem == 0 {
		return Float
	}
	return v.elem
}

// like returns a value of v's shape and type over new slots.
func (v *value) like(slots []int, elem DataType) *value {
	return &value{slots: slots, dims: v.dims, elem: elem}
}

type lowering struct {
	m      *ir.Model
	vals   map[string]*value
	consts map[string]*Tensor
	// ints are integer tensors known at compile time that are not
	// constants of the file: shapes (Shape) and what is computed from
	// them. A batch dimension is symN.
	ints map[string]*intTensor
	res  *Lowered
	// labelOf are the slots an ArgMax label was taken over
	labelOf []int
	// cats is each string input's code table as the graph compares it.
	cats  []map[string]int
	inIdx map[string]int // graph input name -> first model input
	zero  int            // a slot holding 0, once made (-1 before)
}

func (l *lowering) round32(in []int) []int {
	return l.m.Map(in, []ir.Op{{Kind: ir.OpRound32}})
}

func unsupported(n *Node, format string, args ...any) error {
	name := n.Name
	if name == "" {
		name = n.OpType
	}
	return ir.Unsupportedf("node %s (%s): %s", name, n.OpType, fmt.Sprintf(format, args...))
}

func floats32(a *Attribute) []float64 {
	if a == nil {
		return nil
	}
	out := make([]float64, len(a.Floats))
	for i, f := range a.Floats {
		out[i] = float64(f)
	}
	return out
}

// Lower turns a model into the model description. It handles graphs of
// one input [N, F] or several of one column each (numbers or strings)
// through the operators listed in docs/serving.md; anything else is an
// *ir.UnsupportedError naming the node.
func Lower(m *Model) (*Lowered, error) {
	g := m.Graph
	inits := map[string]*Tensor{}
	for _, t := range g.Initializers {
		inits[t.Name] = t
	}
	var inputs []*ValueInfo
	for _, in := range g.Inputs {
		if inits[in.Name] == nil { // old files list initializers as inputs too
			inputs = append(inputs, in)
		}
	}
	if len(inputs) == 0 {
		return nil, ir.Unsupportedf("the graph has no inputs")
	}
	l := &lowering{m: &ir.Model{Producer: "onnx " + m.ProducerName + " " + m.ProducerVersion},
		vals: map[string]*value{}, consts: inits, ints: map[string]*intTensor{}, res: &Lowered{},
		inIdx: map[string]int{}, zero: -1}
	var round []int
	for _, in := range inputs {
		v, err := l.graphInput(in, len(inputs) > 1)
		if err != nil {
			return nil, err
		}
		if v.elem == Float {
			round = append(round, v.slots...)
		}
		l.vals[in.Name] = v
	}
	if len(l.m.Inputs) > ir.MaxInputs {
		return nil, ir.Unsupportedf("%d input columns (at most %d)", len(l.m.Inputs), ir.MaxInputs)
	}
	l.m.NSlots = len(l.m.Inputs)
	if round != nil {
		// onnxruntime computes on float32 inputs (MLflow casts float64 feeds).
		r := l.round32(round)
		at := map[int]int{}
		for i, s := range round {
			at[s] = r[i]
		}
		for _, v := range l.vals {
			if v.elem == Float {
				for i, s := range v.slots {
					v.slots[i] = at[s]
				}
			}
		}
	}
	for _, n := range g.Nodes {
		if err := l.node(n); err != nil {
			return nil, err
		}
	}
	for _, o := range g.Outputs {
		v := l.vals[o.Name]
		if v == nil {
			return nil, ir.Unsupportedf("graph output %q is not computed by a supported node", o.Name)
		}
		if v.stack > 0 {
			return nil, ir.Unsupportedf("graph output %q: a tensor whose batch axis is not the first", o.Name)
		}
		switch {
		case v.label:
			l.res.LabelOutput = o.Name
		case l.res.ScoreOutput == "":
			if v.argmax || v.typ() == String {
				return nil, ir.Unsupportedf("graph output %q is an index or strings, not scores or values", o.Name)
			}
			l.res.ScoreOutput = o.Name
			l.m.Out = v.slots
			l.res.Flat = len(v.shape()) == 0
			if o.Type != nil && o.Type.Kind == KindSequence {
				l.res.ZipMap = true
			}
		default:
			return nil, ir.Unsupportedf("graph output %q: more than one score output", o.Name)
		}
	}
	if l.m.Out == nil {
		return nil, ir.Unsupportedf("the graph has no score or value output")
	}
	if l.m.Task == "" { // a network without a classifier's label: a regressor
		l.m.Task, l.m.PredictFn = ir.Regression, ir.PredictLabel
	}
	if l.m.Task == ir.Classification && len(l.m.Labels) != len(l.m.Out) {
		return nil, ir.Invalidf("%d class labels for %d scores", len(l.m.Labels), len(l.m.Out))
	}
	if l.labelOf != nil && !slices.Equal(l.labelOf, l.m.Out) {
		// The label is the arg max of other values than the scores (naive
		// Bayes: of the joint log-likelihoods): the model computes its
		// index, one more output.
		if l.res.LabelOutput == "" {
			return nil, ir.Unsupportedf("the label is the arg max of other values than the scores output, and no graph output")
		}
		am := &ir.ArgMax{In: l.labelOf, Out: l.m.Alloc(1)[0]}
		l.m.Add(am)
		l.m.Out = append(slices.Clip(l.m.Out), am.Out)
		l.res.LabelIndex = true
	}
	for i, c := range l.cats {
		if c == nil {
			continue
		}
		l.m.Inputs[i].Categories = make([]string, len(c))
		for s, k := range c {
			l.m.Inputs[i].Categories[k] = s
		}
	}
	r := l.res
	l.m.Named = &ir.NamedOutputs{Label: r.LabelOutput, Scores: r.ScoreOutput, ZipMap: r.ZipMap, Flat: r.Flat, LabelIndex: r.LabelIndex}
	r.Model, r.Inputs = l.m, len(inputs)
	return r, nil
}

// inputTypes are the model input types of the graph input types mlbox
// takes.
var inputTypes = map[DataType]string{Float: "float", Double: "double", Int64: "long", Int32: "integer",
	String: "string", Bool: "boolean"}

// graphInput adds a graph input's columns to the model inputs: a tensor
// [N, F] or [N] (F = 1). A model of one graph input names its columns f0,
// f1, ...; of several, each input is one column of its own name.
func (l *lowering) graphInput(in *ValueInfo, several bool) (*value, error) {
	ty := in.Type
	if ty == nil || ty.Kind != KindTensor {
		return nil, ir.Unsupportedf("input %q is not a tensor", in.Name)
	}
	typ, ok := inputTypes[ty.Elem]
	if !ok {
		return nil, ir.Unsupportedf("input %q is a tensor of %s", in.Name, ty.Elem)
	}
	var dims []int
	switch {
	case len(ty.Shape) == 1:
		dims = []int{}
	case len(ty.Shape) == 2 && ty.Shape[1].Known && ty.Shape[1].Value >= 1 && ty.Shape[1].Value <= ir.MaxInputs:
		dims = []int{int(ty.Shape[1].Value)}
	default:
		return nil, ir.Unsupportedf("input %q is not a tensor [N, F] with a known F, or [N]", in.Name)
	}
	k := 1
	if len(dims) == 1 {
		k = dims[0]
	}
	if several && k != 1 {
		return nil, ir.Unsupportedf("input %q has %d columns; a graph of several inputs must take one column each", in.Name, k)
	}
	elem := ty.Elem
	if elem == Int32 {
		elem = Int64
	}
	v := &value{dims: dims, elem: elem}
	l.inIdx[in.Name] = len(l.m.Inputs)
	for j := range k {
		name := in.Name
		if !several {
			name = "f" + strconv.Itoa(j)
		}
		idx := len(l.m.Inputs)
		l.m.Inputs = append(l.m.Inputs, ir.Input{Name: name, Type: typ, Required: true})
		v.slots = append(v.slots, idx)
		if elem == String {
			v.strIn = append(v.strIn, idx)
		}
		if len(l.m.Inputs) > ir.MaxInputs {
			return nil, ir.Unsupportedf("more than %d input columns", ir.MaxInputs)
		}
	}
	return v, nil
}

// code returns the code of string s in model input in's table, adding it.
func (l *lowering) code(in int, s string) float64 {
	for len(l.cats) <= in {
		l.cats = append(l.cats, nil)
	}
	if l.cats[in] == nil {
		l.cats[in] = map[string]int{}
	}
	c, ok := l.cats[in][s]
	if !ok {
		c = len(l.cats[in])
		l.cats[in][s] = c
	}
	return float64(c)
}

func (l *lowering) input(n *Node, i int) (*value, error) {
	if i >= len(n.Inputs) {
		return nil, unsupported(n, "no input %d", i)
	}
	v := l.vals[n.Inputs[i]]
	if v == nil {
		return nil, unsupported(n, "input %q is not a row the compiler follows", n.Inputs[i])
	}
	return v, nil
}

func (l *lowering) output(n *Node, i int, v *value) {
	if i < len(n.Outputs) && n.Outputs[i] != "" {
		l.vals[n.Outputs[i]] = v
	}
}

func (l *lowering) node(n *Node) error {
	domain := n.Domain
	if domain == "ai.onnx" {
		domain = ""
	}
	op := domain + "/" + n.OpType
	// A tensor whose batch axis is not the first goes into Concat along
	// axis 0 and the reductions over it, nowhere else.
	for _, name := range n.Inputs {
		if v := l.vals[name]; v != nil && v.stack > 0 && op != "/Concat" && op != "/ReduceMean" && op != "/ReduceSum" {
			return unsupported(n, "a tensor whose batch axis is not the first")
		}
	}
	// Integer tensors known at compile time (shapes) fold.
	if folded, err := l.fold(n, op); folded || err != nil {
		return err
	}
	if folded, err := l.foldConst(n, op); folded || err != nil {
		return err
	}
	switch op {
	case "/Identity":
		if c := l.consts[input(n, 0)]; c != nil && len(n.Outputs) > 0 {
			l.consts[n.Outputs[0]] = c
			return nil
		}
		v, err := l.input(n, 0)
		if err != nil {
			return err
		}
		l.output(n, 0, v)
	case "/Constant":
		return l.constant(n)
	case "/Shape":
		return l.shapeOf(n)
	case "/Cast":
		return l.cast(n)
	case "ai.onnx.ml/Scaler":
		v, err := l.numeric(n, 0)
		if err != nil {
			return err
		}
		off, scale := floats32(n.Attr("offset")), floats32(n.Attr("scale"))
		if err := perColumn(n, len(v.slots), off, scale); err != nil {
			return err
		}
		out := l.m.Alloc(len(v.slots))
		var ops []ir.Op
		if v.typ() != Float {
			ops = append(ops, ir.Op{Kind: ir.OpRound32})
		}
		if off != nil {
			ops = append(ops, ir.Op{Kind: ir.OpSub, Vals: off}, ir.Op{Kind: ir.OpRound32})
		}
		if scale != nil {
			ops = append(ops, ir.Op{Kind: ir.OpMul, Vals: scale}, ir.Op{Kind: ir.OpRound32})
		}
		if ops == nil {
			ops = []ir.Op{{Kind: ir.OpRound32}}
		}
		l.m.Add(&ir.Map{In: v.slots, Out: out, Ops: ops})
		l.output(n, 0, v.like(out, Float))
	case "ai.onnx.ml/Imputer":
		v, err := l.numeric(n, 0)
		if err != nil {
			return err
		}
		vals := floats32(n.Attr("imputed_value_floats"))
		match := math.NaN()
		if a := n.Attr("replaced_value_float"); a != nil {
			match = float64(a.F)
		}
		if v.typ() == Int64 {
			vals = nil
			for _, x := range attrInts(n, "imputed_value_int64s") {
				vals = append(vals, float64(x))
			}
			match = 0
			if a := n.Attr("replaced_value_int64"); a != nil {
				match = float64(a.I)
			}
		}
		if err := perColumn(n, len(v.slots), vals); err != nil || vals == nil {
			return unsupported(n, "imputed values for %d columns needed", len(v.slots))
		}
		out := l.m.Map(v.slots, []ir.Op{{Kind: ir.OpReplace, Vals: vals, Match: match}})
		l.output(n, 0, v.like(out, v.typ()))
	case "ai.onnx.ml/LinearClassifier":
		return l.linearClassifier(n)
	case "ai.onnx.ml/LinearRegressor":
		return l.linearRegressor(n)
	case "ai.onnx.ml/SVMRegressor":
		return l.svmRegressor(n)
	case "ai.onnx.ml/SVMClassifier":
		return l.svmClassifier(n)
	case "ai.onnx.ml/TreeEnsembleClassifier":
		return l.treeEnsemble(n, true)
	case "ai.onnx.ml/TreeEnsembleRegressor":
		return l.treeEnsemble(n, false)
	case "ai.onnx.ml/TreeEnsemble":
		return l.treeEnsemble5(n)
	case "ai.onnx.ml/Normalizer":
		return l.normalizer(n)
	case "ai.onnx.ml/OneHotEncoder":
		return l.oneHotEncoder(n)
	case "ai.onnx.ml/LabelEncoder":
		return l.labelEncoder(n)
	case "ai.onnx.ml/Binarizer":
		v, err := l.numeric(n, 0)
		if err != nil {
			return err
		}
		t := 0.0
		if a := n.Attr("threshold"); a != nil {
			t = float64(a.F)
		}
		out := l.m.Map(v.slots, []ir.Op{{Kind: ir.OpGreater, Vals: []float64{t}}})
		l.output(n, 0, v.like(out, v.typ()))
	case "ai.onnx.ml/FeatureVectorizer":
		return l.featureVectorizer(n)
	case "/Add", "/Sub", "/Mul", "/Div", "/Pow", "/Less", "/Greater", "/Equal":
		return l.arith(n)
	case "/Where":
		return l.where(n)
	case "/Sum":
		return l.sum(n)
	case "/Neg", "/Not":
		v, err := l.numeric(n, 0)
		if err != nil {
			return err
		}
		if (n.OpType == "Not") != (v.typ() == Bool) {
			return unsupported(n, "on a %s tensor", v.typ())
		}
		ops := []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}} // exact in every type
		if n.OpType == "Not" {
			ops = append(ops, ir.Op{Kind: ir.OpAdd, Vals: []float64{1}})
		}
		l.output(n, 0, v.like(l.m.Map(v.slots, ops), v.typ()))
	case "/ConstantOfShape":
		return l.constantOfShape(n)
	case "/MatMul":
		return l.matmul(n)
	case "/Gemm":
		return l.gemm(n)
	case "/Relu", "/Sigmoid", "/Tanh", "/Exp", "/Log", "/Abs":
		v, err := l.numeric(n, 0)
		if err != nil {
			return err
		}
		op := map[string]ir.Op{"Relu": {Kind: ir.OpMax, Vals: []float64{0}}, "Sigmoid": {Kind: ir.OpLogistic},
			"Tanh": {Kind: ir.OpTanh}, "Exp": {Kind: ir.OpExp}, "Log": {Kind: ir.OpLog}, "Abs": {Kind: ir.OpAbs}}[n.OpType]
		if v.typ() == Int64 && n.OpType != "Relu" && n.OpType != "Abs" {
			return unsupported(n, "on integers")
		}
		out := l.m.Map(v.slots, l.rounded(v.typ(), op))
		l.output(n, 0, v.like(out, v.typ()))
	case "/Clip":
		return l.clip(n)
	case "/ReduceSum", "/ReduceProd", "/ReduceLogSumExp", "/ReduceMean":
		return l.reduceSum(n)
	case "/Softmax":
		v, err := l.numeric(n, 0)
		if err != nil {
			return err
		}
		if a := n.Attr("axis"); a != nil && a.I != int64(len(v.shape())) && a.I != -1 {
			return unsupported(n, "axis %d", a.I)
		}
		if len(v.shape()) != 1 || v.typ() == Int64 {
			return unsupported(n, "softmax of a %s tensor of shape %v", v.typ(), v.shape())
		}
		out := l.m.Alloc(len(v.slots))
		l.m.Add(&ir.Softmax{In: v.slots, Out: out})
		if v.typ() == Float {
			out = l.round32(out)
		}
		l.output(n, 0, v.like(out, v.typ()))
		l.m.HasProba = true
	case "/Concat":
		return l.concat(n)
	case "/Gather":
		return l.gather(n)
	case "/Slice":
		return l.slice(n)
	case "/ArgMax":
		v, err := l.numeric(n, 0)
		if err != nil {
			return err
		}
		if a := n.Attr("axis"); a == nil || (a.I != 1 && a.I != -1) || len(v.shape()) != 1 {
			return unsupported(n, "arg max along another axis than the columns")
		}
		if a := n.Attr("select_last_index"); a != nil && a.I != 0 {
			return unsupported(n, "select_last_index")
		}
		keep := true
		if a := n.Attr("keepdims"); a != nil && a.I == 0 {
			keep = false
		}
		l.output(n, 0, &value{slots: v.slots, argmax: true, argKeep: keep})
	case "ai.onnx.ml/ArrayFeatureExtractor":
		if l.consts[input(n, 0)] != nil {
			return l.classOf(n)
		}
		return l.gather(n)
	case "/Reshape", "/Flatten", "/Squeeze", "/Unsqueeze":
		v, err := l.input(n, 0)
		if err != nil {
			return err
		}
		if v.label || v.argmax { // the label's shape is the batch's
			l.output(n, 0, v)
			return nil
		}
		if st := l.stacked(n, v); st != nil {
			l.output(n, 0, st)
			return nil
		}
		dims, err := l.reshape(n, v)
		if err != nil {
			return err
		}
		l.output(n, 0, &value{slots: v.slots, dims: dims, elem: v.elem, strIn: v.strIn})
	case "ai.onnx.ml/ZipMap":
		v, err := l.input(n, 0)
		if err != nil {
			return err
		}
		l.output(n, 0, v)
	default:
		return unsupported(n, "unsupported operator %s", opName(domain, n.OpType))
	}
	return nil
}

// numeric returns a node's input i, a tensor of numbers (not a label or
// strings).
// normalizer: each row over its norm, in float32 as onnxruntime computes
// it (ir.Normalize).
func (l *lowering) normalizer(n *Node) error {
	v, err := l.row(n, 0)
	if err != nil {
		return err
	}
	norm := "MAX"
	if a := n.Attr("norm"); a != nil {
		norm = string(a.S)
	}
	kinds := map[string]ir.NormKind{"MAX": ir.NormMax, "L1": ir.NormL1, "L2": ir.NormL2}
	k, ok := kinds[norm]
	switch {
	case !ok:
		return unsupported(n, "norm %q", norm)
	case k == ir.NormL2 && v.typ() != Float && v.typ() != Double:
		// onnxruntime squares integers in their own type, wrapping.
		return unsupported(n, "L2 of %s", v.typ())
	}
	out := l.m.Alloc(len(v.slots))
	l.m.Add(&ir.Normalize{In: v.slots, Out: out, Zero: ir.ZeroKeep, Norm: k})
	l.output(n, 0, v.like(out, Float))
	return nil
}

func (l *lowering) numeric(n *Node, i int) (*value, error) {
	v, err := l.input(n, i)
	if err != nil {
		return nil, err
	}
	v = l.argIndex(v)
	if v.label || v.argmax {
		return nil, unsupported(n, "on a label")
	}
	if v.typ() == String {
		return nil, unsupported(n, "on strings")
	}
	return v, nil
}

// row returns a node's input i, a row of numbers [N, F].
func (l *lowering) row(n *Node, i int) (*value, error) {
	v, err := l.numeric(n, i)
	if err != nil {
		return nil, err
	}
	if len(v.shape()) != 1 {
		return nil, unsupported(n, "on a tensor of shape [N, %v]; it takes [N, F]", v.shape())
	}
	return v, nil
}

// rounded appends the float32 rounding a Float result takes.
func (l *lowering) rounded(t DataType, ops ...ir.Op) []ir.Op {
	if t == Float {
		return append(ops, ir.Op{Kind: ir.OpRound32})
	}
	return ops
}

// classLabels reads a classifier node's labels as JSON values: the
// integer attribute ints (its name differs between operators), else
// classlabels_strings.
func classLabels(n *Node, ints string) []json.RawMessage {
	var labels []json.RawMessage
	if a := n.Attr(ints); a != nil {
		for _, c := range a.Ints {
			labels = append(labels, json.RawMessage(strconv.FormatInt(c, 10)))
		}
	} else if a := n.Attr("classlabels_strings"); a != nil {
		for _, c := range a.Strings {
			b, _ := json.Marshal(string(c))
			labels = append(labels, b)
		}
	}
	return labels
}

func opName(domain, op string) string {
	if domain == "" {
		return op
	}
	return domain + "." + op
}

// perColumn checks that each attribute has one value per column, or one.
func perColumn(n *Node, cols int, attrs ...[]float64) error {
	for _, a := range attrs {
		if a != nil && len(a) != cols && len(a) != 1 {
			return unsupported(n, "%d values for %d columns", len(a), cols)
		}
	}
	return nil
}

// linearScores adds the scores X·Wᵀ + b as onnxruntime computes them: a
// float32 multiply-add per term (for float32 inputs), rounded to float32.
func (l *lowering) linearScores(n *Node, v *value, k int) ([]int, error) {
	in := v.slots
	coef, icpt := floats32(n.Attr("coefficients")), floats32(n.Attr("intercepts"))
	if k < 1 || len(coef) != k*len(in) {
		return nil, unsupported(n, "%d coefficients for %d outputs of %d columns", len(coef), k, len(in))
	}
	if icpt != nil && len(icpt) != k {
		return nil, unsupported(n, "%d intercepts for %d outputs", len(icpt), k)
	}
	out := l.m.Alloc(k)
	l.m.Add(&ir.Linear{In: in, Out: out, W: coef, B: icpt, AnyOrder: true, FMA32: v.typ() == Float})
	return l.round32(out), nil
}

func (l *lowering) linearClassifier(n *Node) error {
	if l.m.Task != "" {
		return unsupported(n, "a second estimator in one graph")
	}
	v, err := l.row(n, 0)
	if err != nil {
		return err
	}
	labels := classLabels(n, "classlabels_ints")
	if len(labels) < 2 {
		return unsupported(n, "%d class labels (mlbox takes two or more, one coefficient row each)", len(labels))
	}
	post := "NONE"
	if a := n.Attr("post_transform"); a != nil {
		post = string(a.S)
	}
	l.m.Task, l.m.Labels, l.m.PredictFn = ir.Classification, labels, ir.PredictLabel
	if post == "LOGISTIC" && negatedRows(n, len(v.slots)) {
		// skl2onnx's binary LogisticRegression: the first row is the second
		// negated, so the first score is exactly minus the second. One dot
		// product and one logistic: p0 = 1 - p1 before rounding to float32
		// (within 1.2e-16 of logistic(-s)).
		c := floats32(n.Attr("coefficients"))
		var b []float64
		if icpt := floats32(n.Attr("intercepts")); icpt != nil {
			b = icpt[1:]
		}
		k := len(v.slots)
		s := l.m.Alloc(1)
		l.m.Add(&ir.Linear{In: v.slots, Out: s, W: c[k:], B: b, AnyOrder: true, FMA32: v.typ() == Float})
		p := l.m.Alloc(1)
		l.m.Add(&ir.Map{In: s, Out: p, Ops: []ir.Op{{Kind: ir.OpRound32}, {Kind: ir.OpLogistic}}})
		p0 := l.m.Alloc(1)
		l.m.Add(&ir.Map{In: p, Out: p0, Ops: []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}, {Kind: ir.OpRound32}}})
		scores := []int{p0[0], l.round32(p)[0]}
		l.m.HasProba = true
		l.output(n, 0, &value{slots: scores, label: true})
		l.output(n, 1, &value{slots: scores})
		return nil
	}
	scores, err := l.linearScores(n, v, len(labels))
	if err != nil {
		return err
	}
	switch post {
	case "NONE":
	case "LOGISTIC":
		out := l.m.Map(scores, []ir.Op{{Kind: ir.OpLogistic}})
		scores, l.m.HasProba = l.round32(out), true
	case "SOFTMAX":
		out := l.m.Alloc(len(scores))
		l.m.Add(&ir.Softmax{In: scores, Out: out})
		scores, l.m.HasProba = l.round32(out), true
	default:
		return unsupported(n, "post_transform %s", post)
	}
	l.output(n, 0, &value{slots: scores, label: true})
	l.output(n, 1, &value{slots: scores})
	return nil
}

// negatedRows reports whether a LinearClassifier of two classes over k
// columns has a first coefficient row and intercept that are exactly the
// second's negated.
func negatedRows(n *Node, k int) bool {
	c, icpt := floats32(n.Attr("coefficients")), floats32(n.Attr("intercepts"))
	if len(c) != 2*k || (icpt != nil && (len(icpt) != 2 || icpt[0] != -icpt[1])) {
		return false
	}
	for j := range k {
		if c[j] != -c[k+j] {
			return false
		}
	}
	return true
}

func (l *lowering) linearRegressor(n *Node) error {
	if l.m.Task != "" {
		return unsupported(n, "a second estimator in one graph")
	}
	v, err := l.row(n, 0)
	if err != nil {
		return err
	}
	k := int64(1)
	if a := n.Attr("targets"); a != nil {
		k = a.I
	}
	if k < 1 || k > ir.MaxInputs {
		return unsupported(n, "%d targets", k)
	}
	if a := n.Attr("post_transform"); a != nil && string(a.S) != "NONE" {
		return unsupported(n, "post_transform %s", a.S)
	}
	out, err := l.linearScores(n, v, int(k))
	if err != nil {
		return err
	}
	l.m.Task, l.m.PredictFn = ir.Regression, ir.PredictLabel
	l.output(n, 0, &value{slots: out})
	return nil
}

// svmRegressor lowers SVMRegressor (skl2onnx's SVR, NuSVR and
// OneClassSVM) as onnxruntime computes it: the kernel of the row and each
// support vector, in float32, then Σ coefficient·kernel + rho (or, with no
// support vectors, a linear model of the row); ±1 for a one-class SVM.
func (l *lowering) svmRegressor(n *Node) error {
	if l.m.Task != "" {
		return unsupported(n, "a second estimator in one graph")
	}
	v, err := l.row(n, 0)
	if err != nil {
		return err
	}
	if v.typ() != Float {
		return unsupported(n, "a %s input (onnxruntime takes floats)", v.typ())
	}
	coef, rho := floats32(n.Attr("coefficients")), floats32(n.Attr("rho"))
	if len(coef) == 0 || len(rho) == 0 {
		return unsupported(n, "no coefficients or rho")
	}
	nsv := int64(0)
	if a := n.Attr("n_supports"); a != nil {
		nsv = a.I
	}
	nf := len(v.slots)
	var out []int
	if nsv <= 0 { // liblinear: a dot product with the row
		if len(coef) != nf {
			return unsupported(n, "%d coefficients for %d features", len(coef), nf)
		}
		out = l.m.Alloc(1)
		l.m.Add(&ir.Linear{In: v.slots, Out: out, W: coef, B: rho[:1], FMA32: true})
	} else {
		sv := floats32(n.Attr("support_vectors"))
		if nsv > int64(len(coef)) || len(coef) != int(nsv) || len(sv) != int(nsv)*nf {
			return unsupported(n, "%d support vectors of %d values and %d coefficients for %d features", nsv, len(sv), len(coef), nf)
		}
		k, err := l.svmKernel(n, v, sv, int(nsv))
		if err != nil {
			return err
		}
		out = l.m.Alloc(1)
		l.m.Add(&ir.Linear{In: k, Out: out, W: coef, B: rho[:1], FMA32: true})
	}
	if a := n.Attr("one_class"); a != nil && a.I != 0 {
		out = l.m.Map(out, []ir.Op{{Kind: ir.OpGreater, Vals: []float64{0}}, {Kind: ir.OpMul, Vals: []float64{2}}, {Kind: ir.OpSub, Vals: []float64{1}}})
	}
	l.m.Task, l.m.PredictFn = ir.Regression, ir.PredictLabel
	l.output(n, 0, &value{slots: out})
	return nil
}

// svmKernel lowers an SVM's kernel of the row v and each of the nsv
// support vectors sv: RBF as onnxruntime computes it (ir.RBF); LINEAR and
// POLY as a float32 multiply-add chain (onnxruntime's GEMM), then for POLY
// γ·dot + coef0 raised to the degree, rounded to float32.
func (l *lowering) svmKernel(n *Node, v *value, sv []float64, nsv int) ([]int, error) {
	gamma, coef0, degree := 0.0, 0.0, 0.0
	if p := floats32(n.Attr("kernel_params")); len(p) > 0 {
		if len(p) != 3 {
			return nil, unsupported(n, "%d kernel parameters", len(p))
		}
		gamma, coef0, degree = p[0], p[1], p[2]
	}
	kind := "LINEAR"
	if a := n.Attr("kernel_type"); a != nil {
		kind = string(a.S)
	}
	if kind == "RBF" {
		k := &ir.RBF{In: v.slots, Out: l.m.Alloc(nsv), C: sv, Gamma: gamma}
		l.m.Add(k)
		return k.Out, nil
	}
	dot := l.m.Alloc(nsv)
	l.m.Add(&ir.Linear{In: v.slots, Out: dot, W: sv, FMA32: true})
	switch kind {
	case "LINEAR":
		return dot, nil
	case "POLY":
		base := l.m.Map(dot, []ir.Op{{Kind: ir.OpMul, Vals: []float64{gamma}}, {Kind: ir.OpAdd, Vals: []float64{coef0}}, {Kind: ir.OpRound32}})
		if degree != 3 { // x·x for 2 (ir.Pow), else powf
			return l.m.Map(base, []ir.Op{{Kind: ir.OpPow, Vals: []float64{degree}}, {Kind: ir.OpRound32}}), nil
		}
		// Eigen's cube: (x·x)·x, rounded twice.
		cube := l.m.Alloc(nsv)
		l.m.Add(&ir.Binary{A: l.m.Map(base, []ir.Op{{Kind: ir.OpSquare}, {Kind: ir.OpRound32}}), B: base, Out: cube, Kind: ir.OpMul})
		return l.round32(cube), nil
	}
	// SIGMOID: onnxruntime's tanh is MLAS's own approximation.
	return nil, unsupported(n, "kernel %q", kind)
}

// classes records that the graph classifies into labels. Several tree
// ensembles in one graph (bagging, voting: their scores combined by the
// graph) are fine when they agree on the classes.
func (l *lowering) classes(n *Node, labels []json.RawMessage) error {
	switch {
	case l.m.Task == "":
		l.m.Task, l.m.Labels, l.m.PredictFn = ir.Classification, labels, ir.PredictLabel
	case l.m.Task != ir.Classification || !slices.EqualFunc(l.m.Labels, labels, func(a, b json.RawMessage) bool { return string(a) == string(b) }):
		return unsupported(n, "a second estimator in one graph, with other classes")
	}
	return nil
}

// hold is x as a tree ensemble holds a threshold or a sum: a float32, or
// a double (dbl).
func hold(x float64, dbl bool) float64 {
	if dbl {
		return x
	}
	return float64(float32(x))
}

// below is the largest value below t in the ensemble's type: x < t is
// x <= below(t).
func below(t float64, dbl bool) float64 {
	if !dbl {
		return prev32(float32(t))
	}
	if math.IsNaN(t) || math.IsInf(t, -1) {
		return t
	}
	return math.Nextafter(t, math.Inf(-1))
}

// prev32 is the largest float32 below t (as a float64): x < t is x <= prev32(t)
// for a float32 x.
func prev32(t float32) float64 {
	if math.IsNaN(float64(t)) || math.IsInf(float64(t), -1) {
		return float64(t)
	}
	return float64(math.Nextafter32(t, float32(math.Inf(-1))))
}

func attrInts(n *Node, name string) []int64 {
	if a := n.Attr(name); a != nil {
		return a.Ints
	}
	return nil
}

// treeEnsemble lowers TreeEnsembleClassifier / TreeEnsembleRegressor
// (ai.onnx.ml 1-3) as onnxruntime runs them: float32 comparisons, float32
// sums over the trees in order, the base values added last.
func (l *lowering) treeEnsemble(n *Node, classifier bool) error {
	if l.m.Task != "" && (l.m.Task == ir.Classification) != classifier {
		return unsupported(n, "a classifier and a regressor in one graph")
	}
	v, err := l.row(n, 0)
	if err != nil {
		return err
	}
	// ai.onnx.ml 3 may give thresholds, weights and base values as
	// tensors (of doubles): the ensemble then compares and sums in double.
	dbl := v.typ() == Double
	floatsOr := func(name string) ([]float64, bool, error) {
		if a := n.Attr(name + "_as_tensor"); a != nil && a.T != nil {
			x, err := numbers(a.T)
			if err != nil {
				return nil, false, unsupported(n, "attribute %s_as_tensor: %v", name, err)
			}
			if a.T.DataType == Double {
				dbl = true
			}
			return x, true, nil
		}
		if a := n.Attr(name); a != nil {
			return floats32(a), true, nil
		}
		return nil, false, nil
	}
	treeIDs, nodeIDs, feats := attrInts(n, "nodes_treeids"), attrInts(n, "nodes_nodeids"), attrInts(n, "nodes_featureids")
	trueIDs, falseIDs := attrInts(n, "nodes_truenodeids"), attrInts(n, "nodes_falsenodeids")
	tracks := attrInts(n, "nodes_missing_value_tracks_true")
	var modes [][]byte
	if a := n.Attr("nodes_modes"); a != nil {
		modes = a.Strings
	}
	thr, _, err := floatsOr("nodes_values")
	if err != nil {
		return err
	}
	nn := len(nodeIDs)
	if nn == 0 || len(treeIDs) != nn || len(feats) != nn || len(trueIDs) != nn || len(falseIDs) != nn ||
		len(modes) != nn || len(thr) != nn || (tracks != nil && len(tracks) != nn) {
		return unsupported(n, "node attributes of different lengths")
	}
	pfx := "target_"
	if classifier {
		pfx = "class_"
	}
	wTree, wNode, wID := attrInts(n, pfx+"treeids"), attrInts(n, pfx+"nodeids"), attrInts(n, pfx+"ids")
	wv, ok, err := floatsOr(pfx + "weights")
	if err != nil {
		return err
	}
	if !ok || len(wTree) != len(wv) || len(wNode) != len(wv) || len(wID) != len(wv) {
		return unsupported(n, "%sweights attributes of different lengths", pfx)
	}
	baseVals, _, err := floatsOr("base_values")
	if err != nil {
		return err
	}
	// Outputs: classes or targets.
	var labels []json.RawMessage
	nOut := 0
	if classifier {
		labels = classLabels(n, "classlabels_int64s")
		nOut = len(labels)
		if nOut < 2 {
			return unsupported(n, "%d class labels", nOut)
		}
	} else {
		t := int64(1)
		if a := n.Attr("n_targets"); a != nil {
			t = a.I
		}
		if t < 1 || t > 1<<12 {
			return unsupported(n, "%d targets", t)
		}
		nOut = int(t)
	}
	maxID := int64(-1)
	allPos := true
	for i, id := range wID {
		if id < 0 || id >= int64(nOut) {
			return unsupported(n, "weight for output %d of %d", id, nOut)
		}
		maxID = max(maxID, id)
		if wv[i] < 0 {
			allPos = false
		}
	}
	binary := classifier && nOut == 2 && maxID == 0
	scoresN := nOut
	if binary {
		scoresN = 1
	}
	// Trees in order of first appearance, nodes by id within each.
	type key struct{ tree, node int64 }
	type tree struct {
		at  map[int64]int32 // node id -> index
		ids []int64
	}
	var order []int64
	trees := map[int64]*tree{}
	for i := range nn {
		t := trees[treeIDs[i]]
		if t == nil {
			if len(trees) >= 1<<20 {
				return unsupported(n, "too many trees")
			}
			t = &tree{at: map[int64]int32{}}
			trees[treeIDs[i]] = t
			order = append(order, treeIDs[i])
		}
		if _, dup := t.at[nodeIDs[i]]; dup {
			return ir.Invalidf("node %s: tree %d has node %d twice", n.Name, treeIDs[i], nodeIDs[i])
		}
		t.at[nodeIDs[i]] = int32(len(t.ids))
		t.ids = append(t.ids, int64(i))
	}
	weights := map[key][]float64{}
	for i := range wID {
		k := key{wTree[i], wNode[i]}
		w := weights[k]
		if w == nil {
			w = make([]float64, scoresN)
			weights[k] = w
		}
		c := int(wID[i])
		if binary {
			c = 0
		}
		// Several weights of one leaf and class add up in float32 (or double).
		w[c] = hold(w[c]+wv[i], dbl)
	}
	ts := &ir.Trees{In: v.slots, Float32: !dbl, Accum32: !dbl, Base: make([]float64, scoresN)}
	for _, tid := range order {
		t := trees[tid]
		if _, ok := t.at[0]; !ok {
			return unsupported(n, "tree %d has no node 0 (its root)", tid)
		}
		// Node 0 (the root) first: the IR starts each tree at index 0.
		idx := make([]int32, len(t.ids))
		next := int32(1)
		for j, i := range t.ids {
			if nodeIDs[i] == 0 {
				idx[j] = 0
			} else {
				idx[j] = next
				next++
			}
		}
		m := len(t.ids)
		tr := ir.Tree{Feature: make([]int32, m), Threshold: make([]float64, m), Left: make([]int32, m),
			Right: make([]int32, m), MissingLeft: make([]bool, m), Value: make([]float64, m*scoresN)}
		ref := func(id int64) (int32, error) {
			j, ok := t.at[id]
			if !ok {
				return 0, unsupported(n, "tree %d refers to node %d it does not have", tid, id)
			}
			return idx[j], nil
		}
		for j, i := range t.ids {
			x := idx[j]
			mode := string(modes[i])
			if mode == "LEAF" {
				tr.Feature[x] = -1
				if w := weights[key{tid, nodeIDs[i]}]; w != nil {
					copy(tr.Value[int(x)*scoresN:], w)
				}
				continue
			}
			if feats[i] < 0 || feats[i] >= int64(len(v.slots)) {
				return unsupported(n, "feature %d of %d", feats[i], len(v.slots))
			}
			tn, err := ref(trueIDs[i])
			if err != nil {
				return err
			}
			fn, err := ref(falseIDs[i])
			if err != nil {
				return err
			}
			tt := hold(thr[i], dbl)
			trueLeft := true
			switch mode {
			case "BRANCH_LEQ":
				tr.Threshold[x] = tt
			case "BRANCH_LT":
				tr.Threshold[x] = below(tt, dbl)
			case "BRANCH_GT": // x > t: not x <= t
				tr.Threshold[x], trueLeft = tt, false
			case "BRANCH_GTE": // x >= t: not x < t
				tr.Threshold[x], trueLeft = below(tt, dbl), false
			default:
				return unsupported(n, "node mode %s", mode)
			}
			tr.Feature[x] = int32(feats[i])
			if trueLeft {
				tr.Left[x], tr.Right[x] = tn, fn
			} else {
				tr.Left[x], tr.Right[x] = fn, tn
			}
			nanTrue := tracks != nil && tracks[i] == 1
			tr.MissingLeft[x] = nanTrue == trueLeft
		}
		ts.Trees = append(ts.Trees, tr)
	}
	if agg := n.Attr("aggregate_function"); agg != nil && string(agg.S) != "SUM" {
		return unsupported(n, "aggregate_function %s", agg.S)
	}
	raw := l.m.Alloc(scoresN)
	ts.Out = raw
	l.m.Add(ts)
	scores := raw
	if base := baseVals; base != nil {
		if len(base) != scoresN && !(binary && len(base) == 2) {
			return unsupported(n, "%d base values for %d scores", len(base), scoresN)
		}
		if binary {
			base = base[len(base)-1:]
		}
		out := l.m.Alloc(scoresN)
		l.m.Add(&ir.Map{In: raw, Out: out, Ops: []ir.Op{{Kind: ir.OpAdd, Vals: base}, {Kind: ir.OpRound32}}})
		scores = out
	}
	post := "NONE"
	if a := n.Attr("post_transform"); a != nil {
		post = string(a.S)
	}
	if !classifier {
		if post != "NONE" {
			return unsupported(n, "post_transform %s", post)
		}
		l.m.Task, l.m.PredictFn = ir.Regression, ir.PredictLabel
		l.output(n, 0, &value{slots: scores})
		return nil
	}
	if err := l.classes(n, labels); err != nil {
		return err
	}
	switch {
	case binary:
		// One score s, of the second class: [1 - s, s] (weights all >= 0),
		// [-s, s] (some negative), [1 - p, p] with p = logistic(s).
		s := scores
		neg := ir.Op{Kind: ir.OpMul, Vals: []float64{-1}}
		switch {
		case post == "LOGISTIC" && !allPos:
			p := l.m.Alloc(1)
			l.m.Add(&ir.Map{In: s, Out: p, Ops: []ir.Op{{Kind: ir.OpLogistic}, {Kind: ir.OpRound32}}})
			s, l.m.HasProba = p, true
			fallthrough
		case post == "NONE" && allPos:
			first := l.m.Alloc(1)
			l.m.Add(&ir.Map{In: s, Out: first, Ops: []ir.Op{neg, {Kind: ir.OpAdd, Vals: []float64{1}}, {Kind: ir.OpRound32}}})
			scores = []int{first[0], s[0]}
			l.m.HasProba = l.m.HasProba || post == "NONE"
		case post == "NONE":
			first := l.m.Alloc(1)
			l.m.Add(&ir.Map{In: s, Out: first, Ops: []ir.Op{neg}})
			scores = []int{first[0], s[0]}
		default:
			// LOGISTIC with all weights >= 0 labels by s > 0.5 on the raw
			// score, which the probabilities' arg max does not reproduce.
			return unsupported(n, "binary post_transform %s with non-negative weights", post)
		}
	case post == "NONE":
	case post == "SOFTMAX":
		out := l.m.Alloc(len(scores))
		l.m.Add(&ir.Softmax{In: scores, Out: out})
		scores, l.m.HasProba = l.round32(out), true
	case post == "LOGISTIC":
		out := l.m.Map(scores, []ir.Op{{Kind: ir.OpLogistic}, {Kind: ir.OpRound32}})
		scores, l.m.HasProba = out, true
	default:
		return unsupported(n, "post_transform %s", post)
	}
	l.output(n, 0, &value{slots: scores, label: true})
	l.output(n, 1, &value{slots: scores})
	return nil
}

// arithKinds are the element-wise operators arith lowers.
var arithKinds = map[string]ir.OpKind{"Add": ir.OpAdd, "Sub": ir.OpSub, "Mul": ir.OpMul, "Div": ir.OpDiv,
	"Pow": ir.OpPow, "Less": ir.OpLess, "Greater": ir.OpGreater, "Equal": ir.OpEqual}

// arith lowers Add, Sub, Mul, Div, Less, Greater, Equal and Pow of a
// tensor and a constant (a scalar, one value per element of a row, or a
// row of values for a tensor of one column), or of two tensors (of one
// shape, or one of them a single column), in the tensors' type: float32
// rounded after each operation. Less and Greater answer booleans. Pow
// takes a constant exponent.
func (l *lowering) arith(n *Node) error {
	if len(n.Inputs) != 2 {
		return unsupported(n, "%d inputs", len(n.Inputs))
	}
	kind := arithKinds[n.OpType]
	compare := kind == ir.OpLess || kind == ir.OpGreater || kind == ir.OpEqual
	if a, b := l.vals[n.Inputs[0]], l.vals[n.Inputs[1]]; a != nil && b != nil {
		v, err := l.arith2(n, kind, l.argIndex(a), l.argIndex(b))
		if err == nil {
			l.output(n, 0, v)
		}
		return err
	}
	row, c := l.vals[n.Inputs[0]], l.consts[n.Inputs[1]]
	constFirst := false
	if row == nil && n.OpType != "Div" && n.OpType != "Pow" {
		row, c, constFirst = l.vals[n.Inputs[1]], l.consts[n.Inputs[0]], true
	}
	if row != nil {
		row = l.argIndex(row)
	}
	if row == nil || c == nil || row.label || row.argmax || row.typ() == String || row.typ() == Bool {
		return unsupported(n, "only tensors of numbers and constants are combined")
	}
	if c.DataType != row.typ() && !(c.DataType == Int32 && row.typ() == Int64) && kind != ir.OpPow {
		return unsupported(n, "a %s constant with a %s tensor", c.DataType, row.typ())
	}
	if row.typ() == Int64 && (kind == ir.OpDiv || kind == ir.OpPow) {
		return unsupported(n, "integer %s", n.OpType)
	}
	vals, err := numbers(c)
	if err != nil {
		return err
	}
	// The constant broadcasts against the row (its first axis, when it has
	// one more than the row, against the batch: it must be 1).
	cd, ok := constDims(c, len(row.shape()))
	if !ok {
		return unsupported(n, "a constant of dims %v for a tensor of shape %v", c.Dims, row.shape())
	}
	shape, iv, ic, ok := broadcast(row.shape(), cd)
	if !ok || len(iv) > ir.MaxSlots {
		return unsupported(n, "a constant of dims %v for a tensor of shape %v", c.Dims, row.shape())
	}
	in, cv := make([]int, len(iv)), make([]float64, len(ic))
	for k := range iv {
		in[k], cv[k] = row.slots[iv[k]], vals[ic[k]]
	}
	vals = cv
	res := &value{dims: shape, elem: row.typ()}
	op := ir.Op{Kind: kind, Vals: vals}
	var ops []ir.Op
	switch {
	case constFirst && kind == ir.OpSub: // c - x = -x + c, one rounding
		ops = l.rounded(row.typ(), ir.Op{Kind: ir.OpMul, Vals: []float64{-1}}, ir.Op{Kind: ir.OpAdd, Vals: vals})
	case compare:
		if constFirst && kind != ir.OpEqual { // c < x is x > c
			op.Kind = ir.OpLess + ir.OpGreater - kind
		}
		ops = []ir.Op{op}
	default:
		ops = l.rounded(row.typ(), op)
	}
	elem := row.typ()
	if compare {
		elem = Bool
	}
	l.output(n, 0, res.like(l.m.Map(in, ops), elem))
	return nil
}

// arith2 lowers an element-wise operator of two tensors.
func (l *lowering) arith2(n *Node, kind ir.OpKind, a, b *value) (*value, error) {
	for _, v := range []*value{a, b} {
		if v.label || v.argmax || v.typ() == String {
			return nil, unsupported(n, "on a label or strings")
		}
	}
	switch t := a.typ(); {
	case t != b.typ():
		return nil, unsupported(n, "a %s and a %s tensor", t, b.typ())
	case kind == ir.OpPow:
		return nil, unsupported(n, "an exponent that is not a constant")
	case t == Bool || t == Int64 && kind == ir.OpDiv:
		return nil, unsupported(n, "on %s tensors", t)
	}
	shape, ia, ib, ok := broadcast(a.shape(), b.shape())
	if !ok || len(ia) > ir.MaxSlots {
		return nil, unsupported(n, "tensors of shapes %v and %v", a.shape(), b.shape())
	}
	as, bs, res := make([]int, len(ia)), make([]int, len(ib)), &value{dims: shape}
	for k := range ia {
		as[k], bs[k] = a.slots[ia[k]], b.slots[ib[k]]
	}
	out := l.m.Alloc(len(as))
	l.m.Add(&ir.Binary{A: as, B: bs, Out: out, Kind: kind})
	if kind == ir.OpLess || kind == ir.OpGreater || kind == ir.OpEqual {
		return res.like(out, Bool), nil
	}
	return res.like(l.rounded32(a.typ(), out), a.typ()), nil
}

// sum lowers Sum: its inputs added in order, as Add does.
func (l *lowering) sum(n *Node) error {
	v, err := l.input(n, 0)
	if err != nil {
		return err
	}
	for i := 1; i < len(n.Inputs); i++ {
		w, err := l.input(n, i)
		if err != nil {
			return err
		}
		if v, err = l.arith2(n, ir.OpAdd, v, w); err != nil {
			return err
		}
	}
	l.output(n, 0, v)
	return nil
}

// stacked returns, for a Reshape of a row tensor to [1, -1, dims...]
// that keeps the row's size, the tensor [1, N, dims...] (value.stack);
// else nil.
func (l *lowering) stacked(n *Node, v *value) *value {
	if n.OpType != "Reshape" || v.stack > 0 || v.typ() == String {
		return nil
	}
	sh, ok := l.intsOf(input(n, 1))
	if !ok || len(sh.vals) < 2 || sh.vals[0] != 1 || sh.vals[1] != -1 {
		return nil
	}
	dims := []int{}
	for _, d := range sh.vals[2:] {
		if d <= 0 || d > ir.MaxSlots {
			return nil
		}
		dims = append(dims, int(d))
	}
	if prod(dims) != len(v.slots) {
		return nil
	}
	return &value{slots: v.slots, dims: dims, elem: v.elem, stack: 1}
}

// where lowers Where(cond, a, b): a where cond is true, else b; the
// three tensors or constants broadcast against each other.
func (l *lowering) where(n *Node) error {
	if len(n.Inputs) != 3 {
		return unsupported(n, "%d inputs", len(n.Inputs))
	}
	rank := 0
	for _, name := range n.Inputs {
		if v := l.vals[name]; v != nil {
			rank = max(rank, len(v.shape()))
		}
	}
	vs := make([]*value, 3)
	for i, name := range n.Inputs {
		if v := l.vals[name]; v != nil {
			vs[i] = l.argIndex(v)
			if vs[i].label || vs[i].argmax || vs[i].typ() == String {
				return unsupported(n, "on a label or strings")
			}
			continue
		}
		c := l.consts[name]
		if c == nil {
			return unsupported(n, "input %q is neither a tensor nor a constant", name)
		}
		nums, err := numbers(c)
		if err != nil {
			return err
		}
		cd, ok := constDims(c, rank)
		if !ok || prod(cd) != len(nums) || len(nums) > ir.MaxSlots {
			return unsupported(n, "a constant of dims %v", c.Dims)
		}
		vs[i] = &value{slots: l.constSlots(len(nums), nums), dims: cd, elem: c.DataType}
	}
	cond, a, b := vs[0], vs[1], vs[2]
	if cond.typ() != Bool || a.typ() != b.typ() {
		return unsupported(n, "a %s condition between %s and %s", cond.typ(), a.typ(), b.typ())
	}
	s1, ic, ia, ok := broadcast(cond.shape(), a.shape())
	if !ok {
		return unsupported(n, "shapes %v and %v", cond.shape(), a.shape())
	}
	shape, i1, ib, ok := broadcast(s1, b.shape())
	if !ok {
		return unsupported(n, "shapes %v and %v", s1, b.shape())
	}
	sel := &ir.Select{Out: l.m.Alloc(len(i1))}
	for k, j := range i1 {
		sel.Cond = append(sel.Cond, cond.slots[ic[j]])
		sel.A = append(sel.A, a.slots[ia[j]])
		sel.B = append(sel.B, b.slots[ib[k]])
	}
	l.m.Add(sel)
	l.output(n, 0, &value{slots: sel.Out, dims: shape, elem: a.typ()})
	return nil
}

// broadcast broadcasts two shapes (the axes after the batch one) as numpy
// does: it returns their common shape and, for each of its elements in
// row-major order, the index of the element of a and of b it takes.
func broadcast(a, b []int) (shape, ia, ib []int, ok bool) {
	r := max(len(a), len(b))
	pad := func(d []int) []int { return append(slices.Repeat([]int{1}, r-len(d)), d...) }
	pa, pb := pad(a), pad(b)
	shape = make([]int, r)
	size := 1
	for i := range r {
		switch {
		case pa[i] == pb[i] || pb[i] == 1:
			shape[i] = pa[i]
		case pa[i] == 1:
			shape[i] = pb[i]
		default:
			return nil, nil, nil, false
		}
		size *= shape[i]
		if size > ir.MaxSlots {
			return nil, nil, nil, false
		}
	}
	idx := make([]int, r)
	for range size {
		x, y := 0, 0
		for i := range r {
			x = x*pa[i] + min(idx[i], pa[i]-1)
			y = y*pb[i] + min(idx[i], pb[i]-1)
		}
		ia, ib = append(ia, x), append(ib, y)
		for i := r - 1; i >= 0; i-- { // next index, row-major
			if idx[i]++; idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return shape, ia, ib, true
}

// rounded32 rounds slots to float32 when t is Float.
func (l *lowering) rounded32(t DataType, slots []int) []int {
	if t == Float {
		return l.round32(slots)
	}
	return slots
}

// constantOfShape lowers ConstantOfShape of a shape whose first dimension
// is the batch one (Shape of a row): a constant tensor a row.
func (l *lowering) constantOfShape(n *Node) error {
	sh, ok := l.intsOf(input(n, 0))
	if !ok || len(sh.vals) == 0 || sh.vals[0] != symN {
		return unsupported(n, "a shape that is not a row's")
	}
	dims := make([]int, 0, len(sh.vals)-1)
	size := 1
	for _, d := range sh.vals[1:] {
		if d < 0 || d > ir.MaxSlots {
			return unsupported(n, "dimension %d", d)
		}
		dims = append(dims, int(d))
		size *= int(d)
		if size > ir.MaxSlots {
			return unsupported(n, "a shape of %v", dims)
		}
	}
	val, elem := 0.0, Float
	if a := n.Attr("value"); a != nil && a.T != nil {
		vs, err := numbers(a.T)
		if err != nil {
			return err
		}
		if len(vs) != 1 {
			return unsupported(n, "a value of %d elements", len(vs))
		}
		val, elem = vs[0], a.T.DataType
	}
	if elem == Float {
		val = float64(float32(val))
	}
	l.output(n, 0, &value{slots: l.constSlots(size, []float64{val}), dims: dims, elem: elem})
	return nil
}

// constSlots returns n slots holding the constants vals (one each, or one
// for all): set over slot 0, a model input, whatever it holds.
func (l *lowering) constSlots(n int, vals []float64) []int {
	return l.m.Map(make([]int, n), []ir.Op{{Kind: ir.OpSet, Vals: vals}})
}

// constDims returns a constant's dims as they broadcast against a row
// tensor of rank dimensions after the batch one: a first dimension of 1
// beyond that rank stands against the batch and is dropped. False for
// more dimensions, or a first one that is not 1.
func constDims(c *Tensor, rank int) ([]int, bool) {
	cd := make([]int, len(c.Dims))
	for i, d := range c.Dims {
		cd[i] = int(d)
	}
	switch {
	case len(cd) > rank+1 || len(cd) == rank+1 && cd[0] != 1:
		return nil, false
	case len(cd) == rank+1:
		return cd[1:], true
	}
	return cd, true
}

// numbers reads a constant tensor of numbers as float64s.
func numbers(t *Tensor) ([]float64, error) {
	switch t.DataType {
	case Float:
		f, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(f))
		for i, x := range f {
			out[i] = float64(x)
		}
		return out, nil
	case Double:
		return t.Float64s()
	}
	is, err := t.Ints()
	if err != nil {
		return nil, ir.Unsupportedf("a %s constant", t.DataType)
	}
	out := make([]float64, len(is))
	for i, x := range is {
		out[i] = float64(x)
	}
	return out, nil
}

// constMatrix reads a constant [rows, cols] (or [rows]) tensor of type t.
func (l *lowering) constMatrix(n *Node, name string, t DataType) ([]float64, int, int, error) {
	c := l.consts[name]
	if c == nil {
		return nil, 0, 0, unsupported(n, "input %q is not a constant", name)
	}
	if c.DataType != t || (t != Float && t != Double) {
		return nil, 0, 0, unsupported(n, "a %s weight matrix for a %s tensor", c.DataType, t)
	}
	w, err := numbers(c)
	if err != nil {
		return nil, 0, 0, err
	}
	switch len(c.Dims) {
	case 0:
		return w, 1, 1, nil
	case 1:
		return w, int(c.Dims[0]), 1, nil
	case 2:
		return w, int(c.Dims[0]), int(c.Dims[1]), nil
	}
	return nil, 0, 0, unsupported(n, "a weight tensor of dims %v", c.Dims)
}

// matmul lowers a row [k] times a constant [k, m].
func (l *lowering) matmul(n *Node) error {
	v, err := l.numeric(n, 0)
	if err != nil {
		return err
	}
	if len(n.Inputs) != 2 || len(v.shape()) != 1 {
		return unsupported(n, "only a row times a constant matrix")
	}
	w, k, m, err := l.constMatrix(n, n.Inputs[1], v.typ())
	if err != nil {
		return err
	}
	if k != len(v.slots) || m < 1 || m > ir.MaxOutputs {
		return unsupported(n, "a [%d, %d] matrix for a row of %d", k, m, len(v.slots))
	}
	W := make([]float64, m*k)
	for i := range k {
		for j := range m {
			W[j*k+i] = w[i*m+j]
		}
	}
	out := l.m.Alloc(m)
	l.m.Add(&ir.Linear{In: v.slots, Out: out, W: W, AnyOrder: true, FMA32: v.typ() == Float})
	if v.typ() == Float {
		out = l.round32(out)
	}
	l.output(n, 0, &value{slots: out, elem: v.typ()})
	return nil
}

// gemm lowers Gemm(row, constant B, constant C): alpha·row·op(B) + beta·C.
func (l *lowering) gemm(n *Node) error {
	v, err := l.numeric(n, 0)
	if err != nil {
		return err
	}
	if len(n.Inputs) < 2 || len(v.shape()) != 1 {
		return unsupported(n, "only a row times a constant matrix")
	}
	alpha, beta := 1.0, 1.0
	if a := n.Attr("alpha"); a != nil {
		alpha = float64(a.F)
	}
	if a := n.Attr("beta"); a != nil {
		beta = float64(a.F)
	}
	if a := n.Attr("transA"); a != nil && a.I != 0 {
		return unsupported(n, "transA")
	}
	transB := false
	if a := n.Attr("transB"); a != nil && a.I != 0 {
		transB = true
	}
	w, r, c, err := l.constMatrix(n, n.Inputs[1], v.typ())
	if err != nil {
		return err
	}
	k, m := r, c
	if transB {
		k, m = c, r
	}
	if k != len(v.slots) || m < 1 || m > ir.MaxOutputs {
		return unsupported(n, "a [%d, %d] matrix for a row of %d", r, c, len(v.slots))
	}
	W := make([]float64, m*k)
	for i := range k {
		for j := range m {
			x := w[i*m+j]
			if transB {
				x = w[j*k+i]
			}
			W[j*k+i] = alpha * x
		}
	}
	var B []float64
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		cb, cr, cc, err := l.constMatrix(n, n.Inputs[2], v.typ())
		if err != nil {
			return err
		}
		size := cr * cc
		if size != m && size != 1 {
			return unsupported(n, "a bias of %d values for %d outputs", size, m)
		}
		B = make([]float64, m)
		for j := range m {
			B[j] = beta * cb[min(j, size-1)]
		}
	}
	out := l.m.Alloc(m)
	l.m.Add(&ir.Linear{In: v.slots, Out: out, W: W, B: B, AnyOrder: true, FMA32: v.typ() == Float && alpha == 1 && beta == 1})
	if v.typ() == Float {
		out = l.round32(out)
	}
	l.output(n, 0, &value{slots: out, elem: v.typ()})
	return nil
}

// classOf lowers ArrayFeatureExtractor(classes, ArgMax(scores)): the label,
// classes[arg max] (MLPClassifier's graph).
func (l *lowering) classOf(n *Node) error {
	if len(n.Inputs) != 2 {
		return unsupported(n, "%d inputs", len(n.Inputs))
	}
	c, idx := l.consts[n.Inputs[0]], l.vals[n.Inputs[1]]
	if c == nil || idx == nil || !idx.argmax {
		return unsupported(n, "only the class of an ArgMax is taken")
	}
	var labels []json.RawMessage
	switch c.DataType {
	case String:
		ss, err := c.StringValues()
		if err != nil {
			return err
		}
		for _, s := range ss {
			b, _ := json.Marshal(s)
			labels = append(labels, b)
		}
	default:
		is, err := c.Ints()
		if err != nil {
			return unsupported(n, "classes of type %s", c.DataType)
		}
		for _, x := range is {
			labels = append(labels, json.RawMessage(strconv.FormatInt(x, 10)))
		}
	}
	if len(labels) != len(idx.slots) {
		return unsupported(n, "%d classes for %d scores", len(labels), len(idx.slots))
	}
	if err := l.classes(n, labels); err != nil {
		return err
	}
	l.labelOf = idx.slots
	l.output(n, 0, &value{slots: idx.slots, label: true})
	return nil
}
