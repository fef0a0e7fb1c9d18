r"""``PriorGLM``: generalized linear models with a prior-centred penalty.

Minimises the penalized deviance :math:`D(b) + \lambda (b-b_0)'L(b-b_0)` by
penalized IRLS (:mod:`priorreg.irls`), with the families and links of
``statsmodels.genmod.families``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.genmod import families as smf

from priorreg import families as _families
from priorreg import formula as _formula
from priorreg import scale as _scale
from priorreg._typing import ArrayLike, CovType, FloatArray
from priorreg.base import PriorModel
from priorreg.checks import as_grid
from priorreg.exceptions import ConvergenceWarning, warn
from priorreg.fits import FitRequest, GLMFit
from priorreg.glm_results import PriorGLMResults, PriorGLMResultsWrapper
from priorreg.glm_search import GLMSearch, laplace_reml
from priorreg.gram_irls import GramPoint, fixed_lam_irls, gram_summary
from priorreg.irls import (
    ArrayData,
    ArrayPoint,
    IRLSProblem,
    IRLSResult,
    penalized_irls,
    working_selector,
)
from priorreg.linear import _check_cov_type, _check_lam
from priorreg.multi_fit import fit_glm as _fit_several
from priorreg.multi_select import small_blas
from priorreg.progress import SearchStep, reporter
from priorreg.selection import Selection
from priorreg.separation import model_separation, warn_separation

__all__ = ["GLM_CRITERIA", "GLMFit", "PriorGLM"]

GLM_CRITERIA = ("gcv", "ubre", "aic", "loocv", "reml")
#: Criteria that need only the deviance, edf and likelihood at a fit: the
#: penalty search evaluates them by Gram-matrix IRLS (:mod:`priorreg.gram_irls`).
_GRAM_CRITERIA = ("gcv", "ubre", "aic")


def _boolean_response(endog: Any) -> Any:
    """A formula's boolean response (patsy codes it as [False], [True]) as 0/1."""
    if isinstance(endog, pd.DataFrame) and endog.shape[1] == 2:
        first, second = (str(c) for c in endog.columns)
        if first.endswith("[False]") and second.endswith("[True]"):
            out = endog.iloc[:, 1].astype(float)
            out.name = second[: -len("[True]")]
            return out
    return endog


class PriorGLM(PriorModel):
    r"""Generalized linear model with an L2 penalty centred on prior coefficients.

    Minimises :math:`D(b) + \lambda (b - b_0)' L (b - b_0)` where ``D`` is the
    deviance of the family with prior weights ``freq_weights * var_weights``
    and linear predictor :math:`\eta = o + \log(\mathrm{exposure}) + Xb`.

    Parameters
    ----------
    endog : array-like of shape (n_obs,) or (n_obs, 2)
        Response; for the binomial also proportions (with ``var_weights`` =
        trials) or two columns (successes, failures).
    exog : array-like of shape (n_obs, n_coef)
        Design matrix; a constant column is the (unpenalized) intercept.
    family : statsmodels family, default Gaussian()
        E.g. ``sm.families.Poisson()``, ``sm.families.Binomial()``.
    prior, penalty, standardize
        As for :class:`priorreg.PriorRidge`.
    offset, exposure : array-like of shape (n_obs,), optional
        Known part of the linear predictor; ``exposure`` enters as its log.
    freq_weights, var_weights : array-like of shape (n_obs,), optional
        Frequency weights (replicated rows) and variance weights.
    scale : float, optional
        Deprecated (``FutureWarning``): pass ``fit(scale=...)``. Until
        removed, it is the default of ``fit(scale=None)``.
    missing : {"none", "drop", "raise"}
    bounds : None, "nonnegative", dict or sequence of pairs
        As for :class:`priorreg.PriorRidge`: the model is then a
        :class:`~priorreg.bounded_glm.BoundedPriorGLM` (also for
        ``bounds=None`` given explicitly).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm, priorreg as pr
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(200), rng.normal(size=(200, 2))])
    >>> y = rng.poisson(np.exp(X @ [0.5, 0.3, -0.2]))
    >>> res = pr.PriorGLM(y, X, family=sm.families.Poisson(),
    ...                   prior=[0.5, 0.3, -0.2]).fit(lam=10.0)
    >>> bool(res.converged), res.params.shape
    (True, (3,))
    """

    _row_keys = ("offset", "exposure", "freq_weights", "var_weights")
    _positive_keys = ("exposure", "freq_weights", "var_weights")
    _endog_columns = (1, 2)

    def __init__(
        self,
        endog: ArrayLike,
        exog: ArrayLike,
        family: Any = None,
        *,
        prior: Any = None,
        penalty: Any = None,
        offset: ArrayLike | None = None,
        exposure: ArrayLike | None = None,
        freq_weights: ArrayLike | None = None,
        var_weights: ArrayLike | None = None,
        scale: float | None = None,
        standardize: bool = False,
        missing: str = "none",
        design: _formula.Design | None = None,
        bounds: Any = None,
    ) -> None:
        self.family = _families.check_family(smf.Gaussian() if family is None else family)
        endog = _boolean_response(endog)
        super().__init__(
            endog,
            exog,
            prior=prior,
            penalty=penalty,
            standardize=standardize,
            missing=missing,
            design=design,
            offset=offset,
            exposure=exposure,
            freq_weights=freq_weights,
            var_weights=var_weights,
            bounds=bounds,
        )
        n = self.endog.shape[0]
        var_w = np.ones(n) if self.var_weights is None else self.var_weights.copy()
        if self.endog.ndim == 2:
            if not isinstance(self.family, smf.Binomial):
                raise ValueError("a two-column response is only for the Binomial family")
            succ, fail = self.endog[:, 0], self.endog[:, 1]
            if np.any(succ < 0) or np.any(fail < 0) or np.any(succ + fail <= 0):
                raise ValueError(
                    "two-column binomial response needs successes >= 0, failures >= 0 "
                    "and at least one trial per row"
                )
            trials = succ + fail
            self.endog_response = succ / trials
            var_w = var_w * trials
        else:
            self.endog_response = self.endog
        _families.check_response(self.family, self.endog_response)
        self.var_weights_total = var_w
        self.freq_weights_total = (
            np.ones(n) if self.freq_weights is None else self.freq_weights.copy()
        )
        total_offset = np.zeros(n)
        if self.offset is not None:
            total_offset = total_offset + self.offset
        if self.exposure is not None:
            total_offset = total_offset + np.log(self.exposure)
        self.offset_total = total_offset
        self.scaletype = _scale.model_scale(scale)
        self.wnobs = float(self.freq_weights_total.sum())

    def _penalty_scale_weights(self) -> FloatArray | None:
        return self.freq_weights

    @cached_property
    def problem(self) -> IRLSProblem:
        """The arrays of the penalized IRLS problem (built once)."""
        return IRLSProblem(
            X=self.exog,
            y=self.endog_response,
            family=self.family,
            offset=self.offset_total,
            freq_weights=self.freq_weights_total,
            var_weights=self.var_weights_total,
            b0=self.prior_values,
            L=self.penalty_matrix,
            intercept=self.intercept_idx,
        )

    # ----------------------------------------------------------- numbers
    def _scale_for(
        self, mu: FloatArray | None, edf: float, pearson: float, deviance: float = math.nan
    ) -> float:
        """The dispersion of :mod:`priorreg.scale` for this model's scale option."""
        return _scale.dispersion(self.scaletype, self.family, pearson, deviance, self.wnobs - edf)

    def _irls_data(self) -> ArrayData:
        """The data as :func:`priorreg.irls.irls_loop` and the criteria read them."""
        return ArrayData(self.problem)

    def _point_of(self, fit: GLMFit) -> ArrayPoint:
        """The estimate of ``fit`` as its data's point (no pass)."""
        return ArrayPoint(fit.params, fit.eta, fit.fittedvalues, fit.deviance)

    def _llf(self, point: Any, scale: float) -> float:
        """The ``llf`` of statsmodels at ``point`` (an estimate with ``mu``) and ``scale``."""
        fam = self.family
        if isinstance(fam, smf.Gaussian) and isinstance(fam.link, smf.links.Identity):
            # statsmodels' convention: the Gaussian likelihood concentrated in the scale
            iw = self.freq_weights_total * self.var_weights_total
            scale = float(np.sum(iw * (self.endog_response - point.mu) ** 2) / self.wnobs)
        return self._irls_data().loglike(point, scale)

    def _finish(self, r: IRLSResult, gram: GramPoint | None = None) -> GLMFit:
        """Covariance, edf, scale and likelihood at a converged fit.

        With ``gram`` (the Gram matrix at the fit) they come from its
        Cholesky factor and the path factorization waits until something
        needs it (:func:`priorreg.gram_irls.gram_summary`).
        """
        problem = self.problem
        lam = r.lam
        summary = None if gram is None else gram_summary(problem, r, gram)
        if summary is None:
            factor, zw = problem.factor(r.eta, r.mu)
            K = factor.cov_factor(lam)
            ncov = K @ K.T
            edf = float(factor.edf(lam))
        else:
            factor, zw = summary.factor, summary.zw  # type: ignore[assignment]
            ncov, edf = summary.normalized_cov, summary.edf
        edf_params = 1.0 - lam * np.einsum("ij,ji->i", ncov, self.penalty_matrix)
        iw = self.freq_weights_total * self.var_weights_total
        resid = self.endog_response - r.mu
        with np.errstate(all="ignore"):
            pearson = float(np.sum(iw * resid**2 / self.family.variance(r.mu)))
        scale = self._scale_for(r.mu, edf, pearson, r.deviance)
        return GLMFit(
            lam=lam,
            params=r.params,
            normalized_cov=ncov,
            edf=edf,
            edf_params=edf_params,
            fittedvalues=r.mu,
            resid=resid,
            rss=pearson,
            scale=scale,
            eta=r.eta,
            deviance=r.deviance,
            pearson_chi2=pearson,
            llf=self._llf(r, scale),
            converged=r.converged,
            iterations=r.iterations,
            factor=factor,
            zw=zw,
        )

    # -------------------------------------------------------- criteria
    def criterion(self, fit: GLMFit, name: str) -> float:
        r"""Selection criterion at a converged fit.

        With :math:`n = \sum f_i`, deviance ``D`` and ``edf``:
        ``gcv`` :math:`= nD/(n-\mathrm{edf})^2`; ``ubre`` :math:`= D/n +
        2\phi\,\mathrm{edf}/n - \phi` (known scale :math:`\phi`); ``aic``
        :math:`= -2\ell + 2\,\mathrm{edf}`; ``loocv``: mean leave-one-out
        deviance with :math:`\eta_{-i} \approx \eta_i - e_i h_{ii}/(1-h_{ii})`
        (``e`` the working residual, ``h`` the leverages); ``reml``: the
        Laplace approximation of the negative restricted log-likelihood,

        .. math::

            -\ell(\hat b;\phi) + \frac{\lambda P}{2\phi}
            + \tfrac12\big(\log|X'WX + \lambda L| - \log|\lambda L|_+\big)
            - \tfrac{k_0}{2}\log(2\pi\phi),

        with the scale profiled out when it is not known (exact for the
        Gaussian family, where it equals the linear REML).
        """
        if name in _GRAM_CRITERIA:
            return self._deviance_criterion(name, fit.deviance, fit.edf, lambda: fit.llf)
        if name == "loocv":
            return self._loo_deviance(fit)
        if name == "reml":
            return self._laplace_reml(fit)
        raise ValueError(f"unknown criterion {name!r}; use one of {GLM_CRITERIA}")

    def _deviance_criterion(
        self, name: str, deviance: float, edf: float, llf: Callable[[], float]
    ) -> float:
        """``gcv``, ``ubre`` or ``aic`` from the deviance, edf and log-likelihood."""
        n = self.wnobs
        if name == "gcv":
            dfr = n - edf
            return n * deviance / dfr**2 if dfr > 0 else math.inf
        if name == "ubre":
            phi = self._known_scale("ubre")
            return deviance / n + 2 * phi * edf / n - phi
        return -2 * llf() + 2 * edf

    def _llf_at(self, point: Any, edf: float) -> float:
        """Log-likelihood at ``point`` (with ``mu``) with the scale of a fit of ``edf``."""
        mu = point.mu
        pearson = deviance = math.nan
        if _scale.needs_pearson(self.scaletype, self.family):
            iw = self.freq_weights_total * self.var_weights_total
            with np.errstate(all="ignore"):
                resid = self.endog_response - mu
                pearson = float(np.sum(iw * resid**2 / self.family.variance(mu)))
        if _scale.needs_deviance(self.scaletype):
            deviance = float(self.problem.deviance(mu))
        return self._llf(point, self._scale_for(mu, edf, pearson, deviance))

    def _known_scale(self, what: str) -> float:
        return _scale.known_scale(self.scaletype, self.family, what)

    def _loo_deviance(self, fit: GLMFit) -> float:
        """Approximate leave-one-out deviance of ``fit`` (its data's :meth:`loo_deviance`)."""
        return self._irls_data().loo_deviance(self._point_of(fit), fit.factor, fit.lam)

    def _penalty_value(self, params: FloatArray) -> float:
        """``(b - b0)' L (b - b0)``."""
        return self.problem.penalty(params)

    def _loglike_of(self, fit: GLMFit) -> Callable[[float], float]:
        """The log-likelihood of ``fit`` as a function of the scale (its data's :meth:`loglike`)."""
        data, point = self._irls_data(), self._point_of(fit)
        return lambda phi: data.loglike(point, phi)

    def _laplace_reml(self, fit: GLMFit) -> float:
        lam = fit.lam
        if lam <= 0 and fit.factor.n_pen:
            return math.inf
        factor = fit.factor
        k0 = factor.n_unpen
        pen = lam * self._penalty_value(np.asarray(fit.params, dtype=float))
        log_det = float(factor.log_det_ratio(lam)) if factor.n_pen else float(factor.log_det_const)
        _scale.check_criterion_scale("reml", self.scaletype, self.family)
        phi: float | None = None
        if isinstance(self.scaletype, float):
            phi = self.scaletype
        elif _families.is_known_scale(self.family):
            phi = 1.0
        value, _ = laplace_reml(
            self._loglike_of(fit), pen, log_det, k0, phi, fit.pearson_chi2, self.wnobs
        )
        return value

    # ------------------------------------------------------------- fit
    def _irls(
        self,
        lam: float,
        start: FloatArray | None,
        maxiter: int,
        tol: float,
        start_fit: GLMFit | None = None,
    ) -> GLMFit:
        """Converged fit at ``lam``; ``start_fit`` warm-starts from another fit.

        Subclasses (bounded, Dask) answer the request in ``_converged``.
        """
        return self._converged(FitRequest(lam, start, maxiter, tol, start_fit))

    def _converged(self, req: FitRequest) -> GLMFit:
        """Penalized IRLS on the in-memory data to convergence.

        A converged fit carries the factorization at its estimate, which holds
        for every ``lam``: the first IRLS step from it needs no new one.
        """
        lam, start, maxiter, tol = req.lam, req.start_params, req.maxiter, req.tol
        start_factor = None
        if req.start_fit is not None:
            start_factor = (req.start_fit.factor, req.start_fit.zw)
        else:  # Gram steps, one path factorization at the end (priorreg.gram_irls)
            fixed = fixed_lam_irls(self.problem, lam, start=start, maxiter=maxiter, tol=tol)
            if fixed is not None:
                return self._finish(fixed.result, fixed.point)
        r = penalized_irls(
            self.problem, lam, start=start, maxiter=maxiter, tol=tol, start_factor=start_factor
        )
        return self._finish(r)

    def _performance_iteration(self, criterion: str, maxiter: int, tol: float) -> GLMFit:
        """IRLS that selects ``lam`` on the working model at each step: a start."""
        pi = penalized_irls(
            self.problem, 1.0, maxiter=maxiter, tol=tol, select=working_selector(criterion)
        )
        return self._finish(pi)

    def _select(
        self,
        criterion: str,
        lams: FloatArray | None,
        maxiter: int,
        tol: float,
        report: Callable[..., None] | None = None,
    ) -> tuple[GLMFit, Selection]:
        """Minimise ``criterion`` over converged fits (:mod:`priorreg.glm_search`).

        With one BLAS thread, as the several-penalty search: its products are
        on ``k``-wide row blocks and ``k x k`` matrices, too small for a second
        thread to pay for its hand-offs, which on a busy machine cost more than
        the products (the search took 1.7x as long with two threads, n=200k k=50).
        """
        _scale.check_criterion_scale(criterion, self.scaletype, self.family)
        with small_blas():
            return GLMSearch(self, criterion, maxiter, tol, report).run(lams)

    def fit(  # type: ignore[override]
        self,
        lam: float | str = "gcv",
        *,
        lams: ArrayLike | None = None,
        maxiter: int = 100,
        tol: float = 1e-8,
        cov_type: CovType = "bayes",
        scale: str | float | None = None,
        disp: bool | Callable[[SearchStep], Any] = False,
    ) -> PriorGLMResultsWrapper:
        """Fit by penalized IRLS at a fixed ``lam`` or select it.

        Parameters
        ----------
        lam : float or {"gcv", "ubre", "aic", "loocv", "reml"}
            A number fixes the penalty weight. A criterion selects it: a
            performance iteration (selection on the working linear model at
            each IRLS step) finds a starting value, then warm-started
            converged fits minimise the criterion itself (Newton steps on
            ``log(lam)`` with its exact derivative, to ``1e-3``; a bracket
            and Brent's search where no derivative is available), so the
            reported ``lam`` is optimal for the criterion at converged fits.
            The fits tried are made by IRLS steps on the weighted Gram
            matrix (:mod:`priorreg.gram_irls`: the same iteration, and the
            exact deviance, edf and leverages at each converged fit); the
            path factorization is computed only at the chosen ``lam``
            (see :mod:`priorreg.glm_search`).
        lams : array-like, optional
            Explicit grid of positive penalty weights to evaluate (each a
            converged fit) before the search between the grid neighbours
            of its minimum.
        maxiter, tol : int, float
            IRLS limits: relative change of the penalized deviance below
            ``tol`` means converged.
        cov_type : {"bayes", "sandwich", "unconditional"}
            ``scale (X'WX + lam L)^-1``, ``scale A^-1 X'WX A^-1`` at convergence,
            or with the uncertainty of a selected ``lam`` (:mod:`priorreg.unconditional`).
        scale : None, "x2", "dev" or float
            The dispersion, as statsmodels' ``GLM.fit(scale=...)`` with
            ``n - edf`` residual df (:mod:`priorreg.scale`); the results'
            ``model`` is then a copy of this one with that ``scaletype``.
        disp : bool or callable
            Report each outer step of a search (:mod:`priorreg.progress`).

        Returns
        -------
        PriorGLMResults

        Warns
        -----
        ConvergenceWarning
            When IRLS does not converge (``converged`` is then False).
        """
        if getattr(self, "penalty_components", None) is not None:  # several: multi_fit
            return _fit_several(self, lam, lams, cov_type, maxiter, tol, scale=scale, disp=disp)
        _check_cov_type(cov_type)
        option = _scale.check_scale(scale)
        model = self if option in (None, self.scaletype) else self._with_scaletype(option)
        if not (isinstance(maxiter, int) and maxiter > 0):
            raise ValueError(f"maxiter must be a positive integer, got {maxiter!r}")
        if not (np.isfinite(tol) and tol > 0):
            raise ValueError(f"tol must be a positive number, got {tol!r}")
        lam_value: float | str
        if isinstance(lam, str):
            key = lam.lower()
            if key not in GLM_CRITERIA:
                raise ValueError(
                    f"unknown lam criterion {lam!r}; use a number >= 0 or one of {GLM_CRITERIA}"
                )
            lam_value = key
        else:
            lam_value = _check_lam(lam)
        selection = None
        lams_arr = None
        if lams is not None:
            if not isinstance(lam_value, str):
                raise ValueError("lams= is a grid to search; it needs a criterion for lam")
            lams_arr = as_grid(lams)
            if (
                lams_arr.ndim != 1
                or lams_arr.size < 2
                or np.any(~np.isfinite(lams_arr))
                or (np.any(lams_arr <= 0))
            ):
                raise ValueError("lams must be a 1-D grid of at least two finite values > 0")
        separation = model_separation(self)
        try:
            if isinstance(lam_value, str):
                report = reporter(disp, lam_value)
                fit, selection = model._select(lam_value, lams_arr, maxiter, tol, report)
            else:
                reporter(disp, "fixed")  # checks disp
                fit = model._irls(float(lam_value), None, maxiter, tol)
        except FloatingPointError as exc:  # working weights underflowed: means at a bound
            raise ValueError(
                separation.message(0.0) if separation is not None else f"penalized IRLS broke "
                f"down ({exc}): fitted means reached the bound of the family. Use a larger lam."
            ) from exc
        warn_separation(separation, fit.lam)
        if not fit.converged and (separation is None or not separation.unbounded):
            warn(
                f"penalized IRLS did not converge in {maxiter} iterations (lam="
                f"{fit.lam:.4g}); results have converged=False. Increase maxiter, or "
                "use a larger lam.",
                ConvergenceWarning,
            )
        return model._results(fit, selection, cov_type)

    def _with_scaletype(self, scaletype: str | float) -> PriorGLM:
        """The model with another scale option (a shallow copy: the data are shared)."""
        model = copy.copy(self)
        model.scaletype = scaletype
        return model

    def _results(self, fit: GLMFit, selection: Selection | None, cov_type: str) -> Any:
        """Wrap a fit in the results class of this model."""
        res = PriorGLMResults(self, fit, selection=selection, cov_type=cov_type)
        return PriorGLMResultsWrapper(res)

    def path(
        self, lams: ArrayLike, criterion: str = "gcv", maxiter: int = 100, tol: float = 1e-8
    ) -> pd.DataFrame:
        """Converged fits on a grid of ``lam`` (warm-started from one to the next).

        Returns a DataFrame with ``lam``, ``edf``, ``deviance``, the criterion
        and one column per coefficient.
        """
        lams_arr = np.sort(np.asarray(lams, dtype=float))
        rows = []
        prev: GLMFit | None = None
        for lam in lams_arr:
            fit = self._irls(float(lam), None, maxiter, tol, start_fit=prev)
            prev = fit
            rows.append(
                {
                    "lam": float(lam),
                    "edf": fit.edf,
                    "deviance": fit.deviance,
                    criterion: self.criterion(fit, criterion),
                    **dict(zip(self.exog_names, fit.params, strict=True)),
                }
            )
        return pd.DataFrame(rows)

    def coef_path(self, lams: ArrayLike) -> FloatArray:
        """Coefficients (one row per ``lam``) of converged fits."""
        table = self.path(lams)
        return table[list(self.exog_names)].to_numpy()

    def predict(  # type: ignore[override]
        self,
        params: ArrayLike,
        exog: ArrayLike | None = None,
        offset: ArrayLike | None = None,
        exposure: ArrayLike | None = None,
        which: str = "mean",
    ) -> FloatArray:
        """Mean (``which="mean"``) or linear predictor (``"linear"``).

        Without ``exog``, the model's own rows (:meth:`_predict_rows`; a
        lazy Dask collection for a Dask model); then ``offset`` and
        ``exposure``, if given, replace the model's.
        """
        if which not in ("mean", "linear"):
            raise ValueError(f"which must be 'mean' or 'linear', not {which!r}")
        params = np.asarray(params, dtype=float)
        extra = None
        if offset is not None:
            extra = np.asarray(offset, dtype=float)
        if exposure is not None:
            extra = (0.0 if extra is None else extra) + np.log(np.asarray(exposure, dtype=float))
        if exog is None:
            return self._predict_rows(params, extra, which)
        eta = np.asarray(exog, dtype=float) @ params + (0.0 if extra is None else extra)
        return eta if which == "linear" else self.family.link.inverse(eta)

    def _predict_rows(self, params: FloatArray, extra: Any, which: str) -> Any:
        """:meth:`predict` for the model's rows; ``extra``: the offset given instead (or None).

        A backend whose rows are not in memory overrides this (the Dask GLM
        returns a lazy collection).
        """
        eta = self.exog @ params + (self.offset_total if extra is None else extra)
        return eta if which == "linear" else self.family.link.inverse(eta)
