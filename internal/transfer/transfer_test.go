package transfer

import (
	"encoding/json"
	"math"
	"testing"
)

func TestQuoteNonFinite(t *testing.T) {
	in := `{"metrics":[{"key":"NaN","value":NaN},{"key":"a \"NaN\" b","value":-Infinity},{"key":"x","value":Infinity},{"key":"y","value":1.5}]}`
	var out struct {
		Metrics []Metric `json:"metrics"`
	}
	if err := json.Unmarshal(quoteNonFinite([]byte(in)), &out); err != nil {
		t.Fatal(err)
	}
	m := out.Metrics
	if len(m) != 4 || m[0].Key != "NaN" || !math.IsNaN(float64(m[0].Value)) || m[1].Key != `a "NaN" b` ||
		!math.IsInf(float64(m[1].Value), -1) || !math.IsInf(float64(m[2].Value), 1) || m[3].Value != 1.5 {
		t.Fatalf("%+v", m)
	}
	b, _ := json.Marshal(m)
	if string(b) != `[{"key":"NaN","value":"NaN","timestamp":0,"step":0},{"key":"a \"NaN\" b","value":"-Infinity","timestamp":0,"step":0},{"key":"x","value":"Infinity","timestamp":0,"step":0},{"key":"y","value":1.5,"timestamp":0,"step":0}]` {
		t.Fatalf("%s", b)
	}
}

func TestProxyPath(t *testing.T) {
	for in, want := range map[string]string{
		"mlflow-artifacts:/1/abc/artifacts":                   "1/abc/artifacts",
		"mlflow-artifacts://host:5000/1/models/m-1/artifacts": "1/models/m-1/artifacts",
		"mlflow-artifacts:":                                   "",
	} {
		if got, ok := proxyPath(in); !ok || got != want {
			t.Errorf("%s: %q %v", in, got, ok)
		}
	}
	if _, ok := proxyPath("s3://b/k"); ok {
		t.Error("s3 is not proxied")
	}
}

func TestInt64AcceptsStrings(t *testing.T) {
	var v struct{ A, B Int64 }
	if err := json.Unmarshal([]byte(`{"A":"12345678901234","B":7}`), &v); err != nil || v.A != 12345678901234 || v.B != 7 {
		t.Fatalf("%+v %v", v, err)
	}
}
