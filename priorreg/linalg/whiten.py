r"""Penalty algebra: rank, whitening basis and log pseudo-determinant of ``L``.

With the scaled penalty :math:`L_p = U \operatorname{diag}(s) U'`, the
coordinates :math:`\theta = (a, c)`, :math:`\delta_p = U_0 a + U_+
s_+^{-1/2} c`, make the penalty :math:`\lambda \|c\|^2` and leave ``a``
(the null space of ``L``) free.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from priorreg._typing import FloatArray

_EPS = float(np.finfo(float).eps)


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

