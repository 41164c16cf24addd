package pyobj

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Array is a numpy ndarray, or a numpy scalar (a 0-d array, Shape is empty).
type Array struct {
	DType *DType
	Shape []int
	// Fortran says Data is in column-major order (pickle is_fortran, npy
	// fortran_order, _frombuffer order 'F').
	Fortran bool
	// Data holds the raw element bytes, exactly Len()*DType.Size of them;
	// nil for object arrays.
	Data []byte
	// Objects holds the elements of an object array (dtype 'O') in C order.
	Objects []Value
}

// DType is a numpy dtype.
type DType struct {
	// Kind is 'f' float, 'i' int, 'u' uint, 'b' bool, 'U' unicode (UTF-32),
	// 'S' bytes, 'O' object or 'V' void (structured when Fields is set).
	Kind byte
	// Size is the itemsize in bytes; for 'V' the whole record, padding
	// included.
	Size      int
	BigEndian bool
	// Fields are the fields of a structured dtype, in numpy's names order.
	Fields []Field
}

// Field is one field of a structured dtype.
type Field struct {
	Name   string
	DType  *DType
	Offset int
}

// String returns numpy's dtype.str spelling, e.g. "<f8", "|b1", "<U5",
// "|V64", "|O".
func (d *DType) String() string {
	if d == nil {
		return "<nil dtype>"
	}
	order := "<"
	if d.BigEndian {
		order = ">"
	}
	n := d.Size
	switch d.Kind {
	case 'O':
		return "|O"
	case 'U':
		n = d.Size / 4
	case 'S', 'V', 'b':
		order = "|"
	default:
		if d.Size == 1 {
			order = "|"
		}
	}
	return order + string(rune(d.Kind)) + strconv.Itoa(n)
}

// byteOrder returns the byte order of the dtype's elements.
func (d *DType) byteOrder() binary.ByteOrder {
	if d.BigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// makeDType builds a non-structured dtype from a kind and a count (bytes,
// or characters for 'U'), checking that numpy has such a dtype.
func makeDType(kind byte, n int, bigEndian bool) (*DType, error) {
	size := n
	switch kind {
	case 'f':
		if n != 2 && n != 4 && n != 8 {
			return nil, fmt.Errorf("unsupported float size %d", n)
		}
	case 'i', 'u':
		if n != 1 && n != 2 && n != 4 && n != 8 {
			return nil, fmt.Errorf("unsupported integer size %d", n)
		}
	case 'b':
		if n != 1 {
			return nil, fmt.Errorf("unsupported bool size %d", n)
		}
	case 'O':
		if n != 4 && n != 8 {
			return nil, fmt.Errorf("unsupported object size %d", n)
		}
		bigEndian = false
	case 'U':
		if n < 1 || n > 1<<28 {
			return nil, fmt.Errorf("unsupported unicode length %d", n)
		}
		size = 4 * n
	case 'S', 'V':
		if n < 1 || n > 1<<30 {
			return nil, fmt.Errorf("unsupported %c size %d", kind, n)
		}
	case 'M', 'm':
		return nil, errors.New("datetime dtypes are not supported")
	case 'c':
		return nil, errors.New("complex dtypes are not supported")
	default:
		return nil, fmt.Errorf("unsupported dtype kind %q", kind)
	}
	if size == 1 || kind == 'S' || kind == 'V' {
		bigEndian = false
	}
	return &DType{Kind: kind, Size: size, BigEndian: bigEndian}, nil
}

// checkFields validates the fields of a structured dtype of the given size.
// Fields may not be structured themselves (scikit-learn never nests them),
// so a dtype is never more than two levels deep.
func checkFields(size int, fields []Field) error {
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if f.DType == nil {
			return fmt.Errorf("field %q has no dtype", f.Name)
		}
		if seen[f.Name] {
			return fmt.Errorf("duplicate field %q", f.Name)
		}
		seen[f.Name] = true
		if f.DType.Kind == 'O' {
			return fmt.Errorf("field %q holds Python objects", f.Name)
		}
		if len(f.DType.Fields) > 0 {
			return fmt.Errorf("field %q is itself structured; nested structured dtypes are not supported", f.Name)
		}
		if f.Offset < 0 || f.DType.Size < 0 || f.Offset > size || f.DType.Size > size-f.Offset {
			return fmt.Errorf("field %q (offset %d, size %d) does not fit a %d-byte record", f.Name, f.Offset, f.DType.Size, size)
		}
	}
	return nil
}

// shapeLen returns the product of the dimensions, or false if a dimension
// is negative or the product does not fit (also multiplied by itemsize).
func shapeLen(shape []int, itemsize int) (n int, ok bool) {
	n = 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, false
		}
		n *= d
	}
	if itemsize < 0 || (itemsize != 0 && n > math.MaxInt/itemsize) {
		return 0, false
	}
	return n, true
}

// maxDims is numpy's limit on the number of dimensions.
const maxDims = 64

// newArray checks and builds a non-object array over data (not copied).
func newArray(dt *DType, shape []int, fortran bool, data []byte) (*Array, error) {
	if dt.Kind == 'O' {
		return nil, errors.New("object array given as raw bytes")
	}
	if len(shape) > maxDims {
		return nil, fmt.Errorf("array has %d dimensions", len(shape))
	}
	n, ok := shapeLen(shape, dt.Size)
	if !ok {
		return nil, fmt.Errorf("bad array shape %v", shape)
	}
	if want := n * dt.Size; len(data) != want {
		return nil, fmt.Errorf("array of shape %v and dtype %s needs %d bytes of data, got %d", shape, dt, want, len(data))
	}
	if len(shape) < 2 {
		fortran = false
	}
	return &Array{DType: dt, Shape: shape, Fortran: fortran, Data: data}, nil
}

// Len returns the number of elements, the product of Shape.
func (a *Array) Len() int {
	n, ok := shapeLen(a.Shape, 0)
	if !ok {
		return 0
	}
	return n
}

// check verifies that the array's data matches its dtype and shape, so that
// the accessors can index it without further checks.
func (a *Array) check() (int, error) {
	if a.DType == nil {
		return 0, errors.New("array has no dtype")
	}
	n, ok := shapeLen(a.Shape, a.DType.Size)
	if !ok {
		return 0, fmt.Errorf("bad array shape %v", a.Shape)
	}
	if a.DType.Kind == 'O' {
		if len(a.Objects) != n {
			return 0, fmt.Errorf("object array of shape %v has %d elements", a.Shape, len(a.Objects))
		}
		return n, nil
	}
	if len(a.Data) != n*a.DType.Size {
		return 0, fmt.Errorf("array of shape %v and dtype %s has %d bytes of data", a.Shape, a.DType, len(a.Data))
	}
	return n, nil
}

// order calls f(storage index, C-order index) for every element.
func (a *Array) order(n int, f func(s, c int)) {
	if !a.Fortran || len(a.Shape) < 2 {
		for i := range n {
			f(i, i)
		}
		return
	}
	// Walk storage order (first axis fastest) keeping the multi-index and
	// its C-order offset up to date.
	nd := len(a.Shape)
	stride := make([]int, nd)
	s := 1
	for k := nd - 1; k >= 0; k-- {
		stride[k] = s
		s *= a.Shape[k]
	}
	idx := make([]int, nd)
	c := 0
	for i := range n {
		f(i, c)
		for k := 0; k < nd; k++ {
			idx[k]++
			c += stride[k]
			if idx[k] < a.Shape[k] {
				break
			}
			c -= idx[k] * stride[k]
			idx[k] = 0
		}
	}
}

// Float64s returns the elements of a numeric or bool array as float64, in
// C order, whatever the byte order.
func (a *Array) Float64s() ([]float64, error) {
	n, err := a.check()
	if err != nil {
		return nil, err
	}
	get, _ := a.DType.numberReader()
	if get == nil {
		return nil, fmt.Errorf("dtype %s is not numeric", a.DType)
	}
	out := make([]float64, n)
	size := a.DType.Size
	a.order(n, func(s, c int) {
		out[c] = get(a.Data[s*size : s*size+size])
	})
	return out, nil
}

// Int64s returns the elements of an integer or bool array as int64, in C
// order. Float arrays are accepted when every element is integral and fits.
func (a *Array) Int64s() ([]int64, error) {
	n, err := a.check()
	if err != nil {
		return nil, err
	}
	d := a.DType
	if d.Kind == 'f' {
		fs, err := a.Float64s()
		if err != nil {
			return nil, err
		}
		out := make([]int64, n)
		for i, f := range fs {
			if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
				return nil, fmt.Errorf("element %d (%v) is not an integer", i, f)
			}
			out[i] = int64(f)
		}
		return out, nil
	}
	if d.Kind != 'i' && d.Kind != 'u' && d.Kind != 'b' {
		return nil, fmt.Errorf("dtype %s is not an integer type", d)
	}
	_, ints := d.numberReader()
	out := make([]int64, n)
	var bad error
	a.order(n, func(s, c int) {
		v, neg := ints(a.Data[s*d.Size : s*d.Size+d.Size])
		if neg && bad == nil {
			bad = fmt.Errorf("element %d does not fit int64", c)
		}
		out[c] = v
	})
	if bad != nil {
		return nil, bad
	}
	return out, nil
}

// numberReader returns a function that decodes one element as float64 for
// numeric and bool dtypes (nil for others); the second function decodes
// integer and bool elements exactly, reporting uint64 values that do not fit
// int64.
func (d *DType) numberReader() (func([]byte) float64, func([]byte) (int64, bool)) {
	bo := d.byteOrder()
	var f func([]byte) float64
	var i func([]byte) (int64, bool)
	switch {
	case d.Kind == 'b' && d.Size == 1:
		i = func(b []byte) (int64, bool) {
			if b[0] != 0 {
				return 1, false
			}
			return 0, false
		}
	case d.Kind == 'i' && d.Size == 1:
		i = func(b []byte) (int64, bool) { return int64(int8(b[0])), false }
	case d.Kind == 'i' && d.Size == 2:
		i = func(b []byte) (int64, bool) { return int64(int16(bo.Uint16(b))), false }
	case d.Kind == 'i' && d.Size == 4:
		i = func(b []byte) (int64, bool) { return int64(int32(bo.Uint32(b))), false }
	case d.Kind == 'i' && d.Size == 8:
		i = func(b []byte) (int64, bool) { return int64(bo.Uint64(b)), false }
	case d.Kind == 'u' && d.Size == 1:
		i = func(b []byte) (int64, bool) { return int64(b[0]), false }
	case d.Kind == 'u' && d.Size == 2:
		i = func(b []byte) (int64, bool) { return int64(bo.Uint16(b)), false }
	case d.Kind == 'u' && d.Size == 4:
		i = func(b []byte) (int64, bool) { return int64(bo.Uint32(b)), false }
	case d.Kind == 'u' && d.Size == 8:
		i = func(b []byte) (int64, bool) {
			u := bo.Uint64(b)
			return int64(u), u > math.MaxInt64
		}
		f = func(b []byte) float64 { return float64(bo.Uint64(b)) }
	case d.Kind == 'f' && d.Size == 2:
		f = func(b []byte) float64 { return halfToFloat64(bo.Uint16(b)) }
	case d.Kind == 'f' && d.Size == 4:
		f = func(b []byte) float64 { return float64(math.Float32frombits(bo.Uint32(b))) }
	case d.Kind == 'f' && d.Size == 8:
		f = func(b []byte) float64 { return math.Float64frombits(bo.Uint64(b)) }
	}
	if f == nil && i != nil {
		f = func(b []byte) float64 {
			v, _ := i(b)
			return float64(v)
		}
	}
	return f, i
}

// halfToFloat64 converts an IEEE 754 binary16 value.
func halfToFloat64(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(frac, -24)
	case 0x1f:
		if frac != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	}
	return sign * math.Ldexp(1+frac/1024, exp-15)
}

// Strings returns the elements of a unicode ('U') or bytes ('S') array, or
// of an object array of str, in C order. Trailing NULs are removed, as
// numpy does.
func (a *Array) Strings() ([]string, error) {
	n, err := a.check()
	if err != nil {
		return nil, err
	}
	d := a.DType
	out := make([]string, n)
	switch d.Kind {
	case 'O':
		for i, v := range a.Objects {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("element %d is %s, not str", i, typeName(v))
			}
			out[i] = s
		}
		return out, nil
	case 'S':
		a.order(n, func(s, c int) {
			b := a.Data[s*d.Size : s*d.Size+d.Size]
			for len(b) > 0 && b[len(b)-1] == 0 {
				b = b[:len(b)-1]
			}
			out[c] = string(b)
		})
		return out, nil
	case 'U':
		if d.Size%4 != 0 {
			return nil, fmt.Errorf("unicode dtype of %d bytes", d.Size)
		}
		bo := d.byteOrder()
		var bad error
		a.order(n, func(s, c int) {
			b := a.Data[s*d.Size : s*d.Size+d.Size]
			for len(b) >= 4 && bo.Uint32(b[len(b)-4:]) == 0 {
				b = b[:len(b)-4]
			}
			buf := make([]byte, 0, len(b)/4)
			for j := 0; j+4 <= len(b); j += 4 {
				r := bo.Uint32(b[j:])
				if r > utf8.MaxRune || (r >= 0xd800 && r < 0xe000) {
					if bad == nil {
						bad = fmt.Errorf("element %d holds invalid code point %#x", c, r)
					}
					return
				}
				buf = utf8.AppendRune(buf, rune(r))
			}
			out[c] = string(buf)
		})
		if bad != nil {
			return nil, bad
		}
		return out, nil
	}
	return nil, fmt.Errorf("dtype %s does not hold strings", d)
}

// Field returns the named field of a structured array as an array of its
// own, with the same shape and order and the field's bytes copied out.
func (a *Array) Field(name string) (*Array, error) {
	n, err := a.check()
	if err != nil {
		return nil, err
	}
	if len(a.DType.Fields) == 0 {
		return nil, fmt.Errorf("dtype %s has no fields", a.DType)
	}
	for _, f := range a.DType.Fields {
		if f.Name != name {
			continue
		}
		if f.DType == nil || f.DType.Kind == 'O' || checkFields(a.DType.Size, []Field{f}) != nil {
			return nil, fmt.Errorf("field %q is malformed", name)
		}
		rec, size := a.DType.Size, f.DType.Size
		data := make([]byte, n*size)
		for i := range n {
			copy(data[i*size:i*size+size], a.Data[i*rec+f.Offset:])
		}
		shape := append([]int{}, a.Shape...)
		return &Array{DType: f.DType, Shape: shape, Fortran: a.Fortran, Data: data}, nil
	}
	return nil, fmt.Errorf("dtype has no field %q", name)
}
