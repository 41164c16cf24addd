package xgboost

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Reading the decoded document (UBJSON or JSON) into the parts of an
// XGBoost model that predict uses (../shared/reference/gbm-onnx-formats.md
// §2): a JSON document decodes with numbers as json.Number, a UBJSON one
// with int64/float64 scalars and typed arrays, and these accessors read
// either. Every error is the caller's *ir.InvalidError.

type path []string

func (p path) String() string { return strings.Join(p, ".") }

func get(v any, keys ...string) (any, error) {
	for i, k := range keys {
		o, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s is not an object", path(keys[:i]))
		}
		if v, ok = o[k]; !ok {
			return nil, fmt.Errorf("no %s", path(keys[:i+1]))
		}
	}
	return v, nil
}

// opt returns the value at keys, or nil when any key is absent.
func opt(v any, keys ...string) any {
	for _, k := range keys {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

func object(v any, what string) (map[string]any, error) {
	o, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not an object", what)
	}
	return o, nil
}

// str reads a string (XGBoost stores its parameters as strings).
func str(v any, what string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s is not a string", what)
	}
	return s, nil
}

// intParam reads a parameter stored as a string ("3") or a number.
func intParam(v any, what string) (int64, error) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	default:
		return integer(v, what)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is %q, not an integer", what, s)
	}
	return n, nil
}

func integer(v any, what string) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v), nil
		}
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s is not an integer", what)
}

// float32Of reads a number as XGBoost's float32 (a JSON number is parsed
// straight to float32, as XGBoost writes the shortest float32 decimal).
func float32Of(v any, what string) (float32, error) {
	switch v := v.(type) {
	case float64:
		return float32(v), nil
	case int64:
		return float32(v), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 32)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a number", what, string(v))
		}
		return float32(f), nil
	}
	return 0, fmt.Errorf("%s is not a number", what)
}

// ints reads an array of integers.
func ints(v any, what string) ([]int64, error) {
	switch v := v.(type) {
	case []int64:
		return v, nil
	case []any:
		out := make([]int64, len(v))
		for i, e := range v {
			n, err := integer(e, what)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case []float32, []float64:
		return nil, fmt.Errorf("%s holds floats, not integers", what)
	}
	return nil, fmt.Errorf("%s is not an array", what)
}

// floats32 reads an array of numbers as float32.
func floats32(v any, what string) ([]float32, error) {
	switch v := v.(type) {
	case []float32:
		return v, nil
	case []float64:
		out := make([]float32, len(v))
		for i, f := range v {
			out[i] = float32(f)
		}
		return out, nil
	case []int64:
		out := make([]float32, len(v))
		for i, n := range v {
			out[i] = float32(n)
		}
		return out, nil
	case []any:
		out := make([]float32, len(v))
		for i, e := range v {
			f, err := float32Of(e, what)
			if err != nil {
				return nil, err
			}
			out[i] = f
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s is not an array", what)
}

// strs reads an array of strings (nil, nil when v is absent).
func strs(v any, what string) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s is not an array of strings", what)
	}
	out := make([]string, len(a))
	for i, e := range a {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%s is not an array of strings", what)
		}
		out[i] = s
	}
	return out, nil
}

// vector32 parses XGBoost's bracketed vector string ("[6.274165E-1]",
// "[0E0,1E0]"), or a bare scalar ("5E-1", older files), to float32s.
func vector32(s, what string) ([]float32, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	var out []float32
	for _, e := range strings.Split(s, ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(e), 32)
		if err != nil {
			return nil, fmt.Errorf("%s is %q, not a number or vector", what, s)
		}
		out = append(out, float32(f))
	}
	return out, nil
}
