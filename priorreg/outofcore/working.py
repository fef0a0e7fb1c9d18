r"""The triangular factor of a partition's weighted working problem: Gram route first.

An IRLS pass needs, per partition, an upper-triangular ``R`` with

.. math::

    R'R = G = A'A, \qquad A = W^{1/2} [X, t],

which the reduction tree then stacks and factorizes again (TSQR). Each row
chunk of ``A`` is added to ``G`` by a BLAS ``syrk`` while it is in cache
(:math:`n (k+1)^2` flops, half those of a Householder QR, in level-3 BLAS),
and at the end of the partition ``R`` is the Cholesky factor of ``G``, taken
of the column-scaled :math:`D G D` (``D = diag(G)^{-1/2}``) exactly as the
in-memory Gram route takes it (:func:`priorreg.gram_irls._cholesky`).

Forming ``G`` squares the condition number. The factor is accepted when the
reciprocal condition number of :math:`D G D` is at least ``1e-6`` (that
route's threshold): solutions from it are then accurate to about
:math:`\epsilon / \mathrm{rcond} \le 2 \cdot 10^{-10}` relative. The check is
made on the augmented ``[X, t]``, so it also covers the working residual
:math:`\rho^2 = G_{tt} - r'r` (an almost exact fit makes ``[X, t]`` ill
conditioned). Otherwise (or when a column of the partition is zero, or it
has fewer rows than columns) the partition's weighted chunks are made again
from its columns in memory, inside the same task, and factorized by
Householder QR chunk by chunk (:func:`~priorreg.outofcore.passes._qr_r`):
no further pass over the data.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.linalg.blas import dsyrk

from priorreg._typing import FloatArray
from priorreg.gram_irls import _cholesky
from priorreg.outofcore.passes import _qr_r, _stack_factors

__all__ = ["WorkingFactor"]


class WorkingFactor:
    r"""Accumulates :math:`G = A'A` of the weighted chunks; :meth:`factor` gives ``R``.

    ``p`` columns of ``A``. :meth:`add` takes a weighted chunk
    ``[sw X_c, sw t_c]``; nothing of the rows is kept, so the Householder
    fallback of :meth:`factor` is given the weighted chunks again.
    """

    def __init__(self, p: int) -> None:
        self.G = np.zeros((p, p), order="F")
        self.p = p

    def add(self, a: FloatArray) -> None:
        """Add a weighted chunk ``a`` (Fortran order, overwritten later by the caller)."""
        self.G = dsyrk(1.0, a, beta=1.0, c=self.G, trans=1, overwrite_c=1)

    def factor(self, chunks: Iterable[tuple[slice, FloatArray]], n: int) -> FloatArray:
        """``R`` with ``R'R = G``: Cholesky when well conditioned, else Householder QR.

        ``chunks`` gives the ``n`` rows' weighted chunks ``(rows, [sw X_c, sw
        t_c])`` once more, for the Householder route; it is not read when the
        Cholesky factor is accepted.
        """
        upper = np.triu(self.G)
        G = upper + np.triu(upper, 1).T
        chol = _cholesky(G) if n >= self.p else None
        if chol is not None:
            C, D = chol  # D G D = C'C, so G = (C / D)'(C / D)
            return C / D[None, :]
        return _stack_factors([_qr_r(a) for _, a in chunks], self.p)
