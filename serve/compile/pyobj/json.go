package pyobj

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonKind is the type of a JSON value.
type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

// jsonValue is a parsed JSON value. Objects keep their keys in order.
type jsonValue struct {
	kind  jsonKind
	b     bool
	s     string       // string value, or a number's text
	items []*jsonValue // array elements, or object values
	keys  []string     // object keys
}

// get returns an object's member, or nil.
func (j *jsonValue) get(key string) *jsonValue {
	if j == nil || j.kind != jsonObject {
		return nil
	}
	for i, k := range j.keys {
		if k == key {
			return j.items[i]
		}
	}
	return nil
}

// str returns an object's string member.
func (j *jsonValue) str(key string) (string, bool) {
	v := j.get(key)
	if v == nil || v.kind != jsonString {
		return "", false
	}
	return v.s, true
}

// jsonParser parses JSON as Python's json module writes it: standard JSON
// plus the numbers NaN, Infinity and -Infinity. Every value is charged to
// the budget, and nesting is limited.
type jsonParser struct {
	s        string
	pos      int
	b        *budget
	maxDepth int
}

func parseJSON(s string, b *budget, maxDepth int) (*jsonValue, error) {
	p := jsonParser{s: s, b: b, maxDepth: maxDepth}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.s) {
		return nil, p.errf("unexpected data after the value")
	}
	return v, nil
}

func (p *jsonParser) errf(format string, args ...any) error {
	return fmt.Errorf("JSON at byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *jsonParser) space() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\r', '\n':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (*jsonValue, error) {
	if depth > p.maxDepth {
		return nil, fmt.Errorf("JSON nested deeper than %d: %w", p.maxDepth, ErrLimit)
	}
	if err := p.b.addValues(1); err != nil {
		return nil, err
	}
	p.space()
	if p.pos >= len(p.s) {
		return nil, p.errf("unexpected end")
	}
	switch c := p.s[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &jsonValue{kind: jsonString, s: s}, nil
	case c == '-' || c >= '0' && c <= '9' || c == 'N' || c == 'I':
		return p.number()
	}
	for _, w := range []struct {
		word string
		v    jsonValue
	}{{"true", jsonValue{kind: jsonBool, b: true}}, {"false", jsonValue{kind: jsonBool}}, {"null", jsonValue{kind: jsonNull}}} {
		if strings.HasPrefix(p.s[p.pos:], w.word) {
			p.pos += len(w.word)
			v := w.v
			return &v, nil
		}
	}
	return nil, p.errf("unexpected %q", p.s[p.pos])
}

func (p *jsonParser) object(depth int) (*jsonValue, error) {
	p.pos++
	v := &jsonValue{kind: jsonObject}
	var seen map[string]bool
	for {
		p.space()
		if p.pos < len(p.s) && p.s[p.pos] == '}' && len(v.keys) == 0 {
			p.pos++
			return v, nil
		}
		if p.pos >= len(p.s) || p.s[p.pos] != '"' {
			return nil, p.errf("expected a string key")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		// Python keeps the last of two equal keys; a duplicate has no
		// honest use, so refuse it.
		if seen == nil && len(v.keys) >= smallDict {
			seen = make(map[string]bool, 2*len(v.keys))
			for _, k2 := range v.keys {
				seen[k2] = true
			}
		}
		if seen != nil {
			if seen[k] {
				return nil, p.errf("duplicate key %q", k)
			}
			seen[k] = true
		} else {
			for _, k2 := range v.keys {
				if k2 == k {
					return nil, p.errf("duplicate key %q", k)
				}
			}
		}
		p.space()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			return nil, p.errf("expected ':'")
		}
		p.pos++
		item, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, k)
		v.items = append(v.items, item)
		p.space()
		if p.pos >= len(p.s) {
			return nil, p.errf("unexpected end")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return v, nil
		default:
			return nil, p.errf("expected ',' or '}'")
		}
	}
}

func (p *jsonParser) array(depth int) (*jsonValue, error) {
	p.pos++
	v := &jsonValue{kind: jsonArray}
	p.space()
	if p.pos < len(p.s) && p.s[p.pos] == ']' {
		p.pos++
		return v, nil
	}
	for {
		item, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v.items = append(v.items, item)
		p.space()
		if p.pos >= len(p.s) {
			return nil, p.errf("unexpected end")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return v, nil
		default:
			return nil, p.errf("expected ',' or ']'")
		}
	}
}

func (p *jsonParser) number() (*jsonValue, error) {
	for _, w := range []string{"NaN", "Infinity", "-Infinity"} {
		if strings.HasPrefix(p.s[p.pos:], w) {
			p.pos += len(w)
			return &jsonValue{kind: jsonNumber, s: w}, nil
		}
	}
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.s[p.pos] == '-' {
		p.pos++
	}
	if p.pos < len(p.s) && p.s[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return nil, p.errf("bad number")
	}
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.errf("bad number")
		}
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.s) && (p.s[p.pos] == '+' || p.s[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errf("bad number")
		}
	}
	if err := p.b.addBytes(int64(p.pos - start)); err != nil {
		return nil, err
	}
	return &jsonValue{kind: jsonNumber, s: p.s[start:p.pos]}, nil
}

// str parses a JSON string; lone surrogates and raw control characters are
// refused.
func (p *jsonParser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.s) && p.s[p.pos] != '"' && p.s[p.pos] != '\\' && p.s[p.pos] >= 0x20 {
		p.pos++
	}
	if p.pos < len(p.s) && p.s[p.pos] == '"' {
		s := p.s[start:p.pos]
		p.pos++
		if !utf8.ValidString(s) {
			return "", p.errf("string is not valid UTF-8")
		}
		if err := p.b.addBytes(int64(len(s))); err != nil {
			return "", err
		}
		return s, nil
	}
	var sb strings.Builder
	sb.WriteString(p.s[start:p.pos])
	for {
		if p.pos >= len(p.s) {
			return "", p.errf("unterminated string")
		}
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			s := sb.String()
			if !utf8.ValidString(s) {
				return "", p.errf("string is not valid UTF-8")
			}
			if err := p.b.addBytes(int64(len(s))); err != nil {
				return "", err
			}
			return s, nil
		case c < 0x20:
			return "", p.errf("control character in string")
		case c != '\\':
			sb.WriteByte(c)
			p.pos++
			continue
		}
		p.pos++
		if p.pos >= len(p.s) {
			return "", p.errf("unterminated string")
		}
		e := p.s[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			sb.WriteByte(e)
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				if !strings.HasPrefix(p.s[p.pos:], `\u`) {
					return "", p.errf("lone surrogate in string")
				}
				p.pos += 2
				r2, err := p.hex4()
				if err != nil {
					return "", err
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return "", p.errf("lone surrogate in string")
				}
			}
			sb.WriteRune(r)
		default:
			return "", p.errf("bad escape \\%c", e)
		}
	}
}

func (p *jsonParser) hex4() (rune, error) {
	if p.pos+4 > len(p.s) {
		return 0, p.errf("bad \\u escape")
	}
	n, err := strconv.ParseUint(p.s[p.pos:p.pos+4], 16, 32)
	if err != nil {
		return 0, p.errf("bad \\u escape")
	}
	p.pos += 4
	return rune(n), nil
}

// maxIntDigits is the longest integer Python converts from text by default
// (sys.int_info.default_max_str_digits).
const maxIntDigits = 4300

// jsonNumberValue converts a number as Python's json module does: an int
// unless it has a fraction or exponent (or is NaN or infinite).
func jsonNumberValue(s string) (Value, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	if strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("bad number %q", s)
		}
		return f, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if len(s) > maxIntDigits+1 {
		return nil, fmt.Errorf("integer of %d digits is too long", len(s))
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("bad number %q", s)
	}
	return bigOrInt(n), nil
}

// jsonToValue converts plain JSON (a skops JsonNode's content) to a Value:
// arrays become lists and objects dicts. It is recursive, but the parser
// has already limited the depth.
func jsonToValue(j *jsonValue, c *containers) (Value, error) {
	switch j.kind {
	case jsonNull:
		return nil, nil
	case jsonBool:
		return j.b, nil
	case jsonNumber:
		return jsonNumberValue(j.s)
	case jsonString:
		return j.s, nil
	case jsonArray:
		l := &List{Items: make([]Value, len(j.items))}
		for i, it := range j.items {
			v, err := jsonToValue(it, c)
			if err != nil {
				return nil, err
			}
			l.Items[i] = v
		}
		return l, nil
	case jsonObject:
		d := &Dict{}
		for i, it := range j.items {
			v, err := jsonToValue(it, c)
			if err != nil {
				return nil, err
			}
			if err := c.setItem(d, j.keys[i], v); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	return nil, errors.New("bad JSON value")
}
