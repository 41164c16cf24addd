package wasmgen

import (
	"encoding/binary"
	"fmt"
	"math"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/wasm"
)

// layout places every step's tables and messages in data, before any
// code is emitted (the buffers go after them).
func (g *gen) layout() error {
	g.plans = make([]any, len(g.steps))
	for i, s := range g.steps {
		switch s := s.(type) {
		case *ir.OneHot:
			if s.Unknown == ir.UnknownError {
				a, n := g.message(fmt.Sprintf("Found an unknown category in column %q during transform (its encoder has handle_unknown=\"error\")", s.Column))
				g.plans[i] = [2]uint32{a, uint32(n)}
			}
		case *ir.Trees:
			p, err := g.layoutTrees(s)
			if err != nil {
				return err
			}
			g.plans[i] = p
		case *ir.Neighbors:
			g.plans[i] = g.layoutNeighbors(s)
		}
	}
	return nil
}

// unroll returns how many rows one loop iteration handles.
func (g *gen) unroll() int {
	c := g.rowCost()
	switch {
	case c <= 250:
		return 8
	case c <= 1000:
		return 4
	case c <= 4000:
		return 2
	}
	return 1
}

// predict emits mlbox_predict: check rows, then the loop over rows.
func (g *gen) predict() error {
	f := g.f
	m := g.m
	nf, no := len(m.Inputs), len(m.Out)
	g.in, g.out, g.remain = f.Local(wasm.I32), f.Local(wasm.I32), f.Local(wasm.I32)
	g.slot = make([]uint32, m.NSlots)
	for i := range g.slot {
		g.slot[i] = f.Local(wasm.F64)
	}

	// rows in [1, max_batch_rows], else -1.
	f.LocalGet(0)
	f.I32Const(1)
	f.Op(wasm.I32LtS)
	f.LocalGet(0)
	f.I32Const(int32(g.maxRows))
	f.Op(wasm.I32GtS)
	f.Op(wasm.I32Or)
	f.If(wasm.Void)
	g.fail(g.rowsMsg, g.rowsMsgLen)
	f.End()

	f.I32Const(int32(g.inputAddr))
	f.LocalSet(g.in)
	f.I32Const(int32(g.outputAddr))
	f.LocalSet(g.out)
	f.LocalGet(0)
	f.LocalSet(g.remain)

	advance := func(n int) {
		f.LocalGet(g.in)
		f.I32Const(int32(n * nf * 8))
		f.Op(wasm.I32Add)
		f.LocalSet(g.in)
		f.LocalGet(g.out)
		f.I32Const(int32(n * no * 8))
		f.Op(wasm.I32Add)
		f.LocalSet(g.out)
		f.LocalGet(g.remain)
		f.I32Const(int32(n))
		f.Op(wasm.I32Sub)
		f.LocalSet(g.remain)
	}
	u := g.unroll()
	g.inlineMath = g.mathCalls()*u <= 64
	f.Loop(wasm.Void)
	if u > 1 {
		f.LocalGet(g.remain)
		f.I32Const(int32(u))
		f.Op(wasm.I32GeS)
		f.If(wasm.Void)
		if at := g.chainStep(); at >= 0 {
			lin := g.steps[at].(*ir.Linear)
			ins, accs := make([][]uint32, u), make([][]uint32, u)
			for k := range u {
				for range lin.In {
					ins[k] = append(ins[k], f.Local(wasm.F64))
				}
				for range lin.Out {
					accs[k] = append(accs[k], f.Local(wasm.F64))
				}
			}
			if err := g.rowsAround(u, at, ins, accs); err != nil {
				return err
			}
		} else {
			for k := range u {
				if err := g.row(k); err != nil {
					return err
				}
			}
		}
		advance(u)
		f.Else()
		if err := g.row(0); err != nil {
			return err
		}
		advance(1)
		f.End()
	} else {
		if err := g.row(0); err != nil {
			return err
		}
		advance(1)
	}
	f.LocalGet(g.remain)
	f.I32Const(0)
	f.Op(wasm.I32GtS)
	f.BrIf(0)
	f.End()

	f.LocalGet(0)
	f.I32Const(int32(no))
	f.Op(wasm.I32Mul)
	return f.Err()
}

// row emits one row's body: row k of the current group (its input at
// in + k·nf·8, its output at out + k·no·8).
func (g *gen) row(k int) error {
	g.loadRow(k)
	if err := g.emitSteps(0, len(g.steps)); err != nil {
		return err
	}
	g.storeRow(k)
	return nil
}

func (g *gen) loadRow(k int) {
	nf := len(g.m.Inputs)
	for j := range nf {
		g.f.LocalGet(g.in)
		g.f.Mem(wasm.F64Load, uint32((k*nf+j)*8))
		g.f.LocalSet(g.slot[j])
	}
}

func (g *gen) storeRow(k int) {
	no := len(g.m.Out)
	for o, s := range g.m.Out {
		g.f.LocalGet(g.out)
		g.f.LocalGet(g.slot[s])
		g.f.Mem(wasm.F64Store, uint32((k*no+o)*8))
	}
}

// chainStep returns the index of the model's one FMA32 dense layer when
// the rows of an unrolled group can share it (see rowsAround), else -1:
// no step after it reads a slot written before it, and no output is.
func (g *gen) chainStep() int {
	at := -1
	for i, s := range g.steps {
		if lin, ok := s.(*ir.Linear); ok && lin.FMA32 {
			if at >= 0 {
				return -1
			}
			at = i
		}
	}
	if at < 0 {
		return -1
	}
	late := map[int]bool{}
	for _, s := range g.steps[at:] {
		for _, w := range s.Writes() {
			late[w] = true
		}
	}
	for _, s := range g.steps[at+1:] {
		for _, r := range s.Reads() {
			if !late[r] {
				return -1
			}
		}
	}
	for _, o := range g.m.Out {
		if !late[o] {
			return -1
		}
	}
	return at
}

// rowsAround emits u rows whose FMA32 dense layer (step at) runs
// interleaved: each row's float32 multiply-add chain is one long
// dependency, so the rows' chains go side by side, term by term. The
// steps before it run row by row, keeping the layer's inputs in locals
// of the row; the steps after it, row by row from its outputs.
func (g *gen) rowsAround(u, at int, ins, accs [][]uint32) error {
	f := g.f
	lin := g.steps[at].(*ir.Linear)
	for k := range u {
		g.loadRow(k)
		if err := g.emitSteps(0, at); err != nil {
			return err
		}
		for j, in := range lin.In {
			f.LocalGet(g.slot[in])
			f.LocalSet(ins[k][j])
		}
	}
	g.fmaChains(lin, ins, accs)
	for k := range u {
		for o, s := range lin.Out {
			f.LocalGet(accs[k][o])
			f.LocalSet(g.slot[s])
		}
		if err := g.emitSteps(at+1, len(g.steps)); err != nil {
			return err
		}
		g.storeRow(k)
	}
	return nil
}

// fmaChains emits an FMA32 dense layer for rows side by side: ins[k] are
// row k's input locals, accs[k] its output locals. Term by term, every
// row's acc = float32(acc + w·x), then the bias.
func (g *gen) fmaChains(lin *ir.Linear, ins, accs [][]uint32) {
	f := g.f
	n := len(lin.In)
	for o := range lin.Out {
		for j := range n {
			for k := range ins {
				if j > 0 {
					f.LocalGet(accs[k][o])
				}
				f.LocalGet(ins[k][j])
				f.F64Const(lin.W[o*n+j])
				f.Op(wasm.F64Mul)
				if j > 0 {
					f.Op(wasm.F64Add)
				}
				g.round32()
				f.LocalSet(accs[k][o])
			}
		}
		if lin.B != nil {
			for k := range ins {
				f.LocalGet(accs[k][o])
				f.F64Const(lin.B[o])
				f.Op(wasm.F64Add)
				g.round32()
				f.LocalSet(accs[k][o])
			}
		}
	}
}

// round32 rounds the f64 on the stack to float32 (and back to f64).
func (g *gen) round32() {
	g.f.Op(wasm.F32DemoteF64)
	g.f.Op(wasm.F64PromoteF32)
}

// emitSteps emits steps [from, to) for the row in the slot locals.
func (g *gen) emitSteps(from, to int) error {
	for i := from; i < to; i++ {
		s := g.steps[i]
		var err error
		switch s := s.(type) {
		case *ir.Map:
			g.mapStep(s)
		case *ir.Linear:
			g.linear(s)
		case *ir.Softmax:
			g.softmax(s)
		case *ir.Normalize:
			g.normalize(s)
		case *ir.Binary:
			g.binary(s)
		case *ir.RBF:
			g.rbf(s)
		case *ir.ArgMax:
			g.argMax(s)
		case *ir.Select:
			for i, c := range s.Cond {
				g.f.LocalGet(g.slot[s.A[i]])
				g.f.LocalGet(g.slot[s.B[i]])
				g.f.LocalGet(g.slot[c])
				g.f.F64Const(0)
				g.f.Op(wasm.F64Ne)
				g.f.Op(wasm.Select)
				g.f.LocalSet(g.slot[s.Out[i]])
			}
		case *ir.Coupling:
			g.coupling(s)
		case *ir.OneHot:
			g.oneHot(s, g.plans[i])
		case *ir.Trees:
			err = g.trees(s, g.plans[i].(*treesPlan))
		case *ir.Neighbors:
			g.neighbors(s, g.plans[i].(*neighborsPlan))
		default:
			err = fmt.Errorf("wasmgen: no lowering for %T", s)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// mathNeeded lists the math helpers the model's steps call.
func (g *gen) mathNeeded() []string {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, s := range g.steps {
		switch s := s.(type) {
		case *ir.Softmax:
			add("exp")
		case *ir.RBF:
			if s.F64 {
				add("exp")
			}
		case *ir.Map:
			for _, op := range s.Ops {
				switch op.Kind {
				case ir.OpExp:
					add("exp")
				case ir.OpLog:
					add("log")
				case ir.OpLogistic:
					add("expit")
				case ir.OpTanh:
					add("tanh")
				case ir.OpPow:
					add("exp")
					add("log")
				}
			}
		}
	}
	return out
}

// mathCalls counts the math functions one row evaluates.
func (g *gen) mathCalls() int {
	n := 0
	for _, s := range g.steps {
		switch s := s.(type) {
		case *ir.Softmax:
			n += len(s.In)
		case *ir.RBF:
			n += len(s.Out)
		case *ir.Map:
			for _, op := range s.Ops {
				if op.Kind.IsMath() || op.Kind == ir.OpExpf {
					n += len(s.In)
				}
			}
		}
	}
	return n
}

// callMath evaluates a math function on the f64 on the stack: inline when
// a row evaluates few of them (a call makes the compiler save every live
// value around it), else as a call.
func (g *gen) callMath(name string) {
	if !g.inlineMath {
		g.f.Call(g.mathFunc(name))
		return
	}
	switch name {
	case "exp":
		wasm.EmitExp(g.f)
	case "log":
		wasm.EmitLog(g.f)
	case "expit":
		wasm.EmitExpit(g.f)
	case "tanh":
		wasm.EmitTanh(g.f)
	}
}

// mathFunc returns the index of a math helper, adding it once.
func (g *gen) mathFunc(name string) uint32 {
	if i, ok := g.math[name]; ok {
		return i
	}
	var i uint32
	switch name {
	case "exp":
		i = wasm.AddExp(g.mod)
	case "log":
		i = wasm.AddLog(g.mod)
	case "expit":
		i = wasm.AddExpit(g.mod)
	case "tanh":
		i = wasm.AddTanh(g.mod)
	case "expf": // its table is the module's data (g.expfTab)
		fn := g.mod.AddFunc([]wasm.ValType{wasm.F64}, []wasm.ValType{wasm.F64})
		saved := g.f
		g.f = fn
		fn.LocalGet(0)
		g.expfInline()
		g.f = saved
		i = fn.Index()
	default:
		panic("wasmgen: unknown math function " + name)
	}
	g.math[name] = i
	return i
}

// mapStep applies element-wise operations.
func (g *gen) mapStep(s *ir.Map) {
	f := g.f
	var t uint32
	for _, op := range s.Ops {
		if op.Kind == ir.OpReplace || op.Kind == ir.OpIsMissing || op.Kind == ir.OpSquare || op.Kind == ir.OpPow {
			t = f.Local(wasm.F64)
			defer f.Release(t)
			break
		}
	}
	for i, in := range s.In {
		f.LocalGet(g.slot[in])
		g.ops(s.Ops, i, t, g.exact32[in])
		f.LocalSet(g.slot[s.Out[i]])
	}
}

// f32Ops are the arithmetic operations that, on float32 operands, give
// the same result in float32 as in float64 rounded to float32 (float64
// has more than 2·24+2 bits, so the double rounding is innocuous).
var f32Ops = map[ir.OpKind]wasm.Op{ir.OpAdd: wasm.F32Add, ir.OpSub: wasm.F32Sub, ir.OpMul: wasm.F32Mul, ir.OpDiv: wasm.F32Div}

// ops applies a Map's operations to column i's value on the stack. A
// run of "x op c, round to float32" on a value that is a float32 (exact:
// it is one already) with a float32 constant runs in float32, without the
// conversions back and forth each rounding would take.
func (g *gen) ops(ops []ir.Op, i int, t uint32, exact bool) {
	f := g.f
	single := false // the stack holds an f32
	for j := 0; j < len(ops); j++ {
		op := &ops[j]
		if op.Kind == ir.OpRound32 {
			if !single {
				f.Op(wasm.F32DemoteF64)
				single = true
			}
			exact = true
			continue
		}
		if fop, ok := f32Ops[op.Kind]; ok && exact && j+1 < len(ops) && ops[j+1].Kind == ir.OpRound32 {
			c := op.Vals[0]
			if len(op.Vals) > 1 {
				c = op.Vals[i]
			}
			if float64(float32(c)) == c || c != c {
				if !single {
					f.Op(wasm.F32DemoteF64)
					single = true
				}
				f.F32Const(float32(c))
				f.Op(fop)
				j++ // the rounding is done
				continue
			}
		}
		if single {
			f.Op(wasm.F64PromoteF32)
			single = false
		}
		g.op(op, i, t)
		exact = false
	}
	if single {
		f.Op(wasm.F64PromoteF32)
	}
}

// op applies one operation to the f64 on the stack (column i); t is a
// scratch local.
func (g *gen) op(op *ir.Op, i int, t uint32) {
	f := g.f
	val := func() float64 {
		if len(op.Vals) == 1 {
			return op.Vals[0]
		}
		return op.Vals[i]
	}
	// missing pushes whether the value in t is the missing marker.
	missing := func() {
		f.LocalGet(t)
		if math.IsNaN(op.Match) {
			f.LocalGet(t)
			f.Op(wasm.F64Ne)
		} else {
			f.F64Const(op.Match)
			f.Op(wasm.F64Eq)
		}
	}
	switch op.Kind {
	case ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpDiv, ir.OpMin, ir.OpMax:
		f.F64Const(val())
		f.Op(arithOps[op.Kind])
	case ir.OpReplace:
		f.LocalSet(t)
		f.F64Const(val())
		f.LocalGet(t)
		missing()
		f.Op(wasm.Select)
	case ir.OpIsMissing:
		f.LocalSet(t)
		missing()
		f.Op(wasm.F64ConvertI32U)
	case ir.OpSquare:
		f.LocalTee(t)
		f.LocalGet(t)
		f.Op(wasm.F64Mul)
	case ir.OpExp:
		g.callMath("exp")
	case ir.OpLog:
		g.callMath("log")
	case ir.OpLogistic:
		g.callMath("expit")
	case ir.OpTanh:
		g.callMath("tanh")
	case ir.OpRound32:
		g.round32()
	case ir.OpAbs:
		f.Op(wasm.F64Abs)
	case ir.OpTrunc:
		f.Op(wasm.F64Trunc)
	case ir.OpGreater, ir.OpLess, ir.OpEqual:
		f.F64Const(val())
		f.Op(compareOps[op.Kind])
		f.Op(wasm.F64ConvertI32U)
	case ir.OpSet:
		f.Op(wasm.Drop)
		f.F64Const(val())
	case ir.OpPow:
		g.pow(val(), t)
	case ir.OpExpf:
		g.expf()
	}
}

// arithOps are the f64 instructions of the ir ops x op c (or a op b).
var arithOps = map[ir.OpKind]wasm.Op{ir.OpAdd: wasm.F64Add, ir.OpSub: wasm.F64Sub, ir.OpMul: wasm.F64Mul,
	ir.OpDiv: wasm.F64Div, ir.OpMin: wasm.F64Min, ir.OpMax: wasm.F64Max}

// compareOps are the comparisons of ir ops (1 or 0, NaN giving 0).
var compareOps = map[ir.OpKind]wasm.Op{ir.OpGreater: wasm.F64Gt, ir.OpLess: wasm.F64Lt, ir.OpEqual: wasm.F64Eq}

// needsExpf says whether the steps compute Expf (whose table goes in the
// module's data).
func needsExpf(steps []ir.Step) bool {
	for _, s := range steps {
		switch s := s.(type) {
		case *ir.RBF:
			if !s.F64 {
				return true
			}
		case *ir.Map:
			for _, op := range s.Ops {
				if op.Kind == ir.OpExpf {
					return true
				}
			}
		}
	}
	return false
}

// expf replaces the f64 on the stack (a float32) by ir.Expf of it: inline
// when a row evaluates few math functions, else as a call (callMath).
func (g *gen) expf() {
	if g.inlineMath {
		g.expfInline()
		return
	}
	g.f.Call(g.mathFunc("expf"))
}

// expfInline computes ir.Expf operation for operation: about 30
// instructions and one load from the table at g.expfTab.
func (g *gen) expfInline() {
	f := g.f
	x, z, kd, r, y := f.Local(wasm.F64), f.Local(wasm.F64), f.Local(wasm.F64), f.Local(wasm.F64), f.Local(wasm.F64)
	ki := f.Local(wasm.I64)
	for _, l := range []uint32{x, z, kd, r, y, ki} {
		defer f.Release(l)
	}
	f.LocalTee(x)
	f.F64Const(ir.ExpfInvLn2N)
	f.Op(wasm.F64Mul)
	f.LocalTee(z)
	f.F64Const(ir.ExpfShift)
	f.Op(wasm.F64Add)
	f.LocalTee(kd)
	f.Op(wasm.I64ReinterpretF64)
	f.LocalSet(ki)
	f.LocalGet(z)
	f.LocalGet(kd)
	f.F64Const(ir.ExpfShift)
	f.Op(wasm.F64Sub)
	f.Op(wasm.F64Sub)
	f.LocalSet(r)
	// (c0·r + c1)·r² + (c2·r + 1)
	f.F64Const(ir.ExpfC[0])
	f.LocalGet(r)
	f.Op(wasm.F64Mul)
	f.F64Const(ir.ExpfC[1])
	f.Op(wasm.F64Add)
	f.LocalGet(r)
	f.LocalGet(r)
	f.Op(wasm.F64Mul)
	f.Op(wasm.F64Mul)
	f.F64Const(ir.ExpfC[2])
	f.LocalGet(r)
	f.Op(wasm.F64Mul)
	f.F64Const(1)
	f.Op(wasm.F64Add)
	f.Op(wasm.F64Add)
	// · 2^(k/32): the table's entry for k mod 32 plus k·2^47
	f.LocalGet(ki)
	f.I64Const(31)
	f.Op(wasm.I64And)
	f.Op(wasm.I32WrapI64)
	f.I32Const(3)
	f.Op(wasm.I32Shl)
	f.Mem(wasm.I64Load, g.expfTab)
	f.LocalGet(ki)
	f.I64Const(47)
	f.Op(wasm.I64Shl)
	f.Op(wasm.I64Add)
	f.Op(wasm.F64ReinterpretI64)
	f.Op(wasm.F64Mul)
	g.round32()
	f.LocalSet(y)
	// Overflow to +Inf, underflow to 0 (NaN stays NaN through the above).
	f.F64Const(math.Inf(1))
	f.LocalGet(y)
	f.LocalGet(x)
	f.F64Const(ir.ExpfMax)
	f.Op(wasm.F64Gt)
	f.Op(wasm.Select)
	f.LocalSet(y)
	f.F64Const(0)
	f.LocalGet(y)
	f.LocalGet(x)
	f.F64Const(ir.ExpfMin)
	f.Op(wasm.F64Lt)
	f.Op(wasm.Select)
}

// pow raises the f64 on the stack to the constant c (ir.Pow); t is a
// scratch local.
func (g *gen) pow(c float64, t uint32) {
	f := g.f
	switch c {
	case 0:
		f.Op(wasm.Drop)
		f.F64Const(1)
		return
	case 1:
		return
	case 2:
		f.LocalTee(t)
		f.LocalGet(t)
		f.Op(wasm.F64Mul)
		return
	}
	f.LocalTee(t)
	f.Op(wasm.F64Abs)
	g.callMath("log")
	f.F64Const(c)
	f.Op(wasm.F64Mul)
	g.callMath("exp")
	switch {
	case ir.PowOdd(c):
		f.LocalGet(t)
		f.Op(wasm.F64Copysign)
	case c != math.Trunc(c):
		f.F64Const(math.NaN())
		f.LocalGet(t)
		f.F64Const(0)
		f.Op(wasm.F64Lt)
		f.Op(wasm.I32Eqz)
		f.Op(wasm.Select) // x < 0 ? NaN : r
	}
}

// rbf emits the kernel (ir.RBF) in SIMD lanes, four centres at a time in
// float32 or two in float64 (F64), each lane computing what the scalar
// code would, in the same order: the inputs (rounded to float32 unless
// F64) splatted once, then per group of centres Σ (x - c)² over the
// inputs, times -γ, and Expf (F64: exp) of each lane.
func (g *gen) rbf(s *ir.RBF) {
	f := g.f
	nf := len(s.In)
	o := rbfOps32
	if s.F64 {
		o = rbfOps64
	}
	xs := make([]uint32, nf)
	for i, in := range s.In {
		xs[i] = f.Local(wasm.V128)
		defer f.Release(xs[i])
		f.LocalGet(g.slot[in])
		if !s.F64 {
			f.Op(wasm.F32DemoteF64)
		}
		f.Op(o.splat)
		f.LocalSet(xs[i])
	}
	d, acc := f.Local(wasm.V128), f.Local(wasm.V128)
	defer f.Release(d)
	defer f.Release(acc)
	for j0 := 0; j0 < len(s.Out); j0 += o.lanes {
		f.V128Const([16]byte{})
		for i := range s.In {
			var c [16]byte
			for l := range o.lanes {
				j := min(j0+l, len(s.Out)-1) // the last group repeats its last centre
				if s.F64 {
					binary.LittleEndian.PutUint64(c[8*l:], math.Float64bits(s.C[j*nf+i]))
				} else {
					binary.LittleEndian.PutUint32(c[4*l:], math.Float32bits(float32(s.C[j*nf+i])))
				}
			}
			f.LocalGet(xs[i])
			f.V128Const(c)
			f.Op(o.sub)
			f.LocalTee(d)
			f.LocalGet(d)
			f.Op(o.mul)
			f.Op(o.add)
		}
		if s.F64 {
			f.F64Const(-s.Gamma)
		} else {
			f.F32Const(-float32(s.Gamma))
		}
		f.Op(o.splat)
		f.Op(o.mul)
		f.LocalSet(acc)
		for l := 0; l < o.lanes && j0+l < len(s.Out); l++ {
			f.LocalGet(acc)
			f.Lane(o.extract, byte(l))
			if s.F64 {
				g.callMath("exp")
			} else {
				f.Op(wasm.F64PromoteF32)
				g.expf()
			}
			f.LocalSet(g.slot[s.Out[j0+l]])
		}
	}
}

// rbfOps are the SIMD instructions of ir.RBF in float32 and float64.
type rbfOps struct {
	lanes                         int
	splat, sub, mul, add, extract wasm.Op
}

var (
	rbfOps32 = rbfOps{4, wasm.F32x4Splat, wasm.F32x4Sub, wasm.F32x4Mul, wasm.F32x4Add, wasm.F32x4ExtractLane}
	rbfOps64 = rbfOps{2, wasm.F64x2Splat, wasm.F64x2Sub, wasm.F64x2Mul, wasm.F64x2Add, wasm.F64x2ExtractLane}
)

// couplingOps are the instructions of ir.Coupling in float32 and float64.
type couplingOps struct {
	typ                                  wasm.ValType
	add, sub, mul, div, neg, abs, gt, lt wasm.Op
}

var (
	couplingOps32 = couplingOps{wasm.F32, wasm.F32Add, wasm.F32Sub, wasm.F32Mul, wasm.F32Div, wasm.F32Neg, wasm.F32Abs, wasm.F32Gt, wasm.F32Lt}
	couplingOps64 = couplingOps{wasm.F64, wasm.F64Add, wasm.F64Sub, wasm.F64Mul, wasm.F64Div, wasm.F64Neg, wasm.F64Abs, wasm.F64Gt, wasm.F64Lt}
)

// argMax emits the index of the first largest input, NaN never winning
// (ir.ArgMax).
func (g *gen) argMax(s *ir.ArgMax) {
	f := g.f
	best, idx := f.Local(wasm.F64), f.Local(wasm.F64)
	c := f.Local(wasm.I32)
	defer f.Release(best)
	defer f.Release(idx)
	defer f.Release(c)
	f.LocalGet(g.slot[s.In[0]])
	f.LocalSet(best)
	f.F64Const(0)
	f.LocalSet(idx)
	for k := 1; k < len(s.In); k++ {
		x := g.slot[s.In[k]]
		// x > best || best is NaN && x is not
		f.LocalGet(x)
		f.LocalGet(best)
		f.Op(wasm.F64Gt)
		f.LocalGet(best)
		f.LocalGet(best)
		f.Op(wasm.F64Ne)
		f.LocalGet(x)
		f.LocalGet(x)
		f.Op(wasm.F64Eq)
		f.Op(wasm.I32And)
		f.Op(wasm.I32Or)
		f.LocalSet(c)
		f.LocalGet(x)
		f.LocalGet(best)
		f.LocalGet(c)
		f.Op(wasm.Select)
		f.LocalSet(best)
		f.F64Const(float64(k))
		f.LocalGet(idx)
		f.LocalGet(c)
		f.Op(wasm.Select)
		f.LocalSet(idx)
	}
	f.LocalGet(idx)
	f.LocalSet(g.slot[s.Out])
}

// coupling emits libsvm's pairwise coupling in float32, operation for
// operation as ir.Coupling.Eval (and onnxruntime, or libsvm with F64)
// computes it: Q, Qp and p in f32 (F64: f64) locals, the iterations a loop.
func (g *gen) coupling(s *ir.Coupling) {
	f := g.f
	k := len(s.Out)
	o := couplingOps32
	if s.F64 {
		o = couplingOps64
	}
	konst := func(x float64) {
		if s.F64 {
			f.F64Const(x)
		} else {
			f.F32Const(float32(x))
		}
	}
	locals := func(n int) []uint32 {
		out := make([]uint32, n)
		for i := range out {
			out[i] = f.Local(o.typ)
		}
		return out
	}
	Q, Qp, p := locals(k*k), locals(k), locals(k)
	t := locals(4)
	pQp, maxErr, diff, d1 := t[0], t[1], t[2], t[3]
	cnt := f.Local(wasm.I32)
	defer func() {
		for _, l := range append(append(append(append(Q, Qp...), p...), t...), cnt) {
			f.Release(l)
		}
	}()
	r := func(i, j int) { // r[i][j] (a float32 held in a f64 slot unless F64)
		f.LocalGet(g.slot[s.In[i*k+j]])
		if !s.F64 {
			f.Op(wasm.F32DemoteF64)
		}
	}
	p0, eps := 1/float64(k), 0.005/float64(k)
	if !s.F64 {
		p0, eps = float64(1/float32(k)), float64(float32(0.005)/float32(k))
	}
	for i := range k {
		konst(p0)
		f.LocalSet(p[i])
		konst(0)
		f.LocalSet(Q[i*k+i])
	}
	for i := range k {
		for j := range k {
			if j == i {
				continue
			}
			f.LocalGet(Q[i*k+i])
			r(j, i)
			r(j, i)
			f.Op(o.mul)
			f.Op(o.add)
			f.LocalSet(Q[i*k+i])
			if j < i {
				f.LocalGet(Q[j*k+i])
			} else {
				r(j, i)
				f.Op(o.neg)
				r(i, j)
				f.Op(o.mul)
			}
			f.LocalSet(Q[i*k+j])
		}
	}
	f.I32Const(0)
	f.LocalSet(cnt)
	f.Block(wasm.Void)
	done := f.Depth()
	f.Loop(wasm.Void)
	again := f.Depth()
	konst(0)
	f.LocalSet(pQp)
	for i := range k {
		konst(0)
		for j := range k {
			f.LocalGet(Q[i*k+j])
			f.LocalGet(p[j])
			f.Op(o.mul)
			f.Op(o.add)
		}
		f.LocalTee(Qp[i])
		f.LocalGet(p[i])
		f.Op(o.mul)
		f.LocalGet(pQp)
		f.Op(o.add) // (commutative: pQp + p·Qp)
		f.LocalSet(pQp)
	}
	konst(0)
	f.LocalSet(maxErr)
	for i := range k {
		f.LocalGet(Qp[i])
		f.LocalGet(pQp)
		f.Op(o.sub)
		f.Op(o.abs)
		f.LocalTee(diff) // scratch: the error
		f.LocalGet(maxErr)
		f.LocalGet(diff)
		f.LocalGet(maxErr)
		f.Op(o.gt)
		f.Op(wasm.Select)
		f.LocalSet(maxErr)
	}
	f.LocalGet(maxErr)
	konst(eps)
	f.Op(o.lt)
	f.BrIf(uint32(f.Depth() - done))
	for i := range k {
		// diff = (-Qp[i] + pQp) / Q[i][i]
		f.LocalGet(Qp[i])
		f.Op(o.neg)
		f.LocalGet(pQp)
		f.Op(o.add)
		f.LocalGet(Q[i*k+i])
		f.Op(o.div)
		f.LocalTee(diff)
		f.LocalGet(p[i])
		f.Op(o.add)
		f.LocalSet(p[i])
		konst(1)
		f.LocalGet(diff)
		f.Op(o.add)
		f.LocalSet(d1)
		// pQp = (pQp + diff·(diff·Q[i][i] + 2·Qp[i])) / d1 / d1
		f.LocalGet(pQp)
		f.LocalGet(diff)
		f.LocalGet(diff)
		f.LocalGet(Q[i*k+i])
		f.Op(o.mul)
		konst(2)
		f.LocalGet(Qp[i])
		f.Op(o.mul)
		f.Op(o.add)
		f.Op(o.mul)
		f.Op(o.add)
		f.LocalGet(d1)
		f.Op(o.div)
		f.LocalGet(d1)
		f.Op(o.div)
		f.LocalSet(pQp)
		for j := range k {
			f.LocalGet(Qp[j])
			f.LocalGet(diff)
			f.LocalGet(Q[i*k+j])
			f.Op(o.mul)
			f.Op(o.add)
			f.LocalGet(d1)
			f.Op(o.div)
			f.LocalSet(Qp[j])
			f.LocalGet(p[j])
			f.LocalGet(d1)
			f.Op(o.div)
			f.LocalSet(p[j])
		}
	}
	g.repeatWhileBelow(cnt, 100, again)
	f.End()
	f.End()
	for i, out := range s.Out {
		f.LocalGet(p[i])
		if !s.F64 {
			f.Op(wasm.F64PromoteF32)
		}
		f.LocalSet(g.slot[out])
	}
}

// binary emits A[i] op B[i] per column.
func (g *gen) binary(s *ir.Binary) {
	f := g.f
	for i, a := range s.A {
		f.LocalGet(g.slot[a])
		f.LocalGet(g.slot[s.B[i]])
		switch s.Kind {
		case ir.OpGreater, ir.OpLess, ir.OpEqual:
			f.Op(compareOps[s.Kind])
			f.Op(wasm.F64ConvertI32U)
		default:
			f.Op(arithOps[s.Kind])
		}
		f.LocalSet(g.slot[s.Out[i]])
	}
}

// linear emits a dense layer with the weights as immediates, summed in
// input order.
func (g *gen) linear(s *ir.Linear) {
	f := g.f
	n := len(s.In)
	if s.FMA32 {
		ins, accs := make([]uint32, n), make([]uint32, len(s.Out))
		for j, in := range s.In {
			ins[j] = g.slot[in]
		}
		for k, o := range s.Out {
			accs[k] = g.slot[o]
		}
		g.fmaChains(s, [][]uint32{ins}, [][]uint32{accs})
		return
	}
	// In any order: partial sums of about 6 products, which the processor
	// adds in parallel, then their sum.
	chunk := n
	if s.AnyOrder && n >= 12 && !s.Prod32 {
		chunk = (n + (n+5)/6 - 1) / ((n + 5) / 6)
	}
	for k, o := range s.Out {
		for j, in := range s.In {
			f.LocalGet(g.slot[in])
			if w := s.W[k*n+j]; w != 1 { // x·1 is x, exactly (NaN and -0 too)
				f.F64Const(w)
				f.Op(wasm.F64Mul)
			}
			if s.Prod32 {
				g.round32()
			}
			if j%chunk > 0 {
				f.Op(wasm.F64Add)
			}
			if j%chunk == chunk-1 && j >= chunk || j == n-1 && j >= chunk && j%chunk != chunk-1 {
				f.Op(wasm.F64Add) // this partial sum into the ones before
			}
		}
		if s.B != nil {
			f.F64Const(s.B[k])
			f.Op(wasm.F64Add)
		}
		f.LocalSet(g.slot[o])
	}
}

// reduce folds the slots with op, left to right, into the local dst.
func (g *gen) reduce(slots []int, op wasm.Op, dst uint32) {
	for i, in := range slots {
		g.f.LocalGet(g.slot[in])
		if i > 0 {
			g.f.Op(op)
		}
	}
	g.f.LocalSet(dst)
}

// softmax: exp(x - max) / Σ.
func (g *gen) softmax(s *ir.Softmax) {
	f := g.f
	mx, sum := f.Local(wasm.F64), f.Local(wasm.F64)
	defer f.Release(mx)
	defer f.Release(sum)
	g.reduce(s.In, wasm.F64Max, mx)
	for i, in := range s.In {
		f.LocalGet(g.slot[in])
		f.LocalGet(mx)
		f.Op(wasm.F64Sub)
		g.callMath("exp")
		f.LocalTee(g.slot[s.Out[i]])
		if i > 0 {
			f.LocalGet(sum)
			f.Op(wasm.F64Add)
		}
		f.LocalSet(sum)
	}
	for _, o := range s.Out {
		f.LocalGet(g.slot[o])
		f.LocalGet(sum)
		f.Op(wasm.F64Div)
		f.LocalSet(g.slot[o])
	}
}

// normalize: x / Σ x, with the zero-sum policy.
func (g *gen) normalize(s *ir.Normalize) {
	f := g.f
	if s.Norm != ir.NormSum {
		g.normalize32(s)
		return
	}
	sum := f.Local(wasm.F64)
	defer f.Release(sum)
	g.reduce(s.In, wasm.F64Add, sum)
	for i, in := range s.In {
		f.LocalGet(g.slot[in])
		f.LocalGet(sum)
		f.Op(wasm.F64Div)
		if s.Zero != ir.ZeroDivide {
			if s.Zero == ir.ZeroUniform {
				f.F64Const(1 / float64(len(s.In)))
			} else {
				f.LocalGet(g.slot[in])
			}
			f.LocalGet(sum)
			f.F64Const(0)
			f.Op(wasm.F64Ne)
			f.Op(wasm.Select) // sum != 0 ? x/sum : the policy's value
		}
		f.LocalSet(g.slot[s.Out[i]])
	}
}

// normalize32 is onnxruntime's Normalizer in float32 (ir.Normalize.eval32).
func (g *gen) normalize32(s *ir.Normalize) {
	f := g.f
	n, x := f.Local(wasm.F32), f.Local(wasm.F32)
	defer f.Release(n)
	defer f.Release(x)
	// square pushes the input's square, rounded to float32.
	square := func(in int) {
		f.LocalGet(g.slot[in])
		f.LocalGet(g.slot[in])
		f.Op(wasm.F64Mul)
		f.Op(wasm.F32DemoteF64)
	}
	get32 := func(in int) {
		f.LocalGet(g.slot[in])
		f.Op(wasm.F32DemoteF64)
	}
	if s.Norm == ir.NormMax {
		f.F32Const(-math.MaxFloat32)
	} else {
		f.F32Const(0)
	}
	f.LocalSet(n)
	for _, in := range s.In {
		switch s.Norm {
		case ir.NormL1:
			get32(in)
			f.Op(wasm.F32Abs)
			f.LocalGet(n)
			f.Op(wasm.F32Add)
		case ir.NormL2:
			square(in)
			f.LocalGet(n)
			f.Op(wasm.F32Add)
		case ir.NormMax:
			get32(in)
			f.LocalTee(x)
			f.LocalGet(n)
			f.LocalGet(x)
			f.LocalGet(n)
			f.Op(wasm.F32Gt)
			f.Op(wasm.Select) // x > n ? x : n (NaN keeps n)
		}
		f.LocalSet(n)
	}
	for i, in := range s.In {
		if s.Norm == ir.NormL2 {
			square(in)
			f.LocalGet(n)
			f.Op(wasm.F32Div)
			f.Op(wasm.F32Sqrt)
			f.LocalTee(x)
			f.Op(wasm.F32Neg)
			f.LocalGet(x)
			f.LocalGet(g.slot[in])
			f.F64Const(0)
			f.Op(wasm.F64Lt)
			f.Op(wasm.Select) // the sign of the input
		} else {
			get32(in)
			f.LocalGet(n)
			f.Op(wasm.F32Div)
		}
		get32(in)
		f.LocalGet(n)
		f.F32Const(0)
		f.Op(wasm.F32Ne)
		f.Op(wasm.Select) // a zero norm keeps the input
		f.Op(wasm.F64PromoteF32)
		f.LocalSet(g.slot[s.Out[i]])
	}
}

// oneHot emits, per output column, the OR of its categories' matches, and
// the unknown-value policy.
func (g *gen) oneHot(s *ir.OneHot, plan any) {
	f := g.f
	x := g.slot[s.In]
	any, v := f.Local(wasm.I32), f.Local(wasm.I32)
	defer f.Release(any)
	defer f.Release(v)
	match := func(c float64) {
		f.LocalGet(x)
		if math.IsNaN(c) {
			f.LocalGet(x)
			f.Op(wasm.F64Ne)
		} else {
			f.F64Const(c)
			f.Op(wasm.F64Eq)
		}
	}
	byCol := make([][]int, len(s.Out))
	var dropped []int
	for k, c := range s.Cols {
		if c < 0 {
			dropped = append(dropped, k)
		} else {
			byCol[c] = append(byCol[c], k)
		}
	}
	f.I32Const(0)
	f.LocalSet(any)
	for c, ks := range byCol {
		if len(ks) == 0 {
			f.F64Const(0)
			f.LocalSet(g.slot[s.Out[c]])
			continue
		}
		for i, k := range ks {
			match(s.Cats[k])
			if i > 0 {
				f.Op(wasm.I32Or)
			}
		}
		f.LocalTee(v)
		f.LocalGet(any)
		f.Op(wasm.I32Or)
		f.LocalSet(any)
		f.LocalGet(v)
		f.Op(wasm.F64ConvertI32U)
		f.LocalSet(g.slot[s.Out[c]])
	}
	for _, k := range dropped {
		match(s.Cats[k])
		f.LocalGet(any)
		f.Op(wasm.I32Or)
		f.LocalSet(any)
	}
	switch s.Unknown {
	case ir.UnknownError:
		msg := plan.([2]uint32)
		f.LocalGet(any)
		f.Op(wasm.I32Eqz)
		f.If(wasm.Void)
		g.fail(msg[0], int32(msg[1]))
		f.End()
	case ir.UnknownColumn:
		o := g.slot[s.Out[s.UnknownCol]]
		f.LocalGet(o)
		f.F64Const(1)
		f.LocalGet(any)
		f.Op(wasm.Select) // any ? its own match : 1
		f.LocalSet(o)
	}
}
