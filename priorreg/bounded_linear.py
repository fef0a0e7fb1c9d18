r"""``PriorRidge`` with bounds: the fit at one ``lam`` and the selection of ``lam``.

The bounded estimate at ``lam`` comes from the model's one factorization
(:class:`priorreg.bounded.ReducedProblem`). Inference and the selection
criteria are those of the free coefficients with the active ones held at
their bound (conditional on the active set):

.. math::

    \mathrm{edf}(\lambda) = \operatorname{tr}\big(X_F (X_F'WX_F +
    \lambda L_{FF})^{-1} X_F'W\big), \qquad
    \mathrm{GCV}(\lambda) = \frac{n\,\mathrm{RSS}_w(\lambda)}{(n - \mathrm{edf})^2},

REML is that of the free coefficients' model (offset ``X_A b_A``, prior
the conditional prior of ``b_F`` given ``b_A``), LOOCV uses the free
columns' leverages. The active set changes with ``lam`` at finitely many
points, so each criterion is piecewise smooth in ``lam`` (continuous for
GCV and LOOCV's residuals, with kinks, and possibly jumps in REML where the
dimension of the free set changes). It is minimised on a grid and refined by
a bounded scalar search between the grid neighbours of the minimum, as
without bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from priorreg import backends
from priorreg._typing import FloatArray
from priorreg.bounded import (
    FreeProblem,
    ReducedProblem,
    free_edf,
    free_index,
    free_reml,
    free_rss,
)
from priorreg.fits import BoundedLinearFit
from priorreg.linalg import PathFactor, factorize
from priorreg.selection import GridMinimum, Selection, lam_grid, loocv, warn_on_edge

__all__ = ["BoundedLinearFit", "criteria_at", "fit_bounded", "select_bounded"]


def _delta_bounds(model: Any) -> tuple[FloatArray, FloatArray]:
    b = model.bounds
    return b.lower - model.prior_values, b.upper - model.prior_values


def _exact_params(model: Any, delta: FloatArray, active: np.ndarray) -> FloatArray:
    """``b0 + delta`` with the active coefficients exactly at their bound."""
    return model.bounds.snap(model.prior_values + delta, active)


@dataclass
class SearchMemo:
    """What the fits of one search over ``lam`` (or one results object) share.

    The free problems of each active set and their factors from the data;
    the model keeps none of it, so fitting leaves the model as it was.
    """

    problems: dict[bytes, FreeProblem] = field(default_factory=dict)
    data_factors: dict[bytes, tuple[PathFactor | None, FloatArray]] = field(default_factory=dict)


def fit_bounded(model: Any, lam: float, memo: SearchMemo | None = None) -> BoundedLinearFit:
    """The bounded fit at ``lam`` (the unbounded one when it satisfies the bounds)."""
    plain = model.solve(lam)
    k = plain.params.size
    if model.bounds.contains(plain.params):
        values = {f.name: getattr(plain, f.name) for f in fields(plain)}
        return BoundedLinearFit(**values, active=np.zeros(k, dtype=bool))
    lo, hi = _delta_bounds(model)
    delta, active = model.reduced.solve(lam, lo, hi)
    params = _exact_params(model, delta, active)
    problems = None if memo is None else memo.problems
    free = model.reduced.free_problem(active, params - model.prior_values, problems)
    ncov = np.zeros((k, k))
    edf_params = np.zeros(k)
    F = free.free
    edf = 0.0
    if F.any():
        ncov_F, edf = free.cov_edf(lam)
        ncov[np.ix_(F, F)] = ncov_F
        pen = free.penalty.times(ncov_F)
        edf_params[F] = 1.0 - lam * np.diagonal(pen)
    fitted, resid, rss = model._rows_at(params)
    return BoundedLinearFit(
        lam=lam,
        params=params,
        normalized_cov=ncov,
        edf=edf,
        edf_params=edf_params,
        fittedvalues=fitted,
        resid=resid,
        rss=free_rss(free, lam) if rss is None else rss,
        active=active,
        free=free,
    )


def free_data_factor(
    model: Any, fit: BoundedLinearFit, memo: SearchMemo | None = None
) -> tuple[PathFactor | None, FloatArray]:
    """Path factor of the free columns from the data, and ``W^1/2`` times their response.

    Needed for leverages (LOOCV, ``hat_diag``): one pass over the data, once
    per active set and held values in ``memo``.
    """
    if model.exog is None:
        raise NotImplementedError(
            "LOOCV and leverages of a bounded fit need the data in memory (out of core "
            "they would need a pass per active set); use lam='gcv' or 'reml'"
        )
    free = fit.free
    w = model.weights
    sw = 1.0 if w is None else np.sqrt(w)
    if free is None:  # nothing at a bound: the model's own factor
        return model.factor, model._weighted_data[1]
    key = free.free.tobytes() + np.asarray(free.delta_active).tobytes()
    if memo is not None and key in memo.data_factors:
        return memo.data_factors[key]
    F = free.free
    z = model._prior_residual - model.exog[:, ~F] @ free.delta_active
    if free.factor is None:
        return None, z * sw
    z = z - model.exog[:, F] @ free.shift
    intercept = free_index(model.intercept_idx, F)
    out = factorize(model.exog[:, F], z, free.L_free, w, intercept), z * sw
    if memo is not None:
        memo.data_factors[key] = out
    return out


def _loocv_at(model: Any, fit: BoundedLinearFit, memo: SearchMemo | None = None) -> float:
    if model.exog is None:  # out of core: one pass with the free factor's row map
        return float(backends.backend_of(model).free_loocv(model, fit))
    factor, zw = free_data_factor(model, fit, memo)
    if factor is None:  # every coefficient fixed: no leverage
        wr2 = (1.0 if model.weights is None else model.weights) * fit.resid**2
        return float(np.mean(wr2))
    return float(loocv(factor, zw, np.array([fit.lam]))[0])


def criteria_at(
    model: Any, lam: float, criterion: str, memo: SearchMemo | None = None
) -> dict[str, float]:
    """``lam``, ``edf``, ``rss``, ``gcv``, ``reml``, ``n_active`` (``loocv``) of the bounded fit."""
    lo, hi = _delta_bounds(model)
    reduced: ReducedProblem = model.reduced
    delta, active = reduced.solve(lam, lo, hi, start=model.factor.coef(lam))
    params = _exact_params(model, delta, active)
    free = reduced.free_problem(
        active, params - model.prior_values, None if memo is None else memo.problems
    )
    n = reduced.n_obs
    rss = free_rss(free, lam)
    edf = free_edf(free, lam)
    dfr = n - edf
    out = {
        "lam": lam,
        "edf": edf,
        "rss": rss,
        "gcv": n * rss / dfr**2 if dfr > 0 else np.inf,
        "reml": free_reml(free, lam, n, reduced.log_weights),
        "n_active": float(active.sum()),
    }
    if criterion == "loocv":
        out["loocv"] = _loocv_at(model, fit_bounded(model, lam, memo), memo)
    return out


def select_bounded(model: Any, criterion: str, grid: FloatArray | None) -> Selection:
    """Minimise ``criterion`` over ``lam`` for the bounded fit (grid, then bounded search)."""
    grid = lam_grid(model.factor, grid)
    if criterion == "loocv" and model.exog is None:
        raise NotImplementedError(
            "selecting lam by LOOCV under bounds needs the data in memory (out of core "
            "it would cost a pass per lam tried); use lam='gcv' or 'reml' (res.loocv of "
            "the fit costs one pass)"
        )
    memo = SearchMemo()  # active sets recur along the grid: their problems are built once
    rows = [criteria_at(model, float(lam), criterion, memo) for lam in grid]
    path = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    best = GridMinimum.of(grid, path[criterion], criterion)
    if best.on_edge:
        warn_on_edge(criterion, best.lam, upper=best.index > 0, stacklevel=5)
        return Selection(best.lam, criterion, best.value, path, True)
    lam, value = best.refine(lambda lam: criteria_at(model, lam, criterion, memo)[criterion])
    return Selection(lam, criterion, value, path, False)
