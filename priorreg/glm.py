r"""``PriorGLM``: generalized linear models with a prior-centred penalty.

Minimises the penalized deviance :math:`D(b) + \lambda (b-b_0)'L(b-b_0)` by
penalized IRLS (:mod:`priorreg.irls`), with the families and links of
``statsmodels.genmod.families``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from statsmodels.genmod import families as smf

from priorreg import families as _families
from priorreg import formula as _formula
from priorreg import scale as _scale
from priorreg._typing import ArrayLike, FloatArray
from priorreg.base import PriorModel
from priorreg.checks import as_grid
from priorreg.degenerate import warn_glm_edge
from priorreg.exceptions import ConvergenceWarning, warn
from priorreg.irls import IRLSProblem, IRLSResult, penalized_irls, working_selector
from priorreg.linalg import PathFactor
from priorreg.linear import LinearFit, _check_cov_type, _check_lam
from priorreg.multi_fit import fit_glm as _fit_several
from priorreg.newton import NewtonFit, NewtonPoint, gram_point, newton_irls, performance_irls
from priorreg.progress import SearchStep, reporter
from priorreg.selection import Selection, _parabola_vertex
from priorreg.separation import model_separation, warn_separation

__all__ = ["GLM_CRITERIA", "GLMFit", "PriorGLM"]

GLM_CRITERIA = ("gcv", "ubre", "aic", "loocv", "reml")
#: Criteria that need only the deviance, edf and likelihood at a fit: the
#: penalty search evaluates them by Gram-matrix IRLS (:mod:`priorreg.newton`).
_GRAM_CRITERIA = ("gcv", "ubre", "aic")
#: The search brackets the performance-iteration ``lam`` by these factors on
#: each side (log10), the first pair at once and the next only while the
#: smallest value is at an end of the ones tried (as far as 1e7 either way).
_BRACKET_LOG10 = (float(np.log10(1.5)), 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)
#: Tolerance of the search on ``log(lam)``. The criteria are flat at their
#: minimum: rounding of the deviance (about 1e-14 relative for 1e5 terms)
#: already moves the argmin by about 1e-3 on ``log(lam)`` in the benchmark of
#: ``benchmarks/glm_path.py``, and the criterion changes there by ~1e-13.
_XATOL = 1e-3
#: Criterion values closer than this (relative) cannot locate a vertex.
_FLAT_RTOL = 1e-10


@dataclass(frozen=True)
class GLMFit(LinearFit):
    """The numbers of one converged penalized GLM fit at one ``lam``.

    ``rss`` is the Pearson chi-square; ``fittedvalues`` are the means.
    """

    scale: float
    eta: FloatArray
    deviance: float
    pearson_chi2: float
    llf: float
    converged: bool
    iterations: int
    factor: PathFactor
    zw: FloatArray


@dataclass
class _Trial:
    """One converged fit of the penalty search and its criterion value.

    ``fit`` is the full fit (path factorization) when the trial was made by
    :func:`priorreg.irls.penalized_irls`; ``point`` the weighted Gram matrix
    at the estimate when made (or later used as a start) by
    :func:`priorreg.newton.newton_irls`.
    """

    lam: float
    value: float
    edf: float
    deviance: float
    params: FloatArray
    fit: GLMFit | None
    point: NewtonPoint | None
    iterations: int

    @classmethod
    def of_fit(cls, fit: GLMFit, value: float, iterations: int | None = None) -> _Trial:
        value = value if fit.converged else math.inf
        its = fit.iterations if iterations is None else iterations
        return cls(fit.lam, value, fit.edf, fit.deviance, fit.params, fit, None, its)


def _brent(
    f: Callable[[float], float], ts: list[float], values: list[float], xatol: float
) -> tuple[float, float]:
    """Minimise ``f`` inside a bracket ``ts[0] < ts[1] < ts[2]`` (``f(ts[1])`` smallest).

    Brent's (1973) method: parabolic interpolation through the best three
    points, golden-section steps when the parabola is not trusted; the values
    at the bracket are known, so the first step is the parabola through them.
    Stops when the minimum is located to within ``xatol``.
    """
    golden = 0.3819660112501051
    lo, hi = ts[0], ts[2]
    x, fx = ts[1], values[1]
    (w, fw), (v, fv) = sorted([(ts[0], values[0]), (ts[2], values[2])], key=lambda p: p[1])
    e = d = hi - lo  # the bracket stands for the earlier steps: parabolas allowed
    tol1 = 0.5 * xatol
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if max(x - lo, hi - x) <= 2 * tol1:
            break
        parabolic = False
        if abs(e) > tol1 and all(math.isfinite(val) for val in (fx, fw, fv)):
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0:
                p = -p
            q = abs(q)
            if abs(p) < abs(0.5 * q * e) and q * (lo - x) < p < q * (hi - x):
                e, d = d, p / q
                parabolic = True
                if (x + d) - lo < 2 * tol1 or hi - (x + d) < 2 * tol1:
                    d = tol1 if mid >= x else -tol1
        if not parabolic:
            e = (hi - x) if x < mid else (lo - x)
            d = golden * e
        u = x + (d if abs(d) >= tol1 else math.copysign(tol1, d))
        fu = f(u)
        if fu <= fx:
            if u >= x:
                lo = x
            else:
                hi = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                lo = u
            else:
                hi = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v in (x, w):
                v, fv = u, fu
    return x, fx


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

    def _llf(self, mu: FloatArray, scale: float) -> float:
        fam = self.family
        if isinstance(fam, smf.Gaussian) and isinstance(fam.link, smf.links.Identity):
            # statsmodels' convention: the Gaussian likelihood concentrated in the scale
            iw = self.freq_weights_total * self.var_weights_total
            scale = float(np.sum(iw * (self.endog_response - mu) ** 2) / self.wnobs)
        return _families.loglike(
            fam, self.endog_response, mu, self.var_weights_total, self.freq_weights_total, scale
        )

    def _finish(self, r: IRLSResult) -> GLMFit:
        """Covariance, edf, scale and likelihood at a converged fit."""
        problem = self.problem
        factor, zw = problem.factor(r.eta, r.mu)
        lam = r.lam
        K = factor.cov_factor(lam)
        ncov = K @ K.T
        edf_params = 1.0 - lam * np.einsum("ij,ji->i", ncov, self.penalty_matrix)
        edf = float(factor.edf(lam))
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
            llf=self._llf(r.mu, scale),
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

    def _llf_at(self, mu: FloatArray, edf: float) -> float:
        """Log-likelihood at the means ``mu`` with the scale of a fit of ``edf``."""
        pearson = deviance = math.nan
        if _scale.needs_pearson(self.scaletype, self.family):
            iw = self.freq_weights_total * self.var_weights_total
            with np.errstate(all="ignore"):
                resid = self.endog_response - mu
                pearson = float(np.sum(iw * resid**2 / self.family.variance(mu)))
        if _scale.needs_deviance(self.scaletype):
            deviance = float(self.problem.deviance(mu))
        return self._llf(mu, self._scale_for(mu, edf, pearson, deviance))

    def _known_scale(self, what: str) -> float:
        return _scale.known_scale(self.scaletype, self.family, what)

    def _loo_deviance(self, fit: GLMFit) -> float:
        h = np.asarray(fit.factor.leverage(fit.lam))
        gprime = self.family.link.deriv(fit.fittedvalues)
        e = gprime * (self.endog_response - fit.fittedvalues)
        with np.errstate(all="ignore"):
            eta_loo = fit.eta - e * h / (1.0 - h)
            mu_loo = self.family.link.inverse(eta_loo)
            dev = (
                self.family.resid_dev(
                    self.endog_response, mu_loo, var_weights=self.var_weights_total
                )
                ** 2
            )
        total = float(np.sum(self.freq_weights_total * dev)) / self.wnobs
        return total if np.isfinite(total) else math.inf

    def _penalty_value(self, params: FloatArray) -> float:
        """``(b - b0)' L (b - b0)``."""
        return self.problem.penalty(params)

    def _loglike_of(self, fit: GLMFit) -> Callable[[float], float]:
        """The log-likelihood of ``fit`` as a function of the scale."""
        y, mu = self.endog_response, fit.fittedvalues
        return lambda phi: _families.loglike(
            self.family, y, mu, self.var_weights_total, self.freq_weights_total, phi
        )

    def _laplace_reml(self, fit: GLMFit) -> float:
        lam = fit.lam
        if lam <= 0 and fit.factor.n_pen:
            return math.inf
        factor = fit.factor
        k0 = factor.n_unpen
        pen = lam * self._penalty_value(np.asarray(fit.params, dtype=float))
        log_det = float(factor.log_det_ratio(lam)) if factor.n_pen else float(factor.log_det_const)
        loglike = self._loglike_of(fit)

        def neg(log_phi: float) -> float:
            phi = math.exp(log_phi)
            ll = loglike(phi)
            return -ll + pen / (2 * phi) + 0.5 * log_det - 0.5 * k0 * math.log(2 * math.pi * phi)

        _scale.check_criterion_scale("reml", self.scaletype, self.family)
        if isinstance(self.scaletype, float):
            return neg(math.log(self.scaletype))
        if _families.is_known_scale(self.family):
            return neg(0.0)
        guess = math.log(max(fit.pearson_chi2 / max(self.wnobs - k0, 1.0), 1e-300))
        opt = minimize_scalar(neg, bracket=(guess - 0.5, guess + 0.5), tol=1e-10)
        return float(opt.fun)

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

        A converged fit carries the factorization at its estimate, which holds
        for every ``lam``: the first IRLS step from it needs no new one.
        """
        start_factor = None
        if start_fit is not None:
            start, start_factor = start_fit.params, (start_fit.factor, start_fit.zw)
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
        """Minimise ``criterion`` over converged fits (see :meth:`fit` and Notes there)."""
        _scale.check_criterion_scale(criterion, self.scaletype, self.family)
        problem: IRLSProblem | None = None
        if criterion in _GRAM_CRITERIA:
            try:
                problem = self.problem
            except NotImplementedError:  # no in-memory arrays (out of core)
                problem = None
        trials: dict[float, _Trial] = {}

        def evaluate(lam: float) -> float:
            if lam in trials:
                return trials[lam].value
            nearest = None
            if trials:
                nearest = trials[min(trials, key=lambda v: abs(math.log(v) - math.log(lam)))]
            trial = None
            if problem is not None and nearest is not None:
                trial = self._gram_trial(problem, lam, nearest, criterion, maxiter, tol)
            if trial is None:
                if nearest is not None and nearest.fit is None:
                    fit = self._irls(lam, nearest.params, maxiter, tol)
                else:
                    fit = self._irls(
                        lam, None, maxiter, tol, start_fit=None if nearest is None else nearest.fit
                    )
                trial = _Trial.of_fit(fit, self.criterion(fit, criterion))
            trials[lam] = trial
            if report is not None:
                report(lam, trial.value, trial.edf)
            return trial.value

        if lams is None:
            trial0 = None if problem is None else self._gram_start(problem, criterion, maxiter, tol)
            if trial0 is None:
                fit0 = self._performance_iteration(criterion, maxiter, tol)
                trial0 = _Trial.of_fit(fit0, self.criterion(fit0, criterion))
            lam0 = max(trial0.lam, 1e-300)
            trials[lam0] = trial0
            if report is not None:
                report(lam0, trial0.value, trial0.edf)
            # a bracket around the start, widened while the smallest value is
            # at one of its ends
            for side in (-1.0, 1.0):
                evaluate(lam0 * 10.0 ** (side * _BRACKET_LOG10[0]))
            for step in _BRACKET_LOG10[1:]:
                grid = sorted(trials)
                best = int(np.argmin([trials[v].value for v in grid]))
                if 0 < best < len(grid) - 1:
                    break
                evaluate(lam0 * 10.0 ** (step if best else -step))
        else:
            for lam in np.sort(np.asarray(lams, dtype=float)):
                evaluate(float(lam))
        grid = sorted(trials)
        values = [trials[v].value for v in grid]
        best = int(np.argmin(values))
        on_edge = best in (0, len(grid) - 1)
        if not np.isfinite(values[best]):
            raise ValueError(
                f"{criterion} could not be evaluated: no fit on the lam grid converged"
            )
        if on_edge:
            deviances = [trials[v].deviance for v in grid]
            warn_glm_edge(self, criterion, grid[best], best > 0, values, deviances)
        else:
            ts = [math.log(grid[i]) for i in (best - 1, best, best + 1)]
            _brent(
                lambda t: evaluate(float(math.exp(t))),
                ts,
                [values[best - 1], values[best], values[best + 1]],
                _XATOL,
            )
            # one parabola step through the best point and its neighbours
            # locates lam far below the search tolerance (the printed digits
            # of lam and of what depends on it stay put); skipped where the
            # criterion is flat to rounding over them (large samples), as the
            # vertex is then no better determined than the bracket
            grid = sorted(trials)
            best = int(np.argmin([trials[v].value for v in grid]))
            if 0 < best < len(grid) - 1:
                near = [grid[best - 1], grid[best], grid[best + 1]]
                vals = np.array([trials[v].value for v in near])
                t_vertex = _parabola_vertex(np.log(near), vals)
                resolved = np.ptp(vals) > _FLAT_RTOL * abs(vals[1])
                if resolved and abs(t_vertex - math.log(grid[best])) > 1e-6:
                    evaluate(float(math.exp(t_vertex)))
        final = min(trials, key=lambda v: trials[v].value)
        chosen = trials[final]
        fit = chosen.fit
        if fit is None:
            # a converged Gram-route fit: the same IRLS iterate, finished
            # (covariance, edf, ...) with the path factorization at it
            point = chosen.point
            assert point is not None
            fit = self._finish(
                IRLSResult(
                    params=point.params,
                    eta=point.eta,
                    mu=point.mu,
                    deviance=point.deviance,
                    penalized_deviance=point.deviance + final * self.problem.penalty(point.params),
                    lam=final,
                    converged=True,
                    iterations=chosen.iterations,
                )
            )
            chosen = _Trial.of_fit(fit, self.criterion(fit, criterion), chosen.iterations)
            trials[final] = chosen
        if report is not None:
            report(final, chosen.value, chosen.edf, chosen=True)
        lam_sorted = sorted(trials)
        path = {
            "lam": np.array(lam_sorted),
            "edf": np.array([trials[v].edf for v in lam_sorted]),
            "deviance": np.array([trials[v].deviance for v in lam_sorted]),
            criterion: np.array([trials[v].value for v in lam_sorted]),
        }
        return fit, Selection(final, criterion, chosen.value, path, on_edge)

    def _gram_start(
        self, problem: IRLSProblem, criterion: str, maxiter: int, tol: float
    ) -> _Trial | None:
        """The performance iteration by Gram-matrix steps, or ``None`` to use the path."""
        nf = performance_irls(problem, maxiter=maxiter, tol=tol)
        if nf is None:
            return None
        return self._newton_trial(nf, criterion)

    def _newton_trial(self, nf: NewtonFit, criterion: str) -> _Trial:
        value = math.inf
        if nf.converged:
            value = self._deviance_criterion(
                criterion, nf.deviance, nf.edf, lambda: self._llf_at(nf.point.mu, nf.edf)
            )
        return _Trial(nf.lam, value, nf.edf, nf.deviance, nf.params, None, nf.point, nf.iterations)

    def _gram_trial(
        self,
        problem: IRLSProblem,
        lam: float,
        nearest: _Trial,
        criterion: str,
        maxiter: int,
        tol: float,
    ) -> _Trial | None:
        """A converged fit at ``lam`` by Gram-matrix IRLS steps, or ``None`` to use the path."""
        start = nearest.point
        if start is None:
            if nearest.fit is None:
                return None
            f = nearest.fit
            start = gram_point(problem, f.params, f.eta, f.fittedvalues, f.deviance)
            if start is None:
                return None
            nearest.point = start
        nf = newton_irls(problem, lam, start, maxiter=maxiter, tol=tol)
        return None if nf is None else self._newton_trial(nf, criterion)

    def fit(  # type: ignore[override]
        self,
        lam: float | str = "gcv",
        lams: ArrayLike | None = None,
        maxiter: int = 100,
        tol: float = 1e-8,
        cov_type: str = "bayes",
        *,
        scale: str | float | None = None,
        disp: bool | Callable[[SearchStep], Any] = False,
    ) -> Any:
        """Fit by penalized IRLS at a fixed ``lam`` or select it.

        Parameters
        ----------
        lam : float or {"gcv", "ubre", "aic", "loocv", "reml"}
            A number fixes the penalty weight. A criterion selects it: a
            performance iteration (selection on the working linear model at
            each IRLS step) finds a starting value, then warm-started
            converged fits minimise the criterion itself (a bracket of
            x1.5 each side, widened while the minimum is at an end, then
            Brent's search on ``log(lam)`` to ``1e-3``), so the reported
            ``lam`` is optimal for the criterion at converged fits. For
            ``gcv``, ``ubre`` and ``aic`` the fits tried are made by IRLS
            steps on the weighted Gram matrix (:mod:`priorreg.newton`: the
            same iteration, and the exact deviance and edf at each
            converged fit); the path factorization is computed only at the
            chosen ``lam``.
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
        from priorreg.glm_results import PriorGLMResults, PriorGLMResultsWrapper

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
        """Mean (``which="mean"``) or linear predictor (``"linear"``)."""
        if exog is None:
            X = self.exog
            extra = self.offset_total if offset is None and exposure is None else 0.0
        else:
            X = np.asarray(exog, dtype=float)
            extra = 0.0
        if offset is not None:
            extra = extra + np.asarray(offset, dtype=float)
        if exposure is not None:
            extra = extra + np.log(np.asarray(exposure, dtype=float))
        eta = X @ np.asarray(params, dtype=float) + extra
        if which == "linear":
            return eta
        if which != "mean":
            raise ValueError(f"which must be 'mean' or 'linear', not {which!r}")
        return self.family.link.inverse(eta)
