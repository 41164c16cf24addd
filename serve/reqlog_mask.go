package serve

// Field masking for the request log. The rules apply by field name to the
// inputs of every request format the inference endpoints accept:
//
//	{"dataframe_split": {"columns": [...], "data": [[...]]}}  by column
//	{"dataframe_records": [{name: value}, ...]}               by key
//	{"instances": [{name: value}, ...]}, {"inputs": {name: [...]}}
//	                                                          by key (a list value: each element)
//	any other JSON object, at any depth                       by key
//	a CSV body (text/csv, or a JSON string), header line first by column
//	positional rows ({"data": [...]}, {"inputs": [[...]]},
//	  "dataframe_split" without "columns")                    by position, with
//	                                                          RequestLog.SetInputNames
//
// A body that is not JSON, or that these rules cannot walk, is replaced as
// a whole when any rule is configured (fail closed).

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

type fieldAction uint8

const (
	actKeep fieldAction = iota
	actMask
	actHash
	actDrop
)

// maskValue replaces masked values.
const maskValue = "***"

// redacted replaces a body the rules could not walk.
var redacted = json.RawMessage(`"*** (not stored: the body could not be masked)"`)

type masker struct {
	rules map[string]fieldAction // lower-case name → action
	salt  []byte
}

func newMasker(dir string, cfg RequestLogConfig) (*masker, error) {
	m := &masker{rules: map[string]fieldAction{}}
	for _, l := range []struct {
		names []string
		act   fieldAction
	}{{cfg.MaskFields, actMask}, {cfg.HashFields, actHash}, {cfg.DropFields, actDrop}} {
		for _, n := range l.names {
			if n = strings.ToLower(strings.TrimSpace(n)); n != "" && m.rules[n] < l.act {
				m.rules[n] = l.act
			}
		}
	}
	if len(cfg.HashFields) > 0 {
		salt, err := loadSalt(filepath.Join(dir, "hash.salt"))
		if err != nil {
			return nil, err
		}
		m.salt = salt
	}
	return m, nil
}

// loadSalt reads the salt file, creating it with 32 random bytes.
func loadSalt(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 16 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("serve: request log salt: %w", err)
	}
	b = make([]byte, 32)
	_, _ = rand.Read(b)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, fmt.Errorf("serve: request log salt: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("serve: request log salt: %w", err)
	}
	return b, nil
}

func (m *masker) action(name string) fieldAction {
	if len(m.rules) == 0 {
		return actKeep
	}
	if a, ok := m.rules[name]; ok {
		return a
	}
	return m.rules[strings.ToLower(name)]
}

// apply returns in with the rules applied; positional are the column names
// of positional rows (may be nil).
func (m *masker) apply(in json.RawMessage, positional []string) json.RawMessage {
	if len(m.rules) == 0 || len(in) == 0 {
		return validJSON(in)
	}
	if !json.Valid(in) { // a text/csv body
		v, ok := m.csv(string(in))
		if !ok {
			return redacted
		}
		b, _ := json.Marshal(v)
		return b
	}
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return redacted
	}
	var ok bool
	switch x := v.(type) {
	case map[string]any:
		ok = m.top(x, positional)
	case string:
		v, ok = m.csv(x)
	case []any:
		ok = true
		for i, r := range x {
			x[i] = m.walk(r)
		}
	default:
		ok = true // a bare number or bool has no names
	}
	if !ok {
		return redacted
	}
	b, err := json.Marshal(v)
	if err != nil {
		return redacted
	}
	return b
}

// top handles the request envelope: the protocol keys are descended into,
// not matched as field names.
func (m *masker) top(o map[string]any, positional []string) bool {
	for k, v := range o {
		switch k {
		case "dataframe_split":
			s, isObj := v.(map[string]any)
			if !isObj {
				return false
			}
			if !m.split(s, positional) {
				return false
			}
		case "dataframe_records", "instances", "inputs", "data":
			o[k] = m.rows(v, positional)
		default:
			if m.field(o, k) {
				continue
			}
			o[k] = m.walk(v)
		}
	}
	return true
}

// field applies the rule for key k of o; it reports whether one applied.
func (m *masker) field(o map[string]any, k string) bool {
	switch a := m.action(k); a {
	case actDrop:
		delete(o, k)
	case actMask, actHash:
		o[k] = m.replaceEach(o[k], a)
	default:
		return false
	}
	return true
}

// walk applies the rules to every object key at any depth.
func (m *masker) walk(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if !m.field(x, k) {
				x[k] = m.walk(c)
			}
		}
	case []any:
		for i, c := range x {
			x[i] = m.walk(c)
		}
	}
	return v
}

// rows handles the value of "data", "inputs", "instances" or
// "dataframe_records": objects by key, and positional rows (a list of
// lists, or one flat row) by position when the names are known.
func (m *masker) rows(v any, names []string) any {
	list, isList := v.([]any)
	if !isList || len(names) == 0 {
		return m.walk(v)
	}
	// A row whose shape does not match the names cannot be masked by
	// position: it is replaced whole when a rule applies to a column.
	active := false
	for _, n := range names {
		active = active || m.action(n) != actKeep
	}
	if allScalars(list) {
		switch {
		case len(names) == 1: // one feature: each value is a row
			for i := range list {
				m.positional(list[i:i+1], names)
			}
		case len(list) == len(names): // one row
			m.positional(list, names)
		case active:
			return maskValue
		}
		return list
	}
	for i, r := range list {
		if row, ok := r.([]any); ok {
			if len(row) == len(names) {
				m.positional(row, names)
				continue
			}
			if active {
				list[i] = maskValue
				continue
			}
		}
		list[i] = m.walk(r)
	}
	return list
}

func allScalars(l []any) bool {
	for _, v := range l {
		switch v.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

// positional applies the rules to one row by column position; a dropped
// value becomes null, so the row keeps its shape.
func (m *masker) positional(row []any, names []string) {
	for j, n := range names {
		switch a := m.action(n); a {
		case actDrop:
			row[j] = nil
		case actMask, actHash:
			row[j] = m.replace(row[j], a)
		}
	}
}

// split handles {"columns": [...], "data": [[...]], "index": [...]}.
func (m *masker) split(s map[string]any, positional []string) bool {
	var names []string
	if cols, ok := s["columns"].([]any); ok {
		for _, c := range cols {
			n, ok := c.(string)
			if !ok {
				n = fmt.Sprint(c)
			}
			names = append(names, n)
		}
	} else if _, has := s["columns"]; has {
		return false
	} else {
		names = positional
	}
	var data []any
	switch d := s["data"].(type) {
	case nil:
	case []any:
		data = d
	default:
		return false
	}
	acts := make([]fieldAction, len(names))
	active := false
	for j, n := range names {
		acts[j] = m.action(n)
		active = active || acts[j] != actKeep
	}
	if !active {
		return true
	}
	for i, r := range data {
		row, ok := r.([]any)
		if !ok || len(row) != len(names) {
			if len(names) == 1 { // a single column given as a flat list
				row = []any{r}
			} else {
				return false
			}
		}
		out := row[:0:0]
		for j, v := range row {
			switch acts[j] {
			case actDrop:
				if _, named := s["columns"]; !named {
					out = append(out, nil)
				}
				continue
			case actMask, actHash:
				v = m.replace(v, acts[j])
			}
			out = append(out, v)
		}
		if len(names) == 1 && !isList(r) {
			if len(out) == 0 {
				data[i] = nil
			} else {
				data[i] = out[0]
			}
			continue
		}
		data[i] = out
	}
	if _, named := s["columns"]; named {
		cols := make([]any, 0, len(names))
		for j, n := range names {
			if acts[j] != actDrop {
				cols = append(cols, n)
			}
		}
		s["columns"] = cols
	}
	return true
}

func isList(v any) bool { _, ok := v.([]any); return ok }

// replaceEach replaces v, or each element of v when it is a list (a
// column given as a list of values).
func (m *masker) replaceEach(v any, a fieldAction) any {
	if l, ok := v.([]any); ok {
		for i := range l {
			l[i] = m.replace(l[i], a)
		}
		return l
	}
	return m.replace(v, a)
}

func (m *masker) replace(v any, a fieldAction) any {
	if a == actMask {
		return maskValue
	}
	return m.hash(v)
}

// hash is "sha256:" and the first 16 hex digits of HMAC-SHA256(salt, v),
// where v is a string's text, a number's literal, or compact JSON.
func (m *masker) hash(v any) string {
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case json.Number:
		b = []byte(x.String())
	default:
		b, _ = json.Marshal(x)
	}
	h := hmac.New(sha256.New, m.salt)
	h.Write(b)
	return "sha256:" + hex.EncodeToString(h.Sum(nil)[:8])
}

// csv masks a CSV body (a header line, then rows), given as text or in a
// JSON string. Anything else (fewer than two lines, ragged rows) is not
// taken for CSV.
func (m *masker) csv(s string) (any, bool) {
	r := csv.NewReader(strings.NewReader(s))
	recs, err := r.ReadAll()
	if err != nil || len(recs) < 2 {
		return nil, false
	}
	head := recs[0]
	acts := make([]fieldAction, len(head))
	for j, n := range head {
		acts[j] = m.action(strings.TrimSpace(n))
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	for i, rec := range recs {
		out := rec[:0:0]
		for j, v := range rec {
			a := actKeep
			if j < len(acts) {
				a = acts[j]
			}
			switch {
			case a == actDrop:
				continue
			case a == actMask && i > 0:
				v = maskValue
			case a == actHash && i > 0:
				v = m.hash(v)
			}
			out = append(out, v)
		}
		_ = w.Write(out)
	}
	w.Flush()
	return b.String(), true
}
