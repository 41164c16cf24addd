package search

import (
	"unicode"
	"unicode/utf8"
)

// Like reports whether s matches the SQL LIKE pattern: % matches any run of
// characters (newlines included), _ exactly one character, and everything
// else itself. There is no escape character, as in MLflow's own matcher
// (mlflow.utils.search_utils._like). With ci the comparison uses Unicode
// simple case folding, like Python's re.IGNORECASE behind MLflow's ILIKE.
//
// Matching is by code point and takes O(len(pattern)·len(s)) time at worst:
// on a mismatch it backtracks only to the most recent %, never further.
func Like(pattern, s string, ci bool) bool {
	p, i := 0, 0           // byte offsets into pattern and s
	starP, starI := -1, -1 // resume points after the latest %
	for i < len(s) {
		if p < len(pattern) {
			pr, pn := utf8.DecodeRuneInString(pattern[p:])
			switch pr {
			case '%':
				// Collapse runs of % and remember where to resume.
				for p < len(pattern) && pattern[p] == '%' {
					p++
				}
				if p == len(pattern) {
					return true // a trailing % matches the rest
				}
				starP, starI = p, i
				continue
			default:
				sr, sn := utf8.DecodeRuneInString(s[i:])
				if pr == '_' || runeEq(pr, sr, ci) {
					p += pn
					i += sn
					continue
				}
			}
		}
		// Mismatch: let the latest % absorb one more character of s.
		if starP < 0 {
			return false
		}
		_, sn := utf8.DecodeRuneInString(s[starI:])
		starI += sn
		p, i = starP, starI
	}
	for p < len(pattern) && pattern[p] == '%' {
		p++
	}
	return p == len(pattern)
}

// runeEq compares two runes, folding case when ci is set.
func runeEq(a, b rune, ci bool) bool {
	if a == b {
		return true
	}
	if !ci {
		return false
	}
	// Walk a's fold orbit (e.g. k → K → U+212A KELVIN SIGN → k).
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}

// CompareString evaluates `have op want` for a string-valued key, with
// MLflow's semantics: = and != are exact and case-sensitive, < <= > >= compare
// byte-wise, LIKE / ILIKE match want.Str as a pattern (see Like), and IN / NOT
// IN test membership in want.List. For IS NULL / IS NOT NULL the caller has a
// value, so IS NULL is false and IS NOT NULL true; a missing key is the
// caller's business (in MLflow a missing key matches nothing but IS NULL).
// An unknown operator, or a want of the wrong kind, yields false.
func CompareString(op string, have string, want Value) bool {
	switch op {
	case "IS NULL":
		return false
	case "IS NOT NULL":
		return true
	case "IN", "NOT IN":
		if want.Kind != List {
			return false
		}
		in := false
		for _, w := range want.List {
			if w == have {
				in = true
				break
			}
		}
		return in == (op == "IN")
	}
	if want.Kind != String {
		return false
	}
	w := want.Str
	switch op {
	case "=":
		return have == w
	case "!=":
		return have != w
	case "<":
		return have < w
	case "<=":
		return have <= w
	case ">":
		return have > w
	case ">=":
		return have >= w
	case "LIKE":
		return Like(w, have, false)
	case "ILIKE":
		return Like(w, have, true)
	}
	return false
}

// CompareNumber evaluates `have op want` for a numeric key (metric or numeric
// attribute). NaN compares like in Python and SQL floats: every operator but
// != is false. An unknown operator yields false.
func CompareNumber(op string, have float64, want float64) bool {
	switch op {
	case "=":
		return have == want
	case "!=":
		return have != want
	case "<":
		return have < want
	case "<=":
		return have <= want
	case ">":
		return have > want
	case ">=":
		return have >= want
	}
	return false
}

// MatchString evaluates a string-typed comparison (param, tag, string
// attribute, dataset field) against a key's value; present says whether the
// key exists at all. A missing key satisfies only IS NULL, as in MLflow.
func (c Comparison) MatchString(have string, present bool) bool {
	switch c.Op {
	case "IS NULL":
		return !present
	case "IS NOT NULL":
		return present
	}
	return present && CompareString(c.Op, have, c.Value)
}

// MatchNumber evaluates a numeric comparison (metric or numeric attribute);
// present says whether the key has a value. A missing value matches nothing.
func (c Comparison) MatchNumber(have float64, present bool) bool {
	return present && c.Value.Kind == Number && CompareNumber(c.Op, have, c.Value.Num)
}
