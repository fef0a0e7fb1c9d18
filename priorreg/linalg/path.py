r"""The reduced penalized least-squares problem and everything it gives at any ``lam``.

In whitened coordinates :math:`\theta = (a, c)` (``a`` the null space of
``L``, ``c`` its whitened range, penalized as :math:`\lambda\|c\|^2`)
the reduced problem is the block triangle :math:`G = [[T_0, B], [0, M]]`
with the thin SVD :math:`(I - P_0P_0')M = U D V'`. Every quantity that
depends on :math:`\lambda` is then closed-form in the singular values
``d`` and the projections ``f = U'g``:

.. math::

    c(\lambda) = V \frac{d}{d^2 + \lambda} f, \quad
    \mathrm{edf}(\lambda) = k_0 + \sum_j \frac{d_j^2}{d_j^2 + \lambda},
    \quad
    \mathrm{RSS}(\lambda) = \rho^2 +
        \sum_j \Big(\frac{\lambda f_j}{d_j^2 + \lambda}\Big)^2,

the covariance :math:`(X'WX + \lambda L)^{-1}` by block back-substitution,
and the restricted likelihood from
:math:`\log|X'WX + \lambda L| - \log|\lambda L|_+ = \sum_j
\log(d_j^2 + \lambda) - r \log\lambda + \text{const}` (Wood 2011).
Leverages come from :mod:`priorreg.linalg.leverage`; with more penalized
directions than rows the path runs on :mod:`priorreg.linalg.wide`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import linalg as sla
from scipy import sparse

from priorreg._typing import FloatArray
from priorreg.linalg.dense import _EPS, _Householder
from priorreg.linalg.leverage import Leverages
from priorreg.linalg.reduce import _ONE_PASS_COND
from priorreg.linalg.wide import RowGram

__all__ = ["PathFactor", "SingularSystemError"]


class SingularSystemError(ValueError):
    """``X'WX + lam L`` is singular: the estimate is not identified."""


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
        tridiagonal reduction of ``M M'`` (:mod:`priorreg.linalg.wide`).
    g0 : ndarray of shape (k0,)
        Projected response on the unpenalized block.
    rss_floor : float
        Residual sum of squares no ``lam`` can reduce (``rho^2``).
    method : str
        ``"cholesky"``, ``"cholesky-qr2"``, ``"householder"``, ``"dual"`` or
        ``"triangular"``.
    leverages : Leverages
        The row basis of the hat matrix (formed on first use), behind
        :meth:`leverage`, :meth:`row_blocks`, :attr:`row_basis` and :attr:`row_map`.
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
    @cached_property
    def leverages(self) -> Leverages:
        """The row basis of the hat matrix (:class:`~priorreg.linalg.leverage.Leverages`)."""
        design, Rx, Qx, house, _ = self._row_basis_inputs
        return Leverages(design, Rx, Qx, house, self._left_vectors, self.g0, self.precondition)

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
        return self.leverages.row_blocks(self.n_obs, block, right, squared=squared)

    @property
    def row_basis(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Row basis ``(h0, Bu, fit0)`` of the hat matrix (computed once).

        ``h_ii(lam) = h0_i + sum_j Bu_ij^2 phi_j(lam)``; the fitted values
        are ``fit0 + Bu (phi * f)``.
        """
        return self.leverages.row_basis

    @property
    def row_map(self) -> FloatArray:
        """``G`` with ``W^{1/2} X @ G = [Q_x P_0, Q_x P_0^perp U]``: the hat-matrix row basis.

        Lets leverages be computed chunk by chunk (``h0`` from the first
        ``n_unpen`` columns, ``Bu`` from the rest).
        """
        return self.leverages.row_map

    def leverage(self, lam: float | FloatArray) -> FloatArray:
        """Hat-matrix diagonal, shape ``(n,)`` or ``(n, n_lam)``."""
        return self.leverages.diagonal(self.shrinkage(lam))

    def weighted_resid(self, z_w: FloatArray, lam: float | FloatArray) -> FloatArray:
        """``W^{1/2}`` residuals for each ``lam`` given ``z_w = W^{1/2} z``."""
        return self.leverages.weighted_resid(z_w, self.shrinkage(lam), self.f)
