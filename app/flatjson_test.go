package app

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
)

type flatProbe struct {
	runIDReq
	metricJSON
	Flag optBool   `json:"flag"`
	Tags []tagJSON `json:"tags"`
}

// decodeFlat must give exactly what encoding/json gives, or step aside.
func checkFlatAgainstJSON(t *testing.T, in []byte) {
	t.Helper()
	var fast, slow flatProbe
	handled, ferr := decodeFlat(in, &fast)
	serr := json.Unmarshal(in, &slow)
	if !handled {
		return
	}
	if (ferr == nil) != (serr == nil) || (ferr != nil && ferr.Error() != serr.Error()) {
		t.Fatalf("%q: decodeFlat error %v, encoding/json error %v", in, ferr, serr)
	}
	if ferr == nil && !sameProbe(fast, slow) {
		t.Fatalf("%q: decodeFlat %+v, encoding/json %+v", in, fast, slow)
	}
}

func sameProbe(a, b flatProbe) bool {
	// NaN != NaN: compare the bits
	fa, fb := a.Value.V, b.Value.V
	a.Value.V, b.Value.V = 0, 0
	return math.Float64bits(fa) == math.Float64bits(fb) && reflect.DeepEqual(a, b)
}

func TestDecodeFlatMatchesEncodingJSON(t *testing.T) {
	cases := []string{
		`{}`, ` { } `, `{"run_id":"r1","key":"loss","value":0.5,"timestamp":17,"step":3}`,
		`{"run_id":"r1","key":"k","value":"NaN","timestamp":"17","step":"-3"}`,
		`{"RUN_ID":"r1","Key":"k"}`, `{"run_id":"a","run_id":"b"}`, `{"run_id":"a","run_id":null}`,
		`{"value":1e400}`, `{"value":-0}`, `{"value":1.5e-3}`, `{"step":1.5}`, `{"step":"x"}`,
		`{"key":true}`, `{"flag":"True"}`, `{"flag":1}`, `{"unknown":123,"key":"k"}`,
		`{"tags":null}`, `{"key":"k","tags":[]}`, `{"key":"a\"b"}`, `{"key":"é"}`,
		`{"value":01}`, `{"value":1.}`, `{"value":+1}`, `{"key":"k",}`, `{"key" "k"}`, `{"key":"k"} x`,
		`[1]`, `"str"`, ``, `{"value":nul}`, `{"value":-}`, `{"step":1E+2}`,
	}
	for _, c := range cases {
		checkFlatAgainstJSON(t, []byte(c))
	}
	// the fast path takes the common request
	var p flatProbe
	if handled, err := decodeFlat([]byte(`{"run_id":"r","key":"k","value":1,"timestamp":2,"step":3}`), &p); !handled || err != nil {
		t.Fatalf("fast path not taken: %v %v", handled, err)
	}
	// more members than the fast path records: encoding/json decodes it
	big := []byte("{")
	for i := 0; i < 40; i++ {
		big = fmt.Appendf(big, `"f%d":%d,`, i, i)
	}
	big = append(big, `"key":"k"}`...)
	if handled, _ := decodeFlat(big, &p); handled {
		t.Fatal("40 members handled by the fast path")
	}
}

func FuzzDecodeFlat(f *testing.F) {
	for _, s := range []string{`{"run_id":"r1","key":"loss","value":0.5,"timestamp":17,"step":3}`, `{"value":"Infinity","flag":false}`, `{"step":"12"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkFlatAgainstJSON(t, in) })
}
