package lightgbm

import (
	"testing"

	"mlbox/serve/internal/zootest"
)

// TestZoo builds every fixture (models trained by the real LightGBM and
// saved by the real mlflow.lightgbm, scripts/gen_lightgbm_fixtures.py) and
// checks the reference evaluator against what LightGBM predicted through
// MLflow's pyfunc: labels identical, values within 1e-9.
func TestZoo(t *testing.T) { zootest.RunZoo(t, ".", Build) }
