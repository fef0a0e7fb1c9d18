r"""The per-partition work of one Dask IRLS pass, in one sweep of cache-sized row chunks.

At a point ``b`` (or at the family's starting means) each chunk of
:data:`_PASS_ROWS` rows is copied from the
partition's columns into one reused buffer, and while it is in cache gives
the linear predictor, the means, the working weights and response, and its
part of the weighted working problem's Gram matrix:

.. math::

    \eta = X b + o, \qquad \mu = g^{-1}(\eta), \qquad
    W = \frac{w}{g'(\mu)^2 V(\mu)}, \qquad
    t = X (b - b_0) + g'(\mu) (y - \mu),

    G = \sum_c [X_c, t_c]' W_c [X_c, t_c],

the chunks' Gram matrix by ``syrk``, and at the end the partition's
triangular factor, Cholesky of ``G`` when well conditioned, else Householder
QR of the chunks (:class:`~priorreg.outofcore.working.WorkingFactor`). Neither the
n x k design matrix nor an n-length temporary is written (:class:`_Sweep`): the
deviance and Pearson sums are summed chunk by chunk too. (An exposure's
logarithm, a two-column binomial response's proportions and trials, and the
first pass's separation sides are n-length arrays of the block's own.)
With a canonical link :math:`g' = 1/V`, so
:math:`W = w V(\mu)` and :math:`g'(\mu)(y - \mu) = (y - \mu)/V(\mu)`
(:func:`priorreg.canonical.unit_working`, whose :func:`~priorreg.canonical.canonical_pair`
decides the pair for both backends).

The log-likelihood of the families of known scale is computed in the first
pass of a fit only: for an exponential family at scale 1,
:math:`\ell(\mu) + D(\mu)/2` does not depend on :math:`\mu` (it is the
saturated log-likelihood), so that constant, measured once, gives
:math:`\ell = c - D/2` at every later point from its deviance
(:func:`loglike_constant`). The first pass of a fit may also carry the
separation check's per-column counts and distinct rows
(:mod:`priorreg.outofcore.separation`) and the model's scan
(:mod:`priorreg.outofcore.first_pass`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from statsmodels.genmod import families as smf
from statsmodels.genmod.families.links import FLOAT_EPS

from priorreg import families as _families
from priorreg._typing import FloatArray
from priorreg.canonical import canonical_pair, unit_working
from priorreg.irls import mean_out_of_domain
from priorreg.link_slope import slope_sign
from priorreg.outofcore.model import _glm_arrays, glm_totals
from priorreg.outofcore.passes import Column, ColumnStats, _Block, _chunks
from priorreg.outofcore.working import WorkingFactor
from priorreg.separation import _TOL, _row_sides, distinct_rows

__all__ = ["Asks", "PointSpec", "glm_point", "loglike_constant", "starting_mu", "unit_working"]

#: Rows per chunk of a pass. Each chunk costs some 25 NumPy calls, so
#: twice :data:`~priorreg.outofcore.passes._QR_ROWS` halves that overhead:
#: a 250k-row partition of 20 columns took ~11% less CPU, though the chunk
#: (1.4 MB) no longer fits a 1 MB L2. The Gram matrix's rounding, a sum over
#: all the rows whatever the chunking, is bounded alike.
_PASS_ROWS = 8192

#: Fewest rows of a partition's first chunk screened for separation on their own
#: (:class:`_SeparationCounts`): continuous columns leave the screen on them.
_SCREEN_ROWS = 1024

#: Rows gathered before their distinct rows are pooled (``np.unique`` per
#: 8192-row chunk would sort 8 times as often).
_DISTINCT_BATCH = 65536


def starting_mu(family: Any, y: FloatArray, y_mean: float) -> FloatArray:
    """``family.starting_mu`` with the mean of the whole response (not the block's)."""
    if type(family).starting_mu is smf.Family.starting_mu:
        return (y + y_mean) / 2.0
    return family.starting_mu(y)


@dataclass(frozen=True)
class PointSpec:
    """Where to evaluate: coefficients, or the family's starting means (``params=None``)."""

    params: FloatArray | None
    y_mean: float = 0.0


@dataclass(frozen=True)
class Asks:
    """What a pass computes beyond the deviance, Pearson sum and working factor.

    ``loglike``: the log-likelihood at scale 1 (``ll1``); ``gaussian``: the
    Gaussian log-likelihood's pieces; ``separation``: ``(scale, max_rows)``
    of the separation check (column scales, most distinct rows pooled);
    ``scan``: the model's scan (sizes, column extrema and moments, response
    and weight totals: :func:`priorreg.outofcore.model._scan`), when the
    model has not made it yet (:mod:`priorreg.outofcore.first_pass`).
    """

    loglike: bool = False
    gaussian: bool = False
    separation: tuple[FloatArray, int] | None = None
    scan: bool = False


class _SeparationCounts:
    """The separation check's per-column counts and distinct rows, chunk by chunk.

    A column stops being counted once it can no longer pass the screen
    (:func:`priorreg.outofcore.separation.dask_separation`): some non-zero
    row is off the upper side and some off the lower side (``upper <
    nonzero`` and ``lower < nonzero``, which further rows keep so), and a
    row at a bound has been seen (so whether any row at a bound is reached
    is decided). Its partial counts keep both facts through the merge; a
    column that can still separate is counted in full. A design of
    continuous columns is thus screened on its first rows (:data:`_SCREEN_ROWS`).
    """

    def __init__(self, side: FloatArray, scale: FloatArray, max_rows: int) -> None:
        k = scale.size
        self.side, self.scale, self.max_rows = side, scale, max_rows
        self.nonzero, self.upper, self.lower = (np.zeros(k, dtype=np.int64) for _ in range(3))
        # per column, whether another scale counts alike (counts_exact): the
        # smallest |x| counted non-zero and the largest not counted, and the
        # largest |x| of a row counted off the upper side, off the lower side
        # and at a bound (the facts that stop a column being counted)
        self.hi_min, self.lo_max = np.full(k, np.inf), np.zeros(k)
        self.witness = np.zeros((3, k))
        self.live = np.arange(k)
        self.pooled: tuple[FloatArray, FloatArray] | None = (np.zeros((0, k + 1)), np.zeros(0))
        self.batch: list[FloatArray] = []
        self.batch_rows = 0
        self.first = True

    def add(self, rows: slice, X: FloatArray) -> None:
        """Count a chunk: ``|x/scale| > tol`` on the side of the row's bound (or against it).

        With ``s`` the row's side, ``|x| > tol`` and ``s x > 0`` is ``x > tol``
        on the upper side and ``x < -tol`` on the lower one.
        """
        side = self.side[rows]
        if self.first:
            # the first rows alone (more than the distinct rows pooled) tell a design
            # of continuous columns: its later rows are not copied nor counted at all
            self.first = False
            head = min(max(_SCREEN_ROWS, self.max_rows + 1), side.size)
            self._add(X[:head], side[:head])
            X, side = X[head:], side[head:]
        self._add(X, side)

    def _add(self, X: FloatArray, side: FloatArray) -> None:
        if (self.pooled is None and not self.live.size) or not side.size:
            return
        if self.pooled is not None:  # the rows as they are: scaled when the scale is final
            self.batch.append(np.column_stack([X, side]))
            self.batch_rows += side.size
            if self.batch_rows >= _DISTINCT_BATCH or not self.pooled[0].shape[0]:
                self._pool()
        live = self.live
        Xs = X[:, live] / self.scale[live]
        pos, neg = Xs > _TOL, Xs < -_TOL
        self._track(X[:, live], pos, neg, side)
        self.nonzero[live] += np.count_nonzero(pos, axis=0) + np.count_nonzero(neg, axis=0)
        for s, same, other in ((1.0, pos, neg), (-1.0, neg, pos)):
            at = side == s
            if at.any():
                self.upper[live] += np.count_nonzero(same[at], axis=0)
                self.lower[live] += np.count_nonzero(other[at], axis=0)
        nz, up, lo = self.nonzero[live], self.upper[live], self.lower[live]
        self.live = live[~((up < nz) & (lo < nz) & (up + lo > 0))]

    def _track(self, X: FloatArray, pos: Any, neg: Any, side: FloatArray) -> None:
        """Update, for the live columns (``X``), the extremes :func:`counts_exact` reads."""
        live, size = self.live, np.abs(X)
        counted = pos | neg
        s = side[:, None]
        up, lo = (pos & (s > 0)) | (neg & (s < 0)), (neg & (s > 0)) | (pos & (s < 0))

        def largest(mask: Any) -> FloatArray:
            return np.where(mask, size, 0.0).max(axis=0, initial=0.0)  # type: ignore[no-any-return]

        hi = np.where(counted, size, np.inf).min(axis=0, initial=np.inf)
        self.hi_min[live] = np.minimum(self.hi_min[live], hi)
        self.lo_max[live] = np.maximum(self.lo_max[live], largest(~counted))
        for i, mask in enumerate((counted & ~up, counted & ~lo, up | lo)):
            self.witness[i, live] = np.maximum(self.witness[i, live], largest(mask))

    def _pool(self) -> None:
        if self.pooled is None or not self.batch:
            return
        rows, counts = self.pooled
        new = np.vstack(self.batch)
        self.batch, self.batch_rows = [], 0
        self.pooled = distinct_rows(
            np.vstack([rows, new]), self.max_rows, np.concatenate([counts, np.ones(len(new))])
        )

    def sums(self) -> dict[str, Any]:
        self._pool()
        pooled = None if self.pooled is None else (*self.pooled, self.max_rows)
        return {
            "sep_nonzero": self.nonzero,
            "sep_upper": self.upper,
            "sep_lower": self.lower,
            "sep_distinct": pooled,
            "sep_hi_min": self.hi_min,
            "sep_lo_max": self.lo_max,
            "sep_witness_max": self.witness,
        }


def _loglike_from_deviance(family: Any, resp: FloatArray, mu: FloatArray) -> bool:
    """Whether ``ll = c - D/2`` holds exactly at these means (no floor applies).

    :func:`priorreg.families.loglike` clips binomial means to
    ``[1e-300, 1 - 1e-16]``; statsmodels' Poisson and negative binomial
    deviances floor ``y / mu`` at machine epsilon where ``y > 0``.
    """
    if not mu.size:
        return True
    if isinstance(family, smf.Binomial):
        return bool(np.min(mu) >= 1e-300 and np.max(mu) <= 1.0 - 1e-16)
    return not bool(np.any((resp > 0) & (resp < FLOAT_EPS * mu)))


class _Sweep:
    r"""One point's means, working weights and weighted chunk, chunk by chunk.

    Everything is computed on one chunk of rows at a time, in arrays of the
    chunk's size: no n-length temporary is made (the block's own arrays from
    :func:`~priorreg.outofcore.model._glm_arrays` aside: an exposure's
    logarithm, a two-column binomial's proportions). Dask's worker processes
    start with ``MALLOC_TRIM_THRESHOLD_`` set, which turns off glibc's
    adaptive mmap threshold, so every array of 128 KiB or more is a fresh
    ``mmap`` whose pages fault on first touch; a pass that made its means,
    weights and deviance as n-length arrays spent some 40% of its work per
    250k-row partition in those page faults.
    """

    def __init__(
        self, block: _Block, family: Any, spec: PointSpec, b0: FloatArray
    ) -> None:
        self.resp, self.var_w, self.offset, self.freq_w = _glm_arrays(block, family)
        # no weights and one trial per row: 1 * x is x, no product needed
        self.unit = (
            block.y.ndim == 1
            and block.rows.get("var_weights") is None
            and block.rows.get("freq_weights") is None
        )
        self.family, self.kind, self.spec = family, canonical_pair(family), spec
        params = spec.params
        self.coefs = b0[:, None] if params is None else np.column_stack([params, params - b0])
        self.prod = np.empty((min(_PASS_ROWS, block.n), self.coefs.shape[1]))

    def iw(self, rows: slice) -> FloatArray:
        """The rows' prior weights ``freq_w * var_w``."""
        return self.freq_w[rows] * self.var_w[rows]

    def means(self, rows: slice, X: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``mu``, ``eta`` and ``X (b - b0)`` (or its start's equivalent) of a chunk."""
        family, params = self.family, self.spec.params
        prod = np.matmul(X, self.coefs, out=self.prod[: X.shape[0]])
        if params is None:  # the starting means need no coefficients
            mu = starting_mu(family, self.resp[rows], self.spec.y_mean)
            eta = family.link(mu) + 0.0
            return mu, eta, (eta - self.offset[rows]) - prod[:, 0]
        eta = prod[:, 0] + self.offset[rows]
        return family.link.inverse(eta), eta, prod[:, 1]

    def working(
        self, rows: slice, mu: FloatArray, eta: FloatArray, base: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Working weights ``W`` and response ``t`` of a chunk."""
        family, kind = self.family, self.kind
        w_unit, gprime = unit_working(family, mu, kind)
        if kind is None and self.spec.params is not None:  # d mu/d eta = s / g'(mu) (link_slope)
            gprime = slope_sign(family.link, eta, mu) * gprime
        W = w_unit if self.unit and isinstance(w_unit, np.ndarray) else self.iw(rows) * w_unit
        return W, base + gprime * (self.resp[rows] - mu)

    def weighted(self, chunks: Any) -> Any:
        """The chunks ``[sw X_c, sw t_c]`` (Householder fallback of :class:`WorkingFactor`)."""
        k = self.coefs.shape[0]
        for rows, a in chunks:
            W, t = self.working(rows, *self.means(rows, a[:, :k]))
            a[:, k] = t
            a *= np.sqrt(W)[:, None]
            yield rows, a


class _PointSums:
    """Deviance, Pearson sum, means out of the domain and the log-likelihood, chunk by chunk."""

    def __init__(self, sweep: _Sweep, asks: Asks) -> None:
        self.sweep, self.asks = sweep, asks
        self.known = _families.is_known_scale(sweep.family)
        self.dev = self.pearson = self.ll1 = self.g_rss = self.g_logv = 0.0
        self.bad_mu = 0
        self.exact = True  # ll = c - D/2 holds at every chunk's means so far

    def add(self, rows: slice, mu: FloatArray) -> None:
        sweep, family = self.sweep, self.sweep.family
        resp, var_w, freq_w = sweep.resp[rows], sweep.var_w[rows], sweep.freq_w[rows]
        # the in-memory deviance (no floor on binomial or Gamma means)
        self.dev += _families.deviance(family, resp, mu, var_w, freq_w)
        iw = 1.0 if sweep.unit else sweep.iw(rows)  # 1 * x is x
        self.pearson += float(np.sum(iw * (resp - mu) ** 2 / family.variance(mu)))
        self.bad_mu += mean_out_of_domain(family, mu)
        if self.known and self.exact:
            self.exact = _loglike_from_deviance(family, resp, mu)
        if self.asks.loglike:
            self.ll1 += _families.loglike(family, resp, mu, var_w, freq_w, 1.0)
        if self.asks.gaussian:
            self.g_rss += float(np.sum(iw * (resp - mu) ** 2))
            self.g_logv += float(np.sum(freq_w * np.log(var_w)))

    def sums(self, columns: tuple[Column, ...], n: int) -> dict[str, Any]:
        out: dict[str, Any] = {"dev": self.dev, "pearson": self.pearson, "bad_mu": self.bad_mu}
        if self.asks.loglike:
            out["ll1"] = self.ll1
        elif not self.exact:  # where a floor applies, the log-likelihood itself
            sweep, family, k = self.sweep, self.sweep.family, len(columns)
            ll1 = 0.0
            for rows, a in _chunks(columns, None, n=n, size=_PASS_ROWS):
                mu = sweep.means(rows, a[:, :k])[0]
                resp, var_w, freq_w = sweep.resp[rows], sweep.var_w[rows], sweep.freq_w[rows]
                ll1 += _families.loglike(family, resp, mu, var_w, freq_w, 1.0)
            out["ll1"] = ll1
        out["ll_floored"] = int(not self.exact)
        if self.asks.gaussian:
            out.update(g_rss=self.g_rss, g_logv=self.g_logv)
        return out


def glm_point(
    block: _Block, family: Any, spec: PointSpec, b0: FloatArray, asks: Asks
) -> dict[str, Any]:
    """Deviance, Pearson chi2, the working factor and what ``asks`` adds, at one point.

    Returns
    -------
    dict
        ``dev``, ``pearson``, ``bad_mu`` (means outside the family's domain),
        ``bad_w`` (rows whose working weight or response is not finite and
        positive), ``log_w`` and ``work_R`` (the factor of ``W^{1/2} [X, t]``;
        zeros when ``bad_w``), and ``ll1``, ``g_rss``/``g_logv``, ``sep_*``
        when asked.
    """
    sweep = _Sweep(block, family, spec, b0)
    resp = sweep.resp
    n, columns = block.n, block.columns
    k = len(columns)
    sep = None
    if asks.separation is not None:
        side = _row_sides(family, resp)
        sep = _SeparationCounts(np.zeros(n) if side is None else side, *asks.separation)
    stats = ColumnStats(k) if asks.scan else None
    std_w = block.rows.get("freq_weights")  # the scan's moments, as _scan's
    sums = _PointSums(sweep, asks)
    work, bad_w, log_w = WorkingFactor(k + 1), 0, 0.0
    with np.errstate(all="ignore"):
        # a = [X_c, y_c], reused per chunk
        for rows, a in _chunks(columns, resp, n=n, size=_PASS_ROWS):
            Xc = a[:, :k]
            if sep is not None:
                sep.add(rows, Xc)
            if stats is not None:
                stats.add(Xc, None if std_w is None else std_w[rows])
            mu, eta, base = sweep.means(rows, Xc)
            sums.add(rows, mu)
            W, t = sweep.working(rows, mu, eta, base)
            # the sum of log W is finite exactly when every W is finite and positive
            # (|log W| < 745 per row), and a non-finite t makes its sum non-finite:
            # two reductions decide a good chunk; the rows are counted otherwise
            lw = float(np.sum(np.log(W))) if not bad_w else math.nan
            if not (math.isfinite(lw) and math.isfinite(float(np.sum(t)))):
                bad_w += int(np.count_nonzero(~(np.isfinite(W) & (W > 0) & np.isfinite(t))))
            if bad_w:  # not a point IRLS can step from; it fails if it gets there
                continue
            log_w += lw
            a[:, k] = t
            a *= np.sqrt(W)[:, None]  # [sw X_c, sw t_c] in one product
            work.add(a)
        out = sums.sums(columns, n)
    out["bad_w"] = bad_w
    if bad_w:
        out["log_w"] = 0.0
        out["work_R"] = np.zeros((min(n, k + 1), k + 1))
    else:
        out["log_w"] = log_w
        with np.errstate(all="ignore"):
            fallback = sweep.weighted(_chunks(columns, resp, n=n, size=_PASS_ROWS))
            out["work_R"] = work.factor(fallback, n)
    if sep is not None:
        out.update(sep.sums())
    if stats is not None:
        out.update(n=n, counts_list=[n], dropped=block.dropped, **stats.sums())
        out.update(glm_totals(resp, sweep.var_w, sweep.freq_w))
    return out


def loglike_constant(family: Any, sums: dict[str, Any]) -> float | None:
    r"""``ll1 + dev / 2`` of a pass that computed ``ll1``, when it is a constant of the data.

    For Binomial, Poisson and negative binomial (exponential families of
    scale 1 given their parameter) the log-likelihood is
    :math:`\ell(\mu) = c - D(\mu)/2` with :math:`c` the saturated
    log-likelihood, whatever :math:`\mu` where no floor of the deviance or
    of the log-likelihood applies (a pass where one does computes ``ll1``
    itself, ``ll_floored``); ``None`` when the pass had no ``ll1``, a floor
    applied, the family is another, or the sums are not finite.
    """
    if "ll1" not in sums or not _families.is_known_scale(family) or sums.get("ll_floored"):
        return None
    c = float(sums["ll1"]) + 0.5 * float(sums["dev"])
    return c if np.isfinite(c) else None
