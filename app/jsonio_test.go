package app

import (
	"encoding/json"
	"math"
	"testing"
)

// unquote's fast path must agree with encoding/json on every literal.
func TestUnquoteMatchesEncodingJSON(t *testing.T) {
	for _, lit := range []string{
		`""`, `"abc"`, `"run 12_x.y-z/w"`, `"a\"b"`, `"a\\b"`, `"tab\tx"`, `"\u00e9t\u00e9"`,
		"\"\xc3\xa9t\xc3\xa9\"", "\"bad \xff utf8\"", `"\ud83d\ude00"`, `"~!@#$%^&*()"`,
	} {
		var want string
		werr := json.Unmarshal([]byte(lit), &want)
		got, gerr := unquote([]byte(lit))
		if (werr == nil) != (gerr == nil) || got != want {
			t.Errorf("unquote(%s) = %q, %v; encoding/json: %q, %v", lit, got, gerr, want, werr)
		}
	}
}

func TestOptTypesAcceptProtobufJSONForms(t *testing.T) {
	var req struct {
		S  optString `json:"s"`
		N  optInt    `json:"n"`
		F  optFloat  `json:"f"`
		F2 optFloat  `json:"f2"`
		E  optString `json:"e"`
	}
	if err := json.Unmarshal([]byte(`{"s":"x\u0041","n":"-12","f":"NaN","f2":"-Infinity","e":7}`), &req); err != nil {
		t.Fatal(err)
	}
	if req.S.V != "xA" || req.N.V != -12 || !math.IsNaN(req.F.V) || !math.IsInf(req.F2.V, -1) || req.E.V != "7" {
		t.Fatalf("decoded %+v", req)
	}
	if err := json.Unmarshal([]byte(`{"n":"1.5"}`), &req); err == nil {
		t.Fatal("1.5 accepted as an integer")
	}
}
