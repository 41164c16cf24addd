package pyobj

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxNPYHeader caps the header of an .npy file (numpy itself refuses
// headers over 10,000 bytes unless told otherwise).
const maxNPYHeader = 1 << 20

// maxLitDictKeys caps the keys of a dict in an .npy header, which has 3.
const maxLitDictKeys = 16

// ReadNPY reads one .npy file (format versions 1.0, 2.0 and 3.0). The
// array's data is a copy of the bytes in data. Object arrays, which need
// pickle, are refused.
func ReadNPY(data []byte, lim Limits) (a *Array, err error) {
	defer recoverTo(&err, "npy")
	return readNPY(data, newBudget(lim), true)
}

// readNPY reads an .npy file, charging b. With copyData false the array's
// data shares data.
func readNPY(data []byte, b *budget, copyData bool) (*Array, error) {
	a, err := parseNPY(data, b, copyData)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	return a, nil
}

func parseNPY(data []byte, b *budget, copyData bool) (*Array, error) {
	if len(data) < 10 || string(data[:6]) != "\x93NUMPY" {
		return nil, errors.New("not an .npy file (bad magic)")
	}
	major, minor := data[6], data[7]
	var hlen, start int
	switch {
	case major == 1 && minor == 0:
		hlen, start = int(binary.LittleEndian.Uint16(data[8:])), 10
	case (major == 2 || major == 3) && minor == 0:
		if len(data) < 12 {
			return nil, errors.New("truncated header")
		}
		n := binary.LittleEndian.Uint32(data[8:])
		if n > maxNPYHeader {
			return nil, fmt.Errorf("header of %d bytes is too long", n)
		}
		hlen, start = int(n), 12
	default:
		return nil, fmt.Errorf("unsupported format version %d.%d", major, minor)
	}
	if hlen > len(data)-start {
		return nil, fmt.Errorf("truncated: header of %d bytes, %d left", hlen, len(data)-start)
	}
	raw := data[start : start+hlen]
	var header string
	if major == 3 {
		if !utf8.Valid(raw) {
			return nil, errors.New("header is not valid UTF-8")
		}
		header = string(raw)
	} else {
		header = latin1String(raw)
	}
	p := litParser{s: header, maxDepth: b.lim.MaxDepth}
	v, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	dict, ok := v.(litDict)
	if !ok || len(dict.keys) != 3 {
		return nil, errors.New("header is not a dict of descr, fortran_order and shape")
	}
	var descr, fortran, shapeV any
	var found int
	for i, k := range dict.keys {
		switch k {
		case "descr":
			descr = dict.vals[i]
		case "fortran_order":
			fortran = dict.vals[i]
		case "shape":
			shapeV = dict.vals[i]
		default:
			continue
		}
		found++
	}
	if found != 3 {
		return nil, errors.New("header is not a dict of descr, fortran_order and shape")
	}
	dt, err := descrDType(descr)
	if err != nil {
		return nil, fmt.Errorf("descr: %w", err)
	}
	fo, ok := fortran.(bool)
	if !ok {
		return nil, errors.New("fortran_order is not a bool")
	}
	st, ok := shapeV.(litTuple)
	if !ok || len(st) > maxDims {
		return nil, errors.New("shape is not a tuple of at most 64 dimensions")
	}
	shape := make([]int, len(st))
	for i, x := range st {
		n, ok := x.(int64)
		if !ok || n < 0 || int64(int(n)) != n {
			return nil, fmt.Errorf("bad dimension %v", x)
		}
		shape[i] = int(n)
	}
	body := data[start+hlen:]
	n, ok := shapeLen(shape, dt.Size)
	if !ok || n*dt.Size != len(body) {
		return nil, fmt.Errorf("shape %v of %s needs more or less data than the %d bytes present", shape, dt, len(body))
	}
	if err := b.addBytes(int64(len(body))); err != nil {
		return nil, err
	}
	if copyData {
		body = bytes.Clone(body)
	}
	return newArray(dt, shape, fo, body)
}

// latin1String decodes latin-1 bytes.
func latin1String(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// descrDType converts an .npy descr: a type string, or a list of (name,
// type string) fields in record order, where ("", "|Vn") entries are
// padding.
func descrDType(v any) (*DType, error) {
	switch v := v.(type) {
	case string:
		return typestrDType(v)
	case litList:
		if len(v) > maxFields {
			return nil, fmt.Errorf("%d fields (at most %d)", len(v), maxFields)
		}
		dt := &DType{Kind: 'V'}
		for _, f := range v {
			t, ok := f.(litTuple)
			if !ok || len(t) != 2 {
				return nil, errors.New("fields must be (name, type) pairs; sub-arrays and titles are not supported")
			}
			name, ok1 := t[0].(string)
			typ, ok2 := t[1].(string)
			if !ok1 || !ok2 {
				return nil, errors.New("fields must be (name, type string) pairs; nested structured dtypes are not supported")
			}
			fdt, err := typestrDType(typ)
			if err != nil {
				return nil, err
			}
			if dt.Size > 1<<30-fdt.Size {
				return nil, errors.New("record too large")
			}
			if name == "" && fdt.Kind == 'V' {
				dt.Size += fdt.Size // padding
				continue
			}
			dt.Fields = append(dt.Fields, Field{Name: name, DType: fdt, Offset: dt.Size})
			dt.Size += fdt.Size
		}
		if len(dt.Fields) == 0 {
			return nil, errors.New("structured dtype without fields")
		}
		if err := checkFields(dt.Size, dt.Fields); err != nil {
			return nil, err
		}
		return dt, nil
	}
	return nil, errors.New("not a type string or a list of fields")
}

// typestrDType converts a type string such as "<f8".
func typestrDType(s string) (*DType, error) {
	order, kind, n, err := parseTypestr(s)
	if err != nil {
		return nil, fmt.Errorf("type %q: %w", s, err)
	}
	if kind == 'O' {
		return nil, errors.New("object arrays cannot be read from .npy files")
	}
	return makeDType(kind, n, order == '>')
}

// Python literal values, as written in .npy headers.
type (
	litTuple []any
	litList  []any
	litDict  struct {
		keys []string
		vals []any
	}
)

// litParser parses the Python literals numpy writes in .npy headers:
// dicts with string keys, lists, tuples, strings, integers, True, False
// and None.
type litParser struct {
	s        string
	pos      int
	maxDepth int
}

func (p *litParser) parse() (any, error) {
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.s) {
		return nil, p.errf("unexpected %q", p.s[p.pos])
	}
	return v, nil
}

func (p *litParser) errf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *litParser) space() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *litParser) value(depth int) (any, error) {
	if depth > p.maxDepth {
		return nil, fmt.Errorf("nested deeper than %d (MaxDepth): %w", p.maxDepth, ErrLimit)
	}
	p.space()
	if p.pos >= len(p.s) {
		return nil, p.errf("unexpected end")
	}
	switch c := p.s[p.pos]; {
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || c >= '0' && c <= '9':
		return p.int()
	case c == '(' || c == '[':
		return p.seq(depth)
	case c == '{':
		return p.dict(depth)
	}
	for _, w := range []struct {
		word string
		v    any
	}{{"True", true}, {"False", false}, {"None", nil}} {
		if strings.HasPrefix(p.s[p.pos:], w.word) {
			p.pos += len(w.word)
			return w.v, nil
		}
	}
	return nil, p.errf("unexpected %q", p.s[p.pos])
}

func (p *litParser) int() (any, error) {
	start := p.pos
	if p.s[p.pos] == '-' {
		p.pos++
	}
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		p.pos++
	}
	n, err := strconv.ParseInt(p.s[start:p.pos], 10, 64)
	if err != nil {
		return nil, p.errf("bad integer %q", p.s[start:p.pos])
	}
	if p.pos < len(p.s) && p.s[p.pos] == 'L' { // Python 2
		p.pos++
	}
	return n, nil
}

// seq parses a tuple or list. A parenthesised single value without a
// comma is that value, as in Python.
func (p *litParser) seq(depth int) (any, error) {
	open := p.s[p.pos]
	closer := byte(')')
	if open == '[' {
		closer = ']'
	}
	p.pos++
	var items []any
	comma := false
	for {
		p.space()
		if p.pos < len(p.s) && p.s[p.pos] == closer {
			p.pos++
			break
		}
		if len(items) > 0 && !comma {
			return nil, p.errf("expected ',' or %q", closer)
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		p.space()
		comma = p.pos < len(p.s) && p.s[p.pos] == ','
		if comma {
			p.pos++
		}
	}
	if open == '[' {
		return litList(items), nil
	}
	if len(items) == 1 && !comma {
		return items[0], nil
	}
	return litTuple(items), nil
}

func (p *litParser) dict(depth int) (any, error) {
	p.pos++
	var d litDict
	for {
		p.space()
		if p.pos < len(p.s) && p.s[p.pos] == '}' {
			p.pos++
			return d, nil
		}
		if len(d.keys) > 0 {
			if p.pos >= len(p.s) || p.s[p.pos] != ',' {
				return nil, p.errf("expected ',' or '}'")
			}
			p.pos++
			p.space()
			if p.pos < len(p.s) && p.s[p.pos] == '}' {
				p.pos++
				return d, nil
			}
		}
		k, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok {
			return nil, p.errf("dict key is not a string")
		}
		if len(d.keys) >= maxLitDictKeys {
			return nil, p.errf("dict has more than %d keys", maxLitDictKeys)
		}
		for _, k2 := range d.keys {
			if k2 == key {
				return nil, p.errf("duplicate key %q", key)
			}
		}
		p.space()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			return nil, p.errf("expected ':'")
		}
		p.pos++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		d.keys = append(d.keys, key)
		d.vals = append(d.vals, v)
	}
}

// str parses a quoted string with Python's common escapes.
func (p *litParser) str() (any, error) {
	q := p.s[p.pos]
	p.pos++
	var sb strings.Builder
	for {
		if p.pos >= len(p.s) {
			return nil, p.errf("unterminated string")
		}
		c := p.s[p.pos]
		switch {
		case c == q:
			p.pos++
			return sb.String(), nil
		case c == '\n':
			return nil, p.errf("newline in string")
		case c != '\\':
			sb.WriteByte(c)
			p.pos++
			continue
		}
		p.pos++
		if p.pos >= len(p.s) {
			return nil, p.errf("unterminated string")
		}
		e := p.s[p.pos]
		p.pos++
		switch e {
		case '\\', '\'', '"':
			sb.WriteByte(e)
		case 'n':
			sb.WriteByte('\n')
		case 't':
			sb.WriteByte('\t')
		case 'r':
			sb.WriteByte('\r')
		case '0':
			sb.WriteByte(0)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if p.pos+n > len(p.s) {
				return nil, p.errf("bad escape")
			}
			r, err := strconv.ParseUint(p.s[p.pos:p.pos+n], 16, 32)
			if err != nil || r > utf8.MaxRune || (r >= 0xd800 && r < 0xe000) {
				return nil, p.errf("bad escape")
			}
			p.pos += n
			sb.WriteRune(rune(r))
		default:
			return nil, p.errf("unsupported escape \\%c", e)
		}
	}
}
