"""The exact LOOCV curvature (priorreg.glm_loocv_curvature) and the shrinkage step.

Oracles: Richardson-extrapolated second differences of the criterion at
converged path fits (which share no code with the implicit derivatives),
the eigenvalues of a dense Gram matrix, closed-form minimisers of synthetic
criteria, and the criterion at converged fits on a ring around a selection.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from conftest import richardson_second
from glm_data import simulated_glm
from scipy.optimize import minimize_scalar

import priorreg as pr
from priorreg import glm_search
from priorreg.glm_loocv_curvature import loocv_curvature
from priorreg.glm_search import GLMSearch
from priorreg.line_search import newton_search
from priorreg.shrinkage_step import shrinkage_fraction, shrinkage_step

F = sm.families


def _exact_curvature(model, lam):
    """LOOCV's exact curvature at a Gram-route fit at ``lam`` (its first derivative formed)."""
    search = GLMSearch(model, "loocv", 200, 1e-13)
    search.evaluate(lam)
    assert search.gradient(lam) is not None
    point = search.trials[lam].point
    return loocv_curvature(model, search.problem, point, lam, search._loocv_at[lam])


@pytest.mark.parametrize("family", [F.Poisson, F.Binomial])
@pytest.mark.parametrize("lam", [7.0, 60.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_loocv_curvature_equals_second_differences_of_converged_fits(
    rng, family, lam, weighted
):
    # oracle: Richardson-extrapolated second differences (h = 2e-2, 4e-2 on
    # log(lam)) of the LOOCV criterion at converged path fits (tol 1e-13,
    # the path factorization's leverages). Rounding of a converged criterion
    # ~1e-12 |V| becomes 4e-12 / h^2 = 1e-8 |V| at h = 2e-2, ~1.4e-8 |V|
    # after extrapolation; truncation ~h^4 |V^(6)| is below that; the central
    # differences in eta inside the curvature add ~eps^(2/3) ~ 4e-11
    # relative. 2e-7 |V| is a 10x margin. The curvature is asserted to be
    # >= 2e-5 |V| (100x the tolerance), so a missing term fails.
    fam = family()
    X, y, b0 = simulated_glm(rng, fam)
    kwargs = {}
    if weighted:  # frequency and variance weights enter the terms differently
        kwargs = {"freq_weights": rng.integers(1, 4, size=y.size).astype(float),
                  "var_weights": rng.uniform(0.5, 2.0, size=y.size)}
    model = pr.PriorGLM(y, X, family=fam, prior=b0, **kwargs)

    def value(rho):
        return model.criterion(model._irls(math.exp(rho), None, 200, 1e-13), "loocv")

    curv = _exact_curvature(model, lam)
    assert curv is not None
    v0 = value(math.log(lam))
    fd = richardson_second(value, math.log(lam), 2e-2)
    assert abs(fd) > 2e-5 * abs(v0)  # the test can tell a wrong curvature
    assert curv == pytest.approx(fd, abs=2e-7 * abs(v0))


def test_loocv_curvature_is_not_claimed_for_a_non_canonical_link(rng):
    # the second derivative of the estimate used here holds for canonical
    # links only (as in priorreg.glm_curvature): the search then takes its
    # fixed first step
    fam = F.Binomial(F.links.Probit())
    X, y, b0 = simulated_glm(rng, fam)
    assert _exact_curvature(pr.PriorGLM(y, X, family=fam, prior=b0), 7.0) is None


def test_shrinkage_fraction_is_the_mean_shrinkage_of_the_penalized_directions(rng):
    # oracle: with L = diag(0, 1, ..., 1) the penalized directions' eigenvalues
    # mu_j are those of the Schur complement of the intercept in H, and
    # u = mean(lam / (lam + mu_j)); edf = tr((H + lam L)^-1 H) by a dense
    # solve. Both are sums of k terms of size <= 1 computed with cond(A)
    # ~1e3 here: eps * cond * k ~ 1e-12; 1e-10 is a 100x margin
    n, k, lam = 300, 6, 40.0
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    W = rng.uniform(0.5, 2.0, n)
    H = X.T @ (W[:, None] * X)
    L = np.diag([0.0] + [1.0] * (k - 1))
    edf = float(np.trace(np.linalg.solve(H + lam * L, H)))
    schur = H[1:, 1:] - np.outer(H[1:, 0], H[0, 1:]) / H[0, 0]
    mu = np.linalg.eigvalsh(schur)
    expected = float(np.mean(lam / (lam + mu)))
    assert shrinkage_fraction(edf, k, k - 1) == pytest.approx(expected, abs=1e-10)
    assert shrinkage_fraction(edf, k, 0) is None  # nothing penalized
    assert shrinkage_fraction(k + 1e-12, k, k - 1) is None  # edf above k by rounding
    assert shrinkage_fraction(math.nan, k, k - 1) is None


def _quadratic_in_u(mu, u_star):
    """``V(rho) = (u - u*)^2`` with ``u = lam / (lam + mu)``: value, V', V'' and u."""

    def f(rho):
        u = 1.0 / (1.0 + mu * math.exp(-rho))
        g = u * (1.0 - u)  # du/drho
        d = u - u_star
        return d * d, 2.0 * d * g, 2.0 * g * g + 2.0 * d * g * (1.0 - 2.0 * u), u

    return f


@pytest.mark.parametrize("offset", [-0.7, 0.4, 1.0, 2.0])
def test_shrinkage_step_is_exact_for_a_criterion_quadratic_in_u(offset):
    # oracle: the closed-form minimiser rho* = log(mu u* / (1 - u*)). Newton
    # on u is exact for a quadratic in u; the logit and log1p carry ~eps
    # relative: 1e-12 on rho is a margin of 100x and more
    mu, u_star = 250.0, 0.2
    f = _quadratic_in_u(mu, u_star)
    rho_star = math.log(mu * u_star / (1.0 - u_star))
    rho = rho_star + offset
    _, g, c, u = f(rho)
    assert c > 0  # convex on rho here: the search takes a step from c
    assert rho + shrinkage_step(g, c, u) == pytest.approx(rho_star, abs=1e-12)
    assert abs(rho - g / c - rho_star) > 0.05  # Newton on rho is not


def test_shrinkage_step_agrees_with_newton_to_second_order():
    # Delta rho = -s - 1.5 (1 - 2u) s^2 + O(s^3) with s = V'/V'' (expanding
    # logit(u + du)); the second-order term is asserted with a 10x margin on
    # the third-order remainder at s = 1e-3
    for u in (1e-6, 0.1, 0.5, 0.9):
        for s in (1e-3, -1e-3):
            step = shrinkage_step(s, 1.0, u)
            assert step is not None
            assert abs(step - (-s - 1.5 * (1 - 2 * u) * s * s)) <= 10 * abs(s) ** 3
    # not defined: u unknown or outside (0, 1), no positive curvature on u,
    # or a step that leaves (0, 1)
    assert shrinkage_step(0.1, 1.0, None) is None
    assert shrinkage_step(0.1, 1.0, 1.0) is None
    assert shrinkage_step(1.0, 0.5, 0.1) is None  # V'' - (1 - 2u) V' = -0.3 <= 0
    assert shrinkage_step(-1.0, 0.1, 0.5) is None  # u + du = 3


def test_newton_search_on_u_locates_in_two_fits_where_newton_on_rho_needs_more():
    # the same quadratic in u: from 0.7 below the minimum the step on u lands
    # on rho* (to ~1e-12, oracle the closed form), and the next step is below
    # XATOL: two evaluations. Newton on rho takes more.
    mu, u_star = 250.0, 0.2
    f = _quadratic_in_u(mu, u_star)
    rho_star = math.log(mu * u_star / (1.0 - u_star))
    calls = []

    def with_curvature(rho):
        calls.append(rho)
        v, g, c, _ = f(rho)
        return (v, g, c) if len(calls) == 1 else (v, g)

    us = {}

    def shrinkage(rho):
        us[rho] = f(rho)[3]
        return us[rho]

    assert newton_search(with_curvature, rho_star - 0.7, -20.0, 20.0, shrinkage=shrinkage)
    assert len(calls) == 2
    assert calls[1] == pytest.approx(rho_star, abs=1e-12)
    plain = len(calls)
    calls.clear()
    assert newton_search(with_curvature, rho_star - 0.7, -20.0, 20.0)
    assert len(calls) > plain
    assert min(abs(t - rho_star) for t in calls) <= 1e-3


@pytest.mark.parametrize("family", [F.Poisson, F.Binomial])
def test_loocv_selection_is_the_minimum_on_a_ring_of_converged_fits(rng, family):
    # the search may now stop at its start (exact curvature, a step below
    # 1e-2 whose predicted fall is below 1e-10 |V|). Oracle: the criterion at
    # converged path fits (tol 1e-12) on a ring of log(lam) +-1e-2, +-2e-2
    # around the selection; none is lower by more than the skip threshold
    # plus the fits' own error (tol 1e-8 relative on the penalized deviance,
    # ~1e-8 on the criterion): 1e-7 is a 10x margin.
    fam = family()
    X, y, b0 = simulated_glm(rng, fam, n=2000)
    model = pr.PriorGLM(y, X, family=fam, prior=b0)
    res = model.fit(lam="loocv")
    assert res.selection.path["lam"].size <= 4
    best = model.criterion(model._irls(res.lam, None, 100, 1e-12), "loocv")
    assert best == pytest.approx(res.selection.value, rel=1e-7)
    ring = res.lam * np.exp([-2e-2, -1e-2, 1e-2, 2e-2])
    values = [model.criterion(model._irls(v, None, 100, 1e-12), "loocv") for v in ring]
    assert best <= min(values) * (1 + 1e-7)


def test_secant_steps_are_not_transformed():
    # the shrinkage step is for a curvature at the best point only: with
    # values and first derivatives alone (secants) the search's points are
    # those without it, to the bit (oracle: the same search without shrinkage)
    mu, u_star = 250.0, 0.2
    f = _quadratic_in_u(mu, u_star)

    def run(shrinkage):
        calls = []

        def first_order(rho):
            calls.append(rho)
            return f(rho)[:2]

        newton_search(first_order, math.log(mu) - 2.0, -20.0, 20.0, shrinkage=shrinkage)
        return calls

    plain = run(None)
    assert len(plain) > 2
    assert run(lambda rho: f(rho)[3]) == plain


@pytest.mark.parametrize("offset", [-0.5, -0.25, 0.25, 0.5])
def test_first_loocv_step_lands_at_the_minimum_of_converged_fits(rng, offset, monkeypatch):
    # a Poisson design where lam is small against the data's information
    # (mean shrinkage ~1e-3), started offset away from the minimum on
    # log(lam). Oracle: scipy's bounded minimiser of the criterion over
    # converged path fits (tol 1e-12, xatol 1e-6). The first step (exact
    # curvature, Newton on the shrinkage) must land within 1e-2, the step
    # below which the search may stop (observed <= 5e-4 here: 20x margin); Newton
    # on log(lam) from the same exact curvature lands 0.06 to 1.1 away.
    n, k = 5000, 10
    X = np.column_stack([np.ones(n), rng.normal(0.5, 1.0, size=(n, k - 1))])
    beta = np.concatenate([[0.5], rng.normal(scale=0.1, size=k - 1)])
    y = rng.poisson(np.exp(X @ beta)).astype(float)
    model = pr.PriorGLM(y, X, family=F.Poisson(), prior=beta + rng.normal(scale=0.05, size=k))

    def value(t):
        return model.criterion(model._irls(math.exp(t), None, 200, 1e-12), "loocv")

    t = math.log(model.fit(lam="loocv").lam)
    t_min = minimize_scalar(value, bounds=(t - 1.5, t + 1.5), method="bounded",
                            options={"xatol": 1e-6}).x

    def first_step(criteria):
        monkeypatch.setattr(glm_search, "_SHRINKAGE_STEP_CRITERIA", criteria)
        search = GLMSearch(model, "loocv", 200, 1e-8)
        lam0 = math.exp(t_min + offset)
        search.evaluate(lam0)
        search._newton(math.log(lam0), math.log(lam0) - 16.0, math.log(lam0) + 16.0)
        return math.log(list(search.trials)[1]) - t_min

    assert abs(first_step(("loocv",))) <= 1e-2
    assert abs(first_step(())) > 2e-2  # the test tells the two steps apart
