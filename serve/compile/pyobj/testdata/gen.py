"""Writes the test files of package pyobj and the values the tests expect.

Run from the repository root, with the project venv (scikit-learn 1.9.1,
numpy 2.4.6, skops 0.16.0, cloudpickle 3.1.3):

    .venv/bin/python serve/compile/pyobj/testdata/gen.py

Output goes next to this script: models in pickle protocols 2 to 5,
cloudpickle and skops; .npy files; hostile pickles; expect.json.
skops members are named after Python object ids, so reruns give different
bytes for the same content.
"""

import io
import json
import os
import pickle
import subprocess
import sys
import types
import zipfile
import importlib

import cloudpickle
import numpy as np
import pandas as pd
import skops.io as sio
import sklearn
from sklearn.datasets import load_iris
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

OUT = os.path.dirname(os.path.abspath(__file__))

assert sklearn.__version__ == "1.9.1", sklearn.__version__
assert np.__version__ == "2.4.6", np.__version__


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def fl(a):
    """A numpy array as nested Python lists of floats."""
    return np.asarray(a, dtype=np.float64).tolist()


X, y = load_iris(return_X_y=True)

# Models ---------------------------------------------------------------------

pipe = Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression(max_iter=500))]).fit(X, y)

rf = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)

rng = np.random.RandomState(0)
cats = np.array(
    [[["red", "green", "blue"][i % 3], ["S", "M", "L", "XL"][i % 4]] for i in range(40)],
    dtype=object,
)
onehot = OneHotEncoder(handle_unknown="ignore").fit(cats)

Xn = X[:30, :3].copy()
Xn[::4, 1] = np.nan
imputer = SimpleImputer(strategy="mean").fit(Xn)

gb = GradientBoostingClassifier(n_estimators=2, max_depth=1, random_state=0).fit(X, y)

dfx = pd.DataFrame(X[:, :3], columns=["a", "b", "c"])
dfx["c"] = pd.Categorical(np.array(["u", "v", "w"])[np.arange(len(X)) % 3])
hgb = HistGradientBoostingClassifier(
    max_iter=2, max_depth=2, categorical_features="from_dtype", random_state=0
).fit(dfx, y)

models = {"pipeline_lr": pipe, "rf3": rf, "onehot": onehot, "imputer": imputer, "gb": gb, "hgb_cat": hgb}
# The boosting models are larger: only protocol 4 (what mlflow writes) and skops.
protocols = {"gb": (4,), "hgb_cat": (4,)}

for name, m in models.items():
    for proto in protocols.get(name, (2, 3, 4, 5)):
        write(f"{name}_p{proto}.pkl", pickle.dumps(m, protocol=proto))
    if name not in protocols:
        write(f"{name}_cloudpickle.pkl", cloudpickle.dumps(m))  # cloudpickle's default, protocol 5
    buf = io.BytesIO()
    # The tree models are written deflated (mlflow stores members, skops
    # allows both), which keeps them small and tests the other method.
    sio.dump(m, buf, compression=zipfile.ZIP_STORED if name in ("pipeline_lr", "onehot", "imputer") else zipfile.ZIP_DEFLATED)
    write(f"{name}.skops", buf.getvalue())

# numpy 1.x spelling of the same pickle (protocol 2 names globals as text
# lines, so the module names can be replaced in place).
p2 = pickle.dumps(pipe, protocol=2)
assert b"cnumpy._core.multiarray\n" in p2
write("pipeline_lr_p2_numpy1.pkl", p2.replace(b"cnumpy._core.", b"cnumpy.core."))

# Expectations ---------------------------------------------------------------

scaler, lr = pipe.named_steps["scaler"], pipe.named_steps["clf"]
expect = {
    "pipeline_lr": {
        "mean": fl(scaler.mean_),
        "scale": fl(scaler.scale_),
        "n_samples_seen": int(scaler.n_samples_seen_),
        "coef_shape": list(lr.coef_.shape),
        "coef": fl(lr.coef_),
        "coef_fortran": bool(lr.coef_.flags["F_CONTIGUOUS"] and not lr.coef_.flags["C_CONTIGUOUS"]),
        "intercept": fl(lr.intercept_),
        "classes": [int(c) for c in lr.classes_],
        "sklearn_version": sklearn.__version__,
    },
    "rf3": {
        "classes": fl(rf.classes_),
        "trees": [
            {
                "node_count": int(t.tree_.node_count),
                "max_depth": int(t.tree_.max_depth),
                "n_features": int(t.tree_.n_features),
                "left_child": [int(v) for v in t.tree_.children_left],
                "right_child": [int(v) for v in t.tree_.children_right],
                "feature": [int(v) for v in t.tree_.feature],
                "threshold": fl(t.tree_.threshold),
                "missing_go_to_left": [int(v) for v in t.tree_.missing_go_to_left],
                "values_shape": list(t.tree_.value.shape),
                "values": fl(t.tree_.value.ravel()),
            }
            for t in rf.estimators_
        ],
    },
    "onehot": {
        "categories": [[str(c) for c in cat] for cat in onehot.categories_],
        "handle_unknown": onehot.handle_unknown,
    },
    "imputer": {
        "statistics": fl(imputer.statistics_),
        "strategy": imputer.strategy,
        "fit_dtype": imputer._fit_dtype.str,
    },
}

expect["gb"] = {
    "estimators_shape": list(gb.estimators_.shape),
    "node_counts": [int(t.tree_.node_count) for t in gb.estimators_.ravel()],
    "root_thresholds": [float(t.tree_.threshold[0]) for t in gb.estimators_.ravel()],
    "learning_rate": gb.learning_rate,
    "class_prior": fl(gb.init_.class_prior_),
}
pre = hgb._preprocessor
expect["hgb_cat"] = {
    "n_iter": len(hgb._predictors),
    "node_values": [[fl(p.nodes["value"]) for p in it] for it in hgb._predictors],
    "baseline": fl(hgb._baseline_prediction.ravel()),
    "baseline_shape": list(hgb._baseline_prediction.shape),
    "partial_func": "sklearn.utils.validation.check_array",
    "transformers": [tr[0] for tr in pre.transformers_],
    "is_categorical": [bool(v) for v in hgb.is_categorical_],
}

# .npy files -----------------------------------------------------------------

nodes = rf.estimators_[0].tree_.__getstate__()["nodes"]
np.save(os.path.join(OUT, "tree_nodes.npy"), nodes)
fort = np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3) / 4)
np.save(os.path.join(OUT, "fortran.npy"), fort)
big = np.array([[1, -2, 3], [400000, -5, 6]], dtype=">i4")
np.save(os.path.join(OUT, "bigendian.npy"), big)
bigf = np.array([1.5, -0.25, 1e300], dtype=">f8")
np.save(os.path.join(OUT, "bigendian_f8.npy"), bigf)
uni = np.array(["a", "bé", "日本語"], dtype="<U3")
np.save(os.path.join(OUT, "unicode.npy"), uni)
half = np.array([0.5, -2.0, 65504.0], dtype="<f2")
np.save(os.path.join(OUT, "half.npy"), half)
flags = np.array([True, False, True])
np.save(os.path.join(OUT, "bool.npy"), flags)
with open(os.path.join(OUT, "v2.npy"), "wb") as f:
    np.lib.format.write_array(f, np.arange(4, dtype="<u2"), version=(2, 0))
# A field name outside latin-1 makes numpy write format 3.0.
v3 = np.zeros(2, dtype=[("größe", "<f4"), ("名", "<i2")])
v3["größe"] = [1.5, 2.5]
v3["名"] = [7, -8]
with open(os.path.join(OUT, "v3.npy"), "wb") as f:
    np.lib.format.write_array(f, v3, version=(3, 0))
np.save(os.path.join(OUT, "scalar.npy"), np.array(3.25))

expect["npy"] = {
    "tree_nodes": {
        "shape": list(nodes.shape),
        "itemsize": nodes.dtype.itemsize,
        "names": list(nodes.dtype.names),
        "offsets": [nodes.dtype.fields[n][1] for n in nodes.dtype.names],
        "left_child": [int(v) for v in nodes["left_child"]],
        "threshold": fl(nodes["threshold"]),
        "missing_go_to_left": [int(v) for v in nodes["missing_go_to_left"]],
    },
    "fortran": {"shape": [2, 3], "values": fl(fort.ravel(order="C")), "fortran": True},
    "bigendian": {"shape": [2, 3], "values": [int(v) for v in big.ravel()], "dtype": big.dtype.str},
    "bigendian_f8": {"values": fl(bigf)},
    "unicode": {"values": [str(s) for s in uni], "dtype": uni.dtype.str},
    "half": {"values": fl(half)},
    "bool": {"values": [bool(v) for v in flags]},
    "v2": {"values": [0, 1, 2, 3]},
    "v3": {"names": list(v3.dtype.names), "f0": fl(v3["größe"]), "f1": [int(v) for v in v3["名"]]},
    "scalar": {"value": 3.25},
}

# Hostile pickles --------------------------------------------------------------


class Call:
    """Pickles as a call of fn(*args), the classic pickle exploit."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


evil = {
    "posix_system": (Call(os.system, "echo pwned"), "posix.system"),
    "eval": (Call(eval, "1+1"), "builtins.eval"),
    "exec": (Call(exec, "x=1"), "builtins.exec"),
    "popen": (Call(subprocess.Popen, ["true"]), "subprocess.Popen"),
    "import_module": (Call(importlib.import_module, "os"), "importlib.import_module"),
    "getattr": (Call(getattr, "text", "upper"), "builtins.getattr"),
}
refused = {}
for name, (obj, glob) in evil.items():
    write(f"evil_{name}.pkl", pickle.dumps(obj, protocol=4))
    refused[f"evil_{name}.pkl"] = glob

# A class from a module mlbox does not know.
mymodule = types.ModuleType("mymodule")
sys.modules["mymodule"] = mymodule


class Evil:
    pass


Evil.__module__ = "mymodule"
Evil.__qualname__ = "Evil"
mymodule.Evil = Evil
write("evil_unknown_class.pkl", pickle.dumps(Evil(), protocol=4))
refused["evil_unknown_class.pkl"] = "mymodule.Evil"

# Protocol 2 spells globals as text lines: "os system" as written by hand.
p2 = pickle.dumps(Call(os.system, "echo pwned"), protocol=2)
assert b"cposix\nsystem\n" in p2
write("evil_p2_os_system.pkl", p2.replace(b"cposix\nsystem\n", b"cos\nsystem\n"))
refused["evil_p2_os_system.pkl"] = "os.system"
p2 = pickle.dumps(Call(eval, "1+1"), protocol=2)
assert b"c__builtin__\neval\n" in p2
write("evil_p2_eval.pkl", p2)
refused["evil_p2_eval.pkl"] = "builtins.eval"

# cloudpickle stores a lambda by value: code, which must be refused.
lam = FunctionTransformer(lambda x: x + 1)
write("evil_cloudpickle_lambda.pkl", cloudpickle.dumps(lam, protocol=4))
refused["evil_cloudpickle_lambda.pkl"] = "cloudpickle."  # some cloudpickle global

expect["refused"] = refused

with open(os.path.join(OUT, "expect.json"), "w") as f:
    json.dump(expect, f, indent=1, sort_keys=True)
    f.write("\n")
