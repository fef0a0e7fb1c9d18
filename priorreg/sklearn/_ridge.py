r"""``PriorRidgeRegressor``: :class:`priorreg.PriorRidge` as a scikit-learn regressor."""

from __future__ import annotations

from typing import Any

from sklearn.base import RegressorMixin

from priorreg._typing import FloatArray
from priorreg.linear import PriorRidge
from priorreg.sklearn._base import PriorEstimatorBase, shared_docs

__all__ = ["PriorRidgeRegressor"]


class PriorRidgeRegressor(RegressorMixin, PriorEstimatorBase):  # type: ignore[misc]
    r"""Ridge regression whose penalty pulls the coefficients towards a prior.

    Fits :class:`priorreg.PriorRidge` on the design ``[1, X]``: minimises

    .. math::

        \sum_i w_i (y_i - b_0 - x_i'b)^2 + \lambda (b - b^{prior})' L (b - b^{prior})

    with the intercept unpenalized (``L = I`` on the features by default).
    With ``prior=None`` this is scikit-learn's ``Ridge(alpha=lam)``.

    Parameters
    ----------
    lam : float or {"gcv", "loocv", "reml"}, default="gcv"
        The penalty weight, or the criterion that selects it
        (:meth:`priorreg.PriorRidge.fit`).
    prior : None, array-like, dict, Series, results object or fitted estimator
        Prior coefficients: an array of one value per feature; a dict or
        Series by feature name (``"Intercept"`` for the intercept; names not
        given are 0); a priorreg or statsmodels results object; or a fitted
        scikit-learn linear model (``coef_``, ``intercept_``), including the
        estimators of this module. Names are matched when the prior has them
        (``feature_names_in_``), positions otherwise. ``None``: zero. In a
        grid search or cross-validation, wrap a fitted model in
        ``sklearn.frozen.FrozenEstimator``: scikit-learn's ``clone`` would
        give an unfitted copy.
    penalty : None, array-like, dict, Series, DataFrame or "information"
        ``L``: per-feature weights (0 = unpenalized), a features x features
        PSD matrix, or ``"information"`` (the prior fit's information
        matrix: needs a results object or one of these estimators as prior).
    standardize : bool, default=False
        Scale the penalty by each feature's variance (units-free penalty);
        the estimates stay in the original units.
    fit_intercept : bool, default=True
        Add an unpenalized intercept.
    bounds : None, str, dict or sequence of pairs, default=None
        Bounds on the coefficients, passed to the model: ``"nonnegative"``,
        a dict by feature name, or one ``(lower, upper)`` pair per feature.
    cov_type : {"bayes", "sandwich"}, default="bayes"
        Covariance of ``results_`` (see :meth:`priorreg.PriorRidge.fit`).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Estimated coefficients.
    intercept_ : float
        Estimated intercept (0.0 when ``fit_intercept=False``).
    lam_ : float
        The penalty weight used (the selected one for a criterion).
    lam_on_edge_ : bool
        Whether the criterion was smallest at an end of the range searched
        (the model's ``LamOnEdgeWarning``, which the estimator does not
        issue, as scikit-learn's ``RidgeCV``).
    fit_warnings_ : list of str
        The model's warnings about inference and the choice of ``lam`` that
        the estimator keeps instead of issuing: ``LamOnEdgeWarning``,
        ``SeparationWarning`` at ``lam > 0`` and ``DegenerateFitWarning``.
    results_ : PriorRidgeResults
        The full results: ``summary()``, ``bse``, ``conf_int()``, ``edf``,
        ``lam_path``, ``get_prediction()``, ... (columns named
        ``"Intercept"`` and the feature names).
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features,)
        Feature names (only when ``X`` is a DataFrame with string column names).

    Notes
    -----
    ``sample_weight`` are the model's observation weights ``w``: a weight of
    2 gives the same estimates as the row repeated twice at a fixed ``lam``,
    and 0 drops the row. With a criterion, the weights are precision weights
    as in statsmodels' WLS: GCV's ``n`` counts rows, not the sum of weights
    (``PriorGLMRegressor(family="gaussian")`` gives the same estimates with
    frequency weights, GCV and REML as on repeated rows).
    ``score`` is :math:`R^2` (:class:`sklearn.base.RegressorMixin`).

    Examples
    --------
    >>> import numpy as np
    >>> from priorreg.sklearn import PriorRidgeRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 3))
    >>> y = X @ [1.0, -2.0, 0.5] + rng.normal(size=50)
    >>> est = PriorRidgeRegressor(lam=5.0, prior=[1.0, -2.0, 0.0]).fit(X, y)
    >>> est.coef_.shape, est.lam_
    ((3,), 5.0)
    """

    _model_class = PriorRidge
    # PriorEstimatorBase's __init__ (its parameters are this estimator's) and fit

    @shared_docs
    def predict(self, X: Any) -> FloatArray:
        """Predictions ``X coef_ + intercept_``.

        {X_to_rows}
        """
        return self._linear_predictor(X)
