r"""Leverages at any penalty weight from one row basis of the hat matrix.

In the whitened coordinates of :class:`~priorreg.linalg.PathFactor` the hat
matrix is

.. math::

    H(\lambda) = B_0 B_0' + B_u \operatorname{diag}\big(\phi(\lambda)\big) B_u',
    \qquad \phi_j(\lambda) = \frac{d_j^2}{d_j^2 + \lambda},

with the row basis :math:`[B_0, B_u] = Q_x [P_0, P_0^\perp U]`: the
orthogonal factor of the data times the unpenalized block's reflectors
and the left singular vectors of the penalized block. So
:math:`h_{ii}(\lambda) = h_{0,i} + \sum_j B_{u,ij}^2 \phi_j(\lambda)` for
every ``lam`` at once, one matrix product. The basis is computed from the
data (or the orthogonal factor, or the observations in the dual form) on
demand, whole or block by block.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import linalg as sla
from scipy import sparse

from priorreg._typing import FloatArray
from priorreg.gram import WeightedRows
from priorreg.linalg.dense import _Householder
from priorreg.linalg.reduce import _ROW_BLOCK, _MappedColumns


@dataclass(frozen=True)
class Leverages:
    r"""The row basis ``(h0, Bu, fit0)`` of the hat matrix and the leverages it gives.

    Attributes
    ----------
    design : ndarray, _MappedColumns or None
        The preconditioned design ``X_p`` (``None`` in the dual form).
    Rx, Qx : ndarray or None
        Triangular factor of ``X_p``, or its orthogonal factor (Householder
        fallback), whichever the reduction kept.
    house : _Householder
        Reflectors of the unpenalized block.
    U : ndarray of shape (rows, r)
        Left singular vectors of the penalized block.
    g0 : ndarray of shape (k0,)
        Projected response on the unpenalized block.
    precondition : sparse array of shape (k, k)
        ``P`` of ``X_p = W^{1/2} X P``.
    """

    design: FloatArray | _MappedColumns | None
    Rx: FloatArray | None
    Qx: FloatArray | None
    house: _Householder
    U: FloatArray
    g0: FloatArray
    precondition: sparse.csr_array

    @property
    def n_unpen(self) -> int:
        """``k0``, the dimension of the null space of the penalty."""
        return int(self.g0.size)

    def _coordinates(self) -> FloatArray:
        """``[P_0, P_0^perp U]``: the reflectors applied to ``diag(I_k0, U)``."""
        k0, r = self.n_unpen, self.U.shape[1]
        E = np.zeros((self.house.qr.shape[0], k0 + r))
        E[:k0, :k0] = np.eye(k0)
        E[k0:, k0:] = self.U
        return self.house.apply(E, transpose=False)

    def _maps(self) -> tuple[FloatArray | WeightedRows | None, FloatArray, FloatArray]:
        """``(rows_of, M0, Mu)``: the row basis blocks are ``rows_of @ M0`` and ``rows_of @ Mu``.

        ``rows_of`` is the (preconditioned) design or its orthogonal factor,
        ``None`` in the dual form, where ``M0`` and ``Mu`` are the blocks.
        """
        k0 = self.n_unpen
        E = self._coordinates()
        rows_of: FloatArray | _MappedColumns | WeightedRows | None
        if self.Qx is not None:
            rows_of, M = self.Qx, E
        elif self.Rx is not None:
            rows_of, M = self.design, sla.solve_triangular(self.Rx, E, lower=False)
        else:  # dual form: the rows are the observations themselves
            return None, E[:, :k0], E[:, k0:]
        if isinstance(rows_of, _MappedColumns):  # fold the preconditioning into M
            M, rows_of = rows_of.P @ M, rows_of.rows
        return rows_of, np.ascontiguousarray(M[:, :k0]), np.ascontiguousarray(M[:, k0:])  # type: ignore[return-value]

    @cached_property
    def row_basis(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Row basis ``(h0, Bu, fit0)`` of the hat matrix.

        ``h0`` is the leverage of the unpenalized block per row, ``Bu`` the
        row basis ``(n, r)`` of the penalized block, ``fit0`` the
        unpenalized fit.

        ``h_ii(lam) = h0_i + sum_j Bu_ij^2 phi_j(lam)``; the fitted values
        are ``fit0 + Bu (phi * f)``.
        """
        rows_of, M0, Mu = self._maps()
        # the two blocks as separate products: no copy of the large one
        B0 = M0 if rows_of is None else rows_of @ M0
        Bu = Mu if rows_of is None else rows_of @ Mu
        h0 = np.einsum("ij,ij->i", B0, B0)
        return h0, np.ascontiguousarray(Bu), B0 @ self.g0

    def row_blocks(
        self, n_obs: int, block: int, right: FloatArray | None, *, squared: bool
    ) -> Iterator[tuple[slice, FloatArray, FloatArray, FloatArray, FloatArray | None]]:
        """Yield ``(rows, h0, Bu, fit0, Bu @ right)`` block by block (see ``PathFactor``)."""
        k0, r = self.n_unpen, self.U.shape[1]
        cached = self.__dict__.get("row_basis")
        if cached is None:
            rows_of, M0, Mu = self._maps()
            maps = [M0, Mu] if right is None else [M0, Mu, Mu @ right]
            M_all = np.ascontiguousarray(np.hstack(maps))
            buffer = np.empty((min(block, n_obs), M_all.shape[1]))
        for start in range(0, n_obs, block):
            rows = slice(start, min(start + block, n_obs))
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
    def row_map(self) -> FloatArray:
        """``G`` with ``W^{1/2} X @ G = [Q_x P_0, Q_x P_0^perp U]``: the hat-matrix row basis."""
        if self.Rx is None:
            raise ValueError("row_map needs a square triangular factor (not the dual form)")
        return np.asarray(
            self.precondition @ np.linalg.lstsq(self.Rx, self._coordinates(), rcond=None)[0]
        )

    def diagonal(self, phi: FloatArray) -> FloatArray:
        """Hat-matrix diagonal for shrinkage factors ``phi`` of shape ``(r,)`` or ``(r, n_lam)``."""
        h0, Bu, _ = self.row_basis
        out = np.empty((h0.size, *phi.shape[1:]))
        for start in range(0, h0.size, _ROW_BLOCK):  # Bu**2 a block at a time
            rows = slice(start, start + _ROW_BLOCK)
            np.matmul(Bu[rows] * Bu[rows], phi, out=out[rows])
        return out + (h0 if phi.ndim == 1 else h0[:, None])

    def weighted_resid(self, z_w: FloatArray, phi: FloatArray, f: FloatArray) -> FloatArray:
        """``W^{1/2}`` residuals ``z_w - fit0 - Bu (phi f)`` for each column of ``phi``."""
        _, Bu, fit0 = self.row_basis
        if phi.ndim == 1:
            return z_w - fit0 - Bu @ (phi * f)
        return z_w[:, None] - fit0[:, None] - Bu @ (phi * f[:, None])
