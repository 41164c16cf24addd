package app

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// decodeFlat is a fast path of json.Unmarshal for the most common request
// shape: one flat object of plain scalars ({"run_id": "...", "key": "loss",
// "value": 0.5, "step": 3}) decoded into a struct of opt* fields. It
// validates the whole input first, then hands each value to the field's
// UnmarshalJSON, in input order, exactly as encoding/json would; it returns
// handled=false for anything else (nested values, escapes, non-ASCII,
// syntax errors, fields of other types), and the caller falls back to
// encoding/json, which then produces the result and the error message.
// TestDecodeFlatMatchesEncodingJSON checks the two agree.
func decodeFlat(data []byte, v any) (handled bool, err error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return false, nil
	}
	ft := flatTypeOf(rv.Elem().Type())
	if ft == nil {
		return false, nil
	}
	var spans [32][4]int // key start, key end, value start, value end
	n, ok := scanFlat(data, spans[:])
	if !ok {
		return false, nil
	}
	// Resolve every key first: a field outside the fast path anywhere
	// means encoding/json decodes the whole request.
	var idx [32]int
	for i := 0; i < n; i++ {
		key := data[spans[i][0]:spans[i][1]]
		idx[i] = ft.lookup(key)
		if idx[i] >= 0 && !ft.fields[idx[i]].fast {
			return false, nil
		}
	}
	elem := rv.Elem()
	for i := 0; i < n; i++ {
		if idx[i] < 0 {
			continue // unknown fields are ignored
		}
		f := &ft.fields[idx[i]]
		u := elem.FieldByIndex(f.index).Addr().Interface().(json.Unmarshaler)
		if err := u.UnmarshalJSON(data[spans[i][2]:spans[i][3]]); err != nil {
			return true, err
		}
	}
	return true, nil
}

type flatField struct {
	name  string
	index []int
	fast  bool // an opt* type, decoded by its UnmarshalJSON
}

type flatType struct{ fields []flatField }

// lookup finds a field as encoding/json does: the exact name, else a
// case-insensitive match (keys here are ASCII).
func (t *flatType) lookup(key []byte) int {
	for i := range t.fields {
		if t.fields[i].name == string(key) {
			return i
		}
	}
	for i := range t.fields {
		if strings.EqualFold(t.fields[i].name, string(key)) {
			return i
		}
	}
	return -1
}

var (
	flatTypes sync.Map // reflect.Type -> *flatType (nil: never fast)
	optTypes  = map[reflect.Type]bool{reflect.TypeFor[optString](): true, reflect.TypeFor[optInt](): true, reflect.TypeFor[optFloat](): true, reflect.TypeFor[optBool](): true}
)

func flatTypeOf(t reflect.Type) *flatType {
	if v, ok := flatTypes.Load(t); ok {
		return v.(*flatType)
	}
	ft := &flatType{}
	if !collectFlat(t, nil, ft) {
		ft = nil
	}
	if ft != nil { // names must be unique, or encoding/json's precedence rules apply
		seen := map[string]bool{}
		for _, f := range ft.fields {
			if seen[strings.ToLower(f.name)] {
				ft = nil
				break
			}
			seen[strings.ToLower(f.name)] = true
		}
	}
	flatTypes.Store(t, ft)
	return ft
}

func collectFlat(t reflect.Type, index []int, ft *flatType) bool {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		idx := append(append([]int(nil), index...), i)
		if f.Anonymous && name == "" {
			if f.Type.Kind() != reflect.Struct || !collectFlat(f.Type, idx, ft) {
				return false
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		ft.fields = append(ft.fields, flatField{name: name, index: idx, fast: optTypes[f.Type]})
	}
	return true
}

// scanFlat validates data as a flat JSON object of scalars with plain
// ASCII strings and records each member's key and value spans. It returns
// ok=false for anything it does not accept.
func scanFlat(data []byte, spans [][4]int) (n int, ok bool) {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return 0, false
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return 0, skipWS(data, i+1) == len(data)
	}
	for {
		if n == len(spans) {
			return 0, false
		}
		ks, ke, ok := scanPlainString(data, i)
		if !ok {
			return 0, false
		}
		i = skipWS(data, ke)
		if i >= len(data) || data[i] != ':' {
			return 0, false
		}
		i = skipWS(data, i+1)
		vs := i
		if i >= len(data) {
			return 0, false
		}
		switch c := data[i]; {
		case c == '"':
			_, e, ok := scanPlainString(data, i)
			if !ok {
				return 0, false
			}
			i = e
		case c == '-' || (c >= '0' && c <= '9'):
			e, ok := scanNumber(data, i)
			if !ok {
				return 0, false
			}
			i = e
		case hasLit(data, i, "true"):
			i += 4
		case hasLit(data, i, "false"):
			i += 5
		case hasLit(data, i, "null"):
			i += 4
		default:
			return 0, false
		}
		spans[n] = [4]int{ks + 1, ke - 1, vs, i}
		n++
		i = skipWS(data, i)
		if i >= len(data) {
			return 0, false
		}
		if data[i] == '}' {
			return n, skipWS(data, i+1) == len(data)
		}
		if data[i] != ',' {
			return 0, false
		}
		i = skipWS(data, i+1)
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func hasLit(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// scanPlainString accepts a string of printable ASCII without escapes
// starting at b[i]; end is just past the closing quote.
func scanPlainString(b []byte, i int) (start, end int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return i, j + 1, true
		case c < 0x20 || c >= 0x80 || c == '\\':
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// scanNumber accepts a JSON number: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func scanNumber(b []byte, i int) (int, bool) {
	digits := func(i int) int {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}
