"""The library side of the boosted-tree benchmark (bench/gbm, `make bench`).

    python bench/gbm/gbm_models.py OUT_DIR [--skip-onnx]

Trains, deterministically, on make_classification data with 20 features (binary):
  * xgboost:  XGBClassifier(n_estimators=500, max_depth=6), saved with the real
              mlflow.xgboost.save_model (model.ubj, MLflow's default);
  * lightgbm: LGBMClassifier(n_estimators=500, num_leaves=31), saved with the real
              mlflow.lightgbm.save_model (skops with the model text inside);
writes OUT_DIR/rows.json (1,000 held-out rows and each library's predict_proba on them)
and OUT_DIR/lightgbm.txt (the booster's text, for lleaves), and prints one JSON object
with the baselines in microseconds per row (median of repeated runs, one thread):

  lib_batch, lib_row    the library on the 1,000 rows / one row per call: XGBoost's
                        Booster.inplace_predict, LightGBM's Booster.predict
  ort_batch, ort_row    onnxruntime InferenceSession.run of the onnxmltools conversion
                        (float32 input), intra- and inter-op threads 1
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
from sklearn.datasets import make_classification  # noqa: E402

N_FEATURES, N_TRAIN, N_TEST, N_TREES = 20, 20000, 1000, 500


def per_row(fn, rows, min_time=1.0, min_runs=5):
    """Median microseconds per row of fn() over runs lasting at least min_time in all."""
    runs, start = [], time.perf_counter()
    while len(runs) < min_runs or time.perf_counter() - start < min_time:
        t0 = time.perf_counter_ns()
        fn()
        runs.append((time.perf_counter_ns() - t0) / 1000 / rows)
    return statistics.median(runs)


def one_row(fn, X, n=2000):
    """Median microseconds of fn(one row), cycling through the rows."""
    times = []
    for i in range(n):
        row = X[i % len(X):i % len(X) + 1]
        t0 = time.perf_counter_ns()
        fn(row)
        times.append((time.perf_counter_ns() - t0) / 1000)
    return statistics.median(times)


def ort_baseline(onx, X32):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(onx.SerializeToString(), so, providers=["CPUExecutionProvider"])
    iname = sess.get_inputs()[0].name
    return {"ort_batch": per_row(lambda: sess.run(None, {iname: X32}), len(X32)),
            "ort_row": one_row(lambda row: sess.run(None, {iname: row}), X32)}


def main():
    out = sys.argv[1]
    skip_onnx = "--skip-onnx" in sys.argv
    import lightgbm as lgb
    import mlflow.lightgbm
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.models import infer_signature

    X, y = make_classification(n_samples=N_TRAIN + N_TEST, n_features=N_FEATURES, n_informative=12,
                               random_state=7)
    cols = [f"f{i}" for i in range(N_FEATURES)]
    X = pd.DataFrame(X, columns=cols)
    X_tr, X_te, y_tr = X.iloc[:N_TRAIN], X.iloc[N_TRAIN:].reset_index(drop=True), y[:N_TRAIN]
    Xn = np.ascontiguousarray(X_te.values)
    X32 = Xn.astype(np.float32)
    os.makedirs(out, exist_ok=True)
    result = {"rows": N_TEST, "features": N_FEATURES, "trees": N_TREES,
              "versions": {"xgboost": xgb.__version__, "lightgbm": lgb.__version__}}
    rows = {"columns": cols, "data": Xn.tolist()}

    # XGBoost
    xm = xgb.XGBClassifier(n_estimators=N_TREES, max_depth=6, learning_rate=0.1, n_jobs=1, random_state=0)
    xm.fit(X_tr, y_tr)
    mlflow.xgboost.save_model(xm, os.path.join(out, "xgboost"), signature=infer_signature(X_tr, xm.predict(X_tr)),
                              input_example=X_tr.head(2), pip_requirements=["xgboost"])
    rows["xgboost"] = xm.predict_proba(X_te).tolist()
    bst = xm.get_booster()
    bst.set_param({"nthread": 1})
    r = {"lib_batch": per_row(lambda: bst.inplace_predict(Xn), N_TEST),
         "lib_row": one_row(lambda row: bst.inplace_predict(row), Xn)}
    if not skip_onnx:
        try:
            from onnxmltools import convert_xgboost
            from onnxmltools.convert.common.data_types import FloatTensorType

            onx = convert_xgboost(bst, initial_types=[("input", FloatTensorType([None, N_FEATURES]))])
            r.update(ort_baseline(onx, X32))
        except Exception as e:  # the baseline is optional; say why it is missing
            r["ort_error"] = f"{type(e).__name__}: {e}"
    result["xgboost"] = r

    # LightGBM
    lm = lgb.LGBMClassifier(n_estimators=N_TREES, num_leaves=31, learning_rate=0.05, n_jobs=1, random_state=0,
                            verbose=-1)
    lm.fit(X_tr, y_tr)
    mlflow.lightgbm.save_model(lm, os.path.join(out, "lightgbm"), signature=infer_signature(X_tr, lm.predict(X_tr)),
                               input_example=X_tr.head(2), pip_requirements=["lightgbm"])
    rows["lightgbm"] = lm.predict_proba(X_te).tolist()
    booster = lm.booster_
    booster.save_model(os.path.join(out, "lightgbm.txt"))
    r = {"lib_batch": per_row(lambda: booster.predict(Xn, num_threads=1), N_TEST),
         "lib_row": one_row(lambda row: booster.predict(row, num_threads=1), Xn)}
    if not skip_onnx:
        try:
            from onnxmltools import convert_lightgbm
            from onnxmltools.convert.common.data_types import FloatTensorType

            onx = convert_lightgbm(booster, initial_types=[("input", FloatTensorType([None, N_FEATURES]))],
                                   zipmap=False)
            r.update(ort_baseline(onx, X32))
        except Exception as e:
            r["ort_error"] = f"{type(e).__name__}: {e}"
    result["lightgbm"] = r

    with open(os.path.join(out, "rows.json"), "w") as f:
        json.dump(rows, f)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
