package lightgbm

import (
	"os"
	"path/filepath"
	"testing"

	"mlbox/serve/internal/zootest"
	"mlbox/serve/mlmodel"
)

// TestZoo builds every fixture (models trained by the real LightGBM and
// saved by the real mlflow.lightgbm, scripts/gen_lightgbm_fixtures.py) and
// checks the reference evaluator against what LightGBM predicted through
// MLflow's pyfunc: labels identical, values within 1e-9.
func TestZoo(t *testing.T) {
	dirs, err := zootest.Dirs(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
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
				t.Fatalf("%s: %v", c.Name, err)
			}
			if err := c.Check(m, m.Eval); err != nil {
				t.Fatal(err)
			}
		})
	}
}
