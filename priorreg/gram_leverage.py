r"""Leverages of a penalized IRLS fit from the Cholesky factor of its Gram matrix.

At a converged fit with working weights :math:`W` and
:math:`A = X'WX + \lambda L`, the leverages (diagonal of the hat matrix
:math:`W^{1/2} X A^{-1} X' W^{1/2}`) are

.. math::

    h_{ii} = W_i\, x_i' A^{-1} x_i = W_i \,\| x_i' A^{-1/2} \|^2 .

The penalty search factors :math:`A` already (:mod:`priorreg.gram_irls`:
Cholesky of :math:`D A D`, ``D = diag(A)^{-1/2}``), so the leverages cost one
pass over the rows of ``X`` (a matrix product on row blocks) and no new
factorization: with :math:`D A D = C'C`, :math:`x_i' A^{-1} x_i = \|C^{-T}
D x_i\|^2`. The factor is accepted only with a reciprocal condition number
of at least ``1e-6`` (:func:`priorreg.gram_irls._cholesky`), so the
quadratic forms carry a relative error of about ``eps * 1e6 ~ 2e-10``.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from priorreg._typing import FloatArray
from priorreg.gram import ROW_BLOCK

__all__ = ["quadratic_forms"]

#: Elements of a row block (8 MB): a ``gemm`` with a short output dimension is
#: several times slower per row on blocks of 4096 rows (``gram.ROW_BLOCK``, sized
#: for ``syrk``) than on blocks of ~20,000 rows (k = 50, two BLAS threads).
_BLOCK_ELEMENTS = 1 << 20


def quadratic_forms(
    X: FloatArray, C: FloatArray, D: FloatArray, M: FloatArray | None = None
) -> tuple[FloatArray, FloatArray | None]:
    r""":math:`x_i' A^{-1} x_i` (and :math:`x_i' A^{-1} M A^{-1} x_i`) for every row of ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_obs, n_coef)
    C : ndarray of shape (n_coef, n_coef)
        Upper Cholesky factor of :math:`DAD`.
    D : ndarray of shape (n_coef,)
        The column scaling.
    M : ndarray of shape (n_coef, n_coef), optional
        A symmetric matrix (the derivative of ``A``, for that of the leverages).

    Returns
    -------
    q : ndarray of shape (n_obs,)
        :math:`x_i' A^{-1} x_i`.
    r : ndarray of shape (n_obs,) or None
        :math:`x_i' A^{-1} M A^{-1} x_i` when ``M`` is given.

    Notes
    -----
    With the inverse of the triangular factor (``k x k``, ``trtri``; its
    relative error is about ``eps * cond(C) <= eps * 1e3``), :math:`A^{-1} =
    G G'` with :math:`G = D C^{-1}`, and row block by row block
    :math:`[U, UN] = X_b [G, GN]` (one ``gemm``), :math:`N = G'MG`:

    .. math::

        x_i' A^{-1} x_i = \sum_j U_{ij}^2, \qquad
        x_i' A^{-1} M A^{-1} x_i = u_i (G' M G) u_i' .
    """
    n = X.shape[0]
    q = np.empty(n)
    r = None if M is None else np.empty(n)
    Cinv, info = lapack.dtrtri(C, lower=0)
    if info != 0:
        raise np.linalg.LinAlgError("the Cholesky factor is singular")
    G = D[:, None] * np.triu(Cinv)  # x' D C^-1 = x' G
    k = G.shape[1]
    if M is not None:  # [U, U N] from one product
        G = np.hstack([G, G @ (G.T @ M @ G)])
    rows = max(ROW_BLOCK, _BLOCK_ELEMENTS // max(G.shape[1], 1))
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        UV = X[start:stop] @ G
        U = UV[:, :k]
        q[start:stop] = np.einsum("ij,ij->i", U, U)
        if r is not None:
            r[start:stop] = np.einsum("ij,ij->i", UV[:, k:], U)
    return q, r
