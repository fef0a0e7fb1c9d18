"""``PriorGLM`` on Dask data: penalized IRLS with one pass per iteration.

:class:`DaskPriorGLM`, its results, and the per-partition passes of the GLM
(deviance and working factor at a point, log-likelihood, LOOCV, n-length rows).
"""

from __future__ import annotations

import copy
import inspect
import math
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from statsmodels.genmod import families as smf

from priorreg import families as _families
from priorreg import formula as _formula
from priorreg import scale as _scale
from priorreg._typing import FloatArray
from priorreg.bounded import conditional_penalty
from priorreg.bounded_results import bounded_results, check_cov_type
from priorreg.bounds import refuse_several_penalties
from priorreg.fits import FitRequest, GLMFit
from priorreg.glm import PriorGLM
from priorreg.glm_loocv_rows import loo_predictor
from priorreg.glm_results import PriorGLMResults, PriorGLMResultsWrapper
from priorreg.irls import Box, PathSystem, irls_loop, working_selector
from priorreg.linalg import PathFactor, factorize_triangular
from priorreg.multi_dask import combine_in_place, has_several_penalties
from priorreg.outofcore.bounded_glm import bounded_irls, bounded_performance_iteration
from priorreg.outofcore.first_pass import fold_scan, template_setup
from priorreg.outofcore.irls_pass import _PASS_ROWS, Asks, glm_point, loglike_constant
from priorreg.outofcore.irls_pass import PointSpec as _PointSpec
from priorreg.outofcore.irls_pass import starting_mu as _starting_mu
from priorreg.outofcore.model import _NO_ROWS, _DaskModel, _glm_arrays, init_like
from priorreg.outofcore.multi_glm import fit_several
from priorreg.outofcore.passes import _Block, _chunks, _Source
from priorreg.outofcore.prediction import DaskResultsRows


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
        return _leverages(X * np.sqrt(W)[:, None], row_map, k0, phi)


def _leverages(
    Xw: FloatArray, row_map: FloatArray, k0: int, phi: Any, out: FloatArray | None = None
) -> FloatArray:
    r"""Leverages of rows ``Xw = W^{1/2} X`` of the working model (``PathFactor.row_map``).

    .. math::

        B = W^{1/2} X G, \qquad h = \sum_{j < k_0} B_{\cdot j}^2 + (B_{\cdot, k_0:})^{\circ 2}\phi,

    ``G = row_map``; ``B`` is written into ``out`` when given and overwritten.
    """
    B = np.matmul(Xw, row_map, out=out)
    h = np.einsum("ij,ij->i", B[:, :k0], B[:, :k0])
    h += np.square(B[:, k0:], out=B[:, k0:]) @ phi
    return h


def _at(block: _Block, family: Any, spec: _PointSpec) -> _GLMRows:
    resp, var_w, offset, freq_w = _glm_arrays(block, family)
    if spec.params is None:
        mu = _starting_mu(family, resp, spec.y_mean)
        eta = family.link(mu) + 0.0
    else:
        eta = block.X @ spec.params + offset
        mu = family.link.inverse(eta)
    return _GLMRows(resp, var_w, offset, freq_w, eta, mu)


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
    r"""Approximate leave-one-out deviance sum (as :meth:`priorreg.irls.ArrayData.loo_deviance`).

    Row chunk by row chunk, as the IRLS pass (:mod:`priorreg.outofcore.irls_pass`):
    neither the n x k design nor an n-length array is written; the leverages
    (:func:`_leverages`) reuse one buffer for ``B``.
    """
    resp, var_w, offset, freq_w = _glm_arrays(block, family)
    k, n = len(block.columns), block.n
    B = np.empty((min(_PASS_ROWS, n), row_map.shape[1]))  # reused per chunk
    total = 0.0
    with np.errstate(all="ignore"):
        for rows, a in _chunks(block.columns, None, n=n, size=_PASS_ROWS):
            X = a[:, :k]
            eta = X @ params + offset[rows]
            mu = family.link.inverse(eta)
            y, vw, fw = resp[rows], var_w[rows], freq_w[rows]
            X *= np.sqrt(fw * vw * family.weights(mu))[:, None]  # the chunk's buffer
            h = _leverages(X, row_map, k0, phi, out=B[: X.shape[0]])
            mu_loo = family.link.inverse(loo_predictor(family.link, y, eta, mu, h))
            total += float(np.sum(fw * family.resid_dev(y, mu_loo, var_weights=vw) ** 2))
    return {"loo": total}


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
class _At:
    """A point as the IRLS loop sees it: ``inf`` deviance for invalid means when bounded."""

    point: _Point
    deviance: float

    @property
    def params(self) -> FloatArray | None:
        return self.point.params


@dataclass(frozen=True)
class _IRLS:
    """An IRLS fit (as :class:`priorreg.irls.IRLSResult`, with the point's sums)."""

    params: FloatArray
    point: _Point
    deviance: float
    lam: float
    converged: bool
    iterations: int


#: Points kept per fit (the last few: a converged fit's point is read again
#: for its log-likelihood, a warm start's for its first step).
_CACHED_POINTS = 8


@dataclass
class _FitState:
    """What one ``fit()`` of a Dask GLM learns on its way: passes made, recent points.

    Lives on the copy of the model that ``fit()`` works on (the results'
    ``model``), never on the model the user built; the cache of points is
    bounded (:data:`_CACHED_POINTS`, least recently used out).
    """

    passes: int = 0
    points: OrderedDict[bytes, _Point] = field(default_factory=OrderedDict)
    #: ``ll + D/2`` of the data (:func:`priorreg.outofcore.irls_pass.loglike_constant`),
    #: measured by the fit's first pass; ``None`` until then or for other families.
    ll_const: float | None = None

    def cached(self, key: bytes) -> _Point | None:
        point = self.points.get(key)
        if point is not None:
            self.points.move_to_end(key)
        return point

    def keep(self, key: bytes, point: _Point) -> None:
        self.points[key] = point
        while len(self.points) > _CACHED_POINTS:
            self.points.popitem(last=False)


def _point_key(params: FloatArray | None) -> bytes:
    """The key of a point among the fit's recent points."""
    return b"start" if params is None else np.asarray(params, dtype=float).tobytes()


@dataclass(frozen=True)
class DaskData:
    """Dask partitions for :func:`priorreg.irls.irls_loop`: one pass per point.

    ``evaluate`` reads every partition once and returns the deviance at the
    coefficients together with the triangular factor of the working problem
    there (TSQR), so the step from an accepted point needs no further pass;
    ``system`` builds the path factor from that ``(k + 1)``-square factor.
    With ``box`` the working solutions obey the bounds and means outside the
    family's domain count as an infinite deviance.
    """

    model: DaskPriorGLM
    box: Box | None = None

    @property
    def b0(self) -> FloatArray:
        """The prior."""
        return self.model.prior_values

    @property
    def family(self) -> Any:
        """The statsmodels family."""
        return self.model.family

    def evaluate(self, params: FloatArray | None) -> _At:
        """The point at ``params`` (a pass unless it is among the fit's recent points)."""
        point = self.model._evaluate(params)
        dev = point.deviance
        if self.box is not None and point.sums["bad_mu"]:
            dev = math.inf
        return _At(point, dev)

    def system(self, at: _At) -> PathSystem:
        """The path factor of the working problem at ``at`` (no pass)."""
        return PathSystem(self.model._factor_at(at.point), _NO_ROWS, self.b0, self.box)

    def penalty(self, params: FloatArray) -> float:
        """``(b - b0)' L (b - b0)``."""
        return self.model._full_penalty(params)

    def loglike(self, at: _At, scale: float) -> float:
        """Full log-likelihood at a point (no pass for Binomial, Poisson, Gaussian).

        At scale 1 a family of known scale reads ``ll1`` from the fit's first
        pass, later points ``c - D/2`` (:func:`~priorreg.outofcore.irls_pass.loglike_constant`).
        """
        model, point = self.model, at.point
        family = model.family
        if _families.is_known_scale(family) and scale == 1.0:
            if "ll1" in point.sums:
                return float(point.sums["ll1"])
            if model._state.ll_const is not None:  # ll = c - D / 2, c measured once
                return model._state.ll_const - 0.5 * point.deviance
        if isinstance(family, smf.Gaussian):
            s = point.sums
            return float(
                -0.5 * s["g_rss"] / scale
                - 0.5 * model.wnobs * np.log(2 * np.pi * scale)
                + 0.5 * s["g_logv"]
            )
        return float(
            model.source.reduce(
                _glm_loglike,
                family,
                point.params,
                scale,
                progress=model.progress,
                label="log-likelihood pass",
            )["ll"]
        )

    def loo_deviance(self, at: _At, factor: PathFactor, lam: float) -> float:
        """Approximate leave-one-out deviance (one pass; refused for a bounded fit)."""
        model = self.model
        _refuse_bounded_rows(model, "loocv")
        phi = factor.shrinkage(lam)
        total = model.source.reduce(
            _glm_loo,
            model.family,
            np.asarray(at.params, dtype=float),
            factor.row_map,
            factor.n_unpen,
            phi,
            progress=model.progress,
            label="leave-one-out pass",
        )["loo"]
        total = float(total) / model.wnobs
        return total if np.isfinite(total) else math.inf


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
    per accepted step. ``fit()`` works on a copy of the model, the results'
    ``model``, which counts the fit's passes (``res.model.passes``); the model
    itself does not change. With several penalties it fits at fixed lams, the
    one penalty ``S`` and prior ``b0*`` they make, with the same passes
    (:mod:`priorreg.outofcore.multi_glm`).
    """

    _std_key = "freq_weights"
    _kind = "glm"
    _takes_bounds = True  # bounded IRLS in priorreg.outofcore.bounded_glm

    __init__ = init_like(PriorGLM)  # PriorGLM's parameters and ``progress``

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
        self.scaletype = _scale.model_scale(scale)
        self._state = _FitState()
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
            defer=design is not None,  # a formula's template rows give the first fit's start
        )
        if design is not None:  # bad input is refused now, before any pass
            template_setup(self)

    def _scanned(self) -> None:
        refuse_several_penalties(self.bounds, getattr(self, "penalty_components", None))
        self.wnobs = float(self._scan["wnobs"])
        self._y_mean = float(self._scan["y_sum"]) / self.nobs
        lams = self.__dict__.get("_fixed_lams")
        if lams is not None:  # a fit at fixed lams of several penalties (multi_glm)
            combine_in_place(self, lams)

    @property
    def problem(self) -> None:  # type: ignore[override]
        """``None``: the IRLS arrays are n-length and stay in the partitions."""
        return None

    @property
    def passes(self) -> int:
        """Passes over the data made by the fit of these results (``res.model.passes``).

        ``fit()`` works on a copy of the model (its results' ``model``), so the
        model the user built stays at 0.
        """
        return self._state.passes

    def fit(self, *args: Any, **kwargs: Any) -> PriorGLMResultsWrapper:  # type: ignore[override]
        """As :meth:`priorreg.PriorGLM.fit` (same parameters), on a copy of the model.

        The copy (the results' ``model``) keeps this fit's passes and points;
        the separation check, a property of the data, is made once per model,
        as in memory.
        """
        if has_several_penalties(self):  # S and b0* at fixed lams (multi_glm)
            return fit_several(self, *args, **kwargs)
        state = _FitState()
        if self.__dict__.get("_pending") is not None:  # the scan rides on the first point
            fold_scan(self, state)
        fitting = copy.copy(self)
        fitting._state = state
        try:
            return PriorGLM.fit(fitting, *args, **kwargs)
        finally:  # the model's once-per-model cache (priorreg.separation.model_separation)
            if "_separation" in fitting.__dict__:
                self.__dict__.setdefault("_separation", fitting.__dict__["_separation"])

    fit.__signature__ = inspect.signature(PriorGLM.fit)  # type: ignore[attr-defined]

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
    def _evaluate(
        self, params: FloatArray | None, separation: tuple[FloatArray, int] | None = None
    ) -> _Point:
        """The point at ``params``: one pass unless it is among the fit's recent points.

        ``separation`` (column scales, most distinct rows) adds the separation
        check's counts to the pass (:mod:`priorreg.outofcore.separation`).
        The fit's first pass of a family of known scale also measures the
        log-likelihood constant (:func:`~priorreg.outofcore.irls_pass.loglike_constant`).
        """
        state = self._state
        key = _point_key(params)
        cached = state.cached(key)
        if cached is not None and (separation is None or "sep_nonzero" in cached.sums):
            return cached
        spec = _PointSpec(None if params is None else np.asarray(params, dtype=float), self._y_mean)
        family = self.family
        asks = Asks(
            loglike=state.ll_const is None and _families.is_known_scale(family),
            gaussian=isinstance(family, smf.Gaussian),
            separation=separation,
        )
        return self._keep_point(state, spec.params, self._point_sums(state, spec, asks))

    def _point_sums(
        self, state: _FitState, spec: _PointSpec, asks: Asks, b0: FloatArray | None = None
    ) -> dict[str, Any]:
        """One IRLS pass at ``spec`` (``b0``: the prior, when the scan has not set it yet)."""
        state.passes += 1
        return self.source.reduce(  # type: ignore[no-any-return]
            glm_point,
            self.family,
            spec,
            self.prior_values if b0 is None else b0,
            asks,
            progress=self.progress,
            label=f"IRLS pass {state.passes}",
        )

    def _keep_point(
        self, state: _FitState, params: FloatArray | None, sums: dict[str, Any]
    ) -> _Point:
        """The point of a pass's sums, kept among the fit's recent points."""
        if state.ll_const is None:
            state.ll_const = loglike_constant(self.family, sums)
        point = _Point(params, sums)
        state.keep(_point_key(params), point)
        return point

    def _first_start(self) -> FloatArray | None:
        """Where a fit without a start evaluates first (:func:`priorreg.irls.irls_loop`)."""
        b0 = self.prior_values
        return b0.copy() if np.any(b0) else None

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

    def _irls_data(self, bounded: bool = False) -> DaskData:
        """The partitions for :func:`priorreg.irls.irls_loop`, with the bounds when ``bounded``."""
        box = None
        if bounded:
            box = Box.of(self.bounds, self.prior_values, self.penalty_matrix, self.intercept_idx)
        return DaskData(self, box)

    def _run_irls(
        self,
        lam: float,
        start: FloatArray | None,
        maxiter: int,
        tol: float,
        select: Callable[[PathFactor, FloatArray], float] | None = None,
        bounded: bool = False,
    ) -> _IRLS:
        """Penalized IRLS: :func:`priorreg.irls.irls_loop` on :class:`DaskData`.

        ``bounded=True`` solves each working problem under ``self.bounds`` and
        treats means outside the family's domain as an infinite deviance (as
        :mod:`priorreg.bounded_glm`), so halved steps stay feasible.
        """
        data = self._irls_data(bounded)
        pick = None
        if select is not None:
            chooser = select

            def pick(system: PathSystem) -> float:
                return chooser(system.factor, system.zw)

        report = None
        if self.progress:
            clock = time.perf_counter()

            def report(iteration: int, lam: float, dev: float, change: float) -> None:
                print(
                    f"priorreg: IRLS iteration {iteration}: lam={lam:.4g}, deviance={dev:.8g}, "
                    f"change={change:.2e} ({time.perf_counter() - clock:.1f} s)",
                    file=sys.stderr,
                )

        r = irls_loop(
            data, lam, start=start, maxiter=maxiter, tol=tol, select=pick, report=report
        )
        assert r is not None  # the path route never declines
        at = r.point
        return _IRLS(r.params, at.point, at.deviance, r.lam, r.converged, r.iterations)

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
        llf_scale = scale
        if isinstance(self.family, smf.Gaussian) and isinstance(
            self.family.link, smf.links.Identity
        ):  # statsmodels' convention: the Gaussian likelihood concentrated in the scale
            llf_scale = float(r.point.sums["g_rss"]) / self.wnobs
        llf = self._irls_data().loglike(_At(r.point, r.deviance), llf_scale)
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

    def _converged(self, req: FitRequest) -> GLMFit:
        start = req.start_params
        if self.bounds is not None:
            return bounded_irls(self, req.lam, start, req.maxiter, req.tol)
        return self._finish_dask(self._run_irls(req.lam, start, req.maxiter, req.tol))

    # --------------------------------------------------------- criteria
    def _point_of(self, fit: GLMFit) -> _At:  # type: ignore[override]
        """The point of ``fit`` (no pass while it is among the fit's recent points)."""
        return self._irls_data().evaluate(np.asarray(fit.params, dtype=float))

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

    def _predict_rows(self, params: FloatArray, extra: Any, which: str) -> Any:
        """Mean or linear predictor for the data's rows, lazy (:meth:`PriorGLM.predict`)."""
        if extra is not None:
            raise ValueError("offset/exposure for the training rows come from the data")
        what = "eta" if which == "linear" else "mu"
        return self.source.rows(_glm_rows, self.family, params, what, name="predicted")


class DaskPriorGLMResults(DaskResultsRows, PriorGLMResults):
    """``PriorGLMResults`` of a Dask fit: n-length attributes are lazy.

    ``mu``, ``fittedvalues``, the residuals and ``hat_diag`` are Dask
    collections; ``rsquared`` and ``loocv`` cost one pass each. ``predict``
    is the in-memory one: lazy (a Dask collection) for the training rows and
    for Dask data, numbers for in-memory new data.
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
