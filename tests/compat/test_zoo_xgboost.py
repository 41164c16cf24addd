"""XGBoost models end to end, with the real MLflow client and XGBoost.

Every model of the XGBoost zoo (zoo_xgboost.py: XGBClassifier / XGBRegressor /
XGBRFClassifier and plain Boosters; binary, multiclass, regression, poisson, gamma,
tweedie, reg:logistic; dart; early stopping; categorical splits; NaN; UBJSON and JSON) is
logged with the real `mlflow.xgboost.log_model`, registered, compiled by mlbox in the
background, and served: `/invocations` must answer what `mlflow models serve` answers
(mlflow.xgboost's pyfunc predict): class indices identical, values within 1e-6 relative
(XGBoost computes in float32). Skipped where xgboost is not installed (the 2.x venv).
"""
import pytest

from conftest import TARGET, unique
from zoo_common import invoke, same, wait_compiled

pytestmark = pytest.mark.skipif(TARGET != "mlbox", reason="mlbox compiles and serves XGBoost models; MLflow does not")
pytest.importorskip("xgboost")

import mlflow as _mlflow  # noqa: E402

import zoo_xgboost as zoo  # noqa: E402

MLFLOW3 = int(_mlflow.__version__.split(".")[0]) >= 3
CASES = zoo.cases()


def log_model(case, name):
    import mlflow
    from mlflow.models import infer_signature

    kw = {"model_format": case.model_format, "registered_model_name": name, "pip_requirements": ["xgboost"],
          "signature": infer_signature(case.X_train, zoo.predict(case, case.X_train))}
    with mlflow.start_run():
        if MLFLOW3:
            return mlflow.xgboost.log_model(case.model, name="model", **kw)
        return mlflow.xgboost.log_model(case.model, artifact_path="model", **kw)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_zoo(client, tracking_uri, case):
    name = unique(case.name[:40])
    log_model(case, name)
    state = wait_compiled(client, name, "1")
    assert state == "compiled", state
    client.set_registered_model_alias(name, "champion", "1")
    want = zoo.expected(case)
    got = invoke(f"{tracking_uri}/models/{name}/invocations", zoo.dataframe_split(case.X_test))
    assert len(got) == len(want)
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if not same(g, w, zoo.TOL)]
    assert not bad, f"{len(bad)} of {len(want)} rows differ, first: {bad[:3]}"


def test_default_log_model(client, tracking_uri):
    """The issue's user: mlflow.xgboost.log_model with nothing but the model and an input
    example (UBJSON, the inferred signature), champion, and XGBoost's own answer."""
    import mlflow

    case = next(c for c in CASES if c.name == "xgb_clf_multi")
    name = unique("xgb-default")
    with mlflow.start_run():
        kw = {"registered_model_name": name, "input_example": case.X_train.head(3)}
        if MLFLOW3:
            mlflow.xgboost.log_model(case.model, name="model", **kw)
        else:
            mlflow.xgboost.log_model(case.model, artifact_path="model", **kw)
    assert wait_compiled(client, name, "1") == "compiled"
    client.set_registered_model_alias(name, "champion", "1")
    got = invoke(f"{tracking_uri}/models/{name}/invocations", zoo.dataframe_split(case.X_test))
    assert same(got, zoo.expected(case), zoo.TOL), (got[:5], zoo.expected(case)[:5])
