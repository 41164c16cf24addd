package onnx

import (
	"math"
	"slices"

	"mlbox/serve/compile/ir"
)

// This file lowers the operators that move values around without
// computing: Concat, Gather, ArrayFeatureExtractor (of columns), Slice,
// Reshape, Flatten, Squeeze, Unsqueeze, and the small integer tensors
// that shapes are computed with (Shape, Constant, and Gather, Slice,
// Concat, Squeeze, Unsqueeze and Cast of them), which fold at compile
// time.

// symN stands for the batch dimension in a shape known at compile time.
const symN = math.MinInt64

// maxFold bounds the integer tensors that fold.
const maxFold = 1 << 16

// intTensor is an integer tensor known at compile time.
type intTensor struct {
	vals []int64
	dims []int
}

// intsOf returns the integer tensor name holds when it is known at
// compile time: a folded one or an integer constant of the file.
func (l *lowering) intsOf(name string) (*intTensor, bool) {
	if t, ok := l.ints[name]; ok {
		return t, true
	}
	c := l.consts[name]
	if c == nil {
		return nil, false
	}
	switch c.DataType {
	case Int64, Int32:
	default:
		return nil, false
	}
	vals, err := c.Ints()
	if err != nil || len(vals) > maxFold {
		return nil, false
	}
	dims := make([]int, len(c.Dims))
	for i, d := range c.Dims {
		dims[i] = int(d)
	}
	return &intTensor{vals: vals, dims: dims}, true
}

// fold evaluates a node over integer tensors known at compile time. It
// reports whether it did.
func (l *lowering) fold(n *Node, op string) (bool, error) {
	if len(n.Inputs) == 0 || len(n.Outputs) == 0 {
		return false, nil
	}
	x, ok := l.intsOf(n.Inputs[0])
	if !ok || l.vals[n.Inputs[0]] != nil {
		return false, nil
	}
	var out *intTensor
	switch op {
	case "/Identity":
		out = x
	case "/Cast":
		if to := n.Attr("to"); to == nil || (to.I != int64(Int64) && to.I != int64(Int32)) {
			return false, nil
		}
		out = x
	case "/Gather":
		idx, ok := l.intsOf(input(n, 1))
		if len(x.dims) != 1 || !ok || axisAttr(n, 0) != 0 {
			return false, nil
		}
		out = &intTensor{dims: idx.dims}
		for _, i := range idx.vals {
			j, ok := index(i, len(x.vals))
			if !ok {
				return true, unsupported(n, "index %d of %d", i, len(x.vals))
			}
			out.vals = append(out.vals, x.vals[j])
		}
	case "/Concat":
		if len(x.dims) != 1 || axisAttr(n, 0) != 0 && axisAttr(n, 0) != -1 {
			return false, nil
		}
		out = &intTensor{}
		for i := range n.Inputs {
			t, ok := l.intsOf(n.Inputs[i])
			if !ok || len(t.dims) != 1 || l.vals[n.Inputs[i]] != nil {
				return false, nil
			}
			out.vals = append(out.vals, t.vals...)
		}
		out.dims = []int{len(out.vals)}
	case "/Unsqueeze", "/Squeeze":
		// Only the 0-d and 1-d tensors of shape arithmetic.
		switch {
		case op == "/Unsqueeze" && len(x.dims) == 0:
			out = &intTensor{vals: x.vals, dims: []int{1}}
		case op == "/Squeeze" && len(x.dims) == 1 && x.dims[0] == 1:
			out = &intTensor{vals: x.vals, dims: []int{}}
		default:
			return false, nil
		}
	case "/Slice":
		if len(x.dims) != 1 {
			return false, nil
		}
		idx, err := l.sliceIndexes(n, []int{len(x.vals)})
		if err != nil {
			return true, err
		}
		out = &intTensor{dims: []int{len(idx[0])}}
		for _, i := range idx[0] {
			out.vals = append(out.vals, x.vals[i])
		}
	default:
		return false, nil
	}
	l.ints[n.Outputs[0]] = out
	return true, nil
}

func input(n *Node, i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

func axisAttr(n *Node, def int64) int64 {
	if a := n.Attr("axis"); a != nil {
		return a.I
	}
	return def
}

// index resolves a possibly negative index into [0, n).
func index(i int64, n int) (int, bool) {
	if i < 0 {
		i += int64(n)
	}
	if i < 0 || i >= int64(n) {
		return 0, false
	}
	return int(i), true
}

// axis resolves a node's axis over a value of rank 1+len(dims) to an
// index into dims (the batch axis is refused).
func axis(n *Node, a int64, dims []int) (int, error) {
	r := int64(len(dims) + 1)
	if a < 0 {
		a += r
	}
	if a < 1 || a >= r {
		return 0, unsupported(n, "axis %d of a tensor of rank %d (mlbox keeps the batch axis whole)", a, r)
	}
	return int(a - 1), nil
}

func prod(d []int) int {
	p := 1
	for _, x := range d {
		p *= x
	}
	return p
}

// constant lowers Constant: its value joins the graph's constants.
func (l *lowering) constant(n *Node) error {
	if len(n.Outputs) == 0 {
		return nil
	}
	var t *Tensor
	for _, a := range n.Attrs {
		switch a.Name {
		case "value":
			t = a.T
		case "value_float":
			t = &Tensor{DataType: Float, Floats: []float32{a.F}}
		case "value_floats":
			t = &Tensor{DataType: Float, Floats: a.Floats, Dims: []int64{int64(len(a.Floats))}}
		case "value_int":
			t = &Tensor{DataType: Int64, Int64s: []int64{a.I}}
		case "value_ints":
			t = &Tensor{DataType: Int64, Int64s: a.Ints, Dims: []int64{int64(len(a.Ints))}}
		default:
			return unsupported(n, "attribute %s", a.Name)
		}
	}
	if t == nil {
		return unsupported(n, "no value")
	}
	if _, err := t.Elements(); err != nil {
		return err
	}
	l.consts[n.Outputs[0]] = t
	return nil
}

// shapeOf lowers Shape: the shape of a value, with the batch dimension
// symbolic.
func (l *lowering) shapeOf(n *Node) error {
	v, err := l.input(n, 0)
	if err != nil {
		return err
	}
	sh := []int64{symN}
	if !v.label && !v.argmax {
		for _, d := range v.shape() {
			sh = append(sh, int64(d))
		}
	}
	start, end := int64(0), int64(len(sh))
	if a := n.Attr("start"); a != nil {
		start = a.I
	}
	if a := n.Attr("end"); a != nil {
		end = a.I
	}
	clampIdx := func(i int64) int64 {
		if i < 0 {
			i += int64(len(sh))
		}
		return min(max(i, 0), int64(len(sh)))
	}
	start, end = clampIdx(start), clampIdx(end)
	if end < start {
		end = start
	}
	sh = sh[start:end]
	if len(n.Outputs) > 0 {
		l.ints[n.Outputs[0]] = &intTensor{vals: sh, dims: []int{len(sh)}}
	}
	return nil
}

// pick returns a value of v's elements at the given slot indexes.
func pick(v *value, idx []int, dims []int) *value {
	out := &value{dims: dims, elem: v.elem}
	for _, i := range idx {
		out.slots = append(out.slots, v.slots[i])
		if v.strIn != nil {
			out.strIn = append(out.strIn, v.strIn[i])
		}
	}
	return out
}

// along returns the slot indexes of v's elements at positions idx of
// dims[ax] (row-major).
func along(dims []int, ax int, idx []int) []int {
	outer, inner := prod(dims[:ax]), prod(dims[ax+1:])
	var out []int
	for o := range outer {
		for _, i := range idx {
			for in := range inner {
				out = append(out, (o*dims[ax]+i)*inner+in)
			}
		}
	}
	return out
}

// gather lowers Gather (and ArrayFeatureExtractor, which gathers along
// the last axis) with constant indexes.
func (l *lowering) gather(n *Node) error {
	v, err := l.input(n, 0)
	if err != nil {
		return err
	}
	v = l.argIndex(v)
	if v.label || v.argmax {
		return unsupported(n, "of a label")
	}
	idx, ok := l.intsOf(input(n, 1))
	if !ok {
		return unsupported(n, "indexes that are not constant")
	}
	dims := v.shape()
	a := axisAttr(n, 0)
	if n.OpType == "ArrayFeatureExtractor" {
		a = -1
	}
	ax, err := axis(n, a, dims)
	if err != nil {
		return err
	}
	var at []int
	for _, i := range idx.vals {
		j, ok := index(i, dims[ax])
		if !ok {
			return unsupported(n, "index %d of %d", i, dims[ax])
		}
		at = append(at, j)
	}
	idims := idx.dims
	if n.OpType == "ArrayFeatureExtractor" {
		idims = []int{len(at)}
	}
	out := append(append(append([]int{}, dims[:ax]...), idims...), dims[ax+1:]...)
	if prod(out) > ir.MaxInputs*4 {
		return unsupported(n, "a result of shape %v", out)
	}
	l.output(n, 0, pick(v, along(dims, ax, at), out))
	return nil
}

// sliceIndexes resolves Slice's starts, ends, axes and steps (inputs from
// opset 10, attributes before) over dims: the kept positions per axis.
func (l *lowering) sliceIndexes(n *Node, dims []int) ([][]int, error) {
	get := func(i int, attr string) ([]int64, bool, error) {
		if a := n.Attr(attr); a != nil {
			return a.Ints, true, nil
		}
		name := input(n, i)
		if name == "" {
			return nil, false, nil
		}
		t, ok := l.intsOf(name)
		if !ok {
			return nil, false, unsupported(n, "%s that are not constant", attr)
		}
		return t.vals, true, nil
	}
	starts, _, err := get(1, "starts")
	if err != nil {
		return nil, err
	}
	ends, _, err := get(2, "ends")
	if err != nil {
		return nil, err
	}
	axes, hasAxes, err := get(3, "axes")
	if err != nil {
		return nil, err
	}
	steps, hasSteps, err := get(4, "steps")
	if err != nil {
		return nil, err
	}
	if len(starts) != len(ends) || hasAxes && len(axes) != len(starts) || hasSteps && len(steps) != len(starts) {
		return nil, unsupported(n, "starts, ends, axes and steps of different lengths")
	}
	// dims here include the batch axis at 0 when called for a value.
	keep := make([][]int, len(dims))
	for d := range dims {
		for i := range dims[d] {
			keep[d] = append(keep[d], i)
		}
	}
	for k := range starts {
		ax := int64(k)
		if hasAxes {
			ax = axes[k]
		}
		if ax < 0 {
			ax += int64(len(dims))
		}
		if ax < 0 || ax >= int64(len(dims)) {
			return nil, unsupported(n, "axis %d", ax)
		}
		step := int64(1)
		if hasSteps {
			step = steps[k]
		}
		if step == 0 {
			return nil, unsupported(n, "step 0")
		}
		size := int64(dims[ax])
		if size < 0 {
			return nil, unsupported(n, "slicing the batch axis")
		}
		clampTo := func(i, lo, hi int64) int64 {
			if i < 0 {
				i += size
			}
			return min(max(i, lo), hi)
		}
		var idx []int
		if step > 0 {
			s, e := clampTo(starts[k], 0, size), clampTo(ends[k], 0, size)
			for i := s; i < e; i += min(step, size) { // (no overflow)
				idx = append(idx, int(i))
			}
		} else {
			s, e := clampTo(starts[k], -1, size-1), clampTo(ends[k], -1, size-1)
			for i := s; i > e; i += max(step, -size) {
				idx = append(idx, int(i))
			}
		}
		keep[ax] = idx
	}
	return keep, nil
}

// slice lowers Slice of a value along its non-batch axes.
func (l *lowering) slice(n *Node) error {
	v, err := l.input(n, 0)
	if err != nil {
		return err
	}
	v = l.argIndex(v)
	if v.label || v.argmax {
		return unsupported(n, "of a label")
	}
	dims := v.shape()
	keep, err := l.sliceIndexes(n, append([]int{-1}, dims...))
	if err != nil {
		return err
	}
	if keep[0] != nil {
		return unsupported(n, "slicing the batch axis")
	}
	// Apply axis by axis.
	cur, cd := v, dims
	for ax := range dims {
		if identity(keep[ax+1], cd[ax]) {
			continue
		}
		nd := append([]int{}, cd...)
		nd[ax] = len(keep[ax+1])
		cur, cd = pick(cur, along(cd, ax, keep[ax+1]), nd), nd
	}
	if len(cur.slots) == 0 {
		return unsupported(n, "an empty result")
	}
	if cur == v {
		cur = &value{slots: v.slots, dims: v.dims, elem: v.elem, strIn: v.strIn}
	}
	l.output(n, 0, cur)
	return nil
}

// identity reports whether idx is 0, 1, ..., n-1.
func identity(idx []int, n int) bool {
	if len(idx) != n {
		return false
	}
	for i, x := range idx {
		if x != i {
			return false
		}
	}
	return true
}

// concat lowers Concat of values along a non-batch axis.
func (l *lowering) concat(n *Node) error {
	var vs []*value
	for i := range n.Inputs {
		v, err := l.input(n, i)
		if err != nil {
			return err
		}
		v = l.argIndex(v)
		if v.label || v.argmax {
			return unsupported(n, "of a label")
		}
		if len(vs) > 0 && (v.typ() != vs[0].typ() || len(v.shape()) != len(vs[0].shape())) {
			return unsupported(n, "of tensors of different types or ranks")
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return unsupported(n, "no inputs")
	}
	a := n.Attr("axis")
	if a == nil {
		return unsupported(n, "no axis")
	}
	if vs[0].stack > 0 { // stacked rows along the stack axis
		res := &value{dims: vs[0].dims, elem: vs[0].elem}
		for _, v := range vs {
			if v.stack == 0 || !slices.Equal(v.dims, vs[0].dims) || a.I != 0 {
				return unsupported(n, "stacked tensors along another axis than the first, or of other shapes")
			}
			res.slots, res.stack = append(res.slots, v.slots...), res.stack+v.stack
		}
		l.output(n, 0, res)
		return nil
	}
	dims0 := vs[0].shape()
	ax, err := axis(n, a.I, dims0)
	if err != nil {
		return err
	}
	out := append([]int{}, dims0...)
	out[ax] = 0
	for _, v := range vs {
		d := v.shape()
		for i := range d {
			if i != ax && d[i] != dims0[i] {
				return unsupported(n, "of tensors of shapes %v and %v", dims0, d)
			}
		}
		out[ax] += d[ax]
	}
	res := &value{dims: out, elem: vs[0].elem}
	outer := prod(dims0[:ax])
	for o := range outer {
		for _, v := range vs {
			block := prod(v.shape()[ax:])
			res.slots = append(res.slots, v.slots[o*block:(o+1)*block]...)
			if v.typ() == String {
				res.strIn = append(res.strIn, v.strIn[o*block:(o+1)*block]...)
			}
		}
	}
	if len(out) == 1 {
		res.dims = nil
	}
	l.output(n, 0, res)
	return nil
}

// reshape returns the dims (after the batch axis) Reshape, Flatten,
// Squeeze or Unsqueeze give a value; the batch axis must stay whole.
func (l *lowering) reshape(n *Node, v *value) ([]int, error) {
	dims := v.shape()
	size := len(v.slots)
	switch n.OpType {
	case "Flatten":
		a := axisAttr(n, 1)
		if a < 0 {
			a += int64(len(dims) + 1)
		}
		if a < 1 || a > int64(len(dims)) || prod(dims[:a-1]) != 1 {
			return nil, unsupported(n, "axis %d of a tensor [N, %v]", a, dims)
		}
		return []int{size}, nil
	case "Squeeze", "Unsqueeze":
		var axes []int64
		if a := n.Attr("axes"); a != nil {
			axes = a.Ints
		} else if name := input(n, 1); name != "" {
			t, ok := l.intsOf(name)
			if !ok {
				return nil, unsupported(n, "axes that are not constant")
			}
			axes = t.vals
		} else if n.OpType == "Unsqueeze" {
			return nil, unsupported(n, "no axes")
		}
		if n.OpType == "Squeeze" {
			drop := map[int]bool{}
			if axes == nil { // every dimension of 1 (the batch's is taken to be more)
				for i, d := range dims {
					if d == 1 {
						drop[i] = true
					}
				}
			}
			for _, a := range axes {
				ax, err := axis(n, a, dims)
				if err != nil {
					return nil, err
				}
				if dims[ax] != 1 {
					return nil, unsupported(n, "axis %d of size %d", a, dims[ax])
				}
				drop[ax] = true
			}
			out := []int{}
			for i, d := range dims {
				if !drop[i] {
					out = append(out, d)
				}
			}
			return out, nil
		}
		r := int64(len(dims) + 1 + len(axes))
		ins := map[int64]bool{}
		for _, a := range axes {
			if a < 0 {
				a += r
			}
			if a < 1 || a >= r || ins[a] {
				return nil, unsupported(n, "axis %d (mlbox keeps the batch axis first)", a)
			}
			ins[a] = true
		}
		var out []int
		j := 0
		for i := int64(1); i < r; i++ {
			if ins[i] {
				out = append(out, 1)
			} else {
				out = append(out, dims[j])
				j++
			}
		}
		return out, nil
	}
	// Reshape
	t, ok := l.intsOf(input(n, 1))
	if !ok {
		return nil, unsupported(n, "a shape that is not known before the graph runs")
	}
	sh := t.vals
	if len(sh) == 0 || !(sh[0] == symN || sh[0] == -1 || sh[0] == 0) {
		return nil, unsupported(n, "shape %v (mlbox keeps the batch axis first and whole)", sh)
	}
	allowZero := false
	if a := n.Attr("allowzero"); a != nil && a.I != 0 {
		allowZero = true
	}
	out := make([]int, len(sh)-1)
	infer := -1
	known := 1
	for i, d := range sh[1:] {
		switch {
		case d == 0 && !allowZero:
			if i >= len(dims) {
				return nil, unsupported(n, "shape %v of a tensor [N, %v]", sh, dims)
			}
			out[i] = dims[i]
		case d == -1 && infer < 0:
			infer = i
			continue
		case d > 0 && d <= ir.MaxSlots:
			out[i] = int(d)
		default:
			return nil, unsupported(n, "shape %v", sh)
		}
		known *= out[i]
		if known > size {
			break
		}
	}
	if infer >= 0 {
		if known == 0 || size%known != 0 {
			return nil, unsupported(n, "shape %v of a tensor [N, %v]", sh, dims)
		}
		out[infer] = size / known
	}
	if prod(out) != size {
		return nil, unsupported(n, "shape %v of a tensor [N, %v]", sh, dims)
	}
	return out, nil
}

// foldConst evaluates an element-wise operator or ReduceSum whose inputs
// are all float or double constants (BernoulliNB's graph computes its
// weights so) into a constant, in the constants' type: float32 rounded
// after each operation.
func (l *lowering) foldConst(n *Node, op string) (bool, error) {
	unary := map[string]func(float64) float64{"/Exp": math.Exp, "/Log": math.Log, "/Neg": func(x float64) float64 { return -x },
		"/Abs": math.Abs}
	binary := map[string]func(a, b float64) float64{"/Add": func(a, b float64) float64 { return a + b },
		"/Sub": func(a, b float64) float64 { return a - b }, "/Mul": func(a, b float64) float64 { return a * b },
		"/Div": func(a, b float64) float64 { return a / b }}
	nin := 1
	switch {
	case binary[op] != nil:
		nin = 2
	case unary[op] == nil && op != "/ReduceSum":
		return false, nil
	}
	if len(n.Inputs) < nin || len(n.Outputs) == 0 {
		return false, nil
	}
	var cs []*Tensor
	for _, name := range n.Inputs[:nin] {
		c := l.consts[name]
		if c == nil || l.vals[name] != nil || (c.DataType != Float && c.DataType != Double) {
			return false, nil
		}
		cs = append(cs, c)
	}
	t := cs[0].DataType
	round := func(x float64) float64 {
		if t == Float {
			return float64(float32(x))
		}
		return x
	}
	dimsOf := func(c *Tensor) []int {
		d := make([]int, len(c.Dims))
		for i, x := range c.Dims {
			if x < 0 || x > ir.MaxSlots {
				return []int{-1} // matches no number of values
			}
			d[i] = int(x)
		}
		return d
	}
	a, err := numbers(cs[0])
	if err != nil {
		return true, err
	}
	dims := dimsOf(cs[0])
	if prod(dims) != len(a) {
		return true, unsupported(n, "a constant of %d values for dims %v", len(a), dims)
	}
	var out []float64
	switch {
	case unary[op] != nil:
		for _, x := range a {
			out = append(out, round(unary[op](x)))
		}
	case nin == 2:
		if cs[1].DataType != t {
			return true, unsupported(n, "a %s and a %s constant", t, cs[1].DataType)
		}
		b, err := numbers(cs[1])
		if err != nil {
			return true, err
		}
		bd := dimsOf(cs[1])
		if prod(bd) != len(b) {
			return true, unsupported(n, "a constant of %d values for dims %v", len(b), bd)
		}
		var ia, ib []int
		var ok bool
		if dims, ia, ib, ok = broadcast(dims, bd); !ok {
			return true, unsupported(n, "constants of dims %v and %v", cs[0].Dims, cs[1].Dims)
		}
		for k := range ia {
			out = append(out, round(binary[op](a[ia[k]], b[ib[k]])))
		}
	default: // ReduceSum, in order
		axes, err := l.reduceAxes(n)
		if err != nil {
			return true, err
		}
		red := map[int]bool{}
		for _, ax := range axes {
			i, ok := index(ax, len(dims))
			if !ok {
				return true, unsupported(n, "axis %d of a constant of rank %d", ax, len(dims))
			}
			red[i] = true
		}
		if len(axes) == 0 {
			for i := range dims {
				red[i] = true
			}
		}
		var to []int
		dims, to = reduced(dims, red, keepDims(n))
		out = make([]float64, prod(dims))
		for k, x := range a {
			out[to[k]] = round(out[to[k]] + x)
		}
	}
	res := &Tensor{Name: n.Outputs[0], DataType: t}
	for _, d := range dims {
		res.Dims = append(res.Dims, int64(d))
	}
	for _, x := range out {
		if t == Float {
			res.Floats = append(res.Floats, float32(x))
		} else {
			res.Doubles = append(res.Doubles, x)
		}
	}
	l.consts[n.Outputs[0]] = res
	return true, nil
}
