package mlmodel

import (
	"strings"
	"testing"
)

// As mlflow.sklearn.log_model (3.17.2) writes it, trimmed.
const sklearnMLmodel = `artifact_path: /srv/mlartifacts/1/models/m-0a1b/artifacts
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.skops
    predict_fn: predict_proba
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.skops
    serialization_format: skops
    sklearn_version: 1.9.1
    skops_trusted_types:
    - sklearn.tree._tree.Tree
is_signature_from_type_hint: false
mlflow_version: 3.17.2
model_id: m-0a1b
model_size_bytes: 11634
model_uuid: m-0a1b
run_id: 5f0e
signature:
  inputs: '[{"type": "double", "name": "sepal length (cm)", "required": true}, {"type":
    "string", "name": "color", "required": false}, {"type": "long", "name": "n", "required":
    true}]'
  outputs: '[{"type": "long", "required": true}]'
  params: null
utc_time_created: '2026-11-30 10:00:00.000000'
`

func TestParseSklearn(t *testing.T) {
	m, err := Parse([]byte(sklearnMLmodel))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.FlavorNames(), ","); got != "python_function,sklearn" {
		t.Fatalf("flavors %s", got)
	}
	if m.ModelID != "m-0a1b" || m.RunID != "5f0e" || m.MLflowVersion != "3.17.2" {
		t.Fatalf("%+v", m)
	}
	sk := m.Flavor("sklearn")
	if sk.String("serialization_format") != "skops" || sk.String("pickled_model") != "model.skops" || sk.String("sklearn_version") != "1.9.1" || sk.String("code") != "" {
		t.Fatalf("%+v", sk.Fields)
	}
	if tt := sk.Strings("skops_trusted_types"); len(tt) != 1 || tt[0] != "sklearn.tree._tree.Tree" {
		t.Fatalf("%v", tt)
	}
	if m.Flavor("python_function").String("predict_fn") != "predict_proba" || m.Flavor("wasm") != nil {
		t.Fatal("predict_fn")
	}
	in := m.Signature.Inputs.Columns
	if len(in) != 3 || in[0] != (ColSpec{"sepal length (cm)", "double", true}) || in[1] != (ColSpec{"color", "string", false}) || in[2].Type != "long" {
		t.Fatalf("%+v", in)
	}
	if out := m.Signature.Outputs.Columns; len(out) != 1 || out[0].Name != "" || out[0].Type != "long" {
		t.Fatalf("%+v", out)
	}
}

func TestParseTensorAndOdd(t *testing.T) {
	m, err := Parse([]byte(`flavors:
  sklearn: {pickled_model: model.pkl, sklearn_version: 1.3}
signature:
  inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]'
  outputs: '[{"type": {"type": "array", "items": {"type": "double"}}, "name": "x"}]'
`))
	if err != nil {
		t.Fatal(err)
	}
	ts := m.Signature.Inputs.Tensors
	if len(ts) != 1 || ts[0].DType != "float64" || len(ts[0].Shape) != 2 || ts[0].Shape[1] != 4 {
		t.Fatalf("%+v", m.Signature.Inputs)
	}
	if c := m.Signature.Outputs.Columns; len(c) != 1 || c[0].Type != "any" || !c[0].Required {
		t.Fatalf("%+v", c)
	}
	if v := m.Flavor("sklearn").String("sklearn_version"); v != "1.3" {
		t.Fatalf("number field as string: %q", v)
	}
	for body, want := range map[string]string{
		"":                            "not a YAML mapping",
		"- a\n":                       "not a YAML mapping",
		"flavors: [a]\n":              "flavors is not a mapping",
		"flavors:\n  wasm: 3\n":       "flavor wasm is not a mapping",
		"signature:\n  inputs: '{'\n": "signature inputs",
		"signature:\n  inputs: '[{\"name\": 3}]'": "name is not a string",
		"a: [\n": "not valid YAML",
	} {
		if _, err := Parse([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

func TestParseAliasBomb(t *testing.T) {
	// A billion-laughs document must fail (the library bounds alias
	// expansion), not exhaust memory.
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		b.WriteString("a" + string(rune('0'+i%10)) + string(rune('a'+i)) + ": &a" + string(rune('a'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			if i == 1 {
				b.WriteString("*a0")
			} else {
				b.WriteString("*a" + string(rune('a'+i-1)))
			}
		}
		b.WriteString("]\n")
	}
	b.WriteString("flavors:\n  wasm:\n    module: m\n    x: *al\n")
	if _, err := Parse([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "alias") {
		t.Fatalf("alias bomb: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sklearnMLmodel))
	f.Add([]byte("flavors: {wasm: {module: m}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Parse(b)
	})
}
