"""What the scikit-learn estimators share: validation, the design, prior, penalty, bounds.

The estimators build the design ``[1, X]`` (``fit_intercept=True``) or ``X``
with column names ``"Intercept"`` and the feature names (``feature_names_in_``
of a DataFrame, else ``x0, x1, ...``), hand it to the statsmodels-style
model and copy the estimates out of its results. Nothing here fits.
"""

from __future__ import annotations

import inspect
import textwrap
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from priorreg._typing import FloatArray
from priorreg.checks import as_float_array
from priorreg.exceptions import (
    DegenerateFitWarning,
    LamOnEdgeWarning,
    SeparationWarning,
    kept_warnings,
)
from priorreg.penalty import resolve_penalty

if TYPE_CHECKING:  # typing.Self is Python >= 3.11
    from typing_extensions import Self

__all__ = [
    "COMMON_PARAMETERS",
    "INTERCEPT",
    "PriorEstimatorBase",
    "parameter",
    "parameters_init",
    "shared_docs",
]

#: Name of the intercept column in the design and in ``results_.params``.
INTERCEPT = "Intercept"


#: numpydoc sections that several estimators' docstrings share (see :func:`shared_docs`).
_SECTIONS = {
    "X": """
        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        """,
    "X_to_rows": """
        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """,
    "irls_options": """
        max_iter : int, default=100
            Maximum IRLS iterations.
        tol : float, default=1e-8
            IRLS convergence: relative change of the penalized deviance.
        """,
    "glm_attributes": """
        n_iter_ : int
            IRLS iterations of the final fit.
        results_ : PriorGLMResults
            The full results (``summary()``, ``bse``, ``conf_int()``, ``deviance``, ...).
        n_features_in_ : int
        feature_names_in_ : ndarray of shape (n_features,)
        """,
}


def shared_docs(obj: Any) -> Any:
    """Replace each docstring line that is a ``{name}`` of :data:`_SECTIONS` by that section.

    The section is indented as the line it replaces, so the result is a
    numpydoc docstring as if written out (Sphinx and doctest read it so).
    """
    if obj.__doc__ is None:  # python -OO
        return obj
    lines = []
    for line in obj.__doc__.splitlines():
        key = line.strip()
        if key.startswith("{") and key.endswith("}") and key[1:-1] in _SECTIONS:
            indent = line[: len(line) - len(line.lstrip())]
            section = textwrap.dedent(_SECTIONS[key[1:-1]]).strip("\n")
            lines.append(textwrap.indent(section, indent))
        else:
            lines.append(line)
    obj.__doc__ = "\n".join(lines)
    return obj


#: The model warnings an estimator may keep in ``fit_warnings_`` (see :func:`_recorded`).
_KEPT = (LamOnEdgeWarning, DegenerateFitWarning, SeparationWarning)


def _recorded(category: type[Warning], lam: float) -> bool:
    """Whether a model warning is kept in ``fit_warnings_`` rather than re-issued."""
    if issubclass(category, SeparationWarning):
        return lam > 0  # at lam = 0 the estimates themselves do not exist: warn
    return issubclass(category, (LamOnEdgeWarning, DegenerateFitWarning))


def parameter(name: str, default: Any, annotation: str = "Any") -> inspect.Parameter:
    """One estimator parameter: its name, default and (string) annotation."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Parameter(name, kind, default=default, annotation=annotation)


def parameters_init(*params: inspect.Parameter) -> Callable[..., None]:
    """An ``__init__`` that stores each of ``params`` in the attribute of its name.

    scikit-learn reads an estimator's parameters from
    ``inspect.signature(cls.__init__)`` (``get_params``, ``clone``); the
    returned method's ``__signature__`` is ``(self, *params)``, so that and
    ``help()`` show every parameter with its default, and a call binds to
    it (an unknown or doubled parameter is a ``TypeError``). As scikit-learn
    asks, nothing is validated here: ``fit`` does that.
    """
    self_ = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    signature = inspect.Signature([self_, *params], return_annotation="None")

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name in signature.parameters:
            if name != "self":
                setattr(self, name, bound.arguments[name])

    init.__signature__ = signature  # type: ignore[attr-defined]
    init.__name__ = "__init__"
    init.__doc__ = "Store the parameters (see the class) in attributes of the same names."
    return init


#: The parameters every estimator has, in the order of the signatures.
COMMON_PARAMETERS = (
    parameter("lam", "gcv", "float | str"),
    parameter("prior", None),
    parameter("penalty", None),
    parameter("standardize", False, "bool"),
    parameter("fit_intercept", True, "bool"),
    parameter("bounds", None),
    parameter("cov_type", "bayes", "str"),
)


class PriorEstimatorBase(BaseEstimator):  # type: ignore[misc]
    """Shared machinery of :mod:`priorreg.sklearn`'s estimators (not public).

    Its ``__init__`` stores :data:`COMMON_PARAMETERS`; an estimator with
    more states its ``__init__`` as :func:`parameters_init` of all of them.
    """

    __init__ = parameters_init(*COMMON_PARAMETERS)

    # ----------------------------------------------------------- data
    def _validate_fit_data(
        self, X: Any, y: Any, sample_weight: Any, *, y_numeric: bool
    ) -> tuple[FloatArray, Any, FloatArray | None]:
        """Validated ``X`` (float64), ``y`` and weights; rows of weight 0 removed.

        A weight of 0 means "this row is not there" (scikit-learn's
        convention); the models accept positive weights only, so those rows
        are dropped here.
        """
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=y_numeric)
        if sample_weight is None:
            return X, y, None
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        keep = sw > 0
        if not keep.all():
            X, y, sw = X[keep], y[keep], sw[keep]
        return X, y, np.asarray(sw, dtype=float)

    def _names(self) -> list[str]:
        """Design column names: the intercept (if fitted) and the features."""
        features = getattr(self, "feature_names_in_", None)
        if features is None:
            features = [f"x{j}" for j in range(self.n_features_in_)]
        features = [str(f) for f in features]
        if not self.fit_intercept:
            return features
        if INTERCEPT in features:
            raise ValueError(
                f"a feature is named {INTERCEPT!r}, the name of the intercept column; "
                "rename it, or pass fit_intercept=False"
            )
        return [INTERCEPT, *features]

    def _design(self, X: FloatArray) -> pd.DataFrame:
        """The model's design matrix as a DataFrame labelled by :meth:`_names`."""
        data = np.column_stack([np.ones(X.shape[0]), X]) if self.fit_intercept else X
        return pd.DataFrame(data, columns=self._names(), copy=False)

    # ----------------------------------------------------------- prior
    def _positional_prior(self, coef: FloatArray, intercept: float, what: str) -> FloatArray:
        p = self.n_features_in_
        if coef.shape != (p,):
            raise ValueError(
                f"the prior {what} has shape {coef.shape}; expected ({p},), one value per "
                "feature of X"
            )
        if self.fit_intercept:
            return np.concatenate([[intercept], coef])
        if intercept != 0.0:
            raise ValueError(
                f"the prior {what} has an intercept ({intercept:.6g}) but "
                "fit_intercept=False: pass fit_intercept=True, or a prior without it"
            )
        return coef

    def _prior_spec(self, names: list[str]) -> Any:
        """``prior`` as :func:`priorreg.prior.align_prior` takes it, for :meth:`_names`.

        Arrays of one value per feature and fitted estimators without feature
        names are aligned by position; everything with names by name.
        """
        prior = self.prior
        if prior is None or isinstance(prior, (Mapping, pd.Series, str)):
            return prior
        if isinstance(prior, FrozenEstimator):
            prior = prior.estimator
        if isinstance(prior, BaseEstimator):
            try:
                check_is_fitted(prior)
            except NotFittedError as exc:
                raise NotFittedError(
                    f"the prior {type(prior).__name__} is not fitted. scikit-learn's clone "
                    "(in GridSearchCV, cross_val_score, ...) gives an unfitted copy of an "
                    "estimator passed as a parameter: pass "
                    "sklearn.frozen.FrozenEstimator(model), which clone keeps as it is"
                ) from exc
        if isinstance(prior, PriorEstimatorBase):
            res = prior.results_
            if set(map(str, res.params.index)) <= set(names) or hasattr(
                prior, "feature_names_in_"
            ):
                return res  # by name (and it carries the information matrix)
        elif hasattr(prior, "params"):
            return prior  # a results object or a PriorFile
        if hasattr(prior, "coef_"):
            if getattr(prior, "feature_names_in_", None) is not None:
                return prior
            coef = np.ravel(np.asarray(prior.coef_, dtype=float))
            intercept = float(np.ravel(getattr(prior, "intercept_", 0.0))[0])
            return self._positional_prior(coef, intercept, type(prior).__name__)
        try:
            arr = np.asarray(prior, dtype=float)
        except (TypeError, ValueError):
            return prior  # the model names what it accepts
        return self._positional_prior(arr, 0.0, "array")

    # ---------------------------------------------------------- penalty
    def _penalty_spec(self, names: list[str]) -> Any:
        """``penalty`` over the design columns; the intercept stays unpenalized.

        Weights (one per feature) and matrices (features x features) get a
        zero entry for the intercept; a dict, Series or DataFrame is matched
        by name. Without an intercept the default is resolved here (``1`` for
        every feature), so a constant feature is penalized like the rest (the
        model would take it for the unpenalized intercept).
        """
        pen = self.penalty
        icpt = 0 if self.fit_intercept else None
        if pen is None and self.fit_intercept:
            return None  # the model's default (and its name in the summary)
        if isinstance(pen, str):
            return pen  # "information" (anything else: the model's error)
        if pen is None or isinstance(pen, (Mapping, pd.Series)):
            return resolve_penalty(pen, names, icpt)
        if isinstance(pen, pd.DataFrame):
            labels = set(map(str, pen.index)) | set(map(str, pen.columns))
            unknown = sorted(labels - set(names))
            if unknown:
                raise ValueError(
                    f"penalty labels not in the design: {unknown}. Valid names: {names}"
                )
            pen = pen.rename(index=str, columns=str).reindex(
                index=names, columns=names, fill_value=0.0
            )
            return resolve_penalty(pen, names, icpt)
        arr = as_float_array(
            pen,
            "penalty must be None, per-feature weights, a matrix, a dict/Series "
            f'by feature name or "information"; got {type(pen).__name__}',
        )
        p = self.n_features_in_
        if arr.shape not in ((p,), (p, p)):
            raise ValueError(
                f"penalty has shape {arr.shape}; expected ({p},) weights, one per "
                f"feature, or a ({p}, {p}) matrix"
            )
        if self.fit_intercept:
            if arr.ndim == 1:
                arr = np.concatenate([[0.0], arr])
            else:
                full = np.zeros((p + 1, p + 1))
                full[1:, 1:] = arr
                arr = full
        return resolve_penalty(arr, names, icpt)

    # ----------------------------------------------------------- bounds
    def _bounds_kwargs(self, model_class: type) -> dict[str, Any]:
        """``{"bounds": ...}`` for the model, or nothing when ``bounds`` is None.

        A sequence of ``(lower, upper)`` pairs, one per feature, gets an open
        pair for the intercept.
        """
        if self.bounds is None:
            return {}
        bounds = self.bounds
        if not isinstance(bounds, (str, Mapping)):
            pairs = list(bounds)
            if self.fit_intercept and len(pairs) == self.n_features_in_:
                pairs = [(None, None), *pairs]
            bounds = pairs
        return {"bounds": bounds}

    # ----------------------------------------------------------- fit
    #: The statsmodels-style model the estimator fits (set by each estimator).
    _model_class: ClassVar[type]
    #: The model's keyword for ``sample_weight``.
    _weights_keyword: ClassVar[str] = "weights"
    #: Whether ``y`` must be numeric (a classifier's labels need not).
    _numeric_y: ClassVar[bool] = True

    def _model_options(self) -> dict[str, Any]:
        """Further keyword arguments of the model (e.g. ``family``), built inside ``fit``."""
        return {}

    def _fit_options(self) -> dict[str, Any]:
        """Further keyword arguments of the model's ``fit`` (e.g. ``maxiter``)."""
        return {}

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Fit the model on ``X`` and ``y`` and keep its results in ``results_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features (a DataFrame sets ``feature_names_in_``).
        y : array-like of shape (n_samples,)
            Response: numbers (in the family's support for a GLM, e.g.
            counts >= 0 for Poisson), or two distinct labels of any type for
            a classifier.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights, 0 drops the row (their meaning is in the
            estimator's Notes).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Invalid data (scikit-learn's validation), a prior or penalty that
            does not fit the features (naming them), a criterion with a
            single sample, or a classifier's ``y`` with fewer or more than two
            classes (after dropping rows of weight 0).
        """
        X, y, sw = self._validate_fit_data(X, y, sample_weight, y_numeric=self._numeric_y)
        self._fit_results(self._response(y), X, sw)
        return self

    def _response(self, y: Any) -> FloatArray:
        """The model's ``endog`` from the validated ``y``."""
        return np.asarray(y, dtype=float)

    def _fit_results(self, y: Any, X: FloatArray, sample_weight: FloatArray | None) -> Any:
        """Build the model on the design of ``X``, fit it, and keep its results.

        The model's warnings are re-issued so that they point at the line
        that called ``fit`` (which must call this method directly), except
        three that concern ``results_``'s inference or the choice of ``lam``
        rather than the predictions, which scikit-learn's own estimators do
        not warn about (in a grid search or cross-validation they would be
        one warning per fold): :class:`~priorreg.LamOnEdgeWarning` (as
        ``RidgeCV``), :class:`~priorreg.SeparationWarning` at ``lam > 0``
        (as ``LogisticRegression``: the penalized estimates are finite) and
        :class:`~priorreg.DegenerateFitWarning` (an exact fit). Their
        messages are kept in ``fit_warnings_``, and ``lam_on_edge_`` says
        whether the first occurred; the summary of ``results_`` states them.
        """
        if isinstance(self.lam, str) and X.shape[0] < 2:
            raise ValueError(
                f"lam={self.lam!r} selects the penalty from the data, which needs more "
                f"than 1 sample (got n_samples = {X.shape[0]}); pass a number for lam"
            )
        names = self._names()
        # collected per thread, not by the process-wide warning filters, so that
        # estimators fitted in parallel threads keep their own warnings
        with kept_warnings(_KEPT) as caught:
            model = self._model_class(
                y,
                self._design(X),
                prior=self._prior_spec(names),
                penalty=self._penalty_spec(names),
                standardize=self.standardize,
                **self._bounds_kwargs(self._model_class),
                **self._model_options(),
                **{self._weights_keyword: sample_weight},
            )
            results = model.fit(lam=self.lam, cov_type=self.cov_type, **self._fit_options())
        lam = float(results.lam)
        recorded = [(message, cat) for message, cat in caught if _recorded(cat, lam)]
        self.fit_warnings_ = [message for message, _ in recorded]
        self.lam_on_edge_ = any(issubclass(cat, LamOnEdgeWarning) for _, cat in recorded)
        for message, cat in caught:
            if not _recorded(cat, lam):
                warnings.warn(message, cat, stacklevel=3)
        self._keep(results)
        return results

    def _keep(self, results: Any) -> None:
        """Set the fitted attributes from the model's results."""
        params = np.asarray(results.params, dtype=float)
        self.results_ = results
        self.lam_ = float(results.lam)
        self.intercept_ = float(params[0]) if self.fit_intercept else 0.0
        self.coef_ = params[1:] if self.fit_intercept else params

    def _linear_predictor(self, X: Any) -> FloatArray:
        """``X coef_ + intercept_`` for new data (validated against the fit)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ np.ravel(self.coef_) + float(np.ravel(self.intercept_)[0])
