"""The scikit-learn side of the compiled-model benchmark (bench/serve, `make bench`).

    python bench/serve/sklearn_models.py OUT_DIR [--skip-onnx]

Trains the two models of the benchmark, deterministically:
  * forest:   RandomForestClassifier(100 trees, max_depth=8) on 20 features, binary;
  * pipeline: Pipeline(StandardScaler, LogisticRegression) on 20 features, binary;
saves each as an MLflow model directory with the real mlflow.sklearn.save_model (the
forest as pickle, since skops refuses trees by default; the pipeline as skops, MLflow 3's
default) under OUT_DIR/forest and OUT_DIR/pipeline, writes OUT_DIR/rows.json (1,000
held-out rows and scikit-learn's predict_proba on them), and prints one JSON object with
the baselines, in microseconds per row (median of repeated runs, one thread):

  sklearn_batch, sklearn_row      predict_proba on the 1,000 rows / on one row per call
  ort_batch, ort_row              onnxruntime InferenceSession.run of the skl2onnx
                                  conversion (float32 input, as skl2onnx converts it),
                                  intra- and inter-op threads 1
"""
import json
import os
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import mlflow.sklearn  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

N_FEATURES, N_TRAIN, N_TEST = 20, 20000, 1000


def per_row(fn, rows, min_time=0.5, min_runs=5):
    """Median microseconds per row of fn() over runs lasting at least min_time in all."""
    runs, start = [], time.perf_counter()
    while len(runs) < min_runs or time.perf_counter() - start < min_time:
        t0 = time.perf_counter_ns()
        fn()
        runs.append((time.perf_counter_ns() - t0) / 1000 / rows)
    return statistics.median(runs)


def one_row(fn, X, n=300):
    """Median microseconds of fn(one row), cycling through the rows."""
    times = []
    for i in range(n):
        row = X[i % len(X):i % len(X) + 1]
        t0 = time.perf_counter_ns()
        fn(row)
        times.append((time.perf_counter_ns() - t0) / 1000)
    return statistics.median(times)


def main():
    out = sys.argv[1]
    skip_onnx = "--skip-onnx" in sys.argv
    X, y = make_classification(n_samples=N_TRAIN + N_TEST, n_features=N_FEATURES, n_informative=12,
                               random_state=7)
    cols = [f"f{i}" for i in range(N_FEATURES)]
    X = pd.DataFrame(X, columns=cols)
    X_tr, X_te, y_tr = X.iloc[:N_TRAIN], X.iloc[N_TRAIN:].reset_index(drop=True), y[:N_TRAIN]
    models = {
        "forest": (RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0).fit(X_tr, y_tr), "pickle"),
        "pipeline": (Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))]).fit(X_tr, y_tr),
                     "skops"),
    }
    os.makedirs(out, exist_ok=True)
    result = {"rows": N_TEST, "features": N_FEATURES}
    rows = {"columns": cols, "data": X_te.values.tolist()}
    Xn = X_te.values
    X32 = Xn.astype(np.float32)
    for name, (model, fmt) in models.items():
        d = os.path.join(out, name)
        mlflow.sklearn.save_model(model, d, serialization_format=fmt,
                                  signature=infer_signature(X_tr, model.predict(X_tr)),
                                  input_example=X_tr.head(2), pip_requirements=["scikit-learn"])
        rows[name] = model.predict_proba(X_te).tolist()
        r = {
            "sklearn_batch": per_row(lambda: model.predict_proba(X_te), N_TEST),
            "sklearn_row": one_row(lambda row: model.predict_proba(row), X_te, n=200 if name == "forest" else 1000),
        }
        if not skip_onnx:
            try:
                import onnxruntime as ort
                from skl2onnx import to_onnx

                onx = to_onnx(model, X32[:1], options={id(model): {"zipmap": False}} if name == "forest" else
                              {id(model.steps[-1][1]): {"zipmap": False}})
                so = ort.SessionOptions()
                so.intra_op_num_threads = 1
                so.inter_op_num_threads = 1
                sess = ort.InferenceSession(onx.SerializeToString(), so, providers=["CPUExecutionProvider"])
                iname = sess.get_inputs()[0].name
                r["ort_batch"] = per_row(lambda: sess.run(None, {iname: X32}), N_TEST)
                r["ort_row"] = one_row(lambda row: sess.run(None, {iname: row}), X32, n=3000)
            except Exception as e:  # the baseline is optional; say why it is missing
                r["ort_error"] = f"{type(e).__name__}: {e}"
        result[name] = r
    with open(os.path.join(out, "rows.json"), "w") as f:
        json.dump(rows, f)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
