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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from priorreg._typing import ArrayLike, FloatArray
from priorreg.exceptions import LamOnEdgeWarning, grid_option, warn
from priorreg.linalg import PathFactor

__all__ = [
    "CRITERIA",
    "GridMinimum",
    "LoocvPath",
    "Selection",
    "criterion_path",
    "default_grid",
    "lam_grid",
    "select_lam",
    "zoom_loocv",
]

CRITERIA = ("gcv", "loocv", "reml")
_EPS = float(np.finfo(float).eps)
#: A criterion whose values on the grid differ by less than this (relative)
#: is flat: it cannot locate lam (rounding of a zero RSS is ~1e-30 relative).
_FLAT = 1e-12
#: Residual sums of squares below this share of ``|z|^2`` are rounding (eps times
#: a margin of 1e3, squared): the fit is exact at every lam.
_EXACT_RSS = (1e3 * _EPS) ** 2
_ROW_BLOCK = 8192  # rows per block: the block's buffers stay in cache
#: LOOCV values computed at once between the grid neighbours of the grid minimum.
_LOOCV_ZOOM = 17


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

    With the row basis ``(h0, Bu, fit0)`` of :attr:`PathFactor.row_basis`
    and ``phi = d^2 / (d^2 + lam)``, the residuals and leverages of every
    ``lam`` are ``z_w - fit0 - Bu (phi * f)`` and ``h0 + Bu^2 phi``: two
    matrix products per block of rows, with the block's ``Bu^2`` and both
    products kept in cache-sized buffers (one read of ``Bu`` per call).
    """
    lams = np.atleast_1d(lams)
    n = factor.n_obs
    h0, Bu, fit0 = factor.row_basis
    phi = factor.shrinkage(lams)
    if phi.ndim == 1:
        phi = phi[:, None]
    fphi = phi * factor.f[:, None]
    base = z_w - fit0
    one_minus_h0 = 1.0 - h0
    block = min(_ROW_BLOCK, n)
    resid = np.empty((block, lams.size))
    denom = np.empty((block, lams.size))
    squares = np.empty((block, Bu.shape[1]))
    total = np.zeros(lams.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, n, block):
            rows = slice(start, min(start + block, n))
            size = rows.stop - start
            r, h, sq = resid[:size], denom[:size], squares[:size]
            np.matmul(Bu[rows], fphi, out=r)
            np.subtract(base[rows, None], r, out=r)
            np.multiply(Bu[rows], Bu[rows], out=sq)
            np.matmul(sq, phi, out=h)
            np.subtract(one_minus_h0[rows, None], h, out=h)
            np.divide(r, h, out=r)
            total += np.einsum("ij,ij->j", r, r)
    out = total / n
    return np.where(np.isfinite(out), out, np.inf)


class LoocvPath:
    r"""LOOCV for any number of ``lam`` in ``[lo, hi]`` after one pass over the rows.

    The shrinkage factors :math:`\phi_j(\lambda) = d_j^2/(d_j^2 + \lambda)`
    are shifted logistic functions of :math:`\log\lambda`, so the vectors
    :math:`\phi(\lambda)` for all ``lam`` of an interval span a space of low
    dimension ``p`` (a Cauchy-like matrix: about 20 to 60 directions to
    rounding error, whatever ``r``). With an orthonormal basis ``U_phi``
    (``r x p``, from the SVD of :math:`\phi` sampled densely on the
    interval, singular values kept down to ``eps`` relative) and
    :math:`\phi(\lambda) = U_\phi c(\lambda)`, one pass over the row basis
    stores ``Bu diag(f) U_phi`` and ``Bu^2 U_phi`` (``n x p`` each); every
    later ``lam`` costs ``O(n p)``:

    .. math::

        r_i = z_i - \mathrm{fit0}_i - (B_u\,\mathrm{diag}(f)\,U_\phi)_i\, c, \qquad
        h_{ii} = h0_i + (B_u^{2}\,U_\phi)_i\, c .

    Each call checks that :math:`\phi(\lambda)` lies in the span to
    ``1e-13`` (absolute; then leverages are off by less than that) and
    otherwise falls back to the exact :func:`loocv`.
    """

    #: Largest ``max |phi - U_phi c|`` accepted (absolute: ``phi`` is in [0, 1]).
    tolerance = 1e-13

    def __init__(self, factor: PathFactor, z_w: FloatArray, lo: float, hi: float) -> None:
        self.factor, self.z_w = factor, z_w
        t = np.log(np.asarray([lo, hi], dtype=float))
        samples = np.exp(np.linspace(t[0] - 1.0, t[1] + 1.0, int(8 * (t[1] - t[0])) + 64))
        phi = factor.shrinkage(samples)
        if phi.shape[0]:
            U, sv, _ = np.linalg.svd(phi, full_matrices=False)
            self.basis = U[:, sv > sv[0] * _EPS]
        else:  # nothing penalized reaches the data: no shrinkage to represent
            self.basis = np.zeros((0, 0))
        p = self.basis.shape[1]
        n = factor.n_obs
        # stored transposed (p x n): the products U_phi' (Bu^2)' run faster
        self.fitted_basis = np.empty((p, n))  # (Bu diag(f) U_phi)'
        self.leverage_basis = np.empty((p, n))  # (Bu^2 U_phi)'
        basis_t = np.ascontiguousarray(self.basis.T)
        self.base = np.empty(n)  # z_w - fit0
        self.one_minus_h0 = np.empty(n)
        fU = factor.f[:, None] * self.basis
        for rows, h0, Bu2, fit0, BufU in factor.row_blocks(_ROW_BLOCK, right=fU, squared=True):
            self.fitted_basis[:, rows] = BufU.T
            np.matmul(basis_t, Bu2.T, out=self.leverage_basis[:, rows])
            np.subtract(z_w[rows], fit0, out=self.base[rows])
            np.subtract(1.0, h0, out=self.one_minus_h0[rows])

    def __call__(self, lams: FloatArray) -> FloatArray:
        """LOOCV at each of ``lams`` (exact :func:`loocv` outside the span)."""
        lams = np.atleast_1d(np.asarray(lams, dtype=float))
        phi = self.factor.shrinkage(lams)
        c = self.basis.T @ phi
        if phi.size and np.max(np.abs(phi - self.basis @ c)) > self.tolerance:
            return loocv(self.factor, self.z_w, lams)
        n = self.factor.n_obs
        total = np.zeros(lams.size)
        block = min(_ROW_BLOCK, n)
        ct = np.ascontiguousarray(c.T)
        resid, denom = np.empty((lams.size, block)), np.empty((lams.size, block))
        with np.errstate(divide="ignore", invalid="ignore"):
            for start in range(0, n, block):
                rows = slice(start, min(start + block, n))
                r, h = resid[:, : rows.stop - start], denom[:, : rows.stop - start]
                np.matmul(ct, self.fitted_basis[:, rows], out=r)
                np.subtract(self.base[None, rows], r, out=r)
                np.matmul(ct, self.leverage_basis[:, rows], out=h)
                np.subtract(self.one_minus_h0[None, rows], h, out=h)
                np.divide(r, h, out=r)
                total += np.einsum("ij,ij->i", r, r)
        out = total / n
        return np.where(np.isfinite(out), out, np.inf)


def zoom_loocv(
    evaluate: Callable[[FloatArray], FloatArray], lo: float, hi: float
) -> tuple[float, float]:
    """Refine a LOOCV minimum bracketed by ``[lo, hi]`` (log lam): ``(lam, value)``.

    ``evaluate`` maps an array of lams to LOOCV values at once (a pass over
    the rows, or an interpolant of one). Two batches of lams, the second
    between the neighbours of the first's minimum (the spacing shrinks 8
    times each), then the vertex of the parabola through the best three;
    the better of the vertex and the best batch point is returned.
    """
    for _ in range(2):
        ts = np.linspace(lo, hi, _LOOCV_ZOOM)
        vals = np.asarray(evaluate(np.exp(ts)), dtype=float)
        j = min(max(int(np.argmin(vals)), 1), ts.size - 2)
        lo, hi = ts[j - 1], ts[j + 1]
    t_vertex = _parabola_vertex(ts[j - 1 : j + 2], vals[j - 1 : j + 2])
    at_vertex = float(np.asarray(evaluate(np.array([np.exp(t_vertex)])))[0])
    j_min = int(np.argmin(vals))
    value, t = min((at_vertex, t_vertex), (float(vals[j_min]), float(ts[j_min])))
    return float(np.exp(t)), value


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
        out["loocv"] = (
            LoocvPath(factor, z_w, lams.min(), lams.max())(lams)
            if lams.size > _LOOCV_ZOOM
            else loocv(factor, z_w, lams)
        )
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


def lam_grid(factor: PathFactor, lams: ArrayLike | None) -> FloatArray:
    """The grid of ``lam`` to search: ``lams`` sorted, or :func:`default_grid`.

    Raises
    ------
    ValueError
        If the grid has fewer than two points, or a point that is not
        finite and > 0 (the grid is searched in ``log(lam)``).
    """
    grid = default_grid(factor) if lams is None else np.sort(np.asarray(lams, dtype=float))
    if grid.ndim != 1 or grid.size < 2:
        raise ValueError("lams must be a 1-D grid of at least two penalty weights")
    if not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError("lams must be finite and > 0 (the grid is searched in log(lam))")
    return grid


@dataclass(frozen=True)
class GridMinimum:
    """The smallest finite value of a criterion on a grid of ``lam``."""

    grid: FloatArray
    index: int
    lam: float
    value: float

    @classmethod
    def of(cls, grid: FloatArray, values: FloatArray, criterion: str) -> GridMinimum:
        """The minimum of ``values`` (the criterion at each point of ``grid``).

        Raises
        ------
        ValueError
            If no value is finite.
        """
        if not np.any(np.isfinite(values)):
            raise ValueError(f"{criterion} is not finite anywhere on the grid")
        i = int(np.nanargmin(values))
        return cls(grid, i, float(grid[i]), float(values[i]))

    @property
    def on_edge(self) -> bool:
        """Whether the minimum is the first or the last point of the grid."""
        return self.index in (0, self.grid.size - 1)

    @property
    def log_bracket(self) -> tuple[float, float]:
        """``log`` of the grid neighbours of an inner minimum."""
        return float(np.log(self.grid[self.index - 1])), float(np.log(self.grid[self.index + 1]))

    def refine(self, func: Callable[[float], float]) -> tuple[float, float]:
        """``(lam, func(lam))`` minimising ``func`` between the grid neighbours.

        A bounded scalar search on ``log(lam)`` (``xatol = 1e-6``); the grid
        point is kept when the search finds nothing lower. Only for an inner
        minimum (not :attr:`on_edge`).
        """
        opt = minimize_scalar(
            lambda t: func(float(np.exp(t))),
            bounds=self.log_bracket,
            method="bounded",
            options={"xatol": 1e-6},
        )
        if opt.fun <= self.value:
            return float(np.exp(opt.x)), float(opt.fun)
        return self.lam, self.value


def warn_on_edge(
    criterion: str,
    lam: float,
    *,
    upper: bool,
    stacklevel: int = 3,
    values: FloatArray | None = None,
    flat: bool | None = None,
) -> None:
    """Warn that ``criterion`` is smallest at an end of the ``lam`` values tried.

    ``values`` (the criterion on the values tried) tells a flat criterion,
    which does not determine ``lam``, from one that keeps decreasing. The
    warning points at the first caller outside priorreg (``stacklevel`` is
    kept for compatibility and not used); its advice names ``lams=`` in
    Python and ``--lams`` on the command line. ``flat`` overrides the test
    on ``values`` when the caller knows the fit is exact at every ``lam``.
    """
    option = grid_option.get()
    finite = None if values is None else np.asarray(values, dtype=float)
    if finite is not None:
        finite = finite[np.isfinite(finite)]
    if flat is None:
        flat = (
            finite is not None
            and finite.size > 1
            and bool(np.ptp(finite) <= _FLAT * np.max(np.abs(finite)))
        )
    if flat:
        warn(
            f"{criterion} is the same at every lam tried, so it does not determine lam "
            f"(lam={lam:.4g} was taken): the data carry no information on the penalized "
            "coefficients beyond what the unpenalized ones fit (e.g. a constant response). "
            f"Fix lam by a number, or widen the grid with {option} if you expect a minimum.",
            LamOnEdgeWarning,
        )
        return
    side, meaning = (
        (
            "upper",
            "the criterion still falls as lam grows, so the data give no evidence against "
            "the prior and the penalized estimates stay at it",
        )
        if upper
        else ("lower", "the prior adds little to the data")
    )
    warn(
        f"{criterion} is smallest at the {side} edge of the lam values tried "
        f"(lam={lam:.4g}): {meaning}. Widen the grid with {option} to search further.",
        LamOnEdgeWarning,
    )


def _parabola_vertex(t: FloatArray, v: FloatArray) -> float:
    """Abscissa of the vertex of the parabola through three points (clipped to them)."""
    (t0, t1, t2), (v0, v1, v2) = t, v
    if not (np.isfinite(v0) and np.isfinite(v1) and np.isfinite(v2)):
        return float(t1)  # a neighbour that did not converge (value inf): no parabola
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
    grid = lam_grid(factor, lams)
    path = criterion_path(factor, z_w, grid, criterion if criterion != "loocv" else "gcv")
    if criterion == "loocv":  # one pass over the rows serves the grid and the zoom
        loocv_path = LoocvPath(factor, z_w, grid[0], grid[-1])
        path["loocv"] = loocv_path(grid)
    values = path[criterion]
    best = GridMinimum.of(grid, values, criterion)
    # an exact fit at every lam (residuals of rounding size) leaves lam undetermined;
    # the results' DegenerateFitWarning says so: one warning for one cause
    exact = bool(np.max(path["rss"]) <= _EXACT_RSS * float(z_w @ z_w))
    if best.on_edge:
        if not exact:
            warn_on_edge(criterion, best.lam, upper=best.index > 0, values=values)
        return Selection(best.lam, criterion, best.value, path, True)
    if criterion == "loocv":
        lam, value = zoom_loocv(loocv_path, *best.log_bracket)
        if value > best.value:
            lam, value = best.lam, best.value
    else:
        lam, value = best.refine(lambda lam: _scalar(factor, z_w, criterion, lam))
    return Selection(lam, criterion, value, path, False)
