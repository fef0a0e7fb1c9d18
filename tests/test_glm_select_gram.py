"""The GLM penalty search on the Gram route: leverages, signed Gram matrices, dbeta/drho.

Oracles: dense products and solves (numpy), scipy's bounded minimiser of
the criterion over converged path fits, finite differences of converged fits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from glm_data import simulated_glm
from scipy.optimize import minimize_scalar

import priorreg as pr
from priorreg import gram_leverage
from priorreg.glm_search import GLMSearch, newton_search, params_derivative
from priorreg.gram import signed_gram
from priorreg.gram_irls import _cholesky, gram_point
from priorreg.gram_leverage import quadratic_forms
from priorreg.unconditional import unconditional_cov

F = sm.families
EPS = float(np.finfo(float).eps)



def test_quadratic_forms_equal_dense_solves(rng, monkeypatch):
    # rows over several blocks of 4096, columns of very different scales
    monkeypatch.setattr(gram_leverage, "_BLOCK_ELEMENTS", 1)
    n, k = 9000, 7
    X = rng.normal(size=(n, k)) * np.array([1.0, 10.0, 0.1, 1.0, 3.0, 1.0, 1e3])
    W = rng.uniform(0.5, 2.0, n)
    A = X.T @ (W[:, None] * X) + 3.0 * np.eye(k)
    M = rng.normal(size=(k, k))
    M = M + M.T
    q, r = quadratic_forms(X, *_cholesky(A), M)
    # oracle: LU solves with S = D A D, u = D x (D = diag(A)^-1/2; the unscaled
    # A has cond ~1e8, which an oracle would carry); q = u' S^-1 u, relative
    # forward error of either route <= 2k eps cond(S); 10x margin
    Ds = 1.0 / np.sqrt(np.diagonal(A))
    S = Ds[:, None] * A * Ds[None, :]
    U = X * Ds
    expected = np.einsum("ij,ji->i", U, np.linalg.solve(S, U.T))
    np.testing.assert_allclose(q, expected, rtol=10 * 2 * k * EPS * np.linalg.cond(S))
    # x' A^-1 M A^-1 x = v' (D M D) v, v = S^-1 u: error ~ 2k eps cond(S) |v|^2 |DMD|
    V = np.linalg.solve(S, U.T).T
    Ms = Ds[:, None] * M * Ds[None, :]
    bound = 10 * 4 * k * EPS * np.linalg.cond(S) * np.sum(V**2, axis=1) * np.linalg.norm(Ms, 2)
    assert np.all(np.abs(r - np.einsum("ij,ij->i", V @ Ms, V)) <= bound)
    assert quadratic_forms(X, *_cholesky(A))[1] is None


def test_signed_gram_equals_dense_product(rng):
    n, k = 10001, 13  # a last block of one row; zero weights in both parts
    X = rng.normal(size=(n, k))
    v = rng.normal(size=n)
    v[::7] = 0.0
    G = signed_gram(X, v)
    expected = X.T @ (v[:, None] * X)
    # summation error: each entry sums n terms of size |v| x^2, eps * n * max term
    bound = 10 * EPS * n * float(np.max(np.abs(v)[:, None] * X**2))
    np.testing.assert_allclose(G, expected, rtol=0, atol=bound)
    assert np.array_equal(G, G.T)
    assert np.array_equal(signed_gram(X, np.zeros(n)), np.zeros((k, k)))


def test_loocv_on_the_gram_route_equals_the_path_leverages(rng):
    fam = F.Binomial()
    X, y, b0 = simulated_glm(rng, fam)
    model = pr.PriorGLM(y, X, family=fam, prior=b0)
    search = GLMSearch(model, "loocv", 200, 1e-13)
    assert search.problem is not None  # evaluated by Gram-route fits
    fit = model._irls(5.0, None, 200, 1e-13)
    search.evaluate(2.0)  # a start point for the warm-started Gram fit at 5.0
    value = search.evaluate(5.0)
    assert search.trials[5.0].fit is None  # made by gram_irls
    # the same converged fit (to 1e-13 in the penalized deviance, so the
    # estimates differ by ~sqrt(1e-13) relative, the criterion by ~1e-10)
    # against the path factorization's leverages: 1e-8 is a 100x margin
    assert value == pytest.approx(model.criterion(fit, "loocv"), rel=1e-8)


def _brute_force(model, criterion, lam):
    """scipy's bounded minimiser of the criterion over converged path fits (tol 1e-12)."""

    def value(t):
        return model.criterion(model._irls(math.exp(t), None, 200, 1e-12), criterion)

    t = math.log(lam)
    opt = minimize_scalar(value, bounds=(t - 1.5, t + 1.5), method="bounded",
                          options={"xatol": 1e-6})
    return opt.x, opt.fun, value


@pytest.mark.parametrize("family", [F.Poisson, F.Binomial])
@pytest.mark.parametrize("criterion", ["gcv", "reml", "loocv"])
def test_selected_lam_is_the_minimiser_over_converged_fits(rng, family, criterion):
    fam = family()
    X, y, b0 = simulated_glm(rng, fam)
    model = pr.PriorGLM(y, X, family=fam, prior=b0)
    res = model.fit(lam=criterion, tol=1e-12)
    t_min, v_min, value = _brute_force(model, criterion, res.lam)
    assert abs(t_min - math.log(res.lam)) < 1.4  # inside the brute force's bounds
    # the search locates the minimum to XATOL = 1e-3 on log(lam) (Newton's
    # last step, Brent's tolerance); the brute force to 1e-6: 10x margin
    assert abs(math.log(res.lam) - t_min) <= 10 * 1e-3
    # the criterion at the selection is at most curvature/2 * 1e-6 above the
    # minimum, ~1e-9 relative here; converged fits carry ~1e-12 relative: 1e-8
    assert value(math.log(res.lam)) <= v_min * (1 + 1e-8)


def test_params_derivative_equals_finite_differences_with_a_non_canonical_link(rng):
    fam = F.Binomial(F.links.Probit())
    X, y, b0 = simulated_glm(rng, fam)
    model = pr.PriorGLM(y, X, family=fam, prior=b0)
    res = model.fit(lam="reml", cov_type="unconditional", tol=1e-13)
    lam = res.lam
    fit = model._irls(lam, None, 200, 1e-13)
    problem = model.problem
    point = gram_point(problem, np.asarray(fit.params), fit.eta, fit.fittedvalues, fit.deviance)
    J = params_derivative(problem, point, lam)

    # Richardson-extrapolated central differences of converged fits (h = 1e-3,
    # 2e-3): truncation ~h^4 |d^5 b| ~ 1e-12; fits converged to 1e-14 in the
    # deviance move the estimates by ~1e-7 relative (sqrt), / 2h ~ 1e-4 |b|
    def params(t):
        return np.asarray(model._irls(lam * math.exp(t), None, 200, 1e-14).params)

    h = 1e-3
    d1 = (params(h) - params(-h)) / (2 * h)
    d2 = (params(2 * h) - params(-2 * h)) / (4 * h)
    fd = (4 * d1 - d2) / 3
    size = float(np.max(np.abs(fd)))
    assert size > 1e-3  # the derivative is not negligible
    np.testing.assert_allclose(J, fd, rtol=0, atol=1e-3 * size)
    # the working-weights formula (Fisher information) differs: a wrong J fails
    A = point.gram + lam * problem.L
    fisher = -lam * np.linalg.solve(A, problem.L @ (np.asarray(fit.params) - b0))
    assert np.max(np.abs(fisher - fd)) > 1e-2 * size
    # the unconditional covariance is assembled with this derivative (checked
    # above against finite differences): the same assembly from the same
    # converged fit agrees to the fits' tolerance (1e-13 -> ~1e-6 relative in
    # the estimates, hence in J); the Fisher-information J is far off that
    args = (
        np.asarray(res.normalized_cov_params),
        problem.L,
        lam,
        np.asarray(res.params) - b0,
        res.scale,
        res.reml_curvature,
    )
    got = np.asarray(res.cov_params())
    jj = float(np.abs(np.outer(J, J)).max()) / res.reml_curvature
    np.testing.assert_allclose(got, unconditional_cov(*args, J=J), rtol=0, atol=1e-5 * jj)
    assert np.abs(got - unconditional_cov(*args, J=fisher)).max() > 1e-3 * jj


def test_newton_search_evaluates_the_bound_of_a_plateau_instead_of_walking():
    calls = []

    def tail(t):  # exponential tail: Newton steps of constant length towards +inf
        calls.append(t)
        return 1.0 + 1e-4 * math.exp(-t), -1e-4 * math.exp(-t)

    newton_search(tail, 0.0, -20.0, 20.0)
    assert max(calls) == 20.0  # the minimum on the range: its bound
    # the fall left is below 1e-6 from t ~ 4.6 on; the walk to 20 takes 16 calls
    assert len(calls) <= 10

    # a minimum hidden beyond the plateau: after the bound the search comes back
    calls.clear()

    def value(t):
        return 1.0 + math.exp(-t) + 1e-9 * (t - 15.0) ** 2

    def hidden(t):
        calls.append(t)
        return value(t), -math.exp(-t) + 2e-9 * (t - 15.0)

    newton_search(hidden, 0.0, -20.0, 20.0)
    best = min(calls, key=value)
    opt = minimize_scalar(value, bounds=(5.0, 20.0), method="bounded", options={"xatol": 1e-9})
    # the search's tolerance on t is XATOL = 1e-3; 10x margin
    assert abs(best - opt.x) <= 1e-2


@pytest.mark.parametrize(
    ("family", "weighted"),
    [
        (F.Poisson(), False),
        (F.Binomial(), False),
        (F.Binomial(F.links.Probit()), False),
        (F.Poisson(), True),
        (F.Gamma(F.links.Log()), True),
    ],
    ids=["poisson", "binomial", "probit", "poisson-weights-offset", "gamma-weights-offset"],
)
def test_loocv_derivative_equals_finite_differences_of_converged_fits(rng, family, weighted):
    # oracle: Richardson-extrapolated central differences (h = 1e-3, 2e-3 on
    # log(lam)) of the criterion at converged path fits (tol 1e-13, path
    # leverages). Truncation ~h^4 |d^5 V| ~ 1e-12 |V|; rounding of a converged
    # criterion ~1e-12 |V| divided by h gives ~1e-9 |V|: 1e-8 |V| is a 10x margin.
    X, y, b0 = simulated_glm(rng, family)
    extra = {}
    if weighted:
        n = X.shape[0]
        extra = {
            "offset": rng.normal(scale=0.2, size=n),
            "freq_weights": rng.integers(1, 4, n).astype(float),
            "var_weights": rng.uniform(0.5, 2.0, n),
        }
    model = pr.PriorGLM(y, X, family=family, prior=b0, **extra)

    def value(rho):
        return model.criterion(model._irls(math.exp(rho), None, 200, 1e-13), "loocv")

    search = GLMSearch(model, "loocv", 200, 1e-13)
    search.evaluate(7.0)
    grad = search.gradient(7.0)
    assert grad is not None
    rho, h = math.log(7.0), 1e-3
    d1 = (value(rho + h) - value(rho - h)) / (2 * h)
    d2 = (value(rho + 2 * h) - value(rho - 2 * h)) / (4 * h)
    fd = (4 * d1 - d2) / 3
    scale = abs(value(rho))
    assert abs(fd) > 1e-6 * scale  # 100x the tolerance: a missing term (dh, de) fails
    assert grad == pytest.approx(fd, abs=1e-8 * scale)


def test_newton_search_does_not_take_a_flat_minimum_for_a_plateau():
    # the predicted fall V'^2/V'' is below 1e-6 relative from the first step
    # on, but the Newton step is short against the spacing: a minimum is close
    calls = []

    def flat(t):
        calls.append(t)
        return 1.0 + 1e-7 * (t - 0.41) ** 2, 2e-7 * (t - 0.41)

    newton_search(flat, 0.0, -20.0, 20.0)
    assert max(abs(t) for t in calls) < 1.0  # no bound evaluated
    assert abs(min(calls, key=lambda t: abs(t - 0.41)) - 0.41) <= 1e-6
