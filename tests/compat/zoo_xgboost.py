"""The XGBoost model zoo for the model compiler (a plain module, not a test file).

`cases()` trains and returns a list of `Case` objects: small XGBoost models of every
kind the compiler supports (the sklearn wrappers and plain Boosters; binary, multiclass,
regression and count objectives; dart; random forests; early stopping; categorical
splits; NaN), each with held-out rows and the MLflow model format (ubj or json) it is
saved in. `expected(case)` is what `mlflow models serve` answers for those rows: the
pyfunc output of mlflow.xgboost (an XGBClassifier answers class indices, an
XGBRegressor its values, a Booster its transformed output), as JSON.

Users: scripts/gen_xgboost_fixtures.py (committed Go fixtures) and
tests/compat/test_zoo_xgboost.py (logged through the real MLflow client).

Deterministic: fixed seeds, sklearn's bundled data sets. At most 30 trees of depth 4.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_classification

# XGBoost computes in float32: its outputs are compared within this relative tolerance.
TOL = 1e-6


@dataclass
class Case:
    name: str
    family: str  # the model class MLflow records (model_class)
    task: str  # "classification" or "regression" (how pyfunc answers)
    model: Any  # an xgboost sklearn estimator or an xgboost.Booster
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    model_format: str = "ubj"
    description: str = ""
    has_nan: bool = False
    # A categorical model: MLflow's own scoring server cannot score it from JSON (XGBoost
    # refuses string columns), so the expected answer is the library's prediction on a frame
    # with the training categories.
    categorical: bool = False


def _nan(X: pd.DataFrame, frac: float, seed: int) -> pd.DataFrame:
    X = X.copy()
    rng = np.random.default_rng(seed)
    mask = rng.random(X.shape) < frac
    return X.mask(mask)


def _split(X, y, n_test=60, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(X))
    te, tr = idx[:n_test], idx[n_test:]
    return X.iloc[tr].reset_index(drop=True), X.iloc[te].reset_index(drop=True), np.asarray(y)[tr], np.asarray(y)[te]


def _frame(data) -> pd.DataFrame:
    cols = [c.replace(" ", "_") for c in data.feature_names]
    return pd.DataFrame(data.data, columns=cols)


def _cancer(nan=0.0):
    d = load_breast_cancer()
    X = _frame(d)[[
        "mean_radius", "mean_texture", "mean_smoothness", "mean_concavity", "worst_radius",
        "worst_texture", "worst_concave_points", "area_error",
    ]]
    if nan:
        X = _nan(X, nan, 1)
    return _split(X, d.target)


def _iris():
    d = load_iris()
    X = pd.DataFrame(d.data, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    return _split(X, d.target, n_test=40)


def _diabetes(nan=0.0):
    d = load_diabetes()
    X = _frame(d)
    if nan:
        X = _nan(X, nan, 2)
    return _split(X, d.target)


def _counts():
    X, _ = make_classification(n_samples=600, n_features=6, n_informative=4, random_state=3)
    X = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    rng = np.random.default_rng(3)
    lam = np.exp(0.4 * X["x0"] - 0.3 * X["x1"] + 0.5)
    y = rng.poisson(lam).astype(float)
    return _split(X, y)


def _categorical():
    rng = np.random.default_rng(5)
    n = 800
    X = pd.DataFrame({
        "num": rng.normal(size=n),
        "color": pd.Categorical(rng.choice(["red", "green", "blue", "amber", "violet"], size=n)),
        "size": rng.normal(size=n),
        "grade": pd.Categorical(rng.choice([3, 7, 11, 20], size=n)),
    })
    X.loc[rng.random(n) < 0.1, "num"] = np.nan
    logit = (X["num"].fillna(0) + X["color"].isin(["red", "blue"]) * 1.5
             - (X["grade"].astype(int) > 10) * 1.2 + 0.3 * X["size"])
    y = (logit + rng.normal(scale=0.5, size=n) > 0.4).astype(int)
    return _split(X, y, n_test=80)


def _booster(params, X, y, rounds):
    return xgb.train(params, xgb.DMatrix(X, label=y, enable_categorical=True), num_boost_round=rounds)


def cases() -> list[Case]:
    warnings.simplefilter("ignore")
    out: list[Case] = []
    C = dict(max_depth=4, random_state=0, tree_method="hist", n_jobs=1)

    Xtr, Xte, ytr, yte = _cancer(nan=0.15)
    m = xgb.XGBClassifier(n_estimators=25, **C).fit(Xtr, ytr)
    out.append(Case("xgb_clf_binary_nan", "xgboost.sklearn.XGBClassifier", "classification", m, Xtr, Xte,
                    description="binary:logistic, 15% NaN in training and test rows", has_nan=True))
    out.append(Case("xgb_clf_binary_nan_json", "xgboost.sklearn.XGBClassifier", "classification", m, Xtr, Xte,
                    model_format="json", description="the same model saved as JSON", has_nan=True))

    m = xgb.XGBClassifier(n_estimators=200, early_stopping_rounds=5, learning_rate=0.3, **C)
    m.fit(Xtr, ytr, eval_set=[(Xte, yte)], verbose=False)
    out.append(Case("xgb_clf_early_stopping", "xgboost.sklearn.XGBClassifier", "classification", m, Xtr, Xte,
                    description=f"early stopping: best_iteration {m.best_iteration} of {m.get_booster().num_boosted_rounds()} rounds",
                    has_nan=True))

    Xtr, Xte, ytr, yte = _iris()
    m = xgb.XGBClassifier(n_estimators=10, **C).fit(Xtr, ytr)
    out.append(Case("xgb_clf_multi", "xgboost.sklearn.XGBClassifier", "classification", m, Xtr, Xte,
                    description="multi:softprob, 3 classes"))
    m = xgb.XGBClassifier(n_estimators=10, objective="multi:softmax", **C).fit(Xtr, ytr)
    out.append(Case("xgb_clf_multi_softmax", "xgboost.sklearn.XGBClassifier", "classification", m, Xtr, Xte,
                    description="multi:softmax", model_format="json"))
    b = _booster({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "seed": 0, "nthread": 1}, Xtr, ytr, 8)
    out.append(Case("xgb_booster_multi", "xgboost.core.Booster", "regression", b, Xtr, Xte,
                    description="a plain Booster, multi:softprob: one row of probabilities"))
    m = xgb.XGBRFClassifier(n_estimators=6, max_depth=4, random_state=0, n_jobs=1).fit(Xtr, ytr)
    out.append(Case("xgb_rf_clf_multi", "xgboost.sklearn.XGBRFClassifier", "classification", m, Xtr, Xte,
                    description="XGBRFClassifier: num_parallel_tree 6"))

    Xtr, Xte, ytr, yte = _diabetes(nan=0.1)
    m = xgb.XGBRegressor(n_estimators=30, **C).fit(Xtr, ytr)
    out.append(Case("xgb_reg_nan", "xgboost.sklearn.XGBRegressor", "regression", m, Xtr, Xte,
                    description="reg:squarederror with NaN", has_nan=True))
    m = xgb.XGBRegressor(n_estimators=20, objective="reg:absoluteerror", **C).fit(Xtr, ytr)
    out.append(Case("xgb_reg_absolute", "xgboost.sklearn.XGBRegressor", "regression", m, Xtr, Xte,
                    description="reg:absoluteerror", has_nan=True))
    m = xgb.XGBRegressor(n_estimators=20, objective="reg:gamma", **C).fit(Xtr, ytr)
    out.append(Case("xgb_reg_gamma", "xgboost.sklearn.XGBRegressor", "regression", m, Xtr, Xte,
                    description="reg:gamma", has_nan=True))
    m = xgb.XGBRegressor(n_estimators=20, objective="reg:tweedie", tweedie_variance_power=1.4, **C).fit(Xtr, ytr)
    out.append(Case("xgb_reg_tweedie", "xgboost.sklearn.XGBRegressor", "regression", m, Xtr, Xte,
                    description="reg:tweedie", has_nan=True))
    m = xgb.XGBRegressor(n_estimators=20, booster="dart", rate_drop=0.2, skip_drop=0.0, **C).fit(Xtr, ytr)
    out.append(Case("xgb_reg_dart", "xgboost.sklearn.XGBRegressor", "regression", m, Xtr, Xte,
                    description="dart booster (weight_drop folded into the leaves)", has_nan=True))
    b = _booster({"objective": "reg:squarederror", "max_depth": 3, "seed": 0, "nthread": 1}, Xtr, ytr, 15)
    out.append(Case("xgb_booster_reg_json", "xgboost.core.Booster", "regression", b, Xtr, Xte, model_format="json",
                    description="a plain Booster, reg:squarederror, JSON", has_nan=True))

    Xtr, Xte, ytr, yte = _counts()
    m = xgb.XGBRegressor(n_estimators=25, objective="count:poisson", **C).fit(Xtr, ytr)
    out.append(Case("xgb_reg_poisson", "xgboost.sklearn.XGBRegressor", "regression", m, Xtr, Xte,
                    description="count:poisson"))
    yl = 1 / (1 + np.exp(-(Xtr["x0"] - Xtr["x2"]).to_numpy()))
    m = xgb.XGBRegressor(n_estimators=20, objective="reg:logistic", **C).fit(Xtr, yl)
    out.append(Case("xgb_reg_logistic", "xgboost.sklearn.XGBRegressor", "regression", m, Xtr, Xte,
                    description="reg:logistic (targets in [0, 1])"))

    Xtr, Xte, ytr, yte = _cancer(nan=0.15)
    b = _booster({"objective": "binary:logistic", "max_depth": 3, "seed": 0, "nthread": 1}, Xtr, ytr, 15)
    out.append(Case("xgb_booster_binary", "xgboost.core.Booster", "regression", b, Xtr, Xte,
                    description="a plain Booster, binary:logistic: the positive-class probability", has_nan=True))
    b = _booster({"objective": "binary:logitraw", "max_depth": 3, "seed": 0, "nthread": 1}, Xtr, ytr, 15)
    out.append(Case("xgb_booster_logitraw", "xgboost.core.Booster", "regression", b, Xtr, Xte,
                    description="a plain Booster, binary:logitraw: the margin", has_nan=True))

    Xtr, Xte, ytr, yte = _categorical()
    m = xgb.XGBClassifier(n_estimators=20, enable_categorical=True, max_cat_to_onehot=1, **C).fit(Xtr, ytr)
    out.append(Case("xgb_clf_categorical", "xgboost.sklearn.XGBClassifier", "classification", m, Xtr, Xte,
                    description="categorical splits on a string and an integer category column, NaN",
                    has_nan=True, categorical=True))
    return out


def model_class(case: Case) -> str:
    return case.family


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
    """X as JSON rows: NaN -> null, category values as their value (string or int)."""
    return [[_jsonable(v) for v in r] for r in X.itertuples(index=False, name=None)]


def dataframe_split(X: pd.DataFrame) -> dict:
    return {"dataframe_split": {"columns": [str(c) for c in X.columns], "data": rows(X)}}


def predict(case: Case, X: Optional[pd.DataFrame] = None):
    """The pyfunc output of mlflow.xgboost for X (with X's own dtypes)."""
    X = case.X_test if X is None else X
    if isinstance(case.model, xgb.Booster):
        return case.model.predict(xgb.DMatrix(X, enable_categorical=True))
    return case.model.predict(X)


def expected(case: Case, X: Optional[pd.DataFrame] = None):
    """What `mlflow models serve` answers (minus {"predictions": ...}): ndarray.tolist()."""
    return np.asarray(predict(case, X)).tolist()


def proba(case: Case, X: Optional[pd.DataFrame] = None):
    """predict_proba of a classifier (None otherwise)."""
    X = case.X_test if X is None else X
    if not hasattr(case.model, "predict_proba") or case.model.get_params().get("objective") == "multi:softmax":
        return None  # multi:softmax has no probabilities
    return np.asarray(case.model.predict_proba(X)).tolist()
