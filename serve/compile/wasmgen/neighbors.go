package wasmgen

import (
	"encoding/binary"
	"math"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/wasm"
)

// neighborsPlan places an ir.Neighbors in memory: the points (float64,
// row after row), per point its class's byte offset into acc (int32) or
// its target (float64), and the scratch of the K nearest so far.
type neighborsPlan struct {
	points, values uint32
	bestD, bestI   uint32 // K float64 distance sums, K int32 point indices
	acc            uint32 // Classes float64 sums
}

func (g *gen) layoutNeighbors(s *ir.Neighbors) *neighborsPlan {
	p := &neighborsPlan{}
	buf := make([]byte, 0, len(s.Points)*8)
	for _, x := range s.Points {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(x))
	}
	p.points = g.put(buf, 8)
	buf = buf[:0]
	for _, v := range s.Value {
		if s.Classes > 0 {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(v)*8)
		} else {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		}
	}
	p.values = g.put(buf, 8)
	p.bestD = g.alloc(s.K*8, 8)
	p.bestI = g.alloc(s.K*4, 4)
	if s.Classes > 0 {
		p.acc = g.alloc(s.Classes*8, 8)
	}
	return p
}

// neighbors emits ir.Neighbors as its Eval computes it: a loop over the
// points keeping the K nearest in order by insertion (strictly nearer
// moves ahead, so at equal distance the lower index stays first), then a
// loop over those neighbours summing their weights per class, or their
// weighted targets.
func (g *gen) neighbors(s *ir.Neighbors, p *neighborsPlan) {
	f := g.f
	K, nf, N := s.K, len(s.In), len(s.Value)
	i, j, ptr := f.Local(wasm.I32), f.Local(wasm.I32), f.Local(wasm.I32)
	d, w, zero := f.Local(wasm.F64), f.Local(wasm.F64), f.Local(wasm.I32)
	num, den := f.Local(wasm.F64), f.Local(wasm.F64)
	defer func() {
		for _, l := range []uint32{i, j, ptr, d, w, zero, num, den} {
			f.Release(l)
		}
	}()
	scaled := func(l uint32, shift int32) { // l << shift
		f.LocalGet(l)
		f.I32Const(shift)
		f.Op(wasm.I32Shl)
	}
	// The K nearest so far: none, at +Inf.
	f.I32Const(0)
	f.LocalSet(j)
	f.Loop(wasm.Void)
	fill := f.Depth()
	scaled(j, 3)
	f.F64Const(math.Inf(1))
	f.Mem(wasm.F64Store, p.bestD)
	scaled(j, 2)
	f.I32Const(-1)
	f.Mem(wasm.I32Store, p.bestI)
	g.repeatWhileBelow(j, int32(K), fill)
	f.End()

	f.I32Const(0)
	f.LocalSet(i)
	f.I32Const(int32(p.points))
	f.LocalSet(ptr)
	f.Loop(wasm.Void)
	points := f.Depth()
	f.F64Const(0)
	for k, in := range s.In {
		f.LocalGet(g.slot[in])
		f.LocalGet(ptr)
		f.Mem(wasm.F64Load, uint32(k*8))
		f.Op(wasm.F64Sub)
		if s.P == 1 {
			f.Op(wasm.F64Abs)
		} else {
			f.LocalTee(w) // scratch
			f.LocalGet(w)
			f.Op(wasm.F64Mul)
		}
		f.Op(wasm.F64Add)
	}
	f.LocalTee(d)
	f.I32Const(0)
	f.Mem(wasm.F64Load, p.bestD+uint32(K-1)*8)
	f.Op(wasm.F64Lt) // false for NaN
	f.If(wasm.Void)
	{
		f.I32Const(int32(K - 1))
		f.LocalSet(j)
		f.Block(wasm.Void)
		placed := f.Depth()
		f.Loop(wasm.Void)
		shift := f.Depth()
		// while j > 0 && d < bestD[j-1]: move entry j-1 to j
		f.LocalGet(j)
		f.Op(wasm.I32Eqz)
		f.BrIf(uint32(f.Depth() - placed))
		f.LocalGet(d)
		scaled(j, 3)
		f.Mem(wasm.F64Load, p.bestD-8)
		f.Op(wasm.F64Lt)
		f.Op(wasm.I32Eqz)
		f.BrIf(uint32(f.Depth() - placed))
		scaled(j, 3)
		scaled(j, 3)
		f.Mem(wasm.F64Load, p.bestD-8)
		f.Mem(wasm.F64Store, p.bestD)
		scaled(j, 2)
		scaled(j, 2)
		f.Mem(wasm.I32Load, p.bestI-4)
		f.Mem(wasm.I32Store, p.bestI)
		f.LocalGet(j)
		f.I32Const(1)
		f.Op(wasm.I32Sub)
		f.LocalSet(j)
		f.Br(uint32(f.Depth() - shift))
		f.End()
		f.End()
		scaled(j, 3)
		f.LocalGet(d)
		f.Mem(wasm.F64Store, p.bestD)
		scaled(j, 2)
		f.LocalGet(i)
		f.Mem(wasm.I32Store, p.bestI)
	}
	f.End()
	f.LocalGet(ptr)
	f.I32Const(int32(nf * 8))
	f.Op(wasm.I32Add)
	f.LocalSet(ptr)
	g.repeatWhileBelow(i, int32(N), points)
	f.End()

	// The neighbours (a prefix of the K entries) and their weights.
	if s.Distance {
		f.I32Const(0)
		f.Mem(wasm.F64Load, p.bestD)
		f.F64Const(0)
		f.Op(wasm.F64Eq)
		f.LocalSet(zero)
	}
	for c := range s.Classes {
		f.I32Const(0)
		f.F64Const(0)
		f.Mem(wasm.F64Store, p.acc+uint32(c)*8)
	}
	f.F64Const(0)
	f.LocalSet(num)
	f.F64Const(0)
	f.LocalSet(den)
	f.I32Const(0)
	f.LocalSet(j)
	f.Block(wasm.Void)
	done := f.Depth()
	f.Loop(wasm.Void)
	each := f.Depth()
	f.LocalGet(j)
	f.I32Const(int32(K))
	f.Op(wasm.I32GeS)
	f.BrIf(uint32(f.Depth() - done))
	scaled(j, 2)
	f.Mem(wasm.I32Load, p.bestI)
	f.LocalTee(i)
	f.I32Const(0)
	f.Op(wasm.I32LtS)
	f.BrIf(uint32(f.Depth() - done))
	// w
	if !s.Distance {
		f.F64Const(1)
	} else {
		// a zero row: bestD[j] == 0 ? 1 : 0
		scaled(j, 3)
		f.Mem(wasm.F64Load, p.bestD)
		f.F64Const(0)
		f.Op(wasm.F64Eq)
		f.Op(wasm.F64ConvertI32U)
		// else 1/distance
		f.F64Const(1)
		scaled(j, 3)
		f.Mem(wasm.F64Load, p.bestD)
		if s.P == 2 {
			f.Op(wasm.F64Sqrt)
		}
		f.Op(wasm.F64Div)
		f.LocalGet(zero)
		f.Op(wasm.Select)
	}
	f.LocalSet(w)
	if s.Classes > 0 {
		// acc[class of i] += w
		scaled(i, 2)
		f.Mem(wasm.I32Load, p.values)
		f.LocalTee(ptr) // scratch: the class's byte offset
		f.LocalGet(ptr)
		f.Mem(wasm.F64Load, p.acc)
		f.LocalGet(w)
		f.Op(wasm.F64Add)
		f.Mem(wasm.F64Store, p.acc)
	} else {
		scaled(i, 3)
		f.Mem(wasm.F64Load, p.values)
		f.LocalGet(w)
		f.Op(wasm.F64Mul)
		f.LocalGet(num)
		f.Op(wasm.F64Add)
		f.LocalSet(num)
		f.LocalGet(den)
		f.LocalGet(w)
		f.Op(wasm.F64Add)
		f.LocalSet(den)
	}
	f.LocalGet(j)
	f.I32Const(1)
	f.Op(wasm.I32Add)
	f.LocalSet(j)
	f.Br(uint32(f.Depth() - each))
	f.End()
	f.End()
	if s.Classes > 0 {
		for c, o := range s.Out {
			f.I32Const(0)
			f.Mem(wasm.F64Load, p.acc+uint32(c)*8)
			f.LocalSet(g.slot[o])
		}
		return
	}
	f.LocalGet(num)
	f.LocalGet(den)
	f.Op(wasm.F64Div)
	f.LocalSet(g.slot[s.Out[0]])
}

// repeatWhileBelow ends a loop body (the loop at depth loop): l += 1, and
// back to the loop's start while l < n.
func (g *gen) repeatWhileBelow(l uint32, n int32, loop int) {
	f := g.f
	f.LocalGet(l)
	f.I32Const(1)
	f.Op(wasm.I32Add)
	f.LocalTee(l)
	f.I32Const(n)
	f.Op(wasm.I32LtS)
	f.BrIf(uint32(f.Depth() - loop))
}
