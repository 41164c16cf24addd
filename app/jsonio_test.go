package app

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
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

func TestReadLimitedBodyShortAndLong(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"a":1}`))
	r.ContentLength = 20 // announced more than sent: the client went away
	if _, err := readLimitedBody(r, 1<<20); toAPIError(err).Status != http.StatusBadRequest {
		t.Fatalf("short body: %v", err)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 100)))
	if _, err := readLimitedBody(r, 10); toAPIError(err).Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("long body: %v", err)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader(`{"a":1}`))
	if b, err := readLimitedBody(r, 1<<20); err != nil || string(b) != `{"a":1}` {
		t.Fatalf("body %q %v", b, err)
	}
}
