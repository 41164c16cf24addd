#!/usr/bin/env bash
# Usage: scripts/gen_sklearn13_fixtures.sh            (from anywhere; Python 3.11 as python3 or $PYTHON)
#
# Writes the old-scikit-learn test fixtures of the model compiler:
#   serve/compile/sklearn/testdata/sklearn13/<case>-<format>/
#       MLmodel, model.pkl, input_example.json, serving_input_example.json, cases.json
# made by the real mlflow.sklearn.save_model of MLflow 2.22.5 with scikit-learn 1.3.2 and
# numpy 1.26.4, in the formats "pickle" and "cloudpickle" (MLflow 2.x has no skops).
# cases.json has the layout of scripts/gen_sklearn_fixtures.py, with "sklearn_version": "1.3.2";
# the expected outputs come from scikit-learn 1.3.2 itself.
#
# Why these exist: scikit-learn 1.3 stores classifier tree values as weighted counts
# (1.4+ stores fractions), LogisticRegression still has multi_class ("ovr", "multinomial",
# "auto"), and numpy 1.x pickles name numpy.core.* (numpy 2: numpy._core.*).
#
# The venv is built once and cached as
#   ${MLBOX_CACHE:-$HOME/.cache/mlbox}/venv-sklearn13-<first 16 hex of sha256(pinned requirements)>
# (built in a temporary directory and renamed into place only after pip succeeded).
# mlflow==2.22.5 resolves with scikit-learn 1.3.2 + numpy 1.26.4 once pandas is held below 3.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
reqs='# scripts/gen_sklearn13_fixtures.sh: the old scikit-learn that writes the sklearn13 fixtures
scikit-learn==1.3.2
numpy==1.26.4
scipy==1.11.4
pandas==2.3.3
mlflow==2.22.5
cloudpickle==3.1.3
joblib==1.6.0
'
cache=${MLBOX_CACHE:-$HOME/.cache/mlbox}
python=${PYTHON:-python3}
hash=$(printf '%s' "$reqs" | sha256sum | cut -c1-16)
venv="$cache/venv-sklearn13-$hash"

if [ ! -f "$venv/.mlbox-complete" ]; then
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.venv-sklearn13-$hash.tmp.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    trap 'exit 130' INT TERM
    echo "gen_sklearn13_fixtures.sh: building $venv (once, a few minutes)" >&2
    printf '%s' "$reqs" > "$tmp/requirements.txt"
    "$python" -m venv "$tmp/venv"
    "$tmp/venv/bin/python" -m pip install --disable-pip-version-check -q -r "$tmp/requirements.txt" >&2
    grep -rlI --null -F "$tmp/venv" "$tmp/venv/bin" | xargs -0 -r sed -i "s|$tmp/venv|$venv|g"
    cp "$tmp/requirements.txt" "$tmp/venv/requirements.txt"
    touch "$tmp/venv/.mlbox-complete"
    if [ -e "$venv" ] && [ ! -f "$venv/.mlbox-complete" ]; then
        rm -rf "$venv"
    fi
    if ! mv -T "$tmp/venv" "$venv" 2>/dev/null; then
        [ -f "$venv/.mlbox-complete" ] || { echo "could not move the venv to $venv" >&2; exit 1; }
    fi
    rm -rf "$tmp"
    trap - EXIT INT TERM
fi

cd "$root"
# MLflow 2.x creates a ./mlruns file store as a side effect while saving/loading; keep it out
# of the repository.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
MLFLOW_TRACKING_URI="file://$scratch/mlruns" MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true \
    "$venv/bin/python" - <<'PY'
import json
import os
import shutil
import sys
import warnings

warnings.simplefilter("ignore")
ROOT = os.getcwd()
OUT = os.path.join(ROOT, "serve", "compile", "sklearn", "testdata", "sklearn13")
sys.path[:0] = [os.path.join(ROOT, "tests", "compat"), os.path.join(ROOT, "scripts")]

import numpy as np
import mlflow
import mlflow.sklearn
import sklearn
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

assert sklearn.__version__ == "1.3.2" and np.__version__ == "1.26.4", (sklearn.__version__, np.__version__)

import zoo_sklearn as z  # data sets and JSON helpers (the zoo's builders are not used here)
from gen_sklearn_fixtures import DROP, dumps, serve_answer

FORMATS = ["pickle", "cloudpickle"]


def iris_split(seed):
    X, y, names = z._iris()
    X_tr, X_te, y_tr = z._split(X, y, test_rows=30, seed=seed)
    return X_tr, X_te, y_tr, names


def build():
    out = []

    def add(name, family, task, model, X_tr, y_tr, X_te, predict_fn="predict", string_columns=(), desc=""):
        model.fit(X_tr, y_tr)
        out.append(dict(name=name, family=family, task=task, model=model, X_train=X_tr, X_test=z.served_frame(X_te),
                        predict_fn=predict_fn, string_columns=list(string_columns), description=desc))

    X_tr, X_te, y_tr, _ = iris_split(60)
    # 1.3 trees accept NaN at predict (splitter="best", trained without NaN: missing_go_to_left
    # follows the bigger child), so the test rows have NaN.
    add("dt_clf_3class", "DecisionTreeClassifier", "multiclass", DecisionTreeClassifier(max_depth=4, random_state=60),
        X_tr, y_tr, z._nan_test_rows(X_te, 60), predict_fn="predict_proba",
        desc="DecisionTreeClassifier, iris, 3 classes; tree values are counts in 1.3; NaN in test rows")

    X, y = z._cancer()
    X_tr, X_te, y_tr = z._split(X, y, seed=61)
    add("rf_clf", "RandomForestClassifier", "binary",
        RandomForestClassifier(n_estimators=5, max_depth=4, random_state=61), X_tr, y_tr, X_te,
        predict_fn="predict_proba", desc="RandomForestClassifier, breast_cancer (1.3 forests reject NaN)")

    X, y = z._diabetes()
    X_tr, X_te, y_tr = z._split(X, y, seed=62, stratify=False)
    add("rf_reg", "RandomForestRegressor", "regression",
        RandomForestRegressor(n_estimators=5, max_depth=4, random_state=62), X_tr, y_tr, X_te,
        desc="RandomForestRegressor, diabetes")

    X, y = z._clf(n_classes=3, seed=63)
    X_tr, X_te, y_tr = z._split(X, y, seed=63)
    add("et_clf", "ExtraTreesClassifier", "multiclass",
        ExtraTreesClassifier(n_estimators=5, max_depth=4, random_state=63), X_tr, y_tr, X_te,
        desc="ExtraTreesClassifier, 3 classes")

    X_tr, X_te, y_tr, _ = iris_split(64)
    add("logreg_ovr", "LogisticRegression", "multiclass",
        LogisticRegression(multi_class="ovr", max_iter=1000), X_tr, y_tr, X_te, predict_fn="predict_proba",
        desc='LogisticRegression(multi_class="ovr"), iris: proba = expit(d_k) / sum_j expit(d_j)')

    X_tr, X_te, y_tr, names = iris_split(65)
    add("logreg_multinomial", "LogisticRegression", "multiclass",
        LogisticRegression(multi_class="multinomial", max_iter=1000), X_tr, names[y_tr].astype(object), X_te,
        desc='LogisticRegression(multi_class="multinomial"), iris, string labels')

    X, y = z._clf(seed=66)
    X_tr, X_te, y_tr = z._split(X, y, seed=66)
    add("logreg_binary", "LogisticRegression", "binary", LogisticRegression(max_iter=1000), X_tr, y_tr, X_te,
        predict_fn="predict_proba", desc='LogisticRegression binary (multi_class="auto")')
    add("logreg_binary_multinomial", "LogisticRegression", "binary",
        LogisticRegression(multi_class="multinomial", max_iter=1000), X_tr, y_tr, X_te, predict_fn="predict_proba",
        desc='LogisticRegression(multi_class="multinomial") on 2 classes: proba = softmax([-d, d]) = expit(2d)')

    X_tr, X_te, y_tr = z._mixed_split("binary", seed=67, missing=False, unseen=("color",))
    ct = ColumnTransformer([("num", StandardScaler(), ["x1", "x2", "x3"]),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), ["color", "size", "flag"])])
    add("pipe_ct_logreg", "Pipeline", "binary",
        Pipeline([("ct", ct), ("lr", LogisticRegression(max_iter=1000))]), X_tr, y_tr, X_te,
        string_columns=z.MIXED_STRING_COLUMNS,
        desc="Pipeline(ColumnTransformer(StandardScaler, OneHotEncoder(ignore) on strings), LogisticRegression), "
             "unseen colors in test")

    X, y = z._diabetes()
    X = z._with_nan(X, 0.1, seed=68, columns=["bmi", "bp", "s1", "s5"])
    X_tr, X_te, y_tr = z._split(X, y, seed=68, stratify=False)
    add("imputer_linreg", "SimpleImputer", "regression",
        Pipeline([("imp", SimpleImputer()), ("lr", LinearRegression())]), X_tr, y_tr, z._nan_test_rows(X_te, 68),
        desc="Pipeline(SimpleImputer(mean), LinearRegression)")

    X_tr, X_te, y_tr, names = iris_split(69)
    add("linsvc", "LinearSVC", "multiclass", LinearSVC(max_iter=10000, random_state=69), X_tr, y_tr, X_te,
        desc="LinearSVC, iris, 3 classes (1.3 default dual=True)")
    return out


def outputs(c):
    m, X = c["model"], c["X_test"]
    return {
        "predict": z._tolist(m.predict(X)),
        "predict_proba": z._tolist(m.predict_proba(X)) if hasattr(m, "predict_proba") else None,
        "decision_function": z._tolist(m.decision_function(X)) if hasattr(m, "decision_function") else None,
    }


if os.path.isdir(OUT):
    shutil.rmtree(OUT)
os.makedirs(OUT)
total = 0
cases = build()
for c in cases:
    outs = outputs(c)
    expected = z._tolist(getattr(c["model"], c["predict_fn"])(c["X_test"]))
    for fmt in FORMATS:
        d = os.path.join(OUT, f"{c['name']}-{fmt}")
        X_tr = c["X_train"]
        mlflow.sklearn.save_model(
            c["model"], d, serialization_format=fmt,
            signature=infer_signature(X_tr, c["model"].predict(X_tr)), input_example=X_tr.head(3),
            pyfunc_predict_fn=c["predict_fn"], pip_requirements=[],
        )
        for f in DROP:
            if os.path.exists(os.path.join(d, f)):
                os.remove(os.path.join(d, f))
        cj = {
            "name": c["name"], "family": c["family"], "task": c["task"], "format": fmt,
            "predict_fn": c["predict_fn"], "columns": [str(x) for x in c["X_test"].columns],
            "rows": z.rows(c["X_test"]), **outs, "expected": {"predictions": expected},
            "sklearn_version": sklearn.__version__, "mlflow_version": mlflow.__version__,
            "skops_trusted_types": None, "has_nan": bool(c["X_test"].isna().any().any()),
            "string_columns": c["string_columns"], "description": c["description"],
        }
        got = serve_answer(d, z.dataframe_split(c["X_test"]))
        if got != cj["expected"]:
            raise SystemExit(f"{d}: scoring server answered {got}, expected {cj['expected']}")
        with open(os.path.join(d, "cases.json"), "w") as f:
            f.write(dumps(cj))
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        total += size
        print(f"{c['name']}-{fmt}: {size} bytes")
print(f"{len(cases)} cases, {2 * len(cases)} model dirs, {total} bytes in {OUT} "
      f"(sklearn {sklearn.__version__}, numpy {np.__version__}, mlflow {mlflow.__version__})")
PY
