package sklearn

import "strings"

// allowList names every global a scikit-learn model file may reference
// beyond the numpy and builtin ones the readers handle themselves (see
// /work/shared/reference/sklearn-formats.md §2.5). A name here is only
// ever turned into a plain record of its attributes; nothing is called.
// Classes the front end cannot map are allowed so that the error names
// the estimator ("unsupported: GaussianNB") rather than a helper class.
var allowList = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`
sklearn.pipeline.Pipeline
sklearn.compose._column_transformer.ColumnTransformer
sklearn.compose._column_transformer._RemainderColsList
sklearn.preprocessing._function_transformer.FunctionTransformer
sklearn.preprocessing._data.StandardScaler
sklearn.preprocessing._data.MinMaxScaler
sklearn.preprocessing._data.MaxAbsScaler
sklearn.preprocessing._data.RobustScaler
sklearn.preprocessing._encoders.OneHotEncoder
sklearn.preprocessing._encoders.OrdinalEncoder
sklearn.preprocessing._polynomial.PolynomialFeatures
sklearn.preprocessing._data.Binarizer
sklearn.preprocessing._discretization.KBinsDiscretizer
sklearn.preprocessing._target_encoder.TargetEncoder
sklearn.decomposition._pca.PCA
sklearn.feature_selection._variance_threshold.VarianceThreshold
sklearn.feature_selection._univariate_selection.SelectKBest
sklearn.feature_selection._univariate_selection.SelectPercentile
sklearn.feature_selection._univariate_selection.f_classif
sklearn.feature_selection._univariate_selection.f_regression
sklearn.feature_selection._univariate_selection.r_regression
sklearn.feature_selection._univariate_selection.chi2
sklearn.feature_selection._mutual_info.mutual_info_classif
sklearn.feature_selection._mutual_info.mutual_info_regression
sklearn.decomposition._truncated_svd.TruncatedSVD
sklearn.preprocessing._label.LabelEncoder
sklearn.preprocessing._label.LabelBinarizer
sklearn.impute._base.SimpleImputer
sklearn.impute._base.MissingIndicator
sklearn.linear_model._logistic.LogisticRegression
sklearn.linear_model._base.LinearRegression
sklearn.linear_model._ridge.Ridge
sklearn.linear_model._ridge.RidgeClassifier
sklearn.linear_model._coordinate_descent.Lasso
sklearn.linear_model._coordinate_descent.ElasticNet
sklearn.linear_model._stochastic_gradient.SGDClassifier
sklearn.linear_model._stochastic_gradient.SGDRegressor
sklearn.linear_model._sgd_fast.Hinge
sklearn.linear_model._sgd_fast.SquaredHinge
sklearn.linear_model._sgd_fast.ModifiedHuber
sklearn.linear_model._sgd_fast.Log
sklearn.linear_model._sgd_fast.SquaredLoss
sklearn.linear_model._sgd_fast.Huber
sklearn.linear_model._sgd_fast.EpsilonInsensitive
sklearn.linear_model._sgd_fast.SquaredEpsilonInsensitive
sklearn.svm._classes.LinearSVC
sklearn.svm._classes.LinearSVR
sklearn.svm._classes.SVC
sklearn.svm._classes.NuSVC
sklearn.svm._classes.SVR
sklearn.svm._classes.NuSVR
sklearn.svm._classes.OneClassSVM
sklearn.multiclass.OneVsRestClassifier
sklearn.tree._classes.DecisionTreeClassifier
sklearn.tree._classes.DecisionTreeRegressor
sklearn.tree._classes.ExtraTreeClassifier
sklearn.tree._classes.ExtraTreeRegressor
sklearn.tree._tree.Tree
sklearn.ensemble._forest.RandomForestClassifier
sklearn.ensemble._forest.RandomForestRegressor
sklearn.ensemble._forest.ExtraTreesClassifier
sklearn.ensemble._forest.ExtraTreesRegressor
sklearn.ensemble._iforest.IsolationForest
sklearn.neighbors._classification.KNeighborsClassifier
sklearn.neighbors._regression.KNeighborsRegressor
sklearn.neighbors._kd_tree.KDTree
sklearn.neighbors._kd_tree.newObj
sklearn.neighbors._ball_tree.BallTree
sklearn.neighbors._ball_tree.newObj
sklearn.metrics._dist_metrics.EuclideanDistance64
sklearn.metrics._dist_metrics.ManhattanDistance64
sklearn.metrics._dist_metrics.MinkowskiDistance64
sklearn.metrics._dist_metrics.newObj
sklearn.ensemble._gb.GradientBoostingClassifier
sklearn.ensemble._gb.GradientBoostingRegressor
sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier
sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor
sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor
sklearn.ensemble._hist_gradient_boosting.binning._BinMapper
sklearn.naive_bayes.GaussianNB
sklearn.calibration.CalibratedClassifierCV
sklearn.ensemble._voting.VotingClassifier
sklearn.ensemble._voting.VotingRegressor
sklearn.ensemble._stacking.StackingClassifier
sklearn.ensemble._bagging.BaggingClassifier
sklearn.ensemble._weight_boosting.AdaBoostClassifier
sklearn.ensemble._bagging.BaggingRegressor
sklearn.ensemble._stacking.StackingRegressor
sklearn.utils._bunch.Bunch
sklearn.calibration._CalibratedClassifier
sklearn.calibration._SigmoidCalibration
sklearn.calibration._TemperatureScaling
sklearn.isotonic.IsotonicRegression
sklearn.naive_bayes.MultinomialNB
sklearn.naive_bayes.ComplementNB
sklearn.naive_bayes.BernoulliNB
sklearn.neural_network._multilayer_perceptron.MLPClassifier
sklearn.neural_network._multilayer_perceptron.MLPRegressor
sklearn.neural_network._stochastic_optimizers.AdamOptimizer
sklearn.neural_network._stochastic_optimizers.SGDOptimizer
sklearn.dummy.DummyClassifier
sklearn.dummy.DummyRegressor
sklearn._loss.link.Interval
sklearn._loss.link.IdentityLink
sklearn._loss.link.LogLink
sklearn._loss.link.LogitLink
sklearn._loss.link.HalfLogitLink
sklearn._loss.link.MultinomialLogit
sklearn._loss.loss.HalfSquaredError
sklearn._loss.loss.AbsoluteError
sklearn._loss.loss.PinballLoss
sklearn._loss.loss.HuberLoss
sklearn._loss.loss.HalfPoissonLoss
sklearn._loss.loss.HalfGammaLoss
sklearn._loss.loss.HalfTweedieLoss
sklearn._loss.loss.HalfBinomialLoss
sklearn._loss.loss.HalfMultinomialLoss
sklearn._loss.loss.ExponentialLoss
sklearn._loss._loss.CyHalfSquaredError
sklearn._loss._loss.CyAbsoluteError
sklearn._loss._loss.CyPinballLoss
sklearn._loss._loss.CyHuberLoss
sklearn._loss._loss.CyHalfPoissonLoss
sklearn._loss._loss.CyHalfGammaLoss
sklearn._loss._loss.CyHalfTweedieLoss
sklearn._loss._loss.CyHalfBinomialLoss
sklearn._loss._loss.CyHalfMultinomialLoss
sklearn._loss._loss.CyExponentialLoss
sklearn._loss._loss.__pyx_unpickle_CyHalfMultinomialLoss
sklearn._loss._loss.__pyx_unpickle_CyHalfBinomialLoss
sklearn._loss._loss.__pyx_unpickle_CyHalfSquaredError
functools.partial
sklearn.utils.validation.check_array
numpy.random._pickle.__randomstate_ctor
numpy.random._pickle.__generator_ctor
numpy.random._pickle.__bit_generator_ctor
numpy.random._mt19937.MT19937
numpy.random._pcg64.PCG64
numpy.random.mtrand.RandomState
numpy.random._generator.Generator
numpy.random.bit_generator.SeedSequence
numpy.random.bit_generator.__pyx_unpickle_SeedSequence
builtins.str
builtins.int
builtins.float
builtins.bool
builtins.list
builtins.tuple
builtins.dict
builtins.NoneType
`) {
		allowList[n] = true
	}
}

// allowed is the readers' allow check.
func allowed(module, name string) bool { return allowList[module+"."+name] }
