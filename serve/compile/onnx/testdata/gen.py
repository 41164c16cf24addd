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
    # X: one input's rows, or {input: [N, 1] or [N] column} for several
    # (the rows the Go test feeds are the columns side by side, strings as
    # strings).
    feeds = X if isinstance(X, dict) else {sess.get_inputs()[0].name: X}
    outs = sess.run(None, feeds)
    cols = [np.asarray(feeds[i.name]).reshape(len(next(iter(feeds.values()))), -1) for i in sess.get_inputs()]
    both = np.concatenate([c.astype(object) for c in cols], axis=1)

    def cell(x):
        if isinstance(x, (str, bytes)):
            return x if isinstance(x, str) else x.decode()
        x = float(x)
        return None if np.isnan(x) else x  # JSON has no NaN: null
    rows = [[cell(x) for x in r] for r in both]
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

# Preprocessing: a ColumnTransformer over a DataFrame (one graph input per
# column, strings one-hot encoded), integer categories, columns picked from
# one input, OrdinalEncoder (LabelEncoder) before a tree, Binarizer,
# MinMaxScaler (Mul, Add), and a float64 LinearRegression (MatMul, Add,
# Reshape in double).
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import Binarizer, MinMaxScaler, OneHotEncoder, OrdinalEncoder
from sklearn.pipeline import Pipeline

n = 300
df = pd.DataFrame({"color": rng.choice(["red", "green", "blue", "teal"], n), "size": rng.choice(["S", "M", "L"], n),
                   "k": rng.integers(0, 4, n), "x1": rng.standard_normal(n).astype(np.float32),
                   "x2": rng.standard_normal(n).astype(np.float32)})
yc = ((df.x1 + (df.color == "red") - (df["size"] == "S") + 0.3 * df.k) > 0.5).astype(int) + (df.x2 > 1).astype(int)
test = df[:40].copy()
test.loc[3, "color"] = "purple"  # unknown: zeros
test.loc[5, "size"] = "XL"


def frame_feeds(frame, cols):
    out = {}
    for c in cols:
        if frame[c].dtype.kind in "iuf":
            out[c] = frame[c].to_numpy().reshape(-1, 1).astype(np.int64 if c == "k" else np.float32)
        else:
            out[c] = frame[c].to_numpy(dtype=object).reshape(-1, 1)
    return out


ct = Pipeline([("ct", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["color", "size"]),
                                          ("num", StandardScaler(), ["x1", "x2"])])),
               ("lr", LogisticRegression(max_iter=500))]).fit(df[["color", "size", "x1", "x2"]], yc)
answers("ct_onehot", to_onnx(ct, df[["color", "size", "x1", "x2"]][:1], options={id(ct.steps[-1][1]): {"zipmap": False}}),
        frame_feeds(test, ["color", "size", "x1", "x2"]))
ctd = Pipeline([("ct", ColumnTransformer([("cat", OneHotEncoder(drop="first", handle_unknown="ignore"), ["color"]),
                                           ("k", OneHotEncoder(handle_unknown="ignore"), ["k"]), ("num", "passthrough", ["x1"])])),
                ("lr", LogisticRegression(max_iter=500))]).fit(df[["color", "k", "x1"]], yc)
answers("ct_drop_int", to_onnx(ctd, df[["color", "k", "x1"]][:1]), frame_feeds(test, ["color", "k", "x1"]))
Xc = rng.standard_normal((200, 5)).astype(np.float32)
yx = (Xc[:, 0] + Xc[:, 3] > 0).astype(int)
cti = Pipeline([("ct", ColumnTransformer([("a", StandardScaler(), [0, 3]), ("b", "passthrough", [1, 4])])),
                ("lr", LogisticRegression())]).fit(Xc, yx)
answers("ct_columns", to_onnx(cti, Xc[:1], options={id(cti.steps[-1][1]): {"zipmap": False}}), Xc[:40])
ordi = Pipeline([("ct", ColumnTransformer([("cat", OrdinalEncoder(), ["color", "size"]), ("num", "passthrough", ["x1"])])),
                 ("dt", DecisionTreeClassifier(max_depth=4, random_state=0))]).fit(df[["color", "size", "x1"]], yc)
answers("ordinal_tree", to_onnx(ordi, df[["color", "size", "x1"]][:1], options={id(ordi.steps[-1][1]): {"zipmap": False}}),
        frame_feeds(test, ["color", "size", "x1"]))
answers("binarizer", to_onnx(make_pipeline(Binarizer(threshold=0.1), LogisticRegression()).fit(Xc, yx), Xc[:1]), Xc[:40])
answers("minmax", to_onnx(make_pipeline(MinMaxScaler(), LogisticRegression()).fit(Xc, yx), Xc[:1]), Xc[:40])
Xd64 = Xd.astype(np.float64)
answers("lin_double", to_onnx(LinearRegression().fit(Xd64, yd), Xd64[:1]), Xd64[:40])

# A hand-made graph of the shape operators: Shape, Gather, Unsqueeze, Concat
# and Reshape on a computed shape, Slice, Abs, Clip, ReduceSum,
# FeatureVectorizer, Constant, a rank-1 output.
from onnx import TensorProto as TP
i64 = lambda name, v: numpy_helper.from_array(np.asarray(v, dtype=np.int64), name)
nodes = [
    helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.asarray([2.0], dtype=np.float32))),
    helper.make_node("Slice", ["X", "s0", "s1", "s_ax"], ["xs"]),  # columns 1..4
    helper.make_node("Abs", ["xs"], ["xa"]),
    helper.make_node("Clip", ["xa", "lo", "hi"], ["xc"]),
    helper.make_node("Mul", ["xc", "two"], ["x2"]),
    helper.make_node("Shape", ["x2"], ["sh"]),
    helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
    helper.make_node("Concat", ["n", "dims"], ["newshape"], axis=0),
    helper.make_node("Reshape", ["x2", "newshape"], ["x3"]),  # [N, 2, 2]
    helper.make_node("ReduceSum", ["x3", "ax2"], ["r"], keepdims=0),  # [N, 2]
    helper.make_node("FeatureVectorizer", ["r", "X"], ["fv"], domain="ai.onnx.ml", inputdimensions=[2, 3]),
    helper.make_node("Gather", ["X", "col0"], ["c0"], axis=1),  # [N]
    helper.make_node("Unsqueeze", ["c0", "ax1"], ["c0u"]),
    helper.make_node("Concat", ["fv", "c0u"], ["all"], axis=1),  # [N, 6]
    helper.make_node("ReduceSum", ["all", "ax1"], ["y"], keepdims=0),  # [N]
]
inits = [i64("s0", [1]), i64("s1", [5]), i64("s_ax", [1]), numpy_helper.from_array(np.asarray(-0.5, np.float32), "lo"),
         numpy_helper.from_array(np.asarray(1.5, np.float32), "hi"), i64("zero", [0]), i64("dims", [2, 2]),
         i64("ax2", [2]), i64("ax1", [1]), i64("col0", 0)]
g = helper.make_graph(nodes, "shapes", [helper.make_tensor_value_info("X", TP.FLOAT, ["N", 5])],
                      [helper.make_tensor_value_info("y", TP.FLOAT, ["N"])], inits)
shapes = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)])
onnx.checker.check_model(shapes)
answers("shapes", shapes, Xc[:40] * 2)

# More shapes: Reshape keeping the batch (0), ReduceSum keeping dims,
# Squeeze, Flatten, Slice backwards, Cast to int64 then LabelEncoder to
# floats, Identity of a constant.
nodes = [
    helper.make_node("Reshape", ["X", "sh3"], ["x3"]),  # [N, 2, 3]
    helper.make_node("ReduceSum", ["x3", "ax2"], ["r3"], keepdims=1),  # [N, 2, 1]
    helper.make_node("Squeeze", ["r3", "ax2"], ["r2"]),  # [N, 2]
    helper.make_node("Flatten", ["x3"], ["flat"], axis=1),  # [N, 6]
    helper.make_node("Slice", ["x3", "st", "en", "ax2", "stp"], ["rev"]),  # last axis backwards
    helper.make_node("Flatten", ["rev"], ["revf"]),
    helper.make_node("Cast", ["X"], ["xi"], to=TP.INT64),
    helper.make_node("LabelEncoder", ["xi"], ["enc"], domain="ai.onnx.ml", keys_int64s=[-1, 0, 1],
                     values_floats=[10.0, 20.0, 30.0], default_float=0.5),
    helper.make_node("Concat", ["flat", "r2", "revf", "enc"], ["all"], axis=1),  # [N, 20]
    helper.make_node("Identity", ["bias"], ["bias2"]),
    helper.make_node("Add", ["all", "bias2"], ["y"]),
]
inits = [i64("sh3", [0, 2, 3]), i64("ax2", [2]), i64("st", [-1]), i64("en", [-(2 ** 63)]), i64("stp", [-1]),
         numpy_helper.from_array(np.linspace(-1, 1, 20).astype(np.float32), "bias")]
g = helper.make_graph(nodes, "shapes2", [helper.make_tensor_value_info("X", TP.FLOAT, ["N", 6])],
                      [helper.make_tensor_value_info("y", TP.FLOAT, ["N", 20])], inits)
shapes2 = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 2)])
onnx.checker.check_model(shapes2)
Xs = (rng.standard_normal((40, 6)) * 1.5).astype(np.float32)
answers("shapes2", shapes2, Xs)

# More skl2onnx conversions docs/serving.md names: linear classifiers
# without probabilities (SGDClassifier, LinearSVC, RidgeClassifier), PCA,
# RobustScaler, SelectKBest, extra trees.
from sklearn import decomposition, feature_selection
from sklearn import linear_model as lm
from sklearn import svm
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.preprocessing import RobustScaler

answers("sgd", to_onnx(lm.SGDClassifier(random_state=0).fit(X, y), X[:1], options={lm.SGDClassifier: {"zipmap": False}}), Xi)
answers("linearsvc", to_onnx(svm.LinearSVC(random_state=0).fit(X, y), X[:1]), Xi)
answers("ridgeclf", to_onnx(lm.RidgeClassifier().fit(X, y), X[:1]), Xi)
answers("pca_lr", to_onnx(make_pipeline(decomposition.PCA(3, random_state=0), LogisticRegression(max_iter=500)).fit(X, y), X[:1]), Xi)
answers("robust_ridge", to_onnx(make_pipeline(RobustScaler(), lm.Ridge()).fit(Xd, yd), Xd[:1]), Xd[:40])
answers("selectk", to_onnx(make_pipeline(feature_selection.SelectKBest(k=2), LogisticRegression()).fit(X, y), X[:1]), Xi)
answers("extratrees", to_onnx(ExtraTreesClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, y), X[:1]), Xi)

# ai.onnx.ml opset 5 TreeEnsemble, which no converter writes yet: the random
# forest regressor's trees rewritten into it (float and double), and a
# hand-made tree of every mode (EQ, NEQ, MEMBER with NaN tracking);
# TreeEnsembleRegressor (ml 3) on doubles, thresholds and weights as double tensors.
def v3_attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def to_v5(reg, dtype):
    a = v3_attrs(reg)
    mode_code = {b"BRANCH_LEQ": 0, b"BRANCH_LT": 1, b"BRANCH_GTE": 2, b"BRANCH_GT": 3, b"BRANCH_EQ": 4, b"BRANCH_NEQ": 5}
    keys = list(zip(a["nodes_treeids"], a["nodes_nodeids"]))
    leaves = {}
    for t, nd, w in zip(a["target_treeids"], a["target_nodeids"], a["target_weights"]):
        leaves[(t, nd)] = w
    internal = [i for i, m in enumerate(a["nodes_modes"]) if m != b"LEAF"]
    pos = {keys[i]: k for k, i in enumerate(internal)}
    leaf_list = [k for k in keys if k in leaves and k not in pos]
    lpos = {k: j for j, k in enumerate(leaf_list)}
    feats, splits, modes, tids, tleaf, fids, fleaf, tracks = [], [], [], [], [], [], [], []
    for i in internal:
        t = a["nodes_treeids"][i]
        feats.append(a["nodes_featureids"][i])
        splits.append(a["nodes_values"][i])
        modes.append(mode_code[a["nodes_modes"][i]])
        tracks.append(a.get("nodes_missing_value_tracks_true", [0] * len(keys))[i])
        for ids, leafs, child in ((tids, tleaf, a["nodes_truenodeids"][i]), (fids, fleaf, a["nodes_falsenodeids"][i])):
            if (t, child) in pos:
                ids.append(pos[(t, child)]); leafs.append(0)
            else:
                ids.append(lpos[(t, child)]); leafs.append(1)
    roots = [pos[(t, 0)] for t in sorted(set(a["nodes_treeids"]))]
    return helper.make_node(
        "TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", tree_roots=roots, nodes_featureids=feats,
        nodes_splits=numpy_helper.from_array(np.asarray(splits, dtype)), nodes_modes=numpy_helper.from_array(np.asarray(modes, np.uint8)),
        nodes_truenodeids=tids, nodes_trueleafs=tleaf, nodes_falsenodeids=fids, nodes_falseleafs=fleaf,
        nodes_missing_value_tracks_true=tracks, leaf_targetids=[0] * len(leaf_list),
        leaf_weights=numpy_helper.from_array(np.asarray([leaves[k] for k in leaf_list], dtype)), n_targets=1, aggregate_function=0)


def ml5_model(node, elem, nf, nout):
    g = helper.make_graph([node], "te5", [helper.make_tensor_value_info("X", elem, ["N", nf])],
                          [helper.make_tensor_value_info("Y", elem, ["N", nout])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])


rfr = to_onnx(RandomForestRegressor(n_estimators=8, max_depth=6, random_state=0).fit(Xd, yd), Xd[:1])
reg = next(nd for nd in rfr.graph.node if nd.op_type == "TreeEnsembleRegressor")
answers("te5_forest", ml5_model(to_v5(reg, np.float32), TP.FLOAT, Xd.shape[1], 1), Xd[:40])
answers("te5_double", ml5_model(to_v5(reg, np.float64), TP.DOUBLE, Xd.shape[1], 1), Xd[:40].astype(np.float64))
# Every mode: node i tests feature i % 3; two targets, softmax.
modes5 = [0, 1, 2, 3, 4, 5, 6]
node5 = helper.make_node(
    "TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", tree_roots=[0, 4],
    nodes_featureids=[0, 1, 2, 0, 1, 2, 0], nodes_modes=numpy_helper.from_array(np.asarray(modes5, np.uint8)),
    nodes_splits=numpy_helper.from_array(np.asarray([0.5, 1.0, 2.0, -1.0, 1.0, 3.0, 0.0], np.float32)),
    # tree 0: 0 -> (1, 2); 1 -> (3, leaf0); 2 -> (leaf1, leaf2); 3 -> (leaf3, leaf4)
    # tree 1: 4 -> (5, 6); 5 -> (leaf5, leaf6); 6 -> (leaf7, leaf8)
    nodes_truenodeids=[1, 3, 1, 3, 5, 5, 7], nodes_trueleafs=[0, 0, 1, 1, 0, 1, 1],
    nodes_falsenodeids=[2, 0, 2, 4, 6, 6, 8], nodes_falseleafs=[0, 1, 1, 1, 0, 1, 1],
    nodes_missing_value_tracks_true=[1, 0, 0, 1, 0, 1, 1],
    membership_values=numpy_helper.from_array(np.asarray([0.0, 2.0, 5.0], np.float32)),
    leaf_targetids=[0, 1, 0, 1, 0, 1, 0, 1, 0], leaf_weights=numpy_helper.from_array(np.linspace(-2, 2, 9).astype(np.float32)),
    n_targets=2, aggregate_function=1, post_transform=1)
Xm = rng.integers(-2, 6, (60, 3)).astype(np.float32)
Xm[rng.random(Xm.shape) < 0.15] = np.nan
Xm[::5, 0] = 0.5
answers("te5_modes", ml5_model(node5, TP.FLOAT, 3, 2), Xm)
# onnxruntime 1.32 reads post_transform 1 as LOGISTIC and 2 as SOFTMAX (the
# ONNX spec says the reverse); mlbox answers as onnxruntime does.
next(a for a in node5.attribute if a.name == "post_transform").i = 2
answers("te5_modes_post2", ml5_model(node5, TP.FLOAT, 3, 2), Xm)
a = v3_attrs(reg)
attrs = {k: v for k, v in a.items() if k not in ("nodes_values", "target_weights")}
attrs["nodes_values_as_tensor"] = numpy_helper.from_array(np.asarray(a["nodes_values"], np.float64))
attrs["target_weights_as_tensor"] = numpy_helper.from_array(np.asarray(a["target_weights"], np.float64))
v3t = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", **attrs)
g = helper.make_graph([v3t], "te3", [helper.make_tensor_value_info("X", TP.DOUBLE, ["N", Xd.shape[1]])],
                      [helper.make_tensor_value_info("Y", TP.FLOAT, ["N", 1])])
answers("te3_tensors", helper.make_model(g, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 3)]),
        Xd[:40].astype(np.float64))

# Normalizer, every norm: sklearn's Normalizer as skl2onnx converts it, and
# by hand on double and int64 inputs. Rows with negatives and zeros
# (onnxruntime's MAX divides by the largest value, not the largest |x|; an
# all-zero row stays as it is).
from sklearn.preprocessing import Normalizer
Xn = rng.standard_normal((40, 5)).astype(np.float32)
Xn[::7] = 0
Xn[3] = -np.abs(Xn[3])
for norm in ("l1", "l2", "max"):
    p = make_pipeline(Normalizer(norm=norm), LogisticRegression()).fit(Xc, yx)
    answers("normalizer_" + norm, to_onnx(p, Xc[:1], options={id(p.steps[-1][1]): {"zipmap": False}}), Xn)
for norm, elem, dt in (("MAX", TP.DOUBLE, np.float64), ("L2", TP.DOUBLE, np.float64), ("L1", TP.INT64, np.int64), ("MAX", TP.INT64, np.int64)):
    g = helper.make_graph([helper.make_node("Normalizer", ["X"], ["Y"], domain="ai.onnx.ml", norm=norm)], "norm",
                          [helper.make_tensor_value_info("X", elem, ["N", 5])], [helper.make_tensor_value_info("Y", TP.FLOAT, ["N", 5])])
    answers(f"norm_{norm.lower()}_{np.dtype(dt).name}", helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)]),
            (Xn.astype(np.float64) * 1000.3).astype(dt))

# Element-wise operators of two tensors, comparisons, Pow, Not, Neg,
# ReduceProd and ConstantOfShape: PolynomialFeatures and PowerTransformer
# (Yeo-Johnson, Box-Cox) as skl2onnx converts them, and a hand-made graph.
from sklearn.linear_model import Ridge
from sklearn.preprocessing import PolynomialFeatures, PowerTransformer
Xp = rng.standard_normal((40, 4)).astype(np.float32)
Xp[5] = 0
Xp[6, 1] = -3.5
answers("poly", to_onnx(make_pipeline(PolynomialFeatures(2), Ridge()).fit(Xc[:, :4], Xc[:, 4]), Xc[:1, :4]), Xp)
yj = make_pipeline(PowerTransformer(), LogisticRegression()).fit(Xc, yx)
Xy = Xc[:40].copy()
Xy[3] = 0
answers("power_yj", to_onnx(yj, Xc[:1], options={id(yj.steps[-1][1]): {"zipmap": False}}), Xy)
Xpos = np.abs(Xc) + np.float32(0.1)
bc = make_pipeline(PowerTransformer(method="box-cox"), LogisticRegression()).fit(Xpos, yx)
answers("power_bc", to_onnx(bc, Xpos[:1], options={id(bc.steps[-1][1]): {"zipmap": False}}), Xpos[:40])


def init(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


ew_nodes = [
    helper.make_node("Mul", ["X", "X"], ["sq"]),
    helper.make_node("Add", ["X", "c_shift"], ["shifted"]),
    helper.make_node("Div", ["sq", "shifted"], ["ratio"]),
    helper.make_node("Less", ["X", "c_bounds"], ["lt"]),
    helper.make_node("Cast", ["lt"], ["lt_f"], to=TP.FLOAT),
    helper.make_node("Not", ["lt"], ["ge"]),
    helper.make_node("Cast", ["ge"], ["ge_f"], to=TP.FLOAT),
    helper.make_node("Greater", ["c_half", "X"], ["gt"]),
    helper.make_node("Cast", ["gt"], ["gt_f"], to=TP.FLOAT),
    helper.make_node("Neg", ["X"], ["neg"]),
    helper.make_node("Abs", ["X"], ["ab"]),
    helper.make_node("Pow", ["ab", "c_exp"], ["pw"]),
    helper.make_node("Pow", ["X", "c_three"], ["cube"]),
    helper.make_node("ReduceProd", ["X", "c_axes"], ["prod"]),
    helper.make_node("Sub", ["X", "prod"], ["centred"]),
    helper.make_node("Greater", ["X", "prod"], ["above"]),
    helper.make_node("Cast", ["above"], ["above_f"], to=TP.FLOAT),
    helper.make_node("Shape", ["prod"], ["prod_shape"]),
    helper.make_node("ConstantOfShape", ["prod_shape"], ["twos"], value=helper.make_tensor("v", TP.FLOAT, [1], [2.5])),
    helper.make_node("Less", ["prod", "c_bins"], ["bins"]),
    helper.make_node("Cast", ["bins"], ["bins_f"], to=TP.FLOAT),
    helper.make_node("Concat", ["ratio", "lt_f", "ge_f", "gt_f", "neg", "pw", "cube", "prod", "centred", "above_f", "twos", "bins_f"], ["Y"], axis=1),
]
ew_inits = [init("c_shift", np.float32([2.5, 3.0, 4.0])), init("c_bounds", np.float32([0.5, -1, 2])), init("c_half", np.float32(0.5)),
            init("c_exp", np.float32([1.5])), init("c_three", np.float32(3.0)), init("c_axes", np.int64([1])),
            init("c_bins", np.float32([-1, 0, 1, 2]))]
g = helper.make_graph(ew_nodes, "elementwise", [helper.make_tensor_value_info("X", TP.FLOAT, ["N", 3])],
                      [helper.make_tensor_value_info("Y", TP.FLOAT, ["N", 33])], ew_inits)
Xe = rng.standard_normal((40, 3)).astype(np.float32)
Xe[4] = 0
answers("elementwise", helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), Xe)

# SVMRegressor: SVR with the kernels mlbox compiles (not sigmoid), NuSVR.
from sklearn.svm import SVR, NuSVR
for kern, deg in (("rbf", 3), ("linear", 3), ("poly", 3), ("poly", 2)):
    answers(f"svr_{kern}{deg if kern == 'poly' else ''}", to_onnx(SVR(kernel=kern, degree=deg, C=50.0).fit(Xd * 10, yd), Xd[:1] * 10), Xd[:40] * 10)
answers("nusvr", to_onnx(NuSVR(C=50.0).fit(Xd * 10, yd), Xd[:1] * 10), Xd[:40] * 10)

# Naive Bayes: the label is the arg max of the joint log-likelihoods, not
# of the probabilities (the module computes its index); GaussianNB
# broadcasts a [N, 1, F] row against [1, C, F] constants.
from sklearn.naive_bayes import BernoulliNB, GaussianNB, MultinomialNB
answers("gnb", to_onnx(GaussianNB().fit(X, y), X[:1]), Xi)
mnb = MultinomialNB().fit(X, y)
answers("mnb", to_onnx(mnb, X[:1], options={id(mnb): {"zipmap": False}}), Xi)

# SVMClassifier: the label by pairwise votes; with probabilities, Platt's
# sigmoid and pairwise coupling.
from sklearn.svm import SVC, NuSVC
Xs = StandardScaler().fit(X).transform(X).astype(np.float32)
for name, est, XX, yy in (("svc_rbf", SVC(probability=True, random_state=0), Xs, y),
                          ("svc_linear", SVC(kernel="linear", probability=True, random_state=0), Xs, y),
                          ("svc_poly_binary", SVC(kernel="poly", probability=True, random_state=0), Xb[:, :6] / Xb[:, :6].max(axis=0), yb),
                          ("nusvc", NuSVC(probability=True, random_state=0), Xs, y),
                          # Without probabilities: skl2onnx turns the votes and decision values into
                          # scikit-learn's one-vs-rest decision function with Sum, Less, Abs, ...
                          ("svc_decision", SVC(random_state=0), Xs, y),
                          ("svc_decision_binary", SVC(kernel="linear", random_state=0), Xb[:, :6] / Xb[:, :6].max(axis=0), yb)):
    XX = XX.astype(np.float32)
    m = est.fit(XX, yy)
    answers(name, to_onnx(m, XX[:1], options={id(m): {"zipmap": False}}), XX[::4][:40])

# KBinsDiscretizer: an ArgMax whose index is a number (one-hot encoded, or
# the ordinal itself), not a label.
from sklearn.preprocessing import KBinsDiscretizer
for enc in ("onehot-dense", "ordinal"):
    kb = make_pipeline(KBinsDiscretizer(n_bins=4, encode=enc), LogisticRegression(max_iter=500)).fit(Xc, yx)
    answers("kbins_" + enc.split("-")[0], to_onnx(kb, Xc[:1], options={id(kb.steps[-1][1]): {"zipmap": False}}), Xc[:40])

# BernoulliNB computes its weights from constants (Exp, Log, Sub,
# ReduceSum of initializers), folded when the model compiles.
bnb = BernoulliNB(binarize=5.0).fit(X, y)
answers("bnb", to_onnx(bnb, X[:1], options={id(bnb): {"zipmap": False}}), Xi)

# Several tree ensembles in one graph, their scores combined: soft voting
# (classifier) and VotingRegressor; ReduceMean.
from sklearn.ensemble import ExtraTreesClassifier, VotingClassifier, VotingRegressor
vs = VotingClassifier([("a", RandomForestClassifier(5, max_depth=3, random_state=0)), ("b", ExtraTreesClassifier(5, max_depth=3, random_state=0))],
                      voting="soft", flatten_transform=False).fit(X, y)
answers("vote_soft", to_onnx(vs, X[:1]), Xi)
vr = VotingRegressor([("a", RandomForestRegressor(5, max_depth=3, random_state=0)), ("b", RandomForestRegressor(3, max_depth=2, random_state=1))]).fit(Xd, yd)
answers("vote_reg", to_onnx(vr, Xd[:1]), Xd[:40])
g = helper.make_graph([helper.make_node("ReduceMean", ["X"], ["Y"], axes=[1])], "mean", [helper.make_tensor_value_info("X", TP.FLOAT, ["N", 3])],
                      [helper.make_tensor_value_info("Y", TP.FLOAT, ["N", 1])])
answers("reduce_mean", helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), Xe)

# Bagging: each estimator's rows reshaped to [1, N, k], concatenated along
# axis 0 and averaged over it.
from sklearn.ensemble import BaggingClassifier, BaggingRegressor
bg = BaggingClassifier(n_estimators=4, random_state=0).fit(X, y)
answers("bagging", to_onnx(bg, X[:1], options={id(bg): {"zipmap": False}}), Xi)
answers("bagging_reg", to_onnx(BaggingRegressor(n_estimators=3, random_state=0).fit(Xd, yd), Xd[:1]), Xd[:40])

# Equal and Where: AdaBoost (SAMME) and hard voting.
from sklearn.ensemble import AdaBoostClassifier
ada = AdaBoostClassifier(n_estimators=5, random_state=0).fit(X, y)
answers("adaboost", to_onnx(ada, X[:1], options={id(ada): {"zipmap": False}}), Xi)
vh = VotingClassifier([("a", RandomForestClassifier(5, max_depth=3, random_state=0)), ("b", ExtraTreesClassifier(5, max_depth=3, random_state=0)),
                       ("c", RandomForestClassifier(3, max_depth=2, random_state=2))], voting="hard", flatten_transform=False).fit(X, y)
answers("vote_hard", to_onnx(vh, X[:1]), Xi)

# Models mlbox refuses, and what it says (unsupported.json): the Go test
# checks each gets an "unsupported" naming it.
refused = {}


def refuse(name, model, says):
    os.makedirs(os.path.join(HERE, "unsupported", name), exist_ok=True)
    onnx.save_model(model, os.path.join(HERE, "unsupported", name, "model.onnx"))
    refused[name] = says


def one_node(node, elem, nf, nout, inits=(), out_elem=TP.FLOAT, opsets=(("", 17), ("ai.onnx.ml", 1))):
    g = helper.make_graph([node], "refused", [helper.make_tensor_value_info("X", elem, ["N", nf])],
                          [helper.make_tensor_value_info(o, out_elem, ["N", nout]) for o in node.output], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])


refuse("norm_l2_int64", one_node(helper.make_node("Normalizer", ["X"], ["Y"], domain="ai.onnx.ml", norm="L2"), TP.INT64, 3, 3),
       "L2 of int64")
refuse("pow_tensor_exponent", one_node(helper.make_node("Pow", ["X", "X"], ["Y"]), TP.FLOAT, 3, 3), "an exponent that is not a constant")
refuse("svr_sigmoid", to_onnx(SVR(kernel="sigmoid").fit(Xd, yd), Xd[:1]), 'kernel "SIGMOID"')
g = helper.make_graph([helper.make_node("Reshape", ["X", "c_stack"], ["S"]), helper.make_node("Relu", ["S"], ["Y"])], "stack",
                      [helper.make_tensor_value_info("X", TP.FLOAT, ["N", 3])], [helper.make_tensor_value_info("Y", TP.FLOAT, [1, "N", 3])],
                      [init("c_stack", np.int64([1, -1, 3]))])
refuse("stacked_relu", helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), "batch axis is not the first")
refuse("broadcast_mismatch", one_node(helper.make_node("Add", ["X", "c"], ["Y"]), TP.FLOAT, 3, 3, [init("c", np.float32([1, 2]))]),
       "a constant of dims [2]")

with open(os.path.join(HERE, "unsupported.json"), "w") as f:
    json.dump(refused, f, indent=1, sort_keys=True)

with open(os.path.join(HERE, "expect.json"), "w") as f:
    json.dump(expect, f)
