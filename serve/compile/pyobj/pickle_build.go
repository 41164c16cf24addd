package pyobj

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// maxFields caps the fields of a structured dtype.
const maxFields = 1024

// call interprets REDUCE of the global g with args.
func (d *decoder) call(g *Global, args Tuple) (Value, error) {
	switch g.String() {
	case gReconstruct:
		return d.reconstruct(args)
	case gScalar:
		return d.scalar(args)
	case gFrombuffer:
		return d.frombuffer(args)
	case gDType:
		return d.dtype(args)
	case gSlice:
		return d.slice(args)
	case gEncode:
		if len(args) != 2 {
			return nil, d.errf("_codecs.encode takes 2 arguments, got %d", len(args))
		}
		return d.latin1(args[0], args[1])
	case gBytes, gBytearray:
		switch len(args) {
		case 0:
			return []byte{}, nil
		case 1:
			if b, ok := args[0].([]byte); ok {
				return b, nil
			}
		case 2:
			return d.latin1(args[0], args[1])
		}
		return nil, d.errf("%s of %s is not supported", g, typeName(args))
	case gSet, gFrozenset:
		var items []Value
		if len(args) == 1 {
			switch a := args[0].(type) {
			case *List:
				items = a.Items
			case Tuple:
				items = a
			case *Set:
				items = a.Items
			default:
				return nil, d.errf("%s of %s is not supported", g, typeName(a))
			}
		} else if len(args) > 1 {
			return nil, d.errf("%s takes at most 1 argument, got %d", g, len(args))
		}
		if err := d.b.addValues(len(items)); err != nil {
			return nil, d.wrap(err)
		}
		set := &Set{}
		if err := d.addToSet(set, items); err != nil {
			return nil, d.errf("%v", err)
		}
		return set, nil
	}
	if typeToken(g.Module, g.Name) {
		return nil, d.errf("calling %s is not supported", g)
	}
	return &Object{Class: g, Args: args}, nil
}

// latin1 interprets _codecs.encode(text, "latin1"), which protocol 2 uses
// for bytes objects.
func (d *decoder) latin1(text, codec Value) (Value, error) {
	s, ok1 := text.(string)
	c, ok2 := codec.(string)
	if !ok1 || !ok2 || (c != "latin1" && c != "latin-1") {
		return nil, d.errf("only latin1 text can be encoded to bytes")
	}
	if err := d.b.addBytes(int64(len(s))); err != nil {
		return nil, d.wrap(err)
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, d.errf("latin1 text holds %U", r)
		}
		b = append(b, byte(r))
	}
	return b, nil
}

// slice interprets builtins.slice(start, stop, step).
func (d *decoder) slice(args Tuple) (Value, error) {
	if len(args) < 1 || len(args) > 3 {
		return nil, d.errf("slice takes 1 to 3 arguments, got %d", len(args))
	}
	for _, a := range args {
		if _, ok := a.(int64); !ok && a != nil {
			return nil, d.errf("slice bound is %s", typeName(a))
		}
	}
	if len(args) == 1 {
		return &Slice{Stop: args[0]}, nil
	}
	s := &Slice{Start: args[0], Stop: args[1]}
	if len(args) == 3 {
		s.Step = args[2]
	}
	return s, nil
}

// reconstruct interprets numpy's _reconstruct(ndarray, (0,), b"b"): an
// empty array that the following BUILD fills in.
func (d *decoder) reconstruct(args Tuple) (Value, error) {
	if len(args) != 3 {
		return nil, d.errf("_reconstruct takes 3 arguments, got %d", len(args))
	}
	if g, ok := args[0].(*Global); !ok || g.String() != gNDArray {
		return nil, d.errf("_reconstruct of %s, not numpy.ndarray", typeName(args[0]))
	}
	a := &Array{}
	d.pending[a] = true
	return a, nil
}

// readyDType returns v as a dtype that has received its BUILD state.
func (d *decoder) readyDType(v Value) (*DType, error) {
	dt, ok := v.(*DType)
	if !ok {
		return nil, d.errf("expected a dtype, got %s", typeName(v))
	}
	if d.pending[dt] {
		return nil, d.errf("dtype used before its state was set")
	}
	return dt, nil
}

// shape converts a shape tuple.
func (d *decoder) shape(v Value) ([]int, error) {
	t, ok := v.(Tuple)
	if !ok {
		return nil, d.errf("array shape is %s, not a tuple", typeName(v))
	}
	if len(t) > maxDims {
		return nil, d.errf("array has %d dimensions", len(t))
	}
	shape := make([]int, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 || n > math.MaxInt32*int64(math.MaxInt32) {
			return nil, d.errf("bad array dimension %v", x)
		}
		shape[i] = int(n)
	}
	return shape, nil
}

// scalar interprets numpy's scalar(dtype, raw bytes): a 0-d array.
func (d *decoder) scalar(args Tuple) (Value, error) {
	if len(args) != 2 {
		return nil, d.errf("numpy scalar takes 2 arguments, got %d", len(args))
	}
	dt, err := d.readyDType(args[0])
	if err != nil {
		return nil, err
	}
	if dt.Kind == 'O' {
		// An object "scalar" is the object itself.
		return args[1], nil
	}
	b, ok := args[1].([]byte)
	if !ok {
		return nil, d.errf("numpy scalar data is %s, not bytes", typeName(args[1]))
	}
	a, err := newArray(dt, []int{}, false, b)
	if err != nil {
		return nil, d.errf("numpy scalar: %v", err)
	}
	return a, nil
}

// frombuffer interprets numpy's _frombuffer(buffer, dtype, shape, order),
// which protocol 5 uses for contiguous arrays.
func (d *decoder) frombuffer(args Tuple) (Value, error) {
	if len(args) != 4 {
		return nil, d.errf("_frombuffer takes 4 arguments, got %d", len(args))
	}
	b, ok := args[0].([]byte)
	if !ok {
		return nil, d.errf("_frombuffer buffer is %s, not bytes", typeName(args[0]))
	}
	dt, err := d.readyDType(args[1])
	if err != nil {
		return nil, err
	}
	shape, err := d.shape(args[2])
	if err != nil {
		return nil, err
	}
	var fortran bool
	switch args[3] {
	case "C":
	case "F":
		fortran = true
	default:
		return nil, d.errf("_frombuffer order %v", args[3])
	}
	a, err := newArray(dt, shape, fortran, b)
	if err != nil {
		return nil, d.errf("_frombuffer: %v", err)
	}
	return a, nil
}

// dtype interprets numpy.dtype(typestr, align, copy); the following BUILD
// sets its byte order and fields.
func (d *decoder) dtype(args Tuple) (Value, error) {
	if len(args) < 1 || len(args) > 3 {
		return nil, d.errf("numpy.dtype takes 1 to 3 arguments, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, d.errf("numpy.dtype of %s", typeName(args[0]))
	}
	order, kind, n, err := parseTypestr(s)
	if err != nil {
		return nil, d.errf("numpy.dtype(%q): %v", s, err)
	}
	dt, err := makeDType(kind, n, order == '>')
	if err != nil {
		return nil, d.errf("numpy.dtype(%q): %v", s, err)
	}
	d.pending[dt] = true
	return dt, nil
}

// parseTypestr splits a numpy type string such as "<f8", "f8", "|V64",
// "U2" into its byte order (0 if absent), kind and size (in bytes, or in
// characters for 'U').
func parseTypestr(s string) (order, kind byte, n int, err error) {
	if s != "" && (s[0] == '<' || s[0] == '>' || s[0] == '|' || s[0] == '=') {
		order, s = s[0], s[1:]
	}
	if s == "O" {
		return order, 'O', 8, nil
	}
	if len(s) < 2 || len(s) > 12 {
		return 0, 0, 0, fmt.Errorf("unsupported type string")
	}
	kind = s[0]
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return 0, 0, 0, fmt.Errorf("unsupported type string")
		}
	}
	n, err = strconv.Atoi(s[1:])
	if err != nil || n > 1<<30 {
		return 0, 0, 0, fmt.Errorf("unsupported type string")
	}
	return order, kind, n, nil
}

// build implements BUILD: it gives state to the object, array or dtype on
// top of the stack.
func (d *decoder) build(target, state Value) error {
	switch t := target.(type) {
	case *Object:
		return d.buildObject(t, state)
	case *Array:
		if !d.pending[t] {
			return d.errf("BUILD on an array that already has its state")
		}
		if err := d.setArrayState(t, state); err != nil {
			return err
		}
		delete(d.pending, t)
		return nil
	case *DType:
		if !d.pending[t] {
			return d.errf("BUILD on a dtype that already has its state")
		}
		if err := d.setDTypeState(t, state); err != nil {
			return err
		}
		delete(d.pending, t)
		return nil
	}
	return d.errf("BUILD on %s", typeName(target))
}

// buildObject merges dict state, and (dict, slotstate) pairs, into the
// object's State dict. Other state is kept as it is, once.
func (d *decoder) buildObject(o *Object, state Value) error {
	var parts []*Dict
	switch s := state.(type) {
	case nil:
		return nil
	case *Dict:
		parts = []*Dict{s}
	case Tuple:
		if len(s) == 2 {
			d0, ok0 := s[0].(*Dict)
			d1, ok1 := s[1].(*Dict)
			if (ok0 || s[0] == nil) && (ok1 || s[1] == nil) {
				if ok0 {
					parts = append(parts, d0)
				}
				if ok1 {
					parts = append(parts, d1)
				}
				break
			}
		}
		if o.State != nil {
			return d.errf("BUILD sets the state of a %s object twice", o.Class)
		}
		o.State = state
		return nil
	default:
		if o.State != nil {
			return d.errf("BUILD sets the state of a %s object twice", o.Class)
		}
		o.State = state
		return nil
	}
	dict, ok := o.State.(*Dict)
	if !ok {
		if o.State != nil {
			return d.errf("BUILD merges a dict into %s state of a %s object", typeName(o.State), o.Class)
		}
		dict = &Dict{}
		o.State = dict
	}
	for _, p := range parts {
		if err := d.b.addValues(len(p.Keys)); err != nil {
			return d.wrap(err)
		}
		for i, k := range p.Keys {
			if err := d.setItem(dict, k, p.Values[i]); err != nil {
				return d.errf("%v", err)
			}
		}
	}
	return nil
}

// setArrayState applies numpy's ndarray.__setstate__ state
// (version, shape, dtype, is_fortran, data) to an array from _reconstruct.
func (d *decoder) setArrayState(a *Array, state Value) error {
	t, ok := state.(Tuple)
	if !ok || (len(t) != 5 && len(t) != 4) {
		return d.errf("ndarray state is %s, not a 5-tuple", typeName(state))
	}
	if len(t) == 5 {
		if v, ok := t[0].(int64); !ok || v != 1 {
			return d.errf("ndarray state version %v", t[0])
		}
		t = t[1:]
	}
	shape, err := d.shape(t[0])
	if err != nil {
		return err
	}
	dt, err := d.readyDType(t[1])
	if err != nil {
		return err
	}
	var fortran bool
	switch f := t[2].(type) {
	case bool:
		fortran = f
	case int64:
		fortran = f != 0
	default:
		return d.errf("ndarray is_fortran is %s", typeName(t[2]))
	}
	if dt.Kind == 'O' {
		l, ok := t[3].(*List)
		if !ok {
			return d.errf("object array data is %s, not a list", typeName(t[3]))
		}
		n, ok := shapeLen(shape, 1)
		if !ok || n != len(l.Items) {
			return d.errf("object array of shape %v has %d elements", shape, len(l.Items))
		}
		if err := d.b.addValues(n); err != nil {
			return d.wrap(err)
		}
		// The list is in C order whatever is_fortran says (numpy writes
		// and reads it with a flat iterator).
		*a = Array{DType: dt, Shape: shape, Objects: slices.Clone(l.Items)}
		return nil
	}
	b, ok := t[3].([]byte)
	if !ok {
		return d.errf("array data is %s, not bytes", typeName(t[3]))
	}
	na, err := newArray(dt, shape, fortran, b)
	if err != nil {
		return d.errf("%v", err)
	}
	*a = *na
	return nil
}

// setDTypeState applies numpy's dtype.__setstate__ state (version,
// byteorder, subarray, names, fields, elsize, alignment, flags[, metadata]).
func (d *decoder) setDTypeState(dt *DType, state Value) error {
	t, ok := state.(Tuple)
	if !ok || (len(t) != 8 && len(t) != 9) {
		return d.errf("dtype state is %s, not an 8-tuple", typeName(state))
	}
	if v, ok := t[0].(int64); !ok || (v != 3 && v != 4) {
		return d.errf("dtype state version %v", t[0])
	}
	switch t[1] {
	case "<", "=", "|":
		dt.BigEndian = false
	case ">":
		dt.BigEndian = dt.Size > 1 && (dt.Kind == 'f' || dt.Kind == 'i' || dt.Kind == 'u' || dt.Kind == 'U')
	default:
		return d.errf("dtype byte order %v", t[1])
	}
	if t[2] != nil {
		return d.errf("sub-array dtypes are not supported")
	}
	for _, i := range []int{5, 6, 7} {
		if _, ok := t[i].(int64); !ok {
			return d.errf("dtype state item %d is %s", i, typeName(t[i]))
		}
	}
	if elsize := t[5].(int64); elsize >= 0 && elsize != int64(dt.Size) {
		return d.errf("dtype %s with itemsize %d", dt, elsize)
	}
	if len(t) == 9 && t[8] != nil {
		if _, ok := t[8].(*Dict); !ok {
			return d.errf("dtype metadata is %s", typeName(t[8]))
		}
	}
	if t[3] == nil {
		if t[4] != nil {
			return d.errf("dtype has fields but no names")
		}
		return nil
	}
	names, ok := t[3].(Tuple)
	fields, ok2 := t[4].(*Dict)
	if !ok || !ok2 || dt.Kind != 'V' {
		return d.errf("malformed structured dtype")
	}
	if len(names) > maxFields {
		return d.errf("dtype has %d fields (at most %d)", len(names), maxFields)
	}
	if err := d.b.addValues(len(names)); err != nil {
		return d.wrap(err)
	}
	dt.Fields = make([]Field, 0, len(names))
	for _, n := range names {
		name, ok := n.(string)
		if !ok {
			return d.errf("dtype field name is %s", typeName(n))
		}
		v, ok := d.get(fields, name)
		if !ok {
			return d.errf("dtype field %q missing from fields", name)
		}
		ft, ok := v.(Tuple)
		if !ok || len(ft) < 2 || len(ft) > 3 {
			return d.errf("dtype field %q is %s", name, typeName(v))
		}
		fdt, err := d.readyDType(ft[0])
		if err != nil {
			return err
		}
		if fdt == dt {
			return d.errf("dtype contains itself")
		}
		off, ok := ft[1].(int64)
		if !ok || off < 0 || off > math.MaxInt32 {
			return d.errf("dtype field %q offset %v", name, ft[1])
		}
		dt.Fields = append(dt.Fields, Field{Name: name, DType: fdt, Offset: int(off)})
	}
	if err := checkFields(dt.Size, dt.Fields); err != nil {
		return d.errf("structured dtype: %v", err)
	}
	return nil
}
