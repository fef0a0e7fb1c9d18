"""PriorGLM against statsmodels, direct minimisation and brute force.

Tolerances: IRLS stops at a relative change of the penalized deviance of
1e-8 (tightened to 1e-12 where compared at 1e-8), so estimates agree to about
the square root of that; scipy's minimiser and statsmodels' fit_regularized
stop at ~1e-6 relative, the tolerance used against them.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import random_problem
from scipy.optimize import minimize

import priorreg as pr

F = sm.families


def poisson_data(rng, n=200, k=4):
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    beta = np.linspace(0.4, -0.3, k)
    y = rng.poisson(np.exp(X @ beta))
    return X, y, beta


def penalized_deviance(family, X, y, b0, L, lam, offset=0.0, var_weights=1.0):
    def objective(b):
        mu = family.link.inverse(X @ b + offset)
        return family.deviance(y, mu, var_weights=var_weights) + lam * (b - b0) @ L @ (b - b0)

    return objective


def test_gaussian_identity_equals_prior_ridge(rng):
    X, y, b0, w, offset, L = random_problem(rng, 50, 5, kind="dense")
    lin = pr.PriorRidge(y, X, prior=b0, penalty=L, weights=w, offset=offset)
    glm = pr.PriorGLM(y, X, family=F.Gaussian(), prior=b0, penalty=L, var_weights=w, offset=offset)
    a, b = lin.fit(lam=2.0), glm.fit(lam=2.0, tol=1e-14)
    np.testing.assert_allclose(b.params, a.params, rtol=1e-10)
    np.testing.assert_allclose(b.bse, a.bse, rtol=1e-8)
    assert b.edf == pytest.approx(a.edf, rel=1e-12)
    assert b.scale == pytest.approx(a.scale, rel=1e-10)
    assert b.gcv == pytest.approx(a.gcv, rel=1e-10)
    assert b.loocv == pytest.approx(a.loocv, rel=1e-9)
    assert b.reml == pytest.approx(a.reml, rel=1e-9)
    sel_lin, sel_glm = lin.fit(lam="reml"), glm.fit(lam="reml", tol=1e-14)
    assert sel_glm.lam == pytest.approx(sel_lin.lam, rel=1e-3)


@pytest.mark.parametrize(
    ("family", "make_y"),
    [
        (F.Poisson(), lambda rng, mu: rng.poisson(mu)),
        (F.Binomial(), lambda rng, mu: rng.binomial(1, mu / (1 + mu))),
        (F.Gamma(link=F.links.Log()), lambda rng, mu: rng.gamma(2.0, mu / 2.0)),
        (F.InverseGaussian(link=F.links.Log()), lambda rng, mu: rng.wald(mu, 5.0)),
        (F.NegativeBinomial(alpha=0.5), lambda rng, mu: rng.negative_binomial(2, 2 / (2 + mu))),
        (
            F.Tweedie(var_power=1.5, link=F.links.Log()),
            lambda rng, mu: rng.poisson(mu) * rng.gamma(2.0, 0.5),
        ),
    ],
    ids=["poisson", "binomial", "gamma", "invgauss", "negbin", "tweedie"],
)
def test_lam_zero_equals_statsmodels_glm(rng, family, make_y):
    n = 300
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    mu = np.exp(X @ [0.3, 0.4, -0.2])
    y = make_y(rng, mu).astype(float)
    ours = pr.PriorGLM(y, X, family=family).fit(lam=0.0, tol=1e-12)
    ref = sm.GLM(y, X, family=family).fit(tol=1e-12)
    np.testing.assert_allclose(ours.params, ref.params, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.bse, ref.bse, rtol=1e-6)
    assert ours.deviance == pytest.approx(ref.deviance, rel=1e-9)
    assert ours.scale == pytest.approx(ref.scale, rel=1e-6)
    assert ours.llf == pytest.approx(ref.llf, rel=1e-8)
    assert ours.aic == pytest.approx(ref.aic, rel=1e-8)
    assert ours.pearson_chi2 == pytest.approx(ref.pearson_chi2, rel=1e-6)
    # residuals inherit the 1e-7 agreement of the two converged fits
    np.testing.assert_allclose(ours.resid_deviance, ref.resid_deviance, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours.resid_pearson, ref.resid_pearson, rtol=1e-5, atol=1e-7)


def test_binomial_two_columns_star98_matches_r_reference():
    # statsmodels' own tests hold R's glm values for this model (results_glm.Star98)
    from statsmodels.genmod.tests.results.results_glm import Star98

    r_values = Star98()
    data = sm.datasets.star98.load_pandas()
    endog = data.endog.to_numpy(dtype=float)
    exog = sm.add_constant(data.exog.to_numpy(dtype=float), prepend=False)
    ours = pr.PriorGLM(endog, exog, family=F.Binomial()).fit(lam=0.0, tol=1e-12)
    ref = sm.GLM(endog, exog, family=F.Binomial()).fit(tol=1e-12)
    np.testing.assert_allclose(ours.params, ref.params, rtol=1e-7)
    np.testing.assert_allclose(ours.params, r_values.params, rtol=1e-6)
    np.testing.assert_allclose(ours.bse, r_values.bse, rtol=1e-5)
    assert ours.llf == pytest.approx(r_values.llf, rel=1e-10)  # R: logLik, coefficients incl.
    assert ours.deviance == pytest.approx(r_values.deviance, rel=1e-10)
    assert ours.aic == pytest.approx(r_values.aic_R, rel=1e-10)
    # proportions with var_weights = trials give the same fit and likelihood
    trials = endog.sum(axis=1)
    prop = pr.PriorGLM(endog[:, 0] / trials, exog, family=F.Binomial(), var_weights=trials).fit(
        lam=0.0, tol=1e-12
    )
    np.testing.assert_allclose(prop.params, ours.params, rtol=1e-9)
    assert prop.llf == pytest.approx(ours.llf, rel=1e-12)


def test_zero_prior_equals_statsmodels_fit_regularized(rng):
    X, y, _ = poisson_data(rng)
    n, a = len(y), 0.01
    ours = pr.PriorGLM(y, X, family=F.Poisson()).fit(lam=n * a, tol=1e-12)
    alpha = np.array([0.0, a, a, a])
    ref = sm.GLM(y, X, family=F.Poisson()).fit_regularized(alpha=alpha, L1_wt=0.0)
    # statsmodels' objective is -llf/n + a/2 |b|^2 (BFGS, ~1e-4 relative on params)
    np.testing.assert_allclose(ours.params, ref.params, rtol=2e-4, atol=1e-5)
    obj = penalized_deviance(F.Poisson(), X, y, np.zeros(4), np.diag(alpha / a), n * a)
    assert obj(np.asarray(ours.params)) <= obj(np.asarray(ref.params)) + 1e-9


def test_prior_equals_direct_minimisation_and_offset_route(rng):
    X, y, beta = poisson_data(rng)
    b0 = beta + 0.3
    L = np.diag([0.0, 1.0, 2.0, 0.5])
    lam = 15.0
    ours = pr.PriorGLM(y, X, family=F.Poisson(), prior=b0, penalty=L).fit(lam=lam, tol=1e-12)
    obj = penalized_deviance(F.Poisson(), X, y, b0, L, lam)
    direct = minimize(obj, b0, method="BFGS", options={"gtol": 1e-9}).x
    np.testing.assert_allclose(ours.params, direct, rtol=1e-5, atol=1e-6)
    # offset route: ridge on delta with offset X b0 and a zero prior
    route = pr.PriorGLM(y, X, family=F.Poisson(), penalty=L, offset=X @ b0).fit(lam=lam, tol=1e-12)
    np.testing.assert_allclose(route.params + b0, ours.params, rtol=1e-9, atol=1e-10)


def test_edf_and_covariance_equal_dense_formulas_at_convergence(rng):
    X, y, beta = poisson_data(rng)
    L = np.diag([0.0, 1.0, 1.0, 1.0])
    res = pr.PriorGLM(y, X, family=F.Poisson(), prior=beta).fit(lam=20.0, tol=1e-12)
    mu = np.exp(X @ res.params)
    W = np.diag(mu)
    A = X.T @ W @ X + 20.0 * L
    np.testing.assert_allclose(res.normalized_cov_params, np.linalg.inv(A), rtol=1e-8)
    assert res.edf == pytest.approx(np.trace(np.linalg.solve(A, X.T @ W @ X)), rel=1e-9)
    np.testing.assert_allclose(res.cov_params(), np.linalg.inv(A), rtol=1e-8)  # scale 1
    sand = pr.PriorGLM(y, X, family=F.Poisson(), prior=beta).fit(
        lam=20.0, tol=1e-12, cov_type="sandwich"
    )
    Ainv = np.linalg.inv(A)
    np.testing.assert_allclose(sand.cov_params(), Ainv @ X.T @ W @ X @ Ainv, rtol=1e-7)


def test_freq_weights_equal_replicated_rows_and_exposure_equals_offset(rng):
    X, y, beta = poisson_data(rng, n=60)
    fw = rng.integers(1, 4, size=60)
    a = pr.PriorGLM(y, X, family=F.Poisson(), prior=beta, freq_weights=fw).fit(lam=5.0, tol=1e-12)
    rep = np.repeat(np.arange(60), fw)
    b = pr.PriorGLM(y[rep], X[rep], family=F.Poisson(), prior=beta).fit(lam=5.0, tol=1e-12)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-9)
    np.testing.assert_allclose(a.bse, b.bse, rtol=1e-8)
    assert a.edf == pytest.approx(b.edf, rel=1e-10)
    expo = rng.uniform(0.5, 3.0, 60)
    c = pr.PriorGLM(y, X, family=F.Poisson(), exposure=expo).fit(lam=5.0, tol=1e-12)
    d = pr.PriorGLM(y, X, family=F.Poisson(), offset=np.log(expo)).fit(lam=5.0, tol=1e-12)
    np.testing.assert_allclose(c.params, d.params, rtol=1e-12)


def test_approximate_loocv_close_to_brute_force(rng):
    X, y, beta = poisson_data(rng, n=80)
    lam = 10.0
    model = pr.PriorGLM(y, X, family=F.Poisson(), prior=beta)
    res = model.fit(lam=lam, tol=1e-12)
    fam = F.Poisson()
    devs = []
    for i in range(80):
        keep = np.arange(80) != i
        fit_i = pr.PriorGLM(y[keep], X[keep], family=fam, prior=beta).fit(lam=lam, tol=1e-12)
        mu_i = np.exp(X[i] @ np.asarray(fit_i.params))
        devs.append(fam.deviance(np.array([y[i]]), np.array([mu_i])))
    brute = np.mean(devs)
    assert res.loocv == pytest.approx(brute, rel=0.03)  # a one-step approximation


@pytest.mark.parametrize("criterion", ["gcv", "ubre", "aic", "reml"])
def test_selected_lam_optimal_on_its_converged_criterion(rng, criterion):
    X, y, beta = poisson_data(rng, n=150)
    b0 = beta + rng.normal(scale=0.2, size=4)
    model = pr.PriorGLM(y, X, family=F.Poisson(), prior=b0)
    res = model.fit(lam=criterion)
    assert res.converged
    grid = res.lam * np.exp(np.linspace(-1.5, 1.5, 31))
    values = [model.criterion(model._irls(v, None, 100, 1e-10), criterion) for v in grid]
    best = model.criterion(model._irls(res.lam, None, 100, 1e-10), criterion)
    assert best <= min(values) + 1e-6 * abs(min(values))


def test_information_prior_from_statsmodels_glm(rng):
    X, y, _ = poisson_data(rng, n=300)
    old = sm.GLM(y[:200], X[:200], family=F.Poisson()).fit()
    res = pr.PriorGLM(y[200:], X[200:], family=F.Poisson(), prior=old, penalty="information").fit(
        lam=1.0, tol=1e-12
    )
    L = np.linalg.inv(old.normalized_cov_params)
    obj = penalized_deviance(F.Poisson(), X[200:], y[200:], old.params, L, 1.0)
    direct = minimize(obj, old.params, method="BFGS", options={"gtol": 1e-9}).x
    np.testing.assert_allclose(res.params, direct, rtol=1e-5, atol=1e-6)


def test_perfect_separation_is_finite_with_penalty(rng):
    x = np.linspace(-2, 2, 40)
    X = np.column_stack([np.ones(40), x])
    y = (x > 0).astype(float)
    with pytest.warns(pr.SeparationWarning, match=r"along \[x1\].*set by the prior"):
        res = pr.PriorGLM(y, X, family=F.Binomial(), penalty=[1.0, 1.0]).fit(lam=1.0)
    assert res.converged
    assert np.all(np.isfinite(res.params))
    assert res.params[1] > 0


def test_formula_exposure_predict_and_refine(rng):
    n = 120
    df = pd.DataFrame(
        {
            "age": rng.integers(30, 70, n),
            "smokes": rng.integers(0, 2, n),
            "pyears": rng.uniform(100, 1000, n),
        }
    )
    df["deaths"] = rng.poisson(df.pyears * np.exp(-6 + 0.03 * df.age + 0.5 * df.smokes))
    big, small = df.iloc[:90], df.iloc[90:]
    old = sm.GLM.from_formula(
        "deaths ~ age + smokes", big, family=F.Poisson(), exposure=big.pyears
    ).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pr.LamOnEdgeWarning)  # the prior may be exact
        res = pr.PriorGLM.from_formula(
            "deaths ~ age + smokes",
            small,
            family=F.Poisson(),
            exposure=small.pyears,
            prior=old,
            penalty="information",
        ).fit(lam="gcv")
    assert "Poisson" in str(res.summary())
    pred = res.predict(small, exposure=small.pyears)
    np.testing.assert_allclose(pred, res.fittedvalues, rtol=1e-12)
    lin = res.predict(small, exposure=small.pyears, which="linear")
    np.testing.assert_allclose(np.exp(lin), pred, rtol=1e-12)
    frame = res.get_prediction(small.head(3), exposure=small.pyears.head(3)).summary_frame()
    assert np.all(frame["mean_ci_lower"] < frame["mean"])
    assert np.all(frame["mean"] < frame["mean_ci_upper"])
    again = res.refine(small, lam=1.0, exposure="pyears")
    assert again.family.__class__ is F.Poisson


@pytest.mark.parametrize(
    ("family", "y", "match"),
    [
        (F.Poisson(), np.array([1.0, -1.0, 2.0, 0.0]), "needs a response >= 0"),
        (F.Binomial(), np.array([0.0, 1.5, 1.0, 0.0]), r"in \[0, 1\]"),
        (F.Gamma(), np.array([1.0, 0.0, 2.0, 3.0]), r"needs a response > 0"),
    ],
)
def test_invalid_response_for_family(family, y, match):
    X = np.column_stack([np.ones(4), np.arange(4.0)])
    with pytest.raises(ValueError, match=match):
        pr.PriorGLM(y, X, family=family)


def test_ubre_needs_known_scale_and_bad_family():
    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(30), rng.normal(size=30)])
    y = rng.gamma(2.0, 1.0, 30)
    with pytest.raises(ValueError, match=r"known scale.*gcv"):
        pr.PriorGLM(y, X, family=F.Gamma(link=F.links.Log())).fit(lam="ubre")
    with pytest.raises(TypeError, match="statsmodels family"):
        pr.PriorGLM(y, X, family="poisson")


def test_non_convergence_warns_and_reports(rng):
    X, y, _ = poisson_data(rng)
    with pytest.warns(pr.ConvergenceWarning, match="did not converge"):
        res = pr.PriorGLM(y, X, family=F.Poisson()).fit(lam=1.0, maxiter=1)
    assert res.converged is False


# --------------------------------------------------- the penalty search's fits
# The search minimises the criterion over converged fits made by IRLS steps on
# the weighted Gram matrix (priorreg.newton); these tests hold that route to
# the path route (priorreg.irls with priorreg.linalg.factorize).

GRAM_FAMILIES = [
    (F.Poisson(), lambda rng, mu: rng.poisson(mu)),
    (F.Binomial(), lambda rng, mu: rng.binomial(1, mu / (1 + mu))),
    (F.Gamma(link=F.links.Log()), lambda rng, mu: rng.gamma(2.0, mu / 2.0)),
]
GRAM_IDS = ["poisson", "binomial", "gamma"]


def weighted_glm(rng, family, make_y, *, n=300, prior=True):
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 4)) + rng.uniform(-1, 1, 4)])
    beta = np.array([0.3, 0.4, -0.2, 0.1, 0.0])
    offset = rng.normal(scale=0.1, size=n)
    y = make_y(rng, np.exp(X @ beta + offset)).astype(float)
    b0 = beta + rng.normal(scale=0.2, size=5) if prior else None
    return pr.PriorGLM(
        y,
        X,
        family=family,
        prior=b0,
        offset=offset,
        freq_weights=rng.integers(1, 3, n).astype(float),
        var_weights=rng.uniform(0.5, 2.0, n),
    )


@pytest.mark.parametrize(("family", "make_y"), GRAM_FAMILIES, ids=GRAM_IDS)
def test_gram_route_irls_is_the_path_irls(rng, family, make_y):
    from priorreg.irls import penalized_irls
    from priorreg.newton import gram_point, newton_irls

    model = weighted_glm(rng, family, make_y)
    problem = model.problem
    b0, lam = problem.b0, 7.0
    eta, mu = problem.mean(b0)
    start = gram_point(problem, b0, eta, mu, problem.deviance(mu))
    fast = newton_irls(problem, lam, start, tol=1e-12)
    ref = penalized_irls(problem, lam, start=b0, tol=1e-12)
    # the same iteration, its linear step solved two ways: the estimates
    # differ by rounding (cond(D (X'WX + lam L) D) < 1e2 here)
    assert fast is not None
    assert fast.converged
    assert ref.converged
    assert fast.iterations == ref.iterations
    np.testing.assert_allclose(fast.params, ref.params, rtol=1e-11, atol=1e-13)
    assert fast.deviance == pytest.approx(ref.deviance, rel=1e-12)
    # edf at the converged estimate: the path factorization and the dense trace
    full = model._finish(ref)
    assert fast.edf == pytest.approx(full.edf, rel=1e-11)
    W = problem.prior_weights * family.weights(ref.mu)
    H = problem.X.T @ (W[:, None] * problem.X)
    dense = np.trace(np.linalg.solve(H + lam * problem.L, H))
    assert fast.edf == pytest.approx(dense, rel=1e-11)


@pytest.mark.parametrize("prior", [True, False], ids=["prior", "no-prior"])
@pytest.mark.parametrize(("family", "make_y"), GRAM_FAMILIES, ids=GRAM_IDS)
def test_gram_route_performance_iteration_is_the_path_one(rng, family, make_y, prior):
    from priorreg.irls import penalized_irls, working_selector
    from priorreg.newton import performance_irls

    problem = weighted_glm(rng, family, make_y, prior=prior).problem
    fast = performance_irls(problem, tol=1e-12)
    ref = penalized_irls(problem, 1.0, tol=1e-12, select=working_selector("gcv"))
    assert fast is not None
    assert fast.converged
    assert ref.converged
    # both end with a bounded search on log(lam) to xatol 1e-6 over a criterion
    # flat at its minimum: lam agrees to about that, the estimates (smooth in
    # lam) to about the same
    assert fast.lam == pytest.approx(ref.lam, rel=1e-5)
    np.testing.assert_allclose(fast.params, ref.params, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("criterion", ["gcv", "ubre", "aic"])
def test_search_values_are_the_criterion_at_path_fits(rng, criterion):
    X, y, beta = poisson_data(rng, n=400, k=6)
    b0 = beta + rng.normal(scale=0.2, size=6)
    model = pr.PriorGLM(y, X, family=F.Poisson(), prior=b0)
    res = model.fit(lam=criterion, tol=1e-12)
    path = res.selection.path
    assert path["lam"].size >= 5
    for lam, value, edf in zip(path["lam"], path[criterion], path["edf"], strict=True):
        full = model._irls(float(lam), None, 100, 1e-12)
        # converged fits of the same iteration (warm and cold started), edf by
        # Gram-Cholesky (rounding ~eps / rcond) or by the path factorization;
        # UBRE = D/n + 2 edf/n - 1 loses the digits of the terms it cancels
        assert edf == pytest.approx(full.edf, rel=1e-10)
        assert value == pytest.approx(model.criterion(full, criterion), rel=1e-10, abs=1e-12)
    # the reported fit is the path IRLS fit at the selected lam
    fixed = model.fit(lam=res.lam, tol=1e-12)
    np.testing.assert_allclose(res.params, fixed.params, rtol=1e-7, atol=1e-9)
    assert res.edf == pytest.approx(fixed.edf, rel=1e-9)
    assert res.selection.value == pytest.approx(getattr(fixed, criterion), rel=1e-10)


def test_selected_lam_is_the_minimum_on_a_fine_grid(rng):
    X, y, beta = poisson_data(rng, n=400, k=6)
    b0 = beta + rng.normal(scale=0.3, size=6)
    model = pr.PriorGLM(y, X, family=F.Poisson(), prior=b0)
    res = model.fit(lam="gcv")
    assert not res.selection.on_edge
    grid = res.lam * np.exp(np.linspace(-0.05, 0.05, 41))
    values = np.array([model.criterion(model._irls(v, None, 100, 1e-12), "gcv") for v in grid])
    best = model.criterion(model._irls(res.lam, None, 100, 1e-12), "gcv")
    # the search locates the minimum to 1e-3 on log(lam): above the grid's
    # minimum by at most curvature * 1e-6 (~1e-10 relative here)
    assert best <= values.min() * (1 + 1e-9)
    assert abs(np.log(res.lam) - np.log(grid[np.argmin(values)])) <= 2.5e-3 + 1e-3


def test_ill_conditioned_gram_falls_back_to_the_path(rng):
    from priorreg.newton import gram_point, newton_irls

    n = 300
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x + 1e4, rng.normal(size=n)])  # cond(X'X) ~ 1e16
    y = rng.poisson(np.exp(0.2 + 0.3 * x)).astype(float)
    model = pr.PriorGLM(y, X, family=F.Poisson(), prior=[0.2 - 1e3, 0.1, 0.3])
    problem = model.problem
    eta, mu = problem.mean(problem.b0)
    start = gram_point(problem, problem.b0, eta, mu, problem.deviance(mu))
    assert newton_irls(problem, 1.0, start) is None  # declined: edf not certain
    res = model.fit(lam="gcv")
    for lam, value in zip(res.selection.path["lam"], res.selection.path["gcv"], strict=True):
        full = model._irls(float(lam), None, 100, 1e-12)
        assert value == pytest.approx(model.criterion(full, "gcv"), rel=1e-9)


def test_brent_search_in_a_bracket():
    from priorreg.glm import _brent

    calls = []

    def f(t):
        calls.append(t)
        return (t - 0.3) ** 2 + 0.1 * (t - 0.3) ** 3

    ts = [-1.1, 0.0, 1.1]
    x, fx = _brent(f, ts, [f(t) for t in ts], 1e-3)
    assert abs(x - 0.3) <= 1e-3
    assert len(calls) - 3 <= 8  # parabolic steps: golden sections alone take ~17
    assert fx == min(f(t) for t in list(calls))
    # an unusable value at an end (a fit that did not converge) is only a bound
    calls.clear()
    x, _ = _brent(f, ts, [math.inf, f(0.0), f(1.1)], 1e-3)
    assert abs(x - 0.3) <= 1e-3
