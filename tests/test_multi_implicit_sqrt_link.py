"""Several penalties, square-root link: the implicit derivatives where ``eta < 0``.

``mu = eta^2`` also for ``eta < 0``, so the Fisher weights' slope in ``eta``
takes the sign of ``d mu/d eta = 2 eta`` (priorreg.link_slope). Poisson's
weights are constant with this link (``w = 4``), which hides a wrong sign;
the negative binomial's, ``w = 4 / (1 + alpha eta^2)``, are not. The data
have a U-shaped mean ``(b0 + b1 x)^2`` whose linear predictor crosses zero,
so about a third of the rows have ``eta`` well below 0 and few are near 0
(the fit is well conditioned). Oracle: Richardson differences of the edf,
``log|X'WX + S|``, deviance and penalized deviance of converged refits; these
values depend on the weights alone, not on their slope.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from conftest import richardson_first
from glm_data import sqrt_negbin

import priorreg as pr
from priorreg.multi_implicit import fit_derivatives
from priorreg.multi_outer import _evaluate, _irls_at

F = sm.families
NB_SQRT = F.NegativeBinomial(alpha=1.0, link=F.links.Sqrt())
RHO = np.array([0.5, 1.0])
NAMES = ("edf", "log_det", "deviance", "pen_dev")


def _model():
    """:func:`glm_data.sqrt_negbin` with two penalties and two priors near the truth."""
    X, y, beta = sqrt_negbin()
    rng = np.random.default_rng(3)
    P1 = np.diag([0.0, 1, 0, 0, 0])
    P2 = np.diag([0.0, 0, 1, 1, 1])
    priors = [beta + 0.1 * rng.normal(size=5), beta + 0.1 * rng.normal(size=5)]
    model = pr.PriorGLM(y, X, family=NB_SQRT, penalty=[P1, P2], prior=priors)
    return model, beta


@pytest.fixture(scope="module")
def setup():
    model, beta = _model()
    comps = model.penalty_components
    # tol = 0: IRLS runs all its steps, to rounding level (Fisher scoring is only
    # linear for this link); started at the truth, the U-shaped optimum
    start, _ = _irls_at(model, comps, np.exp(RHO), beta, 200, 0.0)
    eta = model.exog @ start
    assert np.sum(eta < -0.1) >= 50  # the rows where the sign matters, well away from 0
    assert np.min(np.abs(eta)) > 1e-2  # and none within the differences' steps of 0

    def at(r):
        b, _ = _irls_at(model, comps, np.exp(r), start, 200, 0.0)
        return fit_derivatives(model, comps, np.exp(r), b)

    return model, comps, start, at


def test_first_derivatives_equal_differences_of_refits(setup):
    _, _, _, at = setup
    point = at(RHO)
    for j in range(2):
        e = np.eye(2)[j]
        for name in NAMES:

            def along(t, e=e, name=name):
                return getattr(at(RHO + t * e), name)

            fd = richardson_first(along, 0.0, 1e-3)
            value = abs(getattr(point, name))
            # Richardson (h = 1e-3, 2e-3): truncation ~h^4 |V^(5)| ~ 1e-12 |V|; rounding of
            # refits converged to rounding, ~1e-14 |V| (eps cond(A) k) / h ~ 1e-11 |V|:
            # 1e-9 |V|, a 100x margin. Without the slope's sign d_log_det was off by
            # 3e-4 |V| and d_edf by 1e-5 |V| on these data
            assert getattr(point, "d_" + name)[j] == pytest.approx(fd, abs=1e-9 * value), name


def _second_difference(at, name, j, k, h):
    """Richardson-extrapolated (steps h, 2h) mixed second difference of a refit value."""
    ej, ek = np.eye(2)[j], np.eye(2)[k]

    def d(step):
        v = [
            getattr(at(RHO + sj * step * ej + sk * step * ek), name)
            for sj, sk in ((1, 1), (1, -1), (-1, 1), (-1, -1))
        ]
        return (v[0] - v[1] - v[2] + v[3]) / (4.0 * step * step)

    return (4.0 * d(h) - d(2.0 * h)) / 3.0


def test_second_derivatives_equal_differences_of_refits(setup):
    _, _, _, at = setup
    point = at(RHO)
    h = 5e-3
    for name in NAMES:
        value = abs(getattr(point, name))
        hess = np.array(
            [[_second_difference(at, name, j, k, h) for k in range(2)] for j in range(2)]
        )
        # Richardson of the four-point difference: truncation ~h^4 |V^(6)| ~ 1e-9 |V|;
        # rounding ~4 * 1e-14 |V| / h^2 ~ 2e-9 |V|; w'' in fit_derivatives by central
        # differences, relative 4e-11: 1e-7 |V|, a 30x margin. Without the slope's sign
        # h_log_det was off by 3e-4 |V| and h_edf by 2e-5 |V| on these data
        np.testing.assert_allclose(getattr(point, "h_" + name), hess, rtol=0, atol=1e-7 * value)


@pytest.mark.parametrize(("criterion", "scale"), [("gcv", None), ("reml", 1.0)])
def test_criterion_gradient_equals_differences_of_refits(setup, criterion, scale):
    model, comps, start, _ = setup

    def at(r):
        return _evaluate(model, comps, r, criterion, scale, start, 200, 0.0)

    point = at(RHO)
    for j in range(2):
        e = np.eye(2)[j]
        fd = richardson_first(lambda t, e=e: at(RHO + t * e).value, 0.0, 1e-3)
        # as the first derivatives above: 1e-9 |V|, a 100x margin. Without the slope's
        # sign the GCV gradient was off by 6e-7 |V|, REML's by 9e-6 |V| on these data
        assert point.grad[j] == pytest.approx(fd, abs=1e-9 * abs(point.value))
