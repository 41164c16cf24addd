package sklearn

import (
	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// transformedTarget maps TransformedTargetRegressor: the regressor's
// prediction through the fitted target transformer's inverse. mlbox
// knows the inverses of a FunctionTransformer whose inverse_func is
// numpy's exp or expm1 (or none), and of the scalers.
func (b *builder) transformedTarget(o *pyobj.Object, cols []col) (*head, error) {
	rv, err := attr(o, "regressor_")
	if err != nil {
		return nil, err
	}
	ro, ok := rv.(*pyobj.Object)
	if !ok {
		return nil, ir.Invalidf("TransformedTargetRegressor.regressor_ is a %s", typeName(rv))
	}
	h, err := b.predictor(ro, cols)
	if err != nil {
		return nil, err
	}
	if h.task != ir.Regression {
		return nil, ir.Invalidf("TransformedTargetRegressor over %s, not a regressor", h.name)
	}
	tv, err := attr(o, "transformer_")
	if err != nil {
		return nil, err
	}
	to, ok := tv.(*pyobj.Object)
	if !ok {
		return nil, ir.Invalidf("TransformedTargetRegressor.transformer_ is a %s", typeName(tv))
	}
	out, err := b.inverseTransform(to, h.out)
	if err != nil {
		return nil, err
	}
	return &head{name: "TransformedTargetRegressor", task: ir.Regression, out: out}, nil
}

// inverseTransform applies a fitted target transformer's
// inverse_transform to the slots y.
func (b *builder) inverseTransform(t *pyobj.Object, y []int) ([]int, error) {
	m := b.m
	switch name := shortName(t); name {
	case "FunctionTransformer":
		fv, ok := t.Attr("inverse_func")
		if !ok || fv == nil {
			return y, nil
		}
		g, ok := fv.(*pyobj.Global)
		if !ok || g.Module != "numpy" {
			return nil, ir.Unsupportedf("TransformedTargetRegressor with inverse_func=%s (mlbox knows numpy.exp and numpy.expm1)", typeName(fv))
		}
		switch g.Name {
		case "exp":
			return m.Map(y, []ir.Op{{Kind: ir.OpExp}}), nil
		case "expm1":
			return expm1(m, y), nil
		}
		return nil, ir.Unsupportedf("TransformedTargetRegressor with inverse_func=numpy.%s (mlbox knows numpy.exp and numpy.expm1)", g.Name)
	case "StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler":
		vec := func(attrName string) ([]float64, bool, error) {
			v, ok := t.Attr(attrName)
			if !ok || v == nil {
				return nil, false, nil
			}
			f, err := vector(t, attrName, len(y))
			return f, err == nil, err
		}
		var ops []ir.Op
		add := func(kind ir.OpKind, attrName string) error {
			f, ok, err := vec(attrName)
			if ok {
				ops = append(ops, ir.Op{Kind: kind, Vals: f})
			}
			return err
		}
		var err error
		switch name {
		case "StandardScaler": // X *= scale_; X += mean_
			if err = add(ir.OpMul, "scale_"); err == nil {
				err = add(ir.OpAdd, "mean_")
			}
		case "MinMaxScaler": // X -= min_; X /= scale_
			if err = add(ir.OpSub, "min_"); err == nil {
				err = add(ir.OpDiv, "scale_")
			}
		case "MaxAbsScaler":
			err = add(ir.OpMul, "scale_")
		case "RobustScaler": // X *= scale_; X += center_
			if err = add(ir.OpMul, "scale_"); err == nil {
				err = add(ir.OpAdd, "center_")
			}
		}
		if err != nil {
			return nil, err
		}
		if len(ops) == 0 {
			return y, nil
		}
		return m.Map(y, ops), nil
	default:
		return nil, ir.Unsupportedf("TransformedTargetRegressor with transformer %s", className(t))
	}
}

// expm1 is e^x - 1 accurate near 0: x + x²/2 + x³/6 where |x| < 1e-5
// (the next term is below 1e-16 of it), else exp(x) - 1 (relative error
// then at most about 1e-11).
func expm1(m *ir.Model, x []int) []int {
	far := m.Map(x, []ir.Op{{Kind: ir.OpExp}, {Kind: ir.OpSub, Vals: []float64{1}}})
	sq := m.Map(x, []ir.Op{{Kind: ir.OpSquare}})
	cube := m.Alloc(len(x))
	m.Add(&ir.Binary{A: sq, B: x, Out: cube, Kind: ir.OpMul})
	half := m.Map(sq, []ir.Op{{Kind: ir.OpMul, Vals: []float64{0.5}}})
	sixth := m.Map(cube, []ir.Op{{Kind: ir.OpDiv, Vals: []float64{6}}})
	near := m.Alloc(len(x))
	m.Add(&ir.Binary{A: x, B: half, Out: near, Kind: ir.OpAdd})
	near2 := m.Alloc(len(x))
	m.Add(&ir.Binary{A: near, B: sixth, Out: near2, Kind: ir.OpAdd})
	small := m.Map(x, []ir.Op{{Kind: ir.OpAbs}, {Kind: ir.OpLess, Vals: []float64{1e-5}}})
	out := m.Alloc(len(x))
	m.Add(&ir.Select{Cond: small, A: near2, B: far, Out: out})
	return out
}

// multiOutput maps MultiOutputRegressor: one fitted regressor per
// target, their predictions side by side.
func (b *builder) multiOutput(o *pyobj.Object, cols []col) (*head, error) {
	ests, err := fitted(o, 256)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, eo := range ests {
		h, err := b.predictor(eo, cols)
		if err != nil {
			return nil, err
		}
		if h.task != ir.Regression || len(h.out) != 1 {
			return nil, ir.Unsupportedf("MultiOutputRegressor over %s with %d outputs", h.name, len(h.out))
		}
		out = append(out, h.out...)
	}
	return &head{name: "MultiOutputRegressor", task: ir.Regression, out: out}, nil
}
