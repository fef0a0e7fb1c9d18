"""PriorRidge end to end against statsmodels, scikit-learn and dense formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from bounds import EPS, MARGIN, assert_close_normwise, cond, lstsq_rtol, solve_rtol
from conftest import random_problem
from scipy import stats

import priorreg as pr


@pytest.fixture
def frame(rng):
    n = 80
    df = pd.DataFrame(
        {
            "x1": rng.normal(2, 3, n),
            "x2": rng.uniform(0, 10, n),
            "g": rng.choice(["a", "b", "c"], n),
            "w": rng.uniform(0.5, 2, n),
        }
    )
    df["y"] = (
        1 + 0.5 * df.x1 - 0.3 * df.x2 + df.g.map({"a": 0, "b": 1, "c": -1}) + rng.normal(size=n)
    )
    return df


# ------------------------------------------------------------------ lam = 0
@pytest.mark.parametrize("weighted", [False, True])
def test_lam_zero_equals_statsmodels_ols_wls(frame, weighted):
    w = frame["w"] if weighted else None
    formula = "y ~ x1 + x2 + C(g)"
    ours = pr.PriorRidge.from_formula(formula, frame, weights=w).fit(lam=0.0)
    ref = (
        sm.WLS.from_formula(formula, frame, weights=frame["w"])
        if weighted
        else sm.OLS.from_formula(formula, frame)
    ).fit()
    # both QR-class (statsmodels: pinv by SVD): coefficients within
    # lstsq_rtol (Higham 20.1, ~1e-10 here, cond(X) ~ 20); the covariance
    # (X'WX)^-1 within n k eps cond(X)^2 x 10 (~1e-10)
    Xw = ref.model.wexog
    tol = lstsq_rtol(Xw, ref.params, ref.wresid)
    cov_tol = MARGIN * 2 * Xw.size * EPS * cond(Xw) ** 2
    assert_close_normwise(ours.params, ref.params, tol)
    assert_close_normwise(ours.bse, ref.bse, cov_tol)
    assert_close_normwise(ours.conf_int(), ref.conf_int(), tol + cov_tol)
    # p = 2 sf(|t|): d log p / dt <= |t| + 1, so rtol(p) <= (|t| + 1) |t| rtol(t)
    t_max = np.max(np.abs(ref.tvalues))
    np.testing.assert_allclose(
        ours.pvalues, ref.pvalues, rtol=(t_max + 1) * t_max * (tol + cov_tol)
    )
    assert_close_normwise(ours.fittedvalues, ref.fittedvalues, tol)
    # sums of squares: relative error <= 2 tol (residual route) + n eps (the sum)
    for name in ["scale", "rsquared", "llf", "aic", "bic", "df_resid", "df_model", "ssr"]:
        assert getattr(ours, name) == pytest.approx(getattr(ref, name), rel=2 * tol), name
    assert list(ours.params.index) == list(ref.params.index)
    frame_pred = ours.get_prediction(frame.head(5)).summary_frame(alpha=0.1)
    ref_pred = ref.get_prediction(frame.head(5), weights=1.0).summary_frame(alpha=0.1)
    # means within tol, standard errors within cov_tol, t quantiles equal
    assert_close_normwise(frame_pred.to_numpy(), ref_pred.to_numpy(), tol + cov_tol)
    # LOOCV at lam=0 equals statsmodels' PRESS residuals
    # (WLS via OLS on sqrt(w)-scaled rows, whose PRESS residuals are weighted ones)
    sw = np.sqrt(frame["w"].to_numpy()) if weighted else np.ones(len(frame))
    scaled = sm.OLS(ref.model.endog * sw, ref.model.exog * sw[:, None]).fit()
    press = scaled.get_influence().resid_press
    # PRESS r_i / (1 - h_ii): h_ii <= 0.2 here, so the residuals' tol grows by <= 1.25^2
    assert ours.loocv == pytest.approx(np.mean(press**2), rel=4 * (tol + cov_tol))


def test_ols_t_and_wald_tests_match(frame):
    ours = pr.PriorRidge.from_formula("y ~ x1 + x2", frame).fit(lam=0.0)
    ref = sm.OLS.from_formula("y ~ x1 + x2", frame).fit()
    # params and covariance within tol (Higham 20.1 and n k eps cond^2, x 10);
    # t = (b - c) / se: 2 tol relative; p = 2 sf(|t|): times (|t| + 1) |t|
    X = ref.model.exog
    tol = lstsq_rtol(X, ref.params, ref.resid) + MARGIN * 2 * X.size * EPS * cond(X) ** 2
    ref_t = ref.t_test("x1 = 0.5")
    t = abs(float(np.squeeze(ref_t.tvalue)))
    assert ours.t_test("x1 = 0.5").pvalue == pytest.approx(ref_t.pvalue, rel=(t + 1) * t * 2 * tol)
    ours_w = ours.wald_test("x1 = 0.5, x2 = 0", scalar=True)
    ref_w = ref.wald_test("x1 = 0.5, x2 = 0", scalar=True)
    assert ours_w.statistic == pytest.approx(ref_w.statistic, rel=3 * tol)  # a quadratic form


# ----------------------------------------------------------- penalized fits
def test_plain_ridge_equals_sklearn(rng):
    from sklearn.linear_model import Ridge

    X, y, _, w, _, _ = random_problem(rng, 60, 5)
    lam = 7.5
    ours = pr.PriorRidge(y, X, weights=w).fit(lam=lam)
    ref = Ridge(alpha=lam, fit_intercept=True).fit(X[:, 1:], y, sample_weight=w)
    # both solve A b = X'Wy, A = X'WX + lam L, backward stably: solve_rtol(A)
    A = X.T @ (w[:, None] * X) + lam * np.diag([0.0, 1, 1, 1, 1])
    tol = solve_rtol(A)
    assert_close_normwise(ours.params, np.r_[ref.intercept_, ref.coef_], tol)


def test_prior_centred_fit_equals_dense_closed_form_and_covariances(rng):
    X, y, b0, w, offset, L = random_problem(rng, 50, 6, kind="dense")
    lam = 2.0
    res = pr.PriorRidge(y, X, prior=b0, penalty=L, weights=w, offset=offset).fit(
        lam=lam, cov_type="sandwich"
    )
    W = np.diag(w)
    A = X.T @ W @ X + lam * L
    b = np.linalg.solve(A, X.T @ W @ (y - offset) + lam * L @ b0)
    # two backward-stable solves of A: solve_rtol(A) normwise (10x margin)
    tol = solve_rtol(A)
    assert_close_normwise(res.params, b, tol)
    Ainv = np.linalg.inv(A)
    H = X @ Ainv @ X.T @ W
    edf = np.trace(H)
    r = y - offset - X @ b
    scale = np.sum(w * r**2) / (50 - edf)
    # edf = tr(A^-1 X'WX) <= k: absolute error <= k * tol
    assert res.edf == pytest.approx(edf, abs=6 * tol)
    np.testing.assert_allclose(res.edf_params, np.diag(Ainv @ X.T @ W @ X), rtol=0, atol=6 * tol)
    assert res.edf_params.sum() == pytest.approx(edf, abs=6 * tol)
    # RSS: relative error <= cond(X_w)^2-free here: residuals within tol of ||X b|| / ||r||
    r_tol = tol * np.linalg.norm(X @ b) / np.linalg.norm(r)
    assert res.scale == pytest.approx(scale, rel=2 * r_tol + 6 * tol)
    assert_close_normwise(res.normalized_cov_params, Ainv, tol)
    sandwich = scale * Ainv @ X.T @ W @ X @ Ainv
    assert_close_normwise(res.cov_params(), sandwich, 3 * tol + 2 * r_tol)
    bayes = pr.PriorRidge(y, X, prior=b0, penalty=L, weights=w, offset=offset).fit(lam=lam)
    assert_close_normwise(bayes.cov_params(), scale * Ainv, tol + 2 * r_tol)
    # h_ii = x_i' A^-1 x_i w_i in [0, 1]: absolute error <= tol
    np.testing.assert_allclose(bayes.hat_diag, np.diag(H), rtol=0, atol=tol)
    # intervals: t with df_resid = n - edf
    q = stats.t.ppf(0.975, 50 - edf)
    se = np.sqrt(np.diag(scale * Ainv))
    assert_close_normwise(
        bayes.conf_int(), np.column_stack([b - q * se, b + q * se]), 2 * tol + 2 * r_tol
    )
    # prediction intervals on new rows (dense)
    Xn = X[:4] + 0.1
    sf = bayes.get_prediction(Xn, offset=np.zeros(4)).summary_frame(alpha=0.05)
    var_mean = np.einsum("ij,jk,ik->i", Xn, scale * Ainv, Xn)
    # x'b and x'A^-1 x: tol relative to ||x|| ||b|| and ||x||^2 ||A^-1||
    assert_close_normwise(sf["mean"], Xn @ b, tol * np.linalg.norm(Xn) * np.linalg.norm(b)
                          / np.max(np.abs(Xn @ b)))
    assert_close_normwise(sf["mean_se"], np.sqrt(var_mean), cond(A) * tol + 2 * r_tol)
    assert_close_normwise(
        sf["obs_ci_upper"], Xn @ b + q * np.sqrt(var_mean + scale), cond(A) * tol + 2 * r_tol
    )


def test_information_prior_reproduces_pooled_ols(frame):
    first, second = frame.iloc[:50], frame.iloc[50:]
    formula = "y ~ x1 + x2 + C(g)"
    old = pr.PriorRidge.from_formula(formula, first).fit(lam=0.0)
    new = pr.PriorRidge.from_formula(formula, second, prior=old, penalty="information").fit(lam=1.0)
    pooled = sm.OLS.from_formula(formula, frame).fit()
    # exact in exact arithmetic; rounding: the first fit's (X1'X1)^-1 carries
    # n k eps cond(X1)^2 (it is inverted again: cond(X1)^2 once more is
    # absorbed, since the refit solves with the same matrix), the pooled fit
    # lstsq_rtol; ~1e-10 here (cond ~ 20)
    X1 = pooled.model.exog[:50]
    tol = lstsq_rtol(pooled.model.exog, pooled.params, pooled.resid)
    tol += MARGIN * 2 * X1.size * EPS * cond(X1) ** 2
    assert_close_normwise(new.params, pooled.params, tol)
    # a statsmodels WLS result as prior works too (names aligned, covariance reused)
    wls = sm.WLS.from_formula(formula, first, weights=first["w"]).fit()
    new_w = pr.PriorRidge.from_formula(
        formula, second, weights=second["w"], prior=wls, penalty="information"
    ).fit(lam=1.0)
    pooled_w = sm.WLS.from_formula(formula, frame, weights=frame["w"]).fit()
    Xw1 = pooled_w.model.wexog[:50]
    tol_w = lstsq_rtol(pooled_w.model.wexog, pooled_w.params, pooled_w.wresid) + (
        MARGIN * 2 * Xw1.size * EPS * cond(Xw1) ** 2
    )
    assert_close_normwise(new_w.params, pooled_w.params, tol_w)


def test_chain_of_refinements_is_sequential_bayes(frame):
    parts = [frame.iloc[:30], frame.iloc[30:55], frame.iloc[55:]]
    formula = "y ~ x1 + x2 + C(g)"
    res = pr.PriorRidge.from_formula(formula, parts[0]).fit(lam=0.0)
    for part in parts[1:]:
        res = res.refine(part, lam=1.0, penalty="information")
    pooled = sm.OLS.from_formula(formula, frame).fit()
    # three exact updates; each carries the inverse of a Gram matrix of the
    # data so far (n k eps cond^2, cond of the first 30 rows the largest) and
    # the pooled fit lstsq_rtol; 10x margin in each term
    X = pooled.model.exog
    first = MARGIN * 2 * X[:30].size * EPS * cond(X[:30]) ** 2
    tol = lstsq_rtol(X, pooled.params, pooled.resid) + 3 * first
    assert_close_normwise(res.params, pooled.params, tol)
    assert_close_normwise(res.normalized_cov_params, pooled.normalized_cov_params, tol)


def test_refine_keeps_design_when_level_missing_and_transform_statistics(frame):
    formula = "y ~ standardize(x1) + I(x2 ** 2) + C(g)"
    old = pr.PriorRidge.from_formula(formula, frame).fit(lam=0.0)
    small = frame[frame.g != "c"].iloc[:15]
    res = old.refine(small, lam=3.0)
    assert list(res.params.index) == list(old.params.index)
    # the missing level's coefficient is not informed by the new data
    # its column is zero in the new data: the solve returns the prior entry
    # up to the rounding of a solve with A (solve_rtol(A) ||b||, x 10 included)
    X = res.model.exog
    A = X.T @ X + 3.0 * np.diag(res.model.penalty_weights)
    tol = solve_rtol(A)
    slack = tol * np.linalg.norm(res.params)
    assert res.params["C(g)[T.c]"] == pytest.approx(old.params["C(g)[T.c]"], abs=slack)
    assert res.edf_params["C(g)[T.c]"] == pytest.approx(0.0, abs=tol)  # in [0, 1]: absolute
    # standardize() reuses the training mean and sd at prediction time
    m, s = frame.x1.mean(), frame.x1.std(ddof=0)  # patsy's standardize uses ddof=0
    pred = old.predict(frame.iloc[:3])
    x = frame.iloc[:3]
    manual = (
        old.params["Intercept"]
        + old.params["standardize(x1)"] * (x.x1 - m) / s
        + old.params["I(x2 ** 2)"] * x.x2**2
        + x.g.map({"a": 0.0, "b": old.params["C(g)[T.b]"], "c": old.params["C(g)[T.c]"]})
    )
    # x'b: k eps sum_j |x_j b_j|; the mean and sd recomputed here (another
    # summation order) differ by n eps relative, moving the standardized term
    # by |b_1| n eps (|m| + |x - m|) / s; 10x margin on the sum
    b = old.params.to_numpy()
    rows = old.model.exog[:3]  # frame.iloc[:3] are the first training rows (no NA)
    b1 = abs(old.params["standardize(x1)"])
    bound = rows.shape[1] * EPS * np.abs(rows) @ np.abs(b)
    bound += b1 * len(frame) * EPS * (abs(m) + np.abs(x.x1.to_numpy() - m)) / s
    np.testing.assert_array_less(np.abs(pred - manual), MARGIN * bound)
    # the same product X b twice (same rows, same order): k eps sum|x_ij b_j|, x 10
    X = old.model.exog
    bound = MARGIN * X.shape[1] * EPS * np.abs(X) @ np.abs(old.params.to_numpy())
    np.testing.assert_array_less(np.abs(old.predict(frame) - old.fittedvalues), bound + 1e-300)


def test_user_data_never_modified(frame):
    before = frame.copy(deep=True)
    prior = pd.Series({"x1": 0.4})
    prior_before = prior.copy()
    res = pr.PriorRidge.from_formula("y ~ x1 + x2 + C(g)", frame, prior=prior, weights="w").fit(
        lam="gcv"
    )
    res.refine(frame.iloc[:20], lam=1.0)
    res.predict(frame)
    pd.testing.assert_frame_equal(frame, before)
    pd.testing.assert_series_equal(prior, prior_before)


def test_prior_from_sklearn_model_and_dict(frame):
    from sklearn.linear_model import LinearRegression

    lr = LinearRegression().fit(frame[["x1", "x2"]], frame["y"])
    res = pr.PriorRidge.from_formula("y ~ x1 + x2", frame, prior=lr).fit(lam=1e12)
    # an overwhelming penalty returns the prior on the penalized coefficients:
    # ||b_p - b0_p|| <= ||X_p' M r0|| / lam (M: residual maker of the intercept),
    # ~1e-9 at lam = 1e12, plus the rounding of the solve (solve_rtol)
    X = res.model.exog
    r0 = res.model.endog - X @ res.prior.to_numpy()
    bound = np.linalg.norm(X[:, 1:].T @ (r0 - r0.mean())) / 1e12
    A = X.T @ X + 1e12 * np.diag([0.0, 1.0, 1.0])
    bound += solve_rtol(A) * np.linalg.norm(res.params)
    assert np.linalg.norm(res.params[["x1", "x2"]] - lr.coef_) <= MARGIN * bound
    np.testing.assert_array_equal(res.prior, [lr.intercept_, *lr.coef_])  # copied, not computed
    res2 = pr.PriorRidge.from_formula("y ~ x1 + x2", frame, prior={"const": 1.0, "x2": -0.3}).fit(
        lam=1.0
    )
    np.testing.assert_array_equal(res2.prior, [1.0, 0.0, -0.3])


def test_save_load_prior_round_trip_bit_for_bit(frame, tmp_path):
    old = pr.PriorRidge.from_formula("y ~ x1 + x2 + C(g)", frame.iloc[:50]).fit(lam=0.0)
    path = tmp_path / "prior.json"
    old.save_prior(path)
    loaded = pr.load_prior(path)
    np.testing.assert_array_equal(loaded.params.to_numpy(), old.params.to_numpy())
    np.testing.assert_array_equal(
        loaded.normalized_cov_params.to_numpy(), old.normalized_cov_params.to_numpy()
    )
    a = pr.PriorRidge.from_formula(
        "y ~ x1 + x2 + C(g)", frame.iloc[50:], prior=loaded, penalty="information"
    ).fit(lam=1.0)
    b = pr.PriorRidge.from_formula(
        "y ~ x1 + x2 + C(g)", frame.iloc[50:], prior=old, penalty="information"
    ).fit(lam=1.0)
    np.testing.assert_array_equal(a.params.to_numpy(), b.params.to_numpy())


def test_compatibility_test_equals_theil_formula(rng):
    X, y, b0, _, _, L = random_problem(rng, 40, 4, kind="pd", intercept=False)
    lam = 3.0
    res = pr.PriorRidge(y, X, prior=b0, penalty=L).fit(lam=lam)
    b_ols = np.linalg.lstsq(X, y, rcond=None)[0]
    s2 = np.sum((y - X @ b_ols) ** 2) / (40 - 4)
    XtX_inv = np.linalg.inv(X.T @ X)
    d = b_ols - b0
    theil = d @ np.linalg.solve(XtX_inv + np.linalg.inv(lam * L), d) / s2
    test = res.compatibility_test()
    # a quadratic form in b_ols - b0 with (X'X)^-1 + (lam L)^-1: its relative
    # error <= 2 lstsq_rtol(X) + n k eps cond(X)^2 (two inverses) x 10
    tol = lstsq_rtol(X, b_ols, y - X @ b_ols) + 2 * MARGIN * X.size * EPS * cond(X) ** 2
    assert test.statistic == pytest.approx(theil, rel=3 * tol)
    assert test.df == 4
    # p = sf(F): relative change <= |d log sf / d log F| rtol(F), and that slope <= F + 3 here
    assert test.pvalue == pytest.approx(
        stats.f.sf(theil / 4, 4, 36), rel=(theil / 4 + 3) * 3 * tol
    )


def test_compatibility_test_is_uniform_under_the_prior(rng):
    # simulate from b ~ N(b0, s2 (lam L)^-1): p-values are exactly U(0, 1)
    n, k, lam = 25, 3, 4.0
    X = rng.normal(size=(n, k))
    L = np.eye(k)
    b0 = np.array([1.0, -2.0, 0.5])
    pvals = []
    for _ in range(300):
        b = b0 + rng.normal(size=k) / np.sqrt(lam)
        y = X @ b + rng.normal(size=n)
        pvals.append(
            pr.PriorRidge(y, X, prior=b0, penalty=L).fit(lam=lam).compatibility_test().pvalue
        )
    # KS at level 0.001: fails by chance once in a thousand seeds; seed is fixed
    assert stats.kstest(pvals, "uniform").pvalue > 1e-3


def test_share_data_is_a_deprecated_alias_of_data_share(frame):
    res = pr.PriorRidge.from_formula("y ~ x1 + x2", frame, prior={"x1": 0.5}).fit(lam=50.0)
    with pytest.warns(FutureWarning, match="data_share") as record:
        old = res.share_data()
    assert record[0].filename == __file__  # points at the caller's line
    pd.testing.assert_series_equal(old.per_coefficient, res.data_share().per_coefficient)


def test_data_share_per_coefficient_and_overall(frame):
    res = pr.PriorRidge.from_formula("y ~ x1 + x2", frame, prior={"x1": 0.5}).fit(lam=50.0)
    share = res.data_share()
    # shares are entries of A^-1 X'X in [0, 1]: absolute error <= solve_rtol(A) (10x margin)
    X = res.model.exog
    tol = solve_rtol(X.T @ X + 50.0 * np.diag([0.0, 1.0, 1.0]))
    assert share.per_coefficient["Intercept"] == pytest.approx(1.0, abs=tol)
    assert 0 < share.per_coefficient["x1"] < 1
    assert share.overall == pytest.approx(res.edf / 3, abs=tol)
    text = str(res.summary())
    for needle in [
        "Penalty weight lam",
        "Lam chosen by",
        "Effective df",
        "GCV",
        "LOOCV",
        "prior",
        "unpenalized: Intercept",
        "compatibility",
        "Share of information",
    ]:
        assert needle in text, needle


def test_standardize_makes_penalty_unit_free(frame):
    base = pr.PriorRidge.from_formula("y ~ x1 + x2", frame, standardize=True).fit(lam=5.0)
    scaled = frame.assign(x1=frame.x1 * 1000.0)
    other = pr.PriorRidge.from_formula("y ~ x1 + x2", scaled, standardize=True).fit(lam=5.0)
    # the same problem in other units: each fit within solve_rtol of the exact
    # one, the scaled one's condition number taken in its own units (x 10)
    X, Xs = base.model.exog, other.model.exog
    tol = solve_rtol(X.T @ X) + solve_rtol(Xs.T @ Xs)
    b = np.linalg.norm(base.params)
    assert other.params["x1"] * 1000 == pytest.approx(base.params["x1"], abs=tol * b)
    assert other.edf == pytest.approx(base.edf, abs=3 * tol)  # edf <= k = 3


def test_difference_penalty_singular_penalty(rng):
    X, y, b0, w, offset, L = random_problem(rng, 40, 7, kind="difference")
    res = pr.PriorRidge(y, X, prior=b0, penalty=L, weights=w, offset=offset).fit(lam="reml")
    W = np.diag(w)
    A = X.T @ W @ X + res.lam * L
    b = np.linalg.solve(A, X.T @ W @ (y - offset) + res.lam * L @ b0)
    assert_close_normwise(res.params, b, solve_rtol(A))  # two backward-stable solves, x 10
    # 3 unpenalized directions: intercept and the 2-dim null space of D'D
    assert res.edf > 3.0


def test_more_coefficients_than_observations(rng):
    X, _, b0, w, _, L = random_problem(rng, 15, 30)
    y = X @ (b0 + 0.05 * rng.normal(size=30)) + rng.normal(size=15)  # informative prior
    res = pr.PriorRidge(y, X, prior=b0, weights=w).fit(lam="reml")
    W = np.diag(w)
    A = X.T @ W @ X + res.lam * L
    b = np.linalg.solve(A, X.T @ W @ y + res.lam * L @ b0)
    assert_close_normwise(res.params, b, solve_rtol(A))  # two backward-stable solves, x 10
    assert 1 <= res.edf <= 15


@pytest.mark.parametrize(("n", "k"), [(15, 40), (60, 8)])
def test_inference_without_the_dense_covariance_equals_the_dense_one(rng, n, k):
    # with a diagonal penalty, bse and edf per coefficient come from the
    # structured diagonal; the k x k matrix is formed only when asked for.
    # Oracle: the dense inverse of A = X'WX + lam L
    X, y, b0, w, _, L = random_problem(rng, n, k)
    res = pr.PriorRidge(y, X, prior=b0, weights=w).fit(lam=3.0)
    str(res.summary())
    assert callable(res._results._normalized_cov)  # not formed by the fit or the summary
    assert "_dense" not in res.model.penalty.__dict__  # nor is the k x k penalty of weights
    A = X.T @ (w[:, None] * X) + 3.0 * L
    A_inv = np.linalg.inv(A)
    # two backward-stable inverses of A differ normwise by <= 2 k eps cond(A)
    # (cond(A) ~ 1e6 for k > n here); 10x margin. Normwise: a small variance
    # may carry the absolute error of the largest one.
    tol = solve_rtol(A)
    assert_close_normwise(res.bse**2, res.scale * np.diag(A_inv), tol)
    assert_close_normwise(res.cov_params(), res.scale * A_inv, tol)
    # 1 - lam diag(A^-1 L): absolute error <= lam ||L|| ||A^-1|| times that relative one
    edf_tol = tol * 3.0 * np.linalg.norm(L, 2) * np.linalg.norm(A_inv, 2)
    np.testing.assert_allclose(res.edf_params, 1 - 3.0 * np.diag(A_inv @ L), rtol=0, atol=edf_tol)
    assert not callable(res._results._normalized_cov)


def test_predict_transform_false_takes_design_rows(frame):
    res = pr.PriorRidge.from_formula("y ~ x1 + np.log(x2 + 1) + C(g)", frame).fit(lam=2.0)
    new = frame.head(7)
    design = res.model.exog[:7]  # the same rows as the formula builds them
    by_formula = np.asarray(res.predict(new))
    by_design = np.asarray(res.predict(pd.DataFrame(design, columns=res.model.exog_names),
                                       transform=False))
    # both are the same products X b of the same numbers: equal to the last bit
    np.testing.assert_array_equal(by_design, by_formula)
    with pytest.raises(ValueError, match="transform=True"):
        res.predict(new, transform=False)  # raw data are not design rows
