r"""Reduce the data to a triangular factor, at QR-class accuracy and about Gram speed.

The rows of ``X~ = W^{1/2} X`` are centred on an unpenalized constant
column and the columns scaled to unit norm (``X_p = X~ P``, an exact
reparametrization). The upper-triangular ``R`` of ``[X_p, W^{1/2} z]``
comes from the Gram matrix, :math:`R'R = S A'A S` with ``S`` the column
scaling; its Cholesky factor is used as it is when the design block is well
conditioned (relative error :math:`\epsilon\,\kappa^2 < 10^{-12}`), made
CholeskyQR2 by one more pass up to :math:`\kappa = 10^7` (Fukaya et al.
2014), and replaced by Householder QR beyond that. The design itself is
never copied weighted: :class:`_MappedColumns` applies ``P`` on the fly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg as sla
from scipy import sparse

from priorreg._typing import FloatArray
from priorreg.gram import WeightedRows
from priorreg.gram import centring as _centring
from priorreg.penalty import Penalty

#: Cholesky factors better conditioned than this are used after one pass:
#: their relative error, about eps * cond**2, is then below 1e-12.
_ONE_PASS_COND = 1e2
#: Above this condition number CholeskyQR2 is not reliable; use Householder.
_CHOLQR2_COND = 1e7


def _gram_factor(
    A: FloatArray, design_cols: int
) -> tuple[FloatArray, FloatArray | None, str, FloatArray]:
    """Upper-triangular ``R`` with ``R'R = S A'A S`` at QR-class accuracy.

    ``S = diag(scale)`` scales the columns of ``A`` to unit norm (norms from
    the Gram diagonal). ``A`` (n x p, C order) is read, never scaled in
    memory: the scaling is applied to the Gram matrix (a BLAS ``syrk``, one
    pass). The
    Cholesky factor is used as it is when the design block is well
    conditioned (relative error ``eps cond^2 < 1e-12``), improved by one more
    pass (CholeskyQR2) up to condition ``1e7``; beyond that, or when the
    Gram matrix is singular, Householder QR of the scaled data is used.

    Returns ``(R, Q, method, scale)``; ``Q`` (n x p, ``A S = Q R``) is
    returned only by the Householder fallback, where ``R`` may be singular.
    """
    G = A.T @ A
    diag = np.diag(G)
    scale = np.where(diag > 0, 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), 1.0)
    G *= scale[:, None]
    G *= scale[None, :]
    try:
        R1 = np.linalg.cholesky(G).T
        sv = np.linalg.svd(R1[:design_cols, :design_cols], compute_uv=False)
        cond = float(sv[0] / sv[-1]) if sv.size and sv[-1] > 0 else np.inf
    except np.linalg.LinAlgError:
        cond = np.inf
    if not np.all(np.isfinite(G)):
        cond = np.inf
    if cond <= _ONE_PASS_COND:
        return R1, None, "cholesky", scale
    if cond <= _CHOLQR2_COND:
        # Q1 = A S R1^-1 = A (R1 S^-1)^-1; A.T is Fortran-ordered: no copy
        Rs = R1 / scale[None, :]
        Q1t = sla.solve_triangular(Rs, A.T, trans="T", lower=False, check_finite=False)
        R2 = np.linalg.cholesky(Q1t @ Q1t.T).T
        return R2 @ R1, None, "cholesky-qr2", scale
    Q, R = np.linalg.qr(A * scale, mode="reduced")
    return R, Q, "householder", scale



def _scale_columns(P: sparse.csr_array, scale: FloatArray) -> sparse.csr_array:
    """``P diag(scale)`` for a sparse ``P``."""
    out = P.copy()
    out.data = out.data * scale[out.indices]
    return out



def _centre_and_scale(
    M: FloatArray, pen: Penalty, intercept: int | None
) -> tuple[sparse.csr_array, FloatArray]:
    """In place: centre ``M``'s columns on an unpenalized intercept, scale to unit norm.

    Works on the data or on any factor with the same column inner products
    (``M'M = X~'X~``). Returns ``(P, scale)`` with ``M_new = M_old P``.
    """
    k = M.shape[1]
    means = None
    if pen.unpenalized(intercept):
        one = M[:, intercept].copy()
        means = (one @ M) / (one @ one)
        means[intercept] = 0.0
        if np.all(one == one[0]):
            M -= one[0] * means  # a constant column: no n x k outer product
        else:
            M -= np.outer(one, means)
    norms = np.sqrt(np.einsum("ij,ij->j", M, M))
    scale = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 1.0)
    M *= scale
    return _scale_columns(_centring(k, intercept, means), scale), scale



#: Rows per block when a pass over the data works block by block (cache-sized).
_ROW_BLOCK = 8192


@dataclass(frozen=True)
class _MappedColumns:
    """The design ``A[:, :k] @ P`` (``k = P.shape[0]``), never materialized.

    ``A`` is the data (or its centred copy) and ``P`` the preconditioning
    (centring on the intercept, then column scaling): products with it cost
    one product with ``A`` and a small ``k x k`` one.
    """

    A: FloatArray
    P: sparse.csr_array
    sw: FloatArray | None = None  # row weights W^1/2 and a shift of the columns of
    shift: FloatArray | None = None  # A (None: none); the rows are W^1/2 (A - 1 shift') P

    @property
    def rows(self) -> FloatArray | WeightedRows:
        """The rows of ``A`` (weighted and shifted when given), before ``P``."""
        A = self.A[:, : self.P.shape[0]]
        return A if self.sw is None and self.shift is None else WeightedRows(A, self.sw, self.shift)

    def __matmul__(self, M: FloatArray) -> FloatArray:
        return self.rows @ (self.P @ M)



def _centred_data(
    X: FloatArray,
    sw: FloatArray | None,
    zw: FloatArray,
    pen: Penalty,
    intercept: int | None,
) -> tuple[FloatArray, sparse.csr_array]:
    """``A = [Xw (I - e_int m'), zw]`` (C order), ``Xw = W^1/2 X``, and ``I - e_int m'``.

    Centring is on an unpenalized constant column only (then it moves just
    the intercept, so the penalty is unchanged). When that column of ``X``
    is constant, ``Xw (I - e_int m') = W^1/2 (X - c 1 m')``: the weighted means
    come from one product ``w'X`` and ``A`` from one pass over ``X``, with no
    weighted copy of the data.
    """
    n, k = X.shape
    A = np.empty((n, k + 1))
    centre = pen.unpenalized(intercept)
    c = X[0, intercept] if centre and n else 0.0
    if centre and c != 0 and np.all(X[:, intercept] == c):
        if sw is None:
            means = (X[:, intercept] @ X) / (c * c * n)
        else:
            w = sw * sw
            means = (w @ X) / (c * float(np.sum(w)))
        means[intercept] = 0.0
        np.subtract(X, c * means, out=A[:, :k])
        if sw is not None:
            np.multiply(A[:, :k], sw[:, None], out=A[:, :k])
        A[:, k] = zw
        return A, _centring(k, intercept, means)
    Xw = X if sw is None else X * sw[:, None]
    if centre:
        one = Xw[:, intercept]
        means = (one @ Xw) / (one @ one)
        means[intercept] = 0.0
        if np.all(one == one[0]):
            np.subtract(Xw, one[0] * means, out=A[:, :k])
        else:
            for start in range(0, n, _ROW_BLOCK):
                rows = slice(start, start + _ROW_BLOCK)
                np.subtract(Xw[rows], np.outer(one[rows], means), out=A[rows, :k])
    else:
        A[:, :k] = Xw
        means = None
    A[:, k] = zw
    return A, _centring(k, intercept, means)


def _precondition(
    Xw: FloatArray, pen: Penalty, intercept: int | None
) -> tuple[FloatArray, sparse.csr_array, FloatArray]:
    """Centre on an unpenalized intercept and scale columns to unit norm.

    Returns ``(X_p, P, col_scale)`` with ``X_p = Xw P``,
    ``P = (I - e_int m') diag(col_scale)``.
    """
    Xc = np.array(Xw, dtype=float)
    P, scale = _centre_and_scale(Xc, pen, intercept)
    return Xc, P, scale

