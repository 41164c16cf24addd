package sklearn

import (
	"os"
	"path/filepath"
	"testing"

	"mlbox/serve/internal/zootest"
	"mlbox/serve/mlmodel"
)

// TestZoo builds every fixture (models trained and logged by the real
// scikit-learn and MLflow) and checks the reference evaluator against
// what scikit-learn predicted: labels identical, values and probabilities
// within 1e-9 (trees exactly).
func TestZoo(t *testing.T) {
	dirs, err := zootest.Dirs(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(filepath.Dir(dir))+"/"+filepath.Base(dir), func(t *testing.T) {
			c, err := zootest.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "MLmodel"))
			if err != nil {
				t.Fatal(err)
			}
			mm, err := mlmodel.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Build(mm, zootest.Reader(dir))
			if err != nil {
				t.Fatalf("%s (%s): %v", c.Name, c.Family, err)
			}
			if err := c.Check(m, m.Eval); err != nil {
				t.Fatal(err)
			}
		})
	}
}
