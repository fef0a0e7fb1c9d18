"""A link whose inverse is not one-to-one: Poisson with the square-root link.

``mu = eta^2`` also for ``eta < 0``, where ``g(mu) = |eta|`` and
``1/g'(mu)`` has the wrong sign for ``d mu/d eta`` (priorreg.link_slope).
Oracles: the stationarity of the penalized deviance of ``mu = eta^2``
(independent of IRLS), Richardson central differences of criteria at
converged path fits, and scipy's bounded minimiser over converged fits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from conftest import richardson_first, search_gradient
from glm_data import sqrt_poisson
from scipy.optimize import minimize_scalar

import priorreg as pr
from priorreg.link_slope import slope_sign

F = sm.families


def _sqrt_poisson(seed=4, n=400, k=6):
    """Data whose fits have rows with ``eta < 0`` (``y = 0`` there)."""
    X, y, prior = sqrt_poisson(seed, n, k)
    return pr.PriorGLM(y, X, family=F.Poisson(link=F.links.Sqrt()), prior=prior)


def test_slope_sign_is_that_of_the_inverse_links_derivative():
    # oracle: d(eta^2)/d eta = 2 eta against g'(mu) = 1 / (2 sqrt(mu)) > 0
    eta = np.array([-0.5, -1e-3, 0.2, 3.0])
    sqrt = F.links.Sqrt()
    assert slope_sign(sqrt, eta, eta**2).tolist() == [-1.0, -1.0, 1.0, 1.0]
    log = F.links.Log()
    assert np.all(slope_sign(log, eta, np.exp(eta)) == 1.0)


def test_fit_is_stationary_for_the_penalized_deviance_of_the_inverse_link():
    # oracle: the gradient of D(b) + lam (b - b0)'L(b - b0) with
    # mu = (Xb)^2, written out by hand (d mu/d eta = 2 eta):
    # -2 X'((y - mu) / mu * 2 eta) + 2 lam L (b - b0). IRLS stops on the
    # deviance's change (tol 1e-12 relative, D ~ 4e2), which bounds the
    # gradient by ~sqrt(tol * D * c), c ~ 4n = 1.6e3 the largest curvature:
    # ~8e-4; 1e-2 is a 10x margin. The IRLS of 1/g'(mu) stops where this
    # gradient is ~1 to 6 (its terms' size); the fit must have rows with
    # eta < 0 for the test to tell
    model = _sqrt_poisson()
    lam = 27.0
    fit = model._irls(lam, None, 200, 1e-12)
    assert fit.converged
    b = np.asarray(fit.params)
    eta = model.exog @ b
    assert np.sum(eta < 0) >= 2  # the rows where 1/g'(mu) has the wrong sign
    mu = eta**2
    y = model.endog_response
    p = model.problem
    grad = -2 * model.exog.T @ ((y - mu) / mu * 2 * eta) + 2 * lam * p.L @ (b - p.b0)
    assert np.max(np.abs(grad)) < 1e-2


@pytest.mark.parametrize("criterion", ["loocv", "gcv", "reml"])
def test_derivative_equals_finite_differences_with_negative_eta(criterion):
    # oracle: Richardson central differences (h = 1e-3, 2e-3 on log(lam)) of
    # the criterion at converged path fits (tol 1e-13): truncation ~h^4 and
    # rounding ~1e-12 |V| / h ~ 1e-9 |V|; 1e-7 |V| is a 100x margin. The
    # derivatives are >= 1e-5 |V|, and the derivative without the slope's
    # sign was off by ~6e-5 |V| (LOOCV) on these data
    model = _sqrt_poisson()

    def value(rho):
        return model.criterion(model._irls(math.exp(rho), None, 200, 1e-13), criterion)

    rho = 3.3
    lam = math.exp(rho)
    grad = search_gradient(model, criterion, lam)
    fd = richardson_first(value, rho, 1e-3)
    scale = abs(value(rho))
    assert abs(fd) > 1e-5 * scale
    assert grad == pytest.approx(fd, abs=1e-7 * scale)


def test_loocv_selection_is_the_minimum_over_converged_fits():
    # oracle: scipy's bounded minimiser of the criterion at converged path
    # fits (tol 1e-12) on log(lam) in [2, 5] (a grid's minimum with its
    # neighbours; the criterion is smooth there), xatol 1e-6. The selection
    # is located to ~1e-3 on log(lam) or better: its value exceeds the
    # minimum by <= V'' * (1e-3)^2 / 2 ~ 1e-9 |V| (V'' ~ 2e-3 here); 1e-8
    # |V| is a 10x margin. Before the fix: 61 fits and 3e-7 |V| above it.
    model = _sqrt_poisson()
    res = model.fit(lam="loocv")

    def value(rho):
        return model.criterion(model._irls(math.exp(rho), None, 200, 1e-12), "loocv")

    opt = minimize_scalar(value, bounds=(2.0, 5.0), method="bounded", options={"xatol": 1e-6})
    chosen = value(math.log(res.lam))
    assert chosen <= opt.fun + 1e-8 * abs(opt.fun)
    ring = [value(math.log(res.lam) + d) for d in (-1e-2, 1e-2)]
    assert chosen <= min(ring)
    assert res.selection.path["lam"].size <= 10
