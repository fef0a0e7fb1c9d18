r"""Separation: directions along which the data alone push the estimates to infinity.

A binomial response is *separated* (completely or quasi-completely, Albert
and Anderson 1984) when a direction :math:`d` of the coefficients exists
with :math:`x_i'd \ge 0` for every row with :math:`y_i = 1`,
:math:`x_i'd \le 0` for every row with :math:`y_i = 0`, :math:`x_i'd = 0`
for every row with a proportion strictly between 0 and 1, and
:math:`Xd \ne 0`. Moving the estimate along :math:`d` then never lowers
the likelihood, so the maximum-likelihood estimate does not exist. The
same holds for a Poisson (or negative binomial) response with the log
link and a group of zero counts: :math:`x_i'd \le 0` where
:math:`y_i = 0` and :math:`x_i'd = 0` where :math:`y_i > 0`.

With the penalty :math:`\lambda (b - b_0)'L(b - b_0)` the estimate is
finite whenever :math:`d'Ld > 0`, but along :math:`d` it is set by the
prior and :math:`\lambda` alone. A separating direction in the null space
of ``L`` (e.g. the intercept for an all-ones response) has no finite
estimate at any :math:`\lambda`.

Detection is the linear programme of Konis (2007): maximise
:math:`\sum_i s_i x_i'd` subject to the sign constraints above and
:math:`-1 \le d_j \le 1` (columns scaled to a maximum of 1), with
:math:`s_i = \pm 1` the side of each row at a bound; a positive optimum is a
separating direction. It is solved once per model (HiGHS, through
``scipy.optimize.linprog``) when the design, or its distinct rows at any
number of rows, has at most :data:`LP_MAX_ENTRIES` entries; other designs
are screened column by column (a single column whose non-zero rows all lie
on one side, such as an indicator of a category with only zeros), which
finds the usual case of a sparse categorical level but not every
separating combination. Dask models are checked the same way in one pass
over their partitions (:mod:`priorreg.outofcore.separation`).

References
----------
Albert, A. and Anderson, J. A. (1984). On the existence of maximum
likelihood estimates in logistic regression models. Biometrika 71, 1-10.
Konis, K. (2007). Linear programming algorithms for detecting separated
data in binary logistic regression models. DPhil thesis, Oxford.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linprog
from statsmodels.genmod import families as smf

from priorreg import backends
from priorreg._typing import FloatArray
from priorreg.exceptions import SeparationWarning, warn
from priorreg.penalty import Penalty

__all__ = [
    "LP_MAX_ENTRIES",
    "ColumnScreen",
    "Separation",
    "distinct_rows",
    "find_separation",
    "warn_separation",
]

#: Designs with more entries (distinct rows x columns) than this are screened
#: column by column instead of by the linear programme (about 0.05 s here).
LP_MAX_ENTRIES = 20_000
#: Rows of the first chunk when a design is reduced to its distinct rows; each
#: later chunk is twice as long, up to :data:`_CHUNK_MAX_ROWS`.
_SAMPLE_ROWS = 1000
#: Rows per block when a large design is screened in place.
_BLOCK_ROWS = 4096
_CHUNK_MAX_ROWS = 65536
#: ``x_i'd`` (columns scaled to max 1, ``|d_j| <= 1``) above this is a row
#: pushed to its bound; HiGHS' feasibility tolerance is 1e-7, so a margin of 10x.
_TOL = 1e-6
#: Links under which a binomial mean tends to 0 or 1 as ``eta -> -inf, +inf``.
_BINOMIAL_LINKS = (
    smf.links.Logit,
    smf.links.Probit,
    smf.links.CLogLog,
    smf.links.LogLog,
    smf.links.Cauchy,
)


@dataclass(frozen=True)
class Separation:
    """A separating direction of a GLM's data.

    Attributes
    ----------
    direction : ndarray of shape (k,)
        ``d``: the linear predictor ``X d`` is >= 0 on rows at the upper
        bound, <= 0 at the lower bound, 0 elsewhere.
    columns : list of str
        Design columns with a non-zero component in ``d``.
    n_rows : int
        Rows the direction pushes to their bound (``|x_i'd| > 0``).
    unbounded : bool
        ``d`` lies in the null space of the penalty: no finite estimate at
        any ``lam``.
    """

    direction: FloatArray
    columns: list[str]
    n_rows: int
    unbounded: bool

    def message(self, lam: float) -> str:
        """One sentence on what the separation means at ``lam``, one on what to do."""
        cols = ", ".join(self.columns)
        what = (
            f"the data separate the outcomes along [{cols}] ({self.n_rows} observation(s) "
            "fitted at their bound by a direction of these coefficients)"
        )
        if self.unbounded:
            return (
                f"perfect separation: {what}, and the penalty does not reach that direction, "
                "so these estimates have no finite value at any lam: they only grew until "
                "IRLS stopped. Penalize these columns (penalty=), or drop the columns or "
                "rows that separate."
            )
        if lam == 0:
            return (
                f"perfect separation: {what}, so the maximum-likelihood estimate does not "
                "exist and these estimates only grew until IRLS stopped. Use lam > 0: the "
                "estimates are then finite, set by the prior along that direction."
            )
        return (
            f"perfect separation: {what}. The data alone would push these estimates to "
            f"infinity, so at lam={lam:.4g} their values along that direction are set by "
            "the prior and lam alone, and their standard errors, tests and intervals "
            "restate the prior rather than evidence from the data."
        )


def _row_sides(family: Any, y: FloatArray) -> FloatArray | None:
    """Side of each row (+1 upper bound, -1 lower, 0 interior); ``None``: no separation possible."""
    if isinstance(family, smf.Binomial):
        if not isinstance(family.link, _BINOMIAL_LINKS):
            return None
        side = np.where(y >= 1, 1.0, np.where(y <= 0, -1.0, 0.0))
    elif isinstance(family, (smf.Poisson, smf.NegativeBinomial)):
        if not isinstance(family.link, smf.links.Log):
            return None
        side = np.where(y <= 0, -1.0, 0.0)
    else:
        return None
    if not np.any(side):
        return None
    return side


def _lp_direction(Xs: FloatArray, side: FloatArray, null: FloatArray | None) -> FloatArray | None:
    """Konis' LP on scaled columns; ``null`` (``m x k``) restricts ``d`` to ``null d = 0``."""
    k = Xs.shape[1]
    bound = side != 0
    A = -(side[bound, None] * Xs[bound])
    eq = Xs[~bound]
    if null is not None:
        eq = np.vstack([eq, null]) if eq.size else null
    res = linprog(
        A.sum(axis=0),
        A_ub=A if A.size else None,
        b_ub=np.zeros(A.shape[0]) if A.size else None,
        A_eq=eq if eq.size else None,
        b_eq=np.zeros(eq.shape[0]) if eq.size else None,
        bounds=[(-1.0, 1.0)] * k,
        method="highs",
    )
    if res.status != 0 or not -res.fun > _TOL:
        return None
    return np.asarray(res.x, dtype=float)


@dataclass(frozen=True)
class ColumnScreen:
    """Per-column counts of the single-column screen, summed over row blocks.

    A column alone separates when every row where it is non-zero sits on one
    side: ``upper == nonzero`` (``d = +e_j``) or ``lower == nonzero``
    (``d = -e_j``), with ``nonzero > 0``. The counts of row blocks add up
    (:meth:`merged`), so the screen can be taken block by block, inside any
    pass over the rows (in memory, or per partition of out-of-core data).

    Attributes
    ----------
    nonzero : ndarray of int, shape (n_coef,)
        Rows with ``|x_ij| / scale_j > 1e-6``.
    upper, lower : ndarray of int, shape (n_coef,)
        Of those, rows with ``side_i x_ij > 0`` and with ``side_i x_ij < 0``.
    """

    nonzero: npt.NDArray[np.int64]
    upper: npt.NDArray[np.int64]
    lower: npt.NDArray[np.int64]

    @classmethod
    def of_block(cls, Xs: FloatArray, side: FloatArray) -> ColumnScreen:
        """The counts of one row block ``Xs`` (columns scaled to max 1) with row sides ``side``.

        Parameters
        ----------
        Xs : ndarray of shape (m, n_coef)
            Rows of the design divided by the column scales.
        side : ndarray of shape (m,)
            +1 upper bound, -1 lower bound, 0 interior (see ``row_sides``).

        Returns
        -------
        ColumnScreen
        """
        nz = np.abs(Xs) > _TOL
        signed = side[:, None] * Xs
        return cls(
            np.count_nonzero(nz, axis=0),
            np.count_nonzero(nz & (signed > 0), axis=0),
            np.count_nonzero(nz & (signed < 0), axis=0),
        )

    def merged(self, other: ColumnScreen) -> ColumnScreen:
        """The counts of both blocks' rows."""
        return ColumnScreen(
            self.nonzero + other.nonzero, self.upper + other.upper, self.lower + other.lower
        )

    def undecided(self) -> bool:
        """Some column may still separate alone (more rows can change the answer)."""
        return bool(np.any((self.upper == self.nonzero) | (self.lower == self.nonzero)))

    def direction(self, free: FloatArray) -> FloatArray | None:
        """The first column (``free`` allows it) whose non-zero rows all sit on one side.

        Upper side first, then lower; ``None`` when there is none.
        """
        reached = (self.nonzero > 0) & free
        for sign, count in ((1.0, self.upper), (-1.0, self.lower)):
            ok = reached & (count == self.nonzero)
            if ok.any():
                d = np.zeros(self.nonzero.size)
                d[int(np.flatnonzero(ok)[0])] = sign
                return d
        return None


def _column_screen(Xs: Any, side: FloatArray) -> ColumnScreen:
    """:class:`ColumnScreen` of the rows of ``Xs``, read in row blocks.

    ``Xs`` is an array or :class:`_ScaledRows`, so a large design is screened
    without a copy of its size. The reading stops as soon as every column has
    non-zero rows on both sides (or on the interior): no column can separate
    alone then, whatever the other rows hold (with continuous columns, after
    the first block).
    """
    n, k = Xs.shape
    total = ColumnScreen.of_block(np.zeros((0, k)), side[:0])
    for start in range(0, n, _BLOCK_ROWS):
        rows = slice(start, min(start + _BLOCK_ROWS, n))
        total = total.merged(ColumnScreen.of_block(np.asarray(Xs[rows]), side[rows]))
        if not total.undecided():
            break
    return total


@dataclass(frozen=True)
class _ScaledRows:
    """The rows ``X / scale`` (with ``side`` as a last column when given), a block at a time."""

    X: FloatArray
    scale: FloatArray
    side: FloatArray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        n, k = self.X.shape
        return n, k + (self.side is not None)

    def __getitem__(self, rows: slice) -> FloatArray:
        block = self.X[rows] / self.scale
        return block if self.side is None else np.column_stack([block, self.side[rows]])


def _max_lp_rows(k: int) -> int:
    """Most rows of ``k`` columns the linear programme takes (read at call time)."""
    return max(LP_MAX_ENTRIES // max(k, 1), 1)


def distinct_rows(
    rows: FloatArray, max_rows: int, counts: FloatArray | None = None
) -> tuple[FloatArray, FloatArray] | None:
    """Distinct rows of ``rows`` and their counts, or ``None`` once there are too many.

    The rows are read in chunks of growing length, so a design of
    continuous columns is given up after its first chunk rather than
    sorted whole.

    Parameters
    ----------
    rows : ndarray of shape (n, m)
    max_rows : int
        Give up when more distinct rows than this are found.
    counts : ndarray of shape (n,), optional
        Count of each row (default one).

    Returns
    -------
    tuple of (ndarray of shape (u, m), ndarray of shape (u,)) or None
    """
    n = rows.shape[0]
    counts = np.ones(n) if counts is None else counts
    acc, acc_counts = rows[:0], counts[:0]
    start, chunk = 0, _SAMPLE_ROWS
    while start < n:
        stop = min(start + chunk, n)
        uniq, inverse = np.unique(
            np.vstack([acc, rows[start:stop]]), axis=0, return_inverse=True
        )
        weights = np.concatenate([acc_counts, counts[start:stop]])
        acc_counts = np.bincount(inverse.ravel(), weights=weights, minlength=uniq.shape[0])
        acc = uniq
        if acc.shape[0] > max_rows:
            return None
        start, chunk = stop, min(2 * chunk, _CHUNK_MAX_ROWS)
    return acc, acc_counts


def find_separation(
    X: FloatArray,
    y: FloatArray,
    family: Any,
    names: Sequence[str],
    L: Penalty | FloatArray,
    *,
    peak: FloatArray | None = None,
) -> Separation | None:
    """A separating direction of ``(y, X)`` for ``family``, or ``None``.

    Parameters
    ----------
    X : ndarray of shape (n_obs, n_coef)
    y : ndarray of shape (n_obs,)
        Response (binomial: proportions).
    family : statsmodels family
    names : sequence of str
        Column names, for the message.
    L : Penalty, or ndarray of shape (n_coef, n_coef) or (n_coef,)
        Penalty matrix, or its diagonal.
    peak : ndarray of shape (n_coef,), optional
        The largest absolute value of each column, when known
        (:func:`priorreg.checks.column_stats`): no pass to find it.

    Returns
    -------
    Separation or None
    """
    side = _row_sides(family, y)
    if side is None:
        return None
    scale = peak
    if scale is None:
        scale = np.maximum(np.max(X, axis=0), -np.min(X, axis=0))  # max |x|, no copy of X
    scale = np.where(scale > 0, scale, 1.0)
    Xs: Any = _ScaledRows(X, scale)  # read in row blocks: no copy of the design
    Xu, su = Xs, side
    if X.size > LP_MAX_ENTRIES:
        # duplicated rows add nothing to the programme (a pattern seen on both
        # sides gets both constraints, i.e. x_i'd = 0): designs of indicators
        # shrink to few rows at any n; the first chunks tell when they do not
        found_rows = distinct_rows(_ScaledRows(X, scale, side), _max_lp_rows(X.shape[1]))
        if found_rows is not None:
            rows = found_rows[0]
            Xu, su = rows[:, :-1], rows[:, -1]
    else:
        Xu = X / scale

    counts = _column_screen(Xu, su)  # one screen serves both calls of ``screen``

    def screen(free: FloatArray) -> FloatArray | None:
        return counts.direction(free)

    lp_rows = Xu if isinstance(Xu, np.ndarray) and Xu.size <= LP_MAX_ENTRIES else None
    found = search_direction(screen, lp_rows, su, L, scale)
    if found is None:
        return None
    d, unbounded = found
    n = X.shape[0]  # n_rows counts every row the direction reaches
    n_rows = sum(
        int(np.sum(np.abs(Xs[start : start + _BLOCK_ROWS] @ d) > _TOL))
        for start in range(0, n, _BLOCK_ROWS)
    )
    return make_separation(d, scale, names, n_rows, unbounded)


def search_direction(
    screen: Callable[[Any], FloatArray | None],
    Xu: FloatArray | None,
    su: FloatArray,
    L: Penalty | FloatArray,
    scale: FloatArray,
) -> tuple[FloatArray, bool] | None:
    """A separating direction in scaled coordinates, and whether the penalty misses it.

    Parameters
    ----------
    screen : callable
        ``screen(free)``: a single-column direction among the columns that the
        boolean mask ``free`` allows, or ``None``.
    Xu : ndarray of shape (m, n_coef) or None
        Distinct rows of the scaled design for the linear programme; ``None``
        to screen single columns only.
    su : ndarray of shape (m,)
        Side of each row of ``Xu`` (ignored when ``Xu`` is ``None``).
    L : Penalty, or ndarray of shape (n_coef, n_coef) or (n_coef,)
        Penalty matrix, or its diagonal.
    scale : ndarray of shape (n_coef,)
        Column scales (the maximum absolute value of each column).

    Returns
    -------
    tuple of (ndarray, bool) or None
        ``(d, unbounded)`` with ``d`` in scaled coordinates.
    """
    Lm = Penalty.of(L).matrix()
    penalized = np.abs(np.diagonal(Lm)) > 0
    # one column alone names the culprit exactly; the programme finds combinations
    d = screen(np.ones(Lm.shape[0], dtype=bool))
    if d is None and Xu is not None:
        d = _lp_direction(Xu, su, None)
    if d is None:
        return None
    d_unbounded = None
    if not np.all(penalized):
        null = Lm / scale[None, :]  # L (d / scale) = 0 in the original coordinates
        d_unbounded = screen(~penalized)
        if d_unbounded is None and Xu is not None:
            d_unbounded = _lp_direction(Xu, su, null[np.any(Lm != 0, axis=1)])
    if d_unbounded is not None:
        return d_unbounded, True
    return d, False


def make_separation(
    d: FloatArray, scale: FloatArray, names: Sequence[str], n_rows: int, unbounded: bool
) -> Separation:
    """The :class:`Separation` of a direction ``d`` found in scaled coordinates.

    Parameters
    ----------
    d : ndarray of shape (n_coef,)
        Direction for the columns divided by ``scale``.
    scale : ndarray of shape (n_coef,)
    names : sequence of str
        Column names.
    n_rows : int
        Rows the direction pushes to their bound.
    unbounded : bool
        Whether ``d`` lies in the null space of the penalty.

    Returns
    -------
    Separation
    """
    big = np.abs(d) > _TOL * np.max(np.abs(d))
    return Separation(
        direction=d / scale,
        columns=[str(names[j]) for j in np.flatnonzero(big)],
        n_rows=n_rows,
        unbounded=unbounded,
    )


def _known_peak(model: Any) -> FloatArray | None:
    """The model's column maxima from its checks, if they describe its ``exog``."""
    stats = model.__dict__.get("_column_stats")
    peak = getattr(stats, "peak", None)
    if peak is None or np.shape(peak) != (np.shape(model.exog)[-1],):
        return None
    return np.asarray(peak, dtype=float)


def model_separation(model: Any) -> Separation | None:
    """:func:`find_separation` of a ``PriorGLM`` (computed once per model).

    Out-of-core models are searched by their backend, in one pass over their
    partitions (:func:`priorreg.outofcore.separation.dask_separation`).
    """
    cache = model.__dict__
    if "_separation" not in cache:
        if getattr(model, "exog", None) is None and hasattr(model, "source"):
            cache["_separation"] = backends.backend_of(model).check_separation(model)
            return cache["_separation"]  # type: ignore[no-any-return]
        try:
            if model.exog is None:  # no rows in memory and no partitions to read
                raise NotImplementedError
            found = find_separation(
                np.asarray(model.exog, dtype=float),
                np.asarray(model.endog_response, dtype=float),
                model.family,
                list(model.exog_names),
                model.penalty,
                peak=_known_peak(model),
            )
        except (AttributeError, NotImplementedError, TypeError):
            found = None
        cache["_separation"] = found
    return cache["_separation"]  # type: ignore[no-any-return]


def warn_separation(separation: Separation | None, lam: float) -> None:
    """Issue the :class:`SeparationWarning` of ``separation`` at ``lam`` (nothing if ``None``)."""
    if separation is not None:
        warn(separation.message(lam), SeparationWarning)
