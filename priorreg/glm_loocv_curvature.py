r"""The exact second derivative of the GLM LOOCV criterion on :math:`\rho = \log\lambda`.

Continues :mod:`priorreg.glm_loocv` one order further, at a converged fit
with a canonical link (the case :mod:`priorreg.glm_curvature` covers). With
:math:`\eta_1 = X\dot b`, :math:`\eta_2 = X\ddot b`, :math:`\ddot b = \dot b -
A^{-1}(X'(w'\odot\eta_1^2) + 2\lambda L\dot b)` (as there), :math:`w'`,
:math:`w''` the derivatives of the working weights in :math:`\eta`,
:math:`M_1 = H_1 + \lambda L` and :math:`M_2 = X'\mathrm{diag}(w''\eta_1^2 +
w'\eta_2)X + \lambda L` the first and second derivatives of :math:`A = X'WX +
\lambda L`:

.. math::

    q_i = x_i'A^{-1}x_i, \quad \dot q_i = -x_i'A^{-1}M_1A^{-1}x_i, \quad
    \ddot q_i = x_i'A^{-1}(2M_1A^{-1}M_1 - M_2)A^{-1}x_i,

    h = Wq, \quad \dot h = \dot W q + W\dot q, \quad
    \ddot h = \ddot W q + 2\dot W\dot q + W\ddot q, \qquad
    \dot W = w'\eta_1,\; \ddot W = w''\eta_1^2 + w'\eta_2 .

With :math:`R = h/(1 - h)` (:math:`\dot R = \dot h/(1-h)^2`, :math:`\ddot R =
\ddot h/(1-h)^2 + 2\dot h^2/(1-h)^3`), the working residual :math:`e(\eta) =
g'(\mu)(y - \mu)` (:func:`priorreg.glm_loocv_rows.working_residual`, whose slope
sign is 1 for the canonical links here) and its derivatives :math:`e_\eta, e_{\eta\eta}` in
:math:`\eta`, the leave-one-out predictor :math:`\eta_{-i} = \eta - eR` has

.. math::

    \dot\eta_{-i} = \eta_1 - e_\eta\eta_1 R - e\dot R, \qquad
    \ddot\eta_{-i} = \eta_2 - (e_{\eta\eta}\eta_1^2 + e_\eta\eta_2)R
        - 2e_\eta\eta_1\dot R - e\ddot R,

and, :math:`d_i(t)` the unit deviance (times its variance weight :math:`v_i`)
at :math:`\mu = g^{-1}(t)`,

.. math::

    \mathrm{LOOCV}'' = \frac1n\sum_i f_i\big(d_i''(\eta_{-i})\dot\eta_{-i}^2
        + d_i'(\eta_{-i})\ddot\eta_{-i}\big),
    \quad d_i' = \frac{-2v_i(y_i - \mu)}{V(\mu)g'(\mu)},
    \quad d_i'' = \frac{2v_i\big(1 + (y_i - \mu)(V'/V + g''/g')\big)}{V(\mu)g'(\mu)^2}.

:math:`w''` and :math:`e_{\eta\eta}` are central differences (step
:math:`\epsilon^{1/3}`) of the closed-form :math:`w'` and :math:`e_\eta`,
relative error about :math:`\epsilon^{2/3}`
(:func:`priorreg.multi_implicit.weight_derivatives`). The value, the first
derivative and its pieces come from :func:`priorreg.glm_loocv.loocv_at_fit`;
this adds a ``gemv`` for :math:`X'(w'\eta_1^2)`, one pass for :math:`\eta_2`
with :math:`M_2` (:func:`priorreg.gram_leverage.gram_along`) and one for
:math:`\ddot q` (:func:`priorreg.gram_leverage.quadratic_forms`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from priorreg._typing import FloatArray
from priorreg.glm_loocv import LoocvAtFit
from priorreg.glm_loocv_rows import working_residual
from priorreg.gram_irls import GramPoint, _cholesky, _solve
from priorreg.gram_leverage import gram_along, quadratic_forms
from priorreg.irls import IRLSProblem
from priorreg.multi_implicit import _STEP, weight_derivatives

__all__ = ["loocv_curvature"]


def _residual_slope(fam: Any, y: FloatArray, eta: FloatArray) -> FloatArray:
    r""":math:`e_\eta = (g''(\mu)(y - \mu) - g'(\mu)) / g'(\mu)` at :math:`\mu = g^{-1}(\eta)`."""
    mu = fam.link.inverse(eta)
    g1 = fam.link.deriv(mu)
    return (fam.link.deriv2(mu) * (y - mu) - g1) / g1


def loocv_curvature(
    model: Any, problem: IRLSProblem, point: GramPoint, lam: float, at: LoocvAtFit
) -> float | None:
    """The exact second derivative on ``log(lam)`` of LOOCV at a converged fit (module Notes).

    ``at`` is :func:`priorreg.glm_loocv.loocv_at_fit` at the same fit.
    ``None`` for a non-canonical link, where the first derivative or the
    factor of ``A`` was not formed, or where the weights' derivatives are
    not finite.
    """
    if at.pieces is None or at.forms is None:
        return None
    b1, eta1, H1 = at.pieces
    q, r1 = at.forms
    X, L, fam, y = problem.X, problem.L, problem.family, model.endog_response
    W, dw, d2w, _, _, canonical = weight_derivatives(model, point.eta)
    if not canonical or not (np.all(np.isfinite(dw)) and np.all(np.isfinite(d2w))):
        return None
    chol = _cholesky(point.gram + lam * L)
    if chol is None:
        return None
    b2 = b1 - _solve(*chol, X.T @ (dw * eta1 * eta1) + 2.0 * lam * (L @ b1))
    eta2, C = gram_along(X, b2, dw, d2w * eta1 * eta1)
    M1 = H1 + lam * L
    P = 2.0 * M1 @ _solve(*chol, M1) - (C + lam * L)
    _, r2 = quadratic_forms(X, *chol, 0.5 * (P + P.T))
    assert r2 is not None
    mu, eta = point.mu, point.eta
    with np.errstate(all="ignore"):
        dW = dw * eta1
        d2W = d2w * eta1 * eta1 + dw * eta2
        h = W * q
        dh = dW * q - W * r1
        d2h = d2W * q - 2.0 * dW * r1 + W * r2
        gap = 1.0 - h
        R, dR = h / gap, dh / gap**2
        d2R = d2h / gap**2 + 2.0 * dh * dh / gap**3
        e = working_residual(fam.link, y, eta, mu)
        e_eta = _residual_slope(fam, y, eta)
        step = _STEP * np.maximum(1.0, np.abs(eta))
        up, down = _residual_slope(fam, y, eta + step), _residual_slope(fam, y, eta - step)
        e_eta2 = (up - down) / (2.0 * step)
        eta_loo = eta - e * R
        d_loo = eta1 - e_eta * eta1 * R - e * dR
        d2_loo = (eta2 - (e_eta2 * eta1 * eta1 + e_eta * eta2) * R
                  - 2.0 * e_eta * eta1 * dR - e * d2R)
        mu_loo = fam.link.inverse(eta_loo)
        g1, var = fam.link.deriv(mu_loo), fam.variance(mu_loo)
        rel = fam.variance.deriv(mu_loo) / var + fam.link.deriv2(mu_loo) / g1
        v, resid = model.var_weights_total, y - mu_loo
        dd = -2.0 * v * resid / (var * g1)
        d2d = 2.0 * v * (1.0 + resid * rel) / (var * g1 * g1)
        terms = model.freq_weights_total * (d2d * d_loo * d_loo + dd * d2_loo)
    curv = float(np.sum(terms)) / model.wnobs
    return curv if np.isfinite(curv) else None
