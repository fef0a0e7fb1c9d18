r"""Exact second derivatives on :math:`\rho = \log\lambda` of a single-penalty GLM criterion.

The single-penalty case of :mod:`priorreg.multi_implicit` (Wood 2011,
appendix D), written on the Gram matrix the search already holds at a
converged fit instead of a dense copy of the design. With a canonical link
(observed and Fisher weights agree), :math:`A = H + \lambda L`,
:math:`H = X'WX`, :math:`d = \hat b - b_0`, :math:`r = Ld`,
:math:`b_1 = d\hat b/d\rho = -\lambda A^{-1} r` and :math:`\eta_1 = Xb_1`:

.. math::

    b_2 = b_1 - A^{-1}\big(X'(w' \odot \eta_1^2) + 2\lambda L b_1\big),
    \qquad \eta_2 = X b_2,

    D'' = 2 b_1' H b_1 - 2\lambda r' b_2, \qquad
    D_p'' = \lambda r'd - 2\lambda^2 r'A^{-1} r,

with :math:`D_p = D + \lambda d'Ld`. With :math:`H_1 = X'(w'\odot\eta_1)X`
(the pass :func:`priorreg.glm_search.sensitivity` makes),
:math:`N = A^{-1}(H_1 + \lambda L)`, :math:`K_1 = A^{-1}H_1`,
:math:`F = A^{-1}H`, :math:`c = w''\odot\eta_1^2 + w'\odot\eta_2` and
:math:`C = X'\mathrm{diag}(c)X` (one more ``syrk`` pass,
:func:`priorreg.gram.signed_gram`):

.. math::

    (\log|A|)'' = \operatorname{tr}(A^{-1}C) + \lambda\operatorname{tr}(A^{-1}L)
        - \operatorname{tr}(NN),

    \mathrm{edf}'' = \operatorname{tr}(A^{-1}\lambda L A^{-1} C)
        - \lambda\operatorname{tr}(A^{-1}LF) - 2\operatorname{tr}(NK_1)
        + 2\operatorname{tr}(NNF),

(:math:`\operatorname{tr}(A^{-1}C) = \sum_i c_i x_i'A^{-1}x_i`, the
:math:`c'h` of :mod:`priorreg.multi_implicit`). ``w''`` is the central
difference of the closed-form ``w'`` (:func:`priorreg.multi_implicit.weight_derivatives`,
relative error about :math:`\epsilon^{2/3}`). The criteria then follow by
the chain rule (:func:`criterion_curvature`); ``log|lam L|_+`` is linear in
:math:`\rho`, so it adds nothing to the REML curvature. A non-canonical link
(observed information) and a profiled scale are not covered here: the
search then starts with a fixed first step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from priorreg._typing import FloatArray
from priorreg.gram import signed_gram
from priorreg.multi_implicit import weight_derivatives

__all__ = ["FitCurvature", "criterion_curvature", "fit_curvature"]


@dataclass(frozen=True)
class FitCurvature:
    """Second derivatives on ``log(lam)`` of deviance, penalized deviance, edf and ``log|A|``."""

    d2_deviance: float
    d2_pen_dev: float
    d2_edf: float
    d2_log_det: float


def fit_curvature(
    model: Any,
    point: Any,
    lam: float,
    inverse: FloatArray,
    gram_derivative: FloatArray,
    d_params: FloatArray,
    d_eta: FloatArray | None = None,
) -> FitCurvature | None:
    r"""The second derivatives of the module notes at a converged fit.

    Parameters
    ----------
    model : PriorGLM
        The model (family, response and weights of its ``problem``).
    point : GramPoint
        The converged estimate with its Gram matrix ``H``.
    lam : float
        Its penalty weight (> 0).
    inverse : ndarray of shape (k, k)
        :math:`A^{-1} = (H + \lambda L)^{-1}`.
    gram_derivative : ndarray of shape (k, k)
        :math:`H_1 = X'(w' \odot X b_1)X`.
    d_params : ndarray of shape (k,)
        :math:`b_1 = d\hat b/d\rho`.
    d_eta : ndarray of shape (n,), optional
        :math:`\eta_1 = X b_1` when the caller has it (one pass fewer).

    Returns
    -------
    FitCurvature or None
        ``None`` for a non-canonical link or weights not finite at ``point``.
    """
    problem = model.problem
    X, L = problem.X, problem.L
    _, dw, d2w, _, _, canonical = weight_derivatives(model, point.eta)
    if not canonical or not (np.all(np.isfinite(dw)) and np.all(np.isfinite(d2w))):
        return None
    H, Ainv, b1 = point.gram, inverse, d_params
    d = point.params - problem.b0
    r = L @ d
    e1 = X @ b1 if d_eta is None else d_eta
    b2 = b1 - Ainv @ (X.T @ (dw * e1 * e1) + 2.0 * lam * (L @ b1))
    e2 = X @ b2
    C = signed_gram(X, d2w * e1 * e1 + dw * e2)
    N = Ainv @ (gram_derivative + lam * L)
    K1 = Ainv @ gram_derivative
    F = Ainv @ H
    AL = Ainv @ L
    NN = N @ N
    d2_log_det = float(np.sum(Ainv * C) + lam * np.trace(AL) - np.trace(NN))
    d2_edf = float(
        lam * np.sum((AL @ Ainv) * C)  # tr(A^-1 lam L A^-1 C), C symmetric
        - lam * np.sum(AL * F.T)
        - 2.0 * np.sum(N * K1.T)
        + 2.0 * np.sum(NN * F.T)
    )
    return FitCurvature(
        d2_deviance=float(2.0 * b1 @ H @ b1 - 2.0 * lam * (r @ b2)),
        d2_pen_dev=float(lam * (r @ d) - 2.0 * lam**2 * (r @ Ainv @ r)),
        d2_edf=d2_edf,
        d2_log_det=d2_log_det,
    )


def criterion_curvature(
    name: str,
    nobs: float,
    deviance: float,
    edf: float,
    d_deviance: float,
    d_edf: float,
    fc: FitCurvature,
    phi: float | None,
) -> float | None:
    r"""The criterion's second derivative on :math:`\rho` by the chain rule.

    With :math:`\tau = n - \mathrm{edf}`:

    .. math::

        \mathrm{GCV}'' = \frac{nD''}{\tau^2} + \frac{4nD'\mathrm{edf}'}{\tau^3}
            + \frac{6nD\,\mathrm{edf}'^2}{\tau^4} + \frac{2nD\,\mathrm{edf}''}{\tau^3},
        \quad
        \mathrm{UBRE}'' = \frac{D''}{n} + \frac{2\phi\,\mathrm{edf}''}{n},
        \quad
        \mathrm{AIC}'' = \frac{D''}{\phi} + 2\,\mathrm{edf}'',
        \quad
        \mathrm{REML}'' = \frac{D_p''}{2\phi} + \tfrac12(\log|A|)''.

    ``phi`` is the known scale (``None``: estimated; then only GCV has a
    curvature here). ``None`` when the criterion is not covered.
    """
    n, D = nobs, deviance
    if name == "gcv":
        tau = n - edf
        return (
            n * fc.d2_deviance / tau**2
            + 4.0 * n * d_deviance * d_edf / tau**3
            + 6.0 * n * D * d_edf**2 / tau**4
            + 2.0 * n * D * fc.d2_edf / tau**3
        )
    if phi is None:
        return None
    if name == "ubre":
        return fc.d2_deviance / n + 2.0 * phi * fc.d2_edf / n
    if name == "aic":
        return fc.d2_deviance / phi + 2.0 * fc.d2_edf
    if name == "reml":
        return fc.d2_pen_dev / (2.0 * phi) + 0.5 * fc.d2_log_det
    return None
