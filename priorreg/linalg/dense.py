r"""Small dense kernels of the reduction: reflectors, graded SVD, products with the basis.

- :class:`_Householder` keeps the QR factor of the unpenalized block as
  LAPACK reflectors and applies :math:`P` or :math:`P'` (``dormqr``); one
  reflector of a constant column costs two row operations.
- :func:`_svd_graded` is the thin SVD :math:`M = U \operatorname{diag}(d) V'`
  of the penalized block, recomputed by the preconditioned Jacobi SVD
  (``gejsv``) when the singular values spread widely, so that each is
  accurate relative to itself whatever the column scaling.
- :func:`_right_times` is :math:`F T` for a dense ``F`` and the (often
  sparse, diagonal) whitening basis ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.linalg import lapack

from priorreg._typing import FloatArray

_EPS = float(np.finfo(float).eps)
#: Below this ratio to the largest singular value, ``gesdd``'s small singular
#: values lose relative accuracy; recompute them by Jacobi SVD (``gejsv``).
_JACOBI_SVD_RATIO = 1e-8


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

