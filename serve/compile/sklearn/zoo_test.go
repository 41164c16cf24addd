package sklearn

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"mlbox/serve/internal/zootest"
	"mlbox/serve/mlmodel"
)

// TestZoo builds every fixture (models trained and logged by the real
// scikit-learn and MLflow) and checks the reference evaluator against
// what scikit-learn predicted: labels identical, values and probabilities
// within 1e-9 (trees exactly).
func TestZoo(t *testing.T) { zootest.RunZoo(t, ".", Build) }

// TestSignatureOrder: a signature that lists the columns in another order
// than the model was fitted on (and has one more) changes nothing: the
// columns are matched by name.
func TestSignatureOrder(t *testing.T) {
	for _, name := range []string{"ct_pipelines_passthrough-pickle", "pipe_scaler_logreg_cancer-pickle"} {
		dir := filepath.Join("testdata/zoo", name)
		c, err := zootest.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "MLmodel"))
		mm, err := mlmodel.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		cols := mm.Signature.Inputs.Columns
		slices.Reverse(cols)
		mm.Signature.Inputs.Columns = append(cols, mlmodel.ColSpec{Name: "extra", Type: "double"})
		m, err := Build(mm, zootest.Reader(dir))
		if err != nil {
			t.Fatal(err)
		}
		if m.Inputs[0].Name != cols[0].Name || len(m.Inputs) != len(cols)+1 {
			t.Fatalf("inputs %+v", m.Inputs)
		}
		if err := c.Check(m, m.Eval); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
