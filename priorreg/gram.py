r"""The weighted Gram matrix of a design in one blockwise pass.

Forms the upper-triangular factor of the centred, weighted, column-scaled
data :math:`[W^{1/2} X_c, W^{1/2} z]` without an ``n x k`` temporary: the
rows are read in cache-sized blocks, each block is shifted, weighted and
added to the Gram matrix by a BLAS ``syrk``, and the centring on an
unpenalized constant column is finished on the small matrix.

Centring. With a constant column :math:`c\mathbf 1` (index ``j``) that the
penalty does not touch, :math:`X (I - e_j m')` is an exact
reparametrization (only the intercept moves). Each block is shifted by a
vector :math:`s` (``s_j = 0``) before the product: the weighted mean of a
strided sample of at most 4096 rows, close to the weighted column means
:math:`\bar x` whatever the row order. The Gram matrix :math:`G_s` of the
shifted data then gives the exact centring as a congruence,

.. math::

    G_c = (I - e_j r')' G_s (I - e_j r'), \qquad
    r = G_s[j, :] / G_s[j, j],

and the total reparametrization is :math:`m = s / c + r`
(:math:`X (I - e_j m')` has weighted column means zero). Forming
:math:`G_s` costs :math:`\epsilon \|x_i - s_i\|^2` per entry instead of
:math:`\epsilon \|x_i - \bar x_i\|^2`, a factor
:math:`\kappa_i = \|x_i - s_i\|^2_W / \|x_i - \bar x_i\|^2_W`
(``1 + (s_i - \bar x_i)^2 / var_i``, about ``1 + 1/4096`` for a sample
mean). The factor is accepted only when :math:`\max\kappa \cdot
\mathrm{cond}^2 \le 10^4` (``cond`` of the scaled design block), so that
its relative error stays below :math:`10^4\epsilon`, the bound of the
one-pass Cholesky route of :mod:`priorreg.linalg`; otherwise the caller
takes the CholeskyQR2 / Householder route on a centred copy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from scipy import sparse
from scipy.linalg.blas import dsyrk

from priorreg._typing import FloatArray
from priorreg.blas_threads import one_blas_thread
from priorreg.penalty import Penalty

__all__ = [
    "CentredGram",
    "OnePassFactor",
    "WeightedRows",
    "blockwise_gram",
    "centred_gram",
    "centring",
    "one_pass_factor",
    "signed_gram",
    "unpenalized",
]

#: Rows per block: a block of ``k + 1 <= 200`` columns stays in cache.
ROW_BLOCK = 4096

_F = TypeVar("_F", bound=Callable[..., Any])


def _one_thread_over_blocks(fn: _F) -> _F:
    """Run ``fn(X, ...)`` with one BLAS thread when ``X`` spans several row blocks.

    Each block is one small ``syrk``; a second BLAS thread's hand-off per call
    costs more than it saves (:mod:`priorreg.blas_threads`).
    """

    @functools.wraps(fn)
    def wrapper(X: FloatArray, *args: Any, **kwargs: Any) -> Any:
        if X.shape[0] <= ROW_BLOCK:
            return fn(X, *args, **kwargs)
        with one_blas_thread():
            return fn(X, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
#: Rows of the strided sample that gives the shift.
_SAMPLE_ROWS = 4096
#: The one-pass factor is used while ``kappa * cond**2`` stays below this
#: (relative error ``eps * 1e4 ~ 2e-12``; the bound of ``linalg``'s one-pass route).
_MAX_KAPPA_COND2 = 1e4


def unpenalized(L: FloatArray, j: int | None) -> bool:
    """Column ``j`` is free of the penalty (``L`` a matrix, or its diagonal when 1-D)."""
    return Penalty.of(L).unpenalized(j)


def centring(k: int, intercept: int | None, means: FloatArray | None) -> sparse.csr_array:
    """``I - e_int m'`` (sparse: the identity plus one row), the identity without centring."""
    rows, cols, vals = np.arange(k), np.arange(k), np.ones(k)
    if intercept is not None and means is not None:
        off = np.flatnonzero(means)
        rows = np.concatenate([rows, np.full(off.size, intercept)])
        cols = np.concatenate([cols, off])
        vals = np.concatenate([vals, -means[off]])
    return sparse.csr_array((vals, (rows, cols)), shape=(k, k))


@dataclass(frozen=True)
class WeightedRows:
    """The rows ``diag(sw) (A - 1 shift')`` of a design, never materialized.

    Slicing gives one such block; a product is computed block by block, so
    the shifted, weighted design is never held in memory. ``sw`` and
    ``shift`` are optional (``None``: no weights, no shift).
    """

    A: FloatArray
    sw: FloatArray | None = None
    shift: FloatArray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of ``A``."""
        return self.A.shape  # type: ignore[return-value]

    def __getitem__(self, rows: slice) -> FloatArray:
        block = self.A[rows] if self.shift is None else self.A[rows] - self.shift
        if self.sw is not None:
            block = block * self.sw[rows, None]
        return block

    def __matmul__(self, M: FloatArray) -> FloatArray:
        n = self.A.shape[0]
        if self.shift is None:
            out = self.A @ M
            if self.sw is not None:
                out *= self.sw[:, None] if out.ndim == 2 else self.sw
            return out
        out = np.empty((n, *M.shape[1:]))
        for start in range(0, n, ROW_BLOCK):
            rows = slice(start, min(start + ROW_BLOCK, n))
            np.matmul(self[rows], M, out=out[rows])
        return out


@dataclass(frozen=True)
class OnePassFactor:
    """Result of :func:`one_pass_factor`.

    ``R'R = S G_c S`` (``S = diag(scale)``) for the ``k + 1`` columns of the
    centred weighted data ``[W^1/2 X (I - e_int means'), W^1/2 z]``; the
    same design is ``W^1/2 (X - 1 shift') (I - e_int resid_means')``, the
    accurate way to form its rows (``shift`` is ``None`` without centring).
    """

    R: FloatArray
    scale: FloatArray
    means: FloatArray | None
    shift: FloatArray | None
    resid_means: FloatArray | None


#: ``weigh(rows, X[rows]) -> (sw, zw)`` of one row block (``sw`` ``None``: unweighted).
BlockWeights = Callable[[slice, FloatArray], tuple[FloatArray | None, FloatArray]]


#: ``weights_at(rows, block) -> W`` of a slice of rows, given their rows of ``X``.
SliceWeights = Callable[[slice, FloatArray], FloatArray]


def _sample(
    X: FloatArray, w: FloatArray | SliceWeights | None
) -> tuple[FloatArray, FloatArray | None]:
    """A strided sample of at most ``_SAMPLE_ROWS`` rows and their weights (read once)."""
    n = X.shape[0]
    rows = slice(0, n, max(1, n // _SAMPLE_ROWS))
    sample = X[rows]
    if w is None:
        return sample, None
    return sample, (w(rows, sample) if callable(w) else w[rows])


def _shift(sample: FloatArray, ws: FloatArray | None, intercept: int) -> FloatArray:
    """Weighted mean of the sample's rows (0 in the intercept column)."""
    if ws is None:
        s = sample.mean(axis=0)
    else:
        with np.errstate(all="ignore"):
            s = (ws @ sample) / float(np.sum(ws))
        if not np.all(np.isfinite(s)):  # weights not valid here: the caller rejects the point
            s = sample.mean(axis=0)
    s[intercept] = 0.0
    return s


def _unshifted_kappa(sample: FloatArray, ws: FloatArray | None, shift: FloatArray) -> float:
    r"""Largest :math:`1 + s_i^2 / \mathrm{var}_i` on the sample (``s`` its weighted mean).

    ``inf`` when a column other than the centre's has no spread in the
    sample, or the weights are not valid there.
    """
    dev = sample - shift
    dev *= dev
    with np.errstate(all="ignore"):
        var = dev.mean(axis=0) if ws is None else (ws @ dev) / float(np.sum(ws))
        kappa = 1.0 + shift * shift / var  # the centre's column: s = 0 there, 0/0
    kappa = np.where(shift == 0, 1.0, kappa)
    return float(np.max(kappa)) if np.all(np.isfinite(kappa)) else np.inf


@_one_thread_over_blocks
def blockwise_gram(
    X: FloatArray,
    sw: FloatArray | None,
    zw: FloatArray | None,
    shift: FloatArray | None,
    *,
    weigh: BlockWeights | None = None,
) -> FloatArray:
    """``A'A`` for ``A = [diag(sw) (X - 1 shift'), zw]``, one pass of ``syrk`` on row blocks.

    ``weigh`` gives ``(sw, zw)`` of each block from its rows instead of
    ``sw`` and ``zw``, so that a pass that needs the rows for the weights
    (e.g. the means at an estimate) reads them once.

    Each block of ``X`` is shifted and weighted into one contiguous buffer
    (a strided buffer with room for ``zw`` made the row scaling twice as
    slow), added to ``X'X`` by ``syrk``; the column ``zw`` enters by one
    matrix-vector product with the same buffer while it is in cache.
    """
    n, k = X.shape
    G = np.zeros((k, k), order="F")
    cross = np.zeros(k)
    zz = 0.0
    buf = np.empty((min(n, ROW_BLOCK), k))
    for start in range(0, n, ROW_BLOCK):
        stop = min(start + ROW_BLOCK, n)
        block = buf[: stop - start]
        rows = X[start:stop]
        if weigh is None:
            assert zw is not None
            swb, zwb = (None if sw is None else sw[start:stop]), zw[start:stop]
        else:
            swb, zwb = weigh(slice(start, stop), rows)
        if shift is not None:
            np.subtract(rows, shift, out=block)
            if swb is not None:
                block *= swb[:, None]
        elif swb is not None:  # one sweep: weigh while copying
            np.multiply(rows, swb[:, None], out=block)
        else:
            block[...] = rows
        # block.T is Fortran-ordered: syrk reads the block in place
        G = dsyrk(1.0, block.T, beta=1.0, c=G, overwrite_c=1)
        cross += zwb @ block
        zz += float(zwb @ zwb)
    out = np.empty((k + 1, k + 1))
    upper = np.triu(G)
    out[:k, :k] = upper + np.triu(G, 1).T
    out[:k, k] = out[k, :k] = cross
    out[k, k] = zz
    return out


@dataclass(frozen=True)
class CentredGram:
    r"""The Gram matrix of ``[W^1/2 X (I - e_j m'), W^1/2 z]`` (``k + 1`` square).

    ``raw_diag`` is the diagonal before the exact centring (of the shifted
    data, for the factor :math:`\kappa` of the module notes); ``means`` is
    ``m`` (``None`` without centring), ``shift`` the sample shift ``s`` and
    ``resid_means`` the exact correction ``r`` (``m = s / c + r``).
    """

    G: FloatArray
    raw_diag: FloatArray
    means: FloatArray | None
    shift: FloatArray | None
    resid_means: FloatArray | None


def centred_gram(
    X: FloatArray,
    sw: FloatArray | None,
    zw: FloatArray | None,
    centre: int | None,
    *,
    weigh: BlockWeights | None = None,
    weights_at: SliceWeights | None = None,
    max_kappa: float = 1.0,
) -> CentredGram:
    r"""The Gram matrix of the centred, weighted ``[X, z]`` in one blockwise pass.

    ``centre`` is the index of a constant column (value ``c != 0``) free of
    the penalty, or ``None`` (no centring); ``weigh`` and ``weights_at`` (the
    weights ``W`` of a slice of rows given those rows, for the shift) replace ``sw`` and ``zw``
    as in :func:`blockwise_gram`. The rows are shifted by a sample
    mean per block and the centring is finished exactly on the small matrix
    (the module notes):

    .. math::

        G_c = P_a' G_s P_a, \quad P_a = I - e_j [r', 0],\;
        r = G_s[j, :k] / G_s[j, j], \qquad m = s / c + r.

    ``max_kappa > 1`` leaves the rows unshifted (``s = 0``, one sweep less
    per block) when the sample predicts :math:`\kappa_i = 1 + \bar x_i^2 /
    \mathrm{var}_i \le` ``max_kappa`` for every column: the rounding of
    :math:`G_s` is then at most that factor above the centred data's.
    """
    k = X.shape[1]
    shift = rows_shift = None
    if centre is not None:
        w = weights_at if weigh is not None else (None if sw is None else sw * sw)
        sample, ws = _sample(X, w)
        shift = rows_shift = _shift(sample, ws, centre)
        if max_kappa > 1.0 and _unshifted_kappa(sample, ws, shift) <= max_kappa:
            rows_shift, shift = None, np.zeros(k)
    G = blockwise_gram(X, sw, zw, rows_shift, weigh=weigh)
    raw_diag = np.diag(G).copy()
    means = r = None
    if shift is not None:
        assert centre is not None
        c = float(X[0, centre])
        r = G[centre, :k] / G[centre, centre]
        r[centre] = 0.0
        # P_a' G P_a with P_a = I - e_j u', u = [r, 0], u_j = 0: rank-one terms
        u = np.append(r, 0.0)
        gj = G[centre].copy()
        G = G - np.outer(u, gj) - np.outer(gj, u) + G[centre, centre] * np.outer(u, u)
        means = shift / c + r
    return CentredGram(G, raw_diag, means, shift, r)


def one_pass_factor(
    X: FloatArray,
    sw: FloatArray | None,
    zw: FloatArray,
    L: FloatArray,
    intercept: int | None,
) -> OnePassFactor | None:
    r"""``R`` of the centred, weighted ``[X_c, z]`` from one blockwise pass, or ``None``.

    Parameters
    ----------
    X : ndarray of shape (n_obs, n_coef)
        Design (read, never copied or changed).
    sw : ndarray of shape (n_obs,) or None
        Square roots of the weights.
    zw : ndarray of shape (n_obs,)
        Weighted response ``W^{1/2} z``.
    L : ndarray
        Penalty (matrix or its diagonal): centring needs an unpenalized
        constant column ``intercept``.
    intercept : int or None
        Index of the constant column.

    Returns
    -------
    OnePassFactor or None
        ``R`` (upper triangular, ``k + 1`` square) with
        :math:`R'R = S G_c S`, ``S = diag(scale)`` scaling the columns of
        the centred weighted data to unit norm, and the centring
        ``I - e_int m'`` (``means`` is ``None`` without one). ``None`` when
        the factor would not be accurate to the one-pass bound (see the
        module notes) or the data are degenerate: the caller then uses a
        centred copy.

    Notes
    -----
    With :math:`A_s = [W^{1/2}(X - \mathbf 1 s'), W^{1/2} z]`,

    .. math::

        G_s = A_s' A_s, \quad
        G_c = P_a' G_s P_a, \quad P_a = I - e_j [r', 0],\;
        r = G_s[j, :k] / G_s[j, j],

    then :math:`R = \mathrm{chol}(S G_c S)` with
    :math:`S = \mathrm{diag}(G_c)^{-1/2}`.
    """
    n, k = X.shape
    centre = None
    if unpenalized(L, intercept) and n:
        assert intercept is not None
        c = float(X[0, intercept])
        if c == 0 or not np.all(X[:, intercept] == c):
            return None
        centre = intercept
    cg = centred_gram(X, sw, zw, centre)
    G, raw_diag, means, shift, r = cg.G, cg.raw_diag, cg.means, cg.shift, cg.resid_means
    diag = np.diag(G)
    if not np.all(np.isfinite(G)) or np.any(diag <= 0):
        return None
    kappa = float(np.max(raw_diag / diag))
    scale = 1.0 / np.sqrt(diag)
    G = G * scale[:, None] * scale[None, :]
    try:
        R = np.linalg.cholesky(G).T
    except np.linalg.LinAlgError:
        return None
    sv = np.linalg.svd(R[:k, :k], compute_uv=False)
    if not (sv.size and sv[-1] > 0) or kappa * (sv[0] / sv[-1]) ** 2 > _MAX_KAPPA_COND2:
        return None
    return OnePassFactor(R, scale, means, shift, r)


@_one_thread_over_blocks
def signed_gram(X: FloatArray, v: FloatArray) -> FloatArray:
    r"""``X' diag(v) X`` for weights of any sign, in one pass of ``syrk`` on row blocks.

    .. math::

        X'\mathrm{diag}(v)X = B_+'B_+ - B_-'B_-, \qquad
        B_\pm = \mathrm{diag}(v_\pm^{1/2}) X, \quad v_\pm = \max(\pm v, 0).

    Each block of rows is weighted by :math:`|v|^{1/2}` into one contiguous
    buffer, and its rows are copied by sign (``np.compress``) into two
    buffers of ``ROW_BLOCK`` rows, each added to its product by ``syrk``
    when full: every row enters one product once, there are no temporaries
    per block, and ``syrk`` is called on full blocks (about ``n /
    ROW_BLOCK`` calls in all, as for a positive weight; a ``gemm`` on row
    blocks with a short output and a long inner dimension is many times
    slower than ``syrk`` here). Each entry is a sum of ``n`` products
    :math:`|v_i| x_{ij} x_{il}`, so it errs by at most about
    :math:`n\epsilon \sum_i |v_i||x_{ij}||x_{il}|` (the bound of a
    positive-weight Gram matrix on :math:`|v|`), whatever the signs.
    """
    n, k = X.shape
    size = min(n, ROW_BLOCK)
    root = np.sqrt(np.abs(v))
    parts = [np.zeros((k, k), order="F"), np.zeros((k, k), order="F")]
    bufs = [np.empty((size, k)), np.empty((size, k))]  # rows of v >= 0, rows of v < 0
    filled = [0, 0]
    weighted = np.empty((size, k))

    def flush(i: int) -> None:
        if filled[i]:
            # buf.T is Fortran-ordered: syrk reads the rows in place
            parts[i] = dsyrk(1.0, bufs[i][: filled[i]].T, beta=1.0, c=parts[i], overwrite_c=1)
            filled[i] = 0

    for start in range(0, n, ROW_BLOCK):
        stop = min(start + ROW_BLOCK, n)
        block = weighted[: stop - start]
        np.multiply(X[start:stop], root[start:stop, None], out=block)
        negative = v[start:stop] < 0
        m_neg = int(np.count_nonzero(negative))
        for i, mask, m in ((0, ~negative, stop - start - m_neg), (1, negative, m_neg)):
            if m == 0:
                continue
            if filled[i] + m > size:
                flush(i)
            np.compress(mask, block, axis=0, out=bufs[i][filled[i] : filled[i] + m])
            filled[i] += m
    flush(0)
    flush(1)
    out = np.triu(parts[0]) - np.triu(parts[1])
    return out + np.triu(out, 1).T
