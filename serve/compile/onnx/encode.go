package onnx

import (
	"math"
	"slices"

	"mlbox/serve/compile/ir"
)

// This file lowers the operators that change an element's type or encode
// it: Cast, OneHotEncoder, LabelEncoder, FeatureVectorizer, and the
// element-wise Clip and ReduceSum.

// cast lowers Cast between the number types (and of a label, which stays
// the label).
func (l *lowering) cast(n *Node) error {
	v, err := l.input(n, 0)
	if err != nil {
		return err
	}
	if v.label || v.argmax {
		l.output(n, 0, v)
		return nil
	}
	to := n.Attr("to")
	if to == nil {
		return unsupported(n, "no target type")
	}
	from, dst := v.typ(), DataType(to.I)
	if dst == Int32 {
		dst = Int64
	}
	if from == dst {
		l.output(n, 0, v)
		return nil
	}
	var ops []ir.Op
	switch {
	case from == String || dst == String:
		return unsupported(n, "cast from %s to %s", from, dst)
	case dst == Float:
		ops = []ir.Op{{Kind: ir.OpRound32}}
	case dst == Double:
	case dst == Int64 && from != Bool:
		ops = []ir.Op{{Kind: ir.OpTrunc}}
	case dst == Bool: // x != 0
		ops = []ir.Op{{Kind: ir.OpAbs}, {Kind: ir.OpGreater, Vals: []float64{0}}}
	case from == Bool && dst == Int64:
	default:
		return unsupported(n, "cast from %s to %s", from, dst)
	}
	out := v.slots
	if ops != nil {
		out = l.m.Alloc(len(v.slots))
		l.m.Add(&ir.Map{In: v.slots, Out: out, Ops: ops})
	}
	l.output(n, 0, v.like(out, dst))
	return nil
}

// stringsAttr returns a STRINGS attribute as strings.
func stringsAttr(a *Attribute) []string {
	out := make([]string, len(a.Strings))
	for i, s := range a.Strings {
		out[i] = string(s)
	}
	return out
}

// keys are the values an encoder compares its input with: numbers, or
// strings coded per input table.
type keys struct {
	nums []float64
	strs []string
}

func (k *keys) len() int {
	if k.strs != nil {
		return len(k.strs)
	}
	return len(k.nums)
}

// codes returns the keys as they compare with slot i of v.
func (l *lowering) codes(k *keys, v *value, i int) []float64 {
	if k.strs == nil {
		return k.nums
	}
	out := make([]float64, len(k.strs))
	for j, s := range k.strs {
		out[j] = l.code(v.strIn[i], s)
	}
	return out
}

// match checks that a value's type fits an encoder's keys.
func matchKeys(n *Node, v *value, k *keys) error {
	if v.label || v.argmax {
		return unsupported(n, "on a label")
	}
	if (v.typ() == String) != (k.strs != nil) {
		what := "numbers"
		if k.strs != nil {
			what = "strings"
		}
		return unsupported(n, "a %s input with categories of %s", v.typ(), what)
	}
	return nil
}

// oneHotEncoder lowers OneHotEncoder: each element becomes a row of one
// 1 at its category's position (the output gains a last axis); a value
// outside the categories is all zeros (zeros=1) or refused.
func (l *lowering) oneHotEncoder(n *Node) error {
	v, err := l.input(n, 0)
	if err != nil {
		return err
	}
	var k keys
	if a := n.Attr("cats_strings"); a != nil {
		k.strs = stringsAttr(a)
	} else if a := n.Attr("cats_int64s"); a != nil {
		for _, c := range a.Ints {
			k.nums = append(k.nums, float64(c))
		}
	} else {
		return unsupported(n, "no categories")
	}
	v = l.argIndex(v)
	if err := matchKeys(n, v, &k); err != nil {
		return err
	}
	c := k.len()
	if c == 0 || c > ir.MaxCategories || len(v.slots)*c > ir.MaxSlots/4 {
		return unsupported(n, "%d categories for %d values", c, len(v.slots))
	}
	in := v.slots
	if t := v.typ(); t == Float || t == Double { // onnxruntime casts to int64
		in = l.m.Alloc(len(v.slots))
		l.m.Add(&ir.Map{In: v.slots, Out: in, Ops: []ir.Op{{Kind: ir.OpTrunc}}})
	}
	unknown := ir.UnknownIgnore
	if a := n.Attr("zeros"); a != nil && a.I == 0 {
		unknown = ir.UnknownError
	}
	cols := make([]int, c)
	for j := range cols {
		cols[j] = j
	}
	res := &value{dims: append(append([]int{}, v.shape()...), c), elem: Float}
	for i, s := range in {
		out := l.m.Alloc(c)
		l.m.Add(&ir.OneHot{In: s, Cats: l.codes(&k, v, i), Cols: cols, Out: out,
			Unknown: unknown, Column: l.columnName(n, v, i)})
		res.slots = append(res.slots, out...)
	}
	l.output(n, 0, res)
	return nil
}

// columnName names slot i of v in an error: its model input when it is
// one, else the node's input.
func (l *lowering) columnName(n *Node, v *value, i int) string {
	if v.strIn != nil {
		return l.m.Inputs[v.strIn[i]].Name
	}
	if s := v.slots[i]; s < len(l.m.Inputs) {
		return l.m.Inputs[s].Name
	}
	return n.Inputs[0]
}

// labelEncoder lowers LabelEncoder (ai.onnx.ml 1, 2 and 4) to numbers:
// each element becomes the value of its key, or the default. It is a
// one-hot over the keys (and one column for the rest) times the values.
func (l *lowering) labelEncoder(n *Node) error {
	v, err := l.input(n, 0)
	if err != nil {
		return err
	}
	var k keys
	var vals []float64
	var elem DataType
	def := math.Copysign(0, -1)
	tensorAttr := func(name string) *Tensor {
		if a := n.Attr(name); a != nil {
			return a.T
		}
		return nil
	}
	switch {
	case n.Attr("keys_strings") != nil:
		k.strs = stringsAttr(n.Attr("keys_strings"))
	case n.Attr("keys_int64s") != nil:
		for _, x := range n.Attr("keys_int64s").Ints {
			k.nums = append(k.nums, float64(x))
		}
	case n.Attr("keys_floats") != nil:
		k.nums = floats32(n.Attr("keys_floats"))
	case n.Attr("classes_strings") != nil: // opset 1: strings <-> their index
		k.strs = stringsAttr(n.Attr("classes_strings"))
	case tensorAttr("keys_tensor") != nil:
		t := tensorAttr("keys_tensor")
		if t.DataType == String {
			s, err := t.StringValues()
			if err != nil {
				return err
			}
			k.strs = s
		} else if k.nums, err = numbers(t); err != nil {
			return err
		}
	default:
		return unsupported(n, "no keys")
	}
	switch {
	case n.Attr("values_int64s") != nil:
		elem = Int64
		for _, x := range n.Attr("values_int64s").Ints {
			vals = append(vals, float64(x))
		}
		def = -1
	case n.Attr("values_floats") != nil:
		elem, vals = Float, floats32(n.Attr("values_floats"))
	case n.Attr("classes_strings") != nil && v.typ() == String:
		elem = Int64
		for i := range k.strs {
			vals = append(vals, float64(i))
		}
		def = -1
	case tensorAttr("values_tensor") != nil:
		t := tensorAttr("values_tensor")
		if t.DataType == String {
			return unsupported(n, "string values (mlbox encodes to numbers)")
		}
		elem = Float
		if t.DataType != Float {
			elem = Int64
		}
		if vals, err = numbers(t); err != nil {
			return err
		}
		def = 0
		if elem == Int64 {
			def = -1
		}
	default:
		return unsupported(n, "string values (mlbox encodes to numbers)")
	}
	if a := n.Attr("default_int64"); a != nil && elem == Int64 {
		def = float64(a.I)
	}
	if a := n.Attr("default_float"); a != nil && elem == Float {
		def = float64(a.F)
	}
	if t := tensorAttr("default_tensor"); t != nil {
		d, err := numbers(t)
		if err != nil || len(d) != 1 {
			return unsupported(n, "a default_tensor that is not one number")
		}
		def = d[0]
	}
	v = l.argIndex(v)
	if err := matchKeys(n, v, &k); err != nil {
		return err
	}
	nk := k.len()
	if nk != len(vals) || nk == 0 || nk > ir.MaxCategories || len(v.slots)*(nk+2) > ir.MaxSlots/4 {
		return unsupported(n, "%d keys for %d values", nk, len(vals))
	}
	for _, x := range vals {
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return unsupported(n, "a value of %v", x)
		}
	}
	w := append(append([]float64{}, vals...), def)
	cols := make([]int, nk)
	for j := range cols {
		cols[j] = j
	}
	res := v.like(nil, elem)
	for i, s := range v.slots {
		hot := l.m.Alloc(nk + 1)
		l.m.Add(&ir.OneHot{In: s, Cats: l.codes(&k, v, i), Cols: cols, Out: hot,
			Unknown: ir.UnknownColumn, UnknownCol: nk, Column: l.columnName(n, v, i)})
		out := l.m.Alloc(1)
		l.m.Add(&ir.Linear{In: hot, Out: out, W: w})
		res.slots = append(res.slots, out[0])
	}
	l.output(n, 0, res)
	return nil
}

// zeroSlot returns a slot that holds 0.
func (l *lowering) zeroSlot() int {
	if l.zero < 0 {
		l.zero = l.m.Map([]int{0}, []ir.Op{{Kind: ir.OpIsMissing, Match: math.NaN()}, {Kind: ir.OpMul, Vals: []float64{0}}})[0]
	}
	return l.zero
}

// featureVectorizer lowers FeatureVectorizer: the inputs' columns side by
// side as floats, each input cut or padded with zeros to its
// inputdimensions.
func (l *lowering) featureVectorizer(n *Node) error {
	dims := attrInts(n, "inputdimensions")
	if len(dims) != len(n.Inputs) {
		return unsupported(n, "%d inputdimensions for %d inputs", len(dims), len(n.Inputs))
	}
	var slots []int
	for i := range n.Inputs {
		v, err := l.numeric(n, i)
		if err != nil {
			return err
		}
		if len(v.shape()) > 1 {
			return unsupported(n, "an input of shape [N, %v]", v.shape())
		}
		d := dims[i]
		if d < 0 || d > ir.MaxInputs {
			return unsupported(n, "input dimension %d", d)
		}
		in := v.slots[:min(int(d), len(v.slots))]
		if v.typ() != Float {
			in = l.round32(in)
		}
		if len(slots)+int(d) > ir.MaxInputs*4 {
			return unsupported(n, "more than %d columns", ir.MaxInputs*4)
		}
		slots = append(slots, in...)
		for range int(d) - len(in) {
			slots = append(slots, l.zeroSlot())
		}
	}
	if len(slots) == 0 {
		return unsupported(n, "no columns")
	}
	l.output(n, 0, &value{slots: slots})
	return nil
}

// clip lowers Clip with constant bounds (inputs from opset 11, attributes
// before).
func (l *lowering) clip(n *Node) error {
	v, err := l.numeric(n, 0)
	if err != nil {
		return err
	}
	var ops []ir.Op
	for i, name := range []string{"min", "max"} {
		kind := []ir.OpKind{ir.OpMax, ir.OpMin}[i]
		if a := n.Attr(name); a != nil {
			ops = append(ops, ir.Op{Kind: kind, Vals: []float64{float64(a.F)}})
			continue
		}
		in := input(n, i+1)
		if in == "" {
			continue
		}
		c := l.consts[in]
		if c == nil {
			return unsupported(n, "a %s that is not constant", name)
		}
		x, err := numbers(c)
		if err != nil || len(x) != 1 {
			return unsupported(n, "a %s that is not one number", name)
		}
		ops = append(ops, ir.Op{Kind: kind, Vals: x})
	}
	out := v.slots
	if ops != nil {
		out = l.m.Alloc(len(v.slots))
		l.m.Add(&ir.Map{In: v.slots, Out: out, Ops: ops})
	}
	l.output(n, 0, v.like(out, v.typ()))
	return nil
}

// reduceSum lowers ReduceSum, ReduceMean, ReduceProd and ReduceLogSumExp over
// non-batch axes (the product in order, rounded after each factor for
// float32).
func (l *lowering) reduceSum(n *Node) error {
	v, err := l.numeric(n, 0)
	if err != nil {
		return err
	}
	axes, err := l.reduceAxes(n)
	if err != nil {
		return err
	}
	if v.stack > 0 {
		return l.reduceStack(n, v, axes)
	}
	if len(axes) == 0 {
		if a := n.Attr("noop_with_empty_axes"); a != nil && a.I != 0 {
			l.output(n, 0, v)
			return nil
		}
		return unsupported(n, "a reduction over the batch axis")
	}
	dims := v.shape()
	red := map[int]bool{}
	for _, a := range axes {
		ax, err := axis(n, a, dims)
		if err != nil {
			return err
		}
		red[ax] = true
	}
	out, to := reduced(dims, red, keepDims(n))
	// Group the input elements by their output position.
	groups := make([][]int, prod(out))
	for k, s := range v.slots {
		groups[to[k]] = append(groups[to[k]], s)
	}
	res := &value{dims: out, elem: v.typ()}
	if (n.OpType == "ReduceLogSumExp" || n.OpType == "ReduceMean") && v.typ() != Float && v.typ() != Double {
		return unsupported(n, "on %s", v.typ())
	}
	for _, g := range groups {
		if n.OpType == "ReduceLogSumExp" {
			res.slots = append(res.slots, l.logSumExp(v.typ(), g))
			continue
		}
		if n.OpType == "ReduceProd" {
			o := g[:1]
			for _, x := range g[1:] {
				p := l.m.Alloc(1)
				l.m.Add(&ir.Binary{A: o, B: []int{x}, Out: p, Kind: ir.OpMul})
				o = l.rounded32(v.typ(), p)
			}
			res.slots = append(res.slots, o[0])
			continue
		}
		if n.OpType == "ReduceMean" {
			res.slots = append(res.slots, l.meanInOrder(v.typ(), g))
			continue
		}
		o := l.m.Alloc(1)
		l.m.Add(&ir.Linear{In: g, Out: o, W: slices.Repeat([]float64{1}, len(g)), AnyOrder: true})
		if v.typ() == Float {
			o = l.round32(o)
		}
		res.slots = append(res.slots, o[0])
	}
	l.output(n, 0, res)
	return nil
}

// logSumExp is log Σ exp(x) of the slots g as onnxruntime computes it:
// the largest x, then log Σ exp(x - max) + max, summed in order, rounded
// to float32 after each operation for a float tensor.
func (l *lowering) logSumExp(t DataType, g []int) int {
	mx := g[:1]
	for _, x := range g[1:] {
		p := l.m.Alloc(1)
		l.m.Add(&ir.Binary{A: mx, B: []int{x}, Out: p, Kind: ir.OpMax})
		mx = p
	}
	d := l.m.Alloc(len(g))
	l.m.Add(&ir.Binary{A: g, B: slices.Repeat(mx, len(g)), Out: d, Kind: ir.OpSub})
	exp := []ir.Op{{Kind: ir.OpExp}}
	if t == Float {
		exp = []ir.Op{{Kind: ir.OpExpf}} // onnxruntime's std::exp of a float
	}
	e := l.m.Map(l.rounded32(t, d), exp)
	lg := l.m.Map(l.sumInOrder(t, e), l.rounded(t, ir.Op{Kind: ir.OpLog}))
	out := l.m.Alloc(1)
	l.m.Add(&ir.Binary{A: lg, B: mx, Out: out, Kind: ir.OpAdd})
	return l.rounded32(t, out)[0]
}

// reduceAxes reads a Reduce node's axes: its attribute (before opset 18)
// or its constant second input; none for neither.
func (l *lowering) reduceAxes(n *Node) ([]int64, error) {
	if a := n.Attr("axes"); a != nil {
		return a.Ints, nil
	}
	if name := input(n, 1); name != "" {
		t, ok := l.intsOf(name)
		if !ok {
			return nil, unsupported(n, "axes that are not constant")
		}
		return t.vals, nil
	}
	return nil, nil
}

// keepDims is a Reduce node's keepdims (default 1).
func keepDims(n *Node) bool {
	a := n.Attr("keepdims")
	return a == nil || a.I != 0
}

// reduced returns the shape of a tensor of dims reduced over the axes red
// (kept as 1s with keep; [] is a scalar), and for each element of the
// tensor, in row-major order, the index of the element it goes into.
func reduced(dims []int, red map[int]bool, keep bool) (out, to []int) {
	out = []int{}
	for i, d := range dims {
		switch {
		case !red[i]:
			out = append(out, d)
		case keep:
			out = append(out, 1)
		}
	}
	idx := make([]int, len(dims))
	for range prod(dims) {
		o := 0
		for i, d := range dims {
			if !red[i] {
				o = o*d + idx[i]
			}
		}
		to = append(to, o)
		for i := len(dims) - 1; i >= 0; i-- { // next index, row-major
			if idx[i]++; idx[i] < dims[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, to
}

// reduceStack lowers ReduceSum or ReduceMean of stacked rows (value.stack)
// over the stack axis, without keeping it: each element the sum (in
// order) or mean of its copies.
func (l *lowering) reduceStack(n *Node, v *value, axes []int64) error {
	if len(axes) != 1 || axes[0] != 0 || keepDims(n) || (n.OpType != "ReduceSum" && n.OpType != "ReduceMean") ||
		(v.typ() != Float && v.typ() != Double) {
		return unsupported(n, "a reduction of stacked rows other than over their stack")
	}
	size := len(v.slots) / v.stack
	res := &value{dims: v.dims, elem: v.typ()}
	for e := range size {
		g := make([]int, v.stack)
		for s := range g {
			g[s] = v.slots[s*size+e]
		}
		if n.OpType == "ReduceMean" {
			res.slots = append(res.slots, l.meanInOrder(v.typ(), g))
		} else {
			res.slots = append(res.slots, l.sumInOrder(v.typ(), g)[0])
		}
	}
	l.output(n, 0, res)
	return nil
}

// sumInOrder is the sum of the slots g in order, as onnxruntime's
// reductions add them: in float32, rounded after each term, for a float
// tensor.
func (l *lowering) sumInOrder(t DataType, g []int) []int {
	o := l.m.Alloc(1)
	l.m.Add(&ir.Linear{In: g, Out: o, W: slices.Repeat([]float64{1}, len(g)), FMA32: t == Float})
	return o
}

// meanInOrder is sumInOrder divided by the number of slots (ReduceMean).
func (l *lowering) meanInOrder(t DataType, g []int) int {
	return l.m.Map(l.sumInOrder(t, g), l.rounded(t, ir.Op{Kind: ir.OpDiv, Vals: []float64{float64(len(g))}}))[0]
}
