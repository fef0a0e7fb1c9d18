r"""Leverages and LOOCV of a bounded ``PriorRidge`` fit on Dask data (one pass each).

The free coefficients' path factor is built from the reduced factor, with no
pass (:meth:`priorreg.bounded.ReducedProblem.free_problem`); its
``row_map`` takes a row of :math:`W^{1/2}X_F` to the leverage's coordinates,
so one pass over the partitions gives the free columns' leverages
:math:`h_{ii}` and, with the residuals of the bounded fit, the exact
leave-one-out error :math:`\frac1n \sum_i w_i r_i^2 / (1 - h_{ii})^2`
(the active coefficients held at their bound, as in memory).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from priorreg._typing import FloatArray
from priorreg.outofcore.linear import _resid
from priorreg.outofcore.passes import _Block

__all__ = ["free_hat_diag", "free_loocv"]


def _free_leverage(
    block: _Block, free: np.ndarray, lev: tuple[FloatArray, int, FloatArray] | None
) -> FloatArray:
    """Leverages of the free columns of one block (zero when every column is held)."""
    if lev is None:
        return np.zeros(block.X.shape[0])
    row_map, k0, phi = lev
    w = block.rows.get("weights")
    X = block.X[:, free]
    B = (X if w is None else X * np.sqrt(w)[:, None]) @ row_map
    return np.einsum("ij,ij->i", B[:, :k0], B[:, :k0]) + (B[:, k0:] ** 2) @ phi


def _free_loo(
    block: _Block,
    params: FloatArray,
    free: np.ndarray,
    lev: tuple[FloatArray, int, FloatArray] | None,
) -> dict[str, Any]:
    w = block.rows.get("weights")
    r2 = np.ravel(_resid(block, params)) ** 2
    if w is not None:
        r2 = r2 * w
    h = _free_leverage(block, free, lev)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"loo": float(np.sum(r2 / (1.0 - h) ** 2))}


def _leverage_args(model: Any, fit: Any) -> tuple[np.ndarray, Any]:
    """The free columns and ``(row_map, k0, phi)`` of their path factor (``None``: all held)."""
    free_problem = fit.free
    if free_problem is None:  # nothing at a bound: the model's own factor
        factor, free = model.factor, np.ones(int(model.k_params), dtype=bool)
    else:
        factor, free = free_problem.factor, free_problem.free
    if factor is None:
        return free, None
    return free, (factor.row_map, factor.n_unpen, factor.shrinkage(fit.lam))


def free_hat_diag(model: Any, fit: Any) -> Any:
    """Leverages of the free columns' hat matrix (a lazy Dask collection)."""
    free, lev = _leverage_args(model, fit)
    return model.source.rows(_free_leverage, free, lev, name="hat_diag")


def free_loocv(model: Any, fit: Any) -> float:
    """Exact leave-one-out mean squared weighted error of the bounded fit (one pass)."""
    free, lev = _leverage_args(model, fit)
    params = np.asarray(fit.params, dtype=float)
    total = model.source.reduce(
        _free_loo, params, free, lev, progress=model.progress, label="LOOCV pass"
    )["loo"]
    out = float(total) / model.nobs
    return out if np.isfinite(out) else float("inf")
