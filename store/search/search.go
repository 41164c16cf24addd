// Package search parses MLflow's search filter grammar and order_by clauses
// and evaluates single comparisons.
//
// The grammar is a conjunction of clauses, each `identifier op value`,
// `identifier IS [NOT] NULL` or `identifier [NOT] IN ('a', 'b')`, joined by a
// case-insensitive AND. Identifiers are `prefix.key` or a bare attribute key;
// keys holding characters other than letters, digits, `_` and `.` are quoted
// with backticks or double quotes. Which prefixes, attributes and operators are
// valid depends on the Entity being searched; the tables live in schema.go and
// follow MLflow's mlflow/utils/search_utils.py (and, for logged models,
// mlflow/utils/search_logged_model_utils.py).
//
// The parser is a hand-written scanner plus recursive descent; it never
// panics, and every error it returns is an *Error whose message reads like
// MLflow's (callers map it to INVALID_PARAMETER_VALUE).
package search

import (
	"fmt"
	"strconv"
	"strings"
)

// Entity selects the key tables and rules.
type Entity int

// Searchable entities.
const (
	Runs Entity = iota
	Experiments
	RegisteredModels
	ModelVersions
	LoggedModels
)

func (e Entity) String() string {
	switch e {
	case Runs:
		return "runs"
	case Experiments:
		return "experiments"
	case RegisteredModels:
		return "registered models"
	case ModelVersions:
		return "model versions"
	case LoggedModels:
		return "logged models"
	}
	return "Entity(" + strconv.Itoa(int(e)) + ")"
}

// KeyType is the normalized prefix of an identifier.
type KeyType string

// Key types.
const (
	Metric    KeyType = "metric"
	Param     KeyType = "parameter"
	Tag       KeyType = "tag"
	Attribute KeyType = "attribute"
	Dataset   KeyType = "dataset"
)

// ValueKind says which field of a Value is set.
type ValueKind int

// Value kinds.
const (
	String ValueKind = iota // Value.Str
	Number                  // Value.Num
	List                    // Value.List (IN / NOT IN)
	Null                    // no value (IS NULL / IS NOT NULL)
)

// Value is the right-hand side of a comparison.
type Value struct {
	Kind ValueKind
	Str  string   // String
	Num  float64  // Number
	List []string // List (IN / NOT IN)
}

// Comparison is one clause of a conjunction.
//
// Key is normalized: attribute aliases are resolved to canonical names (run
// "created" → "start_time", "Run name" → "run_name", logged-model
// "creation_time" → "creation_timestamp"); metric, param, tag and dataset keys
// are exactly as written, with their quotes removed.
//
// Op is one of "=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN",
// "NOT IN", "IS NULL", "IS NOT NULL", and is always valid for Type and Key:
// metrics and numeric attributes carry a Number, IN / NOT IN a List, IS [NOT]
// NULL a Null value, and everything else a String.
type Comparison struct {
	Type  KeyType
	Key   string
	Op    string
	Value Value
}

// OrderBy is one parsed order_by element.
type OrderBy struct {
	Type      KeyType
	Key       string
	Ascending bool
}

// Error is a user-facing parse or validation error; Message reads like MLflow's.
type Error struct{ Message string }

func (e *Error) Error() string { return e.Message }

func errorf(format string, a ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, a...)}
}

// ParseFilter parses a filter string for entity e. An empty or all-blank
// filter yields nil, nil. Errors are *Error.
func ParseFilter(e Entity, filter string) ([]Comparison, error) {
	if strings.TrimSpace(filter) == "" {
		return nil, nil
	}
	spec := specFor(e)
	if spec == nil {
		return nil, errorf("Unsupported search entity %v", e)
	}
	p := &parser{src: filter, spec: spec, entity: e}
	out, err := p.filter()
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ParseOrderBy parses one order_by element such as "metrics.`my acc` DESC" or
// "start_time" (ascending unless DESC is given).
//
// For LoggedModels the clause is the field_name of MLflow's structured order_by
// object: either an attribute or "metrics.<key>" with the key taken verbatim.
// It carries no direction (the object has its own `ascending`), so Ascending
// is always true.
func ParseOrderBy(e Entity, clause string) (OrderBy, error) {
	spec := specFor(e)
	if spec == nil {
		return OrderBy{}, errorf("Unsupported search entity %v", e)
	}
	if e == LoggedModels {
		return parseLoggedModelOrderBy(spec, clause)
	}
	p := &parser{src: clause, spec: spec, entity: e}
	return p.orderBy()
}

// maxShown bounds the user text echoed back in error messages.
const maxShown = 200

func shorten(s string) string {
	if len(s) <= maxShown {
		return s
	}
	// Cut on a rune boundary.
	cut := maxShown
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// identifier is a parsed left-hand side, before validation.
type identifier struct {
	prefix    string // "" when there is none
	hasPrefix bool
	key       string
	text      string // source text, for messages
}

// rawValue is a parsed right-hand side, before validation.
type rawValue struct {
	kind  rawKind
	str   string   // rawString, rawWord
	num   float64  // rawNumber
	isInt bool     // rawNumber written without fraction or exponent
	list  []string // rawList
	text  string   // source text, for messages
}

type rawKind int

const (
	rawString rawKind = iota // quoted string
	rawNumber                // unquoted number
	rawList                  // ( 'a', 'b' )
	rawWord                  // an unquoted word or backticked name: never a valid value
)

// rawClause is one syntactically parsed clause.
type rawClause struct {
	id identifier
	op string
	v  rawValue
}

// filter = clause { AND clause } EOF
//
// The whole string is parsed before any clause is validated, so a syntax
// error (an OR, say) is reported ahead of an unknown key, as MLflow does.
func (p *parser) filter() ([]Comparison, error) {
	var raws []rawClause
	for {
		p.skipSpace()
		if p.eof() {
			if len(raws) == 0 {
				return nil, nil
			}
			return nil, errorf("Invalid filter '%s'. Expected a comparison after 'AND'.", shorten(p.src))
		}
		rc, err := p.clause()
		if err != nil {
			return nil, err
		}
		raws = append(raws, rc)
		p.skipSpace()
		if p.eof() {
			break
		}
		start := p.pos
		w := p.word()
		switch strings.ToUpper(w) {
		case "AND":
			continue
		case "OR":
			return nil, errorf("Invalid clause(s) in filter string: '%s'. Only AND-ed comparisons are supported; OR is not.", shorten(p.src[start:]))
		}
		if w == "" && p.peek() == ';' {
			return nil, errorf("Search filter contained multiple expression '%s'. Provide AND-ed expression list.", shorten(p.src))
		}
		return nil, errorf("Invalid clause(s) in filter string: '%s'", shorten(p.src[start:]))
	}
	out := make([]Comparison, 0, len(raws))
	for _, rc := range raws {
		c, err := p.build(rc.id, rc.op, rc.v)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// clause = identifier ( op value | IS [NOT] NULL | [NOT] IN list )
func (p *parser) clause() (rawClause, error) {
	start := p.pos
	p.cstart = start
	if p.peek() == '(' {
		return rawClause{}, errorf("Invalid clause(s) in filter string: '%s'. Parentheses are only allowed around IN lists.", shorten(p.src[start:]))
	}
	id, err := p.identifier()
	if err != nil {
		return rawClause{}, err
	}
	if !id.hasPrefix && id.text == id.key {
		// A bare keyword where a clause should start: NOT x, OR x, AND AND x.
		switch strings.ToUpper(id.key) {
		case "AND", "OR", "NOT":
			return rawClause{}, errorf("Invalid clause(s) in filter string: '%s'. Only comparisons joined by AND are supported.", shorten(p.src[start:]))
		}
	}
	p.skipSpace()
	op, err := p.operator(id)
	if err != nil {
		return rawClause{}, err
	}
	var v rawValue
	if op != "IS NULL" && op != "IS NOT NULL" {
		p.skipSpace()
		v, err = p.value(id, op)
		if err != nil {
			return rawClause{}, err
		}
	}
	return rawClause{id: id, op: op, v: v}, nil
}

// build validates a parsed clause against the entity's tables.
func (p *parser) build(id identifier, op string, v rawValue) (Comparison, error) {
	s := p.spec
	t, err := p.keyType(id)
	if err != nil {
		return Comparison{}, err
	}
	c := Comparison{Type: t, Key: id.key, Op: op}
	var a attrSpec
	switch t {
	case Attribute:
		var ok bool
		a, ok = s.attrs[id.key]
		if !ok {
			return Comparison{}, errorf("Invalid attribute key '%s' specified. Valid keys are %s", shorten(id.key), quoteList(s.attrNames()))
		}
		c.Key = a.name
	case Dataset:
		if !s.datasetKeys[id.key] {
			return Comparison{}, errorf("Invalid dataset key '%s' specified. Valid keys are %s", shorten(id.key), quoteList([]string{"name", "digest", "context"}))
		}
	}

	if op == "IS NULL" || op == "IS NOT NULL" {
		if !s.nullTypes[t] {
			what := "tags and params"
			if !s.nullTypes[Param] {
				what = "tags"
			}
			if len(s.nullTypes) == 0 {
				return Comparison{}, errorf("IS NULL / IS NOT NULL is not supported when searching %v", p.entity)
			}
			return Comparison{}, errorf("IS NULL / IS NOT NULL is only supported for %s, not for %s '%s'", what, t, shorten(id.key))
		}
		c.Value = Value{Kind: Null}
		return c, nil
	}

	ops := s.allowedOps(t, a)
	if !contains(ops, op) {
		if v.kind == rawList && (t == Attribute || t == Dataset) && !contains(ops, "IN") {
			return Comparison{}, errorf("Only %s attributes support comparison with a list of quoted string values.", quoteList(s.listAttrNames()))
		}
		return Comparison{}, errorf("Invalid comparator '%s' not one of %s", op, quoteList(ops))
	}

	isList := op == "IN" || op == "NOT IN"
	switch {
	case isList:
		// The operator parser only accepts a list after IN / NOT IN.
		if v.kind != rawList {
			return Comparison{}, errorf("Expected a list of quoted string values after %s, got %s", op, shorten(v.text))
		}
		c.Value = Value{Kind: List, List: v.list}
	case v.kind == rawList:
		return Comparison{}, errorf("A list of values is only supported with the IN and NOT IN comparators, not '%s'", op)
	case t == Metric:
		if v.kind != rawNumber {
			return Comparison{}, errorf("Expected numeric value type for metric. Found %s", shorten(v.text))
		}
		c.Value = Value{Kind: Number, Num: v.num}
	case t == Attribute && a.numeric:
		n, err := numericAttrValue(a, v)
		if err != nil {
			return Comparison{}, err
		}
		c.Value = Value{Kind: Number, Num: n}
	default: // string-typed key
		switch v.kind {
		case rawString:
			c.Value = Value{Kind: String, Str: v.str}
		case rawWord:
			return Comparison{}, errorf("Parameter value is either not quoted or unidentified quote types used for string value %s. Use either single or double quotes.", shorten(v.text))
		default:
			what := string(t)
			if t == Attribute {
				what = "attributes"
			} else if t == Dataset {
				what = "dataset attributes"
			}
			return Comparison{}, errorf("Expected a quoted string value for %s (e.g. 'my-value'). Got value %s", what, shorten(v.text))
		}
	}
	return c, nil
}

func numericAttrValue(a attrSpec, v rawValue) (float64, error) {
	if a.intOnly {
		switch v.kind {
		case rawNumber:
			if v.isInt {
				return v.num, nil
			}
		case rawString:
			// MLflow's model-version search casts version_number with int(),
			// so a quoted integer is accepted.
			if n, err := strconv.ParseInt(strings.TrimSpace(v.str), 10, 64); err == nil {
				return float64(n), nil
			}
		}
		return 0, errorf("Invalid value for numeric attribute '%s': %s", a.name, shorten(v.text))
	}
	if v.kind != rawNumber {
		return 0, errorf("Expected numeric value type for numeric attribute: %s. Found %s", a.name, shorten(v.text))
	}
	return v.num, nil
}

// listAttrNames lists the attributes that take IN lists, for messages.
func (s *entitySpec) listAttrNames() []string {
	var out []string
	for _, k := range s.attrNames() {
		if a := s.attrs[k]; a.list && a.name == k {
			out = append(out, k)
		}
	}
	return out
}

// keyType resolves the identifier's prefix for filters.
func (p *parser) keyType(id identifier) (KeyType, error) {
	if !id.hasPrefix {
		return Attribute, nil
	}
	t, ok := p.spec.prefixes[id.prefix]
	if !ok {
		return "", errorf("Invalid entity type '%s'. Valid values are %s", shorten(id.prefix), quoteList(p.spec.prefixNames))
	}
	return t, nil
}

// orderBy = identifier [ ASC | DESC ] EOF
func (p *parser) orderBy() (OrderBy, error) {
	bad := func() (OrderBy, error) {
		return OrderBy{}, errorf("Invalid order_by clause '%s'. Could not be parsed.", shorten(p.src))
	}
	p.skipSpace()
	if p.eof() {
		return bad()
	}
	id, err := p.identifier()
	if err != nil {
		return OrderBy{}, err
	}
	ob := OrderBy{Ascending: true}
	p.skipSpace()
	if !p.eof() {
		w := p.word()
		switch strings.ToUpper(w) {
		case "ASC":
		case "DESC":
			ob.Ascending = false
		default:
			if w == "" {
				return bad()
			}
			return OrderBy{}, errorf("Invalid ordering key in order_by clause '%s'.", shorten(p.src))
		}
		p.skipSpace()
		if !p.eof() {
			return bad()
		}
	}
	if !id.hasPrefix && id.text != id.key {
		// MLflow splits order_by clauses with shlex, so a fully quoted
		// identifier such as `metrics.my acc` still names a metric there.
		if pre, key, ok := strings.Cut(id.key, "."); ok && key != "" {
			if _, known := p.spec.prefixes[pre]; known {
				id.prefix, id.key, id.hasPrefix = pre, key, true
			}
		}
	}
	t, err := p.keyType(id)
	if err != nil {
		return OrderBy{}, err
	}
	ob.Type = t
	if t == Attribute {
		canon, ok := p.spec.orderAttrs[id.key]
		if !ok {
			if p.entity == RegisteredModels {
				return OrderBy{}, errorf("Invalid order by key '%s' specified. Valid keys are %s", shorten(id.key), quoteList([]string{"name", "timestamp", "last_updated_timestamp"}))
			}
			return OrderBy{}, errorf("Invalid attribute key '%s' specified. Valid keys are %s", shorten(id.key), quoteList(p.spec.orderNames()))
		}
		ob.Key = canon
		return ob, nil
	}
	if !p.spec.orderTypes[t] {
		return OrderBy{}, errorf("Invalid order_by entity: %s", t)
	}
	ob.Key = id.key
	return ob, nil
}

// parseLoggedModelOrderBy implements the field_name rules of MLflow's
// logged-model search: an attribute name, or "metrics.<key>" with the key
// taken verbatim (surrounding backticks or double quotes are removed).
func parseLoggedModelOrderBy(s *entitySpec, field string) (OrderBy, error) {
	if prefix, key, ok := strings.Cut(field, "."); ok {
		if prefix != "metrics" {
			return OrderBy{}, errorf("Invalid order by field name: %s, only `metrics.<name>` is allowed.", shorten(prefix))
		}
		key = unquoteKey(strings.TrimSpace(key))
		if key == "" {
			return OrderBy{}, errorf("Invalid order by field name: %s.", shorten(field))
		}
		return OrderBy{Type: Metric, Key: key, Ascending: true}, nil
	}
	name := strings.TrimSpace(field)
	canon, ok := s.orderAttrs[name]
	if !ok {
		return OrderBy{}, errorf("Invalid order by field name: %s.", shorten(name))
	}
	return OrderBy{Type: Attribute, Key: canon, Ascending: true}, nil
}

func unquoteKey(k string) string {
	if len(k) >= 2 && (k[0] == '`' || k[0] == '"') && k[len(k)-1] == k[0] {
		return k[1 : len(k)-1]
	}
	return k
}
