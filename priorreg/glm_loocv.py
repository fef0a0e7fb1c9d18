r"""The approximate leave-one-out deviance of a GLM fit and its derivative on :math:`\log\lambda`.

At a converged fit with linear predictor :math:`\eta`, means :math:`\mu`,
working residuals :math:`e_i = s_i\, g'(\mu_i)(y_i - \mu_i)` and leverages
:math:`h_i = W_i x_i'A^{-1}x_i` (:math:`A = X'WX + \lambda L`), one Newton
step from the full fit towards the fit without row ``i`` gives

.. math::

    \eta_{-i} = \eta_i - e_i \frac{h_i}{1 - h_i}, \qquad
    \mathrm{LOOCV} = \frac{1}{n}\sum_i f_i\, d_i\big(y_i, g^{-1}(\eta_{-i})\big),

:math:`d_i` the unit deviance times the variance weight, :math:`f_i` the
frequency weight (:meth:`priorreg.PriorGLM.criterion`). Along the path of
converged fits (:math:`\rho = \log\lambda`, :math:`\dot{} = d/d\rho`,
:math:`\dot b` from :func:`priorreg.glm_search.params_derivative`):

.. math::

    \dot\eta = X\dot b,\quad \dot\mu = s\,\dot\eta / g'(\mu),\quad
    \dot e = s\big(g''(\mu)(y - \mu) - g'(\mu)\big)\dot\mu
           = \big(g''(\mu)(y - \mu) - g'(\mu)\big)\dot\eta / g'(\mu),

    \dot h_i = \dot W_i\, x_i'A^{-1}x_i - W_i\, x_i'A^{-1}(H_1 + \lambda L)A^{-1}x_i,
    \qquad \dot W = \partial_\eta W \odot \dot\eta,\quad H_1 = X'\mathrm{diag}(\dot W)X,

    \dot\eta_{-i} = \dot\eta_i - \dot e_i \frac{h_i}{1-h_i} - e_i\frac{\dot h_i}{(1-h_i)^2},
    \qquad
    \frac{\partial d_i}{\partial \mu} = -2\,v_i\frac{y_i - \mu}{V(\mu)},

so :math:`\mathrm{LOOCV}' = \frac1n\sum_i f_i\,\partial_\mu d_i(\mu_{-i})\,
s_{-i}\dot\eta_{-i}/g'(\mu_{-i})`, :math:`s` the sign of :math:`d\mu/d\eta` against
:math:`1/g'(\mu)` (:mod:`priorreg.link_slope`; 1 unless the inverse link is
not one-to-one, as the square-root link's for :math:`\eta < 0`). Two passes over
the rows give it all:
:math:`\dot\eta` and :math:`H_1` together (:func:`priorreg.gram_leverage.gram_along`,
``syrk`` on row blocks), then both quadratic forms with the Cholesky factor of
``A`` (:func:`priorreg.gram_leverage.quadratic_forms`, one ``gemm`` with ``k``
columns per block). :func:`loocv_at_fit` keeps :math:`\dot b`,
:math:`\dot\eta`, :math:`H_1` and the quadratic forms (:class:`LoocvAtFit`)
for the second derivative (:mod:`priorreg.glm_loocv_curvature`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from priorreg._typing import FloatArray
from priorreg.glm_loocv_rows import working_residual
from priorreg.gram_irls import GramPoint, _cholesky
from priorreg.gram_leverage import gram_along, quadratic_forms
from priorreg.irls import ArrayData, IRLSProblem
from priorreg.link_slope import slope_sign

__all__ = ["LoocvAtFit", "loocv_and_derivative", "loocv_at_fit"]


@dataclass(frozen=True)
class LoocvAtFit:
    r"""The criterion at a converged fit, its derivative and the pieces it was made of.

    ``value`` is NaN when ``A`` is ill conditioned for the Gram route;
    ``grad`` is None where the derivative cannot be formed, and ``pieces``
    (:math:`\dot b`, :math:`\dot\eta = X\dot b`, :math:`H_1`) and
    ``forms`` (:math:`x_i'A^{-1}x_i` and :math:`x_i'A^{-1}(H_1 + \lambda
    L)A^{-1}x_i`) where they were not.
    """

    value: float
    grad: float | None
    pieces: tuple[FloatArray, FloatArray, FloatArray] | None = None
    forms: tuple[FloatArray, FloatArray] | None = None


def loocv_and_derivative(
    model: Any,
    problem: IRLSProblem,
    point: GramPoint,
    lam: float,
    d_params: Any,
) -> tuple[float, float | None]:
    """The criterion (module Notes) and its derivative on ``log(lam)`` at a converged fit.

    ``model`` is the :class:`priorreg.PriorGLM` (response, weights,
    criterion); ``d_params`` a callable ``(problem, point, lam, chol) ->
    db/drho or None``. The value is NaN when ``A`` is ill conditioned for the
    Gram route; the derivative None where it cannot be formed.
    """
    at = loocv_at_fit(model, problem, point, lam, d_params)
    return at.value, at.grad


def loocv_at_fit(
    model: Any,
    problem: IRLSProblem,
    point: GramPoint,
    lam: float,
    d_params: Any,
) -> LoocvAtFit:
    """:func:`loocv_and_derivative` with the derivative's pieces (:class:`LoocvAtFit`)."""
    L, X, fam = problem.L, problem.X, problem.family
    chol = _cholesky(point.gram + lam * L)
    if chol is None:
        return LoocvAtFit(math.nan, None)
    mu, eta = point.mu, point.eta
    sign = slope_sign(fam.link, eta, mu)  # d mu/d eta = sign / g'(mu)
    with np.errstate(all="ignore"):
        g1 = fam.link.deriv(mu)
        rel_v = fam.variance.deriv(mu) / fam.variance(mu)
        W = problem.prior_weights * fam.weights(mu)
        dW_deta = -W * (rel_v + 2.0 * fam.link.deriv2(mu) / g1) * sign / g1
    b1 = d_params(problem, point, lam, chol) if np.all(np.isfinite(dW_deta)) else None
    if b1 is None:
        q, _ = quadratic_forms(X, *chol)
        return LoocvAtFit(ArrayData(problem).loo_deviance_at(mu, eta, W * q), None)
    deta, H1 = gram_along(X, b1, dW_deta)
    dW = dW_deta * deta
    q, r = quadratic_forms(X, *chol, H1 + lam * L)
    assert r is not None
    h = W * q
    value = ArrayData(problem).loo_deviance_at(mu, eta, h)
    y = model.endog_response
    with np.errstate(all="ignore"):
        dh = dW * q - W * r
        e = working_residual(fam.link, y, eta, mu)  # s g'(mu)(y - mu)
        de = (fam.link.deriv2(mu) * (y - mu) - g1) * (deta / g1)  # s^2 = 1
        ratio = h / (1.0 - h)
        eta_loo = eta - e * ratio
        deta_loo = deta - de * ratio - e * dh / (1.0 - h) ** 2
        mu_loo = fam.link.inverse(eta_loo)
        dd = -2.0 * model.var_weights_total * (y - mu_loo) / fam.variance(mu_loo)
        slope_loo = slope_sign(fam.link, eta_loo, mu_loo) / fam.link.deriv(mu_loo)
        terms = model.freq_weights_total * dd * deta_loo * slope_loo
    grad = float(np.sum(terms)) / model.wnobs
    grad_or_none = grad if math.isfinite(grad) else None
    return LoocvAtFit(value, grad_or_none, (b1, deta, H1), (q, r))
