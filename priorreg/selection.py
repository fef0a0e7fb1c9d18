r"""Penalty selection criteria and the search for their minimum.

For the linear model, with :math:`r_i(\lambda)` the residuals, :math:`h_{ii}`
the leverages and :math:`\mathrm{edf} = \operatorname{tr} H`:

.. math::

    \mathrm{GCV}(\lambda) = \frac{n\, \mathrm{RSS}_w}{(n - \mathrm{edf})^2}
    \quad\text{(Craven and Wahba 1979)},
    \qquad
    \mathrm{LOOCV}(\lambda) = \frac1n\sum_i \frac{w_i r_i^2}{(1 - h_{ii})^2}
    \quad\text{(Allen 1974; exact leave-one-out for linear smoothers)},

and REML is the negative restricted log-likelihood of
:meth:`priorreg.linalg.PathFactor.reml` (Wood 2011). Each is evaluated on a
log grid spanning the data's squared singular values in the whitened
coordinates, then refined by a bounded scalar search on ``log(lam)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from priorreg._typing import FloatArray
from priorreg.exceptions import LamOnEdgeWarning
from priorreg.linalg import PathFactor

__all__ = ["CRITERIA", "Selection", "criterion_path", "default_grid", "select_lam"]

CRITERIA = ("gcv", "loocv", "reml")
_ROW_BLOCK = 65536


def gcv(factor: PathFactor, lams: FloatArray) -> FloatArray:
    """``n RSS_w / (n - edf)^2`` for each ``lam`` (``inf`` when edf >= n)."""
    n = factor.n_obs
    rss = np.asarray(factor.rss(lams))
    dfr = n - np.asarray(factor.edf(lams))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = n * rss / dfr**2
    return np.where(dfr > 0, out, np.inf)


def loocv(factor: PathFactor, z_w: FloatArray, lams: FloatArray) -> FloatArray:
    """Exact leave-one-out mean squared (weighted) error for each ``lam``.

    One matrix product per block of rows gives the residuals and leverages
    of every ``lam`` at once.
    """
    lams = np.atleast_1d(lams)
    total = np.zeros(lams.size)
    n = factor.n_obs
    h0, Bu, fit0 = factor.row_basis
    Bu2 = factor.row_basis_squared
    phi = factor.shrinkage(lams)
    if phi.ndim == 1:
        phi = phi[:, None]
    fphi = phi * factor.f[:, None]
    base = z_w - fit0
    one_minus_h0 = 1.0 - h0
    for start in range(0, n, _ROW_BLOCK):
        sl = slice(start, min(start + _ROW_BLOCK, n))
        resid = base[sl, None] - Bu[sl] @ fphi
        denom = one_minus_h0[sl, None] - Bu2[sl] @ phi
        with np.errstate(divide="ignore", invalid="ignore"):
            resid /= denom
        total += np.einsum("ij,ij->j", resid, resid)
    out = total / n
    return np.where(np.isfinite(out), out, np.inf)


def reml(factor: PathFactor, lams: FloatArray) -> FloatArray:
    """Negative restricted log-likelihood (see ``PathFactor.reml``)."""
    return np.atleast_1d(factor.reml(lams))


def criterion_path(
    factor: PathFactor, z_w: FloatArray, lams: FloatArray, criterion: str
) -> dict[str, FloatArray]:
    """``lam``, ``edf``, ``rss``, ``gcv``, ``reml`` (and ``loocv`` when chosen)."""
    lams = np.asarray(lams, dtype=float)
    out = {
        "lam": lams,
        "edf": np.atleast_1d(factor.edf(lams)),
        "rss": np.atleast_1d(factor.rss(lams)),
        "gcv": gcv(factor, lams),
        "reml": reml(factor, lams),
    }
    if criterion == "loocv":
        out["loocv"] = loocv(factor, z_w, lams)
    return out


def default_grid(factor: PathFactor, num: int = 60) -> FloatArray:
    """Log grid from 1e-3 x the smallest to 1e3 x the largest squared singular value.

    The shrinkage ``d^2 / (d^2 + lam)`` of every direction the data reach
    moves from 1 to 0 inside this range; the lower end is clipped at
    ``1e-12`` of the largest so ill-conditioned designs keep a useful grid.
    """
    d2 = factor.d**2
    if d2.size == 0:
        raise ValueError(
            "nothing is penalized (or the data reach no penalized direction), "
            "so there is no penalty weight to select; pass a number for lam"
        )
    hi = float(d2.max())
    lo = max(float(d2.min()), hi * 1e-12)
    return np.logspace(np.log10(lo) - 3, np.log10(hi) + 3, num)


@dataclass(frozen=True)
class Selection:
    """Outcome of a penalty search: the optimum and the evaluated path."""

    lam: float
    criterion: str
    value: float
    path: dict[str, FloatArray]
    on_edge: bool


def warn_on_edge(criterion: str, lam: float, *, upper: bool, stacklevel: int = 3) -> None:
    """Warn that ``criterion`` is smallest at an end of the ``lam`` values tried."""
    side, meaning = (
        ("upper", "the data agree with the prior, so the penalized estimates stay at it")
        if upper
        else ("lower", "the prior adds little to the data")
    )
    warnings.warn(
        f"{criterion} is smallest at the {side} edge of the lam values tried "
        f"(lam={lam:.4g}): {meaning}. Widen the grid with lams= to search further.",
        LamOnEdgeWarning,
        stacklevel=stacklevel,
    )


def _parabola_vertex(t: FloatArray, v: FloatArray) -> float:
    """Abscissa of the vertex of the parabola through three points (clipped to them)."""
    (t0, t1, t2), (v0, v1, v2) = t, v
    denom = (t0 - t1) * (t0 - t2) * (t1 - t2)
    a = (t2 * (v1 - v0) + t1 * (v0 - v2) + t0 * (v2 - v1)) / denom if denom else 0.0
    if not a > 0:
        return float(t1)
    b = (t2**2 * (v0 - v1) + t1**2 * (v2 - v0) + t0**2 * (v1 - v2)) / denom
    return float(np.clip(-b / (2 * a), t0, t2))


def _scalar(factor: PathFactor, z_w: FloatArray, criterion: str, lam: float) -> float:
    arr = np.array([lam])
    if criterion == "gcv":
        return float(gcv(factor, arr)[0])
    if criterion == "reml":
        return float(reml(factor, arr)[0])
    return float(loocv(factor, z_w, arr)[0])


def select_lam(
    factor: PathFactor,
    z_w: FloatArray,
    criterion: str,
    lams: FloatArray | None = None,
) -> Selection:
    """Minimise a criterion over ``lam``: grid, then bounded search on ``log(lam)``.

    Parameters
    ----------
    factor : PathFactor
        The factorized problem.
    z_w : ndarray of shape (n_obs,)
        ``W^{1/2} (y - o - X b0)`` (needed by LOOCV only).
    criterion : {"gcv", "loocv", "reml"}
        What to minimise.
    lams : array-like, optional
        Grid of positive penalty weights; default :func:`default_grid`.

    Returns
    -------
    Selection

    Warns
    -----
    LamOnEdgeWarning
        When the grid minimum is its first or last point.
    """
    grid = default_grid(factor) if lams is None else np.sort(np.asarray(lams, dtype=float))
    if grid.ndim != 1 or grid.size < 2:
        raise ValueError("lams must be a 1-D grid of at least two penalty weights")
    if not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError("lams must be finite and > 0 (the grid is searched in log(lam))")
    path = criterion_path(factor, z_w, grid, criterion)
    values = path[criterion]
    if not np.any(np.isfinite(values)):
        raise ValueError(f"{criterion} is not finite anywhere on the grid")
    i = int(np.nanargmin(values))
    on_edge = i in (0, grid.size - 1)
    best_lam, best_val = float(grid[i]), float(values[i])
    if on_edge:
        warn_on_edge(criterion, best_lam, upper=i > 0, stacklevel=4)
    else:
        lo, hi = np.log(grid[i - 1]), np.log(grid[i + 1])
        if criterion == "loocv":
            # each LOOCV evaluation is a pass over the rows: zoom in with
            # batches of lams (one matrix product each), then a parabola
            for _ in range(4):
                ts = np.linspace(lo, hi, 9)
                vals = loocv(factor, z_w, np.exp(ts))
                j = min(max(int(np.argmin(vals)), 1), ts.size - 2)
                lo, hi = ts[j - 1], ts[j + 1]
            t_best = _parabola_vertex(ts[j - 1 : j + 2], vals[j - 1 : j + 2])
            value = float(loocv(factor, z_w, np.array([np.exp(t_best)]))[0])
            j_min = int(np.argmin(vals))
            candidates = [(value, t_best), (float(vals[j_min]), float(ts[j_min]))]
            val, t = min(candidates)
            if val <= best_val:
                best_lam, best_val = float(np.exp(t)), val
            return Selection(best_lam, criterion, best_val, path, on_edge)
        opt = minimize_scalar(
            lambda t: _scalar(factor, z_w, criterion, float(np.exp(t))),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-6},
        )
        if opt.fun <= best_val:
            best_lam, best_val = float(np.exp(opt.x)), float(opt.fun)
    return Selection(best_lam, criterion, best_val, path, on_edge)
