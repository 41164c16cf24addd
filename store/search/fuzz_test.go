package search

import (
	"errors"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var allEntities = []Entity{Runs, Experiments, RegisteredModels, ModelVersions, LoggedModels}

// FuzzParseFilter checks that ParseFilter never panics, that every error is an
// *Error, that every successful parse only yields Type/Op/Value combinations
// the entity allows, and that formatting the result back into a filter string
// parses to the same comparisons.
func FuzzParseFilter(f *testing.F) {
	for _, tc := range filterCases {
		f.Add(uint8(tc.e), tc.filter)
	}
	for _, tc := range orderCases {
		f.Add(uint8(tc.e), tc.clause)
	}
	f.Fuzz(func(t *testing.T, ent uint8, filter string) {
		e := Entity(ent % uint8(len(allEntities)))
		got, err := ParseFilter(e, filter)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Message == "" {
				t.Fatalf("ParseFilter(%v, %q): error %T %v is not a non-empty *Error", e, filter, err, err)
			}
			if got != nil {
				t.Fatalf("ParseFilter(%v, %q): result %+v alongside an error", e, filter, got)
			}
			return
		}
		if strings.TrimSpace(filter) == "" {
			if got != nil {
				t.Fatalf("blank filter gave %+v", got)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("ParseFilter(%v, %q) succeeded with no comparisons", e, filter)
		}
		if msg := checkComparisons(e, got); msg != "" {
			t.Fatalf("ParseFilter(%v, %q) = %+v: %s", e, filter, got, msg)
		}
		again := formatFilter(e, got)
		got2, err := ParseFilter(e, again)
		if err != nil {
			t.Fatalf("re-parsing %q (from %q): %v", again, filter, err)
		}
		if !reflect.DeepEqual(got, got2) {
			t.Fatalf("round trip of %q via %q:\n got  %+v\n want %+v", filter, again, got2, got)
		}
	})
}

// FuzzParseOrderBy checks that ParseOrderBy never panics and returns only
// valid order keys.
func FuzzParseOrderBy(f *testing.F) {
	for _, tc := range orderCases {
		f.Add(uint8(tc.e), tc.clause)
	}
	f.Fuzz(func(t *testing.T, ent uint8, clause string) {
		e := Entity(ent % uint8(len(allEntities)))
		ob, err := ParseOrderBy(e, clause)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Message == "" {
				t.Fatalf("ParseOrderBy(%v, %q): error %T %v is not a non-empty *Error", e, clause, err, err)
			}
			return
		}
		s := specFor(e)
		if ob.Key == "" {
			t.Fatalf("ParseOrderBy(%v, %q) = %+v: empty key", e, clause, ob)
		}
		if ob.Type == Attribute {
			if s.orderAttrs[ob.Key] != ob.Key {
				t.Fatalf("ParseOrderBy(%v, %q) = %+v: not a canonical order key", e, clause, ob)
			}
		} else if !s.orderTypes[ob.Type] {
			t.Fatalf("ParseOrderBy(%v, %q) = %+v: type not orderable", e, clause, ob)
		}
	})
}

// FuzzLike compares Like with a regexp built from the same pattern.
func FuzzLike(f *testing.F) {
	seeds := []struct {
		p, s string
		ci   bool
	}{
		{"abc", "abc", false}, {"a%c", "abbbc", false}, {"%b%", "abc", true},
		{"_", "é", false}, {"CAFÉ", "café", true}, {"k", "\u212a", true},
		{"a%b%b", "abab", false}, {"%%_%", "x", false}, {"a.c", "abc", false},
		{`a\_c`, `a\xc`, false}, {"a%b", "a\nb", false}, {"", "", false},
		{strings.Repeat("%a", 10) + "b", strings.Repeat("a", 50), false},
	}
	for _, sd := range seeds {
		f.Add(sd.p, sd.s, sd.ci)
	}
	f.Fuzz(func(t *testing.T, pattern, s string, ci bool) {
		got := Like(pattern, s, ci)
		if !utf8.ValidString(pattern) || !utf8.ValidString(s) {
			return // the oracle below needs valid UTF-8; Like just must not panic
		}
		if len(pattern) > 1000 {
			return // keep the oracle's compile time bounded
		}
		var b strings.Builder
		b.WriteString(`^(?s`)
		if ci {
			b.WriteString("i")
		}
		b.WriteString(`:`)
		for _, r := range pattern {
			switch r {
			case '%':
				b.WriteString(`.*`)
			case '_':
				b.WriteString(`.`)
			default:
				b.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		b.WriteString(`)$`)
		re, err := regexp.Compile(b.String())
		if err != nil {
			return // e.g. repetition limits for enormous patterns
		}
		if want := re.MatchString(s); got != want {
			t.Fatalf("Like(%q, %q, %v) = %v, regexp %s says %v", pattern, s, ci, got, b.String(), want)
		}
	})
}

// formatFilter renders comparisons back into filter syntax.
func formatFilter(e Entity, cs []Comparison) string {
	prefix := map[KeyType]string{Metric: "metric", Param: "param", Tag: "tag", Attribute: "attribute", Dataset: "dataset"}
	if e == LoggedModels {
		prefix = map[KeyType]string{Metric: "metrics", Param: "params", Tag: "tags", Attribute: "attributes"}
	}
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		var b strings.Builder
		b.WriteString(prefix[c.Type])
		b.WriteString(".`")
		b.WriteString(strings.ReplaceAll(c.Key, "`", "``"))
		b.WriteString("` ")
		b.WriteString(c.Op)
		switch c.Value.Kind {
		case String:
			b.WriteString(" " + quoteValue(c.Value.Str))
		case Number:
			b.WriteString(" " + formatNumber(c.Value.Num))
		case List:
			b.WriteString(" (")
			for i, s := range c.Value.List {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(quoteValue(s))
			}
			b.WriteString(")")
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, " AND ")
}

func quoteValue(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func formatNumber(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "1e999" // the parser reads overflowing literals as ±Inf
	case math.IsInf(f, -1):
		return "-1e999"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
