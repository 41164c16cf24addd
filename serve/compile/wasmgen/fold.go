package wasmgen

import (
	"slices"

	"mlbox/serve/compile/ir"
)

// foldScales moves the trailing multiplications and divisions of an
// element-wise step into the dense layer that alone reads its outputs:
// w·(y/s) becomes (w/s)·y. A StandardScaler before a linear model then
// costs a subtraction per feature instead of a subtraction and a
// division, the slowest arithmetic operation. Each weight changes by an
// ulp or two and no sum is reordered, so no cancellation is introduced:
// the results stay within about 1e-15 relative of the exact ones. The
// model passed in is not modified; the returned steps replace its steps.
func foldScales(m *ir.Model) []ir.Step {
	steps := slices.Clone(m.Steps)
	readers := map[int]int{} // slot → how many times it is read (outputs count)
	writer := map[int]int{}  // slot → the step writing it
	for i, s := range steps {
		for _, r := range s.Reads() {
			readers[r]++
		}
		for _, w := range s.Writes() {
			writer[w] = i
		}
	}
	for _, o := range m.Out {
		readers[o]++
	}
	for li, s := range steps {
		lin, ok := s.(*ir.Linear)
		if !ok || lin.FMA32 || lin.Prod32 {
			continue
		}
		// The maps with trailing scales whose every output feeds this
		// layer, once.
		maps := map[int]*ir.Map{}
		for _, in := range lin.In {
			mi, ok := writer[in]
			if !ok {
				continue
			}
			mp, ok := steps[mi].(*ir.Map)
			if !ok || trailingScales(mp) == 0 {
				continue
			}
			feeds := true
			for _, o := range mp.Out {
				feeds = feeds && readers[o] == 1 && slices.Contains(lin.In, o)
			}
			if feeds {
				maps[mi] = mp
			}
		}
		if len(maps) == 0 {
			continue
		}
		n := len(lin.In)
		w := slices.Clone(lin.W)
		for j, in := range lin.In {
			mp, ok := maps[writer[in]]
			if !ok {
				continue
			}
			col := slices.Index(mp.Out, in)
			for k := range lin.Out {
				w[k*n+j] = scaleWeight(w[k*n+j], mp, col)
			}
		}
		for mi, mp := range maps {
			nm := *mp
			nm.Ops = mp.Ops[:len(mp.Ops)-trailingScales(mp)]
			steps[mi] = &nm
		}
		nl := *lin
		nl.W = w
		steps[li] = &nl
	}
	return steps
}

// trailingScales counts the multiplications and divisions that end a
// map's operations.
func trailingScales(mp *ir.Map) int {
	n := 0
	for k := len(mp.Ops) - 1; k >= 0 && (mp.Ops[k].Kind == ir.OpMul || mp.Ops[k].Kind == ir.OpDiv); k-- {
		n++
	}
	return n
}

// scaleWeight applies the trailing scales of column i to a weight.
func scaleWeight(w float64, mp *ir.Map, i int) float64 {
	for k := len(mp.Ops) - trailingScales(mp); k < len(mp.Ops); k++ {
		op := &mp.Ops[k]
		c := op.Vals[0]
		if len(op.Vals) > 1 {
			c = op.Vals[i]
		}
		if op.Kind == ir.OpMul {
			w *= c
		} else {
			w /= c
		}
	}
	return w
}

// fuseMaps merges an element-wise step into the one that alone reads all
// its outputs, column for column (a float32 rounding of the inputs and
// the scaler after it): one pass over each column, with no slot between
// the two, and a longer run of operations for mapStep to keep in float32.
// The operations apply in the same order to the same values, so the
// results are identical.
func fuseMaps(steps []ir.Step, out []int) []ir.Step {
	readers := map[int]int{}
	writer := map[int]int{}
	for i, s := range steps {
		for _, r := range s.Reads() {
			readers[r]++
		}
		for _, w := range s.Writes() {
			writer[w] = i
		}
	}
	for _, o := range out {
		readers[o]++
	}
	steps = slices.Clone(steps)
	for bi, s := range steps {
		b, ok := s.(*ir.Map)
		if !ok || len(b.In) == 0 {
			continue
		}
		ai, ok := writer[b.In[0]]
		if !ok || ai >= bi {
			continue
		}
		a, ok := steps[ai].(*ir.Map)
		if !ok || !slices.Equal(a.Out, b.In) {
			continue
		}
		alone := true
		for _, o := range a.Out {
			alone = alone && readers[o] == 1
		}
		if !alone {
			continue
		}
		steps[bi] = &ir.Map{In: a.In, Out: b.Out, Ops: append(slices.Clone(a.Ops), b.Ops...)}
		steps[ai] = nil
	}
	return slices.DeleteFunc(steps, func(s ir.Step) bool { return s == nil })
}
