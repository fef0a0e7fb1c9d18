"""``PriorRidge`` on Dask data: one TSQR pass, then every ``lam`` in memory.

:class:`DaskPriorRidge`, its results, and the passes for fitted values,
residuals, leverages and exact LOOCV.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from priorreg._typing import ArrayLike, FloatArray
from priorreg.linalg import PathFactor, factorize_triangular
from priorreg.linear import LinearFit, PriorRidge
from priorreg.outofcore.dispatch import is_dask
from priorreg.outofcore.model import _NO_ROWS, _DaskModel, init_like
from priorreg.outofcore.passes import _Block, _Source
from priorreg.outofcore.prediction import DaskResultsRows, predict
from priorreg.results import PriorRidgeResults, PriorRidgeResultsWrapper
from priorreg.selection import (
    GridMinimum,
    Selection,
    criterion_path,
    lam_grid,
    select_lam,
    warn_on_edge,
    zoom_loocv,
)

#: Chebyshev nodes (in ``log(lam)``) on which LOOCV is interpolated around
#: the grid minimum. Its singularities are a distance pi away in log(lam)
#: (at lam = -d^2), so the interpolant is accurate to rounding there.
_LOOCV_NODES = 32


def _fitted(block: _Block, params: FloatArray) -> FloatArray:
    out = block.X @ params
    o = block.rows.get("offset")
    return out if o is None else out + o


def _resid(block: _Block, params: FloatArray) -> FloatArray:
    return block.y - _fitted(block, params)


def _leverage(block: _Block, row_map: FloatArray, k0: int, phi: FloatArray) -> FloatArray:
    w = block.rows.get("weights")
    Xw = block.X if w is None else block.X * np.sqrt(w)[:, None]
    B = Xw @ row_map
    return np.einsum("ij,ij->i", B[:, :k0], B[:, :k0]) + (B[:, k0:] ** 2) @ phi


def _loocv_pass(
    block: _Block,
    row_map: FloatArray,
    k0: int,
    g0: FloatArray,
    fphi: FloatArray,
    phi: FloatArray,
    b0: FloatArray,
) -> dict[str, Any]:
    """Sum over the rows of ``(r_i / (1 - h_ii))^2`` for every ``lam`` at once."""
    w = block.rows.get("weights")
    sw = None if w is None else np.sqrt(w)
    z = _resid(block, b0)
    Xw = block.X if sw is None else block.X * sw[:, None]
    zw = z if sw is None else z * sw
    B = Xw @ row_map
    B0, Bu = B[:, :k0], B[:, k0:]
    resid = (zw - B0 @ g0)[:, None] - Bu @ fphi
    lev = np.einsum("ij,ij->i", B0, B0)[:, None] + (Bu * Bu) @ phi
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"loo": np.sum((resid / (1.0 - lev)) ** 2, axis=0)}


class DaskPriorRidge(_DaskModel, PriorRidge):  # type: ignore[misc]
    r"""``PriorRidge`` on Dask data: one TSQR pass, then every ``lam`` in memory.

    Built by ``PriorRidge(dask_endog, dask_exog, ...)`` or
    ``PriorRidge.from_formula(formula, dask_dataframe, ...)``; the arguments
    are those of :class:`priorreg.PriorRidge`, per-row options being column
    names of the data (formula), scalars, or Dask collections partitioned
    like the data. ``progress=True`` shows a progress bar for each pass.

    ``fit`` is :meth:`priorreg.PriorRidge.fit` and returns a
    :class:`DaskPriorRidgeResults` (a ``PriorRidgeResults``): the same
    estimates, inference, criteria and summary as in memory;
    ``fittedvalues``, ``resid`` and ``hat_diag`` are lazy Dask collections,
    and ``loocv`` costs one more pass. GCV and REML selection need no pass
    over the data; LOOCV selection needs two.
    """

    _std_key = "weights"
    _kind = "linear"

    __init__ = init_like(PriorRidge)  # PriorRidge's parameters and ``progress``

    def _setup_from_source(
        self, source: _Source, endog_t: Any, exog_t: Any, **options: Any
    ) -> None:
        """Set up on ``source``; ``options`` as for ``_DaskModel._setup_dask``."""
        self.weights = None
        self.offset = None
        self._setup_dask(source, endog_t, exog_t, **options)
        if np.ndim(self._scan["y_mom"][1]) and np.size(self._scan["y_mom"][1]) != 1:
            raise ValueError("PriorRidge needs a response with one column")

    @cached_property
    def factor(self) -> PathFactor:
        """The factor of the whole data, from the TSQR factor of the first pass.

        ``R`` of ``[W^1/2 X, W^1/2 (y - o)]`` times the unit upper-triangular
        ``[[I, -b0], [0, 1]]`` is the factor of ``[W^1/2 X, W^1/2 z]`` with
        ``z = y - o - X b0``.
        """
        R = np.array(self._scan["fit_R"], dtype=float)
        k = self.k_params
        R[:, k] -= R[:, :k] @ self.prior_values
        return factorize_triangular(
            R,
            self.penalty_matrix,
            int(self.nobs),
            self.intercept_idx,
            float(self._scan["log_w"]),
        )

    def solve(self, lam: float) -> LinearFit:
        """Estimates and their normalized covariance at a fixed ``lam``.

        The TSQR factor is a Householder factor of the whole data, so the
        estimate has QR accuracy without the in-memory refinement steps.
        """
        factor = self.factor
        L = self.penalty_matrix
        K = factor.cov_factor(lam)
        params = self.prior_values + factor.coef(lam)
        ncov = K @ K.T
        edf_params = 1.0 - lam * np.einsum("ij,ji->i", ncov, L)
        return self._fit_at(lam, params, ncov, edf_params)

    def _rows_at(self, params: FloatArray) -> tuple[Any, Any, float | None]:
        """Lazy fitted values and residuals at ``params``; the RSS comes from the factor."""
        fitted = self.source.rows(_fitted, params, name="fittedvalues")
        return fitted, self.source.rows(_resid, params, name="resid"), None

    def loocv_path(self, lams: ArrayLike) -> FloatArray:
        """Exact LOOCV for every ``lam`` of ``lams`` in one pass over the data."""
        lams = np.atleast_1d(np.asarray(lams, dtype=float))
        factor = self.factor
        phi = factor.shrinkage(lams)
        if phi.ndim == 1:
            phi = phi[:, None]
        total = self.source.reduce(
            _loocv_pass,
            factor.row_map,
            factor.n_unpen,
            factor.g0,
            phi * factor.f[:, None],
            phi,
            self.prior_values,
            progress=self.progress,
            label="LOOCV pass",
        )["loo"]
        out = np.asarray(total, dtype=float) / factor.n_obs
        return np.where(np.isfinite(out), out, np.inf)

    def _select_loocv(self, lams: FloatArray | None) -> Selection:
        """LOOCV selection as ``select_lam``: the grid in one pass, the bracket in another."""
        factor = self.factor
        grid = lam_grid(factor, lams)
        path = criterion_path(factor, _NO_ROWS, grid, "gcv")
        path["loocv"] = values = self.loocv_path(grid)
        best = GridMinimum.of(grid, values, "loocv")
        if best.on_edge:
            warn_on_edge("loocv", best.lam, upper=best.index > 0, values=values)
            return Selection(best.lam, "loocv", best.value, path, True)
        # the zoom of select_lam, on an interpolant of LOOCV over the bracket
        # computed in one pass
        lo, hi = best.log_bracket
        nodes = np.cos(np.pi * (np.arange(_LOOCV_NODES) + 0.5) / _LOOCV_NODES)
        t = 0.5 * (lo + hi) + 0.5 * (hi - lo) * nodes
        curve = np.polynomial.Chebyshev.fit(
            t, self.loocv_path(np.exp(t)), _LOOCV_NODES - 1, domain=[lo, hi]
        )
        lam, value = zoom_loocv(lambda lams: curve(np.log(lams)), lo, hi)
        if value > best.value:
            lam, value = best.lam, best.value
        return Selection(lam, "loocv", value, path, False)

    def _select(self, criterion: str, grid: FloatArray | None) -> Selection:
        if self.bounds is not None:  # on the reduced factor (priorreg.bounded_linear)
            return super()._select(criterion, grid)
        if criterion == "loocv":
            return self._select_loocv(grid)
        return select_lam(self.factor, _NO_ROWS, criterion, grid)

    def _results(self, fit: LinearFit, selection: Selection | None, cov_type: str) -> Any:
        res = DaskPriorRidgeResults(self, fit, selection=selection, cov_type=cov_type)
        return PriorRidgeResultsWrapper(res)

    def path(self, lams: ArrayLike, criterion: str = "gcv") -> pd.DataFrame:
        """Criteria and edf on a grid of ``lam`` (LOOCV: one pass)."""
        lams_arr = np.asarray(lams, dtype=float)
        table = criterion_path(self.factor, _NO_ROWS, lams_arr, "gcv")
        if criterion == "loocv":
            table["loocv"] = self.loocv_path(lams_arr)
        return pd.DataFrame(table)

    def predict(  # type: ignore[override]
        self, params: ArrayLike, exog: ArrayLike | None = None, offset: ArrayLike | None = None
    ) -> Any:
        """Linear prediction; without ``exog``, a lazy Dask collection for the data's rows."""
        if exog is not None:
            return PriorRidge.predict(self, params, exog, offset)
        return self.source.rows(_fitted, np.asarray(params, dtype=float), name="predicted")


class DaskPriorRidgeResults(DaskResultsRows, PriorRidgeResults):
    """``PriorRidgeResults`` of a Dask fit: n-length attributes are lazy.

    ``fittedvalues``, ``resid`` and ``hat_diag`` are Dask collections;
    ``loocv`` costs one pass; ``predict`` takes pandas or Dask data.
    """

    @cached_property
    def loocv(self) -> float:
        """Exact leave-one-out mean squared weighted error at ``lam`` (one pass)."""
        return float(self.model.loocv_path([self.lam])[0])

    @cached_property
    def hat_diag(self) -> Any:
        """Leverages ``h_ii`` (lazy)."""
        factor = self.model.factor
        phi = factor.shrinkage(self.lam)
        return self.model.source.rows(
            _leverage, factor.row_map, factor.n_unpen, phi, name="hat_diag"
        )

    @cached_property
    def centered_tss(self) -> float:
        """Weighted sum of squares of ``y - offset`` about its mean (first pass)."""
        return float(np.ravel(self.model._scan["y_mom"][2])[0])

    @cached_property
    def uncentered_tss(self) -> float:
        """Weighted sum of squares of ``y - offset`` (first pass)."""
        return float(self.model._scan["y_sq"])

    @cached_property
    def rsquared(self) -> float:
        """``1 - RSS_w / TSS_w`` (TSS from the first pass)."""
        scan = self.model._scan
        tss = float(np.ravel(scan["y_mom"][2])[0]) if self.model.k_constant else scan["y_sq"]
        return 1.0 - self.ssr / tss

    @cached_property
    def llf(self) -> float:
        r"""Gaussian log-likelihood, as :attr:`PriorRidgeResults.llf`."""
        n = self.nobs
        out = -n / 2 * (np.log(2 * np.pi * self.ssr / n) + 1)
        return float(out + 0.5 * float(self.model._scan["log_w"]))

    def predict(  # type: ignore[override]
        self, exog: Any = None, offset: ArrayLike | None = None, transform: bool = True
    ) -> Any:
        """Predicted mean: lazy for the training rows or Dask data, else as in memory."""
        if exog is None:
            if offset is not None:
                raise ValueError("the offset of the training rows comes from the data")
            return self.fittedvalues
        if is_dask(exog):
            return predict(self, exog, offset=offset)
        return super().predict(exog, offset=offset, transform=transform)
