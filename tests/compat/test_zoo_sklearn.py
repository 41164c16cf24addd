"""The model compiler end to end, with the real MLflow client and scikit-learn.

Every model of the zoo (zoo_sklearn.py: every supported family, on binary,
multiclass and regression data, with string categories and NaN) is logged
with the real `mlflow.sklearn.log_model` in each serialization format the
client offers (3.x: skops, pickle, cloudpickle; 2.x: pickle, cloudpickle),
registered, compiled by mlbox in the background (the version's mlbox.compile
tag goes to "compiled"), and served: `/invocations` must answer what
`mlflow models serve` answers for the same rows (zoo_sklearn.expected):
labels identical with their JSON types, values within 1e-9 relative, trees
exactly.
"""
import os

import pytest
import requests

import zoo_sklearn as zoo
from conftest import TARGET, unique
from zoo_common import invoke, wait_compiled
from zoo_common import same as _same

pytestmark = pytest.mark.skipif(TARGET != "mlbox", reason="mlbox compiles and serves sklearn models; MLflow does not")

import mlflow as _mlflow  # noqa: E402

MLFLOW3 = int(_mlflow.__version__.split(".")[0]) >= 3
CASES = zoo.cases()
FORMATS = ["skops", "pickle", "cloudpickle"] if MLFLOW3 else ["pickle", "cloudpickle"]
PARAMS = [pytest.param(c, f, id=f"{c.name}-{f}") for c in CASES for f in FORMATS if f in c.formats]


def log_model(case, fmt, name, model=None, **kw):
    """mlflow.sklearn.log_model as a user writes it, registering the model (the case's, or `model`)."""
    import mlflow

    if model is None:
        model = case.model
    kw.setdefault("input_example", case.X_train.head(5))
    kw.setdefault("pip_requirements", ["scikit-learn"])  # skips the slow requirement inference
    if case.predict_fn != "predict":
        kw["pyfunc_predict_fn"] = case.predict_fn
    if fmt == "skops" and case.skops_trusted_types:
        kw["skops_trusted_types"] = case.skops_trusted_types
    with mlflow.start_run():
        if MLFLOW3:
            info = mlflow.sklearn.log_model(model, name="model", serialization_format=fmt,
                                            registered_model_name=name, **kw)
        else:
            info = mlflow.sklearn.log_model(model, artifact_path="model", serialization_format=fmt,
                                            registered_model_name=name, **kw)
    return info


def same(got, want, exact):
    """JSON-equal, floats within 1e-9 relative (exactly when exact); types kept."""
    return _same(got, want, 0 if exact else 1e-9)


def exact(case):
    return "Tree" in case.family or "Forest" in case.family


@pytest.mark.parametrize("case,fmt", PARAMS)
def test_zoo(client, tracking_uri, case, fmt):
    name = unique(case.name[:40])
    log_model(case, fmt, name)
    state = wait_compiled(client, name, "1")
    assert state == "compiled", state
    want = zoo.expected(case)
    got = invoke(f"{tracking_uri}/models/{name}/versions/1/invocations", zoo.dataframe_split(case.X_test))
    assert len(got) == len(want)
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if not same(g, w, exact(case))]
    assert not bad, f"{len(bad)} of {len(want)} rows differ, first: {bad[:3]}"


def test_new_user(client, tracking_uri):
    """The issue's user: changes nothing but MLFLOW_TRACKING_URI, logs an sklearn
    pipeline (default format), a random forest (pickle, since skops refuses
    trees by default) and a one-hot-encoded linear model, sets champion, and
    gets sklearn's own predictions from /models/NAME/invocations in every
    input format MLflow's scoring server takes."""
    import mlflow

    picks = {c.name: c for c in CASES}
    for case_name, fmt in [("pipe_scaler_logreg_cancer", "skops" if MLFLOW3 else "cloudpickle"),
                           ("rf_clf_cancer", "pickle"),
                           ("ohe_ignore_first_ridge", "skops" if MLFLOW3 else "cloudpickle")]:
        case = picks[case_name]
        name = unique(case_name[:30])
        kw = {"serialization_format": fmt, "registered_model_name": name, "input_example": case.X_train.head(3)}
        with mlflow.start_run():
            if MLFLOW3:
                mlflow.sklearn.log_model(case.model, name="model", **kw)
            else:
                mlflow.sklearn.log_model(case.model, artifact_path="model", **kw)
        assert wait_compiled(client, name, "1") == "compiled"
        client.set_registered_model_alias(name, "champion", "1")
        want = zoo.expected(case)
        X = case.X_test
        split = zoo.dataframe_split(X)
        records = [dict(zip(split["dataframe_split"]["columns"], r)) for r in split["dataframe_split"]["data"]]
        url = f"{tracking_uri}/models/{name}/invocations"
        for body in (split, {"dataframe_records": records}, {"instances": records},
                     {"inputs": {c: [r[i] for r in split["dataframe_split"]["data"]]
                                 for i, c in enumerate(split["dataframe_split"]["columns"])}}):
            got = invoke(url, body)
            assert same(got, want, exact(case)), (case_name, list(body), got[:3], want[:3])
        # The columns in another order, and /predict with probabilities.
        cols = list(reversed(split["dataframe_split"]["columns"]))
        rev = {"dataframe_split": {"columns": cols, "data": [[rec[c] for c in cols] for rec in records]}}
        assert same(invoke(url, rev), want, exact(case))
        # The version stays linked to its run and its flavors are untouched,
        # so the real client still loads it with pyfunc.
        mv = client.get_model_version(name, "1")
        assert mv.run_id
        loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        assert same(zoo._tolist(loaded.predict(zoo.served_frame(X))), want, exact(case))


def test_missing_required_column(client, tracking_uri):
    case = next(c for c in CASES if c.name == "pipe_scaler_logreg_cancer")
    name = unique("missing-col")
    log_model(case, "cloudpickle", name)
    assert wait_compiled(client, name, "1") == "compiled"
    split = zoo.dataframe_split(case.X_test)
    col = split["dataframe_split"]["columns"][2]
    split["dataframe_split"]["columns"].pop(2)
    for r in split["dataframe_split"]["data"]:
        r.pop(2)
    r = requests.post(f"{tracking_uri}/models/{name}/versions/1/invocations", json=split, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "BAD_REQUEST" and col in r.json()["message"]


def test_unsupported_state(client, tracking_uri):
    """A family outside the list gets unsupported: <class>, and serving it says so."""
    from sklearn.dummy import DummyClassifier

    case = next(c for c in CASES if c.name == "pipe_scaler_logreg_cancer")
    model = DummyClassifier(strategy="most_frequent").fit(case.X_train, case.y_train)
    name = unique("dummy")
    log_model(case, "cloudpickle", name, model=model, input_example=None)
    state = wait_compiled(client, name, "1")
    assert state.startswith("unsupported: ") and "DummyClassifier" in state, state
    client.set_registered_model_alias(name, "champion", "1")
    r = requests.post(f"{tracking_uri}/models/{name}/invocations", json=zoo.dataframe_split(case.X_test), timeout=30)
    assert r.status_code == 409 and "DummyClassifier" in r.json()["message"], r.text
    d = requests.get(f"{tracking_uri}/api/mlbox/v1/deployments/{name}", timeout=30).json()
    assert d["state"] == "not_servable" and "DummyClassifier" in d["message"], d


def test_unsupported_calibration(client):
    """CalibratedClassifierCV with the isotonic method is unsupported, and says which method."""
    from sklearn.svm import LinearSVC
    from sklearn.calibration import CalibratedClassifierCV

    case = next(c for c in CASES if c.name == "pipe_scaler_logreg_cancer")
    model = CalibratedClassifierCV(LinearSVC(), method="isotonic", cv=2).fit(case.X_train, case.y_train)
    name = unique("isotonic")
    log_model(case, "cloudpickle", name, model=model, input_example=None)
    state = wait_compiled(client, name, "1")
    assert state.startswith("unsupported: ") and "isotonic" in state, state


class _Evil:
    """Pickles to a call of fn(*args) when loaded: what a malicious model file does."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _hostile_pickles(marker):
    import builtins
    import importlib
    import os
    import pickle
    import posix
    import subprocess

    touch = f"open({marker!r}, 'w').close()"
    return {
        "os.system": pickle.dumps(_Evil(os.system, f"touch {marker}"), protocol=4),
        "posix.system": pickle.dumps(_Evil(posix.system, f"touch {marker}"), protocol=4),
        "builtins.eval": pickle.dumps(_Evil(builtins.eval, touch), protocol=4),
        "builtins.exec": pickle.dumps(_Evil(builtins.exec, touch), protocol=2),
        "subprocess.Popen": pickle.dumps(_Evil(subprocess.Popen, ["touch", marker]), protocol=5),
        "importlib.import_module": pickle.dumps(_Evil(importlib.import_module, "os"), protocol=3),
        # A class nobody can import, by reference (protocol 2 GLOBAL, NEWOBJ).
        "evilmod.Evil": b"\x80\x02cevilmod\nEvil\n)\x81.",
        # A bytes object that claims 64 GiB, in an 11-byte file.
        "huge length": b"\x80\x04\x8e\x00\x00\x00\x00\x10\x00\x00\x00.",
    }


@pytest.mark.parametrize("what", list(_hostile_pickles("/x")))
def test_hostile_pickle(client, tracking_uri, tmp_path, what):
    """A model file that would run code when unpickled is refused, nothing runs,
    and the server keeps serving."""
    import mlflow

    marker = str(tmp_path / "pwned")
    case = next(c for c in CASES if c.name == "ridge_reg")
    d = tmp_path / "model"
    mlflow.sklearn.save_model(case.model, str(d), serialization_format="pickle", pip_requirements=["scikit-learn"])
    (d / "model.pkl").write_bytes(_hostile_pickles(marker)[what])
    name = unique("evil")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(d), "model")
    mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    state = wait_compiled(client, name, mv.version)
    if what == "huge length":
        assert state.startswith("invalid: model.pkl"), state
    else:
        # os.system pickles as posix.system on Linux.
        assert state.startswith("unsupported: model.pkl references") and what.split(".")[-1] in state, state
    client.set_registered_model_alias(name, "champion", mv.version)
    r = requests.post(f"{tracking_uri}/models/{name}/invocations", json=zoo.dataframe_split(case.X_test), timeout=30)
    assert r.status_code == 409 and r.json()["error_code"] == "INVALID_STATE", r.text
    assert not os.path.exists(marker), "the model file ran code"
    assert requests.get(f"{tracking_uri}/health", timeout=10).status_code == 200
