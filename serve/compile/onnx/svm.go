package onnx

import (
	"mlbox/serve/compile/ir"
)

// svmClassifier lowers SVMClassifier (skl2onnx's SVC and NuSVC) as
// onnxruntime computes it:
//   - the kernel of the row (rounded to float32) and each support vector
//     (svmKernel);
//   - for each pair of classes i < j, the decision value Σ coefficient ·
//     kernel (each product rounded to float32, summed in float64 over the
//     support vectors of i, then of j) + rho, rounded to float32;
//   - the label: the class with the most pairwise votes (a positive
//     decision votes for i), the first on a tie. It need not be the arg max
//     of the probabilities, so the module computes its index (LabelIndex);
//   - the scores: with prob_a and prob_b (probability=True), Platt's
//     sigmoid of each decision value coupled into class probabilities
//     (ir.Coupling); without them the decision values (two classes: the
//     value negated, then the value).
func (l *lowering) svmClassifier(n *Node) error {
	if l.m.Task != "" {
		return unsupported(n, "a second estimator in one graph")
	}
	v, err := l.row(n, 0)
	if err != nil {
		return err
	}
	if v.typ() != Float { // onnxruntime casts the input to float32
		v = &value{slots: l.round32(v.slots)}
	}
	labels := classLabels(n, "classlabels_ints")
	k := len(labels)
	if k < 2 || k > ir.MaxCouplingClasses {
		return unsupported(n, "%d classes (mlbox takes 2 to %d)", k, ir.MaxCouplingClasses)
	}
	var vpc []int64
	if a := n.Attr("vectors_per_class"); a != nil {
		vpc = a.Ints
	}
	if len(vpc) == 0 {
		return unsupported(n, "a linear SVM without support vectors")
	}
	if len(vpc) != k {
		return unsupported(n, "%d vector counts for %d classes", len(vpc), k)
	}
	start := make([]int, k+1)
	for c, m := range vpc {
		if m < 0 || m > int64(ir.MaxSlots) {
			return unsupported(n, "%d support vectors for class %d", m, c)
		}
		start[c+1] = start[c] + int(m)
		if start[c+1] > ir.MaxSlots {
			return unsupported(n, "more than %d support vectors", ir.MaxSlots)
		}
	}
	nsv, nf := start[k], len(v.slots)
	npairs := k * (k - 1) / 2
	sv, coef, rho := floats32(n.Attr("support_vectors")), floats32(n.Attr("coefficients")), floats32(n.Attr("rho"))
	pa, pb := floats32(n.Attr("prob_a")), floats32(n.Attr("prob_b"))
	switch {
	case nsv == 0 || len(sv) != nsv*nf:
		return unsupported(n, "%d support vector values for %d vectors of %d features", len(sv), nsv, nf)
	case len(coef) < (k-1)*nsv || len(rho) < npairs:
		return unsupported(n, "%d coefficients and %d rho for %d classes and %d support vectors", len(coef), len(rho), k, nsv)
	case len(pa) != len(pb) || len(pa) != 0 && len(pa) < npairs:
		return unsupported(n, "%d prob_a and %d prob_b for %d pairs of classes", len(pa), len(pb), npairs)
	}
	if (k+1)*nsv+30*npairs > ir.MaxSlots { // the products of each pair, the kernel, the coupling
		return unsupported(n, "%d support vectors of %d classes: too large to compile", nsv, k)
	}
	if a := n.Attr("post_transform"); a != nil && string(a.S) != "NONE" {
		return unsupported(n, "post_transform %s", a.S)
	}
	kern, err := l.svmKernel(n, v, sv, nsv)
	if err != nil {
		return err
	}
	// The decision value of each pair, and whether it is positive.
	dec, pos := make([]int, 0, npairs), make([]int, 0, npairs)
	for i := 0; i < k; i++ {
		for j := i + 1; j < k; j++ {
			var in []int
			var w []float64
			for m := start[i]; m < start[i+1]; m++ {
				in, w = append(in, kern[m]), append(w, coef[(j-1)*nsv+m])
			}
			for m := start[j]; m < start[j+1]; m++ {
				in, w = append(in, kern[m]), append(w, coef[i*nsv+m])
			}
			p := len(dec)
			var sum []int
			if len(in) == 0 { // two classes without support vectors: rho
				sum = l.constSlots(1, rho[p:p+1])
			} else {
				sum = l.m.Alloc(1)
				l.m.Add(&ir.Linear{In: in, Out: sum, W: w, B: rho[p : p+1], Prod32: true})
			}
			dec = append(dec, l.round32(sum)[0])
			pos = append(pos, l.m.Map(sum, []ir.Op{{Kind: ir.OpGreater, Vals: []float64{0}}})[0])
		}
	}
	// Votes: class c gets pair (c, j)'s positive and pair (i, c)'s other
	// decisions.
	votes := l.m.Votes(pos, k)

	var scores []int
	switch {
	case len(pa) > 0:
		scores = l.coupled(dec, pa, pb, k)
		l.m.HasProba = true
	case k == 2:
		scores = append(l.m.Map(dec, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}}), dec...)
	default:
		scores = dec
	}
	l.m.Task, l.m.Labels, l.m.PredictFn = ir.Classification, labels, ir.PredictLabel
	l.labelOf = votes
	l.output(n, 0, &value{slots: votes, label: true})
	l.output(n, 1, &value{slots: scores})
	return nil
}

// coupled turns the pairwise decision values into class probabilities:
// Platt's sigmoid 1 - logistic(value·A + B) of each pair, clipped to
// [1e-7, 1 - 1e-7], coupled (ir.Coupling), all in float32 as onnxruntime
// computes them.
func (l *lowering) coupled(dec []int, pa, pb []float64, k int) []int {
	r := make([]int, k*k)
	p := 0
	lo, hi := float64(float32(1e-7)), float64(float32(1)-float32(1e-7))
	for i := 0; i < k; i++ {
		for j := i + 1; j < k; j++ {
			val := l.m.Map(dec[p:p+1], []ir.Op{{Kind: ir.OpMul, Vals: []float64{pa[p]}}, {Kind: ir.OpRound32},
				{Kind: ir.OpAdd, Vals: []float64{pb[p]}}, {Kind: ir.OpRound32}})
			// logistic(val) = 1 / (1 + exp(-|val|)), then 1 - that for a
			// negative val, in float32.
			t := l.m.Map(val, []ir.Op{{Kind: ir.OpAbs}, {Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpExpf},
				{Kind: ir.OpAdd, Vals: []float64{1}}, {Kind: ir.OpRound32}})
			one := l.constSlots(1, []float64{1})
			inv := l.m.Alloc(1)
			l.m.Add(&ir.Binary{A: one, B: t, Out: inv, Kind: ir.OpDiv})
			inv = l.round32(inv)
			flip := l.m.Map(inv, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}, {Kind: ir.OpRound32}})
			neg := l.m.Map(val, []ir.Op{{Kind: ir.OpLess, Vals: []float64{0}}})
			logit := l.m.Alloc(1)
			l.m.Add(&ir.Select{Cond: neg, A: flip, B: inv, Out: logit})
			rij := l.m.Map(logit, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}, {Kind: ir.OpRound32},
				{Kind: ir.OpMax, Vals: []float64{lo}}, {Kind: ir.OpMin, Vals: []float64{hi}}})
			rji := l.m.Map(rij, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}, {Kind: ir.OpRound32}})
			r[i*k+j], r[j*k+i] = rij[0], rji[0]
			p++
		}
	}
	for i := 0; i < k; i++ {
		r[i*k+i] = r[1] // not read: any slot
	}
	out := l.m.Alloc(k)
	l.m.Add(&ir.Coupling{In: r, Out: out})
	return out
}
