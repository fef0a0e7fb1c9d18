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
from priorreg.gram import ROW_BLOCK, signed_gram

__all__ = ["gram_along", "quadratic_forms"]

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
    G G'` with :math:`G = D C^{-1}`. With ``M``, the symmetric :math:`N =
    G'MG = Q \Lambda Q'` (``eigh``, ``k x k``) rotates the columns: row block
    by row block :math:`V = X_b G Q` (one ``gemm`` with ``k`` columns) gives
    both sums (one product of the squares :math:`V^{\circ 2}` with
    :math:`[\mathbf 1, \operatorname{diag}\Lambda]`), :math:`Q` being orthogonal:

    .. math::

        x_i' A^{-1} x_i = \sum_j V_{ij}^2, \qquad
        x_i' A^{-1} M A^{-1} x_i = u_i' N u_i = \sum_j \Lambda_{jj} V_{ij}^2,

    :math:`u_i = G'x_i`. The rotation adds a relative error of about ``k
    eps`` to ``q`` and an absolute one of about ``k eps |N| q_i`` to ``r``,
    the size of the rounding of :math:`u_i'(N u_i)` itself.
    """
    n, k = X.shape
    Cinv, info = lapack.dtrtri(C, lower=0)
    if info != 0:
        raise np.linalg.LinAlgError("the Cholesky factor is singular")
    G = D[:, None] * np.triu(Cinv)  # x' D C^-1 = x' G
    sums = np.ones((k, 1))  # the squares' row sums, and with M their sum weighted by Lambda
    if M is not None:
        N = G.T @ M @ G
        spectrum, Q = np.linalg.eigh(0.5 * (N + N.T))
        G = G @ Q
        sums = np.column_stack([sums[:, 0], spectrum])
    out = np.empty((n, sums.shape[1]))
    rows = max(ROW_BLOCK, _BLOCK_ELEMENTS // max(k, 1))
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        V = X[start:stop] @ G
        V *= V
        np.dot(V, sums, out=out[start:stop])
    q = np.ascontiguousarray(out[:, 0])
    return q, (None if M is None else np.ascontiguousarray(out[:, 1]))


def gram_along(
    X: FloatArray, b: FloatArray, v: FloatArray, offset: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    r""":math:`e = Xb` and :math:`X'\mathrm{diag}(v \odot e + c)X` in one pass over the rows.

    The derivative of the Gram matrix :math:`X'WX` along a direction ``b`` of
    the estimate, ``v`` being :math:`\partial W/\partial\eta` (``c`` =
    ``offset``, zero by default, the terms that do not depend on ``b``): each
    block of ``gram.ROW_BLOCK`` rows gives its part of :math:`e` and then, while
    it is in cache, its part of the sum (:func:`priorreg.gram.signed_gram` on
    the block).

    Returns
    -------
    e : ndarray of shape (n_obs,)
    H1 : ndarray of shape (n_coef, n_coef)
    """
    n, k = X.shape
    e = np.empty(n)
    H1 = np.zeros((k, k))
    for start in range(0, n, ROW_BLOCK):
        stop = min(start + ROW_BLOCK, n)
        rows = X[start:stop]
        eb = e[start:stop] = rows @ b
        vb = v[start:stop] * eb
        H1 += signed_gram(rows, vb if offset is None else vb + offset[start:stop])
    return e, H1
