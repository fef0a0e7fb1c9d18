r"""Covariance of the estimates that allows for the uncertainty of a selected ``lam``.

At a ``lam`` chosen from the data, the Bayesian covariance
:math:`V_b = \phi A^{-1}`, :math:`A = X'WX + \lambda L`, is conditional on
:math:`\rho = \log\lambda`. Wood, Pya and Saefken (2016, section 3.1) add
the variability of :math:`\hat\rho`, as R's mgcv does with
``vcov(fit, unconditional = TRUE)`` (``gam.fit3.post.proc`` and
``Vb.corr`` in mgcv 1.9):

.. math::

    V_u = V_b + J V_\rho J' + V_2,\qquad
    J = \frac{\partial \hat b}{\partial\rho} = -\lambda A^{-1} L (\hat b - b_0),

:math:`V_\rho` the inverse of the second derivative of the REML score in
:math:`\rho` at the fitted ``lam`` (whatever criterion chose it: the REML
score is a negative log-likelihood of :math:`\rho`, GCV is not), and the
second-order term

.. math::

    V_2 = \phi\, v_\rho\, \frac{\partial C}{\partial\rho}
          \frac{\partial C}{\partial\rho}',\qquad C C' = A^{-1},\ C
          \text{ upper triangular},\qquad
    \frac{\partial C}{\partial\rho} = -C\,\Phi(C' \lambda L\, C),

:math:`\Phi` taking the upper triangle with half the diagonal (the
derivative of a Cholesky factor), and, as in mgcv,
:math:`v_\rho = 1/(\max(H, 0) + 0.1)` (a weak prior on :math:`\rho` that
keeps the term finite where the score is flat) while the first-order term
uses :math:`1/H` (0 where :math:`H \le 0`). For the linear model :math:`J`
is exact; for a GLM it is the implicit derivative of the converged fit that
the penalty search uses, :func:`priorreg.glm_search.params_derivative`
(with the observed information for a non-canonical link), and :math:`A` is
the working one at convergence. Both added terms are positive
semi-definite, so :math:`V_u \ge V_b`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from priorreg._typing import FloatArray

__all__ = ["RHO_PRIOR_PRECISION", "reml_curvature", "unconditional_cov"]

#: mgcv's precision of the weak prior on log(lam) in the second-order term.
RHO_PRIOR_PRECISION = 0.1


def reml_curvature(score: Callable[[float], float], lam: float, step: float) -> float:
    r"""Second derivative of ``score(lam)`` in :math:`\rho = \log\lambda`, central differences.

    :math:`(s(\rho + h) - 2 s(\rho) + s(\rho - h))/h^2`, truncation error
    :math:`h^2 s''''/12`.
    """
    rho = math.log(lam)
    values = [score(math.exp(rho + t)) for t in (-step, 0.0, step)]
    return (values[0] - 2.0 * values[1] + values[2]) / step**2


def _upper_root(ncov: FloatArray) -> FloatArray:
    """Upper-triangular ``C`` with ``C C' = ncov`` (Cholesky of the reversed matrix)."""
    G = np.linalg.cholesky(ncov[::-1, ::-1])
    return np.ascontiguousarray(G[::-1, ::-1])


def unconditional_cov(
    ncov: FloatArray,
    L: FloatArray,
    lam: float,
    delta: FloatArray,
    scale: float,
    curvature: float,
    J: FloatArray | None = None,
) -> FloatArray:
    r"""``V_b + J V_rho J' + V_2`` (see the module's docstring).

    Parameters
    ----------
    ncov : ndarray of shape (k, k)
        :math:`A^{-1}`.
    L : ndarray of shape (k, k)
        The penalty matrix.
    lam : float
        The selected penalty weight.
    delta : ndarray of shape (k,)
        :math:`\hat b - b_0`.
    scale : float
        :math:`\phi`.
    curvature : float
        Second derivative of the REML score in :math:`\log\lambda`.
    J : ndarray of shape (k,), optional
        :math:`d\hat b/d\rho` of a fit that knows it (a GLM:
        :func:`priorreg.glm_search.params_derivative`); by default the
        linear model's :math:`-\lambda A^{-1} L (\hat b - b_0)`.

    Returns
    -------
    ndarray of shape (k, k)
    """
    if J is None:
        J = -lam * (ncov @ (L @ delta))
    v1 = 1.0 / curvature if curvature > 0 else 0.0
    v2 = 1.0 / (max(curvature, 0.0) + RHO_PRIOR_PRECISION)
    C = _upper_root(0.5 * (ncov + ncov.T))
    M = C.T @ (lam * L) @ C
    Phi = np.triu(M)
    Phi[np.diag_indices_from(Phi)] *= 0.5
    dC = -C @ Phi
    out = scale * ncov + v1 * np.outer(J, J) + scale * v2 * (dC @ dC.T)
    return 0.5 * (out + out.T)
