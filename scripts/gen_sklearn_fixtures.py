"""Write the committed scikit-learn test fixtures of the model compiler.

Regenerate (from the repository root, with the test venv of tests/compat/requirements.txt):

    scripts/venv.sh tests/compat/requirements.txt .venv   # once, if .venv is missing
    .venv/bin/python scripts/gen_sklearn_fixtures.py            # all of them
    .venv/bin/python scripts/gen_sklearn_fixtures.py gnb_iris   # only these cases

For every case of the quick zoo (tests/compat/zoo_sklearn.py, one case per family) and
every serialization format it supports (skops, pickle, cloudpickle), this writes the
MLflow model directory made by the real `mlflow.sklearn.save_model` into

    serve/compile/sklearn/testdata/zoo/<case>-<format>/
        MLmodel, model.skops or model.pkl, input_example.json, serving_input_example.json,
        cases.json

conda.yaml, python_env.yaml and requirements.txt are deleted (the Go side reads only
MLmodel and the model file). cases.json holds the test rows and what scikit-learn
predicts for them:

    {"name", "family", "task", "format", "predict_fn", "columns": [...],
     "rows": [[...]]                     NaN/None -> null, strings as strings,
     "predict": [...]                    JSON-typed: int/str/bool labels, floats, rows for 2 targets,
     "predict_proba": [[...]] | null,
     "decision_function": [...] | null,  1-D for binary, rows for multiclass,
     "expected": {"predictions": ...}    what `mlflow models serve` answers for the rows
                                         (predict, or predict_proba when predict_fn is),
     "sklearn_version", "mlflow_version", "skops_trusted_types", "has_nan", "string_columns",
     "description"}

Each written model is loaded back with mlflow.pyfunc and scored through MLflow's own
scoring-server code path (mlflow.pyfunc.scoring_server.invocations, the function behind
`mlflow models serve`'s /invocations) with the `dataframe_split` JSON of the rows; the
script fails unless the answer equals "expected" exactly.

The output directory is replaced as a whole. The bytes of model.skops (zip timestamps)
and MLmodel (utc_time_created, model_uuid) differ on every run; everything else is
deterministic.
"""
import json
import os
import shutil
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "serve", "compile", "sklearn", "testdata", "zoo")
sys.path.insert(0, os.path.join(ROOT, "tests", "compat"))

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow  # noqa: E402
import mlflow.sklearn  # noqa: E402
import sklearn  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from mlflow.pyfunc import scoring_server  # noqa: E402

import zoo_sklearn  # noqa: E402
from zoo_sklearn import ALL_FORMATS  # noqa: E402

DROP = ("conda.yaml", "python_env.yaml", "requirements.txt")

# Cases outside the quick zoo written too, in the formats given: the serving
# tests (serve/compile_serve_test.go) canary the quick OneHotEncoder model
# against one that refuses unknown categories.
EXTRA = {"ohe_error_nodrop_logreg": ["pickle"]}


def save(case, fmt, path):
    X_tr = case.X_train
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pickle format warning, int column signature hint
        signature = infer_signature(X_tr, case.model.predict(X_tr))
        mlflow.sklearn.save_model(
            case.model,
            path,
            serialization_format=fmt,
            skops_trusted_types=case.skops_trusted_types if fmt == "skops" else None,
            signature=signature,
            input_example=X_tr.head(3),
            pyfunc_predict_fn=case.predict_fn,
            pip_requirements=[],
        )
    for f in DROP:
        p = os.path.join(path, f)
        if os.path.exists(p):
            os.remove(p)


def serve_answer(path, body):
    """What /invocations answers, through MLflow's scoring-server function."""
    model = mlflow.pyfunc.load_model(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resp = scoring_server.invocations(json.dumps(body), "application/json", model,
                                          model.metadata.get_input_schema())
    if resp.status != 200:
        raise RuntimeError(f"{path}: /invocations answered {resp.status}: {resp.response}")
    return json.loads(resp.response)


def case_json(case, fmt):
    outs = zoo_sklearn.outputs(case)
    return {
        "name": case.name,
        "family": case.family,
        "task": case.task,
        "format": fmt,
        "predict_fn": case.predict_fn,
        "columns": [str(c) for c in case.X_test.columns],
        "rows": zoo_sklearn.rows(case.X_test),
        "predict": outs["predict"],
        "predict_proba": outs["predict_proba"],
        "decision_function": outs["decision_function"],
        "expected": {"predictions": zoo_sklearn.expected(case)},
        "sklearn_version": sklearn.__version__,
        "mlflow_version": mlflow.__version__,
        "skops_trusted_types": case.skops_trusted_types if fmt == "skops" else None,
        "has_nan": case.has_nan,
        "string_columns": case.string_columns,
        "description": case.description,
    }


def dumps(obj):
    """JSON with one top-level key per line and compact values (keeps the fixtures small)."""
    items = [f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'), allow_nan=False)}" for k, v in obj.items()]
    return "{\n" + ",\n".join(items) + "\n}\n"


def main():
    warnings.simplefilter("ignore")  # unknown categories at transform, convergence: expected here
    only = sys.argv[1:]  # case names: regenerate just those (the others stay as they are)
    zoo = zoo_sklearn.cases(quick=True)
    for case in zoo_sklearn.cases():
        if case.name in EXTRA:
            case.formats = EXTRA[case.name]
            zoo.append(case)
    if only:
        unknown = set(only) - {c.name for c in zoo}
        if unknown:
            raise SystemExit(f"not in the quick zoo: {sorted(unknown)}")
        zoo = [c for c in zoo if c.name in only]
        for case in zoo:
            for fmt in ALL_FORMATS:
                shutil.rmtree(os.path.join(OUT, f"{case.name}-{fmt}"), ignore_errors=True)
    elif os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT, exist_ok=True)
    total = 0
    for case in zoo:
        untrusted = zoo_sklearn.untrusted_skops_types(case.model)
        if untrusted != sorted(case.skops_trusted_types or []):
            raise SystemExit(f"{case.name}: skops reports untrusted {untrusted}, "
                             f"case lists {case.skops_trusted_types}")
        for fmt in case.formats:
            d = os.path.join(OUT, f"{case.name}-{fmt}")
            save(case, fmt, d)
            cj = case_json(case, fmt)
            got = serve_answer(d, zoo_sklearn.dataframe_split(case.X_test))
            if got != cj["expected"]:
                raise SystemExit(f"{d}: scoring server answered {got}, expected {cj['expected']}")
            with open(os.path.join(d, "cases.json"), "w") as f:
                f.write(dumps(cj))
            size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
            total += size
            print(f"{case.name}-{fmt}: {size} bytes")
    print(f"{len(zoo)} cases, {sum(len(c.formats) for c in zoo)} model dirs, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
