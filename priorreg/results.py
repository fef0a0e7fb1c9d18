"""Results of a ``PriorRidge`` fit: estimates, inference, selection, prediction."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.base import wrapper as wrap
from statsmodels.base.model import LikelihoodModelResults, LikelihoodResultsWrapper
from statsmodels.iolib.summary import Summary
from statsmodels.regression._prediction import PredictionResults

from priorreg import backends
from priorreg import formula as _formula
from priorreg._sm_attributes import LinearAttributes
from priorreg._typing import ArrayLike, FloatArray, Predicted
from priorreg.compat import two_sample_for
from priorreg.exceptions import DegenerateFitWarning, warn
from priorreg.fits import LinearFit
from priorreg.inference import (
    CompatibilityTest,
    DataShare,
    compatibility_test,
    sandwich_cov,
    variance_share,
)
from priorreg.options import model_options, refine_kwargs
from priorreg.plotting import plot_criterion, plot_path, plot_shrinkage
from priorreg.prior import save_prior
from priorreg.selection import Selection, loocv
from priorreg.summary import results_summary
from priorreg.unconditional import reml_curvature, unconditional_cov
from priorreg.units import warn_penalty_units

__all__ = ["PriorRidgeResults", "PriorRidgeResultsWrapper"]


#: Residuals below this share of the response's size, squared, are rounding
#: (eps ~ 2.2e-16 times a margin of 1e3 for the ~k n operations of a fit).
_EXACT_RSS = (1e3 * float(np.finfo(float).eps)) ** 2


def _warn_degenerate_scale(scale: float, df_resid: float, exact: bool = False) -> None:
    """Say so when standard errors cannot be meaningful (``exact``: residuals are rounding)."""
    if not df_resid > 0 and not np.isfinite(scale):
        warn(
            f"no residual degrees of freedom (df_resid = {df_resid:.3g}): the scale "
            "cannot be estimated, so standard errors, tests and intervals are NaN. "
            "Use a larger lam or more observations.",
            DegenerateFitWarning,
        )
    elif scale == 0 or exact:
        warn(
            "the fit is exact (residual sum of squares 0 to rounding, e.g. a constant "
            "response): standard errors are 0, tests are undefined, R-squared is NaN for a "
            "constant response, and no criterion can choose lam.",
            DegenerateFitWarning,
        )


class PriorRidgeResults(LinearAttributes, LikelihoodModelResults):  # type: ignore[misc]
    r"""Results of :meth:`PriorRidge.fit`.

    The estimates are ``params``; the prior they were pulled towards is
    ``prior``. ``normalized_cov_params`` is always
    :math:`(X'WX + \lambda L)^{-1}` (the posterior precision's inverse);
    ``cov_type`` changes only :meth:`cov_params` (``"bayes"``:
    ``scale * (X'WX + lam L)^-1``; ``"sandwich"``:
    ``scale * A^-1 X'WX A^-1``). Tests and intervals use the t
    distribution with ``df_resid = n - edf`` degrees of freedom.

    Attributes
    ----------
    lam : float
        Penalty weight used.
    lam_method : str
        ``"fixed"``, ``"gcv"``, ``"loocv"`` or ``"reml"``.
    lam_path : DataFrame or None
        The grid searched: ``lam``, ``edf``, ``rss``, ``gcv``, ``reml``
        (and ``loocv``); ``None`` for a fixed ``lam``.
    edf : float
        Effective degrees of freedom, ``trace(H)``.
    edf_params : ndarray
        ``diag((X'WX + lam L)^-1 X'WX)``, summing to ``edf``.
    df_resid : float
        ``n - edf``.
    scale : float
        ``RSS_w / df_resid``.
    """

    def __init__(
        self,
        model: Any,
        fit: LinearFit,
        *,
        selection: Selection | None = None,
        cov_type: str = "bayes",
    ) -> None:
        super().__init__(
            model,
            fit.params,
            normalized_cov_params=fit.normalized_cov,
            scale=1.0,
            use_t=self._use_t_for(model),
        )
        self._fit = fit
        self.nobs = model.nobs
        self.lam = fit.lam
        self.edf = fit.edf
        self.df_resid = self._n_effective(model) - fit.edf
        self.df_model = fit.edf - model.k_constant
        self.ssr = fit.rss
        self.scale = self._scale_of(fit)
        _warn_degenerate_scale(self.scale, self.df_resid, self._exact_fit(model, fit))
        warn_penalty_units(getattr(model, "units_message", None), self.lam)
        self.prior = model.prior_values
        self.fittedvalues = fit.fittedvalues
        self.resid = fit.resid
        self.cov_type = cov_type
        self.selection = selection
        self.lam_method = "fixed" if selection is None else selection.criterion
        self.penalized = model.penalty_weights > 0
        if cov_type == "sandwich":
            self.cov_params_default = self.scale * sandwich_cov(
                self.normalized_cov_params, model.penalty_matrix, fit.lam
            )
        elif cov_type == "unconditional" and selection is not None and fit.lam > 0:
            # at a fixed lam there is no selection to allow for: "bayes"
            self.cov_params_default = unconditional_cov(
                np.asarray(self.normalized_cov_params),
                model.penalty_matrix,
                fit.lam,
                np.asarray(fit.params) - model.prior_values,
                self.scale,
                self.reml_curvature,
                J=self._params_derivative(),
            )

    #: Step in log(lam) of the REML curvature: the score is exact to rounding,
    #: eps |score| / h^2 ~ 1e-9 for |score| ~ 1e3, and the truncation error
    #: h^2 |s^(4)| / 12 ~ 1e-5 relative.
    _CURVATURE_STEP = 1e-2

    @cached_property
    def reml_curvature(self) -> float:
        """Second derivative of the REML score in ``log(lam)`` at the fitted ``lam``.

        Its inverse is the variance of ``log(lam)`` used by
        ``cov_type="unconditional"`` (:mod:`priorreg.unconditional`).
        """
        return reml_curvature(self._reml_at, self.lam, self._CURVATURE_STEP)

    def _reml_at(self, lam: float) -> float:
        return float(self.model.factor.reml(lam))

    def _params_derivative(self) -> FloatArray | None:
        """``d params / d log(lam)``; None: the linear one of :mod:`priorreg.unconditional`."""
        return None

    @property
    def normalized_cov_params(self) -> FloatArray:
        """``(X'WX + lam L)^{-1}``; a ``k x k`` matrix formed on first use."""
        if callable(self._normalized_cov):
            self._normalized_cov = self._normalized_cov()
        return self._normalized_cov

    @normalized_cov_params.setter
    def normalized_cov_params(self, value: Any) -> None:
        self._normalized_cov = value

    @cached_property
    def _cov_diagonal(self) -> FloatArray:
        """``diag(normalized_cov_params)``, without the matrix when the fit can."""
        diagonal = getattr(self._fit, "cov_diagonal", None)
        if diagonal is None:
            return np.diagonal(self.normalized_cov_params).copy()
        return np.asarray(diagonal())

    @cached_property
    def bse(self) -> FloatArray:
        """Standard errors: ``sqrt(scale * diag(normalized_cov_params))`` (or of the sandwich)."""
        if getattr(self, "cov_params_default", None) is not None:  # sandwich, unconditional
            return np.sqrt(np.diag(self.cov_params()))
        return np.sqrt(self.scale * self._cov_diagonal)

    @cached_property
    def edf_params(self) -> FloatArray:
        r"""Effective degrees of freedom per coefficient, :math:`\operatorname{diag}(S)`.

        :math:`S = (X'WX + \lambda L)^{-1} X'WX = I - \lambda (X'WX + \lambda L)^{-1} L`.
        """
        if self._fit.edf_params is not None:
            return self._fit.edf_params
        return 1.0 - self.lam * self._cov_diagonal * self.model.penalty_weights

    @staticmethod
    def _use_t_for(model: Any) -> bool:
        return True

    @staticmethod
    def _exact_fit(model: Any, fit: Any) -> bool:
        """Residuals that are rounding of the response (a linear model's exact fit)."""
        if model.endog is None:  # out of core: an exact fit shows as a zero scale
            return False
        y = model.endog if model.offset is None else model.endog - model.offset
        w = 1.0 if model.weights is None else model.weights
        return bool(fit.rss <= _EXACT_RSS * float(np.sum(w * y**2)))

    @staticmethod
    def _n_effective(model: Any) -> float:
        return float(model.nobs)

    def _scale_of(self, fit: Any) -> float:
        return fit.rss / self.df_resid if self.df_resid > 0 else float("nan")

    # -------------------------------------------------------------- paths
    @cached_property
    def lam_path(self) -> pd.DataFrame | None:
        """The criteria on the searched grid (``None`` for a fixed ``lam``)."""
        if self.selection is None:
            return None
        return pd.DataFrame(self.selection.path)

    @cached_property
    def gcv(self) -> float:
        """``n RSS_w / (n - edf)^2`` at the fitted ``lam``."""
        n = self.nobs
        return float(n * self.ssr / (n - self.edf) ** 2) if n > self.edf else float("inf")

    @cached_property
    def loocv(self) -> float:
        """Exact leave-one-out mean squared weighted error at ``lam``."""
        model = self.model
        return float(loocv(model.factor, model._weighted_data[1], np.array([self.lam]))[0])

    @cached_property
    def reml(self) -> float:
        """Negative restricted log-likelihood at ``lam`` (see ``PathFactor.reml``)."""
        return float(self.model.factor.reml(self.lam))

    @cached_property
    def hat_diag(self) -> FloatArray:
        """Leverages ``h_ii``, the diagonal of ``H = X (X'WX + lam L)^-1 X'W``."""
        return np.asarray(self.model.factor.leverage(self.lam))

    # ---------------------------------------------------------- goodness
    @cached_property
    def rsquared(self) -> float:
        """``1 - RSS_w / TSS_w``.

        TSS of ``y - offset`` about the weighted mean when there is an
        intercept, about zero otherwise (as statsmodels and R's ``lm``).
        NaN when TSS is 0 (a constant response, or one row): there is no
        variation to explain.
        """
        tss = self._tss
        # a constant response (or a single row) has nothing to explain: NaN, as R
        return 1.0 - self.ssr / tss if tss > 0 else float("nan")

    @cached_property
    def llf(self) -> float:
        r"""Gaussian log-likelihood at the estimates with :math:`\sigma^2 = \mathrm{RSS}_w/n`.

        :math:`-\frac n2 (\log(2\pi\,\mathrm{RSS}_w/n) + 1) + \frac12\sum\log w_i`
        (statsmodels' OLS/WLS convention).
        """
        n = self.nobs
        if self.ssr <= 0:  # an exact fit: the likelihood is unbounded, as statsmodels' OLS
            return float("inf")
        out = -n / 2 * (np.log(2 * np.pi * self.ssr / n) + 1)
        if self.model.weights is not None:
            out += 0.5 * np.sum(np.log(self.model.weights))
        return float(out)

    @cached_property
    def aic(self) -> float:
        """``-2 llf + 2 edf``."""
        return -2 * self.llf + 2 * self.edf

    @cached_property
    def bic(self) -> float:
        """``-2 llf + log(n) edf``."""
        return -2 * self.llf + np.log(self.nobs) * self.edf

    # ---------------------------------------------------------- diagnostics
    def compatibility_test(self) -> CompatibilityTest:
        """Test whether the new data are compatible with the prior.

        The two-sample Wald comparison when the prior is a fitted model with a
        covariance and these data identify every coefficient
        (:mod:`priorreg.compat`; ``method="two-sample"``, independent of
        ``lam``); otherwise Theil's test at the fitted ``lam``
        (:func:`priorreg.inference.compatibility_test`, ``method="theil"``).
        """
        if self._two_sample is not None:
            return self._two_sample
        return compatibility_test(self.model.factor, self.lam, self.scale)

    @cached_property
    def _two_sample(self) -> CompatibilityTest | None:
        return two_sample_for(self, self._unpenalized_fit)

    def _unpenalized_fit(self) -> tuple[FloatArray, FloatArray, float]:
        """``(params, cov, df_resid)`` of OLS/WLS on these data (same weights, offset)."""
        fit = self.model.solve(0.0)  # a ValueError when the data do not identify b
        ncov = fit.normalized_cov() if callable(fit.normalized_cov) else fit.normalized_cov
        df = self.nobs - self.model.k_params
        return fit.params, fit.rss / df * np.asarray(ncov), df

    def data_share(self) -> DataShare:
        """Share of each estimate's information that comes from the data."""
        per = pd.Series(self.edf_params, index=list(self.model.exog_names), name="data_share")
        diagonal = self.model.penalty.is_diagonal
        spread = None
        if not diagonal:
            L = self.model.penalty_matrix
            spread = variance_share(
                self.normalized_cov_params, L, float(self.lam), list(self.model.exog_names)
            )
        overall = float(self.edf / self.model.k_params)
        return DataShare(per, overall, diagonal=diagonal, variance_share=spread)

    def share_data(self) -> DataShare:
        """Deprecated alias of :meth:`data_share` (the old name read as a verb)."""
        warn(
            "share_data() is now data_share(); the old name will be removed in a "
            "future release: call res.data_share()",
            FutureWarning,
        )
        return self.data_share()

    # ---------------------------------------------------------- prediction
    def _exog_for(self, exog: Any, transform: bool = True) -> tuple[FloatArray, Any]:
        """Design rows of ``exog``: through the formula when ``transform``, else as given."""
        if exog is None:
            return self.model.exog, self.model.data.row_labels
        design = self.model.design
        if transform and design is not None and isinstance(exog, (pd.DataFrame, pd.Series, dict)):
            X = _formula.exog_for(design, exog)
            return X.to_numpy(dtype=float), X.index
        labels = exog.index if isinstance(exog, pd.DataFrame) else None
        try:
            X = np.asarray(exog, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"exog must be numeric rows of the design matrix, with columns "
                f"{list(self.model.exog_names)} ({exc}); pass the data with "
                "transform=True to build those rows through the formula"
            ) from None
        if X.ndim == 1:
            X = X[None, :] if X.size == self.model.k_params else X[:, None]
        if X.ndim != 2 or X.shape[1] != self.model.k_params:
            raise ValueError(
                f"exog has shape {np.shape(exog)}; expected (n, {self.model.k_params}) "
                f"with columns {list(self.model.exog_names)}"
            )
        return X, labels

    def predict(  # type: ignore[override]
        self, exog: Any = None, offset: ArrayLike | None = None, transform: bool = True
    ) -> Predicted:
        """Predicted mean ``x'b + offset``.

        New data go through the formula (a DataFrame), with the training
        statistics of stateful transforms; ``exog=None`` predicts the
        training rows. With ``transform=False`` (as in statsmodels) ``exog``
        is taken as rows of the design matrix itself, one column per
        coefficient.
        """
        backend = backends.backend_for(exog)
        if backend is not None:
            return backend.implementation().predict(self, exog, offset=offset)
        X, labels = self._exog_for(exog, transform)
        if exog is None and offset is None:
            return self._labelled(self.model.predict(self.params), labels)
        return self._labelled(self.model.predict(self.params, X, offset), labels)

    @staticmethod
    def _labelled(pred: FloatArray, labels: Any) -> FloatArray | pd.Series:
        """Predictions as a Series ``"predicted"`` indexed by the rows' labels, if any."""
        return pred if labels is None else pd.Series(pred, index=labels, name="predicted")

    def get_prediction(  # type: ignore[override]
        self,
        exog: Any = None,
        offset: ArrayLike | None = None,
        weights: ArrayLike | None = None,
        *,
        transform: bool = True,
    ) -> PredictionResults:
        """Predictions with standard errors for the mean and a new observation.

        ``var_mean = x' cov_params() x``; a new observation adds
        ``scale / weight``. ``summary_frame(alpha)`` gives both intervals.
        ``exog`` and ``transform`` are as for :meth:`predict`.
        """
        X, labels = self._exog_for(exog, transform)
        pred = np.asarray(self.model.predict(self.params, X if exog is not None else None, offset))
        if exog is None and offset is None:
            pred = np.asarray(self.fittedvalues)
        cov = np.asarray(self.cov_params())
        var_mean = np.einsum("ij,jk,ik->i", X, cov, X)
        if weights is None:
            w = self.model.weights if exog is None and self.model.weights is not None else 1.0
        else:
            w = np.asarray(weights, dtype=float)
        var_resid = self.scale / np.asarray(w, dtype=float) * np.ones_like(pred)
        return PredictionResults(
            pred,
            var_mean,
            var_resid,
            df=self.df_resid,
            dist="t",
            row_labels=None if labels is None else list(labels),
        )

    # ------------------------------------------------------------- reuse
    def save_prior(self, path: str | Path) -> None:
        """Write names, estimates and normalized covariance as JSON.

        Read it back with :func:`priorreg.load_prior`; it works as ``prior=``
        and with ``penalty="information"``.
        """
        save_prior(self._results_wrapper(), path)

    def _results_wrapper(self) -> Any:
        return PriorRidgeResultsWrapper(self)

    #: Keyword arguments of ``refine`` that go to ``fit`` rather than to the model.
    _fit_keys: tuple[str, ...] = ("disp",)

    def _carried_fit_options(self) -> dict[str, Any]:
        """Options of this fit that a refinement reuses unless given (GLM: the scale)."""
        return {}

    def refine(
        self,
        newdata: Any,
        *,
        lam: float | str = "gcv",
        lams: ArrayLike | None = None,
        cov_type: str = "bayes",
        missing: str | None = None,
        **model_kwargs: Any,
    ) -> PriorRidgeResultsWrapper:
        """Refit the same model on new data with these estimates as the prior.

        The new data are coded with this fit's formula and design (same
        columns, categorical coding and stateful-transform statistics), so
        a small new dataset that lacks a categorical level still refines
        every coefficient; coefficients the new data do not inform stay at
        the prior. Everything else the model was built with that describes
        the rows is reapplied: per-row options given as column names
        (``weights``, ``offset``, ``exposure``, ``freq_weights``,
        ``var_weights``) are read from ``newdata`` by the same names; the
        family and link, the missing-value policy, ``standardize`` and the
        GLM scale option (``fit(scale=...)``) are kept. The penalty is not
        carried over (pass ``penalty="information"`` to use this fit's
        precision).

        Parameters
        ----------
        newdata : DataFrame
            The new data (the model must come from a formula).
        lam, lams, cov_type
            As the model's ``fit``.
        missing : {"drop", "raise"}, optional
            Rows of ``newdata`` with missing values; default as this model.
        **model_kwargs
            Overrides: model options (``penalty``, ``standardize``, ``family``,
            per-row options as a column name or one value per row of
            ``newdata``, or None to drop one) and ``fit`` options (``disp``;
            GLM also ``scale``, ``maxiter``, ``tol``).

        Returns
        -------
        results
            Of the same class as this one; equal to
            ``Model.from_formula(formula, newdata, <same options>,
            prior=this).fit(lam=...)``.

        Raises
        ------
        ValueError
            A per-row option that was given as an array (one value per row
            of the old data) and is not given again: it cannot describe the
            new rows, so pass it again, e.g.
            ``refine(newdata, exposure=newdata["months"])``.
        """
        design = self.model.design
        if design is None:
            raise TypeError(
                "refine(newdata) needs a model built with from_formula; for arrays "
                "refit the model class with prior=results on the new arrays"
            )
        fit_kwargs: dict[str, Any] = {"lam": lam, "lams": lams, "cov_type": cov_type}
        fit_kwargs.update(self._carried_fit_options())
        for key in self._fit_keys:
            if key in model_kwargs:
                fit_kwargs[key] = model_kwargs.pop(key)
        options = model_options(self)
        kwargs = refine_kwargs(options, {**self.model._refine_kwargs(), **model_kwargs})
        missing = options.missing if missing is None else missing
        backend = backends.backend_for(newdata)
        if backend is not None:
            return backend.implementation().refine(
                self, newdata, missing=missing, fit_kwargs=fit_kwargs, **kwargs
            )
        new_design = _formula.rebuild_design(design, newdata, missing)
        model = type(self.model)._from_design(
            new_design, newdata, prior=self._results_wrapper(), **kwargs
        )
        return model.fit(**fit_kwargs)

    # ------------------------------------------------------------ summary
    def summary(  # type: ignore[override]
        self,
        yname: str | None = None,
        xname: list[str] | None = None,
        title: str | None = None,
        alpha: float = 0.05,
    ) -> Summary:
        """A statsmodels ``Summary`` of the fit.

        The header shows the penalty (a GLM's family and link), how ``lam``
        was chosen, edf, scale and diagnostics; the coefficient table shows
        the prior beside each estimate.
        """
        return results_summary(self, yname=yname, xname=xname, title=title, alpha=alpha)

    # ------------------------------------------------------------- plots
    def plot_path(self, **kwargs: Any) -> Any:
        """Coefficients against ``lam`` (see :mod:`priorreg.plotting`)."""
        return plot_path(self._results_wrapper(), **kwargs)

    def plot_criterion(self, **kwargs: Any) -> Any:
        """The selection criterion against ``lam``."""
        return plot_criterion(self._results_wrapper(), **kwargs)

    def plot_shrinkage(self, **kwargs: Any) -> Any:
        """Prior, data-only and refined estimates side by side."""
        return plot_shrinkage(self._results_wrapper(), **kwargs)


class PriorRidgeResultsWrapper(wrap.ResultsWrapper):  # type: ignore[misc]
    """Attaches column and row labels (pandas) to ``PriorRidgeResults``."""

    _attrs = wrap.union_dicts(
        LikelihoodResultsWrapper._attrs,
        {"prior": "columns", "edf_params": "columns", "hat_diag": "rows"},
    )
    _wrap_attrs = _attrs
    _wrap_methods = LikelihoodResultsWrapper._wrap_methods


wrap.populate_wrapper(PriorRidgeResultsWrapper, PriorRidgeResults)
