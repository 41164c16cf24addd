package wasmgen

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/wasm"
)

// Tree ensembles. The step's inputs are first copied to a row buffer
// (float32 when the model compares in float32, as scikit-learn's trees
// do), then each tree is walked with straight-line code, a few trees
// interleaved so their independent walks overlap in the CPU:
//
//   - a shallow tree is laid out as a complete binary tree (shorter
//     branches padded, their leaves repeated): node i's children are
//     2i+1 and 2i+2, so a level costs two loads and no branch;
//   - a deep tree keeps node arrays, children adjacent, leaves pointing
//     at themselves, and is walked to its depth with an early exit every
//     few levels.
//
// A row with a NaN input takes a second copy of the walks that also
// reads each node's missing-value direction; rows without NaN never pay
// for it. Leaf values are added in tree order, as scikit-learn does.

// group is how many trees are walked interleaved.
const group = 4

// treesPlan is the memory layout of one Trees step.
type treesPlan struct {
	row   uint32 // the row buffer
	f32   bool
	xsize uint32 // 4 or 8
	trees []treePlan
	nOut  int
	// nVals is the number of leaf values per leaf: nOut, or 1 when each
	// tree adds to one output (Trees.Groups).
	nVals   int
	accum32 bool
	catLeft bool
	unkMiss bool
	// runs are the looped runs of complete trees; accMem holds the
	// accumulators while a run with output groups is walked.
	runs   []*treeRun
	accMem uint32
}

// A treeRun is a run of consecutive trees laid out as complete trees of
// one depth in blocks of one size, walked by a loop (the code does not
// grow with the number of trees, which keeps large ensembles in the
// instruction cache). Block: node records, NaN-goes-right flags, leaf
// values, and the address of the tree's accumulator (output groups).
type treeRun struct {
	first, end int // tree indices
	depth      int
	rec        uint32
	flagsOff   uint32
	leavesOff  uint32
	accOff     uint32
	stride     uint32
	tbl        uint32
	memAcc     bool // accumulators in memory (output groups, several outputs)
	// leaves32: every leaf value of the run is a float32, so a float32
	// sum (Accum32) adds them with f32.add, which rounds exactly as
	// f64.add then demote does (53 ≥ 2·24+2 bits), keeping one operation
	// per tree on the sum's dependency chain instead of three.
	leaves32 bool
	// deep: the trees keep their node arrays (layoutDeep); the run's
	// table has, per tree, the root's address, the accumulator's, and
	// (for the first tree a loop iteration walks) the level pairs the
	// iteration walks.
	deep bool
	// slot is each tree's table entry (tree first+i is entry slot[i]).
	// A sorted deep run orders its entries by depth, so that the trees a
	// loop iteration walks together are about as deep, and each tree
	// stores its leaf value at buf + 8·i (the entry's accumulator field
	// holds that address); the values are then added in tree order, so
	// the sum is the same as walking in tree order.
	slot   []int
	sorted bool
	buf    uint32
	// head: a sorted run whose groups walk at most headLevels levels
	// together; a tree not at a leaf by then is put on the pending list
	// (pend: its node and its buf address, 8 bytes per tree) and
	// finished alone after the run. Leaf-wise trees (LightGBM's) are
	// much deeper than most of their paths: in bench/gbm's model the
	// deepest path of a tree is 10.4 levels on average, the path a row
	// takes 5.1, and 8 levels leave 11% of the walks pending (measured:
	// about 10% less time per row; 6 levels were no faster than none, as
	// the pending walks are branchy). cnt is the local counting the
	// pending trees while the run's code is emitted.
	head bool
	pend uint32
	cnt  uint32
}

// maxRunDepth bounds the depth of a tree walked in a deep run (every
// tree of the run is walked to the run's deepest depth).
const maxRunDepth = 40

// runPadDepth is the deepest tree a complete run pads however sparse.
const runPadDepth = 8

// runGroup trees of a run are interleaved per loop iteration (unless
// Options.RunGroup says otherwise).
const runGroup = 8

// headLevels is how many levels a sorted deep run's trees are walked
// together (unless Options.HeadLevels says otherwise); rounded up to
// pairs of levels.
const headLevels = 8

type treePlan struct {
	depth    int
	complete bool
	// complete: nodes (records of thr, featoff), NaN-goes-right flags (a
	// byte per node) and leaves (nOut f64 each, 2^depth of them).
	// deep: node records (thr, featoff, left, values).
	nodes, flags, leaves uint32
	rec                  uint32 // record size
	root                 uint32 // deep: the root record's address
	// the root's split, for a constant first level
	rootFeat uint32
	rootThr  float64
	// depth 0: the tree's only leaf values
	consts []float64
	// group is the output the tree adds to (-1: all of them).
	group int
	// run is the looped run the tree belongs to.
	run *treeRun
	// branchy: a tree with categorical or zero-as-missing nodes, emitted
	// as nested if/else code; sets holds each categorical node's bitset
	// address.
	branchy bool
	tree    *ir.Tree
	sets    map[int32]uint32
}

// maxTreeData bounds the memory of tree tables: node records hold
// addresses below 2^31 (the top bit of a record's values field is a
// flag).
const maxTreeData = 1 << 31

// maxBranchyDepth bounds the nesting of a tree emitted as if/else code.
const maxBranchyDepth = 256

func (g *gen) layoutTrees(s *ir.Trees) (*treesPlan, error) {
	p := &treesPlan{f32: s.Float32, xsize: 8, nOut: len(s.Out), nVals: s.NVals(), accum32: s.Accum32, catLeft: s.CatLeft, unkMiss: s.UnknownMissing}
	if s.Float32 {
		p.xsize = 4
	}
	p.row = g.alloc(len(s.In)*int(p.xsize), 8)
	p.accMem = g.alloc(len(s.Out)*8, 8)
	runOf := g.planRuns(s, p)
	for ti := range s.Trees {
		t := &s.Trees[ti]
		d := t.Depth()
		tp := treePlan{depth: d, group: -1}
		if s.Groups != nil {
			tp.group = int(s.Groups[ti])
		}
		if r := runOf[ti]; r != nil && r.deep {
			tp.run = r
			g.layoutDeep(t, &tp, p)
			k := uint32(r.slot[ti-r.first])
			acc := p.accMem
			if tp.group > 0 {
				acc += uint32(tp.group) * 8
			}
			if r.sorted {
				acc = r.buf + uint32(ti-r.first)*8
			}
			e := r.tbl + k*r.stride
			binary.LittleEndian.PutUint32(g.mem(e), tp.root)
			binary.LittleEndian.PutUint32(g.mem(e+4), acc)
			// The group of trees a loop iteration walks together goes
			// as deep as its deepest tree (in pairs of levels): its first
			// entry says how many pairs.
			ug := uint32(g.runGroup())
			lead := r.tbl + (k/ug*ug)*r.stride
			pairs := uint32((d + 1) / 2)
			if r.head {
				pairs = min(pairs, uint32((g.headLevels()+1)/2))
			}
			if pairs > binary.LittleEndian.Uint32(g.mem(lead+8)) {
				binary.LittleEndian.PutUint32(g.mem(lead+8), pairs)
			}
			p.trees = append(p.trees, tp)
			continue
		}
		if r := runOf[ti]; r != nil {
			tp.run, tp.complete, tp.depth = r, true, r.depth
			k := uint32(ti - r.first)
			tp.rec = r.rec
			tp.nodes = r.tbl + k*r.stride
			tp.flags = tp.nodes + r.flagsOff
			tp.leaves = tp.nodes + r.leavesOff
			g.fillComplete(t, &tp, p)
			acc := p.accMem
			if tp.group > 0 {
				acc += uint32(tp.group) * 8
			}
			binary.LittleEndian.PutUint32(g.mem(tp.nodes+r.accOff), acc)
			p.trees = append(p.trees, tp)
			continue
		}
		switch {
		case d == 0:
			tp.consts = t.Value[:p.nVals]
		case t.Special() || g.opts.TreeLayout == "branchy" && d <= maxBranchyDepth:
			if d > maxBranchyDepth {
				return nil, ir.Unsupportedf("a tree with categorical or zero-as-missing splits is %d levels deep (at most %d)", d, maxBranchyDepth)
			}
			tp.branchy, tp.tree = true, t
			g.layoutSets(t, &tp)
		// Complete when it is shallow and nearly full: padding a sparse
		// tree would multiply its memory, in every instance.
		case g.completeOK(t, d, p.nVals):
			tp.complete = true
			g.layoutComplete(t, &tp, p)
		default:
			g.layoutDeep(t, &tp, p)
		}
		if d > 0 {
			tp.rootFeat = uint32(t.Feature[0]) * p.xsize
			tp.rootThr = t.Threshold[0]
		}
		p.trees = append(p.trees, tp)
		if uint64(g.base)+uint64(len(g.data)) > maxTreeData {
			return nil, ir.Unsupportedf("the trees need more than %d MiB of memory", maxTreeData>>20)
		}
	}
	return p, nil
}

// completeOK says whether a tree may be laid out as a complete tree of
// depth d.
func (g *gen) completeOK(t *ir.Tree, d, nVals int) bool {
	lay := g.opts.TreeLayout
	if d == 0 || t.Special() || lay == "deep" || lay == "branchy" || d > g.opts.CompleteDepth || (1<<d)*nVals*8 > 256<<10 {
		return false
	}
	leaves := 0
	for _, f := range t.Feature {
		if f < 0 {
			leaves++
		}
	}
	return 1<<d <= 4*leaves || lay == "complete" || lay == "straight"
}

// planRuns finds the runs of at least Options.RunMin consecutive trees that can
// be complete trees of the run's deepest depth, and allocates their
// blocks.
func (g *gen) planRuns(s *ir.Trees, p *treesPlan) []*treeRun {
	runOf := make([]*treeRun, len(s.Trees))
	if g.opts.TreeLayout == "straight" {
		return runOf
	}
	// Class 1: may be complete; 2: node arrays; 0: neither (categorical
	// or zero-as-missing nodes, too deep).
	class := make([]int, len(s.Trees))
	depth := make([]int, len(s.Trees))
	for i := range s.Trees {
		t := &s.Trees[i]
		depth[i] = t.Depth()
		switch {
		case t.Special() || depth[i] == 0 || depth[i] > maxRunDepth || g.opts.TreeLayout == "branchy":
		case g.completeOK(t, depth[i], p.nVals),
			// a shallow sparse tree is padded: little memory, and the
			// run stays complete (measured: XGBoost's depth-6 trees).
			depth[i] <= min(runPadDepth, g.opts.CompleteDepth) && g.opts.TreeLayout != "deep":
			class[i] = 1
		default:
			class[i] = 2
		}
	}
	for i := 0; i < len(s.Trees); {
		if class[i] == 0 {
			i++
			continue
		}
		j, d, deep := i, 0, false
		for j < len(s.Trees) && class[j] != 0 {
			d = max(d, depth[j])
			deep = deep || class[j] == 2
			j++
		}
		if j-i < g.opts.RunMin {
			i = j
			continue
		}
		deep = deep || (1<<d)*p.nVals*8 > 256<<10 || d > g.opts.CompleteDepth
		r := &treeRun{first: i, end: j, depth: d, rec: 8, memAcc: s.Groups != nil && len(s.Out) > 1, deep: deep, leaves32: true}
		for k := i; k < j && r.leaves32; k++ {
			t := &s.Trees[k]
			for n, f := range t.Feature {
				if f >= 0 {
					continue
				}
				for _, v := range t.Value[n*p.nVals : (n+1)*p.nVals] {
					if float64(float32(v)) != v {
						r.leaves32 = false
					}
				}
			}
		}
		if deep {
			r.stride = 16 // root, accumulator, level pairs of its group, pad
			r.rec = 16
			if !p.f32 {
				r.rec = 24
			}
		} else {
			if !p.f32 {
				r.rec = 16
			}
			nInternal := uint32(1<<d - 1)
			r.flagsOff = nInternal * r.rec
			r.leavesOff = (r.flagsOff + nInternal + 7) &^ 7
			r.accOff = r.leavesOff + uint32((1<<d)*p.nVals*8)
			r.stride = (r.accOff + 4 + 7) &^ 7
		}
		if uint64(g.base)+uint64(len(g.data))+uint64(j-i)*uint64(r.stride) > maxTreeData {
			break // layoutTrees reports it
		}
		r.tbl = g.alloc((j-i)*int(r.stride), 8)
		r.slot = make([]int, j-i)
		for k := range r.slot {
			r.slot[k] = k
		}
		if deep && !r.memAcc && p.nVals == 1 && !g.opts.UnsortedRuns {
			// Entries by depth (stable): tree first+order[k] is entry k.
			order := make([]int, j-i)
			for k := range order {
				order[k] = k
			}
			slices.SortStableFunc(order, func(a, b int) int { return depth[i+a] - depth[i+b] })
			for k, t := range order {
				r.slot[t] = k
			}
			r.sorted = true
			r.buf = g.alloc((j-i)*8, 8)
			if g.headLevels() > 0 {
				r.head = true
				r.pend = g.alloc((j-i)*8, 8)
			}
		}
		p.runs = append(p.runs, r)
		for k := i; k < j; k++ {
			runOf[k] = r
		}
		i = j
	}
	return runOf
}

// runWalk walks a run's trees in a loop, runGroup trees interleaved per
// iteration (the remainder after the loop), adding leaf values in tree
// order.
func (g *gen) runWalk(p *treesPlan, r *treeRun, acc []uint32, x uint32, nan bool) {
	f := g.f
	n := r.end - r.first
	if r.memAcc {
		for k := range acc {
			f.I32Const(0)
			f.LocalGet(acc[k])
			f.Mem(wasm.F64Store, p.accMem+uint32(k*8))
		}
	}
	tb := f.Local(wasm.I32)
	defer f.Release(tb)
	if r.head {
		r.cnt = f.Local(wasm.I32)
		defer f.Release(r.cnt)
		f.I32Const(0)
		f.LocalSet(r.cnt)
	}
	f.I32Const(int32(r.tbl))
	f.LocalSet(tb)
	ug := g.runGroup()
	if loops := n / ug; loops > 0 {
		f.Loop(wasm.Void)
		g.runBody(p, r, ug, tb, acc, x, nan)
		f.LocalGet(tb)
		f.I32Const(int32(uint32(ug) * r.stride))
		f.Op(wasm.I32Add)
		f.LocalTee(tb)
		f.I32Const(int32(r.tbl + uint32(loops*ug)*r.stride))
		f.Op(wasm.I32LtU)
		f.BrIf(0)
		f.End()
	}
	if rem := n % ug; rem > 0 {
		g.runBody(p, r, rem, tb, acc, x, nan)
	}
	if r.head {
		g.finishPending(p, r, x, nan)
	}
	if r.sorted {
		// acc += buf[0], buf[1], … in tree order.
		f.I32Const(int32(r.buf))
		f.LocalSet(tb)
		f.Loop(wasm.Void)
		f.LocalGet(acc[0])
		f.LocalGet(tb)
		f.Mem(wasm.F64Load, 0)
		f.Op(wasm.F64Add)
		if p.accum32 {
			f.Op(wasm.F32DemoteF64)
			f.Op(wasm.F64PromoteF32)
		}
		f.LocalSet(acc[0])
		f.LocalGet(tb)
		f.I32Const(8)
		f.Op(wasm.I32Add)
		f.LocalTee(tb)
		f.I32Const(int32(r.buf + uint32(n)*8))
		f.Op(wasm.I32LtU)
		f.BrIf(0)
		f.End()
	}
	if r.memAcc {
		for k := range acc {
			f.I32Const(0)
			f.Mem(wasm.F64Load, p.accMem+uint32(k*8))
			f.LocalSet(acc[k])
		}
	}
}

// finishPending walks each tree on a head run's pending list to its
// leaf, two levels at a time, and stores the leaf's value at the tree's
// buf address.
func (g *gen) finishPending(p *treesPlan, r *treeRun, x uint32, nan bool) {
	f := g.f
	off := p.xsize // a node record's fields after its threshold
	e, end, n := f.Local(wasm.I32), f.Local(wasm.I32), f.Local(wasm.I32)
	defer f.Release(e)
	defer f.Release(end)
	defer f.Release(n)
	f.LocalGet(r.cnt)
	f.If(wasm.Void)
	f.LocalGet(r.cnt)
	f.I32Const(3)
	f.Op(wasm.I32Shl)
	f.LocalSet(end)
	f.I32Const(0)
	f.LocalSet(e)
	f.Loop(wasm.Void)
	f.LocalGet(e)
	f.Mem(wasm.I32Load, r.pend)
	f.LocalSet(n)
	f.Loop(wasm.Void)
	for range 2 {
		g.deepLevel(p, r.rec, n, x, nan)
	}
	// not at a leaf yet: a leaf's left child is itself
	f.LocalGet(n)
	f.Mem(wasm.I32Load, off+4)
	f.LocalGet(n)
	f.Op(wasm.I32Ne)
	f.BrIf(0)
	f.End()
	f.LocalGet(e)
	f.Mem(wasm.I32Load, r.pend+4)
	f.LocalGet(n)
	f.Mem(wasm.I32Load, off+8)
	f.Mem(wasm.F64Load, 0)
	f.Mem(wasm.F64Store, 0)
	f.LocalGet(e)
	f.I32Const(8)
	f.Op(wasm.I32Add)
	f.LocalTee(e)
	f.LocalGet(end)
	f.Op(wasm.I32LtU)
	f.BrIf(0)
	f.End()
	f.End()
}

func (g *gen) headLevels() int {
	if g.opts.HeadLevels != 0 {
		return g.opts.HeadLevels
	}
	return headLevels
}

func (g *gen) runGroup() int {
	if g.opts.RunGroup > 0 {
		return g.opts.RunGroup
	}
	return runGroup
}

// runBody walks u trees of a run from block tb on: idx = 2·idx + 1 +
// (x > thr), level by level across the trees, then adds their leaves.
func (g *gen) runBody(p *treesPlan, r *treeRun, u int, tb uint32, acc []uint32, x uint32, nan bool) {
	f := g.f
	if r.deep {
		g.deepRunBody(p, r, u, tb, acc, x, nan)
		return
	}
	xl, gt, ne := wasm.F32Load, wasm.F32Gt, wasm.F32Ne
	if !p.f32 {
		xl, gt, ne = wasm.F64Load, wasm.F64Gt, wasm.F64Ne
	}
	shift := int32(3)
	if r.rec == 16 {
		shift = 4
	}
	// a[i] is the address of tree i's current node record, relative to
	// its block: a = tb + i·stride + o, o the record's byte offset; c is
	// rec - tb, so that o' = 2·o + rec + rec·right becomes
	// a' = 2·a + c - i·stride + rec·right.
	a := make([]uint32, u)
	for i := range a {
		a[i] = f.Local(wasm.I32)
		defer f.Release(a[i])
	}
	c := f.Local(wasm.I32)
	defer f.Release(c)
	f.I32Const(int32(r.rec))
	f.LocalGet(tb)
	f.Op(wasm.I32Sub)
	f.LocalSet(c)
	for level := range r.depth {
		for i := range u {
			off := uint32(i) * r.stride
			node := func() {
				if level == 0 {
					f.LocalGet(tb)
				} else {
					f.LocalGet(a[i])
				}
			}
			node()
			f.Mem(wasm.I32Load, off+r.rec/2)
			f.Mem(xl, p.row)
			if nan {
				f.LocalTee(x)
			}
			node()
			f.Mem(xl, off)
			f.Op(gt)
			if nan {
				g.orNaN(x, ne, func() {
					// flags[idx], idx = o >> shift = (a - tb) >> shift
					f.LocalGet(tb)
					if level > 0 {
						f.LocalGet(a[i])
						f.LocalGet(tb)
						f.Op(wasm.I32Sub)
						f.I32Const(shift)
						f.Op(wasm.I32ShrU)
						f.Op(wasm.I32Add)
					}
					f.Mem(wasm.I32Load8U, off+r.flagsOff)
				})
			}
			f.I32Const(shift)
			f.Op(wasm.I32Shl)
			if level == 0 {
				// a' = tb + rec + rec·right
				f.LocalGet(tb)
				f.Op(wasm.I32Add)
				f.I32Const(int32(r.rec))
				f.Op(wasm.I32Add)
			} else {
				f.LocalGet(a[i])
				f.LocalGet(a[i])
				f.Op(wasm.I32Add)
				f.Op(wasm.I32Add)
				f.LocalGet(c)
				f.Op(wasm.I32Add)
			}
			f.LocalSet(a[i])
		}
	}
	first := int32(1<<r.depth - 1)
	// direct: a leaf's values are as many bytes as a node record, so leaf
	// n's values sit at a node-record offset (n - first)·rec from the
	// leaves: the walk's final address is the leaf's, minus a constant.
	direct := int(r.rec) == p.nVals*8
	var idx []uint32
	if !direct {
		o := a // the offsets, for the leaves
		for i := range o {
			f.LocalGet(a[i])
			f.LocalGet(tb)
			f.Op(wasm.I32Sub)
			f.LocalSet(o[i])
		}
		idx = make([]uint32, u)
		for i := range idx {
			idx[i] = f.Local(wasm.I32)
			defer f.Release(idx[i])
			f.LocalGet(o[i])
			f.I32Const(shift)
			f.Op(wasm.I32ShrU)
			f.LocalSet(idx[i])
		}
	}
	// A float32 sum of float32 leaves: one f32.add a tree (see leaves32).
	var acc32 []uint32
	if p.accum32 && r.leaves32 && !r.memAcc {
		acc32 = make([]uint32, p.nVals)
		for j := range acc32 {
			acc32[j] = f.Local(wasm.F32)
			defer f.Release(acc32[j])
			f.LocalGet(acc[j])
			f.Op(wasm.F32DemoteF64) // exact: the sum is a float32
			f.LocalSet(acc32[j])
		}
	}
	for i := range u {
		off := uint32(i) * r.stride
		leaf := func(j int) {
			if direct {
				f.LocalGet(a[i])
				f.Mem(wasm.F64Load, off+r.leavesOff-uint32(first)*r.rec+uint32(j*8))
				return
			}
			f.LocalGet(tb)
			f.LocalGet(idx[i])
			f.I32Const(first)
			f.Op(wasm.I32Sub)
			f.I32Const(int32(p.nVals * 8))
			f.Op(wasm.I32Mul)
			f.Op(wasm.I32Add)
			f.Mem(wasm.F64Load, off+r.leavesOff+uint32(j*8))
		}
		if r.memAcc {
			// *accAddr += leaf, accAddr from the block.
			a := f.Local(wasm.I32)
			f.LocalGet(tb)
			f.Mem(wasm.I32Load, off+r.accOff)
			f.LocalTee(a)
			f.LocalGet(a)
			f.Mem(wasm.F64Load, 0)
			leaf(0)
			f.Op(wasm.F64Add)
			if p.accum32 {
				f.Op(wasm.F32DemoteF64)
				f.Op(wasm.F64PromoteF32)
			}
			f.Mem(wasm.F64Store, 0)
			f.Release(a)
			continue
		}
		for j := range p.nVals {
			if acc32 != nil {
				f.LocalGet(acc32[j])
				leaf(j)
				f.Op(wasm.F32DemoteF64) // exact: a float32 leaf
				f.Op(wasm.F32Add)
				f.LocalSet(acc32[j])
				continue
			}
			f.LocalGet(acc[j])
			leaf(j)
			f.Op(wasm.F64Add)
			if p.accum32 {
				f.Op(wasm.F32DemoteF64)
				f.Op(wasm.F64PromoteF32)
			}
			f.LocalSet(acc[j])
		}
	}
	for j := range acc32 {
		f.LocalGet(acc32[j])
		f.Op(wasm.F64PromoteF32)
		f.LocalSet(acc[j])
	}
}

// deepRunBody walks u node-array trees of a deep run (table entries
// from tb on) to the run's depth, level by level across the trees, then
// adds their leaves.
func (g *gen) deepRunBody(p *treesPlan, r *treeRun, u int, tb uint32, acc []uint32, x uint32, nan bool) {
	f := g.f
	off := p.xsize // a node record's fields after its threshold
	n := make([]uint32, u)
	for i := range n {
		n[i] = f.Local(wasm.I32)
		defer f.Release(n[i])
		f.LocalGet(tb)
		f.Mem(wasm.I32Load, uint32(i)*r.stride)
		f.LocalSet(n[i])
	}
	// Two levels at a time, as many pairs as the group's deepest tree
	// needs (a tree at a leaf stays there).
	lv := f.Local(wasm.I32)
	defer f.Release(lv)
	f.LocalGet(tb)
	f.Mem(wasm.I32Load, 8)
	f.LocalSet(lv)
	f.Loop(wasm.Void)
	for range 2 {
		for i := range u {
			g.deepLevel(p, r.rec, n[i], x, nan)
		}
	}
	f.LocalGet(lv)
	f.I32Const(1)
	f.Op(wasm.I32Sub)
	f.LocalTee(lv)
	f.BrIf(0)
	f.End()
	for i := range u {
		if r.sorted {
			if r.head {
				// pend[cnt] = (node, buf address); cnt += not at a
				// leaf (a leaf's left child is itself).
				pa := f.Local(wasm.I32)
				f.LocalGet(r.cnt)
				f.I32Const(3)
				f.Op(wasm.I32Shl)
				f.LocalTee(pa)
				f.LocalGet(n[i])
				f.Mem(wasm.I32Store, r.pend)
				f.LocalGet(pa)
				f.LocalGet(tb)
				f.Mem(wasm.I32Load, uint32(i)*r.stride+4)
				f.Mem(wasm.I32Store, r.pend+4)
				f.Release(pa)
				f.LocalGet(r.cnt)
				f.LocalGet(n[i])
				f.Mem(wasm.I32Load, off+4)
				f.LocalGet(n[i])
				f.Op(wasm.I32Ne)
				f.Op(wasm.I32Add)
				f.LocalSet(r.cnt)
			}
			// buf[tree] = leaf. In a head run a tree not at a leaf
			// stores the value at address 0 (an internal node's values
			// field is 0 or the NaN flag, masked off here), which
			// finishPending overwrites.
			f.LocalGet(tb)
			f.Mem(wasm.I32Load, uint32(i)*r.stride+4)
			f.LocalGet(n[i])
			f.Mem(wasm.I32Load, off+8)
			if r.head {
				f.I32Const(0x7fffffff)
				f.Op(wasm.I32And)
			}
			f.Mem(wasm.F64Load, 0)
			f.Mem(wasm.F64Store, 0)
			continue
		}
		if r.memAcc {
			a := f.Local(wasm.I32)
			f.LocalGet(tb)
			f.Mem(wasm.I32Load, uint32(i)*r.stride+4)
			f.LocalTee(a)
			f.LocalGet(a)
			f.Mem(wasm.F64Load, 0)
			f.LocalGet(n[i])
			f.Mem(wasm.I32Load, off+8)
			f.Mem(wasm.F64Load, 0)
			f.Op(wasm.F64Add)
			if p.accum32 {
				f.Op(wasm.F32DemoteF64)
				f.Op(wasm.F64PromoteF32)
			}
			f.Mem(wasm.F64Store, 0)
			f.Release(a)
			continue
		}
		for j := range p.nVals {
			f.LocalGet(acc[j])
			f.LocalGet(n[i])
			f.Mem(wasm.I32Load, off+8)
			f.Mem(wasm.F64Load, uint32(j*8))
			f.Op(wasm.F64Add)
			if p.accum32 {
				f.Op(wasm.F32DemoteF64)
				f.Op(wasm.F64PromoteF32)
			}
			f.LocalSet(acc[j])
		}
	}
}

// thrBits returns a threshold as stored: float32 rounded down (so that
// x32 > thr32 exactly when float64(x32) > thr), or float64.
func (p *treesPlan) putThr(b []byte, thr float64) {
	if p.f32 {
		binary.LittleEndian.PutUint32(b, math.Float32bits(f32Below(thr)))
	} else {
		binary.LittleEndian.PutUint64(b, math.Float64bits(thr))
	}
}

// layoutComplete lays a tree out as a complete tree of its depth.
func (g *gen) layoutComplete(t *ir.Tree, tp *treePlan, p *treesPlan) {
	d := tp.depth
	nInternal := 1<<d - 1
	tp.rec = 8 // thr f32 + featoff u32
	if !p.f32 {
		tp.rec = 16 // thr f64 + featoff u32 + pad
	}
	tp.nodes = g.alloc(nInternal*int(tp.rec), 8)
	tp.flags = g.alloc(nInternal, 1)
	tp.leaves = g.alloc((1<<d)*p.nVals*8, 8)
	g.fillComplete(t, tp, p)
}

// fillComplete writes a complete tree's nodes, flags and leaves at the
// plan's addresses.
func (g *gen) fillComplete(t *ir.Tree, tp *treePlan, p *treesPlan) {
	d := tp.depth
	nInternal := 1<<d - 1
	var place func(orig int32, ci, level int)
	place = func(orig int32, ci, level int) {
		if level == d || t.Feature[orig] < 0 {
			// A leaf (maybe above the bottom): every complete leaf under ci
			// gets its values.
			first := ci
			for l := level; l < d; l++ {
				first = 2*first + 1
			}
			span := 1 << (d - level)
			vals := t.Value[int(orig)*p.nVals : (int(orig)+1)*p.nVals]
			for j := range span {
				leaf := first - nInternal + j
				for k, v := range vals {
					binary.LittleEndian.PutUint64(g.mem(tp.leaves+uint32((leaf*p.nVals+k)*8)), math.Float64bits(v))
				}
			}
			return
		}
		rec := g.mem(tp.nodes + uint32(ci)*tp.rec)
		p.putThr(rec, t.Threshold[orig])
		binary.LittleEndian.PutUint32(rec[tp.rec/2:], uint32(t.Feature[orig])*p.xsize)
		if !t.MissingLeft[orig] {
			g.mem(tp.flags)[ci] = 1
		}
		place(t.Left[orig], 2*ci+1, level+1)
		place(t.Right[orig], 2*ci+2, level+1)
	}
	place(0, 0, 0)
}

// layoutDeep lays a tree out as node records with adjacent children:
// thr, featoff, left (the address of the left child; the right one
// follows) and values: the address of a leaf's values, or for an
// internal node where NaN goes right, 1<<31.
func (g *gen) layoutDeep(t *ir.Tree, tp *treePlan, p *treesPlan) {
	tp.rec = 16
	if !p.f32 {
		tp.rec = 24
	}
	n := len(t.Feature)
	// Breadth-first order with siblings adjacent.
	order := make([]int32, 0, n)
	pos := make([]int32, n)
	order = append(order, 0)
	for i := 0; i < len(order); i++ {
		o := order[i]
		if t.Feature[o] >= 0 {
			pos[t.Left[o]] = int32(len(order))
			order = append(order, t.Left[o])
			pos[t.Right[o]] = int32(len(order))
			order = append(order, t.Right[o])
		}
	}
	tp.nodes = g.alloc(len(order)*int(tp.rec), 8)
	tp.leaves = g.alloc(len(order)*p.nVals*8, 8) // values by position (internal ones unused)
	tp.root = tp.nodes
	addr := func(i int32) uint32 { return tp.nodes + uint32(i)*tp.rec }
	off := p.xsize // a node record's fields after its threshold
	for i, o := range order {
		rec := g.mem(addr(int32(i)))
		if t.Feature[o] < 0 {
			p.putThr(rec, math.Inf(1)) // never right: stays
			binary.LittleEndian.PutUint32(rec[off:], 0)
			binary.LittleEndian.PutUint32(rec[off+4:], addr(int32(i)))
			va := tp.leaves + uint32(i*p.nVals*8)
			binary.LittleEndian.PutUint32(rec[off+8:], va)
			for k, v := range t.Value[int(o)*p.nVals : (int(o)+1)*p.nVals] {
				binary.LittleEndian.PutUint64(g.mem(va+uint32(k*8)), math.Float64bits(v))
			}
			continue
		}
		p.putThr(rec, t.Threshold[o])
		binary.LittleEndian.PutUint32(rec[off:], uint32(t.Feature[o])*p.xsize)
		binary.LittleEndian.PutUint32(rec[off+4:], addr(pos[t.Left[o]]))
		// An internal node's values field holds its NaN-goes-right flag
		// in the top bit (a leaf's holds an address, below 2^31).
		if !t.MissingLeft[o] {
			binary.LittleEndian.PutUint32(rec[off+8:], 1<<31)
		}
	}
}

// trees emits a Trees step for the current row.
func (g *gen) trees(s *ir.Trees, p *treesPlan) error {
	f := g.f
	xt := wasm.F32Store
	if !p.f32 {
		xt = wasm.F64Store
	}
	// Copy the inputs to the row buffer, noting NaN.
	nan := f.Local(wasm.I32)
	defer f.Release(nan)
	for j, in := range s.In {
		f.I32Const(0)
		f.LocalGet(g.slot[in])
		if p.f32 {
			f.Op(wasm.F32DemoteF64)
		}
		f.Mem(xt, p.row+uint32(j)*p.xsize)
		f.LocalGet(g.slot[in])
		f.LocalGet(g.slot[in])
		f.Op(wasm.F64Ne)
		if j > 0 {
			f.LocalGet(nan)
			f.Op(wasm.I32Or)
		}
		f.LocalSet(nan)
	}
	acc := make([]uint32, p.nOut)
	for k := range acc {
		acc[k] = f.Local(wasm.F64)
		defer f.Release(acc[k])
		b := 0.0
		if s.Base != nil {
			b = s.Base[k]
		}
		f.F64Const(b)
		f.LocalSet(acc[k])
	}
	f.LocalGet(nan)
	f.If(wasm.Void)
	g.walkAll(p, acc, true)
	f.Else()
	g.walkAll(p, acc, false)
	f.End()
	count := make([]int, len(s.Out))
	for _, tp := range p.trees {
		if tp.group < 0 {
			for k := range count {
				count[k]++
			}
		} else {
			count[tp.group]++
		}
	}
	for k, o := range s.Out {
		f.LocalGet(acc[k])
		if s.Average && count[k] > 0 {
			f.F64Const(float64(count[k]))
			f.Op(wasm.F64Div)
		}
		f.LocalSet(g.slot[o])
	}
	return nil
}

// walkAll walks every tree, group trees at a time, and adds their leaf
// values to acc in tree order.
func (g *gen) walkAll(p *treesPlan, acc []uint32, nan bool) {
	f := g.f
	pos := make([]uint32, group) // per tree of the group: node index or address
	for i := range pos {
		pos[i] = f.Local(wasm.I32)
	}
	defer func() {
		for _, l := range pos {
			f.Release(l)
		}
	}()
	x := f.Local(p.xType())
	defer f.Release(x)
	for start := 0; start < len(p.trees); {
		if r := p.trees[start].run; r != nil {
			g.runWalk(p, r, acc, x, nan)
			start = r.end
			continue
		}
		end := start
		for end < len(p.trees) && end < start+group && p.trees[end].run == nil {
			end++
		}
		ts := p.trees[start:end]
		start = end
		maxd := 0
		for _, tp := range ts {
			if tp.complete {
				maxd = max(maxd, tp.depth)
			}
		}
		// Complete trees, level by level across the group.
		for level := range maxd {
			for i := range ts {
				if ts[i].complete && level < ts[i].depth {
					g.completeLevel(p, &ts[i], pos[i], level, x, nan)
				}
			}
		}
		for i := range ts {
			tp := &ts[i]
			switch {
			case tp.depth == 0:
				for j, v := range tp.consts {
					g.accAdd(p, tp, acc, j, func() { f.F64Const(v) })
				}
			case tp.branchy:
				g.branchyNode(p, tp, 0, acc, x, nan)
			case tp.complete:
				g.completeLeaf(p, tp, pos[i], acc)
			default:
				g.deepWalk(p, tp, pos[i], x, nan)
				g.deepLeaf(p, tp, pos[i], acc)
			}
		}
	}
}

func (p *treesPlan) xType() wasm.ValType {
	if p.f32 {
		return wasm.F32
	}
	return wasm.F64
}

// pushThrConst pushes a threshold as stored.
func (g *gen) pushThrConst(p *treesPlan, thr float64) {
	if p.f32 {
		g.f.F32Const(f32Below(thr))
	} else {
		g.f.F64Const(thr)
	}
}

// completeLevel emits one level of a complete tree's walk: idx =
// 2·idx + 1 + (x > thr), with NaN going right where the node says so (on
// the NaN path).
func (g *gen) completeLevel(p *treesPlan, tp *treePlan, idx uint32, level int, x uint32, nan bool) {
	f := g.f
	xl, gt, ne := wasm.F32Load, wasm.F32Gt, wasm.F32Ne
	if !p.f32 {
		xl, gt, ne = wasm.F64Load, wasm.F64Gt, wasm.F64Ne
	}
	if level == 0 {
		// The root's split is known: no node loads.
		f.I32Const(0)
		f.Mem(xl, p.row+tp.rootFeat)
		if nan {
			f.LocalTee(x)
		}
		g.pushThrConst(p, tp.rootThr)
		f.Op(gt)
		if nan {
			g.orNaN(x, ne, func() {
				f.I32Const(0)
				f.Mem(wasm.I32Load8U, tp.flags)
			})
		}
		f.I32Const(1)
		f.Op(wasm.I32Add)
		f.LocalSet(idx)
		return
	}
	shift := int32(3)
	if tp.rec == 16 {
		shift = 4
	}
	// x = row[featoff(idx)]
	f.LocalGet(idx)
	f.I32Const(shift)
	f.Op(wasm.I32Shl)
	f.Mem(wasm.I32Load, tp.nodes+tp.rec/2)
	f.Mem(xl, p.row)
	if nan {
		f.LocalTee(x)
	}
	f.LocalGet(idx)
	f.I32Const(shift)
	f.Op(wasm.I32Shl)
	f.Mem(xl, tp.nodes)
	f.Op(gt)
	if nan {
		g.orNaN(x, ne, func() {
			f.LocalGet(idx)
			f.Mem(wasm.I32Load8U, tp.flags)
		})
	}
	f.LocalGet(idx)
	f.LocalGet(idx)
	f.Op(wasm.I32Add)
	f.Op(wasm.I32Add)
	f.I32Const(1)
	f.Op(wasm.I32Add)
	f.LocalSet(idx)
}

// orNaN turns the go-right bit on the stack into go-right or (x is NaN
// and the node sends NaN right); flag pushes the node's 0/1 NaN-right
// flag.
func (g *gen) orNaN(x uint32, ne wasm.Op, flag func()) {
	f := g.f
	f.LocalGet(x)
	f.LocalGet(x)
	f.Op(ne)
	flag()
	f.Op(wasm.I32And)
	f.Op(wasm.I32Or)
}

// completeLeaf adds the leaf values the walk reached.
func (g *gen) completeLeaf(p *treesPlan, tp *treePlan, idx uint32, acc []uint32) {
	f := g.f
	first := int32(1<<tp.depth - 1)
	for j := range p.nVals {
		g.accAdd(p, tp, acc, j, func() {
			f.LocalGet(idx)
			f.I32Const(first)
			f.Op(wasm.I32Sub)
			f.I32Const(int32(p.nVals * 8))
			f.Op(wasm.I32Mul)
			f.Mem(wasm.F64Load, tp.leaves+uint32(j*8))
		})
	}
}

// accAdd adds the value push leaves on the stack (leaf value j of tree
// tp) to its output's accumulator, rounding to float32 when the ensemble
// sums in float32.
func (g *gen) accAdd(p *treesPlan, tp *treePlan, acc []uint32, j int, push func()) {
	f := g.f
	k := j
	if tp.group >= 0 {
		k = tp.group
	}
	f.LocalGet(acc[k])
	push()
	f.Op(wasm.F64Add)
	if p.accum32 {
		f.Op(wasm.F32DemoteF64)
		f.Op(wasm.F64PromoteF32)
	}
	f.LocalSet(acc[k])
}

// deepWalk walks a node-array tree to its depth: n = left(n) +
// rec·(x > thr); leaves point at themselves. Every 8 levels it leaves
// early when it is at a leaf.
func (g *gen) deepWalk(p *treesPlan, tp *treePlan, n uint32, x uint32, nan bool) {
	f := g.f
	off := p.xsize // a node record's fields after its threshold
	f.I32Const(int32(tp.root))
	f.LocalSet(n)
	f.Block(wasm.Void)
	for level := range tp.depth {
		if level > 0 && level%8 == 0 {
			f.LocalGet(n)
			f.Mem(wasm.I32Load, off+4)
			f.LocalGet(n)
			f.Op(wasm.I32Eq)
			f.BrIf(0)
		}
		g.deepLevel(p, tp.rec, n, x, nan)
	}
	f.End()
}

// deepLevel moves n one level down its tree: n = left(n) + rec·(x >
// thr), NaN going right where the values field's top bit says so.
func (g *gen) deepLevel(p *treesPlan, rec uint32, n uint32, x uint32, nan bool) {
	f := g.f
	xl, gt, ne := wasm.F32Load, wasm.F32Gt, wasm.F32Ne
	if !p.f32 {
		xl, gt, ne = wasm.F64Load, wasm.F64Gt, wasm.F64Ne
	}
	off := p.xsize // a node record's fields after its threshold
	// left first: wazero checks the bounds of the record's widest
	// access once, and the loads of featoff and thr below reuse it.
	l := f.Local(wasm.I32)
	defer f.Release(l)
	f.LocalGet(n)
	f.Mem(wasm.I32Load, off+4)
	f.LocalSet(l)
	// x = row[featoff]
	f.LocalGet(n)
	f.Mem(wasm.I32Load, off)
	f.Mem(xl, p.row)
	if nan {
		f.LocalTee(x)
	}
	f.LocalGet(n)
	f.Mem(xl, 0)
	f.Op(gt)
	if nan {
		g.orNaN(x, ne, func() {
			f.LocalGet(n)
			f.Mem(wasm.I32Load, off+8)
			f.I32Const(31)
			f.Op(wasm.I32ShrU)
		})
	}
	if rec&(rec-1) == 0 {
		f.I32Const(int32(bits.TrailingZeros32(rec)))
		f.Op(wasm.I32Shl)
	} else {
		f.I32Const(int32(rec))
		f.Op(wasm.I32Mul)
	}
	f.LocalGet(l)
	f.Op(wasm.I32Add)
	f.LocalSet(n)
}

// deepLeaf adds the values of the leaf n is at.
func (g *gen) deepLeaf(p *treesPlan, tp *treePlan, n uint32, acc []uint32) {
	f := g.f
	off := p.xsize // a node record's fields after its threshold
	for j := range p.nVals {
		g.accAdd(p, tp, acc, j, func() {
			f.LocalGet(n)
			f.Mem(wasm.I32Load, off+8)
			f.Mem(wasm.F64Load, uint32(j*8))
		})
	}
}

// layoutSets puts a branchy tree's category bitsets in memory.
func (g *gen) layoutSets(t *ir.Tree, tp *treePlan) {
	tp.sets = map[int32]uint32{}
	for i, k := range t.Kind {
		if k != ir.NodeCategorical || t.Feature[i] < 0 {
			continue
		}
		set := t.Sets[i]
		a := g.alloc(len(set)*4, 4)
		for w, bits := range set {
			binary.LittleEndian.PutUint32(g.mem(a+uint32(w*4)), bits)
		}
		tp.sets[int32(i)] = a
	}
}

// branchyNode emits node i of a branchy tree and everything under it as
// nested if/else code, leaf values as immediates.
func (g *gen) branchyNode(p *treesPlan, tp *treePlan, i int32, acc []uint32, x uint32, nan bool) {
	f := g.f
	t := tp.tree
	if t.Feature[i] < 0 {
		for j, v := range t.Value[int(i)*p.nVals : (int(i)+1)*p.nVals] {
			g.accAdd(p, tp, acc, j, func() { f.F64Const(v) })
		}
		return
	}
	xl, gt, ne, abs, le := wasm.F32Load, wasm.F32Gt, wasm.F32Ne, wasm.F32Abs, wasm.F32Le
	if !p.f32 {
		xl, gt, ne, abs, le = wasm.F64Load, wasm.F64Gt, wasm.F64Ne, wasm.F64Abs, wasm.F64Le
	}
	pushX := func() { f.LocalGet(x) }
	f.I32Const(0)
	f.Mem(xl, p.row+uint32(t.Feature[i])*p.xsize)
	f.LocalSet(x)
	missRight := int32(0)
	if !t.MissingLeft[i] {
		missRight = 1
	}
	// Push 1 to go right.
	switch t.NodeKind(int(i)) {
	case ir.NodeCategorical:
		g.inSetRight(p, tp, i, x, nan, missRight)
	case ir.NodeZeroMissing:
		// select(missRight, x > thr, missing)
		f.I32Const(missRight)
		pushX()
		g.pushThrConst(p, t.Threshold[i])
		f.Op(gt)
		pushX()
		f.Op(abs)
		g.pushConstX(p, ir.ZeroMissingEps)
		f.Op(le)
		if nan {
			pushX()
			pushX()
			f.Op(ne)
			f.Op(wasm.I32Or)
		}
		f.Op(wasm.Select)
	default:
		pushX()
		g.pushThrConst(p, t.Threshold[i])
		f.Op(gt)
		if nan && missRight == 1 {
			pushX()
			pushX()
			f.Op(ne)
			f.Op(wasm.I32Or)
		}
	}
	f.If(wasm.Void)
	g.branchyNode(p, tp, t.Right[i], acc, x, nan)
	f.Else()
	g.branchyNode(p, tp, t.Left[i], acc, x, nan)
	f.End()
}

// pushConstX pushes a constant in the row's type.
func (g *gen) pushConstX(p *treesPlan, v float64) {
	if p.f32 {
		g.f.F32Const(float32(v))
	} else {
		g.f.F64Const(v)
	}
}

// inSetRight pushes 1 when categorical node i sends x right: NaN takes
// the missing direction; a code c = trunc(x) inside the set's range goes
// right when (bit c is set) differs from catLeft; a code outside it is
// not in the set, or takes the missing direction (unkMiss).
func (g *gen) inSetRight(p *treesPlan, tp *treePlan, i int32, x uint32, nan bool, missRight int32) {
	f := g.f
	t := tp.tree
	words := len(t.Sets[i])
	gt, lt, trunc := wasm.F32Gt, wasm.F32Lt, wasm.I32TruncF32S
	if !p.f32 {
		gt, lt, trunc = wasm.F64Gt, wasm.F64Lt, wasm.I32TruncF64S
	}
	catLeft := int32(0)
	if p.catLeft {
		catLeft = 1
	}
	outside := catLeft // not in the set
	if p.unkMiss {
		outside = missRight
	}
	// in range: x > -1 && x < 32·words (false for NaN)
	f.LocalGet(x)
	g.pushConstX(p, -1)
	f.Op(gt)
	f.LocalGet(x)
	g.pushConstX(p, float64(32*words))
	f.Op(lt)
	f.Op(wasm.I32And)
	f.If(wasm.Result(wasm.I32))
	{
		// bit c of the set, xor catLeft
		c := f.Local(wasm.I32)
		defer f.Release(c)
		f.LocalGet(x)
		f.Op(trunc)
		f.LocalTee(c)
		f.I32Const(5)
		f.Op(wasm.I32ShrU)
		f.I32Const(2)
		f.Op(wasm.I32Shl)
		f.Mem(wasm.I32Load, tp.sets[i])
		f.LocalGet(c)
		f.Op(wasm.I32ShrU)
		f.I32Const(1)
		f.Op(wasm.I32And)
		f.I32Const(catLeft)
		f.Op(wasm.I32Xor)
	}
	f.Else()
	if nan {
		// NaN: the missing direction; else outside the range.
		f.I32Const(missRight)
		f.I32Const(outside)
		f.LocalGet(x)
		f.LocalGet(x)
		f.Op(neOp(p))
		f.Op(wasm.Select)
	} else {
		f.I32Const(outside)
	}
	f.End()
}

func neOp(p *treesPlan) wasm.Op {
	if p.f32 {
		return wasm.F32Ne
	}
	return wasm.F64Ne
}
