package xgboost

import (
	"testing"

	"mlbox/serve/internal/zootest"
)

// TestZoo builds every fixture (models trained by the real XGBoost and
// saved by the real mlflow.xgboost, scripts/gen_xgboost_fixtures.py) and
// checks the reference evaluator against what XGBoost predicted through
// MLflow's pyfunc: labels identical, values within 1e-6.
func TestZoo(t *testing.T) { zootest.RunZoo(t, ".", Build) }
