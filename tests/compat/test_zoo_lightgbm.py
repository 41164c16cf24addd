"""LightGBM models end to end, with the real MLflow client and LightGBM.

Every model of the LightGBM zoo (zoo_lightgbm.py: LGBMClassifier / LGBMRegressor and
plain Boosters; binary, multiclass, string labels, regression L2/L1/huber/quantile,
poisson, gamma, tweedie; rf boosting; early stopping; the missing-value types none, zero
and NaN; categorical features; skops, pickle and the Booster's text) is logged with the
real `mlflow.lightgbm.log_model`, registered, compiled by mlbox in the background, and
served: `/invocations` must answer what `mlflow models serve` answers (mlflow.lightgbm's
pyfunc predict): labels identical with their JSON types, values within 1e-9 relative.
Skipped where lightgbm is not installed (the 2.x venv).
"""
import pytest

from conftest import TARGET, unique
from zoo_common import invoke, same, wait_compiled

pytestmark = pytest.mark.skipif(TARGET != "mlbox", reason="mlbox compiles and serves LightGBM models; MLflow does not")
pytest.importorskip("lightgbm")

import mlflow as _mlflow  # noqa: E402

import zoo_lightgbm as zoo  # noqa: E402

MLFLOW3 = int(_mlflow.__version__.split(".")[0]) >= 3
CASES = zoo.cases()


def log_model(case, name, **kw):
    import mlflow
    from mlflow.models import infer_signature

    kw.setdefault("signature", infer_signature(case.X_train, zoo.predict(case, case.X_train)))
    kw.update(registered_model_name=name, pip_requirements=["lightgbm"])
    if case.fmt in ("skops", "pickle") and MLFLOW3:
        kw["serialization_format"] = case.fmt
        if case.fmt == "skops":
            kw["skops_trusted_types"] = zoo.TRUSTED
    with mlflow.start_run():
        if MLFLOW3:
            return mlflow.lightgbm.log_model(case.model, name="model", **kw)
        return mlflow.lightgbm.log_model(case.model, artifact_path="model", **kw)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_zoo(client, tracking_uri, case):
    name = unique(case.name[:40])
    log_model(case, name)
    state = wait_compiled(client, name, "1")
    assert state == "compiled", state
    want = zoo.expected(case)
    got = invoke(f"{tracking_uri}/models/{name}/versions/1/invocations", zoo.dataframe_split(case.X_test))
    assert len(got) == len(want)
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if not same(g, w, zoo.TOL)]
    assert not bad, f"{len(bad)} of {len(want)} rows differ, first: {bad[:3]}"


def test_default_log_model(client, tracking_uri):
    """The issue's user: mlflow.lightgbm.log_model(LGBMRegressor) with an input example and
    nothing else (MLflow 3 writes skops and needs the trusted types; 2.x pickles), champion,
    and LightGBM's own values from /models/NAME/invocations."""
    import mlflow

    case = next(c for c in CASES if c.name == "lgb_reg_regression")
    name = unique("lgb-default")
    kw = {"registered_model_name": name, "input_example": case.X_train.head(3)}
    with mlflow.start_run():
        if MLFLOW3:
            mlflow.lightgbm.log_model(case.model, name="model", skops_trusted_types=zoo.TRUSTED, **kw)
        else:
            mlflow.lightgbm.log_model(case.model, artifact_path="model", **kw)
    assert wait_compiled(client, name, "1") == "compiled"
    client.set_registered_model_alias(name, "champion", "1")
    got = invoke(f"{tracking_uri}/models/{name}/invocations", zoo.dataframe_split(case.X_test))
    assert same(got, zoo.expected(case), zoo.TOL), (got[:5], zoo.expected(case)[:5])
