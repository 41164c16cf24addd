package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// fakeVersion is a loadedVersion with metadata only (decoding and
// encoding need no module).
func fakeVersion(meta Metadata) *loadedVersion {
	lv := &loadedVersion{}
	lv.setMeta(meta)
	return lv
}

var irisMeta = Metadata{ABIVersion: 1, Task: Classification, DType: F64, OutputDType: F64, NFeatures: 4,
	FeatureNames: []string{"sl", "sw", "pl", "pw"}, NOutputs: 3, OutputNames: []string{"setosa", "versicolor", "virginica"}, MaxBatchRows: 64}

func TestDecodePredictShapes(t *testing.T) {
	lv := fakeVersion(irisMeta)
	one := fakeVersion(Metadata{ABIVersion: 1, Task: Regression, DType: F64, NFeatures: 1, NOutputs: 1, MaxBatchRows: 8})
	for _, c := range []struct {
		name, body string
		lv         *loadedVersion
		rows       int
		want       []float64
		err        string
	}{
		{"one row", `{"data": [1, 2, 3, 4]}`, lv, 1, []float64{1, 2, 3, 4}, ""},
		{"rows", ` { "data" : [[1,2,3,4],[5e0,6.5,-7,8E-1]] } `, lv, 2, []float64{1, 2, 3, 4, 5, 6.5, -7, 0.8}, ""},
		{"null and NaN", `{"data": [null, NaN, Infinity, -Infinity]}`, lv, 1, []float64{math.NaN(), math.NaN(), math.Inf(1), math.Inf(-1)}, ""},
		{"single feature rows", `{"data": [[1], [2]]}`, one, 2, []float64{1, 2}, ""},
		{"single feature flat is one row", `{"data": [7]}`, one, 1, []float64{7}, ""},
		{"wrong width", `{"data": [[1, 2, 3]]}`, lv, 0, nil, "row 0 has 3 values, expected 4"},
		{"ragged", `{"data": [[1, 2, 3, 4], [1]]}`, lv, 0, nil, "row 1 has 1 values"},
		{"flat wrong", `{"data": [1, 2]}`, lv, 0, nil, "the model takes 4 features (sl, sw, pl, pw)"},
		{"string", `{"data": [1, "2", 3, 4]}`, lv, 0, nil, "non-numeric"},
		{"bool", `{"data": [true, 2, 3, 4]}`, lv, 0, nil, "non-numeric"},
		{"nested", `{"data": [[[1], 2, 3, 4]]}`, lv, 0, nil, "row 0 holds nested values"},
		{"mixed", `{"data": [1, [2], 3, 4]}`, lv, 0, nil, "mixes numbers and arrays"},
		{"empty", `{"data": []}`, lv, 0, nil, "no rows"},
		{"missing", `{}`, lv, 0, nil, `missing field "data"`},
		{"unknown key", `{"data": [1,2,3,4], "x": 1}`, lv, 0, nil, `unknown field "x"`},
		{"not object", `[1, 2, 3, 4]`, lv, 0, nil, "must be a JSON object"},
		{"trailing", `{"data": [1,2,3,4]} x`, lv, 0, nil, "unexpected data"},
		{"bad number", `{"data": [01, 2, 3, 4]}`, lv, 0, nil, "invalid number"},
		{"bad number 2", `{"data": [1.e5, 2, 3, 4]}`, lv, 0, nil, "invalid number"},
		{"truncated", `{"data": [1, 2, 3`, lv, 0, nil, "unexpected end"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := &reqState{}
			rows, err := decodePredict([]byte(c.body), c.lv, st)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rows != c.rows || !sameFloats(st.in, c.want) {
				t.Fatalf("rows %d %v, want %d %v", rows, st.in, c.rows, c.want)
			}
		})
	}
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

func TestDecodeInvocations(t *testing.T) {
	lv := fakeVersion(irisMeta)
	row12 := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	for _, c := range []struct {
		name, body string
		rows       int
		want       []float64
		err        string
	}{
		{"split with columns", `{"dataframe_split": {"columns": ["pw", "pl", "sw", "sl"], "data": [[4, 3, 2, 1], [8, 7, 6, 5]]}}`, 2, row12, ""},
		{"split with index and extra column", `{"dataframe_split": {"index": [0, 1], "columns": ["sl", "id", "sw", "pl", "pw"], "data": [[1, 99, 2, 3, 4], [5, 98, 6, 7, 8]]}}`, 2, row12, ""},
		{"split without columns", `{"dataframe_split": {"data": [[1, 2, 3, 4], [5, 6, 7, 8]]}}`, 2, row12, ""},
		{"split missing column", `{"dataframe_split": {"columns": ["sl", "sw", "pl"], "data": [[1, 2, 3]]}}`, 0, nil, `no column "pw"`},
		{"split duplicate column", `{"dataframe_split": {"columns": ["sl", "sl", "pl", "pw"], "data": [[1, 2, 3, 4]]}}`, 0, nil, `names "sl" twice`},
		{"split bad key", `{"dataframe_split": {"columns": ["sl"], "rows": []}}`, 0, nil, "may only hold columns, data and index"},
		{"split no data", `{"dataframe_split": {"columns": ["sl", "sw", "pl", "pw"]}}`, 0, nil, "has no data"},
		{"records", `{"dataframe_records": [{"sl": 1, "sw": 2, "pl": 3, "pw": 4}, {"pw": 8, "pl": 7, "sw": 6, "sl": 5, "id": "x"}]}`, 2, row12, ""},
		{"records missing", `{"dataframe_records": [{"sl": 1, "sw": 2, "pl": 3}]}`, 0, nil, `record 0 has no value for "pw"`},
		{"records escaped key", `{"dataframe_records": [{"s\u006c": 1, "sw": 2, "pl": 3, "pw": 4}]}`, 1, row12[:4], ""},
		{"records non-numeric", `{"dataframe_records": [{"sl": "a", "sw": 2, "pl": 3, "pw": 4}]}`, 0, nil, "non-numeric"},
		{"instances rows", `{"instances": [[1, 2, 3, 4], [5, 6, 7, 8]]}`, 2, row12, ""},
		{"instances one flat row", `{"instances": [1, 2, 3, 4]}`, 1, row12[:4], ""},
		{"instances objects", `{"instances": [{"sl": 1, "sw": 2, "pl": 3, "pw": 4}]}`, 1, row12[:4], ""},
		{"inputs tensor", `{"inputs": [[1, 2, 3, 4], [5, 6, 7, 8]], "params": {"x": 1}}`, 2, row12, ""},
		{"inputs columns", `{"inputs": {"sl": [1, 5], "sw": [2, 6], "pl": [3, 7], "pw": [4, 8]}}`, 2, row12, ""},
		{"inputs columns ragged", `{"inputs": {"sl": [1, 5], "sw": [2], "pl": [3, 7], "pw": [4, 8]}}`, 0, nil, "other columns have 2"},
		{"inputs columns missing", `{"inputs": {"sl": [1], "sw": [2], "pl": [3]}}`, 0, nil, `no column "pw"`},
		{"no format", `{"data": [[1, 2, 3, 4]]}`, 0, nil, "exactly one of the input fields"},
		{"two formats", `{"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]}`, 0, nil, "Received dictionary with input fields: ['instances', 'inputs']"},
		{"llm", `{"messages": [{"role": "user"}]}`, 0, nil, "LLM-style inputs"},
		{"not a dict", `[[1, 2, 3, 4]]`, 0, nil, "not a dictionary"},
		{"bad params", `{"inputs": [[1, 2, 3, 4]], "params": [1]}`, 0, nil, "params must be a dictionary"},
		{"bad json", `{"inputs": [[1, 2, 3, 4]]`, 0, nil, "invalid JSON"},
		{"empty", `{"instances": []}`, 0, nil, "no rows"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := &reqState{}
			rows, err := decodeInvocations([]byte(c.body), lv, st)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rows != c.rows || !sameFloats(st.in[:rows*4], c.want) {
				t.Fatalf("rows %d %v, want %d %v", rows, st.in, c.rows, c.want)
			}
		})
	}
}

func TestDecodeCSV(t *testing.T) {
	lv := fakeVersion(irisMeta)
	st := &reqState{}
	rows, err := decodeCSV([]byte("pw,pl,sw,sl,id\n4,3,2,1,a\n8,7,6, ,b\n"), lv, st)
	if err != nil || rows != 2 || !sameFloats(st.in, []float64{1, 2, 3, 4, math.NaN(), 6, 7, 8}) {
		t.Fatalf("%d %v %v", rows, st.in, err)
	}
	for body, want := range map[string]string{
		"":                       "empty",
		"sl,sw,pl\n1,2,3\n":      `no column "pw"`,
		"sl,sw,pl,pw\n":          "no rows",
		"sl,sw,pl,pw\n1,2,x,4\n": `"x" is not a number`,
		"sl,sw,pl,pw\n1,2,3\n":   "invalid CSV",
	} {
		if _, err := decodeCSV([]byte(body), lv, &reqState{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

func TestAppendResponse(t *testing.T) {
	lv := fakeVersion(irisMeta)
	out := []float64{0.7, 0.2, 0.1, 0.1, 0.3, 0.6}
	if got := string(lv.appendResponse(nil, out, 2, false, false)); got != `{"predictions":["setosa","virginica"]}` {
		t.Fatal(got)
	}
	if got := string(lv.appendResponse(nil, out, 2, true, false)); got != `{"predictions":["setosa","virginica"],"probabilities":[[0.7,0.2,0.1],[0.1,0.3,0.6]]}` {
		t.Fatal(got)
	}
	reg := fakeVersion(Metadata{ABIVersion: 1, Task: Regression, DType: F64, NFeatures: 2, NOutputs: 1, MaxBatchRows: 8})
	if got := string(reg.appendResponse(nil, []float64{1.5, math.NaN()}, 2, true, false)); got != `{"predictions":[1.5,null]}` {
		t.Fatal(got)
	}
	reg2 := fakeVersion(Metadata{ABIVersion: 1, Task: Regression, DType: F64, NFeatures: 2, NOutputs: 2, MaxBatchRows: 8})
	reg2.outBits = 32
	if got := string(reg2.appendResponse(nil, []float64{float64(float32(0.1)), 2, 3, -4e-7}, 2, false, false)); got != `{"predictions":[[0.1,2],[3,-4e-07]]}` {
		t.Fatal(got)
	}
	var v any
	if err := json.Unmarshal(reg2.appendResponse(nil, []float64{1, 2, 3, 4}, 2, false, false), &v); err != nil {
		t.Fatal(err)
	}
}

func TestAppendNamed(t *testing.T) {
	cls := fakeVersion(Metadata{ABIVersion: 1, Task: Classification, DType: F64, NFeatures: 2, NOutputs: 2, MaxBatchRows: 8,
		Labels:       []json.RawMessage{json.RawMessage("0"), json.RawMessage("1")},
		NamedOutputs: &NamedOutputs{Label: "output_label", Scores: "output_probability", ZipMap: true}})
	out := []float64{0.75, 0.25, 0.125, 0.875}
	for frame, want := range map[bool]string{
		false: `{"predictions":{"output_label":[0,1],"output_probability":[{"0":0.75,"1":0.25},{"0":0.125,"1":0.875}]}}`,
		true:  `{"predictions":[{"output_label":0,"output_probability":{"0":0.75,"1":0.25}},{"output_label":1,"output_probability":{"0":0.125,"1":0.875}}]}`,
	} {
		if got := string(cls.appendNamed(nil, out, 2, frame)); got != want {
			t.Errorf("zipmap, frame %v:\n%s\nwant\n%s", frame, got, want)
		}
	}
	str := fakeVersion(Metadata{ABIVersion: 1, Task: Classification, DType: F64, NFeatures: 2, NOutputs: 2, MaxBatchRows: 8,
		Labels:       []json.RawMessage{json.RawMessage(`"no"`), json.RawMessage(`"yes"`)},
		NamedOutputs: &NamedOutputs{Label: "label", Scores: "probabilities"}})
	if got, want := string(str.appendNamed(nil, out, 2, false)), `{"predictions":{"label":["no","yes"],"probabilities":[[0.75,0.25],[0.125,0.875]]}}`; got != want {
		t.Errorf("tensor:\n%s\nwant\n%s", got, want)
	}
	if got, want := string(str.appendNamed(nil, out, 2, true)), `{"predictions":[{"label":"no","probabilities":[0.75,0.25]},{"label":"yes","probabilities":[0.125,0.875]}]}`; got != want {
		t.Errorf("frame:\n%s\nwant\n%s", got, want)
	}
	reg := fakeVersion(Metadata{ABIVersion: 1, Task: Regression, DType: F64, NFeatures: 2, NOutputs: 1, MaxBatchRows: 8,
		NamedOutputs: &NamedOutputs{Scores: "variable"}})
	if got, want := string(reg.appendNamed(nil, []float64{1.5, 2}, 2, false)), `{"predictions":{"variable":[[1.5],[2]]}}`; got != want {
		t.Errorf("regressor tensor: %s", got)
	}
	if got, want := string(reg.appendNamed(nil, []float64{1.5, 2}, 2, true)), `{"predictions":[{"variable":1.5},{"variable":2}]}`; got != want {
		t.Errorf("regressor frame: %s", got)
	}
	reg2 := fakeVersion(Metadata{ABIVersion: 1, Task: Regression, DType: F64, NFeatures: 2, NOutputs: 2, MaxBatchRows: 8,
		NamedOutputs: &NamedOutputs{Scores: "variable"}})
	if got, want := string(reg2.appendNamed(nil, []float64{1, 2, 3, 4}, 2, true)), `{"predictions":[{"variable":1},{"variable":2},{"variable":3},{"variable":4}]}`; got != want {
		t.Errorf("two-output regressor frame (flattened, as MLflow): %s", got)
	}
	flat := fakeVersion(Metadata{ABIVersion: 1, Task: Regression, DType: F64, NFeatures: 2, NOutputs: 1, MaxBatchRows: 8,
		NamedOutputs: &NamedOutputs{Scores: "y", Flat: true}})
	if got, want := string(flat.appendNamed(nil, []float64{1.5, 2}, 2, false)), `{"predictions":{"y":[1.5,2]}}`; got != want {
		t.Errorf("a tensor [N]: %s", got)
	}
	if got, want := string(flat.appendNamed(nil, []float64{1.5, 2}, 2, true)), `{"predictions":[{"y":1.5},{"y":2}]}`; got != want {
		t.Errorf("a tensor [N], frame: %s", got)
	}
	// A label index (naive Bayes): the last column names the label, which
	// need not be the arg max of the scores; the scores are the others.
	idx := fakeVersion(Metadata{ABIVersion: 1, Task: Classification, DType: F64, NFeatures: 2, NOutputs: 3, MaxBatchRows: 8,
		Labels:       []json.RawMessage{json.RawMessage(`"a"`), json.RawMessage(`"b"`)},
		NamedOutputs: &NamedOutputs{Label: "label", Scores: "probabilities", LabelIndex: true}})
	io := []float64{0.5, 0.5, 1, 0.75, 0.25, 0}
	if got, want := string(idx.appendNamed(nil, io, 2, false)), `{"predictions":{"label":["b","a"],"probabilities":[[0.5,0.5],[0.75,0.25]]}}`; got != want {
		t.Errorf("label index, tensor:\n%s\nwant\n%s", got, want)
	}
	if got, want := string(idx.appendNamed(nil, io, 2, true)), `{"predictions":[{"label":"b","probabilities":[0.5,0.5]},{"label":"a","probabilities":[0.75,0.25]}]}`; got != want {
		t.Errorf("label index, frame:\n%s\nwant\n%s", got, want)
	}
	if got, want := string(idx.appendResponse(nil, io, 2, true, false)), `{"predictions":["b","a"],"probabilities":[[0.5,0.5],[0.75,0.25]]}`; got != want {
		t.Errorf("label index, /predict:\n%s\nwant\n%s", got, want)
	}
	// Not an index (a wrong module): the arg max of the scores.
	if got, want := string(idx.appendResponse(nil, []float64{0.25, 0.75, math.NaN()}, 1, false, false)), `{"predictions":["b"]}`; got != want {
		t.Errorf("label index NaN: %s", got)
	}
	m := idx.meta
	m.OutputDType, m.OutputNames = F64, []string{"a", "b", "label_index"}
	if err := m.Validate(); err != nil {
		t.Errorf("label index: %v", err)
	}
	m.Labels = append(m.Labels, json.RawMessage(`"c"`))
	if err := m.Validate(); err == nil {
		t.Error("a label for the label index column passed")
	}
	bad := Metadata{ABIVersion: 1, Task: Regression, DType: F64, OutputDType: F64, NFeatures: 2, NOutputs: 1, MaxBatchRows: 8,
		NamedOutputs: &NamedOutputs{Label: "label", Scores: "variable"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "named_outputs") {
		t.Errorf("a regressor with a label output: %v", err)
	}
	bad.NamedOutputs, bad.NOutputs = &NamedOutputs{Scores: "y", Flat: true}, 2
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "flat") {
		t.Errorf("flat scores of two outputs: %v", err)
	}
}

// TestHotPathAllocs: decoding, encoding and recording a request allocate
// nothing once the buffers are warm.
func TestHotPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are off under the race detector")
	}
	lv := fakeVersion(irisMeta)
	rm := newRoleMetrics(metrics.NewSet(), "m", "1", RoleMain, time.Minute)
	body := []byte(`{"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}`)
	st := &reqState{}
	out := []float64{0.9, 0.05, 0.05, 0.1, 0.1, 0.8}
	now := time.Now()
	run := func() {
		rows, err := decodePredict(body, lv, st)
		if err != nil || rows != 2 {
			t.Fatal(rows, err)
		}
		st.resp = lv.appendResponse(st.resp[:0], out, rows, true, false)
		rm.observe(now, 200, time.Millisecond, rows, 0, true)
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
	inv := []byte(`{"dataframe_split": {"columns": ["sl", "sw", "pl", "pw"], "data": [[5.1, 3.5, 1.4, 0.2]]}}`)
	if n := testing.AllocsPerRun(100, func() { decodeInvocations(inv, lv, st) }); n > 2 {
		t.Fatalf("dataframe_split: %v allocations", n)
	}
	req := httptest.NewRequest("POST", "/", nil)
	req.Header.Set("Authorization", "Bearer tok")
	l := newLimiter(1e9, 1e9)
	l.allow(clientKey(req), now)
	if n := testing.AllocsPerRun(100, func() { l.allow(clientKey(req), now) }); n != 0 {
		t.Fatalf("limiter: %v allocations", n)
	}
}

func TestInvocationsContentTypes(t *testing.T) {
	f := newFixture(t)
	v1 := f.addWasm("m", mockModule(namedSpec("v1")))
	f.alias("m", "champion", v1)
	for _, c := range []struct {
		ctype, body string
		code        int
		want        string
	}{
		{"application/json", `{"instances": [[0, 2, 3, 5]]}`, 200, `{"predictions":[[10,20]]}`},
		{"application/json; charset=utf-8", `{"dataframe_records": [{"a": 0, "b": 2, "c": 3, "d": 5}]}`, 200, `{"predictions":[[10,20]]}`},
		{"application/json; charset=latin-1", `{"instances": [[0, 2, 3, 5]]}`, 415, "This predictor only supports"},
		{"application/json; format=pandas-split", `{"instances": [[0, 2, 3, 5]]}`, 415, "This predictor only supports"},
		{"text/csv", "d,c,b,a\n5,3,2,0\n", 200, `{"predictions":[[10,20]]}`},
		{"text/plain", `x`, 415, "This predictor only supports"},
		{"", `{"instances": [[0, 2, 3, 5]]}`, 415, "This predictor only supports"},
		{"application/json", `{"instances": [[0, 2, 3, 5]], "inputs": [[0, 2, 3, 5]]}`, 400, `"error_code":"BAD_REQUEST"`},
		{"application/json", `{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}`, 400, `no column \"c\"`},
	} {
		st, h, body := f.post("/models/m/invocations", c.ctype, c.body)
		if st != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%q %s: %d %s, want %d %s", c.ctype, c.body, st, body, c.code, c.want)
		}
		if st == 415 && !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
			t.Errorf("415 content type %q", h.Get("Content-Type"))
		}
	}
	// /predict takes JSON only, and says so in JSON.
	st, _, body := f.post("/models/m/predict", "text/csv", "a\n1\n")
	if st != 415 || !strings.Contains(body, `"error_code"`) {
		t.Fatalf("predict csv: %d %s", st, body)
	}
	resp, err := http.Get(f.srv.URL + "/models/m/predict")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET predict: %d", resp.StatusCode)
	}
	for _, p := range []string{"/models/", "/models/m/other", "/models/m/versions/", "/models/@x/predict", "/models/m/versions/1/x"} {
		st, _, _ := f.post(p, "application/json", "{}")
		if st != 404 {
			t.Errorf("%s: %d", p, st)
		}
	}
}

func TestParsePath(t *testing.T) {
	for p, want := range map[string]string{
		"iris":                        "iris|||0",
		"iris/predict":                "iris|||1",
		"iris/invocations":            "iris|||2",
		"iris@champion/predict":       "iris|champion||1",
		"my@model@prod/predict":       "my@model|prod||1",
		"iris/versions/3/predict":     "iris||3|1",
		"iris/versions/3":             "iris||3|0",
		"iris/versions/3/invocations": "iris||3|2",
	} {
		name, alias, version, ep, ok := parsePath(p)
		if got := fmt.Sprintf("%s|%s|%s|%d", name, alias, version, ep); !ok || got != want {
			t.Errorf("%s: %s %v, want %s", p, got, ok, want)
		}
	}
	for _, p := range []string{"", "/predict", "iris/x", "iris@/predict", "@a/predict", "iris/versions//predict", "a@b/versions/1/predict"} {
		if _, _, _, _, ok := parsePath(p); ok {
			t.Errorf("%q parsed", p)
		}
	}
}

func FuzzDecodeInvocations(f *testing.F) {
	for _, s := range []string{
		`{"dataframe_split": {"columns": ["sl", "sw", "pl", "pw"], "data": [[1, 2, 3, 4]]}}`,
		`{"dataframe_records": [{"sl": 1, "sw": 2, "pl": 3, "pw": 4}]}`,
		`{"instances": [[1, 2, 3, 4]]}`, `{"inputs": {"sl": [1], "sw": [2], "pl": [3], "pw": [4]}}`,
		`{"data": [1, 2, 3, 4]}`, `{"data": [[1, 2, 3, 4], [5, 6, 7, 8]]}`, `{"a\"b": [1e400, -0, NaN]}`,
	} {
		f.Add([]byte(s))
	}
	lv := fakeVersion(irisMeta)
	f.Fuzz(func(t *testing.T, b []byte) {
		st := &reqState{}
		if rows, err := decodeInvocations(b, lv, st); err == nil && (rows < 1 || len(st.in) < rows*4) {
			t.Fatalf("rows %d, %d values", rows, len(st.in))
		}
		st = &reqState{}
		rows, err := decodePredict(b, lv, st)
		if err == nil {
			if rows < 1 || len(st.in) != rows*4 {
				t.Fatalf("rows %d, %d values", rows, len(st.in))
			}
			if !json.Valid(b) && !strings.Contains(string(b), "NaN") && !strings.Contains(string(b), "Infinity") {
				t.Fatalf("accepted invalid JSON %q", b)
			}
		}
		var s scanner
		s.b = b
		if s.skip() == nil && s.end() == nil && !json.Valid(b) && !strings.Contains(string(b), "NaN") && !strings.Contains(string(b), "Infinity") {
			t.Fatalf("skip accepted invalid JSON %q", b)
		}
	})
}

func TestContextCancelIsNotAFailure(t *testing.T) {
	status, code, _ := errorStatus(context.Canceled)
	if status != 499 || code != "CANCELLED" {
		t.Fatal(status, code)
	}
	if st, _, _ := errorStatus(&ModelError{Kind: KindTimeout}); st != 504 {
		t.Fatal(st)
	}
}

// A compiled model's metadata: a string column with a category table, an
// optional number, a boolean; int labels; predict_proba.
var typedMeta = Metadata{ABIVersion: 1, Task: Classification, DType: F64, OutputDType: F64, NFeatures: 3,
	FeatureNames: []string{"color", "x", "flag"}, NOutputs: 2, OutputNames: []string{"3", "7"}, MaxBatchRows: 64,
	Columns: []Column{{Name: "color", Type: "string", Categories: []string{"red", "green"}}, {Name: "x", Type: "double", Optional: true}, {Name: "flag", Type: "boolean"}},
	Labels:  []json.RawMessage{json.RawMessage(`3`), json.RawMessage(`7`)}, PredictFn: PredictFnProba}

func TestDecodeTypedColumns(t *testing.T) {
	if err := typedMeta.Validate(); err != nil {
		t.Fatal(err)
	}
	lv := fakeVersion(typedMeta)
	nan := math.NaN()
	for _, c := range []struct {
		name, body string
		rows       int
		want       []float64
		err        string
	}{
		{"split", `{"dataframe_split": {"columns": ["flag", "x", "color"], "data": [[true, 1.5, "green"], [false, null, "blue"]]}}`, 2, []float64{1, 1.5, 1, -1, nan, 0}, ""},
		{"split optional left out", `{"dataframe_split": {"columns": ["color", "flag"], "data": [["red", false]]}}`, 1, []float64{0, nan, 0}, ""},
		{"split required left out", `{"dataframe_split": {"columns": ["color", "x"], "data": [["red", 1]]}}`, 0, nil, `no column "flag"`},
		{"split positional", `{"dataframe_split": {"data": [["red", 2, true]]}}`, 1, []float64{0, 2, 1}, ""},
		{"records", `{"dataframe_records": [{"color": "gr\u0065en", "flag": 1}, {"color": null, "x": 3, "flag": false}]}`, 2, []float64{1, nan, 1, nan, 3, 0}, ""},
		{"records required left out", `{"dataframe_records": [{"color": "red"}]}`, 0, nil, `no value for "flag"`},
		{"columns", `{"inputs": {"color": ["red", "green"], "flag": [true, false]}}`, 2, []float64{0, nan, 1, 1, nan, 0}, ""},
		{"instances", `{"instances": [["green", 0.5, false]]}`, 1, []float64{1, 0.5, 0}, ""},
		{"number in a string column", `{"instances": [[1, 0.5, false]]}`, 0, nil, `column "color" takes strings`},
		{"string in a number column", `{"instances": [["red", "a", false]]}`, 0, nil, "non-numeric"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := &reqState{}
			rows, err := decodeInvocations([]byte(c.body), lv, st)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rows != c.rows || !sameFloats(st.in[:rows*3], c.want) {
				t.Fatalf("rows %d %v, want %d %v", rows, st.in[:rows*3], c.rows, c.want)
			}
		})
	}
	st := &reqState{}
	rows, err := decodeCSV([]byte("flag,color\ntrue,green\nfalse,\n"), lv, st)
	if err != nil || rows != 2 || !sameFloats(st.in, []float64{1, nan, 1, nan, nan, 0}) {
		t.Fatalf("csv: %d %v %v", rows, st.in, err)
	}
}

func TestAppendResponseTyped(t *testing.T) {
	lv := fakeVersion(typedMeta)
	out := []float64{0.25, 0.75, 0.5, 0.5}
	if got := string(lv.appendResponse(nil, out, 2, false, false)); got != `{"predictions":[7,3]}` {
		t.Fatalf("predict: %s", got)
	}
	if got := string(lv.appendResponse(nil, out, 2, false, true)); got != `{"predictions":[[0.25,0.75],[0.5,0.5]]}` {
		t.Fatalf("invocations with predict_proba: %s", got)
	}
	m := typedMeta
	m.PredictFn = PredictFnLogProba
	lv = fakeVersion(m)
	if got := string(lv.appendResponse(nil, []float64{1, 0}, 1, false, true)); got != `{"predictions":[[0,null]]}` {
		t.Fatalf("invocations with predict_log_proba: %s", got)
	}
	for name, mut := range map[string]func(m *Metadata){
		"columns length": func(m *Metadata) { m.Columns = m.Columns[:2] },
		"column type":    func(m *Metadata) { m.Columns = []Column{{Name: "color", Type: "date"}, m.Columns[1], m.Columns[2]} },
		"categories numeric": func(m *Metadata) {
			m.Columns = []Column{{Name: "color", Type: "double", Categories: []string{"a"}}, m.Columns[1], m.Columns[2]}
		},
		"labels length":       func(m *Metadata) { m.Labels = m.Labels[:1] },
		"labels repeat":       func(m *Metadata) { m.Labels = []json.RawMessage{json.RawMessage(`3`), json.RawMessage(`3`)} },
		"labels object":       func(m *Metadata) { m.Labels = []json.RawMessage{json.RawMessage(`{}`), json.RawMessage(`3`)} },
		"predict_fn":          func(m *Metadata) { m.PredictFn = "decision_function" },
		"proba for regressor": func(m *Metadata) { m.Task, m.Labels, m.OutputNames = Regression, nil, nil },
	} {
		m := typedMeta
		m.Columns = append([]Column(nil), typedMeta.Columns...)
		mut(&m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
