"""One penalty, square-root link with weights that vary: criteria derivatives where ``eta < 0``.

tests/test_glm_sqrt_link.py checks the derivatives on Poisson data, whose
Fisher weights are constant with this link (``w = 4``): there the weights'
slope in ``eta``, which takes the sign of ``d mu/d eta = 2 eta``
(priorreg.link_slope), is zero. The negative binomial's weights
``4 / (1 + eta^2)`` are not, and the U-shaped data of
:func:`glm_data.sqrt_negbin` have about a third of their rows with ``eta``
well below 0. Oracle: Richardson central differences of the criterion at
converged path fits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from conftest import richardson_first, search_gradient
from glm_data import sqrt_negbin

import priorreg as pr

F = sm.families
NB_SQRT = F.NegativeBinomial(alpha=1.0, link=F.links.Sqrt())


@pytest.mark.parametrize("criterion", ["loocv", "gcv", "reml"])
@pytest.mark.parametrize("rho", [0.0, 2.0])
def test_derivative_equals_finite_differences_with_varying_weights(criterion, rho):
    X, y, beta = sqrt_negbin()
    prior = beta + 0.1 * np.random.default_rng(1).normal(size=beta.size)
    model = pr.PriorGLM(y, X, family=NB_SQRT, prior=prior)

    def value(r):  # tol = 0: all 100 IRLS steps, to rounding level (Fisher scoring is linear)
        return model.criterion(model._irls(math.exp(r), None, 100, 0.0), criterion)

    lam = math.exp(rho)
    fit = model._irls(lam, None, 200, 1e-13)
    eta = X @ np.asarray(fit.params)
    assert np.sum(eta < -0.1) >= 50  # the fit found the U: the sign matters on these rows
    grad = search_gradient(model, criterion, lam)
    # Richardson (h = 1e-3, 2e-3 on log(lam)) of fits at rounding level: truncation
    # ~h^4 |V^(5)| ~ 1e-12 |V|, rounding ~1e-14 |V| / h ~ 1e-11 |V|. The search's fit
    # stops at tol 1e-13 with b off by <= ~1e-7 (relative), which moves the derivative
    # by ~1e-7 |V'| ~ 1e-10 |V| (|V'| <= 5e-3 |V| here). 1e-8 |V| is a 10x margin on
    # the sum. Without the sign in the weights' slope the derivatives were off by
    # 3e-8 to 2e-5 |V| on these data (LOOCV 3e-6 and 2e-5, GCV 3e-8 and 2e-6, REML
    # 1e-6 and 1e-5 at rho = 0 and 2)
    scale = abs(value(rho))
    fd = richardson_first(value, rho, 1e-3)
    assert abs(fd) > 1e-4 * scale
    assert grad == pytest.approx(fd, abs=1e-8 * scale)
