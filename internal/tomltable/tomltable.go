// Package tomltable reads and writes config values that are TOML arrays of
// tables ([[scheduler.jobs]], [[registry.gates]]): the config layer hands the
// parsed TOML value over, and asks for it back as inline tables when it
// prints the effective configuration.
package tomltable

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Decode converts a parsed TOML array of tables into entries of T, through
// T's JSON tags. Unknown keys are errors; an empty array is nil. what names
// the table in messages, e.g. "[[scheduler.jobs]]".
func Decode[T any](v any, what string) ([]T, error) {
	if v == nil {
		return nil, nil
	}
	bad := fmt.Errorf("must be an array of tables (%s)", what)
	b, err := json.Marshal(v)
	if err != nil || !bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		return nil, bad
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, bad
	}
	if len(raw) == 0 {
		return nil, nil
	}
	out := make([]T, 0, len(raw))
	for i, r := range raw {
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		var x T
		if err := dec.Decode(&x); err != nil {
			return nil, fmt.Errorf("entry %d: %s", i+1, jsonErr(err))
		}
		out = append(out, x)
	}
	return out, nil
}

// Encode renders entries as one TOML value: an array of inline tables, which
// Decode reads back to the same entries.
func Encode[T any](items []T) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		raw, _ := json.Marshal(it)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		_ = dec.Decode(&m)
		writeTOMLValue(&b, m)
	}
	b.WriteByte(']')
	return b.String()
}

func writeTOMLValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(tomlKey(k))
			b.WriteString(" = ")
			writeTOMLValue(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writeTOMLValue(b, e)
		}
		b.WriteByte(']')
	case string:
		b.WriteString(tomlString(x))
	case json.Number:
		b.WriteString(x.String())
	case bool:
		b.WriteString(strconv.FormatBool(x))
	default:
		b.WriteString(tomlString(fmt.Sprint(x)))
	}
}

func tomlKey(k string) string {
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return tomlString(k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// jsonErr makes decoding errors read like config errors.
func jsonErr(err error) string {
	var ute *json.UnmarshalTypeError
	if e, ok := err.(*json.UnmarshalTypeError); ok {
		ute = e
		return fmt.Sprintf("%s: must be %s (got %s)", ute.Field, ute.Type, ute.Value)
	}
	return err.Error()
}
