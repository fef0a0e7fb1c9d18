"""Bounds on the coefficients (issue 14): specification, solvers, criteria, results.

Oracles: scipy.optimize.lsq_linear (BVLS) on the dense augmented system;
refits of the free columns with the active ones as an offset (unbounded
PriorRidge / PriorGLM, whose own oracles are in test_linear/test_glm);
dense hat matrices; L-BFGS-B on the penalized deviance with its analytic
gradient; glum's lower_bounds.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.optimize import lsq_linear, minimize

import priorreg as pr
from priorreg.bounds import resolve_bounds

EPS = np.finfo(float).eps


def _data(seed: int = 0, n: int = 80, k: int = 6) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    beta = np.r_[1.0, 0.8, -0.6, 0.3, -0.2, 0.05][:k]
    y = X @ beta + rng.normal(size=n)
    df = pd.DataFrame(X[:, 1:], columns=[f"x{j}" for j in range(1, k)])
    df["y"] = y
    return X, y, df


# ------------------------------------------------------------------ specification
def test_nonnegative_leaves_unpenalized_intercept_free() -> None:
    b = resolve_bounds("nonnegative", ["const", "a", "b"], 0, np.array([0.0, 1.0, 1.0]))
    assert b.lower.tolist() == [-np.inf, 0.0, 0.0]
    assert b.upper.tolist() == [np.inf] * 3
    # a penalized intercept is bounded like the others
    b = resolve_bounds("nonnegative", ["const", "a"], 0, np.array([1.0, 1.0]))
    assert b.lower.tolist() == [0.0, 0.0]


def test_dict_and_pairs() -> None:
    names = ["Intercept", "a", "b"]
    w = np.array([0.0, 1.0, 1.0])
    b = resolve_bounds({"a": (None, 2.0), "const": (-1, 1)}, names, 0, w)
    assert b.lower.tolist() == [-1.0, -np.inf, -np.inf]
    assert b.upper.tolist() == [1.0, 2.0, np.inf]
    assert b.as_dict() == {"Intercept": [-1.0, 1.0], "a": [None, 2.0]}
    b2 = resolve_bounds([(None, None), (0, 1), (0.5, 0.5)], names, 0, w)
    assert b2.lower.tolist() == [-np.inf, 0.0, 0.5]
    assert b2.upper.tolist() == [np.inf, 1.0, 0.5]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"zz": (0, 1)}, r"not in the design: \['zz'\]\. Valid column names: \['Intercept', 'a'"),
        ([(0, 1)], "1 .* pairs; the design has 3 columns"),
        ({"a": (2, 1)}, "lower 2 > upper 1"),
        ({"a": (np.inf, np.inf)}, "no finite value feasible"),
        ({"a": (None, -np.inf)}, "no finite value feasible"),
        ({"a": (np.nan, 1)}, "NaN"),
        ({"a": 3.0}, r"\(lower, upper\) pair"),
        ("positive", "not known; use 'nonnegative'"),
    ],
)
def test_bad_bounds_are_clear_errors(spec: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resolve_bounds(spec, ["Intercept", "a", "b"], 0, np.array([0.0, 1, 1]))


def test_bad_bounds_from_the_model_before_fitting() -> None:
    X, y, df = _data()
    with pytest.raises(ValueError, match="Valid column names"):
        pr.PriorRidge.from_formula("y ~ x1 + x2", df, bounds={"x9": (0, None)})
    with pytest.raises(ValueError, match="lower 1 > upper 0"):
        pr.PriorGLM(y, X, bounds=[(None, None)] * 5 + [(1, 0)])


# ------------------------------------------------------------------ linear solver
def _augmented(X, y, b0, L, lam, w=None, offset=None):
    """Dense augmented system: OLS on [W^1/2 X; sqrt(lam) R] with L = R'R."""
    sw = np.ones(len(y)) if w is None else np.sqrt(w)
    yo = y if offset is None else y - offset
    s, U = np.linalg.eigh(L)
    s = np.clip(s, 0, None)
    Rl = (U * np.sqrt(s)).T
    A = np.vstack([X * sw[:, None], np.sqrt(lam) * Rl])
    c = np.r_[yo * sw, np.sqrt(lam) * Rl @ b0]
    return A, c


@pytest.mark.parametrize("lam", [0.0, 0.7, 30.0])
@pytest.mark.parametrize("full_penalty", [False, True])
def test_linear_matches_lsq_linear_on_augmented_system(lam: float, full_penalty: bool) -> None:
    X, y, _ = _data(1)
    rng = np.random.default_rng(5)
    n, k = X.shape
    w = rng.uniform(0.5, 2.0, n)
    offset = rng.normal(scale=0.1, size=n)
    b0 = np.array([0.5, -0.3, 0.4, 0.6, 0.0, -0.1])  # partly outside the bounds
    if full_penalty:
        G = rng.normal(size=(k - 1, k - 1))
        L = np.zeros((k, k))
        L[1:, 1:] = G @ G.T / k + np.eye(k - 1)
    else:
        L = np.diag(np.r_[0.0, np.ones(k - 1)])
    lower = np.r_[-np.inf, 0.0, 0.0, -np.inf, 0.1, -0.05]
    upper = np.r_[np.inf, np.inf, 0.2, 0.35, np.inf, 0.05]
    lo_spec = np.where(np.isfinite(lower), lower, None)
    hi_spec = np.where(np.isfinite(upper), upper, None)
    bounds = list(zip(lo_spec, hi_spec, strict=True))
    model = pr.PriorRidge(y, X, prior=b0, penalty=L, weights=w, offset=offset, bounds=bounds)
    res = model.fit(lam=lam)
    A, c = _augmented(X, y, b0, L, lam, w, offset)
    ref = lsq_linear(A, c, bounds=(lower, upper), method="bvls", tol=1e-14)
    params = np.asarray(res.params)
    assert np.all(params >= lower)
    assert np.all(params <= upper)
    # both are backward-stable solutions of the same strictly convex problem on
    # the same active set: error <~ eps * cond(A) * |b| per solver (cond ~ 10 here);
    # 1e4 x eps x cond is a margin of >100x over that
    tol = 1e4 * EPS * np.linalg.cond(A) * max(1.0, np.abs(ref.x).max())
    np.testing.assert_allclose(params, ref.x, rtol=0, atol=tol)
    assert np.array_equal(np.asarray(res.active_bounds), ref.active_mask != 0)
    assert res.active_bounds.any()


def test_inside_the_bounds_is_the_unbounded_fit() -> None:
    X, y, _ = _data(2)
    free = pr.PriorRidge(y, X).fit(lam=1.0)
    wide = [(None, None)] + [(-100.0, 100.0)] * 5
    res = pr.PriorRidge(y, X, bounds=wide).fit(lam=1.0)
    assert not res.active_bounds.any()
    np.testing.assert_array_equal(np.asarray(res.params), np.asarray(free.params))
    np.testing.assert_array_equal(np.asarray(res.bse), np.asarray(free.bse))


def test_prior_outside_the_bounds_is_allowed() -> None:
    X, y, _ = _data(3)
    res = pr.PriorRidge(y, X, prior=[0, -5, -5, -5, -5, -5], bounds="nonnegative").fit(lam=1e6)
    # a huge lam pulls towards the prior, so the bounds hold the estimates at 0
    assert np.all(np.asarray(res.params)[1:] == 0.0)
    assert res.active_bounds.iloc[1:].all()
    assert not res.active_bounds.iloc[0]


# ------------------------------------------------------ free-set inference/criteria
def _free_refit(X, y, res, lam, prior=None):
    """Unbounded PriorRidge on the free columns with the active ones as an offset."""
    act = np.asarray(res.active_bounds)
    params = np.asarray(res.params)
    b0 = np.zeros(X.shape[1]) if prior is None else np.asarray(prior)
    m = pr.PriorRidge(y, X[:, ~act], prior=b0[~act], offset=X[:, act] @ params[act])
    return m.fit(lam=lam), act


def test_free_set_edf_criteria_and_inference_by_refit() -> None:
    X, y, _df = _data(4)
    bounds = [(None, None), (0, None), (None, -0.1), (0, 0.2), (0, None), (0, None)]
    m = pr.PriorRidge(y, X, bounds=bounds)
    lam = 3.0
    res = m.fit(lam=lam)
    ref, act = _free_refit(X, y, res, lam)
    assert act.sum() >= 2
    params = np.asarray(res.params)
    # same convex problem solved two ways: eps * cond(X'X + lam L) ~ 1e-14; 1e-10 is >1000x
    np.testing.assert_allclose(params[~act], np.asarray(ref.params), rtol=1e-10, atol=1e-12)
    for name in ("edf", "gcv", "reml", "loocv", "scale", "ssr"):
        np.testing.assert_allclose(getattr(res, name), getattr(ref, name), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(res.bse)[~act], np.asarray(ref.bse), rtol=1e-10)
    assert np.all(np.isnan(np.asarray(res.bse)[act]))
    assert np.all(np.isnan(np.asarray(res.tvalues)[act]))
    assert np.all(np.isnan(np.asarray(res.pvalues)[act]))
    np.testing.assert_allclose(np.asarray(res.hat_diag), np.asarray(ref.hat_diag), rtol=1e-10)
    # dense: edf is the trace of the free columns' hat matrix
    XF = X[:, ~act]
    LF = np.diag(np.r_[0.0, np.ones(XF.shape[1] - 1)])
    H = XF @ np.linalg.solve(XF.T @ XF + lam * LF, XF.T)
    np.testing.assert_allclose(res.edf, np.trace(H), rtol=1e-10)


def test_nondiagonal_penalty_free_set_has_the_conditional_prior() -> None:
    X, y, _ = _data(6)
    rng = np.random.default_rng(0)
    G = rng.normal(size=(5, 5))
    L = np.zeros((6, 6))
    L[1:, 1:] = G @ G.T / 5 + 0.5 * np.eye(5)
    bounds = [(None, None), (0, None), (None, -0.1), (0, 0.2), (0, None), (0, None)]
    lam = 2.0
    res = pr.PriorRidge(y, X, penalty=L, bounds=bounds).fit(lam=lam)
    act = np.asarray(res.active_bounds)
    params = np.asarray(res.params)
    F = ~act
    # the free problem: offset X_A b_A, penalty L_FF, prior shifted by -L_FF^-1 L_FA b_A
    shift = -np.linalg.solve(L[np.ix_(F, F)][1:, 1:], (L[np.ix_(F, act)] @ params[act])[1:])
    prior = np.r_[0.0, shift]
    ref = pr.PriorRidge(
        y, X[:, F], prior=prior, penalty=L[np.ix_(F, F)], offset=X[:, act] @ params[act]
    ).fit(lam=lam)
    np.testing.assert_allclose(params[F], np.asarray(ref.params), rtol=1e-10, atol=1e-12)
    for name in ("edf", "gcv", "reml"):
        np.testing.assert_allclose(getattr(res, name), getattr(ref, name), rtol=1e-10)


@pytest.mark.parametrize("criterion", ["gcv", "reml", "loocv"])
def test_selection_with_bounds_by_brute_force(criterion: str) -> None:
    X, y, _ = _data(7, n=60)
    bounds = [(None, None), (0, None), (0, None), (0, None), (0, None), (0, None)]
    m = pr.PriorRidge(y, X, bounds=bounds)
    grid = np.logspace(-2, 3, 15)
    res = m.fit(lam=criterion, lams=grid)
    path = res.lam_path
    for lam, value in zip(path["lam"][::4], path[criterion][::4], strict=True):
        fixed = m.fit(lam=float(lam))
        ref, _ = _free_refit(X, y, fixed, float(lam))
        # criteria agree to rounding (see test_free_set_...): 1e-10 relative
        np.testing.assert_allclose(value, getattr(ref, criterion), rtol=1e-10)
    # the optimum is no worse than any grid point
    assert getattr(res, criterion) <= path[criterion].min() * (1 + 1e-12)
    assert res.lam_method == criterion


# ------------------------------------------------------------------ GLM
def _penalized_deviance(family, X, y, b, b0, L, lam):
    mu = family.link.inverse(X @ b)
    return family.deviance(y, mu) + lam * (b - b0) @ L @ (b - b0)


def _gradient(family, X, y, b, b0, L, lam):
    """d/db of the deviance plus penalty: -2 X' (y - mu) / (V(mu) g'(mu)) + 2 lam L (b - b0)."""
    mu = family.link.inverse(X @ b)
    score = (y - mu) / (family.variance(mu) * family.link.deriv(mu))
    return -2 * X.T @ score + 2 * lam * L @ (b - b0)


@pytest.mark.parametrize(
    "family",
    [
        sm.families.Poisson(),
        sm.families.Poisson(sm.families.links.Identity()),
        sm.families.Binomial(),
        sm.families.Gamma(sm.families.links.Log()),
    ],
    ids=["poisson-log", "poisson-identity", "binomial-logit", "gamma-log"],
)
def test_glm_matches_direct_bounded_minimisation(family) -> None:
    rng = np.random.default_rng(11)
    n = 200
    X = np.column_stack([np.ones(n), rng.uniform(0, 1, size=(n, 3))])
    eta_true = X @ [0.4, 0.8, -0.5, 0.3]
    if isinstance(family, sm.families.Binomial):
        y = rng.binomial(1, 1 / (1 + np.exp(-eta_true))).astype(float)
    elif isinstance(family, sm.families.Gamma):
        y = rng.gamma(2.0, np.exp(eta_true) / 2.0)
    elif isinstance(family.link, sm.families.links.Identity):
        y = rng.poisson(X @ [1.0, 2.0, 0.0, 0.5]).astype(float)
    else:
        y = rng.poisson(np.exp(eta_true)).astype(float)
    b0 = np.array([0.0, 0.2, -1.0, 0.1])
    L = np.diag([0.0, 1.0, 1.0, 1.0])
    lam = 2.0
    lower = np.array([0.05, 0.0, 0.0, 0.0])  # keeps identity-link means > 0
    upper = np.array([np.inf, np.inf, np.inf, 0.2])
    bounds = [(0.05, None), (0, None), (0, None), (0, 0.2)]
    res = pr.PriorGLM(y, X, family=family, prior=b0, bounds=bounds).fit(lam=lam, tol=1e-13)
    assert res.converged
    params = np.asarray(res.params)
    opt = minimize(
        lambda b: _penalized_deviance(family, X, y, b, b0, L, lam),
        np.r_[1.0, 0.1, 0.1, 0.1],
        jac=lambda b: _gradient(family, X, y, b, b0, L, lam),
        method="L-BFGS-B",
        bounds=list(zip(lower, upper, strict=True)),
        options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10_000},
    )
    f_ours = _penalized_deviance(family, X, y, params, b0, L, lam)
    # ours is the exact constrained optimum: no worse than L-BFGS-B beyond rounding
    assert f_ours <= opt.fun * (1 + 1e-12)
    active = np.asarray(res.active_bounds)
    assert np.array_equal(active, (params == lower) | (params == upper))
    assert active[2]  # the negative effect is held at 0
    # KKT conditions with the analytic gradient (independent of priorreg): zero on
    # the free set, pointing outwards at an active bound. IRLS (Fisher scoring)
    # stopped after a relative change below 1e-13, so the gradient is below
    # ~sqrt(1e-13) ~ 3e-7 of its scale; 1e-5 is a 30x margin
    grad = _gradient(family, X, y, params, b0, L, lam)
    mu = family.link.inverse(X @ params)
    scale = 2 * np.abs(X).T @ np.abs((y - mu) / (family.variance(mu) * family.link.deriv(mu)))
    scale = scale + 2 * lam * np.abs(L) @ np.abs(params - b0) + 1.0
    assert np.all(np.abs(grad[~active]) <= 1e-5 * scale[~active])
    at_lower = active & (params == lower)
    assert np.all(grad[at_lower] >= -1e-5 * scale[at_lower])
    assert np.all(grad[active & ~at_lower] <= 1e-5 * scale[active & ~at_lower])
    # L-BFGS-B stops when the objective changes by less than ftol |f| or the
    # projected gradient is below gtol: its distance to the optimum is at most
    # sqrt(2 ftol |f| / h) + gtol / h, h the smallest eigenvalue of the Hessian
    # (Fisher information + 2 lam L) on the free set; 10x margin
    W = 1 / (family.variance(mu) * family.link.deriv(mu) ** 2)
    H = 2 * (X.T * W) @ X + 2 * lam * L
    h = np.linalg.eigvalsh(H[np.ix_(~active, ~active)]).min()
    bound = np.sqrt(2 * 1e-15 * max(abs(opt.fun), 1.0) / h) + 1e-12 / h
    np.testing.assert_allclose(params, opt.x, rtol=0, atol=10 * bound + 1e-12)


def test_glm_matches_glum_lower_bounds() -> None:
    import glum  # in the test extra: a missing glum is a failure, not a skip
    rng = np.random.default_rng(3)
    n = 300
    Z = rng.normal(size=(n, 4))
    y = rng.poisson(np.exp(0.3 + Z @ [0.5, -0.4, 0.2, 0.0])).astype(float)
    X = np.column_stack([np.ones(n), Z])
    lam = 5.0
    res = pr.PriorGLM(y, X, family=sm.families.Poisson(), bounds="nonnegative").fit(
        lam=lam, tol=1e-14
    )
    # glum minimises D/(2 n) + alpha/2 |b|^2 (intercept unpenalized): times 2n this
    # is D + n alpha |b|^2, so alpha = lam / n
    model = glum.GeneralizedLinearRegressor(
        family="poisson", alpha=lam / n, l1_ratio=0.0, lower_bounds=np.zeros(4),
        gradient_tol=1e-12, max_iter=1000,
    )  # fmt: skip
    model.fit(Z, y)
    ref = np.r_[model.intercept_, model.coef_]
    # glum stops at gradient_tol 1e-12 on the scaled objective (1/(2n)): coefficient
    # error ~ 2n * 1e-12 / lambda_min(Hessian ~ n) ~ 1e-12. IRLS (Newton for the
    # canonical link) converges quadratically, so after a step changing the objective
    # by < 1e-14 relative its error is of the order of that change; 1e-8 is a wide margin
    np.testing.assert_allclose(np.asarray(res.params), ref, atol=1e-8)
    assert res.active_bounds.iloc[2]


def test_glm_free_set_by_refit_and_selection() -> None:
    rng = np.random.default_rng(8)
    n = 250
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    y = rng.poisson(np.exp(X @ [0.2, 0.5, -0.4, 0.1])).astype(float)
    fam = sm.families.Poisson()
    m = pr.PriorGLM(y, X, family=fam, bounds="nonnegative")
    res = m.fit(lam=1.5, tol=1e-13)
    act = np.asarray(res.active_bounds)
    assert act.any()
    params = np.asarray(res.params)
    ref = pr.PriorGLM(y, X[:, ~act], family=fam, offset=X[:, act] @ params[act]).fit(
        lam=1.5, tol=1e-13
    )
    # IRLS to a relative change of 1e-13 in the penalized deviance: parameters to ~1e-7
    np.testing.assert_allclose(params[~act], np.asarray(ref.params), rtol=1e-6, atol=1e-7)
    for name in ("edf", "deviance", "aic", "reml", "loocv", "ubre"):
        np.testing.assert_allclose(getattr(res, name), getattr(ref, name), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(res.bse)[~act], np.asarray(ref.bse), rtol=1e-6)
    assert np.all(np.isnan(np.asarray(res.bse)[act]))
    sel = m.fit(lam="aic")
    assert sel.lam_method == "aic"
    assert np.all(np.asarray(sel.params)[1:] >= 0)
    grid_best = sel.lam_path["aic"].min()
    assert sel.aic <= grid_best * (1 + 1e-12)


# ------------------------------------------------------------------ results, prior, CLI
def test_summary_marks_and_states_bounds() -> None:
    _, _, df = _data(9)
    res = pr.PriorRidge.from_formula("y ~ x1 + x2 + x3", df, bounds={"x2": (0, None)}).fit(lam=1.0)
    assert res.active_bounds["x2"]
    text = str(res.summary())
    assert "x2 *" in text
    assert "Bounds: x2 in [0, inf]" in text
    assert "conditional on which bounds are active" in text


def test_save_prior_records_bounds_and_refine_keeps_them(tmp_path) -> None:
    _, _, df = _data(10, n=120)
    res = pr.PriorRidge.from_formula("y ~ x1 + x2 + x3", df.iloc[:80], bounds="nonnegative").fit(
        lam=1.0
    )
    path = tmp_path / "prior.json"
    res.save_prior(path)
    assert json.loads(path.read_text())["bounds"] == "nonnegative"
    assert pr.load_prior(path).meta["bounds"] == "nonnegative"
    new = res.refine(df.iloc[80:], lam=2.0)
    assert new.model.bounds.spec == "nonnegative"
    assert np.all(np.asarray(new.params)[1:] >= 0)
    unbounded = res.refine(df.iloc[80:], lam=2.0, bounds=None)
    assert unbounded.model.bounds is None


def test_cli_bounds(tmp_path) -> None:
    from priorreg.cli import main

    _, _, df = _data(12)
    data = tmp_path / "d.csv"
    df.to_csv(data, index=False)
    bfile = tmp_path / "b.json"
    bfile.write_text(json.dumps({"x2": [0, None], "x3": [None, 0.1]}))
    for spec in ("nonnegative", str(bfile)):
        argv = ["fit", "y ~ x1 + x2 + x3", "--data", str(data), "--lam", "1", "--bounds", spec]
        assert main(argv) == 0


@pytest.mark.parametrize(
    ("content", "match"), [("[1, 2]", "JSON object"), ('{"zz": [0, null]}', "Valid column names")]
)
def test_cli_bad_bounds(tmp_path, capsys, content: str, match: str) -> None:
    from priorreg.cli import main

    _, _, df = _data(12)
    data = tmp_path / "d.csv"
    df.to_csv(data, index=False)
    bfile = tmp_path / "b.json"
    bfile.write_text(content)
    assert main(["fit", "y ~ x1", "--data", str(data), "--lam", "1", "--bounds", str(bfile)]) == 2
    err = capsys.readouterr().err
    assert match in err
    assert "Traceback" not in err


def test_sandwich_path_and_coef_path_under_bounds() -> None:
    X, y, _ = _data(13)
    bounds = [(None, None), (0, None), (0, None), (0, None), (0, None), (0, None)]
    m = pr.PriorRidge(y, X, bounds=bounds)
    res = m.fit(lam=2.0, cov_type="sandwich")
    ref, act = _free_refit(X, y, res, 2.0)
    ref_sw = pr.PriorRidge(
        y, X[:, ~act], offset=X[:, act] @ np.asarray(res.params)[act]
    ).fit(lam=2.0, cov_type="sandwich")
    # same closed forms on the same free problem: rounding only (see above)
    np.testing.assert_allclose(np.asarray(res.bse)[~act], np.asarray(ref_sw.bse), rtol=1e-10)
    lams = [0.5, 2.0, 8.0]
    path = m.coef_path(lams)
    for row, lam in zip(path, lams, strict=True):
        np.testing.assert_array_equal(row, np.asarray(m.fit(lam=lam).params))
    assert np.all(path[:, 1:] >= 0)
    table = m.path(lams)
    np.testing.assert_allclose(table["gcv"].iloc[1], res.gcv, rtol=1e-12)
    np.testing.assert_allclose(table["edf"].iloc[1], ref.edf, rtol=1e-10)


def test_glm_bounds_none_is_the_unbounded_fit() -> None:
    X, y, _ = _data(14)
    counts = np.round(np.exp(0.1 * y)).astype(float)
    fam = sm.families.Poisson()
    a = pr.PriorGLM(counts, X, family=fam, bounds=None).fit(lam=1.0)
    b = pr.PriorGLM(counts, X, family=fam).fit(lam=1.0)
    np.testing.assert_array_equal(np.asarray(a.params), np.asarray(b.params))
    assert not hasattr(a, "active_bounds")


def test_wide_design_matches_lsq_linear() -> None:
    """More coefficients than observations (the dual factor) under bounds."""
    rng = np.random.default_rng(15)
    n, k = 30, 60
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    y = X[:, :5] @ [1.0, 2.0, -1.0, 0.5, -0.5] + rng.normal(size=n)
    lam = 3.0
    res = pr.PriorRidge(y, X, bounds="nonnegative").fit(lam=lam)
    L = np.diag(np.r_[0.0, np.ones(k - 1)])
    A, c = _augmented(X, y, np.zeros(k), L, lam)
    lower = np.r_[-np.inf, np.zeros(k - 1)]
    ref = lsq_linear(A, c, bounds=(lower, np.inf), method="bvls", tol=1e-14)
    # as in the tall case: eps * cond(A) per solver, 1e4 x that is a >100x margin
    tol = 1e4 * EPS * np.linalg.cond(A) * max(1.0, np.abs(ref.x).max())
    np.testing.assert_allclose(np.asarray(res.params), ref.x, rtol=0, atol=tol)
    assert np.array_equal(np.asarray(res.active_bounds), ref.active_mask != 0)


def test_identity_poisson_starts_feasible_and_keeps_means_positive() -> None:
    """The clipped prior gives mu = 0 here; the fit must find a valid start."""
    rng = np.random.default_rng(17)
    n = 300
    X = np.column_stack([np.ones(n), rng.uniform(0, 1, size=(n, 3))])
    y = rng.poisson(X @ [1.0, 2.0, 0.0, 0.5]).astype(float)
    fam = sm.families.Poisson(sm.families.links.Identity())
    m = pr.PriorGLM(y, X, family=fam, prior=[0.0, 0.0, -1.0, 0.0], bounds="nonnegative")
    res = m.fit(lam=1.0, tol=1e-13)
    assert res.converged
    assert np.all(np.asarray(res.fittedvalues) > 0)
    params = np.asarray(res.params)
    assert np.all(params[1:] >= 0)
    assert res.active_bounds["x2"]
    # KKT with the analytic gradient (see test_glm_matches_direct_bounded_minimisation)
    b0, L = np.array([0.0, 0.0, -1.0, 0.0]), np.diag([0.0, 1.0, 1.0, 1.0])
    grad = _gradient(fam, X, y, params, b0, L, 1.0)
    free = ~np.asarray(res.active_bounds)
    assert np.all(np.abs(grad[free]) <= 1e-5 * (np.abs(X).T @ np.abs(y) + 1.0)[free])
    assert grad[2] >= 0


def test_bounds_that_leave_no_valid_mean_are_a_clear_error() -> None:
    rng = np.random.default_rng(18)
    X = np.column_stack([np.ones(50), rng.uniform(0.5, 1.0, size=(50, 2))])
    y = rng.poisson(2.0, size=50).astype(float)
    fam = sm.families.Poisson(sm.families.links.Identity())
    m = pr.PriorGLM(y, X, family=fam, bounds=[(None, 0.0), (None, 0.0), (None, 0.0)])
    # every feasible b gives mu = X b <= 0: no Poisson mean is valid
    with pytest.raises(ValueError, match="no starting point inside the bounds gives valid means"):
        m.fit(lam=1.0)


@pytest.mark.parametrize("scale", [None, "dev"])
def test_glm_estimated_scale_on_the_free_set(scale) -> None:
    rng = np.random.default_rng(19)
    n = 200
    X = np.column_stack([np.ones(n), rng.uniform(0, 1, size=(n, 3))])
    y = rng.gamma(3.0, np.exp(X @ [0.5, 0.6, -0.4, 0.2]) / 3.0)
    fam = sm.families.Gamma(sm.families.links.Log())
    res = pr.PriorGLM(y, X, family=fam, bounds="nonnegative").fit(lam=1.0, tol=1e-13, scale=scale)
    act = np.asarray(res.active_bounds)
    assert act.any()
    params = np.asarray(res.params)
    ref = pr.PriorGLM(y, X[:, ~act], family=fam, offset=X[:, act] @ params[act]).fit(
        lam=1.0, tol=1e-13, scale=scale
    )
    # IRLS to 1e-13 relative change on both fits (see test_glm_free_set_by_refit_...)
    for name in ("scale", "edf", "deviance"):
        np.testing.assert_allclose(getattr(res, name), getattr(ref, name), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(res.bse)[~act], np.asarray(ref.bse), rtol=1e-6)


def test_unconditional_covariance_is_refused_under_bounds() -> None:
    X, y, _ = _data(20)
    with pytest.raises(ValueError, match="'unconditional' is not available with bounds"):
        pr.PriorRidge(y, X, bounds="nonnegative").fit(lam="reml", cov_type="unconditional")


def test_bounds_with_several_penalties_are_refused() -> None:
    X, y, _ = _data(21)
    pens = [np.r_[0.0, 1, 1, 0, 0, 0], np.r_[0.0, 0, 0, 1, 1, 1]]
    for model in (pr.PriorRidge, pr.PriorGLM):
        with pytest.raises(ValueError, match="several penalties is not available"):
            model(y, X, penalty=pens, bounds="nonnegative")
