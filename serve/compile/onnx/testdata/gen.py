"""Regenerate the ONNX reader's test models (committed; the Go tests need no Python):

    .venv/bin/python serve/compile/onnx/testdata/gen.py

skl2onnx 1.20.0 / onnx 1.23.2 (tests/compat/requirements.txt). facts.json
holds what the Go test checks, read back with the onnx package itself.
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
X, y = load_iris(return_X_y=True)
X = X.astype(np.float32)
facts = {}


def record(name, model):
    g = model.graph
    facts[name] = {
        "ir_version": model.ir_version,
        "opsets": {o.domain: o.version for o in model.opset_import},
        "ops": [n.op_type for n in g.node],
        "inputs": [i.name for i in g.input],
        "outputs": [o.name for o in g.output],
        "initializers": {t.name: [float(v) for v in numpy_helper.to_array(t, base_dir=os.path.join(HERE, name)).ravel()[:8]]
                         for t in g.initializer},
    }


# 1. StandardScaler + LogisticRegression, ZipMap output (classic skl2onnx).
pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
m = to_onnx(pipe, X[:1])
os.makedirs(os.path.join(HERE, "logreg"), exist_ok=True)
onnx.save_model(m, os.path.join(HERE, "logreg", "model.onnx"))
record("logreg", m)
lin = next(n for n in m.graph.node if n.op_type == "LinearClassifier")
facts["logreg"]["coefficients"] = [float(v) for v in helper.get_attribute_value(next(a for a in lin.attribute if a.name == "coefficients"))[:8]]

# 2. A small random forest (unpacked repeated attributes, thousands of tags).
rf = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
m = to_onnx(rf, X[:1], options={id(rf): {"zipmap": False}})
os.makedirs(os.path.join(HERE, "forest"), exist_ok=True)
onnx.save_model(m, os.path.join(HERE, "forest", "model.onnx"))
record("forest", m)
te = m.graph.node[0]
facts["forest"]["nodes_featureids"] = list(helper.get_attribute_value(next(a for a in te.attribute if a.name == "nodes_featureids")))[:16]
facts["forest"]["n_nodes"] = len(helper.get_attribute_value(next(a for a in te.attribute if a.name == "nodes_nodeids")))

# 3. A dense network whose weights are raw_data, saved as MLflow saves
# (save_as_external_data: tensors of 1 KB or more go to a side file).
rng = np.random.default_rng(0)
w1 = numpy_helper.from_array(rng.standard_normal((4, 64)).astype(np.float32), "w1")
b1 = numpy_helper.from_array(rng.standard_normal(64).astype(np.float32), "b1")
w2 = numpy_helper.from_array(rng.standard_normal((64, 3)).astype(np.float32), "w2")
graph = helper.make_graph(
    [helper.make_node("Gemm", ["X", "w1", "b1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
     helper.make_node("MatMul", ["r", "w2"], ["logits"]), helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)],
    "mlp", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
    [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])], [w1, b1, w2])
m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
os.makedirs(os.path.join(HERE, "external"), exist_ok=True)
for f in os.listdir(os.path.join(HERE, "external")):
    os.remove(os.path.join(HERE, "external", f))
onnx.save_model(m, os.path.join(HERE, "external", "model.onnx"), save_as_external_data=True,
                location="weights.data", size_threshold=1024)
m = onnx.load(os.path.join(HERE, "external", "model.onnx"), load_external_data=False)
record("external", m)
facts["external"]["external"] = [t.name for t in m.graph.initializer if t.data_location == TensorProto.EXTERNAL]

with open(os.path.join(HERE, "facts.json"), "w") as f:
    json.dump(facts, f, indent=1, sort_keys=True)


# --- models the lowering (build.go) is checked on, with onnxruntime's answers ---
import onnxruntime as ort
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression

expect = {}


def answers(name, model, X):
    os.makedirs(os.path.join(HERE, name), exist_ok=True)
    onnx.save_model(model, os.path.join(HERE, name, "model.onnx"))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(HERE, name, "model.onnx"), so, providers=["CPUExecutionProvider"])
    outs = sess.run(None, {sess.get_inputs()[0].name: X})
    rows = [[None if np.isnan(x) else float(x) for x in r] for r in X]  # JSON has no NaN: null
    res = {"rows": rows, "outputs": {}}
    for o, v in zip(sess.get_outputs(), outs):
        if isinstance(v, list):  # ZipMap: a list of {label: probability}
            v = [[float(d[k]) for k in sorted(d)] for d in v]
        else:
            v = np.asarray(v).tolist()
        res["outputs"][o.name] = v
    expect[name] = res


rng = np.random.default_rng(1)
Xi = X[rng.permutation(len(X))[:40]]
answers("logreg", onnx.load(os.path.join(HERE, "logreg", "model.onnx")), Xi)

Xb, yb = load_breast_cancer(return_X_y=True)
Xb = Xb.astype(np.float32)
lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Xb, yb)
answers("lin_binary", to_onnx(lr, Xb[:1], options={id(lr.steps[-1][1]): {"zipmap": False}}), Xb[:40])

Xd, yd = load_diabetes(return_X_y=True)
Xd = Xd.astype(np.float32)
answers("lin_reg", to_onnx(LinearRegression().fit(Xd, yd), Xd[:1]), Xd[:40])

Xn = Xd.copy()
Xn[rng.random(Xn.shape) < 0.2] = np.nan
imp = make_pipeline(SimpleImputer(), LinearRegression()).fit(Xn, yd)
answers("imputer_reg", to_onnx(imp, Xn[:1]), Xn[:40])

# Tree ensembles: skl2onnx (BRANCH_LEQ), onnxmltools (XGBoost: BRANCH_LT and
# base margins; LightGBM), binary and multiclass, with NaN rows for the trees
# that learned missing values.
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier

answers("forest", onnx.load(os.path.join(HERE, "forest", "model.onnx")), Xi)
answers("rf_reg", to_onnx(RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0).fit(Xd, yd), Xd[:1]), Xd[:40])
gb = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(Xb, yb)
answers("gb_binary", to_onnx(gb, Xb[:1], options={id(gb): {"zipmap": False}}), Xb[:40])
answers("gb_multi", to_onnx(GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0).fit(X, y), X[:1]), Xi)
answers("dtree", to_onnx(DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y), X[:1]), Xi)

import lightgbm as lgb
import onnxmltools
import xgboost as xgb
from onnxmltools.convert.common.data_types import FloatTensorType

Xbn = Xb.copy()
Xbn[rng.random(Xbn.shape) < 0.1] = np.nan
xc = xgb.XGBClassifier(n_estimators=15, max_depth=4, random_state=0).fit(Xbn, yb)
answers("xgb_binary", onnxmltools.convert_xgboost(xc, initial_types=[("input", FloatTensorType([None, Xb.shape[1]]))]), Xbn[:40])
xm = xgb.XGBClassifier(n_estimators=8, max_depth=3, random_state=0).fit(X, y)
answers("xgb_multi", onnxmltools.convert_xgboost(xm, initial_types=[("input", FloatTensorType([None, 4]))]), Xi)
xr = xgb.XGBRegressor(n_estimators=15, max_depth=4, random_state=0).fit(Xd, yd)
answers("xgb_reg", onnxmltools.convert_xgboost(xr, initial_types=[("input", FloatTensorType([None, Xd.shape[1]]))]), Xd[:40])
lc = lgb.LGBMClassifier(n_estimators=15, num_leaves=8, verbose=-1, random_state=0).fit(Xbn, yb)
answers("lgb_binary", onnxmltools.convert_lightgbm(lc, initial_types=[("input", FloatTensorType([None, Xb.shape[1]]))], zipmap=False), Xbn[:40])
lr_ = lgb.LGBMRegressor(n_estimators=15, num_leaves=8, verbose=-1, random_state=0).fit(Xd, yd)
answers("lgb_reg", onnxmltools.convert_lightgbm(lr_, initial_types=[("input", FloatTensorType([None, Xd.shape[1]]))]), Xd[:40])

# Dense networks: MLPClassifier (multiclass with and without ZipMap, binary)
# and MLPRegressor.
from sklearn.neural_network import MLPClassifier, MLPRegressor

mm = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(X, y)
answers("mlp_multi", to_onnx(mm, X[:1], options={id(mm): {"zipmap": False}}), Xi)
answers("mlp_zipmap", to_onnx(mm, X[:1]), Xi)
Xbs = StandardScaler().fit_transform(Xb).astype(np.float32)
answers("mlp_binary", to_onnx(MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(Xbs, yb), Xbs[:1],
                              options={MLPClassifier: {"zipmap": False}}), Xbs[:40])
answers("mlp_reg", to_onnx(MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=300, random_state=0).fit(Xd, yd), Xd[:1]), Xd[:40])

with open(os.path.join(HERE, "expect.json"), "w") as f:
    json.dump(expect, f)
