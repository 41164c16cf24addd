package search

import (
	"strings"
	"testing"
	"time"
)

func TestLike(t *testing.T) {
	cases := []struct {
		pattern, s string
		ci, want   bool
	}{
		// Anchoring: without % the whole string must match.
		{"abc", "abc", false, true},
		{"abc", "abcd", false, false},
		{"abc", "xabc", false, false},
		{"", "", false, true},
		{"", "a", false, false},
		// %
		{"%", "", false, true},
		{"%", "anything", false, true},
		{"a%", "abc", false, true},
		{"a%", "ba", false, false},
		{"%c", "abc", false, true},
		{"%c", "abcd", false, false},
		{"%b%", "abc", false, true},
		{"%b%", "ac", false, false},
		{"a%c", "ac", false, true},
		{"a%c", "abbbc", false, true},
		{"a%c", "abbbcd", false, false},
		{"a%%c", "abc", false, true},
		{"%a%b%c%", "xxaxxbxxcxx", false, true},
		{"%a%b%c%", "xxcxxbxxaxx", false, false},
		{"a%b%b", "abab", false, true},
		{"a%b%b", "abba", false, false},
		{"a%b%b", "abbb", false, true},
		{"%%", "", false, true},
		{"%abc", "ababc", false, true}, // needs backtracking past a partial match
		{"%aab", "aaab", false, true},
		// _
		{"_", "a", false, true},
		{"_", "", false, false},
		{"_", "ab", false, false},
		{"a_c", "abc", false, true},
		{"a_c", "ac", false, false},
		{"___", "abc", false, true},
		{"_%", "", false, false},
		{"_%", "a", false, true},
		{"%_", "ab", false, true},
		{"a_%_c", "abxc", false, true},
		{"a_%_c", "abc", false, false},
		// No escape character: backslash is literal, as in MLflow.
		{`a\_c`, `a\xc`, false, true},
		{`a\_c`, `a_c`, false, false},
		{`100\%`, `100\ anything`, false, true},
		// Regex metacharacters are literal.
		{"a.c", "abc", false, false},
		{"a.c", "a.c", false, true},
		{"(x)*", "(x)*", false, true},
		{"^a$", "^a$", false, true},
		{"[ab]", "a", false, false},
		// Newlines are ordinary characters.
		{"a%b", "a\nb", false, true},
		{"a_b", "a\nb", false, true},
		// Case sensitivity.
		{"ABC", "abc", false, false},
		{"ABC", "abc", true, true},
		{"a%C", "Abc", true, true},
		{"a%C", "Abc", false, false},
		{"%PROD%", "my-production-model", true, true},
		// Unicode: _ is one code point, folding is Unicode-aware.
		{"_", "é", false, true},
		{"__", "é", false, false},
		{"caf_", "café", false, true},
		{"CAFÉ", "café", true, true},
		{"CAFÉ", "café", false, false},
		{"straße", "STRASSE", true, false}, // simple folding only, like Python's re
		{"k", "\u212a", true, true},        // KELVIN SIGN folds to k
		{"ſ", "S", true, true},             // LONG S folds to s
		{"Σ%", "σς", true, true},
		{"日本%", "日本語", false, true},
		{"%語", "日本語", false, true},
		{"_本_", "日本語", false, true},
		{"🙂_", "🙂x", false, true},
		// Invalid UTF-8 is compared byte by byte and never panics.
		{"a\xffb", "a\xffb", false, true},
		{"a_b", "a\xffb", false, true},
		{"\xff", "\xfe", true, true}, // both decode to U+FFFD
	}
	for _, c := range cases {
		if got := Like(c.pattern, c.s, c.ci); got != c.want {
			t.Errorf("Like(%q, %q, ci=%v) = %v, want %v", c.pattern, c.s, c.ci, got, c.want)
		}
	}
}

// TestLikeNoBlowup checks that patterns that make backtracking regex engines
// exponential stay fast.
func TestLikeNoBlowup(t *testing.T) {
	s := strings.Repeat("a", 5000)
	patterns := []string{
		strings.Repeat("%a", 40) + "b",
		strings.Repeat("a%", 40) + "b",
		strings.Repeat("_%", 40) + "b",
		"%" + strings.Repeat("a", 2000) + "b%",
	}
	start := time.Now()
	for _, p := range patterns {
		if Like(p, s, false) || Like(p, s, true) {
			t.Errorf("Like(%.20q...) matched", p)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Like took %v", d)
	}
}

func TestCompareString(t *testing.T) {
	cases := []struct {
		op   string
		have string
		want Value
		res  bool
	}{
		{"=", "a", str("a"), true},
		{"=", "a", str("A"), false},
		{"!=", "a", str("A"), true},
		{"!=", "a", str("a"), false},
		{"<", "a", str("b"), true},
		{"<=", "b", str("b"), true},
		{">", "b", str("a"), true},
		{">=", "a", str("b"), false},
		{"LIKE", "hello", str("h%o"), true},
		{"LIKE", "Hello", str("h%"), false},
		{"ILIKE", "Hello", str("h%"), true},
		{"IN", "b", list("a", "b"), true},
		{"IN", "c", list("a", "b"), false},
		{"NOT IN", "c", list("a", "b"), true},
		{"NOT IN", "a", list("a", "b"), false},
		{"IS NULL", "a", null(), false},
		{"IS NOT NULL", "a", null(), true},
		// Wrong value kinds and unknown operators never match.
		{"IN", "a", str("a"), false},
		{"NOT IN", "a", str("a"), false},
		{"=", "a", list("a"), false},
		{"=", "1", num(1), false},
		{"~", "a", str("a"), false},
		{"like", "a", str("a"), false}, // operators are canonical upper case
	}
	for _, c := range cases {
		if got := CompareString(c.op, c.have, c.want); got != c.res {
			t.Errorf("CompareString(%q, %q, %+v) = %v, want %v", c.op, c.have, c.want, got, c.res)
		}
	}
}

func TestCompareNumber(t *testing.T) {
	nan := inf() - inf()
	cases := []struct {
		op         string
		have, want float64
		res        bool
	}{
		{"=", 1, 1, true},
		{"=", 1, 2, false},
		{"!=", 1, 2, true},
		{"<", 1, 2, true},
		{"<", 2, 2, false},
		{"<=", 2, 2, true},
		{">", 3, 2, true},
		{">=", 2, 2, true},
		{">=", 1, 2, false},
		{"=", nan, nan, false},
		{"!=", nan, 1, true},
		{"<", nan, 1, false},
		{">", inf(), 1e308, true},
		{"LIKE", 1, 1, false},
	}
	for _, c := range cases {
		if got := CompareNumber(c.op, c.have, c.want); got != c.res {
			t.Errorf("CompareNumber(%q, %v, %v) = %v, want %v", c.op, c.have, c.want, got, c.res)
		}
	}
}

func TestMatch(t *testing.T) {
	cs, err := ParseFilter(Runs, "tags.a IS NULL and tags.b IS NOT NULL and tags.c != 'x' and metrics.m > 1")
	if err != nil {
		t.Fatal(err)
	}
	isNull, notNull, ne, gt := cs[0], cs[1], cs[2], cs[3]
	if !isNull.MatchString("", false) || isNull.MatchString("v", true) {
		t.Error("IS NULL")
	}
	if notNull.MatchString("", false) || !notNull.MatchString("", true) {
		t.Error("IS NOT NULL")
	}
	// A missing tag never satisfies != (MLflow); the prompt-tag special case
	// belongs to the registry store.
	if ne.MatchString("", false) || !ne.MatchString("y", true) || ne.MatchString("x", true) {
		t.Error("!=")
	}
	if gt.MatchNumber(5, false) || !gt.MatchNumber(5, true) || gt.MatchNumber(1, true) {
		t.Error(">")
	}
}
