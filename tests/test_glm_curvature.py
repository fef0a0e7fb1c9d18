"""Exact second derivatives of the single-penalty GLM criteria (priorreg.glm_curvature)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from glm_data import simulated_glm

import priorreg as pr
from priorreg.glm_search import GLMSearch, newton_search

F = sm.families


@pytest.mark.parametrize("family", [F.Poisson, F.Binomial])
@pytest.mark.parametrize("criterion", ["gcv", "ubre", "aic", "reml"])
def test_curvature_equals_second_differences_of_converged_fits(rng, family, criterion):
    # oracle: Richardson-extrapolated second differences (h = 2e-2, 4e-2 on
    # log(lam)) of the criterion at converged path fits (tol 1e-13), which
    # share no code with the implicit derivatives. Rounding of a converged
    # criterion ~1e-12 |V| becomes 4e-12 / h^2 = 1e-8 |V| at h = 2e-2,
    # ~1.4e-8 |V| after extrapolation; truncation ~h^4 |V^(6)| is below that
    # here. 2e-7 |V| is a 10x margin. The curvature itself is >= 2e-5 |V|
    # (asserted: 100x the tolerance), so a missing term fails.
    fam = family()
    X, y, b0 = simulated_glm(rng, fam)
    model = pr.PriorGLM(y, X, family=fam, prior=b0)

    def value(rho):
        return model.criterion(model._irls(math.exp(rho), None, 200, 1e-13), criterion)

    lam = 7.0
    search = GLMSearch(model, criterion, 200, 1e-13)
    search.evaluate(lam)
    assert search.gradient(lam) is not None
    curv = search.curvature(lam)
    assert curv is not None
    rho, v0 = math.log(lam), value(math.log(lam))

    def second(h):
        return (value(rho + h) - 2 * v0 + value(rho - h)) / h**2

    fd = (4 * second(2e-2) - second(4e-2)) / 3
    assert abs(fd) > 2e-5 * abs(v0)  # the test can tell a wrong curvature
    assert curv == pytest.approx(fd, abs=2e-7 * abs(v0))


def test_curvature_is_not_claimed_where_it_is_not_covered(rng):
    # a non-canonical link (observed information) and LOOCV: the search
    # falls back to its fixed first step, so the curvature must say None
    fam = F.Binomial(F.links.Probit())
    X, y, b0 = simulated_glm(rng, fam)
    model = pr.PriorGLM(y, X, family=fam, prior=b0)
    search = GLMSearch(model, "gcv", 200, 1e-13)
    search.evaluate(7.0)
    assert search.gradient(7.0) is not None
    assert search.curvature(7.0) is None
    fam = F.Poisson()
    X, y, b0 = simulated_glm(rng, fam)
    search = GLMSearch(pr.PriorGLM(y, X, family=fam, prior=b0), "loocv", 200, 1e-13)
    search.evaluate(7.0)
    assert search.gradient(7.0) is not None
    assert search.curvature(7.0) is None


def test_newton_search_with_the_exact_curvature_stops_when_the_fall_is_unresolved():
    # V = 1 + (t - 0.3)^2 / 2 near its minimum, V'' = 1 exactly. From t = 0.3004
    # the Newton step (4e-4) is below XATOL = 1e-3 and the fall it predicts,
    # 8e-8, is above 1e-10: the step is taken. With skip_rtol 1e-6 it is not,
    # and the one point is reported as a located minimum.
    calls = []

    def f(t):
        calls.append(t)
        u = t - 0.3
        return 1.0 + 0.5 * u * u, u, 1.0

    assert newton_search(f, 0.3004, -5.0, 5.0, skip_rtol=1e-10)
    assert len(calls) == 2
    assert abs(calls[-1] - 0.3) <= 1e-12
    calls.clear()
    assert newton_search(f, 0.3004, -5.0, 5.0, skip_rtol=1e-6)
    assert calls == [0.3004]
    # a step of 5e-3 (above XATOL) is skipped only within skip_xatol
    calls.clear()
    newton_search(f, 0.305, -5.0, 5.0, skip_rtol=1e-4)  # lands on V' = 0 exactly
    assert len(calls) == 2
    calls.clear()
    assert newton_search(f, 0.305, -5.0, 5.0, skip_rtol=1e-4, skip_xatol=1e-2)
    assert calls == [0.305]
    # an approximate curvature (flagged False) sizes the first step but never
    # stops the search, however small the fall it predicts
    calls.clear()

    def guided(t):
        calls.append(t)
        u = t - 0.3
        return 1.0 + 0.5 * u * u, u, 2.0, False

    assert newton_search(guided, 0.3004, -5.0, 5.0, skip_rtol=1e-6)
    assert len(calls) >= 2
    assert abs(calls[1] - 0.3002) <= 1e-12  # the guide's step: -V'/2
    # a criterion still falling at the bound is located there too
    calls.clear()
    assert newton_search(lambda t: (math.exp(-t), -math.exp(-t)), 0.0, -5.0, 5.0)
    # no derivative: not located
    assert not newton_search(lambda t: (1.0, 0.0), 0.0, -5.0, 5.0)


@pytest.mark.parametrize("family", [F.Poisson, F.Binomial])
@pytest.mark.parametrize("criterion", ["gcv", "reml"])
def test_selection_with_a_skipped_last_step_is_the_minimum_over_converged_fits(
    rng, family, criterion
):
    # at the default tol 1e-8 the last Newton step is skipped when its
    # predicted fall is below 1e-10 |V|. Oracle: the criterion at converged
    # path fits (tol 1e-12) on a ring of log(lam) +-1e-2, +-2e-2 around the
    # selection; none is lower by more than the skip threshold plus the
    # fits' own error (tol 1e-8 relative on the penalized deviance, ~1e-8 on
    # the criterion): 1e-7 is a 10x margin.
    fam = family()
    X, y, b0 = simulated_glm(rng, fam, n=2000)
    model = pr.PriorGLM(y, X, family=fam, prior=b0)
    res = model.fit(lam=criterion)
    assert res.selection.path["lam"].size <= 4
    best = model.criterion(model._irls(res.lam, None, 100, 1e-12), criterion)
    assert best == pytest.approx(res.selection.value, rel=1e-7)
    ring = res.lam * np.exp([-2e-2, -1e-2, 1e-2, 2e-2])
    values = [model.criterion(model._irls(v, None, 100, 1e-12), criterion) for v in ring]
    assert best <= min(values) * (1 + 1e-7)


def test_unconditional_covariance_uses_the_exact_reml_curvature(rng):
    # oracle: Richardson-extrapolated second differences (h = 2e-2, 4e-2) of
    # the REML score at converged fits (tol 1e-13), as above: 2e-7 |V| holds
    # rounding (~1.4e-8 |V|) with a 10x margin. The refits at h = 0.1 this
    # replaces were off by ~1e-3 relative (truncation): the test tells them apart.
    fam = F.Poisson()
    X, y, b0 = simulated_glm(rng, fam)
    model = pr.PriorGLM(y, X, family=fam, prior=b0)
    res = model.fit(lam="reml", cov_type="unconditional", tol=1e-13)
    rho = math.log(res.lam)

    def value(t):
        return model.fit(lam=math.exp(t), tol=1e-13).reml

    v0 = value(rho)

    def second(h):
        return (value(rho + h) - 2 * v0 + value(rho - h)) / h**2

    fd = (4 * second(2e-2) - second(4e-2)) / 3
    assert res.reml_curvature == pytest.approx(fd, abs=2e-7 * abs(v0))
    assert abs(second(0.1) - fd) > 2e-7 * abs(v0)


@pytest.mark.parametrize("criterion", ["gcv", "reml", "loocv"])
def test_the_search_makes_no_second_fit_at_its_start(rng, criterion):
    # exp(log(lam0)) can differ from lam0 in its last bit: the Newton search
    # must reuse the performance iteration's fit, not refit one ulp away.
    # The start is moved to a lam where the round trip does differ.
    fam = F.Poisson()
    X, y, b0 = simulated_glm(rng, fam, n=2000)
    search = GLMSearch(pr.PriorGLM(y, X, family=fam, prior=b0), criterion, 100, 1e-8)
    lam0 = search._start()
    lam = lam0
    while math.exp(math.log(lam)) == lam:
        lam = float(np.nextafter(lam, math.inf))
    search.trials = {lam: search.trials[lam0]}
    rho = math.log(lam)
    assert search._newton(rho, rho - 16.0, rho + 16.0)
    lams = np.sort(list(search.trials))
    assert lam in search.trials
    assert np.all(np.diff(np.log(lams)) > 1e-9)


def test_second_step_uses_the_first_points_exact_curvature():
    # V = e^t - t (minimum at 0, V' convex): from t0 = -1 with V'' = e^-1 the
    # Newton step overshoots to t1 = e - 2. The next curvature is the slope at
    # t1 of the parabola in V' through V'(t0), V''(t0) and V'(t1), i.e.
    # 2 * secant - V''(t0) (1.59 here; the secant alone, 0.98, steps back to
    # -0.35, the parabola's slope to 0.058; the true V''(t1) is 2.05).
    calls = []

    def f(t):
        calls.append(t)
        if len(calls) == 1:
            return math.exp(t) - t, math.exp(t) - 1.0, math.exp(t)
        return math.exp(t) - t, math.exp(t) - 1.0

    newton_search(f, -1.0, -5.0, 5.0)
    t0, t1 = calls[0], calls[1]
    assert t1 == pytest.approx(math.e - 2.0, abs=1e-12)
    secant = (math.expm1(t1) - math.expm1(t0)) / (t1 - t0)
    expected = t1 - math.expm1(t1) / (2.0 * secant - math.exp(t0))
    assert calls[2] == pytest.approx(expected, abs=1e-12)
    assert abs(calls[2]) < 0.1
    assert abs(min(calls, key=lambda t: math.exp(t) - t)) <= 1e-6
