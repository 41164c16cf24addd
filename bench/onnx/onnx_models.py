"""The onnxruntime side of the ONNX benchmark (bench/onnx, `make bench`).

    python bench/onnx/onnx_models.py OUT_DIR

Trains, deterministically, on make_classification data with 20 features (binary):
  * forest:   skl2onnx's conversion of RandomForestClassifier(n_estimators=100, max_depth=8)
  * pipeline: skl2onnx's conversion of StandardScaler + LogisticRegression
  * svc:      skl2onnx's conversion of StandardScaler + SVC(probability=True), RBF
              kernel, trained on the first 2,000 rows
all with zipmap=False (probabilities as a tensor), saved with the real
mlflow.onnx.save_model (model.onnx, external data as MLflow writes it). Writes
OUT_DIR/rows.json (1,000 held-out rows and onnxruntime's probabilities on them) and
prints one JSON object: onnxruntime InferenceSession.run on the same model.onnx, intra-
and inter-op threads 1, in microseconds per row (median of repeated runs):

  ort_batch    the 1,000 rows in one call
  ort_row      one row per call
"""
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402

N_FEATURES, N_TRAIN, N_TEST = 20, 20000, 1000


# The timing helpers of the boosted-tree benchmark, so both measure alike.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gbm"))
from gbm_models import one_row, per_row  # noqa: E402


def main():
    out = sys.argv[1]
    import mlflow.onnx
    import onnxruntime as ort
    import skl2onnx
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = make_classification(n_samples=N_TRAIN + N_TEST, n_features=N_FEATURES, n_informative=12, random_state=7)
    X = X.astype(np.float32)
    X_tr, X_te, y_tr = X[:N_TRAIN], X[N_TRAIN:], y[:N_TRAIN]
    os.makedirs(out, exist_ok=True)
    models = {
        "forest": RandomForestClassifier(n_estimators=100, max_depth=8, n_jobs=1, random_state=0).fit(X_tr, y_tr),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_tr, y_tr),
        "svc": make_pipeline(StandardScaler(), SVC(probability=True, random_state=0)).fit(X_tr[:2000], y_tr[:2000]),
    }
    rows = {"data": X_te.astype(float).tolist()}
    result = {"rows": N_TEST, "features": N_FEATURES,
              "versions": {"onnxruntime": ort.__version__, "skl2onnx": skl2onnx.__version__}}
    for name, m in models.items():
        est = m.steps[-1][1] if hasattr(m, "steps") else m
        onx = skl2onnx.to_onnx(m, X_tr[:1], options={id(est): {"zipmap": False}})
        mlflow.onnx.save_model(onx, os.path.join(out, name))
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(os.path.join(out, name, "model.onnx"), so, providers=["CPUExecutionProvider"])
        iname = sess.get_inputs()[0].name
        rows[name] = sess.run(None, {iname: X_te})[1].tolist()
        result[name] = {"ort_batch": per_row(lambda: sess.run(None, {iname: X_te}), N_TEST),
                        "ort_row": one_row(lambda row: sess.run(None, {iname: row}), X_te, n=3000)}
    with open(os.path.join(out, "rows.json"), "w") as f:
        json.dump(rows, f)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
