"""PriorGLM against statsmodels, direct minimisation and brute force.

Tolerances (tests/bounds.py): two estimates of one penalized MLE agree
within the sum of their Newton steps there (statsmodels' score and Hessian),
whatever algorithm and stopping rule produced them; what depends on the
estimates moves by its gradient times that; an estimate known only through
its stopping rule (a relative change of the penalized deviance Q below tol)
is within sqrt(2 tol Q / lambda_min(A)) of its fixed point; solves carry
solve_rtol. Every bound is taken 10x.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from bounds import (
    EPS,
    MARGIN,
    assert_close_normwise,
    glm_newton_step,
    glm_optimum_distance,
    glm_quantities,
    sensitivity,
    solve_rtol,
    sum_rtol,
)
from conftest import random_problem
from scipy.optimize import minimize

import priorreg as pr

F = sm.families


def assert_same_optimum(family, X, y, a, b, **kwargs):
    """Two estimates of one penalized MLE agree within their Newton steps (x 10).

    Each stopped within (to first order) its Newton step of the optimum,
    whatever the algorithm and its stopping rule (see ``glm_optimum_distance``).
    Returns that radius.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    radius = MARGIN * (
        glm_optimum_distance(family, X, y, a, **kwargs)
        + glm_optimum_distance(family, X, y, b, **kwargs)
    )
    assert np.linalg.norm(a - b) <= radius, (np.linalg.norm(a - b), radius)
    return radius

#: families whose scale statsmodels estimates (Pearson chi2 / df_resid)
ESTIMATED_SCALE = (F.Gamma, F.InverseGaussian, F.Tweedie, F.Gaussian)


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
    # identity link: each IRLS step is the weighted ridge solve with A =
    # X'WX + lam L, so both are backward-stable solves (solve_rtol, x 10);
    # residuals carry tol ||fitted|| / ||r|| relative (r_tol)
    A = X.T @ (w[:, None] * X) + 2.0 * L
    tol = solve_rtol(A)
    r = np.asarray(a.resid)
    r_tol = tol * np.linalg.norm(y - offset - r) / np.linalg.norm(r)
    assert_close_normwise(b.params, a.params, tol)
    assert_close_normwise(b.bse, a.bse, tol + r_tol)  # sqrt(scale diag(A^-1))
    assert b.edf == pytest.approx(a.edf, abs=5 * tol)  # tr(A^-1 X'WX) <= k = 5
    assert b.scale == pytest.approx(a.scale, rel=2 * r_tol + 5 * tol)
    assert b.gcv == pytest.approx(a.gcv, rel=2 * r_tol + 3 * 5 * tol)
    # 1 / (1 - h_ii) amplifies the residuals' error
    h = w * np.einsum("ij,ij->i", X, np.linalg.solve(A, X.T).T)
    assert b.loocv == pytest.approx(a.loocv, rel=(2 * r_tol + 2 * tol) / (1 - h.max()) ** 2)
    # log det terms: absolute error <= k tol; (n / 2) log(RSS): n / 2 = 25 times
    # the RSS's relative error
    assert b.reml == pytest.approx(a.reml, abs=5 * tol + 50 * (r_tol + 5 * tol))
    sel_lin, sel_glm = lin.fit(lam="reml"), glm.fit(lam="reml", tol=1e-14)
    # the same REML, minimised to xatol 1e-6 (linear) and 1e-3 (GLM) in
    # log(lam): the points whose REML values differ by delta lie within
    # sqrt(2 delta / f'') of each other (f'' by central differences, h = 0.01)
    t = np.log(sel_lin.lam)
    f = lin.path(np.exp([t - 0.01, t, t + 0.01, np.log(sel_glm.lam)]), criterion="reml")["reml"]
    curvature = (f[0] - 2 * f[1] + f[2]) / 0.01**2
    delta = abs(f[3] - f[1]) + 5 * tol + 50 * (r_tol + 5 * tol)
    assert abs(np.log(sel_glm.lam) - t) <= MARGIN * np.sqrt(2 * delta / curvature)


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
    # both stop near the MLE: each within its Newton step (statsmodels' score
    # and Hessian) of it, whatever the stopping rules; 10x margin
    radius = MARGIN * (
        glm_optimum_distance(family, X, y, ours.params)
        + glm_optimum_distance(family, X, y, ref.params)
    )
    assert np.linalg.norm(ours.params - ref.params) <= radius
    # what depends on the estimates moves by at most its gradient times that
    # radius; the sums themselves carry n eps (x 10)
    at = glm_quantities(family, X, y, estimated_scale=family.__class__ in ESTIMATED_SCALE)
    b = np.asarray(ref.params)

    def tol(name):
        return sensitivity(lambda v: at(v)[name], b, radius) + sum_rtol(n) * np.abs(at(b)[name])

    # statsmodels' bse use the weights of its last IRLS step, taken one step
    # before its estimate; that step lowered the deviance D by < tol D
    # (tol = 1e-12), so its length is <= sqrt(2 tol D / lambda_min(I)) with I
    # the information X'WX; bse also carry the rounding of inverting I
    info = np.linalg.inv(ref.normalized_cov_params) / ref.scale
    last_step = np.sqrt(2e-12 * ref.deviance / np.linalg.eigvalsh(info)[0])
    bse_tol = sensitivity(lambda v: at(v)["bse"], b, radius + MARGIN * last_step)
    np.testing.assert_array_less(np.abs(ours.bse - ref.bse), bse_tol + solve_rtol(info) * ref.bse)
    for name in ("deviance", "scale", "llf", "pearson_chi2"):
        assert getattr(ours, name) == pytest.approx(getattr(ref, name), abs=float(tol(name)))
    assert ours.aic == pytest.approx(ref.aic, abs=2 * float(tol("llf")))  # -2 llf + 2 k
    for name in ("resid_deviance", "resid_pearson"):
        np.testing.assert_array_less(np.abs(getattr(ours, name) - getattr(ref, name)), tol(name))


def test_binomial_two_columns_star98_matches_r_reference():
    # statsmodels' own tests hold R's glm values for this model (results_glm.Star98)
    from statsmodels.genmod.tests.results.results_glm import Star98

    r_values = Star98()
    data = sm.datasets.star98.load_pandas()
    endog = data.endog.to_numpy(dtype=float)
    exog = sm.add_constant(data.exog.to_numpy(dtype=float), prepend=False)
    ours = pr.PriorGLM(endog, exog, family=F.Binomial()).fit(lam=0.0, tol=1e-12)
    ref = sm.GLM(endog, exog, family=F.Binomial()).fit(tol=1e-12)
    fam = F.Binomial()
    assert_same_optimum(fam, exog, endog, ours.params, ref.params)
    # R's printed coefficients (10 decimals) are within their Newton step of
    # the MLE too: that step includes R's stopping and the printing
    r_params = np.asarray(r_values.params)
    assert_same_optimum(fam, exog, endog, ours.params, r_params)
    # R's bse printed to 7 significant digits: 5e-7 relative, 20x under 1e-5
    np.testing.assert_allclose(ours.bse, r_values.bse, rtol=1e-5)
    # the deviance at a point d away from the MLE exceeds the minimum by
    # ~ d' I d (second order, I the information); R's values are printed to
    # 8 decimals (5e-9); 10x margin on the sum
    gap = 0.0
    for b in (ours.params, r_params):
        step, info = glm_newton_step(fam, exog, endog, b)
        gap += step @ info @ step
    slack = MARGIN * (gap + 5e-9 + sum_rtol(len(endog)) * r_values.deviance)
    assert ours.llf == pytest.approx(r_values.llf, abs=slack)  # R: logLik, coefficients incl.
    assert ours.deviance == pytest.approx(r_values.deviance, abs=2 * slack)
    assert ours.aic == pytest.approx(r_values.aic_R, abs=2 * slack)
    # proportions with var_weights = trials give the same fit and likelihood
    trials = endog.sum(axis=1)
    prop = pr.PriorGLM(endog[:, 0] / trials, exog, family=F.Binomial(), var_weights=trials).fit(
        lam=0.0, tol=1e-12
    )
    assert_same_optimum(fam, exog, endog, prop.params, ours.params)
    # the same likelihood at estimates within that radius: second order (above)
    assert prop.llf == pytest.approx(ours.llf, abs=slack)


def test_zero_prior_equals_statsmodels_fit_regularized(rng):
    X, y, _ = poisson_data(rng)
    n, a = len(y), 0.01
    ours = pr.PriorGLM(y, X, family=F.Poisson()).fit(lam=n * a, tol=1e-12)
    alpha = np.array([0.0, a, a, a])
    ref = sm.GLM(y, X, family=F.Poisson()).fit_regularized(alpha=alpha, L1_wt=0.0)
    # statsmodels' objective is -llf/n + a/2 |b|^2, the same minimiser; its
    # optimizer stops within its Newton step of it, ours within ours
    L = np.diag(alpha / a)
    assert_same_optimum(F.Poisson(), X, y, ours.params, ref.params, lam=n * a, L=L)
    obj = penalized_deviance(F.Poisson(), X, y, np.zeros(4), L, n * a)
    # ours is no worse, up to its own second-order gap and the rounding of obj
    step, info = glm_newton_step(F.Poisson(), X, y, ours.params, lam=n * a, L=L)
    slack = MARGIN * (step @ info @ step + sum_rtol(n) * obj(np.asarray(ours.params)))
    assert obj(np.asarray(ours.params)) <= obj(np.asarray(ref.params)) + slack


def test_prior_equals_direct_minimisation_and_offset_route(rng):
    X, y, beta = poisson_data(rng)
    b0 = beta + 0.3
    L = np.diag([0.0, 1.0, 2.0, 0.5])
    lam = 15.0
    ours = pr.PriorGLM(y, X, family=F.Poisson(), prior=b0, penalty=L).fit(lam=lam, tol=1e-12)
    obj = penalized_deviance(F.Poisson(), X, y, b0, L, lam)
    direct = minimize(obj, b0, method="BFGS", options={"gtol": 1e-9}).x
    pen = {"lam": lam, "L": L, "b0": b0}
    assert_same_optimum(F.Poisson(), X, y, ours.params, direct, **pen)
    # offset route: ridge on delta with offset X b0 and a zero prior
    route = pr.PriorGLM(y, X, family=F.Poisson(), penalty=L, offset=X @ b0).fit(lam=lam, tol=1e-12)
    assert_same_optimum(F.Poisson(), X, y, route.params + b0, ours.params, **pen)


def test_edf_and_covariance_equal_dense_formulas_at_convergence(rng):
    X, y, beta = poisson_data(rng)
    L = np.diag([0.0, 1.0, 1.0, 1.0])
    res = pr.PriorGLM(y, X, family=F.Poisson(), prior=beta).fit(lam=20.0, tol=1e-12)
    mu = np.exp(X @ res.params)
    W = np.diag(mu)
    A = X.T @ W @ X + 20.0 * L
    # the fit may form A at the weights of its last IRLS step: within
    # sqrt(2 tol Q / lambda_min(A)) (tol = 1e-12, Q the penalized deviance) of
    # the estimate; W = mu moves by max |x_i' step| relatively, A^-1 as much;
    # plus the rounding of the inverse (solve_rtol)
    Q = res.deviance + 20.0 * (res.params - beta) @ L @ (res.params - beta)
    step = np.sqrt(2e-12 * Q / np.linalg.eigvalsh(A)[0])
    drift = MARGIN * np.max(np.linalg.norm(X, axis=1)) * step
    tol = solve_rtol(A) + drift
    assert_close_normwise(res.normalized_cov_params, np.linalg.inv(A), tol)
    # edf = tr(A^-1 X'WX) <= k = 4
    assert res.edf == pytest.approx(np.trace(np.linalg.solve(A, X.T @ W @ X)), abs=4 * 2 * tol)
    assert_close_normwise(res.cov_params(), np.linalg.inv(A), tol)  # scale 1
    sand = pr.PriorGLM(y, X, family=F.Poisson(), prior=beta).fit(
        lam=20.0, tol=1e-12, cov_type="sandwich"
    )
    Ainv = np.linalg.inv(A)
    assert_close_normwise(sand.cov_params(), Ainv @ X.T @ W @ X @ Ainv, 3 * tol)


def test_freq_weights_equal_replicated_rows_and_exposure_equals_offset(rng):
    X, y, beta = poisson_data(rng, n=60)
    fw = rng.integers(1, 4, size=60)
    a = pr.PriorGLM(y, X, family=F.Poisson(), prior=beta, freq_weights=fw).fit(lam=5.0, tol=1e-12)
    rep = np.repeat(np.arange(60), fw)
    b = pr.PriorGLM(y[rep], X[rep], family=F.Poisson(), prior=beta).fit(lam=5.0, tol=1e-12)
    L = np.diag([0.0, 1.0, 1.0, 1.0])
    pen = {"lam": 5.0, "L": L, "b0": beta}
    radius = assert_same_optimum(F.Poisson(), X[rep], y[rep], a.params, b.params, **pen)
    # covariances at estimates within radius (and at weights up to one IRLS
    # step, sqrt(2 tol Q / lambda_min(A)), earlier): W = mu moves by
    # max |x_i' d| relatively, and so does A^-1; plus inverting A (solve_rtol)
    A = np.linalg.inv(np.asarray(b.normalized_cov_params))
    step = np.sqrt(2e-12 * b.deviance * 2 / np.linalg.eigvalsh(A)[0])
    tol = solve_rtol(A) + np.max(np.linalg.norm(X, axis=1)) * (radius + 2 * MARGIN * step)
    np.testing.assert_allclose(a.bse, b.bse, rtol=tol)  # sqrt halves it
    assert a.edf == pytest.approx(b.edf, abs=4 * 2 * tol)  # edf <= k = 4
    expo = rng.uniform(0.5, 3.0, 60)
    c = pr.PriorGLM(y, X, family=F.Poisson(), exposure=expo).fit(lam=5.0, tol=1e-12)
    d = pr.PriorGLM(y, X, family=F.Poisson(), offset=np.log(expo)).fit(lam=5.0, tol=1e-12)
    assert_same_optimum(F.Poisson(), X, y, c.params, d.params, lam=5.0, L=L, offset=np.log(expo))


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
    # a one-step approximation: one Newton step from the full fit towards each
    # leave-one-out fit leaves an error quadratic in that step, which is
    # O(h_ii) relative (h_ii the leverage); 10x max(h_ii)^2
    W = np.exp(X @ res.params)
    A = X.T @ (W[:, None] * X) + lam * np.diag([0.0, 1.0, 1.0, 1.0])
    h = W * np.einsum("ij,ij->i", X, np.linalg.solve(A, X.T).T)
    assert res.loocv == pytest.approx(brute, rel=MARGIN * h.max() ** 2)


@pytest.mark.parametrize("criterion", ["gcv", "ubre", "aic", "reml"])
def test_selected_lam_optimal_on_its_converged_criterion(rng, criterion):
    X, y, beta = poisson_data(rng, n=150)
    b0 = beta + rng.normal(scale=0.2, size=4)
    model = pr.PriorGLM(y, X, family=F.Poisson(), prior=b0)
    res = model.fit(lam=criterion)
    assert res.converged
    grid = res.lam * np.exp(np.linspace(-1.5, 1.5, 31))
    values = np.array(
        [model.criterion(model._irls(v, None, 100, 1e-10), criterion) for v in grid]
    )
    best = model.criterion(model._irls(res.lam, None, 100, 1e-10), criterion)
    # the search locates t = log(lam) to xatol = 1e-3, where the criterion is
    # above its minimum by <= f'' xatol^2 / 2 (f'' from the grid, spacing 0.1);
    # each value is of a fit converged to 1e-10 relative deviance change: the
    # deviance within 1e-10 |D| (second order in the estimates) and the edf
    # within sqrt(1e-10) relative (first order); 10x margin
    i = int(np.clip(np.argmin(values), 1, 29))
    curvature = abs(values[i + 1] - 2 * values[i] + values[i - 1]) / 0.1**2
    noise = 1e-10 * abs(values.min()) + np.sqrt(1e-10) * 2 * 4 / len(y)
    assert best <= values.min() + MARGIN * (curvature * 1e-3**2 / 2 + 2 * noise)


def test_information_prior_from_statsmodels_glm(rng):
    X, y, _ = poisson_data(rng, n=300)
    old = sm.GLM(y[:200], X[:200], family=F.Poisson()).fit()
    res = pr.PriorGLM(y[200:], X[200:], family=F.Poisson(), prior=old, penalty="information").fit(
        lam=1.0, tol=1e-12
    )
    L = np.linalg.inv(old.normalized_cov_params)
    obj = penalized_deviance(F.Poisson(), X[200:], y[200:], old.params, L, 1.0)
    direct = minimize(obj, old.params, method="BFGS", options={"gtol": 1e-9}).x
    pen = {"lam": 1.0, "L": L, "b0": np.asarray(old.params)}
    assert_same_optimum(F.Poisson(), X[200:], y[200:], res.params, direct, **pen)


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
    # exp(x'b + log(pyears)) twice from the same numbers: the linear
    # predictor to (k + 1) eps sum |terms|, exp turns that absolute error into
    # a relative one (x 10)
    X, b = res.model.exog, np.asarray(res.params)
    eta_err = (X.shape[1] + 1) * EPS * (np.abs(X) @ np.abs(b) + np.abs(np.log(small.pyears)))
    np.testing.assert_allclose(pred, res.fittedvalues, rtol=MARGIN * eta_err.max())
    lin = res.predict(small, exposure=small.pyears, which="linear")
    np.testing.assert_allclose(np.exp(lin), pred, rtol=MARGIN * eta_err.max())
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
# the weighted Gram matrix (priorreg.gram_irls); these tests hold that route to
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
    from priorreg.gram_irls import gram_irls, gram_point
    from priorreg.irls import penalized_irls

    model = weighted_glm(rng, family, make_y)
    problem = model.problem
    b0, lam = problem.b0, 7.0
    eta, mu = problem.mean(b0)
    start = gram_point(problem, b0, eta, mu, problem.deviance(mu))
    fast = gram_irls(problem, lam, start, tol=1e-12)
    ref = penalized_irls(problem, lam, start=b0, tol=1e-12)
    # the same iteration, its linear step solved two ways: the estimates
    # differ by the rounding of the last solve (Newton contracts the earlier
    # ones): solve_rtol(A), A = X'WX + lam L at convergence, x 10
    assert fast is not None
    assert fast.converged
    assert ref.converged
    assert fast.iterations == ref.iterations
    W = problem.prior_weights * family.weights(ref.mu)
    H = problem.X.T @ (W[:, None] * problem.X)
    A = H + lam * problem.L
    tol = solve_rtol(A)
    assert_close_normwise(fast.params, ref.params, tol)
    # dD/db = -2 lam L (b - b0) at the penalized optimum: |dD| <= that times |db|
    slope = 2 * lam * np.linalg.norm(problem.L @ (ref.params - b0))
    d_params = tol * np.linalg.norm(ref.params)
    slack = slope * d_params + sum_rtol(300) * ref.deviance
    assert fast.deviance == pytest.approx(ref.deviance, abs=slack)
    # edf at the converged estimate: the path factorization and the dense
    # trace; tr(A^-1 H) <= k = 5 within k tol
    full = model._finish(ref)
    assert fast.edf == pytest.approx(full.edf, abs=5 * tol)
    dense = np.trace(np.linalg.solve(A, H))
    assert fast.edf == pytest.approx(dense, abs=5 * tol)


@pytest.mark.parametrize("prior", [True, False], ids=["prior", "no-prior"])
@pytest.mark.parametrize(("family", "make_y"), GRAM_FAMILIES, ids=GRAM_IDS)
def test_gram_route_performance_iteration_is_the_path_one(rng, family, make_y, prior):
    from priorreg.gram_irls import performance_irls
    from priorreg.irls import penalized_irls, working_selector

    problem = weighted_glm(rng, family, make_y, prior=prior).problem
    fast = performance_irls(problem, tol=1e-12)
    ref = penalized_irls(problem, 1.0, tol=1e-12, select=working_selector("gcv"))
    assert fast is not None
    assert fast.converged
    assert ref.converged
    # both end with a bounded search on t = log(lam) to xatol 1e-6: each
    # within 1e-6 of the working criterion's minimum, so |dt| <= 2e-6 (x 10)
    dt = abs(np.log(fast.lam) - np.log(ref.lam))
    assert dt <= MARGIN * 2e-6
    # the estimates move with lam as db/dt = -lam A^-1 L (b - b0) (implicit
    # function theorem at the penalized optimum), plus the solves' rounding
    W = problem.prior_weights * family.weights(ref.mu)
    A = problem.X.T @ (W[:, None] * problem.X) + ref.lam * problem.L
    slope = ref.lam * np.linalg.norm(np.linalg.solve(A, problem.L @ (ref.params - problem.b0)))
    bound = slope * dt + solve_rtol(A) * np.linalg.norm(ref.params)
    # and each stops within its last step of its fixed point: that step
    # lowered Q by < tol Q (tol = 1e-12), so it is <= sqrt(2 tol Q / lambda_min(A))
    bound += 2 * np.sqrt(2e-12 * ref.penalized_deviance / np.linalg.eigvalsh(A)[0])
    assert np.linalg.norm(fast.params - ref.params) <= MARGIN * bound


@pytest.mark.parametrize("criterion", ["gcv", "ubre", "aic", "reml"])
def test_search_values_are_the_criterion_at_path_fits(rng, criterion):
    X, y, beta = poisson_data(rng, n=400, k=6)
    b0 = beta + rng.normal(scale=0.2, size=6)
    model = pr.PriorGLM(y, X, family=F.Poisson(), prior=b0)
    res = model.fit(lam=criterion, tol=1e-12)
    path = res.selection.path
    assert path["lam"].size >= 3
    L = np.diag([0.0, *np.ones(5)])
    for lam, value, edf in zip(path["lam"], path[criterion], path["edf"], strict=True):
        full = model._irls(float(lam), None, 100, 1e-12)
        # converged fits of the same iteration (warm and cold started), edf by
        # Gram-Cholesky or by the path factorization. The warm-started fit is
        # not at hand, only its stopping rule: its last step lowered Q by
        # < 1e-12 Q, so it is within sqrt(2e-12 Q / lambda_min(A)) of full's
        # optimum (plus full's own Newton step); W = mu moves by max |x_i' d|
        # relatively, and edf = tr(A^-1 X'WX) <= k by k times that
        mu = np.exp(X @ full.params)
        A = X.T @ (mu[:, None] * X) + lam * L
        Q = full.deviance + lam * (full.params - b0) @ L @ (full.params - b0)
        d = np.sqrt(2e-12 * Q / np.linalg.eigvalsh(A)[0])
        d += glm_optimum_distance(F.Poisson(), X, y, full.params, lam=lam, L=L, b0=b0)
        drift = MARGIN * np.max(np.linalg.norm(X, axis=1)) * d
        assert edf == pytest.approx(full.edf, abs=6 * drift + solve_rtol(A))
        # the criteria: D (second order, ~ d' A d) and 2 edf over n or edf
        # (aic: -2 llf + 2 edf); UBRE = D/n + 2 edf/n - 1 cancels, hence abs
        slack = MARGIN * d * (d * np.linalg.norm(A, 2) + 2 * np.linalg.norm(A @ np.ones(6)))
        slack += 2 * (6 * drift + solve_rtol(A))
        assert value == pytest.approx(model.criterion(full, criterion), abs=slack)
    # the reported fit is the path IRLS fit at the selected lam
    fixed = model.fit(lam=res.lam, tol=1e-12)
    pen = {"lam": res.lam, "L": L, "b0": b0}
    radius = assert_same_optimum(F.Poisson(), X, y, res.params, fixed.params, **pen)
    drift = np.max(np.linalg.norm(X, axis=1)) * radius
    assert res.edf == pytest.approx(fixed.edf, abs=6 * drift + solve_rtol(A))
    assert res.selection.value == pytest.approx(getattr(fixed, criterion), abs=slack)


def test_selected_lam_is_the_minimum_on_a_fine_grid(rng):
    X, y, beta = poisson_data(rng, n=400, k=6)
    b0 = beta + rng.normal(scale=0.3, size=6)
    model = pr.PriorGLM(y, X, family=F.Poisson(), prior=b0)
    res = model.fit(lam="gcv")
    assert not res.selection.on_edge
    grid = res.lam * np.exp(np.linspace(-0.05, 0.05, 41))
    values = np.array([model.criterion(model._irls(v, None, 100, 1e-12), "gcv") for v in grid])
    best = model.criterion(model._irls(res.lam, None, 100, 1e-12), "gcv")
    # the search locates t = log(lam) to xatol = 1e-3: above the minimum by at
    # most f'' xatol^2 / 2 (f'' from the grid, spacing 2.5e-3); each value is
    # of a fit converged to 1e-12 (second order in the estimates: 1e-12 |f|)
    i = int(np.clip(np.argmin(values), 1, 39))
    curvature = abs(values[i + 1] - 2 * values[i] + values[i - 1]) / 2.5e-3**2
    noise = 1e-12 * abs(values.min())
    assert best <= values.min() + MARGIN * (curvature * 1e-3**2 / 2 + 2 * noise)
    # and the grid's best point lies within sqrt(2 delta / f'') of it
    delta = abs(best - values.min()) + 2 * noise
    spacing = 2.5e-3 / 2  # the grid's own resolution
    dt = abs(np.log(res.lam) - np.log(grid[np.argmin(values)]))
    assert dt <= MARGIN * np.sqrt(2 * delta / curvature) + spacing


def test_ill_conditioned_gram_falls_back_to_the_path(rng):
    from priorreg.gram_irls import gram_irls, gram_point

    n = 300
    x = rng.normal(size=n)
    # two unpenalized columns 1e-4 apart: cond(X'WX + lam L) ~ 1e9 after
    # centring and scaling, which no penalty weight repairs
    X = np.column_stack([np.ones(n), x, x + 1e-4 * rng.normal(size=n), rng.normal(size=n)])
    y = rng.poisson(np.exp(0.2 + 0.3 * x)).astype(float)
    model = pr.PriorGLM(
        y, X, family=F.Poisson(), prior=[0.2, 0.1, 0.2, 0.3], penalty=[0.0, 0.0, 0.0, 1.0]
    )
    problem = model.problem
    eta, mu = problem.mean(problem.b0)
    start = gram_point(problem, problem.b0, eta, mu, problem.deviance(mu))
    assert gram_irls(problem, 1.0, start) is None  # declined: edf not certain
    res = model.fit(lam="gcv")
    for lam, value in zip(res.selection.path["lam"], res.selection.path["gcv"], strict=True):
        full = model._irls(float(lam), None, 100, 1e-12)
        # as in test_search_values_are_the_criterion_at_path_fits: the search's
        # fit is within its stopping rule's step of full's optimum; GCV = n D /
        # (n - edf)^2 moves by 2 d_edf / (n - edf) relatively, and edf by
        # k max|x_i' d| (W = mu); the path route's rounding at the level of
        # cond(A) eps
        mu = np.exp(X @ full.params)
        L = np.diag([0.0, 0.0, 0.0, 1.0])
        A = X.T @ (mu[:, None] * X) + lam * L
        Q = full.deviance + lam * full.params @ L @ full.params
        d = np.sqrt(2e-12 * Q / np.linalg.eigvalsh(A)[0])
        d_edf = 4 * MARGIN * np.max(np.linalg.norm(X, axis=1)) * d + solve_rtol(A)
        rel = 2 * d_edf / (n - full.edf) + sum_rtol(n)
        assert value == pytest.approx(model.criterion(full, "gcv"), rel=rel)


def test_brent_search_in_a_bracket():
    from priorreg.glm_search import brent as _brent

    calls = []

    def f(t):
        calls.append(t)
        return (t - 0.3) ** 2 + 0.1 * (t - 0.3) ** 3

    ts = [-1.1, 0.0, 1.1]
    x, fx = _brent(f, ts, [f(t) for t in ts], 1e-3)
    assert abs(x - 0.3) <= 1e-3  # Brent's contract: the minimum located to xatol
    assert len(calls) - 3 <= 8  # parabolic steps: golden sections alone take ~17
    assert fx == min(f(t) for t in list(calls))
    # an unusable value at an end (a fit that did not converge) is only a bound
    calls.clear()
    x, _ = _brent(f, ts, [math.inf, f(0.0), f(1.1)], 1e-3)
    assert abs(x - 0.3) <= 1e-3


def test_predict_transform_false_takes_design_rows(rng):
    df = pd.DataFrame({"x": rng.normal(size=60), "g": rng.choice(["a", "b"], 60)})
    df["y"] = rng.poisson(np.exp(0.2 + 0.3 * df.x))
    res = pr.PriorGLM.from_formula("y ~ x + C(g)", df, family=F.Poisson()).fit(lam=1.0)
    design = pd.DataFrame(res.model.exog[:5], columns=res.model.exog_names)
    np.testing.assert_array_equal(
        np.asarray(res.predict(design, transform=False)), np.asarray(res.predict(df.head(5)))
    )
