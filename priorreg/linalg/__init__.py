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

The package has one module per step: :mod:`~priorreg.linalg.reduce`
(steps 1 and 2), :meth:`priorreg.penalty.Penalty.whiten` (step 3),
:mod:`~priorreg.linalg.factorization` (the entry points and step 4, with the
small dense kernels of :mod:`~priorreg.linalg.dense`),
:mod:`~priorreg.linalg.path` (:class:`PathFactor`: everything at any
``lam``), :mod:`~priorreg.linalg.leverage` (the row basis) and
:mod:`~priorreg.linalg.wide` (more penalized directions than rows).

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

from priorreg._typing import FloatArray
from priorreg.linalg.factorization import factorize, factorize_triangular
from priorreg.linalg.path import PathFactor, SingularSystemError
from priorreg.penalty import Penalty

__all__ = ["PathFactor", "SingularSystemError", "factorize", "factorize_triangular"]


def _rank(L: FloatArray) -> int:
    """Numerical rank of a penalty (:attr:`priorreg.penalty.Penalty.rank`)."""
    return Penalty.of(L).rank


def _log_pdet(L: FloatArray) -> float:
    """Log pseudo-determinant of a penalty (:meth:`priorreg.penalty.Penalty.log_pdet`)."""
    return Penalty.of(L).log_pdet()
