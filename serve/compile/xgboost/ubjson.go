package xgboost

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// A small decoder of Universal Binary JSON (ubjson.org, draft 12) as
// XGBoost writes it (model.ubj): big-endian numbers, objects whose keys
// carry no 'S' marker, and "optimized" arrays ('$' type, '#' count)
// decoded straight into typed slices. Every value is one of:
//
//	map[string]any  object (a repeated key keeps its last value)
//	[]any           array of mixed values
//	[]float32, []float64, []int64   optimized numeric arrays
//	string, float64, int64, bool, nil
//
// A model file is hostile input: lengths and counts are checked against
// the bytes left before anything is allocated (so a decoded document is at
// most a small multiple of the file's size), nesting is bounded, and a
// malformed file is an error, never a panic.

// maxDepth bounds nesting (XGBoost's documents are 7 levels deep).
const maxDepth = 64

type ubjDecoder struct {
	b     []byte
	pos   int
	depth int
}

func decodeUBJSON(b []byte) (any, error) {
	d := &ubjDecoder{b: b}
	v, err := d.value()
	if err != nil {
		return nil, fmt.Errorf("ubjson at byte %d: %w", d.pos, err)
	}
	for d.pos < len(d.b) && d.b[d.pos] == 'N' {
		d.pos++
	}
	if d.pos != len(d.b) {
		return nil, fmt.Errorf("ubjson: %d bytes after the document", len(d.b)-d.pos)
	}
	return v, nil
}

var errTruncated = errors.New("truncated")

func (d *ubjDecoder) left() int { return len(d.b) - d.pos }

func (d *ubjDecoder) byte() (byte, error) {
	if d.pos >= len(d.b) {
		return 0, errTruncated
	}
	c := d.b[d.pos]
	d.pos++
	return c, nil
}

func (d *ubjDecoder) take(n int) ([]byte, error) {
	if n < 0 || n > d.left() {
		return nil, errTruncated
	}
	s := d.b[d.pos : d.pos+n]
	d.pos += n
	return s, nil
}

// marker returns the next type marker, skipping no-ops.
func (d *ubjDecoder) marker() (byte, error) {
	for {
		c, err := d.byte()
		if err != nil || c != 'N' {
			return c, err
		}
	}
}

func intSize(m byte) int {
	switch m {
	case 'i', 'U':
		return 1
	case 'I':
		return 2
	case 'l':
		return 4
	case 'L':
		return 8
	}
	return 0
}

// intOf reads an integer of marker m.
func (d *ubjDecoder) intOf(m byte) (int64, error) {
	b, err := d.take(intSize(m))
	if err != nil {
		return 0, err
	}
	switch m {
	case 'i':
		return int64(int8(b[0])), nil
	case 'U':
		return int64(b[0]), nil
	case 'I':
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case 'l':
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// length reads a length or count: an integer with its marker, at least 0
// and at most max.
func (d *ubjDecoder) length(max int) (int, error) {
	m, err := d.marker()
	if err != nil {
		return 0, err
	}
	if intSize(m) == 0 {
		return 0, fmt.Errorf("a length with marker %q, not an integer", m)
	}
	n, err := d.intOf(m)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > int64(max) {
		return 0, fmt.Errorf("length %d with %d bytes left", n, d.left())
	}
	return int(n), nil
}

func (d *ubjDecoder) value() (any, error) {
	m, err := d.marker()
	if err != nil {
		return nil, err
	}
	return d.valueOf(m)
}

// valueOf decodes a value whose marker m was read.
func (d *ubjDecoder) valueOf(m byte) (any, error) {
	switch m {
	case 'Z':
		return nil, nil
	case 'T':
		return true, nil
	case 'F':
		return false, nil
	case 'i', 'U', 'I', 'l', 'L':
		return d.intOf(m)
	case 'd':
		b, err := d.take(4)
		if err != nil {
			return nil, err
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
	case 'D':
		b, err := d.take(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	case 'C':
		c, err := d.byte()
		return string(rune(c)), err
	case 'S', 'H':
		n, err := d.length(d.left())
		if err != nil {
			return nil, err
		}
		s, err := d.take(n)
		return string(s), err
	case '[':
		return d.array()
	case '{':
		return d.object()
	}
	return nil, fmt.Errorf("unknown marker %q", m)
}

func (d *ubjDecoder) enter() error {
	if d.depth++; d.depth > maxDepth {
		return fmt.Errorf("nested deeper than %d", maxDepth)
	}
	return nil
}

// container reads the optional '$' type and '#' count after '[' or '{':
// typ 0 means untyped, count -1 means "until the closing marker".
func (d *ubjDecoder) container() (typ byte, count int, err error) {
	count = -1
	if d.left() > 0 && d.b[d.pos] == '$' {
		d.pos++
		if typ, err = d.byte(); err != nil {
			return 0, 0, err
		}
		if d.left() == 0 || d.b[d.pos] != '#' {
			return 0, 0, errors.New("a typed container without a count")
		}
	}
	if d.left() > 0 && d.b[d.pos] == '#' {
		d.pos++
		// An element takes at least one byte, except in a typed
		// container of Z/T/F/N (which nothing here uses).
		if count, err = d.length(d.left()); err != nil {
			return 0, 0, err
		}
	}
	return typ, count, nil
}

func (d *ubjDecoder) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer func() { d.depth-- }()
	typ, count, err := d.container()
	if err != nil {
		return nil, err
	}
	if typ != 0 {
		return d.typedArray(typ, count)
	}
	var out []any
	if count >= 0 {
		out = make([]any, 0, count)
		for range count {
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	out = []any{}
	for {
		m, err := d.marker()
		if err != nil {
			return nil, err
		}
		if m == ']' {
			return out, nil
		}
		v, err := d.valueOf(m)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// typedArray decodes count elements of marker typ, packed.
func (d *ubjDecoder) typedArray(typ byte, count int) (any, error) {
	size := intSize(typ)
	switch typ {
	case 'd':
		size = 4
	case 'D':
		size = 8
	}
	if size == 0 {
		// Typed arrays of strings, objects or arrays: each element is a
		// value without its marker.
		switch typ {
		case 'S', 'H', '{', '[', 'C':
		default:
			return nil, fmt.Errorf("an array of type %q", typ)
		}
		out := make([]any, 0, min(count, d.left()))
		for range count {
			v, err := d.valueOf(typ)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	raw, err := d.take(count * size)
	if err != nil {
		return nil, err
	}
	switch typ {
	case 'd':
		out := make([]float32, count)
		for i := range out {
			out[i] = math.Float32frombits(binary.BigEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	case 'D':
		out := make([]float64, count)
		for i := range out {
			out[i] = math.Float64frombits(binary.BigEndian.Uint64(raw[8*i:]))
		}
		return out, nil
	}
	out := make([]int64, count)
	for i := range out {
		e := raw[size*i : size*(i+1)]
		switch typ {
		case 'i':
			out[i] = int64(int8(e[0]))
		case 'U':
			out[i] = int64(e[0])
		case 'I':
			out[i] = int64(int16(binary.BigEndian.Uint16(e)))
		case 'l':
			out[i] = int64(int32(binary.BigEndian.Uint32(e)))
		default:
			out[i] = int64(binary.BigEndian.Uint64(e))
		}
	}
	return out, nil
}

func (d *ubjDecoder) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer func() { d.depth-- }()
	typ, count, err := d.container()
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for i := 0; count < 0 || i < count; i++ {
		if count < 0 {
			for d.left() > 0 && d.b[d.pos] == 'N' {
				d.pos++
			}
			if d.left() > 0 && d.b[d.pos] == '}' {
				d.pos++
				return out, nil
			}
		}
		n, err := d.length(d.left())
		if err != nil {
			return nil, fmt.Errorf("a key: %w", err)
		}
		k, err := d.take(n)
		if err != nil {
			return nil, err
		}
		var v any
		if typ != 0 {
			v, err = d.valueOf(typ)
		} else {
			v, err = d.value()
		}
		if err != nil {
			return nil, err
		}
		out[string(k)] = v
	}
	return out, nil
}
