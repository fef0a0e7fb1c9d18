r"""Entry points: reduce the data, or its triangular factor, to a :class:`PathFactor`.

:func:`factorize` takes the data (one pass for the triangular factor,
:mod:`priorreg.linalg.reduce`; the observations themselves when there are
more coefficients than rows), :func:`factorize_triangular` the triangular
factor of data reduced elsewhere (e.g. combined per-chunk QR factors).
Both end in :func:`_reduce`: whiten the penalty
(:meth:`priorreg.penalty.Penalty.whiten`), absorb the unpenalized block by QR,
:math:`F_0 = P_0 T_0`, and take one small SVD of the rest,
:math:`(I - P_0P_0')M = UDV'` (or reduce :math:`MM'` when it is wide,
:mod:`priorreg.linalg.wide`).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.linalg import lapack

from priorreg._typing import FloatArray
from priorreg.gram import centring as _centring
from priorreg.gram import one_pass_factor
from priorreg.linalg.dense import _EPS, _Householder, _right_times, _svd_graded
from priorreg.linalg.path import PathFactor, SingularSystemError
from priorreg.linalg.reduce import (
    _centre_and_scale,
    _centred_data,
    _gram_factor,
    _MappedColumns,
    _precondition,
    _scale_columns,
)
from priorreg.linalg.wide import RowGram
from priorreg.penalty import Penalty

__all__ = ["factorize", "factorize_triangular"]


def factorize(
    X: FloatArray,
    z: FloatArray,
    L: Penalty | FloatArray,
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
    L : Penalty, or ndarray of shape (n_coef, n_coef) or (n_coef,)
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
    pen = Penalty.of(L)
    n, k = X.shape
    sw = None if weights is None else np.sqrt(np.asarray(weights, dtype=float))
    zw = z if sw is None else z * sw

    Qx: FloatArray | None = None
    Rx: FloatArray | None = None
    if n > k:
        one = one_pass_factor(X, sw, zw, pen.values, intercept)
        if one is not None:  # the rows of the design are W^1/2 X (I - e_int m') D
            R, Q, method, scale = one.R, None, "cholesky", one.scale
            P = _scale_columns(_centring(k, intercept, one.means), scale[:k])
            P_rows = _scale_columns(_centring(k, intercept, one.resid_means), scale[:k])
            Xp: FloatArray | _MappedColumns = _MappedColumns(X, P_rows, sw, one.shift)
        else:  # a centred copy A: its rows are A D
            A, P = _centred_data(X, sw, zw, pen, intercept)
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
        Xp, P, col_scale = _precondition(X if sw is None else X * sw[:, None], pen, intercept)
        method = "dual"
        F = Xp
        g = zw.copy()
        rho2 = 0.0

    log_w = 0.0 if weights is None else float(np.sum(np.log(weights)))
    return _reduce(F, g, rho2, P, col_scale, pen, n, log_w, method, (Xp, Rx, Qx))


def factorize_triangular(
    R: FloatArray,
    L: Penalty | FloatArray,
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
    L : Penalty, or ndarray of shape (k, k) or (k,)
        Penalty matrix, or its diagonal.
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
    pen = Penalty.of(L)
    P, scale = _centre_and_scale(F, pen, intercept)
    return _reduce(F, g, rho2, P, scale, pen, n_obs, log_weights, "triangular", (None, F, None))


def _reduce(
    F: FloatArray,
    g: FloatArray,
    rho2: float,
    P: sparse.csr_array,
    col_scale: FloatArray,
    pen: Penalty,
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
    # L_p = P' L P = D L D: centring moves only the unpenalized intercept
    whitening = pen.whiten(col_scale)
    T, k0, s_plus = whitening.basis, whitening.n_null, whitening.s_plus
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
        2.0 * float(np.sum(np.log(np.abs(np.diag(T0))))) - 2.0 * logdet_basis - pen.log_pdet()
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
        diagonal_penalty=pen.is_diagonal,
    )
