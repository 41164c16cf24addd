// Package zootest reads the compiler's test fixtures: models trained and
// logged by the real scikit-learn and MLflow (scripts/gen_sklearn_fixtures.py,
// scripts/gen_sklearn13_fixtures.sh), each with what scikit-learn
// predicted on held-out rows, and checks predictions against them. Tests
// only.
package zootest

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mlbox/serve/compile/ir"
	"mlbox/serve/mlmodel"
)

// Case is a fixture's cases.json.
type Case struct {
	Name         string            `json:"name"`
	Family       string            `json:"family"`
	Task         string            `json:"task"`
	PredictFn    string            `json:"predict_fn"`
	Columns      []string          `json:"columns"`
	Rows         [][]any           `json:"rows"`
	Predict      []json.RawMessage `json:"predict"`
	PredictProba [][]float64       `json:"predict_proba"`
	Expected     struct {
		Predictions json.RawMessage `json:"predictions"`
	} `json:"expected"`
	SklearnVersion string `json:"sklearn_version"`
	// Tol, when set, is the relative tolerance of values and
	// probabilities (1e-6 for a library that computes in float32); 0 means
	// the default (1e-9, trees exactly).
	Tol float64 `json:"tol"`
	// Dir is the model directory.
	Dir string `json:"-"`
}

// Dirs lists the fixture model directories under the sklearn front
// end's testdata (root is the path to serve/compile/sklearn).
func Dirs(root string) ([]string, error) {
	var dirs []string
	for _, pat := range []string{"testdata/zoo/*", "testdata/sklearn13/*"} {
		m, err := filepath.Glob(filepath.Join(root, pat))
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, m...)
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no fixtures under %s/testdata", root)
	}
	return dirs, nil
}

// Load reads a fixture's cases.json.
func Load(dir string) (*Case, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		return nil, err
	}
	c := &Case{Dir: dir}
	return c, json.Unmarshal(raw, c)
}

// Reader reads files of a model directory.
func Reader(dir string) func(name string, limit int64) ([]byte, error) {
	return func(name string, limit int64) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, name))
	}
}

// EncodeRow turns a row of JSON values (in the case's column order) into
// the model's inputs as the host does: strings to their codes (-1
// outside the table), null to NaN.
func EncodeRow(inputs []ir.Input, cols []string, row []any) ([]float64, error) {
	in := make([]float64, len(inputs))
	for i := range in {
		in[i] = math.NaN()
	}
	for j, name := range cols {
		k := slices.IndexFunc(inputs, func(in ir.Input) bool { return in.Name == name })
		if k < 0 {
			continue
		}
		switch v := row[j].(type) {
		case nil:
		case float64:
			in[k] = v
		case bool:
			in[k] = 0
			if v {
				in[k] = 1
			}
		case string:
			if inputs[k].Type != "string" {
				return nil, fmt.Errorf("a string in the numeric column %s", name)
			}
			in[k] = float64(slices.Index(inputs[k].Categories, v))
		}
	}
	return in, nil
}

// ArgMax is the host's: the first of the largest, NaN never wins.
func ArgMax(row []float64) int {
	best := 0
	for k := 1; k < len(row); k++ {
		if row[k] > row[best] || row[best] != row[best] && row[k] == row[k] {
			best = k
		}
	}
	return best
}

// Close reports |got - want| <= tol·max(1, |want|).
func Close(got, want, tol float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// Exact says whether the case's predictions must match scikit-learn bit
// for bit (trees), rather than within 1e-9.
func (c *Case) Exact() bool {
	if c.Tol > 0 {
		return false
	}
	return strings.Contains(c.Family, "Tree") || strings.Contains(c.Family, "Forest")
}

// Check compares predictions with scikit-learn's, row by row: labels
// identical, values and probabilities within 1e-9 relative (trees
// exactly). predict returns a row's outputs.
func (c *Case) Check(m *ir.Model, predict func(in []float64) ([]float64, error)) error {
	tol := 1e-9
	switch {
	case c.Tol > 0:
		tol = c.Tol
	case c.Exact():
		tol = 0
	}
	var want []json.RawMessage
	if err := json.Unmarshal(c.Expected.Predictions, &want); err != nil {
		return err
	}
	for r, row := range c.Rows {
		in, err := EncodeRow(m.Inputs, c.Columns, row)
		if err != nil {
			return err
		}
		out, err := predict(in)
		if err != nil {
			return fmt.Errorf("row %d: %v", r, err)
		}
		switch {
		case c.PredictFn == "predict_proba":
			var p []float64
			if err := json.Unmarshal(want[r], &p); err != nil {
				return err
			}
			for k := range p {
				if !Close(out[k], p[k], tol) {
					return fmt.Errorf("row %d: predict_proba %v, sklearn %v", r, out, p)
				}
			}
		case m.Task == ir.Classification:
			if got := m.Labels[ArgMax(out)]; string(got) != string(want[r]) {
				return fmt.Errorf("row %d: label %s (scores %v), sklearn %s", r, got, out, want[r])
			}
			if m.HasProba && c.PredictProba != nil {
				for k, p := range c.PredictProba[r] {
					if !Close(out[k], p, tol) {
						return fmt.Errorf("row %d: probabilities %v, sklearn %v", r, out, c.PredictProba[r])
					}
				}
			}
		default:
			var v any
			if err := json.Unmarshal(want[r], &v); err != nil {
				return err
			}
			var vals []float64
			switch v := v.(type) {
			case float64:
				vals = []float64{v}
			case []any:
				for _, e := range v {
					f, _ := e.(float64)
					vals = append(vals, f)
				}
			}
			if len(vals) != len(out) {
				return fmt.Errorf("row %d: %d outputs, sklearn %d", r, len(out), len(vals))
			}
			for k := range vals {
				if !Close(out[k], vals[k], tol) {
					return fmt.Errorf("row %d: %v, sklearn %v", r, out, vals)
				}
			}
		}
	}
	return nil
}

// Build is a front end's Build.
type Build func(mm *mlmodel.MLmodel, read func(name string, limit int64) ([]byte, error)) (*ir.Model, error)

// RunZoo builds every fixture under root (a front end's package
// directory) with build and checks the reference evaluator against the
// library's predictions, one subtest per fixture.
func RunZoo(t *testing.T, root string, build Build) {
	dirs, err := Dirs(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(filepath.Dir(dir))+"/"+filepath.Base(dir), func(t *testing.T) {
			c, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			m, err := build(readMLmodel(t, dir), Reader(dir))
			if err != nil {
				t.Fatalf("%s (%s): %v", c.Name, c.Family, err)
			}
			if err := c.Check(m, m.Eval); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// readMLmodel reads and parses a fixture's MLmodel.
func readMLmodel(t testing.TB, dir string) *mlmodel.MLmodel {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "MLmodel"))
	if err != nil {
		t.Fatal(err)
	}
	mm, err := mlmodel.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return mm
}

// ModelFile reads a fixture's MLmodel and its model file, the one files
// (a front end's Files) names.
func ModelFile(t testing.TB, dir string, files func(*mlmodel.MLmodel) ([]string, error)) (*mlmodel.MLmodel, string, []byte) {
	t.Helper()
	mm := readMLmodel(t, dir)
	names, err := files(mm)
	if err != nil || len(names) != 1 {
		t.Fatalf("model files %v: %v", names, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	return mm, names[0], data
}

// File serves one file's bytes to a front end's Build.
func File(name string, data []byte) func(string, int64) ([]byte, error) {
	return func(n string, limit int64) ([]byte, error) {
		if n != name {
			return nil, fmt.Errorf("unexpected file %s", n)
		}
		return data, nil
	}
}
