package sklearn

import (
	"math"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// Kernel SVMs (SVC, NuSVC, SVR, NuSVR, OneClassSVM) as libsvm predicts
// with them, in float64: the kernel between the row and each support
// vector, then per pair of classes the sum of the dual coefficients times
// the kernel values in libsvm's order, minus rho (scikit-learn keeps
// -rho as _intercept_; _dual_coef_ and _intercept_ are libsvm's own, not
// the sign-flipped public attributes of a binary classifier).

// svmParts are a fitted libsvm model's arrays.
type svmParts struct {
	name   string
	kern   []int     // the kernel value of each support vector
	nsv    int       // support vectors
	dual   []float64 // _dual_coef_, rows × nsv
	rows   int
	icpt   []float64 // _intercept_
	counts []int     // _n_support
}

// svmModel reads the support vectors, coefficients and kernel of o and
// computes the kernel values.
func (b *builder) svmModel(o *pyobj.Object, cols []col) (*svmParts, error) {
	name := shortName(o)
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	if sparse, err := optBool(o, "_sparse", false); err != nil {
		return nil, err
	} else if sparse {
		return nil, ir.Unsupportedf("%s fitted on sparse data", name)
	}
	sv, nsv, nf, err := matrix(o, "support_vectors_")
	if err != nil {
		return nil, err
	}
	if nsv == 0 || nf != len(cols) {
		return nil, ir.Invalidf("%s has %d support vectors of %d features for %d inputs", name, nsv, nf, len(cols))
	}
	dual, rows, dn, err := matrix(o, "_dual_coef_")
	if err != nil {
		return nil, err
	}
	if dn != nsv {
		return nil, ir.Invalidf("%s._dual_coef_ has %d columns for %d support vectors", name, dn, nsv)
	}
	icpt, err := vector(o, "_intercept_", -1)
	if err != nil {
		return nil, err
	}
	ns, err := vector(o, "_n_support", -1)
	if err != nil {
		return nil, err
	}
	counts := make([]int, len(ns))
	for i, c := range ns {
		if c < 0 || c > float64(nsv) || c != math.Trunc(c) {
			return nil, ir.Invalidf("%s._n_support[%d] is %v", name, i, c)
		}
		counts[i] = int(c)
	}
	if !allFinite(sv, dual, icpt) {
		return nil, ir.Invalidf("%s holds a non-finite support vector, coefficient or intercept", name)
	}
	if (rows+2)*nsv > ir.MaxSlots/4 {
		return nil, ir.Unsupportedf("%s with %d support vectors: too large to compile", name, nsv)
	}
	kern, err := b.svmKernel(o, name, slots(cols), sv, nsv)
	if err != nil {
		return nil, err
	}
	return &svmParts{name: name, kern: kern, nsv: nsv, dual: dual, rows: rows, icpt: icpt, counts: counts}, nil
}

// svmKernel computes libsvm's k_function between the row x and each of
// the nsv support vectors sv: linear x·v, poly (γ·x·v + c₀)^degree by
// libsvm's powi, rbf exp(-γ·Σ(x - v)²), sigmoid tanh(γ·x·v + c₀).
func (b *builder) svmKernel(o *pyobj.Object, name string, x []int, sv []float64, nsv int) ([]int, error) {
	kernel, err := optStr(o, "kernel")
	if err != nil {
		return nil, ir.Unsupportedf("%s with a callable kernel", name)
	}
	num := func(attrName string) (float64, error) { return finiteNumber(o, attrName) }
	m := b.m
	dot := func() []int {
		out := m.Alloc(nsv)
		m.Add(&ir.Linear{In: x, Out: out, W: sv})
		return out
	}
	switch kernel {
	case "linear":
		return dot(), nil
	case "rbf", "poly", "sigmoid":
	default:
		return nil, ir.Unsupportedf("%s(kernel=%q)", name, kernel)
	}
	gamma, err := num("_gamma")
	if err != nil {
		return nil, err
	}
	if kernel == "rbf" {
		out := m.Alloc(nsv)
		m.Add(&ir.RBF{In: x, Out: out, C: sv, Gamma: gamma, F64: true})
		return out, nil
	}
	coef0, err := num("coef0")
	if err != nil {
		return nil, err
	}
	base := m.Map(dot(), []ir.Op{{Kind: ir.OpMul, Vals: []float64{gamma}}, {Kind: ir.OpAdd, Vals: []float64{coef0}}})
	if kernel == "sigmoid" {
		return m.Map(base, []ir.Op{{Kind: ir.OpTanh}}), nil
	}
	degree, err := num("degree")
	if err != nil {
		return nil, err
	}
	if degree < 0 || degree > 1<<16 || degree != math.Trunc(degree) {
		return nil, ir.Unsupportedf("%s(kernel=\"poly\", degree=%v)", name, degree)
	}
	// powi: tmp = base, ret = 1; per bit of the degree from the lowest,
	// ret *= tmp when it is set, then tmp *= tmp.
	mul := func(a, c []int) []int {
		out := m.Alloc(len(a))
		m.Add(&ir.Binary{A: a, B: c, Out: out, Kind: ir.OpMul})
		return out
	}
	tmp, ret := base, []int(nil)
	for t := int(degree); t > 0; t /= 2 {
		if t%2 == 1 {
			if ret == nil {
				ret = tmp // 1·tmp
			} else {
				ret = mul(ret, tmp)
			}
		}
		if t > 1 {
			tmp = mul(tmp, tmp)
		}
	}
	if ret == nil { // degree 0
		ret = m.Map(base, []ir.Op{{Kind: ir.OpSet, Vals: []float64{1}}})
	}
	return ret, nil
}

// svc maps SVC and NuSVC: libsvm's one-against-one votes (the first class
// with the most votes is predict's label) and, fitted with
// probability=True, predict_proba: Platt's sigmoid of each pair's
// decision value, clipped to [1e-7, 1-1e-7], coupled into class
// probabilities (ir.Coupling in float64).
func (b *builder) svc(o *pyobj.Object, cols []col) (*head, error) {
	lab, err := labels(o)
	if err != nil {
		return nil, err
	}
	k := len(lab)
	if k > ir.MaxCouplingClasses {
		return nil, ir.Unsupportedf("%s with %d classes (mlbox takes up to %d)", shortName(o), k, ir.MaxCouplingClasses)
	}
	if ties, err := optBool(o, "break_ties", false); err != nil {
		return nil, err
	} else if shape, _ := optStr(o, "decision_function_shape"); ties && shape == "ovr" && k > 2 {
		return nil, ir.Unsupportedf("%s(break_ties=True)", shortName(o))
	}
	p, err := b.svmModel(o, cols)
	if err != nil {
		return nil, err
	}
	npairs := k * (k - 1) / 2
	if len(p.counts) != k || p.rows != k-1 || len(p.icpt) != npairs {
		return nil, ir.Invalidf("%s: %d support counts, %d coefficient rows and %d intercepts for %d classes", p.name, len(p.counts), p.rows, len(p.icpt), k)
	}
	start := make([]int, k+1)
	for c, n := range p.counts {
		start[c+1] = start[c] + n
	}
	if start[k] != p.nsv {
		return nil, ir.Invalidf("%s: _n_support adds up to %d for %d support vectors", p.name, start[k], p.nsv)
	}
	m := b.m
	dec := make([]int, 0, npairs)
	for i := 0; i < k; i++ {
		for j := i + 1; j < k; j++ {
			var in []int
			var w []float64
			for s := start[i]; s < start[i+1]; s++ {
				in, w = append(in, p.kern[s]), append(w, p.dual[(j-1)*p.nsv+s])
			}
			for s := start[j]; s < start[j+1]; s++ {
				in, w = append(in, p.kern[s]), append(w, p.dual[i*p.nsv+s])
			}
			out := m.Alloc(1)
			if len(in) == 0 { // two classes without support vectors: -rho
				m.Add(&ir.Map{In: p.kern[:1], Out: out, Ops: []ir.Op{{Kind: ir.OpSet, Vals: []float64{p.icpt[len(dec)]}}}})
			} else {
				m.Add(&ir.Linear{In: in, Out: out, W: w, B: p.icpt[len(dec) : len(dec)+1]})
			}
			dec = append(dec, out[0])
		}
	}
	// vote[i] gets the pairs (i, j) whose decision value is > 0, vote[j]
	// the others (NaN included).
	pos := m.Map(dec, []ir.Op{{Kind: ir.OpGreater, Vals: []float64{0}}})
	votes := m.Votes(pos, k)
	h := &head{name: p.name, task: ir.Classification, labels: lab, out: votes}
	switch shape, _ := optStr(o, "decision_function_shape"); {
	case k == 2: // scikit-learn flips libsvm's sign: positive is classes_[1]
		h.decision = m.Map(dec, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}})
	case shape != "ovo":
		h.decision = ovrDecision(m, dec, k)
	}

	proba, err := svcProbability(o)
	if err != nil || !proba {
		return h, err
	}
	pa, err := vector(o, "_probA", npairs)
	if err != nil {
		return nil, err
	}
	pb, err := vector(o, "_probB", npairs)
	if err != nil {
		return nil, err
	}
	r := make([]int, k*k)
	q := 0
	for i := 0; i < k; i++ {
		for j := i + 1; j < k; j++ {
			rij := platt(m, dec[q], pa[q], pb[q])
			rji := m.Map(rij, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}})
			r[i*k+j], r[j*k+i] = rij[0], rji[0]
			q++
		}
	}
	for i := 0; i < k; i++ {
		r[i*k+i] = r[1] // not read: any slot
	}
	h.proba = m.Alloc(k)
	m.Add(&ir.Coupling{In: r, Out: h.proba, F64: true})
	return h, nil
}

// ovrDecision is scikit-learn's one-vs-rest decision_function of an SVC
// (_ovr_decision_function of dec < 0 and -dec): per class its votes (a
// pair's first class wins when dec ≥ 0) plus s/(3·(|s|+1)), s the sum of
// the class's pair decisions, each signed for the class, in pair order.
func ovrDecision(m *ir.Model, dec []int, k int) []int {
	npairs := len(dec)
	// a pair's first class wins unless dec < 0 (NaN included)
	first := m.Map(dec, []ir.Op{{Kind: ir.OpLess, Vals: []float64{0}}, {Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}})
	votes := m.Votes(first, k)
	S := make([]float64, k*npairs)
	q := 0
	for i := 0; i < k; i++ {
		for j := i + 1; j < k; j++ {
			S[i*npairs+q], S[j*npairs+q] = 1, -1
			q++
		}
	}
	sum := m.Alloc(k)
	m.Add(&ir.Linear{In: dec, Out: sum, W: S})
	den := m.Map(sum, []ir.Op{{Kind: ir.OpAbs}, {Kind: ir.OpAdd, Vals: []float64{1}}, {Kind: ir.OpMul, Vals: []float64{3}}})
	conf, out := m.Alloc(k), m.Alloc(k)
	m.Add(&ir.Binary{A: sum, B: den, Out: conf, Kind: ir.OpDiv})
	m.Add(&ir.Binary{A: votes, B: conf, Out: out, Kind: ir.OpAdd})
	return out
}

// svcProbability says whether a fitted SVC has predict_proba: probability
// set to True (scikit-learn 1.9 defaults it to the string "deprecated").
func svcProbability(o *pyobj.Object) (bool, error) {
	v, ok := o.Attr("probability")
	if !ok {
		return false, nil
	}
	if _, isStr := v.(string); isStr || v == nil {
		return false, nil
	}
	p, err := boolean(v)
	if err != nil {
		return false, ir.Invalidf("%s.probability: %v", className(o), err)
	}
	return p, nil
}

// platt is libsvm's sigmoid_predict(dec, A, B) clipped to
// [1e-7, 1-1e-7]: with f = dec·A + B, e^-f/(1+e^-f) when f ≥ 0, else
// 1/(1+e^f), both from e = exp(-|f|).
func platt(m *ir.Model, dec int, a, b float64) []int {
	f := m.Map([]int{dec}, []ir.Op{{Kind: ir.OpMul, Vals: []float64{a}}, {Kind: ir.OpAdd, Vals: []float64{b}}})
	e := m.Map(f, []ir.Op{{Kind: ir.OpAbs}, {Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpExp}})
	den := m.Map(e, []ir.Op{{Kind: ir.OpAdd, Vals: []float64{1}}})
	one := m.Map(e, []ir.Op{{Kind: ir.OpSet, Vals: []float64{1}}})
	lo, hi := m.Alloc(1), m.Alloc(1)
	m.Add(&ir.Binary{A: e, B: den, Out: hi, Kind: ir.OpDiv})   // f ≥ 0
	m.Add(&ir.Binary{A: one, B: den, Out: lo, Kind: ir.OpDiv}) // f < 0
	neg := m.Map(f, []ir.Op{{Kind: ir.OpLess, Vals: []float64{0}}})
	s := m.Alloc(1)
	m.Add(&ir.Select{Cond: neg, A: lo, B: hi, Out: s})
	return m.Map(s, []ir.Op{{Kind: ir.OpMax, Vals: []float64{1e-7}}, {Kind: ir.OpMin, Vals: []float64{1 - 1e-7}}})
}

// svr maps SVR and NuSVR: Σ coef·k - rho.
func (b *builder) svr(o *pyobj.Object, cols []col) (*head, error) {
	p, err := b.svmModel(o, cols)
	if err != nil {
		return nil, err
	}
	if p.rows != 1 || len(p.icpt) != 1 {
		return nil, ir.Invalidf("%s: %d coefficient rows and %d intercepts", p.name, p.rows, len(p.icpt))
	}
	out := b.m.Alloc(1)
	b.m.Add(&ir.Linear{In: p.kern, Out: out, W: p.dual, B: p.icpt})
	return &head{name: p.name, task: ir.Regression, out: out}, nil
}

// oneClassSVM maps OneClassSVM: predict is 1 (an inlier) when
// Σ coef·k - rho > 0, else -1; served as a classifier of the labels -1
// and 1.
func (b *builder) oneClassSVM(o *pyobj.Object, cols []col) (*head, error) {
	h, err := b.svr(o, cols)
	if err != nil {
		return nil, err
	}
	m := b.m
	in := m.Map(h.out, []ir.Op{{Kind: ir.OpGreater, Vals: []float64{0}}})
	out := m.Map(in, []ir.Op{{Kind: ir.OpMul, Vals: []float64{-1}}, {Kind: ir.OpAdd, Vals: []float64{1}}})
	return &head{name: h.name, task: ir.Classification, labels: []jsonValue{jsonValue("-1"), jsonValue("1")}, out: append(out, in...)}, nil
}
