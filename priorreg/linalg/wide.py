r"""More coefficients than observations: the penalty path from the Gram matrix of the rows.

After whitening the penalty and absorbing the unpenalized columns, the
penalized block is ``M`` (``n x m`` with ``n < m``) with response ``g``.
Every quantity of the path is a function of ``K = M M'`` and ``g``:

.. math::

    c(\lambda) = M' (K + \lambda I)^{-1} g, \qquad
    \mathrm{RSS}(\lambda) = \rho^2 + \lambda^2 \|(K + \lambda I)^{-1} g\|^2,
    \qquad
    |c|^2 = g'(K + \lambda I)^{-1} K (K + \lambda I)^{-1} g,

and the effective degrees of freedom need only the eigenvalues of ``K``.
A Householder reflection with ``H g = \alpha e_1`` and LAPACK's
tridiagonal reduction ``H K H = Q T Q'`` (``dsytrd``, whose ``Q`` leaves
``e_1`` fixed) give

.. math::

    (K + \lambda I)^{-1} g = \alpha\, H Q\, (T + \lambda I)^{-1} e_1 :

one ``O(n)`` tridiagonal solve per ``lam``, and the eigenvalues of ``T``
(``dsterf``) in ``O(n^2)``. The reduction costs about half of a full
eigendecomposition; the eigenvectors (for leverages, LOOCV and the right
singular vectors) are computed only when asked for. When ``K`` is singular
to working precision (repeated or collinear observations) the
eigendecomposition is used from the start, so that the directions the data
do not reach are dropped exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import linalg as sla
from scipy.linalg import blas, lapack

from priorreg._typing import FloatArray

__all__ = ["RowGram"]

_EPS = float(np.finfo(float).eps)


@dataclass(frozen=True)
class _Tridiagonal:
    """``H K H = Q T Q'`` with ``H g = alpha e_1``; ``Q`` as ``dsytrd`` reflectors."""

    diag: FloatArray
    off: FloatArray
    alpha: float
    reflector: FloatArray  # v of H = I - beta v v'
    beta: float
    reflectors: FloatArray = field(repr=False)  # dsytrd output (lower)
    tau: FloatArray = field(repr=False)

    def _apply_q(self, Y: FloatArray, *, transpose: bool) -> FloatArray:
        """``Q Y`` or ``Q' Y``: the reflectors act on rows 2..n (``dormtr``, lower)."""
        n = self.diag.size
        out = np.array(Y, dtype=float, order="F", ndmin=2)
        if Y.ndim == 1:
            out = out.T
        if n > 1:
            trans = "T" if transpose else "N"
            lwork = max(1, 64 * out.shape[1])
            cq, _, info = lapack.dormqr(
                "L", trans, self.reflectors[1:, : n - 1], self.tau, out[1:], lwork
            )
            if info != 0:  # pragma: no cover - LAPACK argument error
                raise RuntimeError(f"dormqr failed with info={info}")
            out[1:] = cq
        return out[:, 0] if Y.ndim == 1 else out

    def _apply_h(self, Y: FloatArray) -> FloatArray:
        v = self.reflector
        if Y.ndim == 1:
            return Y - self.beta * v * (v @ Y)
        return Y - self.beta * np.outer(v, v @ Y)

    def to_rows(self, Y: FloatArray) -> FloatArray:
        """``H Q Y``: from tridiagonal coordinates to the rows."""
        return self._apply_h(self._apply_q(Y, transpose=False))

    def from_rows(self, X: FloatArray) -> FloatArray:
        """``Q' H X``: from the rows to tridiagonal coordinates."""
        return self._apply_q(self._apply_h(X), transpose=True)

    def solve(self, lam: float, B: FloatArray) -> FloatArray:
        """``(T + lam I)^{-1} B`` (positive definite for ``lam > 0``: ``dptsv``)."""
        rhs = B[:, None] if B.ndim == 1 else B
        if self.diag.size == 1:  # dptsv wants a non-empty off-diagonal
            x = rhs / (self.diag[0] + lam)
            return x[:, 0] if B.ndim == 1 else x
        _, _, x, info = lapack.dptsv(self.diag + lam, self.off, rhs)
        if info != 0:
            raise np.linalg.LinAlgError(f"T + lam I is not positive definite (dptsv info={info})")
        return x[:, 0] if B.ndim == 1 else x

    def quadratic(self, y: FloatArray) -> float:
        """``y' T y``."""
        return float(self.diag @ (y * y) + 2.0 * self.off @ (y[:-1] * y[1:]))


def _tridiagonalize(K: FloatArray, g: FloatArray) -> _Tridiagonal:
    """Reflect ``g`` to ``alpha e_1`` and reduce ``H K H`` to tridiagonal form."""
    n = g.size
    norm = float(np.linalg.norm(g))
    alpha = -np.copysign(norm, g[0]) if n else 0.0
    v = g.copy()
    if n:
        v[0] -= alpha
    vv = float(v @ v)
    beta = 2.0 / vv if vv > 0 else 0.0
    w = K @ v
    # H K H = K - beta (v w' + w v') + beta^2 (v'w) v v' = K - (v u' + u v'),
    # u = beta w - (beta^2 v'w / 2) v: one symmetric rank-2 update of the lower triangle
    u = beta * w - (0.5 * beta * beta * float(v @ w)) * v
    A = blas.dsyr2(-1.0, v, u, lower=1, a=np.array(K, order="F"), overwrite_a=1)
    lwork = int(lapack.dsytrd_lwork(n, lower=1)[0]) if n else 1
    qr, diag, off, tau, info = lapack.dsytrd(A, lower=1, lwork=max(lwork, 1), overwrite_a=1)
    if info != 0:  # pragma: no cover - LAPACK argument error
        raise RuntimeError(f"dsytrd failed with info={info}")
    return _Tridiagonal(diag, off, alpha, v, beta, qr, tau)


@dataclass(frozen=True)
class RowGram:
    """``K = M M'`` and ``g`` for the path of a wide penalized block.

    Attributes
    ----------
    M : ndarray of shape (n, m)
        The penalized block (``n < m``).
    gram : ndarray of shape (n, n)
        ``K = M M'``.
    g : ndarray of shape (n,)
        The response of the block.
    d : ndarray
        Singular values of ``M`` (square roots of the eigenvalues of ``K``)
        that the data resolve, descending.
    tridiagonal : _Tridiagonal or None
        The reduction, when ``K`` is non-singular (then ``d`` has ``n``
        entries); ``None`` when it is singular, and the spectrum is used.
    """

    M: FloatArray
    gram: FloatArray
    g: FloatArray
    d: FloatArray
    tridiagonal: _Tridiagonal | None
    _spectrum: tuple[FloatArray, FloatArray] | None = field(default=None, repr=False)

    @classmethod
    def reduce(cls, M: FloatArray, g: FloatArray) -> RowGram:
        """Tridiagonalize ``M M'`` (or eigendecompose it when it is singular)."""
        K = M @ M.T
        tol = max(M.shape) * _EPS
        tri = _tridiagonalize(K, g)
        ev = sla.eigh_tridiagonal(tri.diag, tri.off, eigvals_only=True, lapack_driver="sterf")
        ev = ev[::-1]
        if ev.size and ev[-1] > ev[0] * tol:
            return cls(M, K, g, np.sqrt(ev), tri)
        # singular: drop the directions the data do not reach, by their eigenvectors
        ev, U = np.linalg.eigh(K)
        ev, U = ev[::-1], U[:, ::-1]
        keep = ev > max(ev[0], 0.0) * tol if ev.size else np.zeros(0, bool)
        U = np.ascontiguousarray(U[:, keep])
        return cls(M, K, g, np.sqrt(ev[keep]), None, (U, U.T @ g))

    @cached_property
    def spectrum(self) -> tuple[FloatArray, FloatArray]:
        """``(U, f)``: eigenvectors of ``K`` for ``d`` (columns) and ``f = U' g``."""
        if self._spectrum is not None:
            return self._spectrum
        U = np.ascontiguousarray(np.linalg.eigh(self.gram)[1][:, ::-1])
        return U, U.T @ self.g

    # ----------------------------------------------------- per lam, O(n)
    def _response_solution(self, lam: float) -> FloatArray:
        """``y = (T + lam I)^{-1} alpha e_1``: ``(K + lam I)^{-1} g`` in tridiagonal coordinates."""
        tri = self.tridiagonal
        e1 = np.zeros(self.g.size)
        e1[0] = tri.alpha  # type: ignore[union-attr]
        return tri.solve(lam, e1)  # type: ignore[union-attr]

    def path_terms(self, lam: float) -> tuple[float, float, float]:
        r"""``(lam^2 |y|^2, y'Ty, lam g'y)``: RSS above the floor, :math:`|c|^2`, prior misfit.

        With :math:`y = (K + \lambda I)^{-1} g` (``K`` is non-singular here, so ``lam = 0``
        gives the minimum-norm interpolant).
        """
        y = self._response_solution(lam)
        tri = self.tridiagonal
        return (
            lam * lam * float(y @ y),
            tri.quadratic(y),  # type: ignore[union-attr]
            lam * tri.alpha * float(y[0]),  # type: ignore[union-attr]
        )

    def solve(self, lam: float, X: FloatArray) -> FloatArray:
        """``(K + lam I)^{-1} X`` for ``lam > 0``."""
        tri = self.tridiagonal
        if tri is None:
            U, _ = self.spectrum
            d2 = self.d**2 if X.ndim == 1 else (self.d**2)[:, None]
            UtX = U.T @ X
            # the complement of U is the null space of K: there (K + lam)^-1 = 1/lam
            return U @ (UtX / (d2 + lam)) + (X - U @ UtX) / lam
        return tri.to_rows(tri.solve(lam, tri.from_rows(X)))

    def coefficients(self, lam: float) -> FloatArray:
        """``c = M' (K + lam I)^{-1} g``."""
        if self.tridiagonal is None:
            U, f = self.spectrum
            return self.M.T @ (U @ (f / (self.d**2 + lam)))
        return self.M.T @ self.tridiagonal.to_rows(self._response_solution(lam))

    def inverse_quadratic_diagonal(self, lam: float, Y: FloatArray) -> FloatArray:
        """``diag(Y (K + lam I)^{-1} Y')`` for ``Y`` of shape ``(p, n)`` (Cholesky, O(p n^2))."""
        A = self.gram + lam * np.eye(self.g.size)
        C = sla.cholesky(A, lower=True, check_finite=False)
        W = sla.solve_triangular(C, Y.T, lower=True, check_finite=False)
        return np.einsum("ij,ij->j", W, W)
