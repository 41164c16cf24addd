"""ONNX models end to end, with the real MLflow client, skl2onnx, onnxmltools and
onnxruntime.

Each model is converted the way a team exports it (skl2onnx's to_onnx, onnxmltools'
convert_xgboost / convert_lightgbm), logged with the real `mlflow.onnx.log_model` (which
saves tensors of 1 KB or more as external data), registered and compiled by mlbox. Then
`/invocations` must answer what `mlflow models serve` answers, which is mlflow.onnx's
pyfunc predict (onnxruntime, one thread) serialized by MLflow's scoring server: labels identical,
values within 1e-6 relative (float32). Both input forms are checked: a tensor ("inputs",
answered as a dict of outputs) and a DataFrame (one record a row), where MLflow answers
one. Graphs with operators mlbox does not compile yet get a clear "unsupported: ..."
state naming the node. Skipped where skl2onnx is not installed (the 2.x venv).
"""
import io
import json
import math

import pytest

from conftest import TARGET, unique
from zoo_common import wait_compiled

pytestmark = pytest.mark.skipif(TARGET != "mlbox", reason="mlbox compiles and serves ONNX models; MLflow does not")
pytest.importorskip("skl2onnx")
pytest.importorskip("onnxmltools")

import mlflow as _mlflow  # noqa: E402

MLFLOW3 = int(_mlflow.__version__.split(".")[0]) >= 3
TOL = 1e-6


def _data():
    import numpy as np
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

    X, y = load_iris(return_X_y=True)
    Xb, yb = load_breast_cancer(return_X_y=True)
    Xd, yd = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(0)
    Xbn = Xb.astype(np.float32).copy()
    Xbn[rng.random(Xbn.shape) < 0.1] = np.nan
    Xbs = ((Xb - Xb.mean(axis=0)) / Xb.std(axis=0)).astype(np.float32)
    return {"iris": (X.astype(np.float32), y), "cancer": (Xb.astype(np.float32), yb), "cancer_nan": (Xbn, yb),
            "cancer_scaled": (Xbs, yb),
            "diabetes": (Xd.astype(np.float32), yd)}


def cases():
    """(name, data key, a function making the ONNX model, whether a DataFrame answer exists)."""
    from sklearn.ensemble import (AdaBoostClassifier, BaggingClassifier, ExtraTreesClassifier, GradientBoostingClassifier,
                                  RandomForestClassifier, RandomForestRegressor, VotingClassifier)
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.naive_bayes import BernoulliNB, GaussianNB, MultinomialNB
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import KBinsDiscretizer, Normalizer, PolynomialFeatures, PowerTransformer, StandardScaler
    from sklearn.svm import SVC, SVR
    from sklearn.tree import DecisionTreeClassifier

    def skl(est, zipmap=True):
        def make(X, y):
            from skl2onnx import to_onnx
            m = est.fit(X, y)
            opts = None if zipmap else {id(m if not hasattr(m, "steps") else m.steps[-1][1]): {"zipmap": False}}
            return to_onnx(m, X[:1], options=opts)
        return make

    def xgb_(kind):
        def make(X, y):
            import onnxmltools
            import xgboost as xgb
            from onnxmltools.convert.common.data_types import FloatTensorType
            m = (xgb.XGBClassifier if kind == "clf" else xgb.XGBRegressor)(n_estimators=20, max_depth=4, random_state=0).fit(X, y)
            return onnxmltools.convert_xgboost(m, initial_types=[("input", FloatTensorType([None, X.shape[1]]))])
        return make

    def lgb_(kind):
        def make(X, y):
            import lightgbm as lgb
            import onnxmltools
            from onnxmltools.convert.common.data_types import FloatTensorType
            m = (lgb.LGBMClassifier if kind == "clf" else lgb.LGBMRegressor)(n_estimators=20, num_leaves=8, verbose=-1, random_state=0).fit(X, y)
            kw = {"zipmap": True} if kind == "clf" else {}
            return onnxmltools.convert_lightgbm(m, initial_types=[("input", FloatTensorType([None, X.shape[1]]))], **kw)
        return make

    return [
        ("onnx-logreg-pipeline", "iris", skl(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))), True),
        ("onnx-logreg-binary", "cancer", skl(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), zipmap=False), False),
        ("onnx-linreg", "diabetes", skl(LinearRegression()), True),
        ("onnx-normalizer-pipeline", "cancer_scaled", skl(make_pipeline(Normalizer(), LogisticRegression(max_iter=1000))), True),
        ("onnx-poly-ridge", "diabetes", skl(make_pipeline(PolynomialFeatures(2), Ridge())), True),
        ("onnx-svr-rbf", "diabetes", skl(make_pipeline(StandardScaler(), SVR(C=50.0))), True),
        # The label by pairwise votes, not always the arg max of the probabilities.
        ("onnx-svc-proba", "iris", skl(make_pipeline(StandardScaler(), SVC(probability=True, random_state=0))), True),
        ("onnx-svc-binary", "cancer_scaled", skl(SVC(), zipmap=False), False),
        # The label is the arg max of the joint log-likelihoods: a label index.
        ("onnx-gaussian-nb", "iris", skl(GaussianNB()), True),
        ("onnx-multinomial-nb", "iris", skl(MultinomialNB(), zipmap=False), False),
        ("onnx-bernoulli-nb", "iris", skl(BernoulliNB(binarize=3.0)), True),
        ("onnx-power-pipeline", "iris", skl(make_pipeline(PowerTransformer(), LogisticRegression(max_iter=500))), True),
        ("onnx-kbins-pipeline", "iris", skl(make_pipeline(KBinsDiscretizer(n_bins=4, encode="onehot-dense"), LogisticRegression(max_iter=500))), True),
        ("onnx-rf-clf", "iris", skl(RandomForestClassifier(n_estimators=30, max_depth=8, random_state=0)), True),
        ("onnx-rf-reg", "diabetes", skl(RandomForestRegressor(n_estimators=30, max_depth=8, random_state=0)), True),
        ("onnx-gb-clf", "cancer", skl(GradientBoostingClassifier(n_estimators=30, random_state=0), zipmap=False), False),
        ("onnx-dtree", "iris", skl(DecisionTreeClassifier(max_depth=6, random_state=0)), True),
        ("onnx-voting-soft", "iris", skl(VotingClassifier([("rf", RandomForestClassifier(10, max_depth=4, random_state=0)),
                                                           ("et", ExtraTreesClassifier(10, max_depth=4, random_state=0))],
                                                          voting="soft", flatten_transform=False)), True),
        ("onnx-adaboost", "iris", skl(AdaBoostClassifier(n_estimators=10, random_state=0)), True),
        ("onnx-bagging", "iris", skl(BaggingClassifier(n_estimators=5, random_state=0)), True),
        ("onnx-xgb-clf", "cancer_nan", xgb_("clf"), False),
        ("onnx-xgb-reg", "diabetes", xgb_("reg"), True),
        ("onnx-lgb-clf", "cancer_nan", lgb_("clf"), True),
        ("onnx-lgb-reg", "diabetes", lgb_("reg"), True),
        ("onnx-mlp-zipmap", "iris", skl(MLPClassifier(hidden_layer_sizes=(16,), max_iter=400, random_state=0)), True),
        ("onnx-mlp", "iris", skl(MLPClassifier(hidden_layer_sizes=(16,), max_iter=400, random_state=0), zipmap=False), False),
        ("onnx-mlp-binary", "cancer_scaled", skl(MLPClassifier(hidden_layer_sizes=(8,), max_iter=400, random_state=0), zipmap=False), False),
        ("onnx-mlp-reg", "diabetes", skl(MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=400, random_state=0)), True),
    ]


def log_onnx(model, name):
    """Log with mlflow.onnx; its pyfunc (the reference) then runs onnxruntime
    with one thread, whose sums over trees run in order."""
    import mlflow
    opts = {"intra_op_num_threads": 1, "inter_op_num_threads": 1}
    with mlflow.start_run():
        if MLFLOW3:
            return mlflow.onnx.log_model(model, name="model", registered_model_name=name, onnx_session_options=opts)
        return mlflow.onnx.log_model(model, artifact_path="model", registered_model_name=name, onnx_session_options=opts)


def mlflow_answer(pyfunc, data):
    """What `mlflow models serve` answers: the pyfunc prediction through its scoring server's serializer."""
    from mlflow.pyfunc.scoring_server import predictions_to_json
    out = io.StringIO()
    predictions_to_json(pyfunc.predict(data), out)
    return json.loads(out.getvalue())["predictions"]


def close(got, want, path="predictions"):
    """The first difference (labels exactly, numbers within TOL relative), or None."""
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            return f"{path}: keys {sorted(got) if isinstance(got, dict) else got} != {sorted(want)}"
        for k in want:
            d = close(got[k], want[k], f"{path}[{k!r}]")
            if d:
                return d
        return None
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return f"{path}: length {len(got) if isinstance(got, list) else got} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            d = close(g, w, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(want, float) and not isinstance(want, bool):
        if not isinstance(got, (int, float)) or (math.isnan(want) != (isinstance(got, float) and math.isnan(got))):
            return f"{path}: {got!r} != {want!r}"
        if not math.isnan(want) and abs(got - want) > TOL * max(abs(want), 1e-6) + 1e-7:
            return f"{path}: {got!r} != {want!r}"
        return None
    if type(got) is not type(want) or got != want:
        return f"{path}: {got!r} != {want!r}"
    return None


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in cases()])
def test_zoo(client, tracking_uri, case):
    import mlflow
    import requests

    cname, key, make, frame = case
    X, y = _data()[key]
    name = unique(cname)
    log_onnx(make(X, y), name)
    state = wait_compiled(client, name, "1")
    assert state == "compiled", state
    client.set_registered_model_alias(name, "champion", "1")
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/1")
    rows = X[::7][:60]
    url = f"{tracking_uri}/models/{name}/invocations"
    # A tensor: the dict of outputs.
    r = requests.post(url, json={"inputs": [[None if math.isnan(v) else float(v) for v in row] for row in rows]}, timeout=60)
    assert r.status_code == 200, r.text
    d = close(r.json()["predictions"], mlflow_answer(pyfunc, rows))
    assert d is None, d
    if frame:
        import pandas as pd
        df = pd.DataFrame(rows)
        body = {"dataframe_split": {"data": [[None if math.isnan(v) else float(v) for v in row] for row in rows]}}
        r = requests.post(url, json=body, timeout=60)
        assert r.status_code == 200, r.text
        d = close(r.json()["predictions"], mlflow_answer(pyfunc, df))
        assert d is None, d


def test_external_data(client, tracking_uri):
    """A dense network whose weights MLflow saves as external data (tensors of 1 KB or
    more): mlbox reads the side file, compiles it and answers as onnxruntime does."""
    import mlflow
    import numpy as np
    import onnx
    import requests
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((4, 64)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.standard_normal(64).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.standard_normal((64, 3)).astype(np.float32), "w2")
    g = helper.make_graph([helper.make_node("Gemm", ["X", "w1", "b1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
                           helper.make_node("MatMul", ["r", "w2"], ["logits"]),
                           helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)], "mlp",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])], [w1, b1, w2])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    name = unique("onnx-external")
    info = log_onnx(model, name)
    import os
    local = mlflow.artifacts.download_artifacts(artifact_uri=info.model_uri)
    files = os.listdir(local)
    assert "model.onnx" in files and any(f not in ("model.onnx", "MLmodel") and not f.endswith((".yaml", ".txt", ".json")) for f in files), files
    assert wait_compiled(client, name, "1") == "compiled"
    client.set_registered_model_alias(name, "champion", "1")
    rows = rng.standard_normal((20, 4)).astype(np.float32)
    r = requests.post(f"{tracking_uri}/models/{name}/invocations", json={"inputs": rows.tolist()}, timeout=60)
    assert r.status_code == 200, r.text
    d = close(r.json()["predictions"], mlflow_answer(mlflow.pyfunc.load_model(f"models:/{name}/1"), rows))
    assert d is None, d


def test_unsupported_operator(client):
    """A graph with an operator mlbox does not compile gets a state naming the node."""
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Erf", ["X"], ["Y"], name="erf_1")], "g",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    name = unique("onnx-erf")
    log_onnx(model, name)
    state = wait_compiled(client, name, "1")
    assert state.startswith("unsupported:") and "erf_1" in state and "Erf" in state, state


def _frame():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 400
    df = pd.DataFrame({"color": rng.choice(["red", "green", "blue", "teal"], n), "size": rng.choice(["S", "M", "L"], n),
                       "x1": rng.standard_normal(n).astype(np.float32), "x2": rng.standard_normal(n).astype(np.float32)})
    y = ((df.x1 + (df.color == "red") - (df["size"] == "S")) > 0.3).astype(int) + (df.x2 > 1).astype(int)
    return df, y.to_numpy()


@pytest.mark.parametrize("zipmap", [False, True], ids=["probabilities", "zipmap"])
def test_column_transformer(client, tracking_uri, zipmap):
    """A ColumnTransformer (OneHotEncoder on string columns, StandardScaler on
    numbers) and a LogisticRegression, converted from a DataFrame: one graph
    input per column. Fed as MLflow feeds such a model (a dict of [N, 1]
    tensors), mlbox answers what onnxruntime does, unknown strings included
    (all-zero one-hot rows); a DataFrame, which MLflow's ONNX flavor cannot
    feed to a graph of [N, 1] inputs, gets the same values one record a row."""
    import mlflow
    import numpy as np
    import requests
    from skl2onnx import to_onnx
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df, y = _frame()
    pipe = Pipeline([("ct", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["color", "size"]),
                                               ("num", StandardScaler(), ["x1", "x2"])])),
                     ("lr", LogisticRegression(max_iter=500))]).fit(df, y)
    opts = None if zipmap else {id(pipe.steps[-1][1]): {"zipmap": False}}
    name = unique("onnx-columntransformer")
    log_onnx(to_onnx(pipe, df[:1], options=opts), name)
    assert wait_compiled(client, name, "1") == "compiled"
    client.set_registered_model_alias(name, "champion", "1")
    test = df[::9][:40].copy()
    test.iloc[2, 0] = "purple"  # a colour the encoder never saw
    test.iloc[4, 1] = "XL"
    feeds = {c: (test[c].to_numpy(dtype=object) if c in ("color", "size") else test[c].to_numpy(np.float32)).reshape(-1, 1)
             for c in test.columns}
    want = mlflow_answer(mlflow.pyfunc.load_model(f"models:/{name}/1"), feeds)
    url = f"{tracking_uri}/models/{name}/invocations"
    body = {"inputs": {c: [[v.item() if hasattr(v, "item") else v] for v in test[c]] for c in test.columns}}
    r = requests.post(url, json=body, timeout=60)
    assert r.status_code == 200, r.text
    d = close(r.json()["predictions"], want)
    assert d is None, d
    # A DataFrame: the same label and scores, one record a row.
    r = requests.post(url, json={"dataframe_split": {"columns": list(test.columns),
                                                     "data": [[v.item() if hasattr(v, "item") else v for v in row] for row in test.itertuples(index=False)]}},
                      timeout=60)
    assert r.status_code == 200, r.text
    keys = list(want)
    records = [{k: want[k][i] for k in keys} for i in range(len(test))]
    d = close(r.json()["predictions"], records)
    assert d is None, d
    # /predict: rows in the graph's input order, strings and numbers; the
    # label and, asked for, the probabilities.
    rows = [[v.item() if hasattr(v, "item") else v for v in row] for row in test.itertuples(index=False)]
    r = requests.post(f"{tracking_uri}/models/{name}/predict?probabilities=true", json={"data": rows}, timeout=60)
    assert r.status_code == 200, r.text
    label_key, proba_key = keys
    probs = [[p[k] for k in sorted(p, key=int)] if isinstance(p, dict) else p for p in want[proba_key]]
    d = close(r.json(), {"predictions": want[label_key], "probabilities": probs})
    assert d is None, d
    # A column left out is a clear 400.
    r = requests.post(url, json={"inputs": {"color": [["red"]], "x1": [[0.1]], "x2": [[0.2]]}}, timeout=60)
    assert r.status_code == 400 and "size" in r.json()["message"], r.text


@pytest.mark.parametrize("damage", ["truncated", "garbage", "escaping external data"])
def test_hostile_model_file(client, tmp_path, damage):
    """A model.onnx that is cut short, is not ONNX at all, or names external
    data outside the model directory: the version gets a clean "invalid: ..."
    state naming what is wrong."""
    import os

    import mlflow
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(4096, dtype=np.float32).reshape(4, 1024), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["X", "w"], ["Y"])], "g",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 1024])], [w])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = str(tmp_path / "model")
    mlflow.onnx.save_model(model, path)
    onnx_file = os.path.join(path, "model.onnx")
    data = open(onnx_file, "rb").read()
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    elif damage == "garbage":
        data = b"\xff" * len(data)  # wire type 7: not protobuf
    else:
        m = onnx.load(onnx_file, load_external_data=False)
        for t in m.graph.initializer:
            for e in t.external_data:
                if e.key == "location":
                    e.value = "../../../../etc/passwd"
        data = m.SerializeToString()
    open(onnx_file, "wb").write(data)
    name = unique("onnx-hostile")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(path, "model")
    mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    state = wait_compiled(client, name, "1")
    assert state.startswith("invalid:"), state
    if damage == "escaping external data":
        assert "passwd" in state or "outside" in state or "escape" in state, state
