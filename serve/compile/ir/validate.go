package ir

import (
	"errors"
	"fmt"
	"math"
)

// Limits on a model description. They keep a crafted model file from
// making the code generator or the module exhaust memory.
const (
	MaxInputs     = 1 << 16
	MaxSlots      = 1 << 22
	MaxOutputs    = 1 << 16
	MaxCategories = 1 << 20
	MaxTreeNodes  = 1 << 26 // over all trees of a model
	// MaxSetWords bounds a categorical node's bitset (codes below 2^20).
	MaxSetWords = 1 << 15
)

// Alloc returns n new slots.
func (m *Model) Alloc(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = m.NSlots + i
	}
	m.NSlots += n
	return out
}

// Add appends a step.
func (m *Model) Add(s Step) { m.Steps = append(m.Steps, s) }

// Map appends a Map of ops from in to new slots, and returns them.
func (m *Model) Map(in []int, ops []Op) []int {
	out := m.Alloc(len(in))
	m.Add(&Map{In: in, Out: out, Ops: ops})
	return out
}

// Votes adds libsvm's one-against-one vote count of k classes: for each
// pair (i, j), i < j in order, won says whether i won (1) or j (0); Out[c]
// is the number of pairs class c won.
func (m *Model) Votes(won []int, k int) []int {
	npairs := len(won)
	W, B := make([]float64, k*npairs), make([]float64, k)
	p := 0
	for i := 0; i < k; i++ {
		for j := i + 1; j < k; j++ {
			W[i*npairs+p], W[j*npairs+p] = 1, -1
			B[j]++
			p++
		}
	}
	votes := m.Alloc(k)
	m.Add(&Linear{In: won, Out: votes, W: W, B: B})
	return votes
}

// Validate checks that the description is well formed: every slot in
// range, written once before it is read, inputs never written, trees that
// end (children after their parent), constants of the right length. The
// code generator relies on it: a model that passes cannot make the
// generated module read or write outside its buffers.
func (m *Model) Validate() error {
	ni := len(m.Inputs)
	if ni < 1 || ni > MaxInputs {
		return fmt.Errorf("model has %d inputs, want 1 to %d", ni, MaxInputs)
	}
	if m.NSlots < ni || m.NSlots > MaxSlots {
		return fmt.Errorf("model has %d slots for %d inputs (at most %d)", m.NSlots, ni, MaxSlots)
	}
	if len(m.Out) < 1 || len(m.Out) > MaxOutputs {
		return fmt.Errorf("model has %d outputs", len(m.Out))
	}
	switch m.Task {
	case Classification:
		if len(m.Labels) != len(m.Scores()) {
			return fmt.Errorf("classifier has %d labels for %d outputs", len(m.Labels), len(m.Scores()))
		}
	case Regression:
		if m.OutputNames != nil && len(m.OutputNames) != len(m.Out) {
			return fmt.Errorf("regressor has %d output names for %d outputs", len(m.OutputNames), len(m.Out))
		}
	default:
		return fmt.Errorf("unknown task %q", m.Task)
	}
	if n := m.Named; n != nil {
		if n.Scores == "" || (n.Label != "" && m.Task != Classification) || (n.ZipMap && m.Task != Classification) || (n.Flat && (n.ZipMap || len(m.Out) != 1)) ||
			(n.LabelIndex && (n.Label == "" || n.Flat || len(m.Out) < 2)) {
			return fmt.Errorf("named outputs %+v do not fit a %s", *n, m.Task)
		}
	}
	switch m.PredictFn {
	case PredictLabel:
	case PredictProba, PredictLogProba:
		if m.Task != Classification || !m.HasProba {
			return fmt.Errorf("predict_fn %s needs a classifier with probabilities", m.PredictFn)
		}
	default:
		return fmt.Errorf("predict_fn %q is not supported", m.PredictFn)
	}
	names := map[string]bool{}
	for i, in := range m.Inputs {
		if names[in.Name] {
			return fmt.Errorf("input %d repeats the name %q", i, in.Name)
		}
		names[in.Name] = true
		if len(in.Categories) > MaxCategories {
			return fmt.Errorf("input %q has %d categories", in.Name, len(in.Categories))
		}
	}
	written := make([]bool, m.NSlots)
	for i := range ni {
		written[i] = true
	}
	nodes := 0
	for si, s := range m.Steps {
		if err := checkStep(s, &nodes); err != nil {
			return fmt.Errorf("step %d (%T): %w", si, s, err)
		}
		for _, r := range s.Reads() {
			if r < 0 || r >= m.NSlots || !written[r] {
				return fmt.Errorf("step %d (%T) reads slot %d before it is written", si, s, r)
			}
		}
		for _, w := range s.Writes() {
			if w < 0 || w >= m.NSlots {
				return fmt.Errorf("step %d (%T) writes slot %d outside %d slots", si, s, w, m.NSlots)
			}
			if written[w] {
				return fmt.Errorf("step %d (%T) writes slot %d a second time", si, s, w)
			}
			written[w] = true
		}
	}
	for _, o := range m.Out {
		if o < 0 || o >= m.NSlots || !written[o] {
			return fmt.Errorf("output slot %d is never written", o)
		}
	}
	return nil
}

func checkStep(s Step, nodes *int) error {
	switch s := s.(type) {
	case *Map:
		if len(s.In) != len(s.Out) {
			return errors.New("in and out differ in length")
		}
		for _, op := range s.Ops {
			if op.Kind < OpAdd || op.Kind > opLast {
				return fmt.Errorf("unknown op %d", op.Kind)
			}
			if op.Kind.HasVals() && len(op.Vals) != 1 && len(op.Vals) != len(s.In) {
				return fmt.Errorf("%s has %d constants for %d columns", op.Kind, len(op.Vals), len(s.In))
			}
		}
	case *Select:
		if len(s.A) != len(s.Out) || len(s.B) != len(s.Out) || len(s.Cond) != len(s.Out) {
			return errors.New("cond, a, b and out differ in length")
		}
	case *Neighbors:
		if err := s.validate(); err != nil {
			return err
		}
	case *Coupling:
		if k := len(s.Out); k < 2 || k > MaxCouplingClasses || len(s.In) != k*k {
			return fmt.Errorf("coupling of %d classes from %d values", k, len(s.In))
		}
	case *ArgMax:
		if len(s.In) == 0 {
			return errors.New("arg max of nothing")
		}
	case *RBF:
		if len(s.In) == 0 || len(s.Out) == 0 || len(s.C) != len(s.In)*len(s.Out) {
			return fmt.Errorf("%d centres for %d×%d", len(s.C), len(s.Out), len(s.In))
		}
	case *Binary:
		if len(s.A) != len(s.Out) || len(s.B) != len(s.Out) {
			return errors.New("a, b and out differ in length")
		}
		if !BinaryKind(s.Kind) {
			return fmt.Errorf("binary %s", s.Kind)
		}
	case *Linear:
		if len(s.W) != len(s.In)*len(s.Out) {
			return fmt.Errorf("%d weights for %d×%d", len(s.W), len(s.Out), len(s.In))
		}
		if s.B != nil && len(s.B) != len(s.Out) {
			return fmt.Errorf("%d biases for %d outputs", len(s.B), len(s.Out))
		}
		if s.FMA32 && s.Prod32 {
			return errors.New("FMA32 and Prod32 together")
		}
	case *Softmax:
		if len(s.In) != len(s.Out) || len(s.In) == 0 {
			return errors.New("in and out differ in length")
		}
	case *Normalize:
		if len(s.In) != len(s.Out) || len(s.In) == 0 {
			return errors.New("in and out differ in length")
		}
		if s.Zero > ZeroKeep {
			return fmt.Errorf("zero-sum policy %d", s.Zero)
		}
		if s.Norm > normLast {
			return fmt.Errorf("norm %d", s.Norm)
		}
	case *OneHot:
		if len(s.Cols) != len(s.Cats) || len(s.Cats) > MaxCategories {
			return errors.New("one column index per category needed")
		}
		for _, c := range s.Cols {
			if c < -1 || c >= len(s.Out) {
				return fmt.Errorf("category column %d outside %d outputs", c, len(s.Out))
			}
		}
		if s.Unknown == UnknownColumn && (s.UnknownCol < 0 || s.UnknownCol >= len(s.Out)) {
			return fmt.Errorf("unknown column %d outside %d outputs", s.UnknownCol, len(s.Out))
		}
		if s.Unknown > UnknownColumn {
			return fmt.Errorf("unknown policy %d", s.Unknown)
		}
	case *Trees:
		if len(s.Trees) == 0 {
			return errors.New("no trees")
		}
		if s.Base != nil && len(s.Base) != len(s.Out) {
			return fmt.Errorf("%d base values for %d outputs", len(s.Base), len(s.Out))
		}
		if s.Groups != nil && len(s.Groups) != len(s.Trees) {
			return fmt.Errorf("%d groups for %d trees", len(s.Groups), len(s.Trees))
		}
		for _, g := range s.Groups {
			if g < 0 || int(g) >= len(s.Out) {
				return fmt.Errorf("tree group %d outside %d outputs", g, len(s.Out))
			}
		}
		if s.Accum32 {
			for _, b := range s.Base {
				if float64(float32(b)) != b && !math.IsNaN(b) {
					return fmt.Errorf("base value %v is not a float32", b)
				}
			}
		}
		for ti := range s.Trees {
			if err := s.Trees[ti].check(len(s.In), s.NVals()); err != nil {
				return fmt.Errorf("tree %d: %w", ti, err)
			}
			*nodes += len(s.Trees[ti].Feature)
			if *nodes > MaxTreeNodes {
				return fmt.Errorf("more than %d tree nodes", MaxTreeNodes)
			}
		}
	default:
		return fmt.Errorf("unknown step type %T", s)
	}
	return nil
}

// check validates one tree: arrays of one length, children after their
// parent and inside the tree (so every walk ends), features in range.
func (t *Tree) check(nf, nout int) error {
	n := len(t.Feature)
	if n == 0 || n > MaxTreeNodes {
		return fmt.Errorf("%d nodes", n)
	}
	if len(t.Threshold) != n || len(t.Left) != n || len(t.Right) != n || len(t.MissingLeft) != n {
		return errors.New("node arrays differ in length")
	}
	if len(t.Value) != n*nout {
		return fmt.Errorf("%d leaf values for %d nodes × %d outputs", len(t.Value), n, nout)
	}
	parents := make([]uint8, n)
	for i := range n {
		f := t.Feature[i]
		if f < 0 {
			continue
		}
		if int(f) >= nf {
			return fmt.Errorf("node %d splits on feature %d of %d", i, f, nf)
		}
		l, r := t.Left[i], t.Right[i]
		if l <= int32(i) || r <= int32(i) || int(l) >= n || int(r) >= n {
			return fmt.Errorf("node %d has children %d and %d (must follow it, inside %d nodes)", i, l, r, n)
		}
		if parents[l]++; parents[l] > 1 || l == r {
			return fmt.Errorf("node %d is the child of two nodes", l)
		}
		if parents[r]++; parents[r] > 1 {
			return fmt.Errorf("node %d is the child of two nodes", r)
		}
		if math.IsNaN(t.Threshold[i]) {
			return fmt.Errorf("node %d has a NaN threshold", i)
		}
	}
	if t.Kind != nil && len(t.Kind) != n {
		return errors.New("node kinds differ in length")
	}
	if t.Sets != nil && len(t.Sets) != n {
		return errors.New("category sets differ in length")
	}
	words := 0
	for i, k := range t.Kind {
		switch k {
		case NodeNumeric, NodeZeroMissing:
		case NodeCategorical:
			if t.Sets == nil || len(t.Sets[i]) == 0 || len(t.Sets[i]) > MaxSetWords {
				return fmt.Errorf("categorical node %d has no set or one of more than %d words", i, MaxSetWords)
			}
			if words += len(t.Sets[i]); words > MaxTreeNodes {
				return errors.New("category sets too large")
			}
		default:
			return fmt.Errorf("node %d has unknown kind %d", i, k)
		}
	}
	return nil
}

// Depth returns the tree's depth (edges on its longest root-to-leaf
// path). Validate must have passed.
func (t *Tree) Depth() int {
	depth := make([]int, len(t.Feature))
	maxd := 0
	for i := range t.Feature {
		if t.Feature[i] < 0 {
			maxd = max(maxd, depth[i])
			continue
		}
		depth[t.Left[i]] = depth[i] + 1
		depth[t.Right[i]] = depth[i] + 1
	}
	return maxd
}

// Prune removes the steps whose outputs nothing reads (the probabilities
// of a model served for its labels, say). A one-hot encoder that refuses
// unknown values is kept: refusing is part of what the model does.
func (m *Model) Prune() {
	live := make([]bool, m.NSlots)
	for _, o := range m.Out {
		if o >= 0 && o < len(live) {
			live[o] = true
		}
	}
	keep := make([]bool, len(m.Steps))
	for i := len(m.Steps) - 1; i >= 0; i-- {
		s := m.Steps[i]
		used := false
		if oh, ok := s.(*OneHot); ok && oh.Unknown == UnknownError {
			used = true
		}
		for _, w := range s.Writes() {
			used = used || w >= 0 && w < len(live) && live[w]
		}
		if !used {
			continue
		}
		keep[i] = true
		for _, r := range s.Reads() {
			if r >= 0 && r < len(live) {
				live[r] = true
			}
		}
	}
	steps := m.Steps[:0]
	for i, s := range m.Steps {
		if keep[i] {
			steps = append(steps, s)
		}
	}
	m.Steps = steps
}
