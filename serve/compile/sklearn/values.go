package sklearn

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/pyobj"
)

// Readers of fitted attributes. Every one checks the type and shape it
// gets: a model file is hostile input.

// attr returns a required attribute.
func attr(o *pyobj.Object, name string) (pyobj.Value, error) {
	v, ok := o.Attr(name)
	if !ok {
		return nil, ir.Invalidf("%s has no %s (is it fitted?)", className(o), name)
	}
	return v, nil
}

// number reads a Python or numpy number (0-d array) as float64.
func number(v pyobj.Value) (float64, error) {
	switch v := v.(type) {
	case float64:
		return v, nil
	case int64:
		return float64(v), nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case *big.Int:
		f, _ := new(big.Float).SetInt(v).Float64()
		return f, nil
	case *pyobj.Array:
		if v.Len() != 1 || len(v.Shape) > 1 {
			return 0, fmt.Errorf("an array of shape %v where a number was expected", v.Shape)
		}
		f, err := v.Float64s()
		if err != nil {
			return 0, err
		}
		return f[0], nil
	}
	return 0, fmt.Errorf("%s where a number was expected", typeName(v))
}

// finiteNumber reads the attribute name of o as a finite number.
func finiteNumber(o *pyobj.Object, name string) (float64, error) {
	v, err := attr(o, name)
	if err != nil {
		return 0, err
	}
	f, err := number(v)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, ir.Invalidf("%s.%s is %v, not a finite number", className(o), name, v)
	}
	return f, nil
}

// allFinite says whether every value of the slices is finite.
func allFinite(xs ...[]float64) bool {
	for _, x := range xs {
		for _, f := range x {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return false
			}
		}
	}
	return true
}

// integer reads an integral number.
func integer(v pyobj.Value) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case *pyobj.Array:
		if v.Len() != 1 || len(v.Shape) > 1 {
			return 0, fmt.Errorf("an array of shape %v where an integer was expected", v.Shape)
		}
		n, err := v.Int64s()
		if err != nil {
			return 0, err
		}
		return n[0], nil
	}
	return 0, fmt.Errorf("%s where an integer was expected", typeName(v))
}

func boolean(v pyobj.Value) (bool, error) {
	switch v := v.(type) {
	case bool:
		return v, nil
	case int64:
		return v != 0, nil
	case *pyobj.Array:
		n, err := integer(v)
		return n != 0, err
	}
	return false, fmt.Errorf("%s where a boolean was expected", typeName(v))
}

// str reads a string.
func str(v pyobj.Value) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

// optStr reads an optional string attribute ("" when absent or None).
func optStr(o *pyobj.Object, name string) (string, error) {
	v, ok := o.Attr(name)
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", ir.Invalidf("%s.%s is a %s, not a string", className(o), name, typeName(v))
	}
	return s, nil
}

func optBool(o *pyobj.Object, name string, def bool) (bool, error) {
	v, ok := o.Attr(name)
	if !ok || v == nil {
		return def, nil
	}
	b, err := boolean(v)
	if err != nil {
		return false, ir.Invalidf("%s.%s: %v", className(o), name, err)
	}
	return b, nil
}

// items returns the elements of a list, tuple or 1-d object array.
func items(v pyobj.Value) ([]pyobj.Value, error) {
	switch v := v.(type) {
	case *pyobj.List:
		return v.Items, nil
	case pyobj.Tuple:
		return v, nil
	case *pyobj.Array:
		if v.Objects != nil || v.DType != nil && v.DType.Kind == 'O' {
			if len(v.Shape) != 1 {
				return nil, fmt.Errorf("an object array of shape %v where a list was expected", v.Shape)
			}
			return v.Objects, nil
		}
	}
	return nil, fmt.Errorf("%s where a list was expected", typeName(v))
}

// floats reads a numeric array (any shape, C order) or a list of
// numbers, with its shape.
func floats(v pyobj.Value) ([]float64, []int, error) {
	switch v := v.(type) {
	case *pyobj.Array:
		if v.DType != nil && v.DType.Kind == 'O' {
			out := make([]float64, len(v.Objects))
			for i, e := range v.Objects {
				f, err := number(e)
				if err != nil {
					return nil, nil, err
				}
				out[i] = f
			}
			return out, v.Shape, nil
		}
		f, err := v.Float64s()
		return f, v.Shape, err
	case *pyobj.List, pyobj.Tuple:
		l, _ := items(v)
		out := make([]float64, len(l))
		for i, e := range l {
			f, err := number(e)
			if err != nil {
				return nil, nil, err
			}
			out[i] = f
		}
		return out, []int{len(out)}, nil
	case float64, int64, bool:
		f, _ := number(v)
		return []float64{f}, []int{}, nil
	}
	return nil, nil, fmt.Errorf("%s where an array was expected", typeName(v))
}

// vector reads a 1-d numeric array of length n (n < 0: any).
func vector(o *pyobj.Object, name string, n int) ([]float64, error) {
	v, err := attr(o, name)
	if err != nil {
		return nil, err
	}
	f, shape, err := floats(v)
	if err != nil {
		return nil, ir.Invalidf("%s.%s: %v", className(o), name, err)
	}
	if len(shape) > 1 || n >= 0 && len(f) != n {
		return nil, ir.Invalidf("%s.%s has shape %v, want (%d,)", className(o), name, shape, n)
	}
	return f, nil
}

// matrix reads a numeric array as rows × cols: a 1-d array is one row.
func matrix(o *pyobj.Object, name string) ([]float64, int, int, error) {
	v, err := attr(o, name)
	if err != nil {
		return nil, 0, 0, err
	}
	f, shape, err := floats(v)
	if err != nil {
		return nil, 0, 0, ir.Invalidf("%s.%s: %v", className(o), name, err)
	}
	switch len(shape) {
	case 1:
		return f, 1, shape[0], nil
	case 2:
		return f, shape[0], shape[1], nil
	}
	return nil, 0, 0, ir.Invalidf("%s.%s has shape %v, want a matrix", className(o), name, shape)
}

// strs reads an array or list of strings.
func strs(v pyobj.Value) ([]string, error) {
	if a, ok := v.(*pyobj.Array); ok {
		if len(a.Shape) != 1 {
			return nil, fmt.Errorf("an array of shape %v where a list of names was expected", a.Shape)
		}
		return a.Strings()
	}
	l, err := items(v)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("a %s where a string was expected", typeName(e))
		}
		out[i] = s
	}
	return out, nil
}

// category is one value of a category list: a string, a number, or
// missing (None or NaN).
type category struct {
	s       string
	f       float64
	isStr   bool
	missing bool
	none    bool // missing as Python's None (not NaN)
}

// categories reads one entry of OneHotEncoder.categories_ (or a list of
// fill values): a numeric, unicode or object array.
func categories(v pyobj.Value) ([]category, error) {
	var elems []pyobj.Value
	switch a := v.(type) {
	case *pyobj.Array:
		if len(a.Shape) != 1 {
			return nil, fmt.Errorf("categories of shape %v", a.Shape)
		}
		switch {
		case a.DType != nil && a.DType.Kind == 'O':
			elems = a.Objects
		case a.DType != nil && (a.DType.Kind == 'U' || a.DType.Kind == 'S'):
			ss, err := a.Strings()
			if err != nil {
				return nil, err
			}
			out := make([]category, len(ss))
			for i, s := range ss {
				out[i] = category{s: s, isStr: true}
			}
			return out, nil
		default:
			fs, err := a.Float64s()
			if err != nil {
				return nil, err
			}
			out := make([]category, len(fs))
			for i, f := range fs {
				out[i] = category{f: f, missing: isNaN(f)}
			}
			return out, nil
		}
	default:
		var err error
		if elems, err = items(v); err != nil {
			return nil, err
		}
	}
	out := make([]category, len(elems))
	for i, e := range elems {
		out[i] = catValue(e)
		if !out[i].isStr && !out[i].missing {
			if _, err := number(e); err != nil {
				return nil, fmt.Errorf("category %d is a %s", i, typeName(e))
			}
		}
	}
	return out, nil
}

func catValue(e pyobj.Value) category {
	switch e := e.(type) {
	case nil:
		return category{missing: true, none: true, f: math.NaN()}
	case string:
		return category{s: e, isStr: true}
	case *pyobj.Array: // a numpy scalar: numpy.str_ in older pickles
		if e.DType != nil && (e.DType.Kind == 'U' || e.DType.Kind == 'S') && e.Len() == 1 {
			if ss, err := e.Strings(); err == nil {
				return category{s: ss[0], isStr: true}
			}
		}
	}
	f, _ := number(e)
	return category{f: f, missing: isNaN(f)}
}

// labels reads classes_ as JSON values, keeping their Python types.
func labels(o *pyobj.Object) ([]jsonValue, error) {
	v, err := attr(o, "classes_")
	if err != nil {
		return nil, err
	}
	out, err := labelValues(v)
	if err != nil {
		return nil, ir.Invalidf("%s.classes_: %v", className(o), err)
	}
	if len(out) < 2 {
		return nil, ir.Unsupportedf("%s has %d classes", className(o), len(out))
	}
	return out, nil
}

func labelValues(v pyobj.Value) ([]jsonValue, error) {
	a, ok := v.(*pyobj.Array)
	if !ok {
		l, err := items(v)
		if err != nil {
			return nil, err
		}
		a = &pyobj.Array{DType: &pyobj.DType{Kind: 'O'}, Shape: []int{len(l)}, Objects: l}
	}
	if len(a.Shape) != 1 {
		return nil, fmt.Errorf("shape %v (multi-output classifiers are not supported)", a.Shape)
	}
	var out []jsonValue
	switch k := a.DType.Kind; {
	case k == 'O':
		for _, e := range a.Objects {
			j, err := jsonOf(e)
			if err != nil {
				return nil, err
			}
			out = append(out, j)
		}
	case k == 'U' || k == 'S':
		ss, err := a.Strings()
		if err != nil {
			return nil, err
		}
		for _, s := range ss {
			j, _ := json.Marshal(s)
			out = append(out, j)
		}
	case k == 'i' || k == 'u':
		ns, err := a.Int64s()
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			out = append(out, []byte(strconv.FormatInt(n, 10)))
		}
	case k == 'b':
		ns, err := a.Int64s()
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			out = append(out, []byte(strconv.FormatBool(n != 0)))
		}
	case k == 'f':
		fs, err := a.Float64s()
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			j, err := jsonOf(f)
			if err != nil {
				return nil, err
			}
			out = append(out, j)
		}
	default:
		return nil, fmt.Errorf("labels of dtype %s", a.DType)
	}
	seen := map[string]bool{}
	for _, j := range out {
		if seen[string(j)] {
			return nil, fmt.Errorf("label %s repeats", j)
		}
		seen[string(j)] = true
	}
	return out, nil
}

// jsonOf renders a label as JSON, as Python's json module would.
func jsonOf(e pyobj.Value) (jsonValue, error) {
	switch e := e.(type) {
	case string:
		return json.Marshal(e)
	case int64:
		return []byte(strconv.FormatInt(e, 10)), nil
	case *big.Int:
		return []byte(e.String()), nil
	case bool:
		return []byte(strconv.FormatBool(e)), nil
	case nil:
		return []byte("null"), nil
	case float64:
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return nil, errors.New("a label is NaN or infinite")
		}
		return []byte(pyFloat(e)), nil
	case *pyobj.Array:
		if e.Len() == 1 && len(e.Shape) == 0 {
			switch e.DType.Kind {
			case 'f':
				f, err := number(e)
				if err != nil {
					return nil, err
				}
				return jsonOf(f)
			case 'i', 'u', 'b':
				n, err := integer(e)
				if err != nil {
					return nil, err
				}
				if e.DType.Kind == 'b' {
					return jsonOf(n != 0)
				}
				return jsonOf(n)
			}
		}
	}
	return nil, fmt.Errorf("a label of type %s", typeName(e))
}

// pyFloat formats f as Python's repr does: the shortest round-tripping
// digits, fixed notation with ".0" for 1e-4 <= |f| < 1e16, else
// exponent notation with a sign and at least two digits.
func pyFloat(f float64) string {
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, exps, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(exps)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		es := strconv.Itoa(exp)
		if len(es) < 2 {
			es = "0" + es
		}
		return mant + "e" + sign + es
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
