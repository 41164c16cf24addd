"""The scikit-learn model zoo for the model compiler (a plain module, not a test file).

`cases(quick=False)` trains and returns a list of `Case` objects: small fitted
estimators of every family the compiler supports, each with held-out test rows
(`X_test`, a pandas DataFrame with named columns) and the MLflow serialization
formats it can be logged in. `expected(case)` is what `mlflow models serve`
answers for those rows (see its docstring for what MLflow really returns).

Users of this module:
  * scripts/gen_sklearn_fixtures.py writes the quick zoo as committed Go test
    fixtures (serve/compile/sklearn/testdata/zoo/).
  * the compatibility suite logs the zoo through the real MLflow client.

Everything is deterministic: every random_state is fixed, data comes from
sklearn's generators and bundled (offline) data sets, or from a seeded synthetic
DataFrame with string categorical columns and missing values. The whole zoo
trains in a few seconds (at most 20 trees of depth at most 6, at most 2,000
training rows per model).

Works with scikit-learn >= 1.6 (tree/forest/ExtraTrees NaN routing) and
pandas 2 or 3. With pandas 3 the string columns have the `str` dtype (missing
values are NaN); with pandas 2 they are `object` columns holding None.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_iris,
    make_classification,
    make_regression,
)
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
    AdaBoostClassifier,
    BaggingClassifier,
    BaggingRegressor,
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    ARDRegression,
    BayesianRidge,
    ElasticNet,
    GammaRegressor,
    Lars,
    LassoLarsIC,
    MultiTaskLassoCV,
    OrthogonalMatchingPursuit,
    PassiveAggressiveClassifier,
    PassiveAggressiveRegressor,
    QuantileRegressor,
    RidgeClassifierCV,
    TheilSenRegressor,
    HuberRegressor,
    Lasso,
    LassoCV,
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    Perceptron,
    PoissonRegressor,
    Ridge,
    RidgeCV,
    SGDClassifier,
    SGDRegressor,
    TweedieRegressor,
)
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    Binarizer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.multioutput import MultiOutputRegressor
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.feature_selection import SelectKBest, SelectPercentile, VarianceThreshold, chi2, f_regression
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestCentroid
from sklearn.kernel_ridge import KernelRidge
from sklearn.naive_bayes import BernoulliNB, ComplementNB, GaussianNB, MultinomialNB
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR, NuSVC, NuSVR, OneClassSVM
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

ALL_FORMATS = ["skops", "pickle", "cloudpickle"]

# Types that skops 0.16 does not trust by default and that mlflow.sklearn.save_model /
# log_model(serialization_format="skops") therefore refuses unless they are passed as
# `skops_trusted_types` (MLflow test-loads the file right after writing it).
# Checked per case by `untrusted_skops_types()` / scripts/gen_sklearn_fixtures.py.
TREE = "sklearn.tree._tree.Tree"  # every DecisionTree*/RandomForest*/ExtraTrees*
DTYPE = "numpy.dtype"  # SimpleImputer's _fit_dtype / _fill_dtype

TEST_ROWS = 40  # at most this many held-out rows per case


@dataclass
class Case:
    name: str  # unique, filesystem-safe
    family: str  # the estimator class this case is about, e.g. "RandomForestClassifier"
    task: str  # "binary" | "multiclass" | "regression"
    model: Any  # fitted estimator
    X_train: pd.DataFrame
    y_train: Any
    X_test: pd.DataFrame  # held-out rows, <= TEST_ROWS
    formats: list = field(default_factory=lambda: list(ALL_FORMATS))
    # Exactly the types skops reports as untrusted for this model; None when there are
    # none (then the skops default works without any trusted types).
    skops_trusted_types: Optional[list] = None
    predict_fn: str = "predict"  # or "predict_proba" (pyfunc_predict_fn)
    has_nan: bool = False  # X_test contains NaN / missing strings
    string_columns: list = field(default_factory=list)
    description: str = ""


# ----------------------------------------------------------------------------------------
# Data


def _split(X, y, test_rows=TEST_ROWS, seed=0, stratify=True):
    strat = y if (stratify and y is not None and np.ndim(y) == 1) else None
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=test_rows, random_state=seed, stratify=strat
    )
    return (
        X_tr.reset_index(drop=True),
        X_te.reset_index(drop=True),
        np.asarray(y_tr),
    )


def _frame(X, prefix="f"):
    return pd.DataFrame(np.asarray(X, dtype=np.float64), columns=[f"{prefix}{i}" for i in range(X.shape[1])])


def _iris():
    d = load_iris(as_frame=True)
    return d.data.copy(), d.target.to_numpy(), np.asarray(d.target_names)


def _cancer():
    d = load_breast_cancer(as_frame=True)
    return d.data.copy(), d.target.to_numpy()


def _diabetes():
    d = load_diabetes(as_frame=True)
    return d.data.copy(), d.target.to_numpy().astype(np.float64)


def _clf(n_classes=2, n=800, n_features=8, seed=0):
    X, y = make_classification(
        n_samples=n,
        n_features=n_features,
        n_informative=min(5, n_features),
        n_redundant=1,
        n_classes=n_classes,
        n_clusters_per_class=1,
        class_sep=1.2,
        random_state=seed,
    )
    return _frame(X), y


def _reg(n=600, n_features=6, n_targets=1, seed=0):
    X, y = make_regression(
        n_samples=n, n_features=n_features, n_informative=4, n_targets=n_targets, noise=5.0, random_state=seed
    )
    return _frame(X, "x"), y


def _with_nan(X, frac, seed, columns=None):
    """A copy of X with about `frac` of the cells of `columns` (default: all) set to NaN."""
    X = X.copy()
    rng = np.random.RandomState(seed)
    for c in columns if columns is not None else X.columns:
        mask = rng.rand(len(X)) < frac
        X.loc[mask, c] = np.nan
    return X


def _nan_test_rows(X_test, seed):
    """Test rows with NaN: every 3rd row gets one NaN, every 5th row two more."""
    X = X_test.copy()
    rng = np.random.RandomState(seed)
    cols = list(X.columns)
    for i in range(0, len(X), 3):
        X.iloc[i, X.columns.get_loc(cols[rng.randint(len(cols))])] = np.nan
    for i in range(1, len(X), 5):
        for c in rng.choice(len(cols), size=min(2, len(cols)), replace=False):
            X.iloc[i, c] = np.nan
    X.iloc[len(X) - 1, :] = np.nan  # one row that is all NaN
    return X


_COLORS = ["red", "green", "blue", "yellow", "purple"]  # "purple" is rare (infrequent)
_COLOR_EFFECT = {"red": 1.0, "green": -0.5, "blue": 0.3, "yellow": -1.2, "purple": 2.0}
_SIZE_EFFECT = {"S": -0.8, "M": 0.0, "L": 0.9}
MIXED_STRING_COLUMNS = ["color", "size", "flag"]


def _mixed(n=1000, seed=0, missing=True):
    """Synthetic DataFrame: string columns color/size/flag, int column doors, floats x1..x3.

    With `missing`, color and size have missing strings (None in the source lists,
    which pandas 3 stores as NaN) and x1, x2 have NaN. doors, x3 and flag never do.
    Returns (X, score) where score is a noisy linear function of the clean values.
    """
    rng = np.random.RandomState(seed)
    color = list(rng.choice(_COLORS, size=n, p=[0.34, 0.28, 0.22, 0.12, 0.04]))
    size = list(rng.choice(["S", "M", "L"], size=n, p=[0.3, 0.45, 0.25]))
    flag = list(rng.choice(["yes", "no"], size=n, p=[0.6, 0.4]))
    doors = rng.choice([2, 3, 4, 5], size=n, p=[0.3, 0.05, 0.6, 0.05]).astype(np.int64)
    x1 = rng.normal(0.0, 1.0, n)
    x2 = rng.uniform(0.0, 10.0, n)
    x3 = rng.exponential(2.0, n)
    score = (
        np.array([_COLOR_EFFECT[c] for c in color])
        + np.array([_SIZE_EFFECT[s] for s in size])
        + 0.5 * (np.array(flag) == "yes")
        + 0.8 * x1
        - 0.15 * x2
        + 0.3 * x3
        + 0.2 * doors
        + rng.normal(0.0, 0.5, n)
    )
    if missing:
        for i in np.where(rng.rand(n) < 0.08)[0]:
            color[i] = None
        for i in np.where(rng.rand(n) < 0.05)[0]:
            size[i] = None
        x1[rng.rand(n) < 0.10] = np.nan
        x2[rng.rand(n) < 0.05] = np.nan
    X = pd.DataFrame(
        {
            "color": color,
            "size": size,
            "flag": flag,
            "doors": doors,
            "x1": x1,
            "x2": x2,
            "x3": x3,
        }
    )
    return X, score


def _mixed_task(task, n=1000, seed=0, missing=True):
    X, score = _mixed(n, seed, missing)
    if task == "binary":
        y = (score > np.median(score)).astype(np.int64)
    elif task == "multiclass":
        y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])).astype(np.int64)
    else:
        y = score
    return X, y


def _with_unseen(X_test, columns=("color", "size", "doors")):
    """Put categories never seen in training into a few test rows."""
    X = X_test.copy()
    unseen = {"color": "orange", "size": "XL", "flag": "maybe", "doors": 7}
    for k, c in enumerate(columns):
        X.loc[[k, k + 5, k + 11], c] = unseen[c]
    return X


def _mixed_split(task, seed=0, missing=True, unseen=None, n=1000):
    X, y = _mixed_task(task, n=n, seed=seed, missing=missing)
    X_tr, X_te, y_tr = _split(X, y, seed=seed, stratify=task != "regression")
    if unseen:
        X_te = _with_unseen(X_te, unseen)
    return X_tr, X_te, y_tr


# ----------------------------------------------------------------------------------------
# The cases. Each builder returns the keyword arguments of a Case (model unfitted).


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning etc.: the fitted state is what counts
        return model.fit(X, y)


def _pipe(*steps):
    return Pipeline([(type(s).__name__.lower(), s) for s in steps])


_SPECS: list = []  # (name, family, quick, builder)


def _case(name, family, quick=False):
    def deco(fn):
        _SPECS.append((name, family, quick, fn))
        return fn

    return deco


# --- Pipeline / ColumnTransformer --------------------------------------------------------


@_case("pipe_scaler_logreg_cancer", "Pipeline", quick=True)
def _():
    X, y = _cancer()
    X_tr, X_te, y_tr = _split(X, y, seed=1)
    return dict(task="binary", model=_pipe(StandardScaler(), LogisticRegression(max_iter=1000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="Pipeline(StandardScaler, LogisticRegression) on breast_cancer")


@_case("ct_onehot_scaler_drop", "ColumnTransformer")
def _():
    X_tr, X_te, y_tr = _mixed_split("multiclass", seed=2, missing=False, unseen=("color",))
    ct = ColumnTransformer(
        [("num", StandardScaler(), ["x1", "x2", "x3"]),
         ("cat", OneHotEncoder(handle_unknown="ignore"), ["color", "size"])],
        remainder="drop",  # drops flag and doors
    )
    return dict(task="multiclass", model=_pipe(ct, LogisticRegression(max_iter=1000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, string_columns=MIXED_STRING_COLUMNS,
                description="ColumnTransformer(scaler on names, one-hot with unseen colors, remainder=drop) -> LR")


@_case("ct_pipelines_passthrough", "ColumnTransformer", quick=True)
def _():
    X_tr, X_te, y_tr = _mixed_split("binary", seed=3, missing=True, unseen=("color",))
    ct = ColumnTransformer(
        [("cat", _pipe(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
          ["color", "size"]),
         ("num", _pipe(SimpleImputer(strategy="median"), StandardScaler()), ["x1", "x2"])],
        remainder="passthrough",  # flag is dropped below; doors and x3 (no NaN) pass through
    )
    X_tr = X_tr.drop(columns=["flag"])
    X_te = X_te.drop(columns=["flag"])
    return dict(task="binary", model=_pipe(ct, LogisticRegression(max_iter=1000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, skops_trusted_types=[DTYPE],
                has_nan=True, string_columns=["color", "size"],
                description="ColumnTransformer of Pipelines (imputer->one-hot on strings, imputer->scaler), "
                            "remainder=passthrough -> LR")


@_case("ct_int_index_passthrough", "ColumnTransformer")
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y, seed=4, stratify=False)
    ct = ColumnTransformer(
        [("mm", MinMaxScaler(), [0, 2]), ("rs", RobustScaler(), [3, 8])],
        remainder="passthrough",
    )
    return dict(task="regression", model=_pipe(ct, Ridge(alpha=0.5)),
                X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="ColumnTransformer selecting columns by integer index, remainder=passthrough -> Ridge")


@_case("ct_impute_onehot_rf_str_labels", "ColumnTransformer")
def _():
    X_tr, X_te, y_tr = _mixed_split("multiclass", seed=5, missing=True, unseen=("color", "size"))
    labels = np.array(["low", "mid", "high"], dtype=object)
    ct = ColumnTransformer(
        [("cat", _pipe(SimpleImputer(strategy="constant", fill_value="missing"),
                       OneHotEncoder(handle_unknown="ignore")), ["color", "size", "flag"])],
        remainder="passthrough",  # doors and x1..x3 (x1, x2 with NaN) go to the forest
    )
    return dict(task="multiclass",
                model=_pipe(ct, RandomForestClassifier(n_estimators=8, max_depth=5, random_state=5)),
                X_train=X_tr, y_train=labels[y_tr], X_test=X_te, skops_trusted_types=[TREE, DTYPE],
                has_nan=True, string_columns=MIXED_STRING_COLUMNS,
                description="ColumnTransformer(constant imputer -> one-hot) + NaN passthrough -> RandomForest, string labels")


# --- Scalers -----------------------------------------------------------------------------


@_case("scaler_standard_nomean_ridge", "StandardScaler", quick=True)
def _():
    X, y = _reg(seed=6)
    X = X * np.array([1.0, 10.0, 0.1, 100.0, 1.0, 3.0]) + np.array([0.0, 5.0, -2.0, 50.0, 0.0, 1.0])
    X_tr, X_te, y_tr = _split(X, y, seed=6, stratify=False)
    return dict(task="regression", model=_pipe(StandardScaler(with_mean=False), Ridge(alpha=1.0)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="StandardScaler(with_mean=False) -> Ridge")


@_case("scaler_standard_nostd_logreg", "StandardScaler")
def _():
    X, y, _names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=7)
    return dict(task="multiclass", model=_pipe(StandardScaler(with_std=False), LogisticRegression(max_iter=1000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="StandardScaler(with_std=False) -> LR, iris")


@_case("scaler_minmax_logreg", "MinMaxScaler")
def _():
    X, y, _names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=8)
    return dict(task="multiclass", model=_pipe(MinMaxScaler(), LogisticRegression(max_iter=1000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="MinMaxScaler() -> LR, iris")


@_case("scaler_minmax_clip_linreg", "MinMaxScaler", quick=True)
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y, seed=9, stratify=False)
    X_te = X_te.copy()
    X_te.iloc[::4] = X_te.iloc[::4] * 3.0  # out of the training range: clipped
    return dict(task="regression",
                model=_pipe(MinMaxScaler(feature_range=(-1.0, 2.0), clip=True), LinearRegression()),
                X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="MinMaxScaler(feature_range=(-1, 2), clip=True) -> LinearRegression, test rows out of range")


@_case("scaler_maxabs_linsvc", "MaxAbsScaler", quick=True)
def _():
    X, y = _clf(n_classes=3, seed=10)
    X = X * 7.0 - 1.0
    X_tr, X_te, y_tr = _split(X, y, seed=10)
    return dict(task="multiclass", model=_pipe(MaxAbsScaler(), LinearSVC(max_iter=5000, random_state=10)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="MaxAbsScaler -> LinearSVC, 3 classes")


@_case("scaler_robust_lasso", "RobustScaler", quick=True)
def _():
    X, y = _reg(seed=11)
    X = X * 4.0 + 2.0
    X_tr, X_te, y_tr = _split(X, y, seed=11, stratify=False)
    return dict(task="regression", model=_pipe(RobustScaler(), Lasso(alpha=0.1, random_state=11)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="RobustScaler -> Lasso")


# --- SimpleImputer -----------------------------------------------------------------------


@_case("imputer_mean_linreg", "SimpleImputer")
def _():
    X, y = _diabetes()
    X = _with_nan(X, 0.1, seed=12, columns=["bmi", "bp", "s1", "s5"])
    X_tr, X_te, y_tr = _split(X, y, seed=12, stratify=False)
    return dict(task="regression", model=_pipe(SimpleImputer(strategy="mean"), LinearRegression()),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 12), skops_trusted_types=[DTYPE],
                has_nan=True, description="SimpleImputer(mean) -> LinearRegression")


@_case("imputer_median_indicator_logreg", "SimpleImputer")
def _():
    X, y = _clf(seed=13)
    X = _with_nan(X, 0.12, seed=13, columns=["f0", "f2", "f5"])
    X_tr, X_te, y_tr = _split(X, y, seed=13)
    model = _pipe(SimpleImputer(strategy="median", add_indicator=True), StandardScaler(),
                  LogisticRegression(max_iter=1000))
    return dict(task="binary", model=model, X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 13),
                skops_trusted_types=[DTYPE], has_nan=True,
                description="SimpleImputer(median, add_indicator=True) -> StandardScaler -> LR")


@_case("imputer_most_frequent_num_ridge", "SimpleImputer")
def _():
    X, y = _reg(seed=14)
    X = X.round(0)  # few distinct values, so most_frequent is meaningful
    X = _with_nan(X, 0.1, seed=14)
    X_tr, X_te, y_tr = _split(X, y, seed=14, stratify=False)
    return dict(task="regression", model=_pipe(SimpleImputer(strategy="most_frequent"), Ridge(alpha=0.3)),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 14), skops_trusted_types=[DTYPE],
                has_nan=True, description="SimpleImputer(most_frequent) on numbers -> Ridge")


@_case("imputer_constant_num_dtr", "SimpleImputer")
def _():
    X, y = _reg(seed=15)
    X = _with_nan(X, 0.1, seed=15)
    X_tr, X_te, y_tr = _split(X, y, seed=15, stratify=False)
    model = _pipe(SimpleImputer(strategy="constant", fill_value=-1.0),
                  DecisionTreeRegressor(max_depth=5, random_state=15))
    return dict(task="regression", model=model, X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 15),
                skops_trusted_types=[TREE, DTYPE], has_nan=True,
                description="SimpleImputer(constant -1) -> DecisionTreeRegressor")


@_case("imputer_strings_indicator", "SimpleImputer", quick=True)
def _():
    X_tr, X_te, y_tr = _mixed_split("multiclass", seed=16, missing=True)
    ct = ColumnTransformer(
        [("color", _pipe(SimpleImputer(strategy="most_frequent"), OneHotEncoder()), ["color"]),
         ("size", _pipe(SimpleImputer(strategy="constant", fill_value="unknown"),
                        OneHotEncoder(handle_unknown="ignore")), ["size"]),
         ("num", _pipe(SimpleImputer(strategy="mean", add_indicator=True), StandardScaler()),
          ["x1", "x2", "x3"])],
        remainder="drop",
    )
    return dict(task="multiclass", model=_pipe(ct, LogisticRegression(max_iter=1000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, skops_trusted_types=[DTYPE], has_nan=True,
                string_columns=MIXED_STRING_COLUMNS,
                description="SimpleImputer most_frequent (strings), constant 'unknown' (strings), "
                            "mean with add_indicator (numbers) -> LR")


# --- OneHotEncoder -----------------------------------------------------------------------


@_case("ohe_error_nodrop_logreg", "OneHotEncoder")
def _():
    X_tr, X_te, y_tr = _mixed_split("binary", seed=17, missing=False)
    ct = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="error"), ["color", "size", "flag", "doors"])],
        remainder="passthrough",
    )
    return dict(task="binary", model=_pipe(ct, LogisticRegression(max_iter=1000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, string_columns=MIXED_STRING_COLUMNS,
                description="OneHotEncoder(handle_unknown=error, drop=None), string and int categories")


@_case("ohe_ignore_first_ridge", "OneHotEncoder")
def _():
    X_tr, X_te, y_tr = _mixed_split("regression", seed=18, missing=False, unseen=("color", "size", "doors"))
    ct = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", drop="first"), ["color", "size", "flag", "doors"])],
        remainder="passthrough",
    )
    return dict(task="regression", model=_pipe(ct, Ridge(alpha=0.5)), X_train=X_tr, y_train=y_tr, X_test=X_te,
                string_columns=MIXED_STRING_COLUMNS,
                description="OneHotEncoder(handle_unknown=ignore, drop=first), unseen categories in test")


@_case("ohe_nan_category_logreg", "OneHotEncoder")
def _():
    X_tr, X_te, y_tr = _mixed_split("multiclass", seed=19, missing=True, unseen=("size",))
    ct = ColumnTransformer(
        # color and size contain missing strings: without an imputer they are a category of their own
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["color", "size"])],
        remainder="drop",
    )
    return dict(task="multiclass", model=_pipe(ct, LogisticRegression(max_iter=1000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, has_nan=True, string_columns=MIXED_STRING_COLUMNS,
                description="OneHotEncoder on strings with missing values (NaN/None is a category)")


@_case("ohe_infrequent_ifbinary", "OneHotEncoder", quick=True)
def _():
    X_tr, X_te, y_tr = _mixed_split("binary", seed=20, missing=False, unseen=("color", "size", "doors"))
    ct = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=60, drop="if_binary"),
          ["color", "size", "flag", "doors"]),
         ("num", StandardScaler(), ["x1", "x2", "x3"])],
        remainder="drop",
    )
    return dict(task="binary", model=_pipe(ct, LogisticRegression(max_iter=1000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, string_columns=MIXED_STRING_COLUMNS,
                description="OneHotEncoder(handle_unknown=infrequent_if_exist, min_frequency=60, drop=if_binary): "
                            "purple and doors 3/5 are infrequent; unseen categories in test")


# --- Linear models -----------------------------------------------------------------------


@_case("logreg_multinomial_str_labels", "LogisticRegression", quick=True)
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=21)
    return dict(task="multiclass", model=LogisticRegression(max_iter=1000),
                X_train=X_tr, y_train=names[y_tr].astype(object), X_test=X_te,
                description="LogisticRegression multinomial, iris, string labels")


@_case("logreg_binary_proba", "LogisticRegression")
def _():
    X, y = _clf(seed=22)
    X_tr, X_te, y_tr = _split(X, y, seed=22)
    return dict(task="binary", model=LogisticRegression(C=0.5, max_iter=1000), X_train=X_tr, y_train=y_tr,
                X_test=X_te, predict_fn="predict_proba", description="LogisticRegression binary, predict_proba")


@_case("logreg_multiclass_proba", "LogisticRegression")
def _():
    X, y = _clf(n_classes=4, seed=23)
    X_tr, X_te, y_tr = _split(X, y, seed=23)
    return dict(task="multiclass", model=LogisticRegression(max_iter=1000), X_train=X_tr, y_train=y_tr,
                X_test=X_te, predict_fn="predict_proba",
                description="LogisticRegression multinomial, 4 classes, predict_proba")


@_case("ovr_logreg_noncontig_labels", "OneVsRestClassifier", quick=True)
def _():
    X, y = _clf(n_classes=3, seed=24)
    X_tr, X_te, y_tr = _split(X, y, seed=24)
    labels = np.array([3, 7, 11], dtype=np.int64)
    return dict(task="multiclass", model=OneVsRestClassifier(LogisticRegression(max_iter=1000)),
                X_train=X_tr, y_train=labels[y_tr], X_test=X_te,
                description="OneVsRestClassifier(LogisticRegression), labels 3/7/11")


@_case("ovr_logreg_proba", "OneVsRestClassifier")
def _():
    X, y, _names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=25)
    return dict(task="multiclass", model=OneVsRestClassifier(LogisticRegression(max_iter=1000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, predict_fn="predict_proba",
                description="OneVsRestClassifier(LogisticRegression), iris, predict_proba")


@_case("linreg_diabetes", "LinearRegression")
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y, seed=26, stratify=False)
    return dict(task="regression", model=LinearRegression(), X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="LinearRegression, diabetes")


@_case("linreg_two_targets", "LinearRegression", quick=True)
def _():
    X, y = _reg(n_targets=2, seed=27)
    X_tr, X_te, y_tr = _split(X, y, seed=27, stratify=False)
    return dict(task="regression", model=LinearRegression(), X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="LinearRegression with 2 targets (predict gives rows of 2)")


@_case("ridge_reg", "Ridge", quick=True)
def _():
    X, y = _reg(seed=28)
    X_tr, X_te, y_tr = _split(X, y, seed=28, stratify=False)
    return dict(task="regression", model=Ridge(alpha=2.0), X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="Ridge")


@_case("lasso_diabetes", "Lasso", quick=True)
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y, seed=29, stratify=False)
    return dict(task="regression", model=Lasso(alpha=0.05, random_state=29), X_train=X_tr, y_train=y_tr,
                X_test=X_te, description="Lasso, diabetes (some coefficients exactly 0)")


@_case("elasticnet_reg", "ElasticNet", quick=True)
def _():
    X, y = _reg(seed=30)
    X_tr, X_te, y_tr = _split(X, y, seed=30, stratify=False)
    return dict(task="regression", model=ElasticNet(alpha=0.2, l1_ratio=0.3, random_state=30),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="ElasticNet")


@_case("sgd_hinge_bool_labels", "SGDClassifier", quick=True)
def _():
    X, y = _clf(seed=31)
    X_tr, X_te, y_tr = _split(X, y, seed=31)
    return dict(task="binary", model=SGDClassifier(loss="hinge", random_state=31),
                X_train=X_tr, y_train=y_tr.astype(bool), X_test=X_te,
                description="SGDClassifier(hinge), binary, bool labels")


@_case("sgd_hinge_multiclass", "SGDClassifier")
def _():
    X, y = _clf(n_classes=3, seed=32)
    X_tr, X_te, y_tr = _split(X, y, seed=32)
    return dict(task="multiclass", model=SGDClassifier(loss="hinge", random_state=32),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="SGDClassifier(hinge), 3 classes")


@_case("sgd_log_multiclass_proba", "SGDClassifier")
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=33)
    return dict(task="multiclass", model=_pipe(StandardScaler(), SGDClassifier(loss="log_loss", random_state=33)),
                X_train=X_tr, y_train=names[y_tr].astype(object), X_test=X_te, predict_fn="predict_proba",
                description="SGDClassifier(log_loss), iris, string labels, predict_proba (OvR-normalised)")


@_case("sgd_modified_huber_binary_proba", "SGDClassifier")
def _():
    X, y = _clf(seed=34)
    X_tr, X_te, y_tr = _split(X, y, seed=34)
    return dict(task="binary", model=SGDClassifier(loss="modified_huber", random_state=34),
                X_train=X_tr, y_train=y_tr, X_test=X_te, predict_fn="predict_proba",
                description="SGDClassifier(modified_huber), binary, predict_proba")


@_case("sgd_modified_huber_multiclass", "SGDClassifier")
def _():
    X, y = _clf(n_classes=3, seed=35)
    X_tr, X_te, y_tr = _split(X, y, seed=35)
    return dict(task="multiclass", model=SGDClassifier(loss="modified_huber", random_state=35),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="SGDClassifier(modified_huber), 3 classes")


@_case("sgd_regressor", "SGDRegressor", quick=True)
def _():
    X, y = _reg(seed=36)
    X_tr, X_te, y_tr = _split(X, y, seed=36, stratify=False)
    return dict(task="regression", model=SGDRegressor(random_state=36), X_train=X_tr, y_train=y_tr,
                X_test=X_te, description="SGDRegressor")


@_case("linsvc_binary", "LinearSVC", quick=True)
def _():
    X, y = _cancer()
    X_tr, X_te, y_tr = _split(X, y, seed=37)
    return dict(task="binary", model=_pipe(StandardScaler(), LinearSVC(C=0.1, max_iter=5000, random_state=37)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="StandardScaler -> LinearSVC, breast_cancer")


@_case("linsvc_multiclass", "LinearSVC")
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=38)
    return dict(task="multiclass", model=LinearSVC(max_iter=5000, random_state=38), X_train=X_tr,
                y_train=names[y_tr].astype(object), X_test=X_te,
                description="LinearSVC, iris, string labels")


@_case("linsvr", "LinearSVR", quick=True)
def _():
    X, y = _reg(seed=39)
    X_tr, X_te, y_tr = _split(X, y, seed=39, stratify=False)
    return dict(task="regression", model=LinearSVR(C=1.0, max_iter=5000, random_state=39),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="LinearSVR")


# --- Trees and forests -------------------------------------------------------------------
# "nan_train": NaN in the training data (the learned missing_go_to_left side is used);
# otherwise trained without NaN. Test rows contain NaN in both.


@_case("dt_clf_iris_str_labels", "DecisionTreeClassifier")
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=40)
    return dict(task="multiclass", model=DecisionTreeClassifier(max_depth=4, random_state=40),
                X_train=X_tr, y_train=names[y_tr].astype(object), X_test=_nan_test_rows(X_te, 40),
                skops_trusted_types=[TREE], has_nan=True,
                description="DecisionTreeClassifier trained without NaN, NaN in test rows, string labels")


@_case("dt_clf_nan_train_proba", "DecisionTreeClassifier", quick=True)
def _():
    X, y = _clf(seed=41)
    X = _with_nan(X, 0.15, seed=41, columns=["f0", "f1", "f3", "f4"])
    X_tr, X_te, y_tr = _split(X, y, seed=41)
    return dict(task="binary", model=DecisionTreeClassifier(max_depth=5, random_state=41),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 41), skops_trusted_types=[TREE],
                predict_fn="predict_proba", has_nan=True,
                description="DecisionTreeClassifier trained with NaN, predict_proba")


@_case("dt_reg_diabetes", "DecisionTreeRegressor")
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y, seed=42, stratify=False)
    return dict(task="regression", model=DecisionTreeRegressor(max_depth=5, random_state=42),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 42), skops_trusted_types=[TREE],
                has_nan=True, description="DecisionTreeRegressor trained without NaN, NaN in test rows")


@_case("dt_reg_nan_train", "DecisionTreeRegressor", quick=True)
def _():
    X, y = _reg(seed=43)
    X = _with_nan(X, 0.15, seed=43)
    X_tr, X_te, y_tr = _split(X, y, seed=43, stratify=False)
    return dict(task="regression", model=DecisionTreeRegressor(max_depth=5, random_state=43),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 43), skops_trusted_types=[TREE],
                has_nan=True, description="DecisionTreeRegressor trained with NaN")


@_case("dt_reg_multioutput", "DecisionTreeRegressor")
def _():
    X, y = _reg(n_targets=2, seed=44)
    X_tr, X_te, y_tr = _split(X, y, seed=44, stratify=False)
    return dict(task="regression", model=DecisionTreeRegressor(max_depth=4, random_state=44),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 44), skops_trusted_types=[TREE],
                has_nan=True, description="DecisionTreeRegressor with 2 outputs, NaN in test rows")


@_case("rf_clf_cancer", "RandomForestClassifier")
def _():
    X, y = _cancer()
    X_tr, X_te, y_tr = _split(X, y, seed=45)
    return dict(task="binary", model=RandomForestClassifier(n_estimators=20, max_depth=6, random_state=45),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 45), skops_trusted_types=[TREE],
                has_nan=True, description="RandomForestClassifier trained without NaN, NaN in test rows")


@_case("rf_clf_nan_train_proba", "RandomForestClassifier", quick=True)
def _():
    X, y = _clf(n_classes=3, seed=46)
    X = _with_nan(X, 0.15, seed=46, columns=["f0", "f2", "f4"])
    X_tr, X_te, y_tr = _split(X, y, seed=46)
    return dict(task="multiclass", model=RandomForestClassifier(n_estimators=5, max_depth=4, random_state=46),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 46), skops_trusted_types=[TREE],
                predict_fn="predict_proba", has_nan=True,
                description="RandomForestClassifier trained with NaN, 3 classes, predict_proba")


@_case("rf_reg_diabetes", "RandomForestRegressor")
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y, seed=47, stratify=False)
    return dict(task="regression", model=RandomForestRegressor(n_estimators=20, max_depth=6, random_state=47),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 47), skops_trusted_types=[TREE],
                has_nan=True, description="RandomForestRegressor trained without NaN, NaN in test rows")


@_case("rf_reg_nan_train", "RandomForestRegressor", quick=True)
def _():
    X, y = _reg(seed=48)
    X = _with_nan(X, 0.15, seed=48)
    X_tr, X_te, y_tr = _split(X, y, seed=48, stratify=False)
    return dict(task="regression", model=RandomForestRegressor(n_estimators=5, max_depth=4, random_state=48),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 48), skops_trusted_types=[TREE],
                has_nan=True, description="RandomForestRegressor trained with NaN")


@_case("et_clf_iris", "ExtraTreesClassifier")
def _():
    X, y, _names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=49)
    return dict(task="multiclass", model=ExtraTreesClassifier(n_estimators=20, max_depth=6, random_state=49),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 49), skops_trusted_types=[TREE],
                has_nan=True, description="ExtraTreesClassifier trained without NaN, NaN in test rows")


@_case("et_clf_nan_train", "ExtraTreesClassifier", quick=True)
def _():
    X, y = _clf(seed=50)
    X = _with_nan(X, 0.15, seed=50, columns=["f1", "f2", "f6"])
    X_tr, X_te, y_tr = _split(X, y, seed=50)
    return dict(task="binary", model=ExtraTreesClassifier(n_estimators=5, max_depth=4, random_state=50),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 50), skops_trusted_types=[TREE],
                has_nan=True, description="ExtraTreesClassifier trained with NaN (random missing side)")


@_case("et_reg_diabetes", "ExtraTreesRegressor")
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y, seed=51, stratify=False)
    return dict(task="regression", model=ExtraTreesRegressor(n_estimators=20, max_depth=6, random_state=51),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 51), skops_trusted_types=[TREE],
                has_nan=True, description="ExtraTreesRegressor trained without NaN, NaN in test rows")


@_case("et_reg_nan_train", "ExtraTreesRegressor", quick=True)
def _():
    X, y = _reg(seed=52)
    X = _with_nan(X, 0.15, seed=52)
    X_tr, X_te, y_tr = _split(X, y, seed=52, stratify=False)
    return dict(task="regression", model=ExtraTreesRegressor(n_estimators=5, max_depth=4, random_state=52),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 52), skops_trusted_types=[TREE],
                has_nan=True, description="ExtraTreesRegressor trained with NaN")


# --- Gradient boosting, HistGradientBoosting, GaussianNB, MLP ----------------------------
# Classic gradient boosting refuses NaN (as scikit-learn does at predict); the others take it.
# The skops trusted types are what skops reports for each fitted model (checked by
# scripts/gen_sklearn_fixtures.py).



@_case("gb_clf_binary", "GradientBoostingClassifier", quick=True)
def _():
    X, y = _clf(seed=60)
    X_tr, X_te, y_tr = _split(X, y, seed=60)
    return dict(task="binary", model=GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=60),
                X_train=X_tr, y_train=y_tr, X_test=X_te, skops_trusted_types=GB_BINARY_TRUST,
                predict_fn="predict_proba", description="GradientBoostingClassifier, log_loss, binary, predict_proba")


@_case("gb_clf_multi_str", "GradientBoostingClassifier", quick=True)
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=61)
    return dict(task="multiclass", model=GradientBoostingClassifier(n_estimators=8, max_depth=2, random_state=61),
                X_train=X_tr, y_train=names[y_tr].astype(object), X_test=X_te, skops_trusted_types=GB_MULTI_TRUST,
                description="GradientBoostingClassifier, 3 string classes")


@_case("gb_clf_exponential", "GradientBoostingClassifier")
def _():
    X, y = _clf(seed=62)
    X_tr, X_te, y_tr = _split(X, y, seed=62)
    return dict(task="binary", model=GradientBoostingClassifier(loss="exponential", n_estimators=10, max_depth=3,
                                                                 random_state=62),
                X_train=X_tr, y_train=y_tr, X_test=X_te, skops_trusted_types=GB_EXP_TRUST, predict_fn="predict_proba",
                description="GradientBoostingClassifier, exponential loss")


@_case("gb_reg_huber", "GradientBoostingRegressor", quick=True)
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y, seed=63, stratify=False)
    return dict(task="regression", model=GradientBoostingRegressor(loss="huber", n_estimators=15, max_depth=3,
                                                                    random_state=63),
                X_train=X_tr, y_train=y_tr, X_test=X_te, skops_trusted_types=GB_REG_HUBER_TRUST,
                description="GradientBoostingRegressor, huber loss (median init)")


@_case("gb_reg_zero_init", "GradientBoostingRegressor")
def _():
    X, y = _reg(seed=64)
    X_tr, X_te, y_tr = _split(X, y, seed=64, stratify=False)
    return dict(task="regression", model=GradientBoostingRegressor(init="zero", n_estimators=15, max_depth=3,
                                                                    random_state=64),
                X_train=X_tr, y_train=y_tr, X_test=X_te, skops_trusted_types=GB_REG_ZERO_TRUST,
                description="GradientBoostingRegressor, squared error, init='zero'")


@_case("hgb_clf_binary_nan", "HistGradientBoostingClassifier", quick=True)
def _():
    X, y = _clf(seed=65)
    X = _with_nan(X, 0.15, seed=65, columns=["f0", "f2", "f5"])
    X_tr, X_te, y_tr = _split(X, y, seed=65)
    return dict(task="binary", model=HistGradientBoostingClassifier(max_iter=15, max_leaf_nodes=8, random_state=65),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 65), skops_trusted_types=HGB_BINARY_TRUST,
                predict_fn="predict_proba", has_nan=True,
                description="HistGradientBoostingClassifier trained with NaN, predict_proba")


@_case("hgb_clf_multi", "HistGradientBoostingClassifier")
def _():
    X, y, _names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=66)
    return dict(task="multiclass", model=HistGradientBoostingClassifier(max_iter=8, max_leaf_nodes=6, random_state=66),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 66), skops_trusted_types=HGB_MULTI_TRUST,
                has_nan=True, description="HistGradientBoostingClassifier, 3 classes, NaN in test rows")


@_case("hgb_clf_categorical", "HistGradientBoostingClassifier", quick=True)
def _():
    X_tr, X_te, y_tr = _mixed_split("binary", seed=67, unseen=("color", "size", "doors"))
    model = HistGradientBoostingClassifier(max_iter=15, max_leaf_nodes=8, random_state=67,
                                           categorical_features=["color", "size", "flag", "doors"])
    return dict(task="binary", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=HGB_CAT_TRUST, has_nan=True, string_columns=MIXED_STRING_COLUMNS,
                description="HistGradientBoostingClassifier, string and integer categorical features "
                            "(reordered first), missing and unseen categories, NaN")


@_case("hgb_reg_poisson", "HistGradientBoostingRegressor", quick=True)
def _():
    X, y = _reg(seed=68)
    y = np.exp((y - y.mean()) / y.std())
    X = _with_nan(X, 0.1, seed=68)
    X_tr, X_te, y_tr = _split(X, y, seed=68, stratify=False)
    return dict(task="regression", model=HistGradientBoostingRegressor(loss="poisson", max_iter=15, random_state=68),
                X_train=X_tr, y_train=y_tr, X_test=_nan_test_rows(X_te, 68), skops_trusted_types=HGB_REG_TRUST,
                has_nan=True, description="HistGradientBoostingRegressor, poisson loss (exp link), NaN")


@_case("gnb_iris", "GaussianNB", quick=True)
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=69)
    return dict(task="multiclass", model=GaussianNB(), X_train=X_tr, y_train=names[y_tr].astype(object), X_test=X_te,
                predict_fn="predict_proba", description="GaussianNB, 3 string classes, predict_proba")


@_case("gnb_binary", "GaussianNB")
def _():
    X, y = _clf(seed=70)
    X_tr, X_te, y_tr = _split(X, y, seed=70)
    return dict(task="binary", model=GaussianNB(var_smoothing=1e-6), X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="GaussianNB, binary")


def _counts(seed, n_classes=3):
    """Non-negative whole-number features (counts) and their classes."""
    X, y = _clf(n_classes=n_classes, seed=seed)
    return (X - X.min().min()).round(), y


@_case("mnb_counts", "MultinomialNB", quick=True)
def _():
    X, y = _counts(98)
    X_tr, X_te, y_tr = _split(X, y, seed=98)
    return dict(task="multiclass", model=MultinomialNB(alpha=0.5), X_train=X_tr, y_train=y_tr, X_test=X_te,
                predict_fn="predict_proba", description="MultinomialNB on counts, 3 classes, predict_proba")


@_case("cnb_counts", "ComplementNB")
def _():
    X, y = _counts(99, n_classes=2)
    X_tr, X_te, y_tr = _split(X, y, seed=99)
    return dict(task="binary", model=ComplementNB(norm=True), X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="ComplementNB (norm) on counts, binary")


@_case("bnb_binarize", "BernoulliNB", quick=True)
def _():
    X, y = _clf(n_classes=3, seed=100)
    X_tr, X_te, y_tr = _split(X, y, seed=100)
    return dict(task="multiclass", model=BernoulliNB(binarize=0.0), X_train=X_tr, y_train=y_tr, X_test=X_te,
                predict_fn="predict_proba", description="BernoulliNB binarizing at 0, 3 classes, predict_proba")


@_case("mlp_clf_relu", "MLPClassifier", quick=True)
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=71)
    return dict(task="multiclass", model=MLPClassifier(hidden_layer_sizes=(12, 6), max_iter=300, random_state=71),
                X_train=X_tr, y_train=names[y_tr].astype(object), X_test=X_te, skops_trusted_types=MLP_ADAM_TRUST,
                predict_fn="predict_proba", description="MLPClassifier, relu, 2 hidden layers, softmax, predict_proba")


@_case("mlp_clf_tanh_binary", "MLPClassifier", quick=True)
def _():
    X, y = _clf(seed=72)
    X_tr, X_te, y_tr = _split(X, y, seed=72)
    return dict(task="binary", model=MLPClassifier(hidden_layer_sizes=(10,), activation="tanh", max_iter=200,
                                                   random_state=72),
                X_train=X_tr, y_train=y_tr, X_test=X_te, skops_trusted_types=MLP_ADAM_TRUST,
                description="MLPClassifier, tanh, binary (logistic output)")


@_case("mlp_clf_logistic_sgd", "MLPClassifier")
def _():
    X, y = _clf(n_classes=3, seed=73)
    X_tr, X_te, y_tr = _split(X, y, seed=73)
    return dict(task="multiclass", model=MLPClassifier(hidden_layer_sizes=(8,), activation="logistic", solver="sgd",
                                                       max_iter=200, random_state=73),
                X_train=X_tr, y_train=y_tr, X_test=X_te, skops_trusted_types=MLP_SGD_TRUST,
                description="MLPClassifier, logistic activation, sgd")


@_case("mlp_reg_identity_two_targets", "MLPRegressor", quick=True)
def _():
    X, y = _reg(n_targets=2, seed=74)
    X_tr, X_te, y_tr = _split(X, y / 100, seed=74, stratify=False)
    return dict(task="regression", model=MLPRegressor(hidden_layer_sizes=(10,), activation="identity", max_iter=300,
                                                      random_state=74),
                X_train=X_tr, y_train=y_tr, X_test=X_te, skops_trusted_types=MLP_REG_TRUST,
                description="MLPRegressor, identity activation, 2 targets")


@_case("mlp_reg_relu", "MLPRegressor")
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y / 100, seed=75, stratify=False)
    return dict(task="regression", model=MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=300, random_state=75),
                X_train=X_tr, y_train=y_tr, X_test=X_te, skops_trusted_types=MLP_REG_TRUST,
                description="MLPRegressor, relu")


# --- Nearest neighbours --------------------------------------------------------------------
# KD tree, ball tree and brute force (what scikit-learn picks for "auto" depends on the data).
KD_TRUST = ["sklearn.metrics._dist_metrics.EuclideanDistance64", "sklearn.neighbors._kd_tree.KDTree"]
BALL_MANHATTAN_TRUST = ["sklearn.metrics._dist_metrics.ManhattanDistance64", "sklearn.neighbors._ball_tree.BallTree"]


@_case("knn_iris", "KNeighborsClassifier", quick=True)
def _():
    X, y, names = _iris()
    X = X + np.random.RandomState(115).normal(0, 1e-3, X.shape)  # iris repeats rows: no ties of distance
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=115)
    return dict(task="multiclass", model=KNeighborsClassifier(n_neighbors=5), X_train=X_tr,
                y_train=names[y_tr].astype(object), X_test=X_te, predict_fn="predict_proba",
                skops_trusted_types=KD_TRUST,
                description="KNeighborsClassifier, 5 neighbours (KD tree), 3 string classes, predict_proba")


@_case("knn_distance_manhattan", "KNeighborsClassifier", quick=True)
def _():
    X, y = _clf(n_classes=3, seed=116)
    X_tr, X_te, y_tr = _split(X, y, seed=116)
    model = KNeighborsClassifier(n_neighbors=7, weights="distance", p=1, algorithm="ball_tree")
    return dict(task="multiclass", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=BALL_MANHATTAN_TRUST,
                description="KNeighborsClassifier, distance weights, Manhattan, ball tree")


@_case("knn_pipe_brute", "KNeighborsClassifier")
def _():
    X, y = _cancer()
    X_tr, X_te, y_tr = _split(X, y, seed=117)
    model = _pipe(StandardScaler(), KNeighborsClassifier(n_neighbors=4, algorithm="brute"))
    return dict(task="binary", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te, predict_fn="predict_proba",
                description="StandardScaler -> KNeighborsClassifier (brute force, 4 neighbours: even votes)")


@_case("knn_reg_distance", "KNeighborsRegressor", quick=True)
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y / 100, seed=118, stratify=False)
    return dict(task="regression", model=KNeighborsRegressor(n_neighbors=6, weights="distance"), X_train=X_tr,
                y_train=y_tr, X_test=X_te, skops_trusted_types=KD_TRUST,
                description="KNeighborsRegressor, distance weights")


@_case("knn_reg_uniform", "KNeighborsRegressor")
def _():
    X, y = _reg(seed=119)
    X_tr, X_te, y_tr = _split(X, y / 100, seed=119, stratify=False)
    return dict(task="regression", model=KNeighborsRegressor(n_neighbors=3, algorithm="kd_tree"), X_train=X_tr,
                y_train=y_tr, X_test=X_te, skops_trusted_types=KD_TRUST,
                description="KNeighborsRegressor, uniform weights")


@_case("nearest_centroid_iris", "NearestCentroid", quick=True)
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=150)
    return dict(task="multiclass", model=NearestCentroid(), X_train=X_tr, y_train=names[y_tr].astype(object),
                X_test=X_te, description="NearestCentroid, 3 string classes")


@_case("nearest_centroid_manhattan", "NearestCentroid")
def _():
    X, y = _clf(n_classes=3, seed=151)
    X_tr, X_te, y_tr = _split(X, y, seed=151)
    return dict(task="multiclass", model=NearestCentroid(metric="manhattan"), X_train=X_tr, y_train=y_tr,
                X_test=X_te, description="NearestCentroid, Manhattan (per-feature medians)")


@_case("kernel_ridge_rbf", "KernelRidge", quick=True)
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y / 100, seed=152, stratify=False)
    return dict(task="regression", model=KernelRidge(alpha=0.5, kernel="rbf", gamma=10.0), X_train=X_tr,
                y_train=y_tr, X_test=X_te, description="KernelRidge, rbf kernel")


@_case("kernel_ridge_poly", "KernelRidge")
def _():
    X, y = _reg(seed=153)
    X_tr, X_te, y_tr = _split(X, y / 100, seed=153, stratify=False)
    return dict(task="regression", model=KernelRidge(alpha=1.0, kernel="polynomial", degree=2), X_train=X_tr,
                y_train=y_tr, X_test=X_te, description="KernelRidge, polynomial kernel (degree 2, gamma 1/n)")


# --- Outlier detection (OneClassSVM is with the kernel SVMs) --------------------------------


@_case("iforest", "IsolationForest", quick=True)
def _():
    X, y = _clf(seed=113)
    X_tr, X_te, y_tr = _split(X, y, seed=113)
    return dict(task="binary", model=IsolationForest(n_estimators=20, max_samples=128, random_state=113), X_train=X_tr,
                y_train=y_tr, X_test=X_te * 1.5, skops_trusted_types=[TREE],
                description="IsolationForest: 1 (inlier) or -1")


@_case("iforest_contamination_subfeatures", "IsolationForest")
def _():
    X, y = _clf(seed=114)
    X_tr, X_te, y_tr = _split(X, y, seed=114)
    model = IsolationForest(n_estimators=30, max_features=0.5, max_samples=128, contamination=0.1, random_state=114)
    return dict(task="binary", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te * 1.3,
                skops_trusted_types=[TREE],
                description="IsolationForest, contamination 0.1, half the features per tree, 128 samples")


# --- Voting ensembles -----------------------------------------------------------------------
BUNCH = "sklearn.utils._bunch.Bunch"


@_case("vote_soft_iris", "VotingClassifier", quick=True)
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=109)
    model = VotingClassifier([("lr", LogisticRegression(max_iter=1000)),
                              ("rf", RandomForestClassifier(n_estimators=10, max_depth=4, random_state=109)),
                              ("gnb", GaussianNB())], voting="soft", weights=[2, 1, 1])
    return dict(task="multiclass", model=model, X_train=X_tr, y_train=names[y_tr].astype(object), X_test=X_te,
                predict_fn="predict_proba", skops_trusted_types=[TREE, BUNCH],
                description="VotingClassifier, soft, weighted (LR, forest, GaussianNB), predict_proba")


@_case("vote_hard_binary", "VotingClassifier")
def _():
    X, y = _clf(seed=110)
    X_tr, X_te, y_tr = _split(X, y, seed=110)
    model = VotingClassifier([("svc", SVC()), ("lr", LogisticRegression()), ("off", "drop"),
                              ("dt", DecisionTreeClassifier(max_depth=4, random_state=110))], voting="hard")
    return dict(task="binary", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=[TREE, BUNCH], description="VotingClassifier, hard, one member dropped")


@_case("vote_hard_weighted", "VotingClassifier")
def _():
    X, y = _clf(n_classes=4, seed=111)
    X_tr, X_te, y_tr = _split(X, y, seed=111)
    model = VotingClassifier([("lr", LogisticRegression(max_iter=1000)), ("off", "drop"), ("gnb", GaussianNB()),
                              ("svc", SVC(kernel="poly", degree=2))], voting="hard", weights=[1.5, 3, 1, 1])
    return dict(task="multiclass", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=[BUNCH], description="VotingClassifier, hard, weighted, 4 classes")


@_case("vote_reg", "VotingRegressor", quick=True)
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y / 100, seed=112, stratify=False)
    model = VotingRegressor([("ridge", Ridge()), ("rf", RandomForestRegressor(n_estimators=10, max_depth=5,
                                                                             random_state=112)),
                             ("svr", SVR())], weights=[1, 2, 1])
    return dict(task="regression", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=[TREE, BUNCH], description="VotingRegressor, weighted (Ridge, forest, SVR)")


# --- AdaBoost (SAMME) -------------------------------------------------------------------------


@_case("ada_iris", "AdaBoostClassifier", quick=True)
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=127)
    model = AdaBoostClassifier(DecisionTreeClassifier(max_depth=2), n_estimators=20, random_state=127)
    return dict(task="multiclass", model=model, X_train=X_tr, y_train=names[y_tr].astype(object), X_test=X_te,
                predict_fn="predict_proba", skops_trusted_types=[TREE],
                description="AdaBoostClassifier over depth-2 trees, 3 string classes, predict_proba")


@_case("ada_binary", "AdaBoostClassifier")
def _():
    X, y = _clf(seed=128)
    X_tr, X_te, y_tr = _split(X, y, seed=128)
    return dict(task="binary", model=AdaBoostClassifier(n_estimators=30, random_state=128), X_train=X_tr,
                y_train=y_tr, X_test=X_te, skops_trusted_types=[TREE], description="AdaBoostClassifier, stumps, binary")


# --- Bagging ----------------------------------------------------------------------------------


@_case("bag_svc_features", "BaggingClassifier", quick=True)
def _():
    X, y = _clf(n_classes=3, seed=124)
    X_tr, X_te, y_tr = _split(X, y, seed=124)
    model = BaggingClassifier(SVC(), n_estimators=6, max_features=0.6, max_samples=0.5, random_state=124)
    return dict(task="multiclass", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="BaggingClassifier over SVC (no predict_proba: votes), feature subsets")


@_case("bag_tree_proba", "BaggingClassifier")
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=125)
    model = BaggingClassifier(DecisionTreeClassifier(max_depth=3), n_estimators=8, max_samples=0.3,
                              bootstrap_features=True, random_state=125)
    return dict(task="multiclass", model=model, X_train=X_tr, y_train=names[y_tr].astype(object), X_test=X_te,
                predict_fn="predict_proba", skops_trusted_types=[TREE],
                description="BaggingClassifier over trees, small samples, bootstrap features, predict_proba")


@_case("bag_reg", "BaggingRegressor", quick=True)
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y / 100, seed=126, stratify=False)
    model = BaggingRegressor(Ridge(), n_estimators=7, max_features=0.7, random_state=126)
    return dict(task="regression", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="BaggingRegressor over Ridge, feature subsets")


# --- Stacking ---------------------------------------------------------------------------------


@_case("stack_iris", "StackingClassifier", quick=True)
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=120)
    model = StackingClassifier([("rf", RandomForestClassifier(n_estimators=10, max_depth=4, random_state=120)),
                                ("svc", SVC()), ("gnb", GaussianNB())],
                               final_estimator=LogisticRegression(max_iter=1000))
    return dict(task="multiclass", model=model, X_train=X_tr, y_train=names[y_tr].astype(object), X_test=X_te,
                predict_fn="predict_proba", skops_trusted_types=[TREE, BUNCH],
                description="StackingClassifier (forest probabilities, SVC decisions, GaussianNB) -> LR")


@_case("stack_binary_passthrough", "StackingClassifier")
def _():
    X, y = _clf(seed=121)
    X_tr, X_te, y_tr = _split(X, y, seed=121)
    model = StackingClassifier([("lr", LogisticRegression()), ("off", "drop"), ("knn", KNeighborsClassifier(5))],
                               passthrough=True)
    return dict(task="binary", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=[BUNCH] + KD_TRUST,
                description="StackingClassifier, binary (one probability column each), passthrough, a member dropped")


@_case("stack_predict_method", "StackingClassifier")
def _():
    X, y = _clf(n_classes=3, seed=122)
    X_tr, X_te, y_tr = _split(X, y, seed=122)
    model = StackingClassifier([("dt", DecisionTreeClassifier(max_depth=4, random_state=122)),
                                ("lr", LogisticRegression(max_iter=1000))], stack_method="predict",
                               final_estimator=GaussianNB())
    return dict(task="multiclass", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=[TREE, BUNCH], description="StackingClassifier by the members' predict -> GaussianNB")


@_case("stack_reg", "StackingRegressor", quick=True)
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y / 100, seed=123, stratify=False)
    model = StackingRegressor([("ridge", Ridge()), ("svr", SVR()), ("knn", KNeighborsRegressor(5))],
                              final_estimator=Ridge(alpha=0.5))
    return dict(task="regression", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=[BUNCH] + KD_TRUST, description="StackingRegressor (Ridge, SVR, kNN) -> Ridge")


# --- Binning and target encoding --------------------------------------------------------------


@_case("pipe_kbins_logreg", "KBinsDiscretizer", quick=True)
def _():
    X, y = _clf(seed=129)
    X_tr, X_te, y_tr = _split(X, y, seed=129)
    model = _pipe(KBinsDiscretizer(n_bins=5, encode="onehot", strategy="quantile", quantile_method="averaged_inverted_cdf"),
                  LogisticRegression(max_iter=1000))
    return dict(task="binary", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=[DTYPE],
                description="KBinsDiscretizer (5 quantile bins, one-hot) -> LR")


@_case("pipe_kbins_ordinal_gnb", "KBinsDiscretizer")
def _():
    X, y = _clf(n_classes=3, seed=130)
    X_tr, X_te, y_tr = _split(X, y, seed=130)
    model = _pipe(KBinsDiscretizer(n_bins=4, encode="ordinal", strategy="uniform"), GaussianNB())
    return dict(task="multiclass", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te * 1.2,
                predict_fn="predict_proba", description="KBinsDiscretizer (4 uniform bins, ordinal) -> GaussianNB")


@_case("ct_target_encoder_logreg", "TargetEncoder", quick=True)
def _():
    X_tr, X_te, y_tr = _mixed_split("binary", seed=131, missing=False, unseen=("color",))
    ct = ColumnTransformer([("te", TargetEncoder(random_state=131), ["color", "size", "flag"]),
                            ("num", StandardScaler(), ["doors", "x1", "x2", "x3"])])
    return dict(task="binary", model=_pipe(ct, LogisticRegression(max_iter=1000)), X_train=X_tr, y_train=y_tr,
                X_test=X_te, string_columns=MIXED_STRING_COLUMNS,
                description="TargetEncoder on strings (unseen colors: the target mean) -> LR")


@_case("ct_target_encoder_multiclass", "TargetEncoder")
def _():
    X_tr, X_te, y_tr = _mixed_split("multiclass", seed=132, missing=True)
    ct = ColumnTransformer([("te", TargetEncoder(random_state=132), ["color", "size"]),
                            ("num", "passthrough", ["doors", "x3"])])
    return dict(task="multiclass", model=_pipe(ct, LogisticRegression(max_iter=2000)), X_train=X_tr, y_train=y_tr,
                X_test=X_te, string_columns=["color", "size"], has_nan=True,
                description="TargetEncoder, multiclass target (a column per class), missing strings")


@_case("ct_target_encoder_regression", "TargetEncoder")
def _():
    X_tr, X_te, y_tr = _mixed_split("regression", seed=133, missing=False)
    ct = ColumnTransformer([("te", TargetEncoder(target_type="continuous", random_state=133), ["color", "size", "flag"])],
                           remainder="passthrough")
    return dict(task="regression", model=_pipe(ct, Ridge()), X_train=X_tr, y_train=y_tr, X_test=X_te,
                string_columns=MIXED_STRING_COLUMNS, description="TargetEncoder, continuous target -> Ridge")


# --- Feature selection -------------------------------------------------------------------


@_case("pipe_kbest_logreg", "SelectKBest", quick=True)
def _():
    X, y = _clf(seed=105)
    X_tr, X_te, y_tr = _split(X, y, seed=105)
    return dict(task="binary", model=_pipe(SelectKBest(k=4), LogisticRegression(max_iter=1000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=["sklearn.feature_selection._univariate_selection.f_classif"],
                description="SelectKBest (f_classif, k=4) -> LR")


@_case("pipe_chi2_mnb", "SelectKBest")
def _():
    X, y = _counts(106)
    X_tr, X_te, y_tr = _split(X, y, seed=106)
    return dict(task="multiclass", model=_pipe(SelectKBest(chi2, k=5), MultinomialNB()),
                X_train=X_tr, y_train=y_tr, X_test=X_te, predict_fn="predict_proba",
                skops_trusted_types=["sklearn.feature_selection._univariate_selection.chi2"],
                description="SelectKBest (chi2, k=5) -> MultinomialNB, predict_proba")


@_case("pipe_percentile_ridge", "SelectPercentile")
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y, seed=107, stratify=False)
    return dict(task="regression", model=_pipe(SelectPercentile(f_regression, percentile=45), Ridge()),
                X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=["sklearn.feature_selection._univariate_selection.f_regression"],
                description="SelectPercentile (f_regression, 45%) -> Ridge")


@_case("pipe_variance_svc", "VarianceThreshold", quick=True)
def _():
    X, y = _clf(seed=108)
    X["f0"] *= 0.1
    X["f3"] *= 0.2
    X_tr, X_te, y_tr = _split(X, y, seed=108)
    return dict(task="binary", model=_pipe(VarianceThreshold(threshold=0.3), SVC()),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="VarianceThreshold (drops 2 columns) -> SVC")


# --- CalibratedClassifierCV (sigmoid) --------------------------------------------------------
# What scikit-learn 1.9 suggests instead of SVC(probability=True), and the classic way to get
# probabilities from a LinearSVC; over decision_function, or predict_proba when there is none.
CAL_TRUST = ["sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration"]


@_case("cal_svc_iris", "CalibratedClassifierCV", quick=True)
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=101)
    return dict(task="multiclass", model=CalibratedClassifierCV(SVC(), ensemble=False), X_train=X_tr,
                y_train=names[y_tr].astype(object), X_test=X_te, predict_fn="predict_proba",
                skops_trusted_types=CAL_TRUST,
                description="CalibratedClassifierCV(SVC(), ensemble=False), 3 string classes, predict_proba")


@_case("cal_linsvc_cv3", "CalibratedClassifierCV", quick=True)
def _():
    X, y = _clf(seed=102)
    X_tr, X_te, y_tr = _split(X, y, seed=102)
    return dict(task="binary", model=CalibratedClassifierCV(LinearSVC(), cv=3), X_train=X_tr, y_train=y_tr,
                X_test=X_te, predict_fn="predict_proba",
                skops_trusted_types=CAL_TRUST,
                description="CalibratedClassifierCV(LinearSVC(), cv=3), binary, predict_proba")


@_case("cal_rf_multiclass", "CalibratedClassifierCV")
def _():
    X, y = _clf(n_classes=3, seed=103)
    X_tr, X_te, y_tr = _split(X, y, seed=103)
    rf = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=103)
    return dict(task="multiclass", model=CalibratedClassifierCV(rf, cv=3), X_train=X_tr, y_train=y_tr,
                X_test=X_te, skops_trusted_types=[TREE] + CAL_TRUST,
                description="CalibratedClassifierCV over a forest's predict_proba, 3 classes, predict")


@_case("cal_pipe_logreg", "CalibratedClassifierCV")
def _():
    X, y = _clf(n_classes=4, seed=104)
    X_tr, X_te, y_tr = _split(X, y, seed=104)
    model = CalibratedClassifierCV(_pipe(StandardScaler(), LogisticRegression(max_iter=1000)), cv=2)
    return dict(task="multiclass", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te, predict_fn="predict_proba",
                skops_trusted_types=CAL_TRUST,
                description="CalibratedClassifierCV over a scaler -> LR pipeline, 4 classes, predict_proba")


# --- Feature transformers: OrdinalEncoder, PCA, TruncatedSVD, PolynomialFeatures, Binarizer --


@_case("ct_ordinal_rf", "OrdinalEncoder", quick=True)
def _():
    X_tr, X_te, y_tr = _mixed_split("binary", seed=90, missing=True, unseen=("color",))
    ct = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["color", "size", "flag"])],
        remainder="passthrough",  # doors and x1..x3 (x1, x2 with NaN) go to the forest
    )
    return dict(task="binary", model=_pipe(ct, RandomForestClassifier(n_estimators=8, max_depth=6, random_state=90)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, skops_trusted_types=[TREE], has_nan=True,
                string_columns=MIXED_STRING_COLUMNS,
                description="OrdinalEncoder (missing strings as NaN, unseen colors as -1) -> RandomForest")


@_case("ct_ordinal_missing_logreg", "OrdinalEncoder")
def _():
    X_tr, X_te, y_tr = _mixed_split("multiclass", seed=91, missing=True)
    ct = ColumnTransformer(
        [("cat", OrdinalEncoder(encoded_missing_value=-2), ["color", "size"]),
         ("num", "passthrough", ["doors", "x3"])],
    )
    return dict(task="multiclass", model=_pipe(ct, LogisticRegression(max_iter=2000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, skops_trusted_types=[DTYPE], has_nan=True,
                string_columns=["color", "size"],
                description="OrdinalEncoder (missing strings as -2) -> LR")


@_case("pipe_scaler_pca_svc", "PCA", quick=True)
def _():
    X, y = _cancer()
    X_tr, X_te, y_tr = _split(X, y, seed=92)
    return dict(task="binary", model=_pipe(StandardScaler(), PCA(n_components=5), SVC(probability=True, random_state=92)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, predict_fn="predict_proba",
                description="StandardScaler -> PCA (5 components) -> SVC, predict_proba")


@_case("pipe_pca_whiten_logreg", "PCA")
def _():
    X, y = _clf(n_classes=3, seed=93)
    X_tr, X_te, y_tr = _split(X, y, seed=93)
    return dict(task="multiclass", model=_pipe(PCA(n_components=4, whiten=True), LogisticRegression(max_iter=1000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="PCA (whiten) -> LR")


@_case("pipe_tsvd_ridge", "TruncatedSVD")
def _():
    X, y = _reg(seed=94)
    X_tr, X_te, y_tr = _split(X, y, seed=94, stratify=False)
    return dict(task="regression", model=_pipe(TruncatedSVD(n_components=3, random_state=94), Ridge()),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="TruncatedSVD -> Ridge")


@_case("pipe_poly_ridge", "PolynomialFeatures", quick=True)
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y / 100, seed=95, stratify=False)
    return dict(task="regression", model=_pipe(PolynomialFeatures(degree=3), Ridge(alpha=0.1)),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="PolynomialFeatures (degree 3) -> Ridge")


@_case("pipe_poly_interaction_logreg", "PolynomialFeatures")
def _():
    X, y = _clf(n_features=6, seed=96)
    X_tr, X_te, y_tr = _split(X, y, seed=96)
    poly = PolynomialFeatures(degree=(2, 3), interaction_only=True, include_bias=False)
    return dict(task="binary", model=_pipe(poly, StandardScaler(), LogisticRegression(max_iter=2000)),
                X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="PolynomialFeatures (interactions of degree 2 and 3, no bias) -> scaler -> LR")


@_case("pipe_normalizer_knn", "Normalizer", quick=True)
def _():
    X, y = _clf(n_classes=3, seed=154)
    X_tr, X_te, y_tr = _split(X, y, seed=154)
    return dict(task="multiclass", model=_pipe(Normalizer(), KNeighborsClassifier(5)), X_train=X_tr, y_train=y_tr,
                X_test=X_te, skops_trusted_types=KD_TRUST, description="Normalizer (l2) -> kNN")


@_case("pipe_normalizer_l1_max", "Normalizer")
def _():
    X, y = _reg(seed=155)
    X_tr, X_te, y_tr = _split(X, y, seed=155, stratify=False)
    model = Pipeline([("l1", Normalizer(norm="l1")), ("poly", PolynomialFeatures(2, include_bias=False)),
                      ("max", Normalizer(norm="max")), ("ridge", Ridge())])
    return dict(task="regression", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="Normalizer l1, then max -> Ridge")


@_case("pipe_binarizer_logreg", "Binarizer")
def _():
    X, y = _clf(seed=97)
    X_tr, X_te, y_tr = _split(X, y, seed=97)
    return dict(task="binary", model=_pipe(Binarizer(threshold=0.2), LogisticRegression()),
                X_train=X_tr, y_train=y_tr, X_test=X_te, description="Binarizer -> LR")


# --- More linear models: the CV forms, Bayesian and robust regression, GLMs, LDA -------------


@_case("ridgecv_diabetes", "RidgeCV", quick=True)
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y, seed=134, stratify=False)
    return dict(task="regression", model=RidgeCV(alphas=[0.1, 1.0, 10.0]), X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="RidgeCV")


@_case("lassocv_reg", "LassoCV")
def _():
    X, y = _reg(seed=135)
    X_tr, X_te, y_tr = _split(X, y, seed=135, stratify=False)
    return dict(task="regression", model=LassoCV(cv=3, random_state=135), X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="LassoCV")


@_case("logregcv_binary", "LogisticRegressionCV", quick=True)
def _():
    X, y = _cancer()
    X_tr, X_te, y_tr = _split(X, y, seed=136)
    model = _pipe(StandardScaler(), LogisticRegressionCV(Cs=4, cv=3, max_iter=2000))
    return dict(task="binary", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te, predict_fn="predict_proba",
                description="StandardScaler -> LogisticRegressionCV, predict_proba")


@_case("lda_iris", "LinearDiscriminantAnalysis", quick=True)
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=137)
    return dict(task="multiclass", model=LinearDiscriminantAnalysis(), X_train=X_tr,
                y_train=names[y_tr].astype(object), X_test=X_te, predict_fn="predict_proba",
                description="LinearDiscriminantAnalysis, 3 string classes, predict_proba")


@_case("lda_binary_lsqr", "LinearDiscriminantAnalysis")
def _():
    X, y = _clf(seed=138)
    X_tr, X_te, y_tr = _split(X, y, seed=138)
    return dict(task="binary", model=LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"), X_train=X_tr,
                y_train=y_tr, X_test=X_te, predict_fn="predict_proba",
                description="LinearDiscriminantAnalysis (lsqr, shrinkage), binary, predict_proba")


@_case("poisson_counts", "PoissonRegressor", quick=True)
def _():
    X, y = _reg(seed=139)
    X_tr, X_te, y_tr = _split(X, np.round(np.exp(y / 150)), seed=139, stratify=False)
    return dict(task="regression", model=PoissonRegressor(alpha=0.01), X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="PoissonRegressor (log link)")


@_case("tweedie_log", "TweedieRegressor")
def _():
    X, y = _reg(seed=140)
    X_tr, X_te, y_tr = _split(X, np.exp(y / 150), seed=140, stratify=False)
    return dict(task="regression", model=TweedieRegressor(power=1.5, alpha=0.01), X_train=X_tr, y_train=y_tr,
                X_test=X_te, skops_trusted_types=["sklearn._loss.loss.HalfTweedieLoss"],
                description="TweedieRegressor (power 1.5, log link)")


@_case("huber_bayes_perceptron", "HuberRegressor")
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y / 100, seed=141, stratify=False)
    model = VotingRegressor([("huber", HuberRegressor(max_iter=500)), ("bayes", BayesianRidge())])
    return dict(task="regression", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=[BUNCH], description="HuberRegressor and BayesianRidge (voting)")


@_case("perceptron_multiclass", "Perceptron")
def _():
    X, y = _clf(n_classes=3, seed=142)
    X_tr, X_te, y_tr = _split(X, y, seed=142)
    return dict(task="multiclass", model=Perceptron(random_state=142), X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=["sklearn.linear_model._sgd_fast.Hinge"],
                description="Perceptron, 3 classes")


@_case("linear_regressors_vote", "Lars")
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y / 100, seed=143, stratify=False)
    model = VotingRegressor([("lars", Lars()), ("llic", LassoLarsIC()), ("omp", OrthogonalMatchingPursuit()),
                             ("ard", ARDRegression()), ("ts", TheilSenRegressor(random_state=143)),
                             ("q", QuantileRegressor(alpha=0.0)), ("pa", PassiveAggressiveRegressor(random_state=143))])
    return dict(task="regression", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=[BUNCH], description="Lars, LassoLarsIC, OMP, ARD, Theil-Sen, quantile, PA (voting)")


@_case("gamma_positive", "GammaRegressor")
def _():
    X, y = _reg(seed=144)
    X_tr, X_te, y_tr = _split(X, np.exp(y / 150), seed=144, stratify=False)
    return dict(task="regression", model=GammaRegressor(alpha=0.01), X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=["sklearn._loss.loss.HalfGammaLoss"], description="GammaRegressor (log link)")


@_case("multitask_lassocv", "MultiTaskLassoCV")
def _():
    X, y = _reg(n_targets=2, seed=145)
    X_tr, X_te, y_tr = _split(X, y / 100, seed=145, stratify=False)
    return dict(task="regression", model=MultiTaskLassoCV(cv=3, random_state=145), X_train=X_tr, y_train=y_tr,
                X_test=X_te, description="MultiTaskLassoCV, 2 targets")


@_case("linear_classifiers_vote", "RidgeClassifierCV")
def _():
    X, y = _clf(n_classes=3, seed=146)
    X_tr, X_te, y_tr = _split(X, y, seed=146)
    model = VotingClassifier([("rcv", RidgeClassifierCV()), ("pa", PassiveAggressiveClassifier(random_state=146)),
                              ("lda", LinearDiscriminantAnalysis())], voting="hard")
    return dict(task="multiclass", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                skops_trusted_types=[BUNCH, "sklearn.linear_model._sgd_fast.Hinge"],
                description="RidgeClassifierCV, PassiveAggressiveClassifier, LDA (hard voting)")


# --- Target transforms and several targets ----------------------------------------------------


@_case("ttr_log1p_ridge", "TransformedTargetRegressor", quick=True)
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y, seed=147, stratify=False)
    model = TransformedTargetRegressor(Ridge(), func=np.log1p, inverse_func=np.expm1)
    return dict(task="regression", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="TransformedTargetRegressor (log1p / expm1) over Ridge")


@_case("ttr_scaler_svr", "TransformedTargetRegressor")
def _():
    X, y = _reg(seed=148)
    X_tr, X_te, y_tr = _split(X, y, seed=148, stratify=False)
    model = TransformedTargetRegressor(SVR(), transformer=StandardScaler())
    return dict(task="regression", model=model, X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="TransformedTargetRegressor (StandardScaler on the target) over SVR")


@_case("multioutput_svr", "MultiOutputRegressor")
def _():
    X, y = _reg(n_targets=2, seed=149)
    X_tr, X_te, y_tr = _split(X, y / 100, seed=149, stratify=False)
    return dict(task="regression", model=MultiOutputRegressor(SVR()), X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="MultiOutputRegressor over SVR, 2 targets")


# --- Kernel SVMs ---------------------------------------------------------------------------
# libsvm's float64 arithmetic: the kernel, the one-against-one votes and, with
# probability=True, Platt's sigmoid and the pairwise coupling of predict_proba.


@_case("svc_rbf_iris", "SVC", quick=True)
def _():
    X, y, names = _iris()
    X_tr, X_te, y_tr = _split(X, y, test_rows=30, seed=80)
    return dict(task="multiclass", model=SVC(C=3.0), X_train=X_tr, y_train=names[y_tr].astype(object), X_test=X_te,
                description="SVC, rbf kernel, 3 string classes")


@_case("svc_rbf_proba_binary", "SVC", quick=True)
def _():
    X, y = _clf(seed=81)
    X_tr, X_te, y_tr = _split(X, y, seed=81)
    return dict(task="binary", model=SVC(probability=True, random_state=81), X_train=X_tr, y_train=y_tr,
                X_test=X_te, predict_fn="predict_proba", description="SVC, rbf kernel, binary, predict_proba")


@_case("svc_poly_proba_multiclass", "SVC", quick=True)
def _():
    X, y = _clf(n_classes=4, n=600, seed=82)
    X_tr, X_te, y_tr = _split(X, y, seed=82)
    return dict(task="multiclass", model=SVC(kernel="poly", degree=3, coef0=1.0, probability=True, random_state=82),
                X_train=X_tr, y_train=y_tr, X_test=X_te, predict_fn="predict_proba",
                description="SVC, poly kernel (degree 3), 4 classes, predict_proba")


@_case("svc_linear_multiclass", "SVC")
def _():
    X, y = _clf(n_classes=3, seed=83)
    X_tr, X_te, y_tr = _split(X, y, seed=83)
    return dict(task="multiclass", model=SVC(kernel="linear", C=0.5), X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="SVC, linear kernel, 3 classes")


@_case("nusvc_sigmoid", "NuSVC")
def _():
    X, y = _clf(seed=84)
    X_tr, X_te, y_tr = _split(X, y, seed=84)
    return dict(task="binary", model=NuSVC(kernel="sigmoid", gamma=0.05, nu=0.3), X_train=X_tr, y_train=y_tr,
                X_test=X_te, description="NuSVC, sigmoid kernel, binary")


@_case("svr_rbf_diabetes", "SVR", quick=True)
def _():
    X, y = _diabetes()
    X_tr, X_te, y_tr = _split(X, y / 100, seed=85, stratify=False)
    return dict(task="regression", model=SVR(C=10.0, epsilon=0.05), X_train=X_tr, y_train=y_tr, X_test=X_te,
                description="SVR, rbf kernel")


@_case("nusvr_poly", "NuSVR")
def _():
    X, y = _reg(seed=86)
    X_tr, X_te, y_tr = _split(X, y / 100, seed=86, stratify=False)
    return dict(task="regression", model=NuSVR(kernel="poly", degree=2, nu=0.4), X_train=X_tr, y_train=y_tr,
                X_test=X_te, description="NuSVR, poly kernel (degree 2)")


@_case("ocsvm_rbf", "OneClassSVM", quick=True)
def _():
    X, y = _clf(seed=87)
    X_tr, X_te, y_tr = _split(X, y, seed=87)
    return dict(task="binary", model=OneClassSVM(nu=0.1), X_train=X_tr, y_train=y_tr, X_test=X_te * 1.5,
                description="OneClassSVM, rbf kernel: 1 (inlier) or -1")


_HGB = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
GB_BINARY_TRUST = GB_MULTI_TRUST = GB_EXP_TRUST = GB_REG_HUBER_TRUST = GB_REG_ZERO_TRUST = [TREE]
HGB_BINARY_TRUST = HGB_MULTI_TRUST = HGB_REG_TRUST = [_HGB]
# The categorical preprocessor holds partial(check_array): a function reference skops
# refuses by default (mlbox recognises it and never calls it).
HGB_CAT_TRUST = ["functools.partial", _HGB, "sklearn.utils.validation.check_array"]
MLP_ADAM_TRUST = MLP_REG_TRUST = ["sklearn.neural_network._stochastic_optimizers.AdamOptimizer"]
MLP_SGD_TRUST = ["sklearn.neural_network._stochastic_optimizers.SGDOptimizer"]


# ----------------------------------------------------------------------------------------
# Public API

FAMILIES = sorted({fam for _n, fam, _q, _b in _SPECS})


def case_names(quick=False):
    return [n for n, _f, q, _b in _SPECS if q or not quick]


def cases(quick=False, names=None) -> list:
    """Train and return the zoo. quick=True: one case per family. names: only these cases."""
    out = []
    for name, family, q, build in _SPECS:
        if quick and not q:
            continue
        if names is not None and name not in names:
            continue
        kw = build()
        kw["model"] = _fit(kw["model"], kw["X_train"], kw["y_train"])
        c = Case(name=name, family=family, **kw)
        # Hold the test rows in the memory layout the scoring server gives them (see served_frame),
        # so that model.predict(c.X_test) is bit-for-bit what `mlflow models serve` answers.
        c.X_test = served_frame(c.X_test)
        assert len(c.X_test) <= TEST_ROWS and len(c.X_train) <= 2000, name
        assert c.has_nan == bool(c.X_test.isna().any().any()), name
        out.append(c)
    return out


def _jsonable(v):
    """A numpy/pandas scalar as the plain Python value json would write."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, str):
        return str(v)
    raise TypeError(f"unexpected value {v!r} of type {type(v)}")


def rows(X: pd.DataFrame) -> list:
    """X as JSON rows: NaN/None -> null, strings stay strings, ints stay ints."""
    return [[_jsonable(v) for v in r] for r in X.itertuples(index=False, name=None)]


def dataframe_split(X: pd.DataFrame) -> dict:
    """The /invocations request body for X."""
    return {"dataframe_split": {"columns": [str(c) for c in X.columns], "data": rows(X)}}


def served_frame(X: pd.DataFrame) -> pd.DataFrame:
    """X as the scoring server rebuilds it from `dataframe_split(X)` JSON.

    MLflow builds `pd.DataFrame(columns=..., data=rows)` and then casts column by column to
    the signature types (mlflow.models.utils._enforce_schema builds a new DataFrame from a
    dict of Series). Values are the same as in X (JSON floats round-trip exactly), but the
    memory layout can differ, and with it BLAS's summation order: predicting on
    e.g. load_diabetes' own frame differs from the served answer by ~1e-14 for linear models.
    Predicting on this frame matched MLflow's scoring path bit for bit on every zoo case.
    """
    r = pd.DataFrame(data=rows(X), columns=list(X.columns))
    return pd.DataFrame({c: r[c].astype(X[c].dtype) for c in X.columns})


def _tolist(out):
    # Exactly MLflow's conversion (mlflow.utils.proto_json_utils._get_jsonable_obj): an ndarray
    # becomes ndarray.tolist(), i.e. Python int / float / str / bool (object arrays keep their
    # Python objects). Multi-output and probability arrays become lists of rows.
    return np.asarray(out).tolist()


def expected(case: Case, X: Optional[pd.DataFrame] = None):
    """What `mlflow models serve` answers for `dataframe_split(case.X_test)`, minus the wrapper.

    MLflow 3.17.2 (and 2.22.5) answer `{"predictions": <this>}`. The scoring server turns the
    pyfunc output into JSON with `ndarray.tolist()` (mlflow.pyfunc.scoring_server
    predictions_to_json -> _get_jsonable_obj), so:
      * predict, int labels (incl. non-contiguous 3/7/11): JSON ints, e.g. [3, 11, 7]
      * predict, string labels: JSON strings, e.g. ["setosa", "virginica"]
      * predict, bool labels: JSON true/false
      * predict, regression: JSON floats; 2 targets: rows [[y0, y1], ...]
      * predict_proba: rows of floats [[p0, p1, ...], ...] in classes_ order
    Checked once against a real `mlflow models serve -m <dir> --env-manager local` (3.17.2)
    with curl, on the fixture dirs sgd_hinge_bool_labels-skops (-> [true, false, ...]),
    logreg_multinomial_str_labels-pickle (-> ["versicolor", "setosa", ...]),
    rf_clf_nan_train_proba-cloudpickle (-> [[0.88178973224866, 0.030476603566063, ...], ...],
    NaN sent as null), ct_pipelines_passthrough-skops (-> [0, 1, 1, ...], string columns with
    null) and linreg_two_targets-skops (-> [[22.96875483795222, 115.70721229229754], ...]):
    the whole answer was JSON-equal to {"predictions": expected(case)} every time, floats
    bit for bit. Through MLflow's scoring-server function (scoring_server.invocations) the
    same holds for all cases in all formats (3.17.2), and with mlflow 2.22.5 + pandas 2.3.3
    (cloudpickle). A null in a column the signature marks `"required": true` is accepted
    ("required" is about the column, not its values). The schema cast turns a null in a
    string column back into the missing value the model was trained with.
    """
    X = case.X_test if X is None else served_frame(X)
    return _tolist(getattr(case.model, case.predict_fn)(X))


def outputs(case: Case, X: Optional[pd.DataFrame] = None) -> dict:
    """predict / predict_proba / decision_function of X as JSON-able values (None if absent)."""
    X = case.X_test if X is None else served_frame(X)
    m = case.model
    return {
        "predict": _tolist(m.predict(X)),
        "predict_proba": _tolist(m.predict_proba(X)) if hasattr(m, "predict_proba") else None,
        "decision_function": _tolist(m.decision_function(X)) if hasattr(m, "decision_function") else None,
    }


def untrusted_skops_types(model) -> list:
    """The types skops reports as untrusted for this model (what skops_trusted_types must list)."""
    import skops.io as sio

    return sorted(sio.get_untrusted_types(data=sio.dumps(model)))


if __name__ == "__main__":  # print the zoo
    import time

    t = time.time()
    zoo = cases(quick="--quick" in __import__("sys").argv)
    for c in zoo:
        print(f"{c.name:36s} {c.family:24s} {c.task:10s} {c.predict_fn:14s} nan={c.has_nan!s:5s} "
              f"train={len(c.X_train)} test={len(c.X_test)} skops_trusted={c.skops_trusted_types}")
    print(f"{len(zoo)} cases, {len(FAMILIES)} families, {time.time() - t:.1f}s")
