r"""One factorization, the whole penalty path.

The kernel solves, for any number of penalty weights :math:`\lambda`,

.. math::

    \min_\delta \; \|W^{1/2}(z - X\delta)\|^2 + \lambda\, \delta' L \delta,
    \qquad z = y - o - X b_0,\; \delta = b - b_0,

with a symmetric positive semi-definite ``L``. It reduces the data to a
small problem once, after which every quantity that depends on
:math:`\lambda` costs :math:`O(k)` to :math:`O(k^2)`:

1. *Precondition.* ``X~ = W^{1/2} X`` is centred on its (unpenalized)
   constant column and its columns scaled to unit norm: ``X_p = X~ P``
   with ``delta = P delta_p`` and ``L_p = P' L P``.
2. *One pass over the data.* The triangular factor ``R`` of
   ``[X_p, W^{1/2} z]`` from the Gram matrix (a BLAS ``syrk`` on
   cache-sized row blocks, weighting and centring applied per block and on
   the small matrix: :mod:`priorreg.gram`, no weighted copy of ``X``) and its
   Cholesky factor; when that factor is not well conditioned, one more
   pass makes it CholeskyQR2 (Fukaya et al. 2014) and an ill-conditioned
   or rank-deficient design falls back to Householder QR. With more
   coefficients than observations the design itself is used (dual form).
3. *Whiten the penalty.* ``L_p = U diag(s) U'``; in the coordinates
   ``theta = (a, c)`` with ``delta_p = U_0 a + U_+ s_+^{-1/2} c`` the
   penalty is ``lambda |c|^2`` and ``a`` (the null space of ``L``) is
   free.
4. *Absorb the unpenalized block and take one small SVD.* With
   ``R_x T = [F_0, M]``, ``F_0 = P_0 T_0`` (QR) and
   ``(I - P_0 P_0') M = U D V'`` (SVD), the solution, the effective degrees
   of freedom, the residual sum of squares and the restricted likelihood
   are closed-form in the singular values ``d`` and ``f = U' g``:

   .. math::

       c(\lambda) = V \frac{d}{d^2 + \lambda} f, \quad
       \mathrm{edf}(\lambda) = k_0 + \sum_j \frac{d_j^2}{d_j^2 + \lambda},
       \quad
       \mathrm{RSS}(\lambda) = \rho^2 +
           \sum_j \Big(\frac{\lambda f_j}{d_j^2 + \lambda}\Big)^2 .

The leverages of all penalty weights at once are one matrix product with
the row basis ``Q_x [P_0, P_0^\perp U]`` (computed on demand).

References
----------
Fukaya, Nakatsukasa, Yanagisawa, Yamamoto (2014). CholeskyQR2: a simple
and communication-avoiding algorithm for computing a tall-skinny QR
factorization on a large-scale parallel system. ScalA '14.

Wood, S. N. (2011). Fast stable restricted maximum likelihood and
marginal likelihood estimation of semiparametric generalized linear
models. JRSS B 73(1), 3-36.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import linalg as sla
from scipy import sparse
from scipy.linalg import lapack

from priorreg._typing import FloatArray
from priorreg.gram import WeightedRows, one_pass_factor
from priorreg.gram import centring as _centring
from priorreg.gram import unpenalized as _unpenalized
from priorreg.linalg.wide import RowGram

__all__ = ["PathFactor", "SingularSystemError", "factorize", "factorize_triangular"]

_EPS = float(np.finfo(float).eps)
#: Cholesky factors better conditioned than this are used after one pass:
#: their relative error, about eps * cond**2, is then below 1e-12.
_ONE_PASS_COND = 1e2
#: Above this condition number CholeskyQR2 is not reliable; use Householder.
_CHOLQR2_COND = 1e7
#: Below this ratio to the largest singular value, ``gesdd``'s small singular
#: values lose relative accuracy; recompute them by Jacobi SVD (``gejsv``).
_JACOBI_SVD_RATIO = 1e-8


class SingularSystemError(ValueError):
    """``X'WX + lam L`` is singular: the estimate is not identified."""


@dataclass(frozen=True)
class _Householder:
    """A QR factor of ``F0`` kept as LAPACK reflectors (``geqrf`` output)."""

    qr: FloatArray
    tau: FloatArray

    def apply(self, C: FloatArray, *, transpose: bool, overwrite: bool = False) -> FloatArray:
        """Return ``P' C`` (``transpose``) or ``P C`` with the full ``P``.

        One reflector of a constant column (an intercept) is applied as two
        row operations, in place with ``overwrite`` (``C`` 2-D).
        """
        if self.qr.shape[1] == 0:
            return np.array(C, dtype=float)
        if self.qr.shape[1] == 1 and C.ndim == 2 and self.qr.shape[0] > 1:
            tail = self.qr[1:, 0]
            if np.all(tail == tail[0]):
                # H = I - tau v v' with v = (1 - c) e_1 + c 1 (symmetric: H' = H)
                c, tau = float(tail[0]), float(self.tau[0])
                out = C if overwrite else np.array(C, dtype=float)
                w = (1.0 - c) * out[0] + c * out.sum(axis=0)  # v'C
                out -= (tau * c) * w
                out[0] -= (tau * (1.0 - c)) * w
                return out
        C = np.asfortranarray(C, dtype=float)
        trans = "T" if transpose else "N"
        lwork = max(1, 64 * C.shape[1] if C.ndim == 2 else 64)
        out, _, info = lapack.dormqr("L", trans, self.qr, self.tau, C, lwork)
        if info != 0:  # pragma: no cover - LAPACK argument error
            raise RuntimeError(f"dormqr failed with info={info}")
        return np.asarray(out)


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


def _right_times(
    F: FloatArray, T: FloatArray | sparse.csr_array, *, overwrite: bool = False
) -> FloatArray:
    """``F @ T`` for a dense ``F`` and a dense or sparse ``T`` (dense result).

    A diagonal ``T`` (the whitening of a diagonal penalty whose unpenalized
    columns already come first) scales the columns, in place with
    ``overwrite``.
    """
    if not sparse.issparse(T):
        return F @ T
    Tc = sparse.csc_array(T)
    k = Tc.shape[1]
    if np.array_equal(Tc.indptr, np.arange(k + 1)) and np.array_equal(Tc.indices, np.arange(k)):
        if overwrite:
            F *= Tc.data
            return F
        return F * Tc.data
    return np.asarray((T.T @ F.T).T)


def _svd_graded(M: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Thin SVD ``M = U diag(d) V'`` truncated to a rank that ignores column scaling.

    After whitening a penalty given in the caller's units, the columns of
    ``M`` can differ by many orders of magnitude (NIST Filip: 1e1 to 1e10)
    although the column-scaled problem is well conditioned. ``gesdd`` is
    accurate only to ``eps * d[0]``, so when the singular values spread
    widely they are recomputed by LAPACK's preconditioned Jacobi SVD
    ``gejsv``, which is accurate to ``eps * cond(M D^-1)`` relative to
    each singular value for any column scaling ``D``, and the rank is
    judged on the equilibrated ``M D^-1`` (``D`` the column norms), not
    relative to ``d[0]``. Columns that are collinear, or zero, still drop
    out of the rank.
    """
    U, d, Vt = np.linalg.svd(M, full_matrices=False)
    V = Vt.T
    if d.size == 0 or d[-1] > d[0] * _JACOBI_SVD_RATIO:
        return U, d, V  # then M D^-1 is well conditioned too
    sva, u, v, work, _, info = lapack.dgejsv(M, joba=0, jobu=0, jobv=0)
    if info == 0:
        order = np.argsort(sva)[::-1]
        U, d, V = u[:, order], (work[0] / work[1]) * sva[order], v[:, order]
    norms = np.sqrt(np.einsum("ij,ij->j", M, M))
    s = np.linalg.svd(M / np.where(norms > 0, norms, 1.0), compute_uv=False)
    rank = int(np.count_nonzero(s > s[0] * max(M.shape) * _EPS)) if s[0] > 0 else 0
    rank = min(rank, int(np.count_nonzero(d > 0)))
    return U[:, :rank], d[:rank], V[:, :rank]


def _centre_and_scale(
    M: FloatArray, L: FloatArray, intercept: int | None
) -> tuple[sparse.csr_array, FloatArray]:
    """In place: centre ``M``'s columns on an unpenalized intercept, scale to unit norm.

    Works on the data or on any factor with the same column inner products
    (``M'M = X~'X~``). Returns ``(P, scale)`` with ``M_new = M_old P``.
    """
    k = M.shape[1]
    means = None
    if _unpenalized(L, intercept):
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
    L: FloatArray,
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
    centre = _unpenalized(L, intercept)
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
    Xw: FloatArray, L: FloatArray, intercept: int | None
) -> tuple[FloatArray, sparse.csr_array, FloatArray]:
    """Centre on an unpenalized intercept and scale columns to unit norm.

    Returns ``(X_p, P, col_scale)`` with ``X_p = Xw P``,
    ``P = (I - e_int m') diag(col_scale)``.
    """
    Xc = np.array(Xw, dtype=float)
    P, scale = _centre_and_scale(Xc, L, intercept)
    return Xc, P, scale


def _is_diagonal(M: FloatArray) -> bool:
    """True when every non-zero of a square matrix is on its diagonal (no copy)."""
    return int(np.count_nonzero(M)) == int(np.count_nonzero(np.diagonal(M)))


def _rank(L: FloatArray) -> int:
    """Numerical rank of a PSD matrix (or of the diagonal matrix of a 1-D ``L``)."""
    if L.ndim == 1:
        return int(np.count_nonzero(L > 0))
    s = np.linalg.eigvalsh(L)
    return int(np.count_nonzero(s > float(np.max(s, initial=0.0)) * L.shape[0] * _EPS))


def _whiten(
    Lp: FloatArray, rank: int
) -> tuple[FloatArray | sparse.csr_array, int, FloatArray]:
    """Basis ``T = [U_0, U_+ diag(s_+^-1/2)]`` of the whitened coordinates.

    ``Lp`` is the scaled penalty, or its diagonal (1-D) when it is diagonal.
    Returns ``(T, k0, s_plus)``; the null space of ``Lp`` comes first. The
    rank comes from the unscaled penalty, so that column scaling (which
    can spread eigenvalues over many orders of magnitude) never turns a
    penalized direction into an unpenalized one. A diagonal penalty is
    whitened exactly: its zeros are the unpenalized columns, and ``T`` is a
    sparse scaled permutation.
    """
    k = Lp.shape[0]
    if Lp.ndim == 1:
        s = Lp.copy()
        null = s <= 0
        order = np.concatenate([np.flatnonzero(null), np.flatnonzero(~null)])
        s = s[order]
        k0 = int(null.sum())
        weights = np.concatenate([np.ones(k0), 1.0 / np.sqrt(s[k0:])])
        T = sparse.csr_array((weights, (order, np.arange(k))), shape=(k, k))
        return T, k0, s[k0:]
    s, U = np.linalg.eigh(Lp)
    null = np.arange(k) < k - rank
    k0 = int(null.sum())
    s_plus = s[k0:]
    T = U.copy()
    T[:, k0:] /= np.sqrt(s_plus)
    return T, k0, s_plus


def _log_pdet(L: FloatArray) -> float:
    """Log pseudo-determinant: sum of logs of the positive eigenvalues."""
    if L.size == 0:
        return 0.0
    s = L if L.ndim == 1 else np.diagonal(L) if _is_diagonal(L) else np.linalg.eigvalsh(L)
    tol = float(np.max(np.abs(s), initial=0.0)) * L.shape[0] * _EPS
    return float(np.sum(np.log(s[s > tol])))


@dataclass(frozen=True)
class PathFactor:
    r"""The reduced penalized least-squares problem, valid for every ``lam``.

    Coordinates: ``delta = b - b0 = basis @ theta`` with ``theta = (a, c)``;
    ``a`` (length ``n_unpen``) spans the null space of ``L``, ``c`` (length
    ``n_pen``) its whitened range, penalized as ``lam |c|^2``.

    Attributes
    ----------
    n_obs, n_coef, n_unpen, n_pen : int
        ``n``, ``k``, ``k0 = dim null(L)`` and ``m = rank(L)``.
    basis : ndarray or sparse array of shape (k, k)
        Maps ``theta`` to ``delta`` in the caller's units (sparse for a
        diagonal penalty: then it is a scaled permutation plus one row).
    T0 : ndarray of shape (k0, k0)
        Triangular factor of the unpenalized block.
    B : ndarray of shape (k0, m)
        Coupling of the unpenalized and penalized blocks.
    d, V, f : ndarray
        Singular values (length ``r <= m``), right singular vectors
        ``(m, r)`` and projected response ``(r,)`` of the penalized block.
        With more coefficients than observations ``U``, ``f`` and
        ``V = M' U / d`` are formed only when asked for (an eigendecomposition
        and ``2 m n^2``): the path, coefficients and solves use the
        tridiagonal reduction of ``M M'`` (:mod:`priorreg.dual`).
    g0 : ndarray of shape (k0,)
        Projected response on the unpenalized block.
    rss_floor : float
        Residual sum of squares no ``lam`` can reduce (``rho^2``).
    method : str
        ``"cholesky"``, ``"cholesky-qr2"``, ``"householder"`` or ``"dual"``.
    """

    n_obs: int
    n_coef: int
    n_unpen: int
    n_pen: int
    basis: FloatArray | sparse.csr_array
    T0: FloatArray
    B: FloatArray
    d: FloatArray
    right_vectors: FloatArray | None
    projections: FloatArray | None
    g0: FloatArray
    rss_floor: float
    log_det_const: float
    log_weights: float
    method: str
    precondition: FloatArray
    _row_basis_inputs: tuple[
        FloatArray, FloatArray | None, FloatArray | None, _Householder, FloatArray
    ] = field(repr=False)
    #: The wide case (fewer rows than penalized directions): ``M M'`` reduced.
    _rows: RowGram | None = field(default=None, repr=False)
    #: ``L`` is diagonal (then :meth:`cov_diagonal` needs no ``k x k`` product).
    diagonal_penalty: bool = False

    @cached_property
    def V(self) -> FloatArray:  # noqa: N802 - the V of U D V'
        """Right singular vectors ``(m, r)`` of the penalized block."""
        if self.right_vectors is not None:
            return self.right_vectors
        return (self._rows.M.T @ self._left_vectors) / self.d  # type: ignore[union-attr]

    @cached_property
    def f(self) -> FloatArray:
        """Projections ``U' g`` of the response on the left singular vectors."""
        if self.projections is not None:
            return self.projections
        return self._rows.spectrum[1]  # type: ignore[union-attr]

    @property
    def _left_vectors(self) -> FloatArray:
        U = self._row_basis_inputs[4]
        return U if U is not None else self._rows.spectrum[0]  # type: ignore[union-attr]

    @property
    def _tridiagonal(self) -> bool:
        """True when the path runs on the tridiagonal reduction (wide, non-singular)."""
        return self._rows is not None and self._rows.tridiagonal is not None

    def _path_terms(self, lam: FloatArray) -> FloatArray:
        """``(3, n_lam)``: RSS above the floor, ``|c|^2`` and prior misfit, per ``lam``."""
        rows = self._rows
        return np.array([rows.path_terms(float(value)) for value in lam]).T  # type: ignore[union-attr]

    # ------------------------------------------------------------------ lam
    def _check_identified(self, lam: float) -> None:
        if lam > 0:
            return
        if self.d.size < self.n_pen or np.any(self.d <= 0):
            raise SingularSystemError(
                "X'WX + lam L is singular at lam=0: the data do not identify "
                "every coefficient (collinear columns or more coefficients than "
                "observations). Use lam > 0 or remove redundant columns."
            )

    def shrinkage(self, lam: float | FloatArray) -> FloatArray:
        r"""Shrinkage factors :math:`d_j^2 / (d_j^2 + \lambda)`.

        Shape ``(r,)`` for a scalar ``lam``, ``(r, n_lam)`` for an array.
        """
        d2 = self.d**2
        lam_arr = np.asarray(lam, dtype=float)
        if lam_arr.ndim == 0:
            denom = d2 + lam_arr
            return np.divide(d2, denom, out=np.ones_like(d2), where=denom > 0)
        denom = d2[:, None] + lam_arr[None, :]
        return np.divide(
            np.broadcast_to(d2[:, None], denom.shape),
            denom,
            out=np.ones_like(denom),
            where=denom > 0,
        )

    def edf(self, lam: float | FloatArray) -> FloatArray | float:
        """Effective degrees of freedom ``trace(H) = k0 + sum d^2/(d^2+lam)``."""
        phi = self.shrinkage(lam)
        out = self.n_unpen + phi.sum(axis=0)
        return float(out) if np.ndim(out) == 0 else out

    def rss(self, lam: float | FloatArray) -> FloatArray | float:
        """Weighted residual sum of squares ``rho^2 + sum((1-phi) f)^2``."""
        if self._tridiagonal:
            out = self.rss_floor + self._path_terms(np.atleast_1d(lam))[0]
            return float(out[0]) if np.ndim(lam) == 0 else out
        phi = self.shrinkage(lam)
        f = self.f if phi.ndim == 1 else self.f[:, None]
        out = self.rss_floor + (((1.0 - phi) * f) ** 2).sum(axis=0)
        return float(out) if np.ndim(out) == 0 else out

    def penalty_norm(self, lam: float | FloatArray) -> FloatArray | float:
        """``|c|^2 = (b - b0)' L (b - b0)`` at the solution for ``lam``."""
        if self._tridiagonal:
            out = self._path_terms(np.atleast_1d(lam))[1]
            return float(out[0]) if np.ndim(lam) == 0 else out
        d2 = self.d**2
        lam_arr = np.asarray(lam, dtype=float)
        denom = d2 if lam_arr.ndim == 0 else d2[:, None]
        denom = denom + lam_arr
        f = self.f if lam_arr.ndim == 0 else self.f[:, None]
        dd = self.d if lam_arr.ndim == 0 else self.d[:, None]
        coef = np.divide(dd * f, denom, out=np.zeros(np.shape(denom)), where=denom > 0)
        out = (coef**2).sum(axis=0)
        return float(out) if np.ndim(out) == 0 else out

    def solution_error_bound(self, lam: float) -> float:
        r"""A bound on the relative error of :meth:`coef` before refinement.

        ``eps cond^2`` (at most ``1e-12`` by construction) for a one-pass
        Cholesky factor; for the wide case, where ``MM'`` is formed,
        :math:`\epsilon (d_1^2 + \lambda)/(d_r^2 + \lambda)`; ``inf`` (refine)
        otherwise.
        """
        if self.method == "cholesky":
            return _EPS * _ONE_PASS_COND**2
        if self._rows is not None and self._rows.tridiagonal is not None and self.d.size:
            return _EPS * (self.d[0] ** 2 + lam) / (self.d[-1] ** 2 + lam)
        return np.inf

    def prior_misfit(self, lam: float) -> float:
        r"""Increase of the penalized RSS caused by the prior.

        :math:`\sum_j \lambda f_j^2/(d_j^2+\lambda) = \lambda g'(MM' + \lambda I)^{-1} g`
        on the directions the data reach.
        """
        if lam <= 0:
            return 0.0
        if self._tridiagonal:
            return float(self._path_terms(np.array([lam]))[2, 0])
        return float(np.sum(lam * self.f**2 / (self.d**2 + lam)))

    def theta(self, lam: float) -> FloatArray:
        """Solution in whitened coordinates ``(a, c)``."""
        self._check_identified(lam)
        if self._rows is not None:
            c = self._rows.coefficients(lam)
        else:
            c = self.V @ (self.d * self.f / (self.d**2 + lam))
        a = (
            sla.solve_triangular(self.T0, self.g0 - self.B @ c, lower=False)
            if self.n_unpen
            else np.empty(0)
        )
        return np.concatenate([a, c])

    def coef(self, lam: float) -> FloatArray:
        """``delta = b - b0`` in the caller's units."""
        return self.basis @ self.theta(lam)

    def cov_factor(self, lam: float) -> FloatArray:
        r"""``K`` with ``K K' = (X'WX + lam L)^{-1}``.

        Shape ``(k, k)``, or ``(k, k + r)`` when the data reach only ``r < m``
        penalized directions. In whitened coordinates the matrix is ``G'G`` with
        ``G = [[T0, B], [0, C]]``, ``C'C = V diag(d^2 + lam) V' + lam (I - VV')``.
        ``C^{-1}`` is taken as ``[V diag((d^2 + lam)^{-1/2}), (I - VV')/sqrt(lam)]``
        (``I - VV'`` is a projector), which avoids completing ``V`` to a basis.
        """
        self._check_identified(lam)
        m, k0 = self.n_pen, self.n_unpen
        r = self.d.size
        # C^{-1} with C'C = V diag(d^2+lam) V' + lam (I - V V')
        Cinv = self.V / np.sqrt(self.d**2 + lam)
        if r < m:
            complement = np.eye(m) - self.V @ self.V.T
            Cinv = np.hstack([Cinv, complement / np.sqrt(lam)])
        Ginv = np.zeros((k0 + m, k0 + Cinv.shape[1]))
        if k0:
            T0inv = sla.solve_triangular(self.T0, np.eye(k0), lower=False)
            Ginv[:k0, :k0] = T0inv
            Ginv[:k0, k0:] = -T0inv @ (self.B @ Cinv)
        Ginv[k0:, k0:] = Cinv
        return np.asarray(self.basis @ Ginv)

    def _cov_theta_times(self, lam: float, Y: FloatArray) -> FloatArray:
        """``(G'G)^{-1} Y`` in whitened coordinates, ``G = [[T0, B], [0, C]]``.

        Block back-substitution with ``(C'C)^{-1} = V diag(1/(d^2+lam)) V'
        + (I - VV')/lam``: ``O(k r)`` per column, no ``k x k`` matrix.
        """
        k0 = self.n_unpen
        Ya, Yc = Y[:k0], Y[k0:]
        ua = sla.solve_triangular(self.T0, Ya, trans="T", lower=False) if k0 else Ya
        v = Yc - self.B.T @ ua
        if self._rows is not None:  # (M'M + lam I)^{-1} v = (v - M'(K + lam I)^{-1} M v) / lam
            M = self._rows.M
            wc = (v - M.T @ self._rows.solve(lam, M @ v)) / lam
        else:
            Vv = self.V.T @ v
            d2 = (self.d**2)[:, None] if Y.ndim == 2 else self.d**2
            wc = self.V @ (Vv / (d2 + lam))
            if self.d.size < self.n_pen:  # the complement of V, reached by the penalty alone
                wc = wc + (v - self.V @ Vv) / lam
        wa = sla.solve_triangular(self.T0, ua - self.B @ wc, lower=False) if k0 else ua
        return np.concatenate([wa, wc])

    def cov_times(self, lam: float, Y: FloatArray) -> FloatArray:
        r"""``(X'WX + \lambda L)^{-1} Y`` in the caller's units, without forming the inverse."""
        self._check_identified(lam)
        Y = np.asarray(Y, dtype=float)
        return np.asarray(self.basis @ self._cov_theta_times(lam, np.asarray(self.basis.T @ Y)))

    def cov_diagonal(self, lam: float) -> FloatArray:
        r"""Diagonal of :math:`(X'WX + \lambda L)^{-1}` in ``O(k r)`` for a diagonal penalty.

        With the basis ``[B_a, B_c]`` (null space, whitened range of ``L``),
        ``Z_a = B_a T_0^{-1}`` and ``Z_c = B_c - Z_a B``, the inverse is
        :math:`Z_a Z_a' + Z_c [V \mathrm{diag}(\frac{1}{d^2+\lambda}) V' +
        (I - VV')/\lambda] Z_c'`, whose diagonal needs only the row norms of
        ``Z_c`` and ``Z_c V`` (``B_c`` is sparse, ``Z_a`` has ``k0`` columns).
        In the wide case the bracket is :math:`(I - M'(MM' + \lambda I)^{-1}M)/\lambda`
        and ``Z_c M'`` takes the place of ``Z_c V`` (one Cholesky factor of
        ``MM' + lam I``, no singular vectors).
        """
        self._check_identified(lam)
        k0 = self.n_unpen
        basis = self.basis
        Ba = np.asarray(basis[:, :k0].todense() if sparse.issparse(basis) else basis[:, :k0])
        Bc = basis[:, k0:]
        Za = sla.solve_triangular(self.T0, Ba.T, trans="T", lower=False).T if k0 else Ba
        out = np.einsum("ij,ij->i", Za, Za)
        if self._rows is None and self.d.size == self.n_pen:
            ZcV = np.asarray(Bc @ self.V) - Za @ (self.B @ self.V)
            return out + (ZcV**2) @ (1.0 / (self.d**2 + lam))
        BcB = np.asarray(Bc @ self.B.T)  # k x k0
        Bc2 = np.asarray((Bc.multiply(Bc) if sparse.issparse(Bc) else Bc * Bc).sum(axis=1))
        Zc2 = (
            Bc2.ravel()
            - 2 * np.einsum("ij,ij->i", BcB, Za)
            + np.einsum("ij,jk,ik->i", Za, self.B @ self.B.T, Za)
        )
        if self._rows is not None:
            M = self._rows.M
            ZcM = np.asarray(Bc @ M.T) - Za @ (self.B @ M.T)
            return out + (Zc2 - self._rows.inverse_quadratic_diagonal(lam, ZcM)) / lam
        ZcV = np.asarray(Bc @ self.V) - Za @ (self.B @ self.V)
        in_span = (ZcV**2) @ (1.0 / (self.d**2 + lam))
        return out + in_span + (Zc2 - np.einsum("ij,ij->i", ZcV, ZcV)) / lam

    def log_det_ratio(self, lam: float | FloatArray) -> FloatArray | float:
        r"""``log|X'WX + lam L| - log|lam L|_+`` for ``lam > 0``."""
        lam_arr = np.atleast_1d(np.asarray(lam, dtype=float))
        d2 = self.d**2
        with np.errstate(divide="ignore"):
            out = (
                np.log(d2[:, None] + lam_arr[None, :]).sum(axis=0)
                + (self.n_pen - self.d.size) * np.log(lam_arr)
                - self.n_pen * np.log(lam_arr)
                + self.log_det_const
            )
        return float(out[0]) if np.ndim(lam) == 0 else out

    def reml(self, lam: float | FloatArray) -> FloatArray | float:
        r"""Negative restricted log-likelihood with the scale profiled out.

        .. math::

            -\ell_r(\lambda) = \tfrac12\Big[(n - k_0)\big(\log(2\pi\hat\sigma^2)
            + 1\big) + \log|X'WX + \lambda L| - \log|\lambda L|_+
            - \textstyle\sum_i \log w_i\Big],

        :math:`\hat\sigma^2 = (\mathrm{RSS} + \lambda \delta'L\delta)/(n-k_0)`,
        :math:`|\cdot|_+` the product of the positive eigenvalues, a flat
        prior on the null space of ``L`` (Wood 2011, eq. 4, with the
        Gaussian constants kept). ``inf`` at ``lam = 0`` when ``L != 0``.
        """
        lam_arr = np.atleast_1d(np.asarray(lam, dtype=float))
        n_eff = self.n_obs - self.n_unpen
        pen_rss = np.asarray(self.rss(lam_arr)) + lam_arr * np.asarray(self.penalty_norm(lam_arr))
        with np.errstate(divide="ignore", invalid="ignore"):
            sigma2 = pen_rss / n_eff
            out = 0.5 * (
                n_eff * (np.log(2 * np.pi * sigma2) + 1.0)
                + np.asarray(self.log_det_ratio(lam_arr))
                - self.log_weights
            )
        if self.n_pen:
            out = np.where(lam_arr > 0, out, np.inf)
        return float(out[0]) if np.ndim(lam) == 0 else out

    # ------------------------------------------------------------- leverages
    def _row_maps(self) -> tuple[FloatArray | WeightedRows | None, FloatArray, FloatArray]:
        """``(rows_of, M0, Mu)``: the row basis blocks are ``rows_of @ M0`` and ``rows_of @ Mu``.

        ``rows_of`` is the (preconditioned) design or its orthogonal factor,
        ``None`` in the dual form, where ``M0`` and ``Mu`` are the blocks.
        """
        Xp, Rx, Qx, house, _ = self._row_basis_inputs
        U = self._left_vectors
        k0 = self.n_unpen
        r = self.d.size
        E = np.zeros((house.qr.shape[0], k0 + r))
        E[:k0, :k0] = np.eye(k0)
        E[k0:, k0:] = U
        E = house.apply(E, transpose=False)
        if Qx is not None:
            rows_of, M = Qx, E
        elif Rx is not None:
            rows_of, M = Xp, sla.solve_triangular(Rx, E, lower=False)
        else:  # dual form: the rows are the observations themselves
            return None, E[:, :k0], E[:, k0:]
        if isinstance(rows_of, _MappedColumns):  # fold the preconditioning into M
            M, rows_of = rows_of.P @ M, rows_of.rows
        return rows_of, np.ascontiguousarray(M[:, :k0]), np.ascontiguousarray(M[:, k0:])

    def row_blocks(
        self, block: int = 8192, right: FloatArray | None = None, *, squared: bool = False
    ) -> Iterator[tuple[slice, FloatArray, FloatArray, FloatArray, FloatArray | None]]:
        """Yield ``(rows, h0, Bu, fit0, Bu @ right)`` of :attr:`row_basis`, block by block.

        Reads the cached row basis when it exists; otherwise computes each
        block from the data with one matrix product (one pass, nothing of
        size ``n x r`` kept), which also gives ``Bu @ right`` (``None``
        without ``right``). With ``squared``, ``Bu ** 2`` takes the place of
        ``Bu`` (squared in place in the buffer). The blocks are views of one
        reused buffer: copy what must outlive the next step.
        """
        n = self.n_obs
        k0, r = self.n_unpen, self.d.size
        cached = self.__dict__.get("row_basis")
        if cached is None:
            rows_of, M0, Mu = self._row_maps()
            maps = [M0, Mu] if right is None else [M0, Mu, Mu @ right]
            M_all = np.ascontiguousarray(np.hstack(maps))
            buffer = np.empty((min(block, n), M_all.shape[1]))
        for start in range(0, n, block):
            rows = slice(start, min(start + block, n))
            if cached is not None:
                h0, Bu, fit0 = cached
                extra = None if right is None else Bu[rows] @ right
                part = np.square(Bu[rows]) if squared else Bu[rows]
                yield rows, h0[rows], part, fit0[rows], extra
                continue
            if rows_of is None:
                prod = M_all[rows]
            else:
                prod = np.matmul(rows_of[rows], M_all, out=buffer[: rows.stop - start])
            B0, Bu = prod[:, :k0], prod[:, k0 : k0 + r]
            extra = None if right is None else prod[:, k0 + r :]
            if squared:
                np.square(Bu, out=Bu)
            yield rows, np.einsum("ij,ij->i", B0, B0), Bu, B0 @ self.g0, extra

    @cached_property
    def row_basis(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Row basis ``(h0, Bu, fit0)`` of the hat matrix.

        ``h0`` is the leverage of the unpenalized block per row, ``Bu`` the
        row basis ``(n, r)`` of the penalized block, ``fit0`` the
        unpenalized fit.

        ``h_ii(lam) = h0_i + sum_j Bu_ij^2 phi_j(lam)``; the fitted values
        are ``fit0 + Bu (phi * f)``.
        """
        rows_of, M0, Mu = self._row_maps()
        # the two blocks as separate products: no copy of the large one
        B0 = M0 if rows_of is None else rows_of @ M0
        Bu = Mu if rows_of is None else rows_of @ Mu
        h0 = np.einsum("ij,ij->i", B0, B0)
        return h0, np.ascontiguousarray(Bu), B0 @ self.g0

    @cached_property
    def row_map(self) -> FloatArray:
        """``G`` with ``W^{1/2} X @ G = [Q_x P_0, Q_x P_0^perp U]``: the hat-matrix row basis.

        Lets leverages be computed chunk by chunk (``h0`` from the first
        ``n_unpen`` columns, ``Bu`` from the rest).
        """
        _, Rx, _, house, _ = self._row_basis_inputs
        U = self._left_vectors
        if Rx is None:
            raise ValueError("row_map needs a square triangular factor (not the dual form)")
        k0, r = self.n_unpen, self.d.size
        E = np.zeros((Rx.shape[0], k0 + r))
        E[:k0, :k0] = np.eye(k0)
        E[k0:, k0:] = U
        E = house.apply(E, transpose=False)
        return self.precondition @ np.linalg.lstsq(Rx, E, rcond=None)[0]

    def leverage(self, lam: float | FloatArray) -> FloatArray:
        """Hat-matrix diagonal, shape ``(n,)`` or ``(n, n_lam)``."""
        h0, Bu, _ = self.row_basis
        phi = self.shrinkage(lam)
        out = np.empty((h0.size, *phi.shape[1:]))
        for start in range(0, h0.size, _ROW_BLOCK):  # Bu**2 a block at a time
            rows = slice(start, start + _ROW_BLOCK)
            np.matmul(Bu[rows] * Bu[rows], phi, out=out[rows])
        return out + (h0 if phi.ndim == 1 else h0[:, None])

    def weighted_resid(self, z_w: FloatArray, lam: float | FloatArray) -> FloatArray:
        """``W^{1/2}`` residuals for each ``lam`` given ``z_w = W^{1/2} z``."""
        _, Bu, fit0 = self.row_basis
        phi = self.shrinkage(lam)
        if phi.ndim == 1:
            return z_w - fit0 - Bu @ (phi * self.f)
        return z_w[:, None] - fit0[:, None] - Bu @ (phi * self.f[:, None])


def factorize(
    X: FloatArray,
    z: FloatArray,
    L: FloatArray,
    weights: FloatArray | None = None,
    intercept: int | None = None,
) -> PathFactor:
    r"""Reduce :math:`\min \|W^{1/2}(z - X\delta)\|^2 + \lambda\delta'L\delta`.

    Parameters
    ----------
    X : ndarray of shape (n_obs, n_coef)
        Design matrix.
    z : ndarray of shape (n_obs,)
        Response after removing offset and prior fit, ``y - o - X b0``.
    L : ndarray of shape (n_coef, n_coef) or (n_coef,)
        Symmetric positive semi-definite penalty matrix (not checked here),
        or its diagonal when it is diagonal (no ``k x k`` scan).
    weights : ndarray of shape (n_obs,), optional
        Positive observation weights ``w``.
    intercept : int, optional
        Index of a constant column; when unpenalized the other columns are
        centred on it before factorizing (an exact reparametrization).

    Returns
    -------
    PathFactor
        Everything needed for any ``lam``.

    Raises
    ------
    SingularSystemError
        When the unpenalized columns are collinear.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(50), rng.normal(size=(50, 2))])
    >>> z = X @ [1.0, 2.0, -1.0] + rng.normal(size=50)
    >>> fac = factorize(X, z, np.diag([0.0, 1.0, 1.0]), intercept=0)
    >>> bool(np.allclose(fac.coef(0.0), np.linalg.lstsq(X, z, rcond=None)[0]))
    True
    >>> round(fac.edf(0.0), 10)
    3.0
    """
    X = np.asarray(X, dtype=float)
    z = np.asarray(z, dtype=float)
    n, k = X.shape
    sw = None if weights is None else np.sqrt(np.asarray(weights, dtype=float))
    zw = z if sw is None else z * sw

    Qx: FloatArray | None = None
    Rx: FloatArray | None = None
    if n > k:
        one = one_pass_factor(X, sw, zw, L, intercept)
        if one is not None:  # the rows of the design are W^1/2 X (I - e_int m') D
            R, Q, method, scale = one.R, None, "cholesky", one.scale
            P = _scale_columns(_centring(k, intercept, one.means), scale[:k])
            P_rows = _scale_columns(_centring(k, intercept, one.resid_means), scale[:k])
            Xp: FloatArray | _MappedColumns = _MappedColumns(X, P_rows, sw, one.shift)
        else:  # a centred copy A: its rows are A D
            A, P = _centred_data(X, sw, zw, L, intercept)
            R, Q, method, scale = _gram_factor(A, k)
            P = _scale_columns(P, scale[:k])
            Xp = _MappedColumns(A, _scale_columns(_centring(k, None, None), scale[:k]))
        col_scale, z_norm = scale[:k], 1.0 / scale[k]
        Rx = R[:k, :k]
        g = R[:k, k] * z_norm
        rho2 = float((R[k, k] * z_norm) ** 2) if R.shape[0] > k else 0.0
        if Q is not None:
            Qx = Q[:, :k]
            Rx = None
        F = Rx if Rx is not None else R[:k, :k]
    else:
        Xp, P, col_scale = _precondition(X if sw is None else X * sw[:, None], L, intercept)
        method = "dual"
        F = Xp
        g = zw.copy()
        rho2 = 0.0

    log_w = 0.0 if weights is None else float(np.sum(np.log(weights)))
    return _reduce(F, g, rho2, P, col_scale, L, n, log_w, method, (Xp, Rx, Qx))


def factorize_triangular(
    R: FloatArray,
    L: FloatArray,
    n_obs: int,
    intercept: int | None = None,
    log_weights: float = 0.0,
) -> PathFactor:
    r"""Reduce the problem from the triangular factor of the data alone.

    For data that do not fit in memory: ``R`` is the ``(k+1) x (k+1)`` upper
    triangular factor of ``[W^{1/2} X, W^{1/2} z]`` (``z = y - o - X b0``),
    e.g. from combining per-chunk QR factors (TSQR). The centring and
    scaling of :func:`factorize` are applied to ``R`` (column norms and
    inner products are those of the data), and the rest is identical.
    Leverages need a second pass: ``W^{1/2} X @ factor.row_map`` gives the
    rows of the hat-matrix basis.

    Parameters
    ----------
    R : ndarray of shape (k + 1, k + 1)
        Triangular factor, ``R'R = [X~, z~]'[X~, z~]`` (fewer rows when the
        data have fewer rows than columns: zero rows are added).
    L : ndarray of shape (k, k)
        Penalty matrix.
    n_obs : int
        Number of observations.
    intercept : int, optional
        Index of the constant column.
    log_weights : float
        ``sum(log w)`` (for the REML constant).

    Returns
    -------
    PathFactor

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> X = np.column_stack([np.ones(30), rng.normal(size=(30, 2))])
    >>> z = rng.normal(size=30)
    >>> R = np.linalg.qr(np.column_stack([X, z]), mode="r")
    >>> L = np.diag([0.0, 1.0, 1.0])
    >>> a = factorize_triangular(R, L, 30, intercept=0)
    >>> b = factorize(X, z, L, intercept=0)
    >>> bool(np.allclose(a.coef(2.0), b.coef(2.0)) and np.isclose(a.reml(2.0), b.reml(2.0)))
    True
    """
    R = np.asarray(R, dtype=float)
    k = R.shape[1] - 1
    if R.shape[0] < k + 1:  # from fewer rows than columns: complete with zero rows
        R = np.vstack([R, np.zeros((k + 1 - R.shape[0], k + 1))])
    Rx = R[:k, :k]
    g = R[:k, k].copy()
    rho2 = float(R[k, k] ** 2)
    F = Rx.copy()
    P, scale = _centre_and_scale(F, L, intercept)
    return _reduce(F, g, rho2, P, scale, L, n_obs, log_weights, "triangular", (None, F, None))


def _reduce(
    F: FloatArray,
    g: FloatArray,
    rho2: float,
    P: sparse.csr_array,
    col_scale: FloatArray,
    L: FloatArray,
    n: int,
    log_w: float,
    method: str,
    row_inputs: tuple[FloatArray | None, FloatArray | None, FloatArray | None],
) -> PathFactor:
    """Whiten the penalty, absorb the unpenalized block and take the small SVD.

    ``F`` (rows x k) and ``g`` reduce the data: the residual sum of squares
    of ``delta_p`` is ``|g - F delta_p|^2 + rho2`` with ``delta = P delta_p``.
    """
    k = F.shape[1]
    diagonal_penalty = L.ndim == 1 or _is_diagonal(L)
    if diagonal_penalty:  # L_p = P' L P = D L D (centring moves only the unpenalized intercept)
        L = L if L.ndim == 1 else np.diagonal(L).copy()
        Lp = col_scale**2 * L
    else:
        Lp = col_scale[:, None] * L * col_scale[None, :]
    T, k0, s_plus = _whiten(Lp, _rank(L))
    m = k - k0
    Fw = _right_times(F, T, overwrite=method == "dual")  # the dual F is a private copy
    F0, M = Fw[:, :k0], Fw[:, k0:]
    rows = F.shape[0]
    if k0:
        qr, tau, _, _ = lapack.dgeqrf(np.asfortranarray(F0))
        house = _Householder(qr, tau)
    else:
        house = _Householder(np.zeros((rows, 0)), np.zeros(0))
    T0 = np.triu(house.qr[:k0, :k0]) if k0 else np.zeros((0, 0))
    if k0:
        tdiag = np.abs(np.diag(T0))
        if tdiag.min() <= max(rows, k0) * _EPS * max(tdiag.max(), 1.0):
            raise SingularSystemError(
                "the unpenalized columns are collinear (X'WX is singular on "
                "the null space of the penalty): remove a redundant "
                "unpenalized column or penalize it"
            )
    QtM = house.apply(M, transpose=True, overwrite=method == "dual") if m else np.zeros((rows, 0))
    Qtg = house.apply(g[:, None], transpose=True)[:, 0]
    B = QtM[:k0]
    Mperp = QtM[k0:]
    g0 = Qtg[:k0]
    gperp = Qtg[k0:]

    rows_gram = None
    U: FloatArray | None
    V: FloatArray | None
    f: FloatArray | None
    if m == 0 or Mperp.shape[0] == 0:
        U = np.zeros((Mperp.shape[0], 0))
        d = np.zeros(0)
        V = np.zeros((m, 0))
    elif Mperp.shape[0] >= m:
        U, d, V = _svd_graded(Mperp)
    else:  # wide: the Gram matrix of the rows, tridiagonalized (dual.RowGram)
        rows_gram = RowGram.reduce(Mperp, gperp)
        d, U, V = rows_gram.d, None, None
    if U is not None:
        f = U.T @ gperp
        rss_floor = rho2 + float(np.sum((gperp - U @ f) ** 2))
    elif rows_gram.tridiagonal is not None:  # type: ignore[union-attr]
        f, rss_floor = None, rho2  # K = MM' is non-singular: g is in its range
    else:
        Uw, f = rows_gram.spectrum  # type: ignore[union-attr]
        rss_floor = rho2 + float(np.sum((gperp - Uw @ f) ** 2))

    basis = P @ T
    # det P = prod(col_scale) (unit-triangular centring), |det U| = 1
    logdet_basis = float(np.sum(np.log(col_scale)) - 0.5 * np.sum(np.log(s_plus)))
    log_det_const = (
        2.0 * float(np.sum(np.log(np.abs(np.diag(T0))))) - 2.0 * logdet_basis - _log_pdet(L)
    )
    return PathFactor(
        n_obs=n,
        n_coef=k,
        n_unpen=k0,
        n_pen=m,
        basis=basis,
        T0=T0,
        B=B,
        d=d,
        right_vectors=V,
        projections=f,
        g0=g0,
        rss_floor=rss_floor,
        log_det_const=log_det_const,
        log_weights=log_w,
        method=method,
        _row_basis_inputs=(*row_inputs, house, U),
        precondition=P,
        _rows=rows_gram,
        diagonal_penalty=diagonal_penalty,
    )
