package sklearn

import (
	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// kernelRidge maps KernelRidge: the kernel between the row and each
// stored training point (X_fit_) times dual_coef_. Kernels as
// scikit-learn's pairwise_kernels: linear x·y; rbf exp(-γ‖x-y‖²);
// polynomial (γ·x·y + c₀)^degree; sigmoid tanh(γ·x·y + c₀); γ defaults
// to 1/n_features.
func (b *builder) kernelRidge(o *pyobj.Object, cols []col) (*head, error) {
	const name = "KernelRidge"
	if err := b.numeric(cols, name); err != nil {
		return nil, err
	}
	pts, n, nf, err := matrix(o, "X_fit_")
	if err != nil {
		return nil, err
	}
	if nf != len(cols) || n == 0 {
		return nil, ir.Invalidf("KernelRidge.X_fit_ is %d×%d for %d columns", n, nf, len(cols))
	}
	dv, err := attr(o, "dual_coef_")
	if err != nil {
		return nil, err
	}
	dual, shape, err := floats(dv)
	if err != nil || len(shape) < 1 || len(shape) > 2 || shape[0] != n {
		return nil, ir.Invalidf("KernelRidge.dual_coef_ has shape %v for %d points (%v)", shape, n, err)
	}
	targets := 1
	if len(shape) == 2 {
		targets = shape[1]
	}
	if n*(targets+2) > ir.MaxSlots/4 {
		return nil, ir.Unsupportedf("KernelRidge over %d training points: too large to compile", n)
	}
	kernel, err := optStr(o, "kernel")
	if err != nil {
		return nil, ir.Unsupportedf("KernelRidge with a callable kernel")
	}
	param := func(attrName string, def float64) (float64, error) {
		if v, ok := o.Attr(attrName); !ok || v == nil {
			return def, nil
		}
		return finiteNumber(o, attrName)
	}
	gamma, err := param("gamma", 1/float64(nf))
	if err != nil {
		return nil, err
	}
	coef0, err := param("coef0", 1)
	if err != nil {
		return nil, err
	}
	degree, err := param("degree", 3)
	if err != nil {
		return nil, err
	}
	m := b.m
	x := slots(cols)
	dot := func() []int {
		out := m.Alloc(n)
		m.Add(&ir.Linear{In: x, Out: out, W: pts})
		return out
	}
	var kern []int
	switch kernel {
	case "linear":
		kern = dot()
	case "rbf":
		kern = m.Alloc(n)
		m.Add(&ir.RBF{In: x, Out: kern, C: pts, Gamma: gamma, F64: true})
	case "poly", "polynomial":
		kern = m.Map(dot(), []ir.Op{{Kind: ir.OpMul, Vals: []float64{gamma}}, {Kind: ir.OpAdd, Vals: []float64{coef0}},
			{Kind: ir.OpPow, Vals: []float64{degree}}})
	case "sigmoid":
		kern = m.Map(dot(), []ir.Op{{Kind: ir.OpMul, Vals: []float64{gamma}}, {Kind: ir.OpAdd, Vals: []float64{coef0}}, {Kind: ir.OpTanh}})
	default:
		return nil, ir.Unsupportedf("KernelRidge(kernel=%q) (mlbox serves linear, rbf, polynomial and sigmoid)", kernel)
	}
	// dual_coef_ is n × targets: each target's weights are a column.
	w := make([]float64, targets*n)
	for i := range n {
		for t := range targets {
			w[t*n+i] = dual[i*targets+t]
		}
	}
	out := m.Alloc(targets)
	m.Add(&ir.Linear{In: kern, Out: out, W: w})
	return &head{name: name, task: ir.Regression, out: out}, nil
}
