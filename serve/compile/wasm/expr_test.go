package wasm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// A random straight-line expression, emitted as WebAssembly and evaluated
// in Go with the semantics of TestOps. Values are bits (uint64).
type expr struct {
	kind  string // "param", "const", "op", "copysign", "divu", "remu", "select", "dup"
	t     ValType
	op    *opCase // kind "op" and "dup": the instruction
	param uint32  // kind "param"
	bits  uint64  // kind "const"
	kids  []*expr
}

// exprParams are the parameter types of every generated function.
var exprParams = []ValType{F64, F64, F32, I32, I64}

// exprOps are the instructions a tree may use: all of TestOps' except
// those that can trap (handled by "divu"/"remu") and those that expose NaN
// bits (float-to-int reinterpret, copysign: its sign operand is made
// non-NaN by "copysign"), which wasm leaves nondeterministic.
var exprOps = func() map[ValType][]*opCase {
	skip := map[Op]bool{I32ReinterpretF32: true, I64ReinterpretF64: true, F32Copysign: true, F64Copysign: true}
	out := map[ValType][]*opCase{}
	for _, c := range opCases() {
		if skip[c.op] {
			continue
		}
		trapping := false
		for _, a := range valsOf(c.in[0]) {
			for _, b := range valsOf(c.in[len(c.in)-1]) {
				if _, trap := c.eval(a, b); trap {
					trapping = true
				}
			}
		}
		if !trapping {
			out[c.out] = append(out[c.out], &c)
		}
	}
	return out
}()

func genExpr(rng *rand.Rand, t ValType, depth int) *expr {
	if depth == 0 || rng.IntN(8) == 0 {
		var ps []uint32
		for i, pt := range exprParams {
			if pt == t {
				ps = append(ps, uint32(i))
			}
		}
		if len(ps) > 0 && rng.IntN(3) > 0 {
			return &expr{kind: "param", t: t, param: ps[rng.IntN(len(ps))]}
		}
		vs := valsOf(t)
		return &expr{kind: "const", t: t, bits: vs[rng.IntN(len(vs))]}
	}
	switch r := rng.IntN(20); {
	case r == 0 && (t == F32 || t == F64):
		// copysign(a, float(i32 expression)): the sign never comes from a NaN.
		conv := F64ConvertI32S
		if t == F32 {
			conv = F32ConvertI32S
		}
		var c *opCase
		for _, o := range exprOps[t] {
			if o.op == conv {
				c = o
			}
		}
		sign := &expr{kind: "op", t: t, op: c, kids: []*expr{genExpr(rng, I32, depth-1)}}
		return &expr{kind: "copysign", t: t, kids: []*expr{genExpr(rng, t, depth-1), sign}}
	case r == 1 && (t == I32 || t == I64):
		kind := "divu"
		if rng.IntN(2) == 0 {
			kind = "remu"
		}
		return &expr{kind: kind, t: t, kids: []*expr{genExpr(rng, t, depth-1), genExpr(rng, t, depth-1)}}
	case r == 2:
		return &expr{kind: "select", t: t, kids: []*expr{genExpr(rng, t, depth-1), genExpr(rng, t, depth-1), genExpr(rng, I32, depth-1)}}
	}
	ops := exprOps[t]
	c := ops[rng.IntN(len(ops))]
	if len(c.in) == 2 && c.in[0] == c.in[1] && rng.IntN(6) == 0 {
		// op(x, x), x computed once and kept in a local.
		return &expr{kind: "dup", t: t, op: c, kids: []*expr{genExpr(rng, c.in[0], depth-1)}}
	}
	e := &expr{kind: "op", t: t, op: c}
	for _, in := range c.in {
		e.kids = append(e.kids, genExpr(rng, in, depth-1))
	}
	return e
}

func (e *expr) emit(f *Func) {
	for _, k := range e.kids {
		k.emit(f)
	}
	switch e.kind {
	case "param":
		f.LocalGet(e.param)
	case "const":
		switch e.t {
		case I32:
			f.I32Const(int32(e.bits))
		case I64:
			f.I64Const(int64(e.bits))
		case F32:
			f.F32Bits(uint32(e.bits))
		case F64:
			f.F64Bits(e.bits)
		}
	case "op":
		f.Op(e.op.op)
	case "dup":
		l := f.Local(e.kids[0].t)
		f.LocalTee(l)
		f.LocalGet(l)
		f.Op(e.op.op)
		f.Release(l)
	case "copysign":
		if e.t == F32 {
			f.Op(F32Copysign)
		} else {
			f.Op(F64Copysign)
		}
	case "divu", "remu":
		op := map[string]map[ValType]Op{"divu": {I32: I32DivU, I64: I64DivU}, "remu": {I32: I32RemU, I64: I64RemU}}[e.kind][e.t]
		if e.t == I32 {
			f.I32Const(1)
			f.Op(I32Or, op)
		} else {
			f.I64Const(1)
			f.Op(I64Or, op)
		}
	case "select":
		f.Op(Select)
	}
}

func (e *expr) eval(params []uint64) uint64 {
	var v []uint64
	for _, k := range e.kids {
		v = append(v, k.eval(params))
	}
	switch e.kind {
	case "param":
		return params[e.param]
	case "const":
		return e.bits
	case "op":
		if len(v) == 1 {
			v = append(v, 0)
		}
		r, _ := e.op.eval(v[0], v[1])
		return r
	case "dup":
		r, _ := e.op.eval(v[0], v[0])
		return r
	case "copysign":
		if e.t == F32 {
			return v[0]&0x7FFFFFFF | v[1]&0x80000000
		}
		return v[0]&^(1<<63) | v[1]&(1<<63)
	case "divu", "remu":
		if e.t == I32 {
			a, b := uint32(v[0]), uint32(v[1])|1
			if e.kind == "divu" {
				return uint64(a / b)
			}
			return uint64(a % b)
		}
		a, b := v[0], v[1]|1
		if e.kind == "divu" {
			return a / b
		}
		return a % b
	case "select":
		if uint32(v[2]) != 0 {
			return v[0]
		}
		return v[1]
	}
	panic(e.kind)
}

func (e *expr) String() string {
	switch e.kind {
	case "param":
		return fmt.Sprintf("p%d", e.param)
	case "const":
		return show(e.t, e.bits)
	}
	name := e.kind
	if e.op != nil {
		name = e.op.name
	}
	s := name + "("
	for i, k := range e.kids {
		if i > 0 {
			s += ", "
		}
		s += k.String()
	}
	return s + ")"
}

// randomParams returns parameters for the generated functions, mixing
// edge cases and random values.
func randomParams(rng *rand.Rand) []uint64 {
	p := make([]uint64, len(exprParams))
	for i, t := range exprParams {
		if rng.IntN(2) == 0 {
			vs := valsOf(t)
			p[i] = vs[rng.IntN(len(vs))]
			continue
		}
		switch t {
		case F64:
			p[i] = b64(rng.NormFloat64() * math.Exp2(float64(rng.IntN(40)-20)))
		case F32:
			p[i] = b32(float32(rng.NormFloat64() * 100))
		case I32:
			p[i] = uint64(rng.Uint32())
		case I64:
			p[i] = rng.Uint64()
		}
	}
	return p
}

// checkExprs builds one module from the trees and compares every function
// with Go on nInputs parameter sets.
func checkExprs(t *testing.T, rng *rand.Rand, trees []*expr, nInputs int) {
	t.Helper()
	m := NewModule()
	for i, e := range trees {
		f := m.AddFunc(exprParams, []ValType{e.t})
		e.emit(f)
		m.ExportFunc(fmt.Sprint(i), f.Index())
	}
	mod := instantiate(t, newRuntime(t), m)
	for range nInputs {
		params := randomParams(rng)
		for i, e := range trees {
			got, trapped := call(t, mod, fmt.Sprint(i), params...)
			want := e.eval(params)
			if trapped || !sameBits(e.t, got, want) {
				t.Fatalf("%v\nparams %x\n= %s (trap %v), Go says %s", e, params, show(e.t, got), trapped, show(e.t, want))
			}
		}
	}
}

// TestRandomExpressions compares random expression trees over all four
// value types, run by wazero's compiler and evaluated in Go, bit for bit
// (any NaN equals any NaN).
func TestRandomExpressions(t *testing.T) {
	rounds, perRound, nInputs := 20, 60, 40
	if testing.Short() {
		rounds = 4
	}
	rng := rand.New(rand.NewPCG(42, 4242))
	types := []ValType{F64, F32, I32, I64}
	for range rounds {
		var trees []*expr
		for i := range perRound {
			trees = append(trees, genExpr(rng, types[i%len(types)], 1+rng.IntN(7)))
		}
		checkExprs(t, rng, trees, nInputs)
	}
}

// FuzzExpressions is TestRandomExpressions driven by the fuzzer's seeds:
// go test -fuzz FuzzExpressions ./serve/compile/wasm/
func FuzzExpressions(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		rng := rand.New(rand.NewPCG(a, b))
		var trees []*expr
		for i := range 8 {
			trees = append(trees, genExpr(rng, []ValType{F64, F32, I32, I64}[i%4], 1+rng.IntN(8)))
		}
		checkExprs(t, rng, trees, 8)
	})
}
