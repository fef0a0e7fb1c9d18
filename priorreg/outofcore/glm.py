"""``PriorGLM`` on Dask data: penalized IRLS with one pass per iteration.

:class:`DaskPriorGLM`, its results, and the per-partition passes of the GLM
(deviance and working factor at a point, log-likelihood, LOOCV, n-length rows).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from statsmodels.genmod import families as smf

from priorreg import families as _families
from priorreg import formula as _formula
from priorreg import scale as _scale
from priorreg._typing import ArrayLike, FloatArray
from priorreg.bounded import conditional_penalty
from priorreg.bounded_glm import mean_out_of_domain
from priorreg.bounded_results import bounded_results, check_cov_type
from priorreg.bounds import refuse_several_penalties
from priorreg.glm import GLMFit, PriorGLM
from priorreg.glm_results import PriorGLMResults, PriorGLMResultsWrapper
from priorreg.irls import working_selector
from priorreg.linalg import PathFactor, factorize_triangular
from priorreg.outofcore.bounded_glm import (
    _bounded_deviance,
    _bounded_step,
    bounded_irls,
    bounded_performance_iteration,
)
from priorreg.outofcore.dispatch import is_dask
from priorreg.outofcore.model import _NO_ROWS, _DaskModel, _glm_arrays
from priorreg.outofcore.passes import _Block, _Source, _weighted_qr
from priorreg.outofcore.prediction import predict


def _starting_mu(family: Any, y: FloatArray, y_mean: float) -> FloatArray:
    """``family.starting_mu`` with the mean of the whole response (not the block's)."""
    if type(family).starting_mu is smf.Family.starting_mu:
        return (y + y_mean) / 2.0
    return family.starting_mu(y)


@dataclass(frozen=True)
class _PointSpec:
    """Where to evaluate: coefficients, or the family's starting means (``params=None``)."""

    params: FloatArray | None
    y_mean: float = 0.0


@dataclass(frozen=True)
class _GLMRows:
    """The GLM's per-row arrays of one block at one point."""

    resp: FloatArray
    var_w: FloatArray
    offset: FloatArray
    freq_w: FloatArray
    eta: FloatArray
    mu: FloatArray

    def hat(self, X: FloatArray, family: Any, row_map: FloatArray, k0: int, phi: Any) -> Any:
        """Leverages of the working linear model (see ``PathFactor.row_map``)."""
        W = self.freq_w * self.var_w * family.weights(self.mu)
        B = (X * np.sqrt(W)[:, None]) @ row_map
        return np.einsum("ij,ij->i", B[:, :k0], B[:, :k0]) + (B[:, k0:] ** 2) @ phi


def _at(block: _Block, family: Any, spec: _PointSpec) -> _GLMRows:
    resp, var_w, offset, freq_w = _glm_arrays(block, family)
    if spec.params is None:
        mu = _starting_mu(family, resp, spec.y_mean)
        eta = family.link(mu) + 0.0
    else:
        eta = block.X @ spec.params + offset
        mu = family.link.inverse(eta)
    return _GLMRows(resp, var_w, offset, freq_w, eta, mu)


def _glm_point(
    block: _Block, family: Any, spec: _PointSpec, b0: FloatArray, gaussian: bool
) -> dict[str, Any]:
    """Deviance, Pearson chi2, log-likelihood sums and the working factor at one point."""
    r = _at(block, family, spec)
    n, k = block.X.shape
    iw = r.freq_w * r.var_w
    with np.errstate(all="ignore"):
        dev = family.deviance(r.resp, r.mu, var_weights=r.var_w, freq_weights=r.freq_w, scale=1.0)
        out: dict[str, Any] = {
            "dev": float(dev),
            "pearson": float(np.sum(iw * (r.resp - r.mu) ** 2 / family.variance(r.mu))),
        }
        if _families.is_known_scale(family):
            out["ll1"] = _families.loglike(family, r.resp, r.mu, r.var_w, r.freq_w, 1.0)
        if gaussian:
            out["g_rss"] = float(np.sum(iw * (r.resp - r.mu) ** 2))
            out["g_logv"] = float(np.sum(r.freq_w * np.log(r.var_w)))
        W = iw * family.weights(r.mu)
        z = (r.eta - r.offset) + family.link.deriv(r.mu) * (r.resp - r.mu)
    valid = np.isfinite(W) & (W > 0) & np.isfinite(z)
    out["bad_mu"] = mean_out_of_domain(family, r.mu)
    out["bad_w"] = int(np.count_nonzero(~valid))
    if out["bad_w"]:  # not a point IRLS can step from; it fails if it gets there
        out["log_w"] = 0.0
        out["work_R"] = np.zeros((min(n, k + 1), k + 1))
    else:
        out["log_w"] = float(np.sum(np.log(W)))
        out["work_R"] = _weighted_qr(block.X, z - block.X @ b0, np.sqrt(W))
    return out


def _glm_loglike(block: _Block, family: Any, params: FloatArray, scale: float) -> dict[str, Any]:
    r = _at(block, family, _PointSpec(params))
    with np.errstate(all="ignore"):
        return {"ll": _families.loglike(family, r.resp, r.mu, r.var_w, r.freq_w, scale)}


def _glm_null_deviance(block: _Block, family: Any, mean: float) -> dict[str, Any]:
    resp, var_w, _, freq_w = _glm_arrays(block, family)
    null = np.full_like(resp, mean)
    with np.errstate(all="ignore"):
        dev = family.deviance(resp, null, var_weights=var_w, freq_weights=freq_w, scale=1.0)
    return {"dev": float(dev)}


def _glm_loo(
    block: _Block, family: Any, params: FloatArray, row_map: FloatArray, k0: int, phi: Any
) -> dict[str, Any]:
    """Approximate leave-one-out deviance sum (as ``PriorGLM._loo_deviance``)."""
    r = _at(block, family, _PointSpec(params))
    with np.errstate(all="ignore"):
        h = r.hat(block.X, family, row_map, k0, phi)
        e = family.link.deriv(r.mu) * (r.resp - r.mu)
        mu_loo = family.link.inverse(r.eta - e * h / (1.0 - h))
        dev = family.resid_dev(r.resp, mu_loo, var_weights=r.var_w) ** 2
        return {"loo": float(np.sum(r.freq_w * dev))}


def _glm_rows(block: _Block, family: Any, params: FloatArray, what: str) -> FloatArray:
    """An n-length GLM quantity of one block: ``mu``, ``eta``, residuals."""
    r = _at(block, family, _PointSpec(params))
    if what == "mu":
        return r.mu
    if what == "eta":
        return r.eta
    if what == "resid_response":
        return r.resp - r.mu
    if what == "resid_pearson":
        return (r.resp - r.mu) * np.sqrt(r.var_w / family.variance(r.mu))
    if what == "resid_deviance":
        return np.asarray(family.resid_dev(r.resp, r.mu, var_weights=r.var_w))
    raise ValueError(f"unknown row quantity {what!r}")


def _glm_leverage(
    block: _Block, family: Any, params: FloatArray, row_map: FloatArray, k0: int, phi: Any
) -> FloatArray:
    return _at(block, family, _PointSpec(params)).hat(block.X, family, row_map, k0, phi)


def _refuse_bounded_rows(model: Any, what: str) -> None:
    """A clear error for the leverages of a bounded Dask GLM (the free columns' rows)."""
    if getattr(model, "bounds", None) is not None:
        raise NotImplementedError(
            f"{what} of a bounded Dask GLM is not available out of core (it needs the "
            "leverages of the free columns): fit the bounded GLM in memory for it"
        )


@dataclass
class _Point:
    """Sums over the data at one point of the IRLS path, and its working factor."""

    params: FloatArray | None
    sums: dict[str, Any]
    _factor: PathFactor | None = None

    @property
    def deviance(self) -> float:
        return float(self.sums["dev"])


@dataclass(frozen=True)
class _IRLS:
    """An IRLS fit (as :class:`priorreg.irls.IRLSResult`, with the point's sums)."""

    params: FloatArray
    point: _Point
    deviance: float
    lam: float
    converged: bool
    iterations: int


def _valid(dev: float) -> bool:
    return bool(np.isfinite(dev))


def _deviance(point: _Point) -> float:
    return point.deviance


class DaskPriorGLM(_DaskModel, PriorGLM):  # type: ignore[misc]
    r"""``PriorGLM`` on Dask data: one pass over the partitions per IRLS iteration.

    Built by ``PriorGLM(dask_endog, dask_exog, family=...)`` or
    ``PriorGLM.from_formula(formula, dask_dataframe, family=...)``. Each
    pass evaluates, per partition, the deviance at the candidate
    coefficients and the triangular factor of the working problem there,
    so an accepted IRLS step costs exactly one pass (a halved step one more).
    Penalty selection follows ``PriorGLM.fit`` step for step (performance
    iteration, then warm-started converged fits in a bounded search).
    With ``bounds=`` each working problem is solved under the bounds on its
    reduced factor (:mod:`priorreg.outofcore.bounded_glm`), still one pass
    per accepted step.
    """

    _std_key = "freq_weights"
    _kind = "glm"
    _takes_bounds = True  # bounded IRLS in priorreg.outofcore.bounded_glm

    def __init__(
        self,
        endog: Any,
        exog: Any,
        family: Any = None,
        *,
        prior: Any = None,
        penalty: Any = None,
        offset: Any = None,
        exposure: Any = None,
        freq_weights: Any = None,
        var_weights: Any = None,
        scale: float | None = None,
        standardize: bool = False,
        missing: str = "none",
        design: _formula.Design | None = None,
        progress: bool = False,
        bounds: Any = None,
    ) -> None:
        rows = {
            "offset": offset,
            "exposure": exposure,
            "freq_weights": freq_weights,
            "var_weights": var_weights,
        }
        self._setup_arrays(
            endog,
            exog,
            rows,
            missing,
            design=design,
            family=family,
            prior=prior,
            penalty=penalty,
            scale=scale,
            standardize=standardize,
            progress=progress,
            bounds=bounds,
        )

    def _setup_from_source(
        self,
        source: _Source,
        endog_t: Any,
        exog_t: Any,
        design: _formula.Design | None,
        *,
        family: Any = None,
        prior: Any = None,
        penalty: Any = None,
        scale: float | None = None,
        standardize: bool = False,
        progress: bool = False,
        array_names: bool = False,
        bounds: Any = None,
    ) -> None:
        family = _families.check_family(smf.Gaussian() if family is None else family)
        self.family = family
        for key in self._row_keys:
            setattr(self, key, None)
        self._setup_dask(
            source,
            endog_t,
            exog_t,
            design=design,
            prior=prior,
            penalty=penalty,
            standardize=standardize,
            progress=progress,
            array_names=array_names,
            family=family,
            bounds=bounds,
        )
        refuse_several_penalties(self.bounds, getattr(self, "penalty_components", None))
        self.scaletype = _scale.model_scale(scale)
        self.wnobs = float(self._scan["wnobs"])
        self._y_mean = float(self._scan["y_sum"]) / self.nobs
        self._points: dict[bytes, _Point] = {}
        self._passes = 0

    @property
    def problem(self) -> Any:
        """Not available: the IRLS arrays are n-length and stay in the partitions."""
        raise NotImplementedError("a Dask GLM has no in-memory IRLS problem")

    @property
    def passes(self) -> int:
        """Number of IRLS passes over the data so far."""
        return self._passes

    def _full_penalty(self, params: FloatArray) -> float:
        delta = params - self.prior_values
        return float(delta @ self.penalty_matrix @ delta)

    def _penalty_value(self, params: FloatArray) -> float:
        """``(b - b0)' L (b - b0)``; with bounds, the free coefficients' share (REML)."""
        if self.bounds is None:
            return self._full_penalty(params)
        delta = np.asarray(params, dtype=float) - self.prior_values
        return conditional_penalty(self.penalty_matrix, delta, self.bounds.at_bound(params))

    # --------------------------------------------------------- passes
    def _evaluate(self, params: FloatArray | None) -> _Point:
        key = b"start" if params is None else np.asarray(params, dtype=float).tobytes()
        if key in self._points:
            return self._points[key]
        spec = _PointSpec(None if params is None else np.asarray(params, dtype=float), self._y_mean)
        gaussian = isinstance(self.family, smf.Gaussian)
        self._passes += 1
        sums = self.source.reduce(
            _glm_point,
            self.family,
            spec,
            self.prior_values,
            gaussian,
            progress=self.progress,
            label=f"IRLS pass {self._passes}",
        )
        point = _Point(spec.params, sums)
        self._points[key] = point
        return point

    def _factor_at(self, point: _Point) -> PathFactor:
        if point._factor is None:
            if point.sums["bad_w"]:
                raise FloatingPointError("working weights are not finite and positive")
            point._factor = factorize_triangular(
                np.asarray(point.sums["work_R"], dtype=float),
                self.penalty_matrix,
                int(self.nobs),
                self.intercept_idx,
                float(point.sums["log_w"]),
            )
        return point._factor

    def _run_irls(
        self,
        lam: float,
        start: FloatArray | None,
        maxiter: int,
        tol: float,
        select: Callable[[PathFactor, FloatArray], float] | None = None,
        bounded: bool = False,
    ) -> _IRLS:
        """Penalized IRLS as :func:`priorreg.irls.penalized_irls`, one pass per point.

        ``bounded=True`` solves each working problem under ``self.bounds`` and
        treats means outside the family's domain as an infinite deviance (as
        :mod:`priorreg.bounded_glm`), so halved steps stay feasible.
        """
        step = _bounded_step(self) if bounded else None
        value = _bounded_deviance if bounded else _deviance
        penalty = self._full_penalty
        b0 = self.prior_values
        params: FloatArray | None = None
        if start is not None:
            params = np.asarray(start, dtype=float)
        elif np.any(b0):
            params = b0.copy()
        point: _Point | None = None
        if params is not None:
            point = self._evaluate(params)
            if not _valid(value(point)):
                params = None
        if params is None:
            point = self._evaluate(None)
        assert point is not None
        dev = value(point)
        pen_old = np.inf
        converged = False
        iterations = 0
        clock = time.perf_counter()
        for iterations in range(1, maxiter + 1):
            factor = self._factor_at(point)
            if select is not None:
                lam = select(factor, _NO_ROWS)
            if params is not None:
                pen_old = dev + lam * penalty(params)
            new = b0 + (factor.coef(lam) if step is None else step(factor, lam))
            cand = self._evaluate(new)
            new_pen = value(cand) + lam * penalty(new)
            halvings = 0
            while (
                params is not None
                and halvings < 40
                and (not _valid(new_pen) or new_pen > pen_old + 1e-12 * abs(pen_old))
            ):
                new = 0.5 * (params + new)
                cand = self._evaluate(new)
                new_pen = value(cand) + lam * penalty(new)
                halvings += 1
            if not _valid(new_pen):
                break
            change = abs(new_pen - pen_old) / (abs(new_pen) + 0.1)
            params, point, dev = new, cand, value(cand)
            if self.progress:
                print(
                    f"priorreg: IRLS iteration {iterations}: lam={lam:.4g}, deviance={dev:.8g}, "
                    f"change={change:.2e} ({time.perf_counter() - clock:.1f} s)",
                    file=sys.stderr,
                )
            if change < tol:
                converged = True
                break
        if params is None:
            raise FloatingPointError("penalized IRLS failed at its starting values")
        return _IRLS(params, point, dev, float(lam), converged, iterations)

    def _loglike_at(self, point: _Point, scale: float) -> float:
        """Full log-likelihood at a point (no pass for Binomial, Poisson, Gaussian)."""
        family = self.family
        if _families.is_known_scale(family) and scale == 1.0:
            return float(point.sums["ll1"])
        if isinstance(family, smf.Gaussian):
            s = point.sums
            return float(
                -0.5 * s["g_rss"] / scale
                - 0.5 * self.wnobs * np.log(2 * np.pi * scale)
                + 0.5 * s["g_logv"]
            )
        return float(
            self.source.reduce(
                _glm_loglike,
                family,
                point.params,
                scale,
                progress=self.progress,
                label="log-likelihood pass",
            )["ll"]
        )

    def _finish_dask(self, r: _IRLS) -> GLMFit:
        """Covariance, edf, scale and likelihood at a converged fit (no pass)."""
        factor = self._factor_at(r.point)
        lam = r.lam
        K = factor.cov_factor(lam)
        ncov = K @ K.T
        edf_params = 1.0 - lam * np.einsum("ij,ji->i", ncov, self.penalty_matrix)
        edf = float(factor.edf(lam))
        pearson = float(r.point.sums["pearson"])
        scale = self._scale_for(None, edf, pearson, float(r.deviance))
        if isinstance(self.family, smf.Gaussian) and isinstance(
            self.family.link, smf.links.Identity
        ):
            llf = self._loglike_at(r.point, float(r.point.sums["g_rss"]) / self.wnobs)
        else:
            llf = self._loglike_at(r.point, scale)
        rows = self.source.rows
        params = r.params
        return GLMFit(
            lam=lam,
            params=params,
            normalized_cov=ncov,
            edf=edf,
            edf_params=edf_params,
            fittedvalues=rows(_glm_rows, self.family, params, "mu", name="mu"),
            resid=rows(_glm_rows, self.family, params, "resid_response", name="resid"),
            rss=pearson,
            scale=scale,
            eta=rows(_glm_rows, self.family, params, "eta", name="eta"),
            deviance=r.deviance,
            pearson_chi2=pearson,
            llf=llf,
            converged=r.converged,
            iterations=r.iterations,
            factor=factor,
            zw=_NO_ROWS,
        )

    def _irls(
        self,
        lam: float,
        start: FloatArray | None,
        maxiter: int,
        tol: float,
        start_fit: GLMFit | None = None,
    ) -> GLMFit:
        if start_fit is not None:
            start = np.asarray(start_fit.params, dtype=float)
        if self.bounds is not None:
            return bounded_irls(self, lam, start, maxiter, tol)
        return self._finish_dask(self._run_irls(lam, start, maxiter, tol))

    # --------------------------------------------------------- criteria
    def _point_of(self, fit: GLMFit) -> _Point:
        return self._evaluate(np.asarray(fit.params, dtype=float))

    def _loo_deviance(self, fit: GLMFit) -> float:
        _refuse_bounded_rows(self, "loocv")
        factor = fit.factor
        phi = factor.shrinkage(fit.lam)
        total = self.source.reduce(
            _glm_loo,
            self.family,
            np.asarray(fit.params, dtype=float),
            factor.row_map,
            factor.n_unpen,
            phi,
            progress=self.progress,
            label="leave-one-out pass",
        )["loo"]
        total = float(total) / self.wnobs
        return total if np.isfinite(total) else math.inf

    def _loglike_of(self, fit: GLMFit) -> Callable[[float], float]:
        point = self._point_of(fit)
        return lambda phi: self._loglike_at(point, phi)

    # ------------------------------------------------------------- fit
    def _performance_iteration(self, criterion: str, maxiter: int, tol: float) -> GLMFit:
        if self.bounds is not None:  # as BoundedPriorGLM: the bounded fit at the PI's lam
            return bounded_performance_iteration(self, criterion, maxiter, tol)
        pi = self._run_irls(1.0, None, maxiter, tol, select=working_selector(criterion))
        return self._finish_dask(pi)

    def _results(self, fit: GLMFit, selection: Any, cov_type: str) -> Any:
        if self.bounds is not None:
            check_cov_type(cov_type)
        res = DaskPriorGLMResults(self, fit, selection=selection, cov_type=cov_type)
        wrapper = PriorGLMResultsWrapper(res)
        if self.bounds is None:
            return wrapper
        return bounded_results(wrapper, self, fit, selection, cov_type, linear=False)

    def predict(  # type: ignore[override]
        self,
        params: ArrayLike,
        exog: ArrayLike | None = None,
        offset: ArrayLike | None = None,
        exposure: ArrayLike | None = None,
        which: str = "mean",
    ) -> Any:
        """Mean or linear predictor; without ``exog`` lazy for the data's rows."""
        if exog is not None:
            return PriorGLM.predict(self, params, exog, offset, exposure, which)
        if offset is not None or exposure is not None:
            raise ValueError("offset/exposure for the training rows come from the data")
        what = "eta" if which == "linear" else "mu"
        if which not in ("mean", "linear"):
            raise ValueError(f"which must be 'mean' or 'linear', not {which!r}")
        params = np.asarray(params, dtype=float)
        return self.source.rows(_glm_rows, self.family, params, what, name="predicted")


class DaskPriorGLMResults(PriorGLMResults):
    """``PriorGLMResults`` of a Dask fit: n-length attributes are lazy.

    ``mu``, ``fittedvalues``, the residuals and ``hat_diag`` are Dask
    collections; ``rsquared`` and ``loocv`` cost one pass each.
    """

    @cached_property
    def hat_diag(self) -> Any:
        """Leverages of the working linear model at convergence (lazy)."""
        _refuse_bounded_rows(self.model, "hat_diag")
        factor = self._glm_fit.factor
        return self.model.source.rows(
            _glm_leverage,
            self.family,
            np.asarray(self.params, dtype=float),
            factor.row_map,
            factor.n_unpen,
            factor.shrinkage(self.lam),
            name="hat_diag",
        )

    @cached_property
    def rsquared(self) -> float:
        """Deviance explained, ``1 - D / D_null`` (one pass for the null deviance)."""
        model = self.model
        mean = model._scan["iw_y"] / model._scan["iw"]
        null_dev = model.source.reduce(
            _glm_null_deviance, model.family, mean, progress=model.progress, label="null deviance"
        )["dev"]
        return 1.0 - self.deviance / null_dev if null_dev > 0 else float("nan")

    def _rows(self, what: str) -> Any:
        params = np.asarray(self.params, dtype=float)
        return self.model.source.rows(_glm_rows, self.family, params, what, name=what)

    @cached_property
    def resid_response(self) -> Any:
        """``y - mu`` (lazy)."""
        return self._rows("resid_response")

    @cached_property
    def resid_pearson(self) -> Any:
        """``(y - mu) sqrt(var_weights / V(mu))`` (lazy)."""
        return self._rows("resid_pearson")

    @cached_property
    def resid_deviance(self) -> Any:
        """Signed square roots of the unit deviances (lazy)."""
        return self._rows("resid_deviance")

    def predict(  # type: ignore[override]
        self,
        exog: Any = None,
        offset: ArrayLike | None = None,
        exposure: ArrayLike | None = None,
        which: str = "mean",
        transform: bool = True,
    ) -> Any:
        """Predictions: lazy for the training rows or Dask data, else as in memory."""
        if exog is None:
            return self.model.predict(self.params, None, offset, exposure, which)
        if is_dask(exog):
            return predict(self, exog, offset=offset, exposure=exposure, which=which)
        return super().predict(exog, offset, exposure, which, transform)

    def get_prediction(self, exog: Any = None, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """As in memory, for new in-memory data (intervals are n-length)."""
        if exog is None or is_dask(exog):
            raise NotImplementedError(
                "get_prediction needs in-memory new data (a pandas DataFrame); for the "
                "Dask rows use predict(), which is lazy"
            )
        return super().get_prediction(exog, *args, **kwargs)
