"""The GLM penalty search (priorreg.glm_search): exact derivatives and Newton steps."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from conftest import richardson_first
from glm_data import simulated_glm

import priorreg as pr
from priorreg.glm_search import GLMSearch, newton_search

F = sm.families



CASES = [
    (F.Poisson, None, ("gcv", "ubre", "aic", "reml")),
    (F.Binomial, None, ("gcv", "ubre", "aic", "reml")),
    (F.Binomial, F.links.Probit, ("gcv", "ubre", "aic", "reml")),  # non-canonical
    (F.Gamma, F.links.Log, ("gcv", "reml")),  # estimated scale
]


@pytest.mark.parametrize(("family", "link", "criteria"), CASES)
def test_derivative_equals_finite_differences_of_converged_fits(rng, family, link, criteria):
    # oracle: Richardson-extrapolated central differences (h = 1e-3, 2e-3 on
    # log(lam)) of the criterion at converged path fits (tol 1e-13).
    # Truncation ~h^4 |V'''''| ~ 1e-12 |V|; rounding of a converged criterion
    # ~1e-12 |V| (IRLS tolerance, sums over 400 terms) divided by h gives
    # ~1e-9 |V|: 1e-8 |V| is a 10x margin. The derivatives themselves are
    # ~1e-4 |V| or more, so a missing term (the weight derivative H_1, the
    # observed information) fails the test.
    fam = family() if link is None else family(link())
    X, y, b0 = simulated_glm(rng, fam)
    model = pr.PriorGLM(y, X, family=fam, prior=b0)

    def value(rho):
        return model.criterion(model._irls(math.exp(rho), None, 200, 1e-13), name)

    for name in criteria:
        search = GLMSearch(model, name, 200, 1e-13)
        assert search.problem is not None
        rho = math.log(7.0)
        search.evaluate(7.0)
        grad = search.gradient(7.0)
        assert grad is not None
        fd = richardson_first(value, rho, 1e-3)
        scale = abs(value(rho))
        assert abs(fd) > 1e-5 * scale  # the test can tell a wrong derivative
        assert grad == pytest.approx(fd, abs=1e-8 * scale), name


def test_newton_search_locates_a_minimum_in_few_steps():
    calls = []

    def value(t):
        u = t - 0.3
        return u**2 + 0.1 * u**3 + 1.0

    def f(t):
        calls.append(t)
        u = t - 0.3
        return value(t), 2 * u + 0.3 * u**2

    newton_search(f, -2.0, -20.0, 20.0)
    best = min(calls, key=value)
    assert abs(best - 0.3) <= 1e-6  # the last step is taken below the tolerance
    assert len(calls) <= 10  # bisection from a bracket of 4 alone takes ~22
    # a criterion decreasing for ever: the search ends on the bound
    calls.clear()

    def decreasing(t):
        calls.append(t)
        return math.exp(-t), -math.exp(-t)

    newton_search(decreasing, 0.0, -5.0, 5.0)
    assert max(calls) == 5.0
    # a wall (no converged fit) to the right of the minimum is a bound
    calls.clear()

    def walled(t):
        calls.append(t)
        if t > 1.0:
            return math.inf, math.nan
        return (t - 0.5) ** 2, 2 * (t - 0.5)

    newton_search(walled, -3.0, -10.0, 10.0)
    assert abs(min(calls, key=lambda t: abs(t - 0.5)) - 0.5) <= 1e-6


@pytest.mark.parametrize("family", [F.Poisson, F.Binomial])
@pytest.mark.parametrize("criterion", ["gcv", "reml"])
def test_selection_is_stationary_after_few_converged_fits(rng, family, criterion):
    fam = family()
    X, y, b0 = simulated_glm(rng, fam)
    model = pr.PriorGLM(y, X, family=fam, prior=b0)
    res = model.fit(lam=criterion)
    # a handful of converged fits (the bracket and Brent search took 8 to 12)
    assert res.selection.path["lam"].size <= 6
    # oracle: the criterion at converged fits on a fine grid around the
    # selection, each a path fit at tol 1e-12; the minimum is located to
    # well below 1e-3 on log(lam), so the selected value is at most
    # curvature * 1e-6 (~1e-9 relative) above the grid's minimum
    grid = res.lam * np.exp(np.linspace(-0.02, 0.02, 21))
    values = [model.criterion(model._irls(v, None, 100, 1e-12), criterion) for v in grid]
    best = model.criterion(model._irls(res.lam, None, 100, 1e-12), criterion)
    assert best <= min(values) * (1 + 1e-9)


def test_edge_of_an_explicit_grid_warns(rng):
    fam = F.Poisson()
    X, y, b0 = simulated_glm(rng, fam)
    model = pr.PriorGLM(y, X, family=fam, prior=b0)
    with pytest.warns(pr.LamOnEdgeWarning):
        res = model.fit(lam="gcv", lams=[1e-4, 2e-4, 4e-4])
    assert res.selection.on_edge
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = model.fit(lam="gcv", lams=[0.5, 5.0, 50.0, 500.0])
    assert not res.selection.on_edge
    assert 0.5 < res.lam < 500.0
