r"""``PriorGLMRegressor`` and ``PriorLogisticClassifier`` over :class:`priorreg.PriorGLM`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, check_array, check_is_fitted
from statsmodels.genmod import families as smf
from statsmodels.genmod.families import links as sml

from priorreg import families as _families
from priorreg._typing import FloatArray
from priorreg.glm import PriorGLM
from priorreg.sklearn._base import (
    COMMON_PARAMETERS,
    PriorEstimatorBase,
    parameter,
    parameters_init,
    shared_docs,
)

__all__ = ["FAMILIES", "LINKS", "PriorGLMRegressor", "PriorLogisticClassifier", "resolve_family"]

#: Families by name (statsmodels' classes with their default parameters; the
#: negative binomial's ``alpha=1``, given so that statsmodels does not warn).
FAMILIES: dict[str, Callable[[], smf.Family]] = {
    "gaussian": smf.Gaussian,
    "poisson": smf.Poisson,
    "gamma": smf.Gamma,
    "inverse_gaussian": smf.InverseGaussian,
    "binomial": smf.Binomial,
    "negative_binomial": partial(smf.NegativeBinomial, alpha=1.0),
    "tweedie": smf.Tweedie,
}
#: Links by name.
LINKS: dict[str, Callable[[], sml.Link]] = {
    "identity": sml.Identity,
    "log": sml.Log,
    "logit": sml.Logit,
    "probit": sml.Probit,
    "cloglog": sml.CLogLog,
    "loglog": sml.LogLog,
    "cauchy": sml.Cauchy,
    "inverse": sml.InversePower,
    "inverse_squared": sml.InverseSquared,
    "sqrt": sml.Sqrt,
}
#: Families whose response must be >= 0 (or > 0): scikit-learn's ``positive_only`` tag.
_POSITIVE = (smf.Poisson, smf.Gamma, smf.InverseGaussian, smf.NegativeBinomial, smf.Tweedie)


def _by_name(value: Any, table: dict[str, Callable[[], Any]], what: str, base: type) -> Any:
    if isinstance(value, str):
        key = value.lower()
        if key not in table:
            raise ValueError(f"unknown {what} {value!r}; use one of {sorted(table)} or an instance")
        return table[key]()
    if isinstance(value, type) and issubclass(value, smf.Family):
        return _families.family_instance(value)
    if isinstance(value, type) and issubclass(value, base):
        return value()
    if isinstance(value, base):
        return copy.deepcopy(value)  # never share (or change) the user's object
    raise TypeError(
        f"{what} must be a name ({sorted(table)}) or a statsmodels {what} instance; "
        f"got {value!r}"
    )


def resolve_family(family: Any, link: Any = None) -> smf.Family:
    """A statsmodels family from a name or instance, with ``link`` (name or instance) set.

    Parameters
    ----------
    family : str or statsmodels family
        One of :data:`FAMILIES` or an instance (e.g.
        ``sm.families.NegativeBinomial(alpha=0.5)``); it is copied.
    link : None, str or statsmodels link
        One of :data:`LINKS` or an instance; ``None`` keeps the family's.

    Returns
    -------
    statsmodels.genmod.families.Family

    Examples
    --------
    >>> fam = resolve_family("binomial", "probit")
    >>> type(fam).__name__, type(fam.link).__name__
    ('Binomial', 'Probit')
    """
    fam = _by_name(family, FAMILIES, "family", smf.Family)
    if link is not None:
        fam.link = _by_name(link, LINKS, "link", sml.Link)
    return _families.check_family(fam)


#: The IRLS options of the GLM estimators (after :data:`COMMON_PARAMETERS`).
IRLS_PARAMETERS = (parameter("max_iter", 100, "int"), parameter("tol", 1e-8, "float"))


class _PriorGLMEstimator(PriorEstimatorBase):
    """What the estimators over :class:`priorreg.PriorGLM` share: IRLS options, weights."""

    _model_class = PriorGLM
    _weights_keyword = "freq_weights"

    __init__ = parameters_init(*COMMON_PARAMETERS, *IRLS_PARAMETERS)

    def _fit_options(self) -> dict[str, Any]:
        return {"maxiter": self.max_iter, "tol": self.tol}

    def _keep(self, results: Any) -> None:
        super()._keep(results)
        self.n_iter_ = int(results.iterations)


@shared_docs
class PriorGLMRegressor(RegressorMixin, _PriorGLMEstimator):
    r"""Generalized linear model whose penalty pulls the coefficients towards a prior.

    Fits :class:`priorreg.PriorGLM` on the design ``[1, X]``: minimises the
    penalized deviance

    .. math::

        \sum_i w_i\, d(y_i, \mu_i) + \lambda (b - b^{prior})' L (b - b^{prior}),
        \qquad g(\mu_i) = b_0 + x_i'b,

    with the unit deviance ``d`` of the family, the link ``g`` and the
    intercept unpenalized. With ``prior=None`` and the Poisson family this
    is scikit-learn's ``PoissonRegressor(alpha)`` with
    ``lam = alpha * sum(w)`` (its objective is the mean deviance over 2
    plus ``alpha/2 |b|^2``).

    Parameters
    ----------
    family : str or statsmodels family, default="poisson"
        ``"gaussian"``, ``"poisson"``, ``"gamma"``, ``"inverse_gaussian"``,
        ``"binomial"``, ``"negative_binomial"`` (``alpha=1``), ``"tweedie"``
        (statsmodels' defaults, canonical links), or an instance such as
        ``sm.families.Tweedie(var_power=1.5)``.
    link : None, str or statsmodels link, default=None
        ``"identity"``, ``"log"``, ``"logit"``, ``"probit"``, ``"cloglog"``,
        ``"loglog"``, ``"cauchy"``, ``"inverse"``, ``"inverse_squared"``,
        ``"sqrt"`` or an instance; ``None`` keeps the family's canonical link.
    lam : float or {"gcv", "ubre", "aic", "loocv", "reml"}, default="gcv"
        The penalty weight, or the criterion that selects it
        (:meth:`priorreg.PriorGLM.fit`).
    prior, penalty, standardize, fit_intercept, bounds, cov_type
        As for :class:`PriorRidgeRegressor`.
    {irls_options}

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    lam_ : float
        The penalty weight used.
    lam_on_edge_ : bool
        Whether the criterion was smallest at an end of the range searched.
    fit_warnings_ : list of str
        The model's warnings kept instead of issued (see
        :class:`PriorRidgeRegressor`).
    {glm_attributes}

    Notes
    -----
    ``sample_weight`` are the model's ``freq_weights``: a weight of 2 is the
    row repeated twice (also for the criteria, whose ``n`` is the sum of the
    weights), and 0 drops the row; this is scikit-learn's meaning. For
    binomial proportions, give the numbers of trials as ``sample_weight``.
    ``score`` is :math:`D^2 = 1 - D(y, \hat\mu) / D(y, \bar y)`, the
    fraction of deviance explained (weighted mean :math:`\bar y`), as
    scikit-learn's ``PoissonRegressor.score``; for the Gaussian family
    with identity link it is :math:`R^2`.

    Examples
    --------
    >>> import numpy as np
    >>> from priorreg.sklearn import PriorGLMRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = rng.poisson(np.exp(0.5 + X @ [0.3, -0.2]))
    >>> est = PriorGLMRegressor(family="poisson", lam=10.0).fit(X, y)
    >>> est.predict(X[:3]).shape
    (3,)
    """

    __init__ = parameters_init(
        parameter("family", "poisson"),
        parameter("link", None),
        *COMMON_PARAMETERS,
        *IRLS_PARAMETERS,
    )

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        family = self.family
        if isinstance(family, str):
            family = FAMILIES.get(family.lower())
        if isinstance(family, partial):
            family = family.func
        if not isinstance(family, type):
            family = type(family)
        tags.target_tags.positive_only = issubclass(family, _POSITIVE)
        return tags

    def _model_options(self) -> dict[str, Any]:
        return {"family": resolve_family(self.family, self.link)}

    # fit: PriorEstimatorBase's

    @shared_docs
    def predict(self, X: Any) -> FloatArray:
        """Predicted means :math:`g^{-1}(X b + b_0)`.

        {X_to_rows}
        """
        eta = self._linear_predictor(X)
        return np.asarray(self.results_.model.family.link.inverse(eta), dtype=float)

    @shared_docs
    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        r"""Fraction of deviance explained, :math:`D^2`.

        .. math::

            D^2 = 1 - \frac{\sum_i w_i d(y_i, \hat\mu_i)}{\sum_i w_i d(y_i, \bar y)},
            \qquad \bar y = \frac{\sum_i w_i y_i}{\sum_i w_i},

        as scikit-learn's ``PoissonRegressor.score`` (:math:`R^2` for the
        Gaussian family).

        {X}
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        float
        """
        mu = self.predict(X)
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if y.shape != mu.shape:
            raise ValueError(f"y has shape {y.shape}; expected {mu.shape}, one per row of X")
        sw = _check_sample_weight(sample_weight, mu[:, None], dtype=np.float64)
        family = self.results_.model.family
        _families.check_response(family, y)
        null = np.full_like(y, np.average(y, weights=sw))
        dev = family.deviance(y, mu, freq_weights=sw)
        dev_null = family.deviance(y, null, freq_weights=sw)
        return float(1.0 - dev / dev_null)


@shared_docs
class PriorLogisticClassifier(ClassifierMixin, _PriorGLMEstimator):
    r"""Binary logistic regression whose penalty pulls the coefficients towards a prior.

    Fits :class:`priorreg.PriorGLM` with the binomial family and logit link
    to ``y == classes_[1]``: minimises

    .. math::

        -2 \sum_i w_i \big(t_i \log p_i + (1 - t_i)\log(1 - p_i)\big)
        + \lambda (b - b^{prior})' L (b - b^{prior})

    (the binomial deviance), intercept unpenalized. scikit-learn's
    ``LogisticRegression(C)`` minimises ``|b|^2 / 2 + C * (minus the
    log-likelihood)``, i.e. the deviance plus ``|b|^2 / C``: it is this
    estimator with ``prior=None`` and ``lam = 1 / C``.

    Parameters
    ----------
    lam : float or {"gcv", "ubre", "aic", "loocv", "reml"}, default="gcv"
        The penalty weight, or the criterion that selects it.
    prior, penalty, standardize, fit_intercept, bounds, cov_type
        As for :class:`PriorRidgeRegressor` (a fitted
        ``LogisticRegression`` is a valid prior).
    {irls_options}

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels; ``classes_[1]`` is the "positive" one.
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)
    lam_ : float
    lam_on_edge_ : bool
    fit_warnings_ : list of str
    {glm_attributes}

    Notes
    -----
    Binary only: more than two classes is a ``ValueError`` (wrap the
    estimator in :class:`sklearn.multiclass.OneVsRestClassifier`).
    ``sample_weight`` are frequency weights, as for
    :class:`PriorGLMRegressor`. ``score`` is the accuracy
    (:class:`sklearn.base.ClassifierMixin`). On data that separate the
    classes the unpenalized fit does not exist: use ``lam > 0``; the
    criteria then favour small ``lam`` and may select one on the edge of
    their range (a ``LamOnEdgeWarning``).

    Examples
    --------
    >>> import numpy as np
    >>> from priorreg.sklearn import PriorLogisticClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = np.where(rng.random(200) < 1 / (1 + np.exp(-X @ [1.0, -1.0])), "yes", "no")
    >>> clf = PriorLogisticClassifier(lam=1.0).fit(X, y)
    >>> clf.classes_.tolist(), clf.predict_proba(X[:2]).shape
    (['no', 'yes'], (2, 2))
    """

    # __init__: _PriorGLMEstimator's (its parameters are this estimator's)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    _numeric_y = False

    def _response(self, y: Any) -> FloatArray:
        """Indicator of ``classes_[1]``; checks that ``y`` has two classes, sets ``classes_``."""
        check_classification_targets(y)
        classes = np.unique(y)
        if classes.size < 2:
            raise ValueError(
                f"y has 1 class ({classes.tolist()}); PriorLogisticClassifier needs two"
            )
        if type_of_target(y) != "binary":
            raise ValueError(
                f"Only binary classification is supported; y has {classes.size} classes. "
                "For more, wrap PriorLogisticClassifier in "
                "sklearn.multiclass.OneVsRestClassifier"
            )
        self.classes_ = classes
        return (y == classes[1]).astype(float)

    def _model_options(self) -> dict[str, Any]:
        return {"family": smf.Binomial()}

    def _keep(self, results: Any) -> None:
        super()._keep(results)
        self.coef_ = self.coef_.reshape(1, -1)  # scikit-learn's classifier shapes
        self.intercept_ = np.array([self.intercept_])

    @shared_docs
    def decision_function(self, X: Any) -> FloatArray:
        """The log-odds of ``classes_[1]``, :math:`X b + b_0`.

        {X_to_rows}
        """
        return self._linear_predictor(X)

    @shared_docs
    def predict_proba(self, X: Any) -> FloatArray:
        """Probabilities of ``classes_[0]`` and ``classes_[1]``.

        {X}

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict_log_proba(self, X: Any) -> FloatArray:
        """Logarithms of :meth:`predict_proba` (computed stably from the log-odds)."""
        eta = self.decision_function(X)
        return np.column_stack([-np.logaddexp(0.0, eta), -np.logaddexp(0.0, -eta)])

    @shared_docs
    def predict(self, X: Any) -> Any:
        """The more probable label (``classes_[1]`` when its log-odds are > 0).

        {X_to_rows}
        """
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
