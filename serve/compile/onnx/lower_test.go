package onnx

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mlbox/serve/compile/ir"
	"mlbox/serve/internal/zootest"
)

// expect.json holds onnxruntime's answers (one thread) for the models
// testdata/gen.py made: the rows fed (null for NaN) and each graph output
// (ZipMap outputs as lists of probabilities in label order).
type expectation struct {
	// Rows are the graph inputs' columns side by side: numbers, null for
	// NaN, strings.
	Rows    [][]any                    `json:"rows"`
	Outputs map[string]json.RawMessage `json:"outputs"`
}

func close32(got, want float64) bool {
	return math.Abs(got-want) <= 1e-6*math.Abs(want)+1e-7
}

func TestLowerMatchesOnnxruntime(t *testing.T) {
	b, err := os.ReadFile("testdata/expect.json")
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]expectation
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	for name, want := range all {
		t.Run(name, func(t *testing.T) {
			m, err := Load(filepath.Join("testdata", name), "model.onnx", Limits{})
			if err != nil {
				t.Fatal(err)
			}
			low, err := Lower(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := low.Model.Validate(); err != nil {
				t.Fatal(err)
			}
			var labels []json.RawMessage
			var scores [][]float64
			if low.LabelOutput != "" {
				if err := json.Unmarshal(want.Outputs[low.LabelOutput], &labels); err != nil {
					t.Fatal(err)
				}
			}
			if low.Flat {
				var flat []float64
				if err := json.Unmarshal(want.Outputs[low.ScoreOutput], &flat); err != nil {
					t.Fatal(err)
				}
				for _, v := range flat {
					scores = append(scores, []float64{v})
				}
			} else if err := json.Unmarshal(want.Outputs[low.ScoreOutput], &scores); err != nil {
				t.Fatal(err)
			}
			for r, row := range want.Rows {
				x, err := zootest.EncodeRow(low.Model.Inputs, inputNames(low.Model), row)
				if err != nil {
					t.Fatal(err)
				}
				out, err := low.Model.Eval(x)
				if err != nil {
					t.Fatal(err)
				}
				label := -1
				if low.LabelIndex {
					label = int(out[len(out)-1])
					out = out[:len(out)-1]
				}
				if len(out) != len(scores[r]) {
					t.Fatalf("row %d: %d outputs, onnxruntime %d", r, len(out), len(scores[r]))
				}
				for k := range out {
					if !close32(out[k], scores[r][k]) {
						t.Errorf("row %d output %d: %v, onnxruntime %v", r, k, out[k], scores[r][k])
					}
				}
				if labels != nil {
					best := label
					if best < 0 {
						best = 0
						for k := range out {
							if out[k] > out[best] {
								best = k
							}
						}
					}
					if string(low.Model.Labels[best]) != string(labels[r]) {
						t.Errorf("row %d: label %s, onnxruntime %s", r, low.Model.Labels[best], labels[r])
					}
				}
			}
			if name == "logreg" && !low.ZipMap {
				t.Error("logreg's probabilities are a ZipMap")
			}
		})
	}
}

// inputNames are a model's input names, the columns of a row in order.
func inputNames(m *ir.Model) []string {
	var out []string
	for _, in := range m.Inputs {
		out = append(out, in.Name)
	}
	return out
}

// TestLowerRefuses: the models of testdata/unsupported (gen.py) are
// unsupported, and the message says why.
func TestLowerRefuses(t *testing.T) {
	b, err := os.ReadFile("testdata/unsupported.json")
	if err != nil {
		t.Fatal(err)
	}
	var says map[string]string
	if err := json.Unmarshal(b, &says); err != nil {
		t.Fatal(err)
	}
	for name, want := range says {
		m, err := Load(filepath.Join("testdata", "unsupported", name), "model.onnx", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Lower(m)
		var ue *ir.UnsupportedError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want unsupported: ...%s...", name, err, want)
		}
	}
}

func TestLowerNamesWhatIsUnsupported(t *testing.T) {
	// A graph with an operator mlbox does not compile (Erf after the input).
	node := bytesF(1, msg(bytesF(1, []byte("X")), bytesF(2, []byte("Y")), bytesF(3, []byte("erf_1")), bytesF(4, []byte("Erf"))))
	tensorType := func(dims ...uint64) []byte {
		var shape []byte
		for _, d := range dims {
			if d == 0 {
				shape = append(shape, bytesF(1, bytesF(2, []byte("N")))...)
			} else {
				shape = append(shape, bytesF(1, varintF(1, d))...)
			}
		}
		return bytesF(1, msg(varintF(1, uint64(Float)), bytesF(2, shape)))
	}
	graph := msg(node, bytesF(11, msg(bytesF(1, []byte("X")), bytesF(2, tensorType(0, 3)))),
		bytesF(12, msg(bytesF(1, []byte("Y")), bytesF(2, tensorType(0, 3)))))
	m, err := Parse(msg(varintF(1, 8), bytesF(7, graph)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lower(m)
	var ue *ir.UnsupportedError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "erf_1") || !strings.Contains(err.Error(), "Erf") {
		t.Fatalf("%v", err)
	}
	// The dense network with external weights lowers.
	if m, err = Load("testdata/external", "model.onnx", Limits{}); err != nil {
		t.Fatal(err)
	}
	if low, err := Lower(m); err != nil || low.Model.Validate() != nil || len(low.Model.Out) != 3 {
		t.Fatalf("external: %v", err)
	}
	// Every test model lowers or says why, without panicking.
	for _, name := range []string{"forest", "logreg", "lin_binary", "lin_reg", "imputer_reg", "mlp_multi", "mlp_binary", "mlp_reg"} {
		m, err := Load(filepath.Join("testdata", name), "model.onnx", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Lower(m); err != nil && !errors.As(err, &ue) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzLower feeds mutated test models through the whole front end: a
// model file is hostile input, so parsing and lowering may refuse it but
// never panic, and a valid description evaluates.
func FuzzLower(f *testing.F) {
	for _, name := range []string{"logreg", "ct_onehot", "ordinal_tree", "shapes", "te5_modes", "mlp_binary", "lin_double"} {
		b, err := os.ReadFile(filepath.Join("testdata", name, "model.onnx"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		low, err := Lower(m)
		if err != nil {
			return
		}
		// (A description can be invalid, a tree with a cycle; Build refuses it.)
		if low.Model.Validate() == nil {
			_, _ = low.Model.Eval(make([]float64, len(low.Model.Inputs)))
		}
	})
}
