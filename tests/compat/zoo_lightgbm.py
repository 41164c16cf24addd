"""The LightGBM model zoo for the model compiler (a plain module, not a test file).

`cases()` trains and returns a list of `Case` objects: small LightGBM models of every kind
the compiler supports (LGBMClassifier / LGBMRegressor and plain Boosters; binary,
multiclass, regression L2/L1/huber/quantile, poisson, gamma, tweedie; rf boosting; early
stopping; the missing-value types none/zero/NaN; categorical features; string class
labels), each with held-out rows and the serialization format it is saved in (skops,
MLflow 3's default for the wrappers, or pickle; a Booster is always its text file).
`expected(case)` is what `mlflow models serve` answers for those rows: the pyfunc output
of mlflow.lightgbm (an LGBMClassifier answers its labels, an LGBMRegressor its values, a
Booster its transformed output), as JSON.

Users: scripts/gen_lightgbm_fixtures.py (committed Go fixtures) and
tests/compat/test_zoo_lightgbm.py (logged through the real MLflow client).

Deterministic: fixed seeds, sklearn's bundled data sets. At most 30 trees of 15 leaves.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Optional

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_classification

# LightGBM computes in float64.
TOL = 1e-9

TRUSTED = ["lightgbm.basic.Booster", "lightgbm.sklearn.LGBMClassifier", "lightgbm.sklearn.LGBMRegressor",
           "collections.OrderedDict"]


@dataclass
class Case:
    name: str
    family: str  # model_class
    task: str
    model: Any
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    fmt: str = "skops"  # skops | pickle | text (a Booster)
    description: str = ""
    has_nan: bool = False
    # pandas category columns: MLflow's scoring server cannot score such a model from JSON
    # (LightGBM refuses the object column it builds), so the expected answer is LightGBM's
    # own prediction on the category frame.
    pandas_categorical: bool = False


def _nan(X: pd.DataFrame, frac: float, seed: int) -> pd.DataFrame:
    X = X.copy()
    rng = np.random.default_rng(seed)
    return X.mask(rng.random(X.shape) < frac)


def _split(X, y, n_test=60, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(X))
    te, tr = idx[:n_test], idx[n_test:]
    y = np.asarray(y)
    return X.iloc[tr].reset_index(drop=True), X.iloc[te].reset_index(drop=True), y[tr], y[te]


def _frame(data) -> pd.DataFrame:
    return pd.DataFrame(data.data, columns=[c.replace(" ", "_") for c in data.feature_names])


def _cancer(nan=0.0):
    d = load_breast_cancer()
    X = _frame(d)[["mean_radius", "mean_texture", "mean_smoothness", "mean_concavity", "worst_radius",
                   "worst_texture", "worst_concave_points", "area_error"]]
    if nan:
        X = _nan(X, nan, 1)
    return _split(X, d.target)


def _diabetes(nan=0.0):
    d = load_diabetes()
    X = _frame(d)
    if nan:
        X = _nan(X, nan, 2)
    return _split(X, d.target)


def _zeros():
    """Sparse-looking data: many exact zeros (for zero_as_missing)."""
    X, y = make_classification(n_samples=700, n_features=6, n_informative=4, random_state=4)
    rng = np.random.default_rng(4)
    X[rng.random(X.shape) < 0.3] = 0.0
    X = pd.DataFrame(X, columns=[f"z{i}" for i in range(6)])
    X = X.mask(rng.random(X.shape) < 0.05)
    return _split(X, y)


def _counts():
    X, _ = make_classification(n_samples=600, n_features=6, n_informative=4, random_state=3)
    X = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    rng = np.random.default_rng(3)
    y = rng.poisson(np.exp(0.4 * X["x0"] - 0.3 * X["x1"] + 0.5)).astype(float)
    return _split(X, y)


def _categorical():
    """Integer-coded categorical columns (as LightGBM's categorical_feature takes them)."""
    rng = np.random.default_rng(5)
    n = 900
    X = pd.DataFrame({
        "num": rng.normal(size=n),
        "shop": rng.integers(0, 40, size=n).astype(float),
        "size": rng.normal(size=n),
        "region": rng.integers(0, 5, size=n).astype(float),
    })
    X.loc[rng.random(n) < 0.08, "num"] = np.nan
    X.loc[rng.random(n) < 0.05, "shop"] = np.nan
    y = ((X["num"].fillna(0) + X["shop"].isin([1, 4, 9, 16, 25, 36]) * 1.7 - (X["region"] == 2) * 1.1
          + 0.3 * X["size"] + rng.normal(scale=0.4, size=n)) > 0.5).astype(int)
    return _split(X, y, n_test=100)


def cases() -> list[Case]:
    warnings.simplefilter("ignore")
    out: list[Case] = []
    P = dict(n_estimators=20, num_leaves=15, random_state=0, n_jobs=1, verbose=-1, min_child_samples=5)

    Xtr, Xte, ytr, yte = _cancer(nan=0.15)
    m = lgb.LGBMClassifier(**P).fit(Xtr, ytr)
    out.append(Case("lgb_clf_binary_nan", "lightgbm.sklearn.LGBMClassifier", "classification", m, Xtr, Xte,
                    description="binary, 15% NaN (missing type NaN)", has_nan=True))
    out.append(Case("lgb_clf_binary_nan_pickle", "lightgbm.sklearn.LGBMClassifier", "classification", m, Xtr, Xte,
                    fmt="pickle", description="the same model pickled", has_nan=True))
    ylab = np.where(ytr == 1, "benign", "malignant")
    m = lgb.LGBMClassifier(**P).fit(Xtr, ylab)
    out.append(Case("lgb_clf_str_labels", "lightgbm.sklearn.LGBMClassifier", "classification", m, Xtr, Xte,
                    description="string class labels", has_nan=True))
    m = lgb.LGBMClassifier(**{**P, "n_estimators": 300, "learning_rate": 0.2})
    m.fit(Xtr, ytr, eval_set=[(Xte, yte)], callbacks=[lgb.early_stopping(5, verbose=False)])
    out.append(Case("lgb_clf_early_stopping", "lightgbm.sklearn.LGBMClassifier", "classification", m, Xtr, Xte,
                    description=f"early stopping at iteration {m.best_iteration_}", has_nan=True))
    b = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 0, "num_threads": 1},
                  lgb.Dataset(Xtr, ytr), num_boost_round=15)
    out.append(Case("lgb_booster_binary", "lightgbm.basic.Booster", "regression", b, Xtr, Xte, fmt="text",
                    description="a plain Booster, binary: the positive-class probability", has_nan=True))

    d = load_iris()
    X = pd.DataFrame(d.data, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    Xtr, Xte, ytr, yte = _split(X, d.target, n_test=40)
    m = lgb.LGBMClassifier(**{**P, "n_estimators": 10}).fit(Xtr, np.array(["setosa", "versicolor", "virginica"])[ytr])
    out.append(Case("lgb_clf_multi", "lightgbm.sklearn.LGBMClassifier", "classification", m, Xtr, Xte,
                    description="multiclass, 3 string labels"))
    b = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 7, "verbose": -1, "seed": 0,
                   "num_threads": 1, "min_data_in_leaf": 5}, lgb.Dataset(Xtr, ytr), num_boost_round=8)
    out.append(Case("lgb_booster_multi", "lightgbm.basic.Booster", "regression", b, Xtr, Xte, fmt="text",
                    description="a plain Booster, multiclass: one row of probabilities"))
    m = lgb.LGBMClassifier(**{**P, "n_estimators": 8, "boosting_type": "rf", "bagging_freq": 1,
                              "bagging_fraction": 0.7}).fit(Xtr, ytr)
    out.append(Case("lgb_rf_clf_multi", "lightgbm.sklearn.LGBMClassifier", "classification", m, Xtr, Xte,
                    description="rf boosting (averaged), multiclass"))

    Xtr, Xte, ytr, yte = _diabetes(nan=0.1)
    for obj, extra in [("regression", {}), ("regression_l1", {}), ("huber", {"alpha": 20.0}),
                       ("quantile", {"alpha": 0.8}), ("gamma", {}), ("tweedie", {"tweedie_variance_power": 1.3})]:
        m = lgb.LGBMRegressor(**P, objective=obj, **extra).fit(Xtr, ytr)
        out.append(Case(f"lgb_reg_{obj}", "lightgbm.sklearn.LGBMRegressor", "regression", m, Xtr, Xte,
                        fmt="pickle" if obj == "huber" else "skops", description=f"objective {obj}, NaN", has_nan=True))
    m = lgb.LGBMRegressor(**{**P, "n_estimators": 10, "boosting_type": "rf", "bagging_freq": 1,
                             "bagging_fraction": 0.7}).fit(Xtr, ytr)
    out.append(Case("lgb_rf_reg", "lightgbm.sklearn.LGBMRegressor", "regression", m, Xtr, Xte,
                    description="rf boosting, regression", has_nan=True))
    m = lgb.LGBMRegressor(**P, boosting_type="dart", drop_rate=0.2).fit(Xtr, ytr)
    out.append(Case("lgb_reg_dart", "lightgbm.sklearn.LGBMRegressor", "regression", m, Xtr, Xte,
                    description="dart boosting", has_nan=True))
    m = lgb.LGBMRegressor(**P, data_sample_strategy="goss").fit(Xtr, ytr)
    out.append(Case("lgb_reg_goss", "lightgbm.sklearn.LGBMRegressor", "regression", m, Xtr, Xte,
                    description="goss sampling", has_nan=True))
    m = lgb.LGBMRegressor(**P, use_missing=False).fit(Xtr, ytr)
    out.append(Case("lgb_reg_no_missing", "lightgbm.sklearn.LGBMRegressor", "regression", m, Xtr, Xte,
                    description="use_missing=False (missing type None: NaN is 0)", has_nan=True))

    Xtr, Xte, ytr, yte = _counts()
    m = lgb.LGBMRegressor(**P, objective="poisson").fit(Xtr, ytr)
    out.append(Case("lgb_reg_poisson", "lightgbm.sklearn.LGBMRegressor", "regression", m, Xtr, Xte,
                    description="objective poisson"))

    Xtr, Xte, ytr, yte = _zeros()
    m = lgb.LGBMClassifier(**P, zero_as_missing=True).fit(Xtr, ytr)
    out.append(Case("lgb_clf_zero_missing", "lightgbm.sklearn.LGBMClassifier", "classification", m, Xtr, Xte,
                    description="zero_as_missing=True (missing type Zero)", has_nan=True))

    Xtr, Xte, ytr, yte = _categorical()
    m = lgb.LGBMClassifier(**P, min_data_per_group=5, cat_smooth=1.0).fit(Xtr, ytr, categorical_feature=["shop", "region"])
    out.append(Case("lgb_clf_categorical", "lightgbm.sklearn.LGBMClassifier", "classification", m, Xtr, Xte,
                    description="categorical features (integer codes, bitset splits), NaN", has_nan=True))
    b = lgb.train({"objective": "regression", "num_leaves": 15, "verbose": -1, "seed": 0, "num_threads": 1,
                   "min_data_per_group": 5, "min_data_in_leaf": 5}, lgb.Dataset(Xtr, ytr.astype(float),
                   categorical_feature=["shop", "region"]), num_boost_round=12)
    out.append(Case("lgb_booster_categorical", "lightgbm.basic.Booster", "regression", b, Xtr, Xte, fmt="text",
                    description="a plain Booster with categorical features", has_nan=True))

    rng = np.random.default_rng(8)
    n = 700
    Xc = pd.DataFrame({
        "city": pd.Categorical(rng.choice(["Lyon", "Oslo", "Porto", "Riga", "Turin"], size=n)),
        "x": rng.normal(size=n),
        "plan": pd.Categorical(rng.choice(["basic", "pro", "team"], size=n)),
    })
    Xc.loc[rng.random(n) < 0.05, "x"] = np.nan
    yc = ((Xc["city"].isin(["Oslo", "Riga"]) * 1.2 + Xc["x"].fillna(0) - (Xc["plan"] == "basic") * 0.8
           + rng.normal(scale=0.4, size=n)) > 0.3).astype(int)
    Xtr, Xte, ytr, yte = _split(Xc, yc, n_test=80)
    m = lgb.LGBMClassifier(**P, min_data_per_group=5, cat_smooth=1.0).fit(Xtr, ytr)
    out.append(Case("lgb_clf_pandas_categorical", "lightgbm.sklearn.LGBMClassifier", "classification", m, Xtr, Xte,
                    description="pandas category columns with string categories (pandas_categorical)",
                    has_nan=True, pandas_categorical=True))
    return out


def _jsonable(v):
    if v is None:
        return None
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    return str(v)


def rows(X: pd.DataFrame) -> list:
    return [[_jsonable(v) for v in r] for r in X.itertuples(index=False, name=None)]


def dataframe_split(X: pd.DataFrame) -> dict:
    return {"dataframe_split": {"columns": [str(c) for c in X.columns], "data": rows(X)}}


def predict(case: Case, X: Optional[pd.DataFrame] = None):
    """mlflow.lightgbm's pyfunc predict (Booster.predict or the wrapper's predict)."""
    X = case.X_test if X is None else X
    return case.model.predict(X)


def expected(case: Case, X: Optional[pd.DataFrame] = None):
    return np.asarray(predict(case, X)).tolist()


def proba(case: Case, X: Optional[pd.DataFrame] = None):
    X = case.X_test if X is None else X
    if hasattr(case.model, "predict_proba"):
        return np.asarray(case.model.predict_proba(X)).tolist()
    return None
