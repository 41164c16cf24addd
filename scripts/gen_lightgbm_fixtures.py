"""Write the committed LightGBM test fixtures of the model compiler.

Regenerate (from the repository root, with the test venv of tests/compat/requirements.txt):

    scripts/venv.sh tests/compat/requirements.txt .venv   # once, if .venv is missing
    .venv/bin/python scripts/gen_lightgbm_fixtures.py

For every case of the LightGBM zoo (tests/compat/zoo_lightgbm.py) this writes the MLflow
model directory made by the real `mlflow.lightgbm.save_model` into

    serve/compile/lightgbm/testdata/zoo/<case>/
        MLmodel, model.skops, model.pkl or model.lgb, cases.json

(the other files MLflow writes are deleted: the Go side reads only MLmodel and the model).
cases.json has the layout of the scikit-learn fixtures (serve/internal/zootest) with
"tol": 1e-9 (LightGBM computes in float64):

    {"name", "family", "task", "format", "predict_fn": "predict", "columns", "rows",
     "predict", "predict_proba", "expected": {"predictions": ...}, "tol", "lightgbm_version", ...}

Every model is loaded back with mlflow.pyfunc and scored through MLflow's scoring-server
function (the code behind `mlflow models serve`'s /invocations) with the `dataframe_split`
JSON of the rows; the script fails unless the answer equals "expected" exactly. (Not the
model with pandas category columns: MLflow cannot score it from JSON at all, so its expected
answer is LightGBM's own prediction on the category frame.)
"""
import json
import os
import shutil
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "serve", "compile", "lightgbm", "testdata", "zoo")
sys.path.insert(0, os.path.join(ROOT, "tests", "compat"))

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow  # noqa: E402
import mlflow.lightgbm  # noqa: E402
import lightgbm  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from mlflow.pyfunc import scoring_server  # noqa: E402

import zoo_lightgbm as zoo  # noqa: E402

KEEP = ("MLmodel", "model.skops", "model.pkl", "model.lgb")


def save(case, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signature = infer_signature(case.X_train, zoo.predict(case, case.X_train))
        kw = {}
        if case.fmt in ("skops", "pickle"):
            kw["serialization_format"] = case.fmt
        if case.fmt == "skops":
            kw["skops_trusted_types"] = zoo.TRUSTED
        mlflow.lightgbm.save_model(case.model, path, signature=signature, pip_requirements=[], **kw)
    for f in os.listdir(path):
        if f not in KEEP:
            os.remove(os.path.join(path, f))


def serve_answer(path, body):
    model = mlflow.pyfunc.load_model(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resp = scoring_server.invocations(json.dumps(body), "application/json", model,
                                          model.metadata.get_input_schema())
    if resp.status != 200:
        raise RuntimeError(f"{path}: /invocations answered {resp.status}: {resp.response}")
    return json.loads(resp.response)


def dumps(obj):
    items = [f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'), allow_nan=False)}" for k, v in obj.items()]
    return "{\n" + ",\n".join(items) + "\n}\n"


def main():
    warnings.simplefilter("ignore")
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    for case in zoo.cases():
        d = os.path.join(OUT, case.name)
        save(case, d)
        exp = {"predictions": zoo.expected(case)}
        got = exp if case.pandas_categorical else serve_answer(d, zoo.dataframe_split(case.X_test))
        if got != exp:
            raise SystemExit(f"{d}: scoring server answered {str(got)[:200]}, expected {str(exp)[:200]}")
        cj = {
            "name": case.name,
            "family": case.family,
            "task": case.task,
            "format": case.fmt,
            "predict_fn": "predict",
            "columns": [str(c) for c in case.X_test.columns],
            "rows": zoo.rows(case.X_test),
            "predict": zoo.expected(case),
            "predict_proba": zoo.proba(case),
            "expected": exp,
            "tol": zoo.TOL,
            "lightgbm_version": lightgbm.__version__,
            "mlflow_version": mlflow.__version__,
            "has_nan": case.has_nan,
            "description": case.description,
        }
        with open(os.path.join(d, "cases.json"), "w") as f:
            f.write(dumps(cj))
        print(f"{case.name}: {case.description}")


if __name__ == "__main__":
    main()
