r"""Bounded ``PriorGLM`` on Dask data: the bounded IRLS of :mod:`priorreg.bounded_glm`.

Each pass of :class:`priorreg.outofcore.glm.DaskPriorGLM` returns the
triangular factor of the working problem at the current point; the bounded
working step needs only that ``k x k`` system
(:meth:`priorreg.bounded.ReducedProblem.solve`), so an accepted IRLS step
still costs one pass. The start, the step halving (means outside the
family's domain count as an infinite deviance), the snapping of the active
coefficients to their bounds and the inference on the free coefficients are
those of the in-memory :class:`priorreg.bounded_glm.BoundedPriorGLM`; the free
coefficients' path factor is built from the reduced factor
(:meth:`priorreg.bounded.ReducedProblem.free_problem`), with no pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, replace
from typing import Any

import numpy as np
from statsmodels.genmod import families as smf

from priorreg._typing import FloatArray
from priorreg.bounded import ReducedProblem
from priorreg.bounded_glm import BoundedGLMFit
from priorreg.exceptions import quietly
from priorreg.glm import GLMFit
from priorreg.irls import working_selector
from priorreg.outofcore.model import _glm_arrays

__all__ = ["bounded_irls", "bounded_performance_iteration"]


def _offset_sum(block: Any, family: Any) -> dict[str, Any]:
    """Sum and count of the offset (with the exposure) of one block."""
    _, _, offset, _ = _glm_arrays(block, family)
    return {"offset": float(np.sum(offset)), "n": int(np.size(offset))}


def _candidates(model: Any, lam: float, start: FloatArray | None) -> Iterator[FloatArray | None]:
    """The starting points of :func:`priorreg.bounded_glm.feasible_start`, in its order."""
    lo, hi = model.bounds.lower, model.bounds.upper
    b0 = model.prior_values
    if start is not None:
        yield np.clip(start, lo, hi)
    data = _data(model)
    try:
        yield np.clip(data.system(data.evaluate(None)).solve(lam, None), lo, hi)
    except (FloatingPointError, ValueError, np.linalg.LinAlgError):
        yield None
    yield np.clip(b0, lo, hi)
    j = model.intercept_idx
    if j is not None:
        point = np.clip(np.zeros_like(b0), lo, hi)
        scan = model._scan
        ybar = float(scan["iw_y"]) / float(scan["iw"])
        sums = model.source.reduce(_offset_sum, model.family, progress=model.progress,
                                   label="mean offset")  # fmt: skip
        with np.errstate(all="ignore"):
            level = float(model.family.link(np.array([ybar]))[0])
            level -= float(sums["offset"]) / max(int(sums["n"]), 1)
        point[j] = np.clip(level, lo[j], hi[j])
        yield point


def _data(model: Any) -> Any:
    """The model's partitions with its bounds on the working solutions (a ``DaskData``)."""
    return model._irls_data(bounded=True)


def feasible_start(model: Any, lam: float, start: FloatArray | None) -> FloatArray | None:
    """A start inside the bounds with valid means (one pass per candidate), or ``None``."""
    data = _data(model)
    for point in _candidates(model, lam, start):
        if point is not None and np.isfinite(data.evaluate(point).deviance):
            return point
    return None


def bounded_irls(
    model: Any, lam: float, start: FloatArray | None, maxiter: int, tol: float
) -> BoundedGLMFit:
    """Converged bounded fit at ``lam`` (as ``BoundedPriorGLM._irls``).

    Raises
    ------
    ValueError
        When no starting point inside the bounds gives valid means.
    """
    point = feasible_start(model, lam, start)
    if point is None:
        raise ValueError(
            "no starting point inside the bounds gives valid means for the "
            f"{type(model.family).__name__} family (e.g. mu > 0): loosen the bounds "
            "or give the intercept room"
        )
    r = model._run_irls(lam, point, maxiter, tol, bounded=True)
    return finish_bounded(model, r)


def finish_bounded(model: Any, r: Any) -> BoundedGLMFit:
    """Snap the estimate to its active bounds; inference on the free coefficients."""
    b0, L, intercept = model.prior_values, model.penalty_matrix, model.intercept_idx
    lo, hi = model.bounds.lower, model.bounds.upper
    factor = model._factor_at(r.point)
    reduced = ReducedProblem.from_factor(factor, L, intercept)
    _, active = reduced.solve(r.lam, lo - b0, hi - b0, start=factor.coef(r.lam))
    params = model.bounds.snap(r.params, active)
    point = model._evaluate(params)
    snapped = replace(r, params=params, point=point, deviance=point.deviance)
    base = model._finish_dask(snapped)
    values = {f.name: getattr(base, f.name) for f in fields(base)}
    if not active.any():
        return BoundedGLMFit(**values, active=active)
    at_point = ReducedProblem.from_factor(model._factor_at(point), L, intercept)
    free_problem = at_point.free_problem(active, params - b0)
    F = free_problem.free
    k = params.size
    ncov = np.zeros((k, k))
    edf_params = np.zeros(k)
    edf = 0.0
    free_factor = free_problem.factor
    if free_factor is not None:
        K = free_factor.cov_factor(r.lam)
        ncov_F = K @ K.T
        ncov[np.ix_(F, F)] = ncov_F
        edf_params[F] = 1.0 - r.lam * np.diagonal(free_problem.L_free @ ncov_F)
        edf = float(free_factor.edf(r.lam))
        values["factor"] = free_factor
    scale = model._scale_for(None, edf, base.pearson_chi2, base.deviance)
    family = model.family
    if isinstance(family, smf.Gaussian) and isinstance(family.link, smf.links.Identity):
        llf = base.llf  # concentrated in the scale: does not depend on it
    else:
        data = model._irls_data()
        llf = data.loglike(data.evaluate(params), scale)
    values.update(
        normalized_cov=ncov, edf=edf, edf_params=edf_params, scale=scale, llf=llf
    )
    return BoundedGLMFit(**values, active=active)


def bounded_performance_iteration(
    model: Any, criterion: str, maxiter: int, tol: float
) -> GLMFit:
    """The bounded fit at the ``lam`` of the unbounded performance iteration."""
    lam = 1.0
    try:
        with quietly():
            pi = model._run_irls(1.0, None, maxiter, tol, select=working_selector(criterion))
            lam = max(pi.lam, 1e-8)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        pass
    return bounded_irls(model, lam, None, maxiter, tol)
