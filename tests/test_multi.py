"""Several penalties (issue 15): fixed lams, joint selection, inference, mgcv references."""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest
import statsmodels
import statsmodels.api as sm
from conftest import central_differences
from scipy.optimize import minimize

import priorreg as pr
from priorreg.multi_fit import _linear_problem
from priorreg.multi_kernel import evaluate

EPS = np.finfo(float).eps


def _data(n=120, seed=3):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 5))])
    y = X @ np.array([0.5, 1.0, -1.0, 0.5, 0.3, -0.2]) + rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, n)
    off = rng.normal(scale=0.1, size=n)
    B = rng.normal(size=(4, 3))
    P1 = np.diag([0.0, 1, 1, 0, 0, 0])
    P2 = np.zeros((6, 6))
    P2[2:, 2:] = B @ B.T  # overlaps P1 on column 2, rank 3
    priors = [rng.normal(size=6), rng.normal(size=6)]
    return X, y, w, off, [P1, P2], priors


def _dense_fit(X, y, w, off, Ps, priors, lams):
    A = X.T @ (w[:, None] * X) + sum(lam * P for lam, P in zip(lams, Ps, strict=True))
    rhs = X.T @ (w * (y - off)) + sum(
        lam * P @ b0 for lam, P, b0 in zip(lams, Ps, priors, strict=True)
    )
    return np.linalg.solve(A, rhs), A


def test_fixed_lams_equal_the_combined_penalty_closed_form():
    X, y, w, off, Ps, priors = _data()
    lams = np.array([3.0, 0.7])
    res = pr.PriorRidge(y, X, penalty=Ps, prior=priors, weights=w, offset=off).fit(lam=lams)
    b, A = _dense_fit(X, y, w, off, Ps, priors, lams)
    # both solve A b = rhs: error <= eps * cond(A) * k relative; 100x margin
    tol = 100 * EPS * np.linalg.cond(A) * A.shape[0]
    np.testing.assert_allclose(res.params, b, rtol=tol, atol=tol * np.abs(b).max())
    # augmented least squares: [W^1/2 X; sqrt(lam_j) R_j] b = [W^1/2 (y-o); sqrt(lam_j) R_j b0_j]
    rows_X, rows_y = [np.sqrt(w)[:, None] * X], [np.sqrt(w) * (y - off)]
    for lam, P, b0 in zip(lams, Ps, priors, strict=True):
        ev, vec = np.linalg.eigh(P)
        R = (vec * np.sqrt(np.clip(ev, 0, None))).T
        rows_X.append(np.sqrt(lam) * R)
        rows_y.append(np.sqrt(lam) * R @ b0)
    b_aug = np.linalg.lstsq(np.vstack(rows_X), np.concatenate(rows_y), rcond=None)[0]
    np.testing.assert_allclose(res.params, b_aug, rtol=tol, atol=tol * np.abs(b).max())
    # normalized covariance and edf from the dense matrices
    Ainv = np.linalg.inv(A)
    np.testing.assert_allclose(
        res.normalized_cov_params, Ainv, rtol=tol, atol=tol * np.abs(Ainv).max()
    )
    G = X.T @ (w[:, None] * X)
    assert res.edf == pytest.approx(np.trace(Ainv @ G), rel=tol)
    assert res.lam_method == "fixed"
    assert res.lam_path is None
    np.testing.assert_array_equal(res.lam, lams)


def test_component_edf_sum_and_disjoint_blocks():
    X, y, w, off, Ps, priors = _data()  # noqa: RUF059
    res = pr.PriorRidge(y, X, penalty=Ps, weights=w).fit(lam=[2.0, 5.0])
    # edf = k - sum_j lam_j tr(A^-1 P_j) = unpenalized columns + sum_j edf_j (exact identity)
    n_unpen = 1
    assert n_unpen + res.edf_components.sum() == pytest.approx(res.edf, rel=1e-12)
    Pa, Pb = np.diag([0.0, 1, 1, 0, 0, 0]), np.diag([0.0, 0, 0, 2, 1, 1])
    res2 = pr.PriorRidge(y, X, penalty=[Pa, Pb]).fit(lam=[2.0, 5.0])
    edf_params = np.asarray(res2.edf_params)
    assert res2.edf_components.iloc[0] == pytest.approx(edf_params[1:3].sum(), rel=1e-12)
    assert res2.edf_components.iloc[1] == pytest.approx(edf_params[3:].sum(), rel=1e-12)


def test_one_component_is_exactly_the_single_penalty_path():
    X, y, w, off, Ps, priors = _data()  # noqa: RUF059
    one = pr.PriorRidge(y, X, penalty=[Ps[1]], prior=[priors[0]], weights=w).fit(lam="gcv")
    today = pr.PriorRidge(y, X, penalty=Ps[1], prior=priors[0], weights=w).fit(lam="gcv")
    np.testing.assert_array_equal(one.params, today.params)
    assert one.lam == today.lam
    assert np.ndim(one.lam) == 0


@pytest.mark.parametrize("criterion", ["gcv", "ubre", "reml"])
def test_exact_derivatives_against_central_differences(criterion):
    X, y, w, off, Ps, priors = _data()
    model = pr.PriorRidge(y, X, penalty=Ps, prior=priors, weights=w, offset=off)
    prob, comps = _linear_problem(model), model.penalty_components
    rho = np.array([0.4, -0.8])
    at = lambda r: evaluate(prob, comps.matrices, comps.priors, r, criterion, scale=1.3)  # noqa: E731
    point = at(rho)
    grad, rows = central_differences(at, rho, h=1e-4)
    hess = rows.T
    # central differences: truncation h^2 |f'''| / 6 ~ 1e-8 relative, rounding eps |f| / h ~ 1e-12
    np.testing.assert_allclose(point.grad, grad, rtol=1e-6, atol=1e-6 * np.abs(grad).max())
    np.testing.assert_allclose(point.hess, hess, rtol=1e-6, atol=1e-6 * np.abs(hess).max())


def test_loocv_derivatives_and_selection_against_brute_force():
    from priorreg.multi_fit import _linear_rows
    from priorreg.multi_kernel import loocv_evaluate

    X, y, w, off, Ps, priors = _data(n=60)
    model = pr.PriorRidge(y, X, penalty=Ps, prior=priors, weights=w, offset=off)
    prob, comps = _linear_problem(model), model.penalty_components
    rows = _linear_rows(model)
    at = lambda r: loocv_evaluate(prob, comps.matrices, comps.priors, r, *rows)  # noqa: E731
    rho = np.array([0.4, -0.8])
    point = at(rho)

    def brute(r):  # n refits without row i
        lams = np.exp(r)
        total = 0.0
        for i in range(y.size):
            keep = np.arange(y.size) != i
            b, _ = _dense_fit(X[keep], y[keep], w[keep], off[keep], Ps, priors, lams)
            total += w[i] * (y[i] - off[i] - X[i] @ b) ** 2
        return total / y.size

    # the closed form and the n refits: eps cond(A) ~ 1e-13 relative
    assert point.value == pytest.approx(brute(rho), rel=1e-10)
    grad, rows = central_differences(at, rho, h=1e-4)
    hess = rows.T
    # central differences: truncation ~h^2 = 1e-8 relative, rounding eps |V| / h ~ 1e-12
    np.testing.assert_allclose(point.grad, grad, rtol=1e-6, atol=1e-6 * np.abs(grad).max())
    np.testing.assert_allclose(point.hess, hess, rtol=1e-6, atol=1e-6 * np.abs(hess).max())
    res = model.fit(lam="loocv")
    opt = minimize(brute, np.log(np.asarray(res.lam)) + 0.3, method="Nelder-Mead",
                   options={"xatol": 1e-6, "fatol": 1e-12, "maxiter": 400})
    assert res.loocv <= opt.fun * (1 + 1e-9)
    assert res.loocv == pytest.approx(opt.fun, rel=1e-8)


def _dense_criterion(X, y, w, Ps, priors, rho, criterion):
    """Independent dense evaluation: explicit hat matrix and determinants."""
    lams = np.exp(rho)
    off = np.zeros_like(y)
    b, A = _dense_fit(X, y, w, off, Ps, priors, lams)
    n = y.size
    r = y - X @ b
    rss = float(np.sum(w * r**2))
    H = X @ np.linalg.solve(A, X.T * w)
    edf = np.trace(H)
    if criterion == "gcv":
        return n * rss / (n - edf) ** 2
    S = sum(lam * P for lam, P in zip(lams, Ps, strict=True))
    ev = np.linalg.eigvalsh(S)
    pos = ev > ev.max() * 1e-10
    mp = S.shape[0] - pos.sum()
    dp = rss + sum(
        lam * (b - b0) @ P @ (b - b0) for lam, P, b0 in zip(lams, Ps, priors, strict=True)
    )
    return 0.5 * (
        (n - mp) * (np.log(2 * np.pi * dp / (n - mp)) + 1)
        + np.linalg.slogdet(A)[1]
        - np.sum(np.log(ev[pos]))
        - np.sum(np.log(w))
    )


@pytest.mark.parametrize("criterion", ["gcv", "reml"])
def test_joint_selection_matches_a_general_optimizer(criterion):
    X, y, w, off, Ps, priors = _data()  # noqa: RUF059
    res = pr.PriorRidge(y, X, penalty=Ps, prior=priors, weights=w).fit(lam=criterion)
    rho = np.log(np.asarray(res.lam))
    opt = minimize(
        lambda t: _dense_criterion(X, y, w, Ps, priors, t, criterion),
        rho + 0.5,
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-13, "maxiter": 5000},
    )
    ours = _dense_criterion(X, y, w, Ps, priors, rho, criterion)
    # the same minimum: values agree to the optimizers' tolerances (fatol, and
    # Newton's |g| <= 1e-7 (1 + |V|) times |step|)
    assert ours <= opt.fun + 1e-9 * (1 + abs(opt.fun))
    # rho: |d rho| <= sqrt(2 dV / lambda_min(H)) with dV ~ 1e-12 relative -> 1e-4 with margin
    np.testing.assert_allclose(rho, opt.x, atol=1e-3)
    assert res.lam_path.shape[0] >= 1
    assert res.lam_path[criterion].iloc[-1] == pytest.approx(
        res.selection.value, rel=1e-12
    )


def test_reml_value_matches_the_single_penalty_factor():
    X, y, w, off, Ps, priors = _data()  # noqa: RUF059
    model = pr.PriorRidge(y, X, penalty=Ps, prior=priors, weights=w)
    res = model.fit(lam=[1.5, 0.3])
    point = evaluate(
        _linear_problem(model),
        model.penalty_components.matrices,
        model.penalty_components.priors,
        np.log([1.5, 0.3]),
        "reml",
        order=0,
    )
    # two implementations (Gram + Cholesky here, path factor there); cond ~ 1e2
    assert point.value == pytest.approx(res.reml, rel=1e-10)
    assert _dense_criterion(X, y, w, Ps, priors, np.log([1.5, 0.3]), "reml") == pytest.approx(
        res.reml, rel=1e-10
    )


def test_unconditional_covariance_from_finite_differences():
    X, y, w, off, Ps, priors = _data()  # noqa: RUF059
    model = pr.PriorRidge(y, X, penalty=Ps, prior=priors, weights=w)
    res = model.fit(lam="reml", cov_type="unconditional")
    base = model.fit(lam=np.asarray(res.lam))
    rho = np.log(np.asarray(res.lam))
    h = 1e-4
    J = np.zeros((6, 2))
    Hm = np.zeros((2, 2))
    f = lambda t: _dense_criterion(X, y, w, Ps, priors, t, "reml")  # noqa: E731
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        up, down = model.fit(lam=np.exp(rho + e)), model.fit(lam=np.exp(rho - e))
        J[:, j] = (up.params - down.params) / (2 * h)
        for i in range(2):
            d = np.zeros(2)
            d[i] = h
            Hm[i, j] = (f(rho + e + d) - f(rho + e - d) - f(rho - e + d) + f(rho - e - d)) / (
                4 * h * h
            )
    expected = base.cov_params() + J @ np.linalg.inv(Hm) @ J.T
    # finite differences: truncation ~h^2, rounding eps |V| / h^2 ~ 1e-5 relative on H
    np.testing.assert_allclose(
        res.cov_params(), expected, rtol=1e-3, atol=1e-6 * np.abs(expected).max()
    )
    assert np.all(res.bse >= base.bse)


def test_groups_from_formula_and_lam_by_name():
    rng = np.random.default_rng(5)
    n = 150
    df = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x1", "x2", "x3"])
    df["g"] = rng.choice(list("abc"), n)
    df["y"] = df.x1 - df.x2 + 0.5 * df.x3 + (df.g == "b") + rng.normal(size=n)
    model = pr.PriorRidge.from_formula(
        "y ~ x1 + x2 + x3 + C(g)", df, penalty={"old": ["x1", "x2"], "new": "x3 + C(g)"}
    )
    comps = model.penalty_components
    np.testing.assert_array_equal(np.diagonal(comps.matrices[0]), [0, 0, 0, 1, 1, 0])
    np.testing.assert_array_equal(np.diagonal(comps.matrices[1]), [0, 1, 1, 0, 0, 1])
    res = model.fit(lam={"new": 2.0, "old": 0.5})
    assert list(res.lam.index) == ["old", "new"]
    np.testing.assert_array_equal(res.lam.to_numpy(), [0.5, 2.0])
    sel = model.fit(lam="reml")
    assert list(sel.lam_path.columns[:2]) == ["lam[old]", "lam[new]"]
    text = str(sel.summary())
    assert "old (group): lam =" in text
    assert "new (group): lam =" in text
    share = sel.data_share()
    assert list(share.per_component.index) == ["old", "new"]


def test_bad_input_is_a_clear_error():
    X, y, w, off, Ps, priors = _data()  # noqa: RUF059
    model = pr.PriorRidge(y, X, penalty=Ps)
    with pytest.raises(ValueError, match="give 2 values"):
        model.fit(lam=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=">= 0"):
        model.fit(lam=[1.0, -2.0])
    with pytest.raises(ValueError, match="lams= is a grid"):
        model.fit(lam="gcv", lams=[1.0, 2.0])
    with pytest.raises(ValueError, match="not available with several penalties"):
        model.fit(lam="aic")
    with pytest.raises(ValueError, match="by name"):
        model.fit(lam={"a": 1.0, "b": 2.0})
    with pytest.raises(ValueError, match="penalty component 2"):
        pr.PriorRidge(y, X, penalty=[Ps[0], np.ones(3)])
    with pytest.raises(ValueError, match="not in the design"):
        pr.PriorRidge(y, X, penalty={"a": ["x1"], "b": ["nope"]})


def test_glm_fixed_lams_minimise_the_penalized_deviance():
    X, y, w, off, Ps, priors = _data()  # noqa: RUF059
    rng = np.random.default_rng(11)
    counts = rng.poisson(np.exp(0.3 * X[:, 1] - 0.2 * X[:, 3]))
    lams = np.array([4.0, 0.5])
    res = pr.PriorGLM(counts, X, family=sm.families.Poisson(), penalty=Ps, prior=priors).fit(
        lam=lams
    )

    def objective(b):
        mu = np.exp(X @ b)
        safe = np.where(counts > 0, counts, 1)
        dev = 2 * np.sum(np.where(counts > 0, counts * np.log(safe / mu), 0) - (counts - mu))
        pen = sum(
            lam * (b - b0) @ P @ (b - b0) for lam, P, b0 in zip(lams, Ps, priors, strict=True)
        )
        grad = -2 * X.T @ (counts - mu) + 2 * sum(
            lam * P @ (b - b0) for lam, P, b0 in zip(lams, Ps, priors, strict=True)
        )
        return dev + pen, grad

    opt = minimize(objective, np.zeros(6), jac=True, method="BFGS", options={"gtol": 1e-10})
    # BFGS to |grad| <= 1e-10 with a Hessian of norm ~1e2: |db| <= 1e-10 / lambda_min(H) ~ 1e-9
    np.testing.assert_allclose(res.params, opt.x, atol=1e-7)
    assert res.converged


# ------------------------------------------------------------ mgcv references
_GAM_TESTS = os.path.join(os.path.dirname(statsmodels.__file__), "gam", "tests")


def _autos():
    from statsmodels.formula._manager import FormulaManager
    from statsmodels.gam.smooth_basis import BSplines

    df = pd.read_csv(os.path.join(_GAM_TESTS, "results", "autos.csv"))
    df = df[["city_mpg", "fuel", "drive", "weight", "hp"]].dropna()
    mgr = FormulaManager()
    exog = np.asarray(mgr.get_matrices("fuel + drive", data=df))
    # exactly as statsmodels' TestGAMMPGBS, which matches mgcv's basis and penalty
    bs = BSplines(
        df[["weight", "hp"]].values,
        df=[12, 10],
        degree=[3, 3],
        variable_names=["weight", "hp"],
        constraints="center",
        include_intercept=True,
    )
    X = np.column_stack([exog, bs.basis])
    k = X.shape[1]
    Ps, start = [], exog.shape[1]
    for smoother in bs.smoothers:
        P = np.zeros((k, k))
        size = smoother.dim_basis
        P[start : start + size, start : start + size] = smoother.cov_der2
        Ps.append(P)
        start += size
    return df["city_mpg"].to_numpy(dtype=float), X, Ps


def _reference(name):
    sys.path.insert(0, os.path.join(_GAM_TESTS, "results"))
    try:
        return __import__(name)
    finally:
        sys.path.pop(0)


# mgcv minimises D + sum sp_j b'S_j b with S_j = cov_der2 / S_scale_j (statsmodels'
# test_smooth: cov_der2 = S * S_scale), so with P_j = cov_der2 our lam_j = sp_j / S_scale_j.
# S_scale is printed to 7 digits in statsmodels' tests: lam carries a relative error
# <= 5e-7, which moves coefficients and criteria by at most that times their
# sensitivity d/d rho (<= 1 here): tolerances 1e-6 below (5e-7 with 2x margin and more).
_S_SCALE = np.array([2.443955e-06, 0.007945455])


def test_mgcv_gaussian_two_smooths_gcv():
    ref = _reference("results_mpg_bs").mpg_bs
    y, X, Ps = _autos()
    model = pr.PriorRidge(y, X, penalty=Ps)
    fixed = model.fit(lam=ref.sp / _S_SCALE)
    np.testing.assert_allclose(fixed.params, ref.coefficients, rtol=1e-5)
    np.testing.assert_allclose(fixed.fittedvalues, ref.fitted_values, rtol=1e-6)
    assert fixed.gcv == pytest.approx(ref.gcv_ubre, rel=1e-6)
    assert fixed.edf == pytest.approx(np.sum(ref.edf_all), rel=1e-6)
    res = model.fit(lam="gcv")
    # mgcv's "magic" stopped where GCV still slopes (d GCV / d log sp_1 = 0.011):
    # our minimum is lower, and a general optimizer started near it agrees with it
    assert res.gcv <= ref.gcv_ubre
    prob, comps = _linear_problem(model), model.penalty_components
    opt = minimize(
        lambda t: evaluate(prob, comps.matrices, comps.priors, t, "gcv", order=0).value,
        np.log(np.asarray(res.lam)) + 0.3,
        method="Nelder-Mead",
        options={"xatol": 1e-6, "fatol": 1e-12, "maxiter": 800},
    )
    # fatol 1e-12 on a criterion ~5: values agree to 1e-11 relative; 10x margin
    assert res.gcv == pytest.approx(opt.fun, rel=1e-10)
    np.testing.assert_allclose(np.log(np.asarray(res.lam)), opt.x, atol=1e-3)


def test_mgcv_poisson_two_smooths_ubre():
    ref = _reference("results_mpg_bs_poisson").mpg_bs_poisson
    y, X, Ps = _autos()
    model = pr.PriorGLM(y, X, family=sm.families.Poisson(), penalty=Ps)
    fixed = model.fit(lam=ref.sp / _S_SCALE)
    np.testing.assert_allclose(fixed.params, ref.coefficients, rtol=1e-6, atol=1e-8)
    assert fixed.deviance == pytest.approx(ref.deviance, rel=1e-6)
    assert fixed.ubre == pytest.approx(ref.gcv_ubre, rel=1e-6)
    res = model.fit(lam="ubre")
    # outer iteration on UBRE at converged fits, as mgcv: at the optimum UBRE is flat,
    # so the printed 15 digits and our lam's 7-digit conversion agree to ~1e-13; 1e-10
    assert res.ubre == pytest.approx(ref.gcv_ubre, rel=1e-10)
    # lam: |d rho| <= sqrt(2 dV / h) with dV ~ 1e-14 and h = d2 UBRE/d rho^2 ~ 1e-8..1e-5
    # here (smooths near their null space): 1e-3 in rho covers it
    np.testing.assert_allclose(np.asarray(res.lam) * _S_SCALE, ref.sp, rtol=1e-3)
    assert list(res.lam_path["stage"].unique()) == ["performance", "outer"]


@pytest.mark.parametrize(
    ("family", "criterion"),
    [
        (sm.families.Binomial(link=sm.families.links.Probit()), "ubre"),
        (sm.families.Gamma(link=sm.families.links.Log()), "gcv"),
        (sm.families.Poisson(), "aic"),
    ],
)
def test_outer_gradient_against_central_differences(family, criterion):
    from priorreg.multi_outer import _evaluate

    X, y, w, off, Ps, priors = _data()  # noqa: RUF059
    rng = np.random.default_rng(2)
    eta = 0.3 * X[:, 1] - 0.4 * X[:, 3]
    if isinstance(family, sm.families.Binomial):
        resp = (rng.uniform(size=y.size) < family.link.inverse(eta)).astype(float)
    elif isinstance(family, sm.families.Gamma):
        resp = rng.gamma(2.0, np.exp(eta) / 2.0)
    else:
        resp = rng.poisson(np.exp(eta)).astype(float)
    # small priors: from the random ones, priorreg.irls's Gamma step halving
    # overflows exp (a warning raised inside the single-penalty IRLS)
    model = pr.PriorGLM(resp, X, family=family, penalty=Ps, prior=[0.1 * p for p in priors])
    comps = model.penalty_components
    rho = np.array([0.7, -0.4])
    start = np.asarray(model.fit(lam=np.exp(rho)).params)
    # tol=0: IRLS runs all 60 steps, to rounding level (Fisher scoring converges
    # only linearly for non-canonical links)
    at = lambda r: _evaluate(model, comps, r, criterion, 1.0, start, 60, 0.0)  # noqa: E731
    point = at(rho)
    h = 1e-4
    fd = np.zeros(2)
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        fd[j] = (at(rho + e).value - at(rho - e).value) / (2 * h)
    # truncation h^2 ~ 1e-8; IRLS at rounding level: rounding ~1e-15 |V| / h ~ 1e-11
    np.testing.assert_allclose(point.grad, fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())


def test_information_of_an_old_model_and_a_ridge_on_new_columns_is_pooled_ols():
    rng = np.random.default_rng(8)
    old_df = pd.DataFrame(rng.normal(size=(300, 2)), columns=["x1", "x2"])
    old_df["y"] = 1 + old_df.x1 - 0.5 * old_df.x2 + rng.normal(size=300)
    new_df = pd.DataFrame(rng.normal(size=(80, 3)), columns=["x1", "x2", "x3"])
    new_df["y"] = 1.2 + new_df.x1 - 0.4 * new_df.x2 + 0.3 * new_df.x3 + rng.normal(size=80)
    old = pr.PriorRidge.from_formula("y ~ x1 + x2", old_df).fit(lam=0)
    model = pr.PriorRidge.from_formula(
        "y ~ x1 + x2 + x3", new_df, prior=[old, None], penalty=["information", ["x3"]]
    )
    res = model.fit(lam=[1.0, 0.0])
    # lam = 1 on the old fit's information: the old data enter as if pooled (with
    # x3 = 0 on the old rows, which never saw it); lam = 0 leaves x3 to the data
    pooled = pd.concat([old_df.assign(x3=0.0), new_df], ignore_index=True)
    ols = sm.OLS.from_formula("y ~ x1 + x2 + x3", pooled).fit()
    # both solve the same normal equations, cond ~ 10: 1e-12 with a wide margin
    np.testing.assert_allclose(res.params, ols.params, rtol=1e-10)
    assert res.components.kinds == ["information", "group"]
    sel = model.fit(lam="reml")
    assert np.all(np.asarray(sel.lam) > 0)


def test_mgcv_two_cyclic_smooths_gcv():
    from statsmodels.formula._manager import FormulaManager
    from statsmodels.gam.smooth_basis import CyclicCubicSplines

    df = pd.read_csv(os.path.join(_GAM_TESTS, "results", "autos.csv"))
    df = df[["city_mpg", "fuel", "drive", "weight", "hp"]].dropna()
    mgr = FormulaManager()
    exog = np.asarray(mgr.get_matrices("fuel + drive", data=df))
    # as statsmodels' TestGAMMPG: mgcv's s(weight, bs="cc", k=7) + s(hp, bs="cc", k=6)
    cc = CyclicCubicSplines(df[["weight", "hp"]].values, df=[6, 5], constraints="center")
    X = np.column_stack([exog, cc.basis])
    k = X.shape[1]
    Ps, start = [], exog.shape[1]
    for smoother in cc.smoothers:
        P = np.zeros((k, k))
        size = smoother.dim_basis
        P[start : start + size, start : start + size] = smoother.cov_der2
        Ps.append(P)
        start += size
    # mgcv's sp (GCV) and S.scale, 15 digits, from statsmodels' TestGAMMPG
    sp = np.array([6.46225497484073, 0.81532465890585])
    s_scale = np.array([2.95973613706629e-07, 0.000126203730141359])
    model = pr.PriorRidge(df["city_mpg"].to_numpy(dtype=float), X, penalty=Ps)
    fixed = model.fit(lam=sp / s_scale)
    pred = pd.read_csv(os.path.join(_GAM_TESTS, "results", "autos_predict.csv"))
    # the same lam to 15 digits: agreement to eps cond(A) k ~ 1e-12 (12+ printed digits)
    np.testing.assert_allclose(fixed.fittedvalues, pred["fit"], rtol=1e-10)
    np.testing.assert_allclose(fixed.get_prediction().se_mean, pred["se_fit"], rtol=1e-10)
    res = model.fit(lam="gcv")
    # GCV at its minimum is flat: dV ~ 1e-12 relative moves rho by sqrt(2 dV / h) ~ 1e-5
    # (h = d2 GCV / d rho^2 ~ 1e-2 here): sp within 1e-4, GCV within 1e-10
    np.testing.assert_allclose(np.asarray(res.lam) * s_scale, sp, rtol=1e-4)
    assert res.gcv == pytest.approx(fixed.gcv, rel=1e-10)


@pytest.mark.parametrize("criterion", ["gcv", "reml"])
def test_gaussian_glm_equals_the_linear_model(criterion):
    X, y, w, off, Ps, priors = _data()  # noqa: RUF059
    lin = pr.PriorRidge(y, X, penalty=Ps, prior=priors).fit(lam=criterion)
    glm = pr.PriorGLM(y, X, penalty=Ps, prior=priors).fit(lam=criterion)
    # the same criterion of the same linear problem; both searches stop at
    # |g| <= 1e-7 (1 + |V|): rho agrees to ~1e-6, coefficients to ~1e-7
    np.testing.assert_allclose(np.log(np.asarray(glm.lam)), np.log(np.asarray(lin.lam)), atol=1e-4)
    np.testing.assert_allclose(glm.params, lin.params, rtol=1e-5, atol=1e-7)


def test_edge_warning_once_and_at_the_callers_line():
    rng = np.random.default_rng(6)
    X = np.column_stack([np.ones(200), rng.normal(size=(200, 4))])
    y = X @ np.array([1.0, 2.0, -1.0, 0.0, 0.0]) + rng.normal(size=200)
    # the prior is the truth on columns 1-2 and the columns 3-4 carry nothing:
    # both lams run to the upper edge, one warning names both
    prior = np.array([0.0, 2.0, -1.0, 0.0, 0.0])
    Ps = [np.diag([0, 1.0, 1, 0, 0]), np.diag([0, 0, 0, 1.0, 1])]
    model = pr.PriorRidge(y, X, prior=prior, penalty=Ps)
    with pytest.warns(pr.LamOnEdgeWarning) as caught:
        model.fit(lam="reml")
    assert len(caught) == 1
    assert caught[0].filename == __file__
