"""What the summary says about its numbers; the units warning; compatibility; unconditional."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.genmod import families

import priorreg as pr
from priorreg.exceptions import PenaltyUnitsWarning


def _dense_share(X, L, lam, w=None):
    """diag((X'WX + lam L)^-1 X'WX), densely."""
    w = np.ones(X.shape[0]) if w is None else w
    G = X.T @ (w[:, None] * X)
    return np.diag(np.linalg.solve(G + lam * L, G))


def _coef_rows(res):
    """The coefficient table's rows of ``res.summary()``, split into cells by name."""
    names = [str(n) for n in res.model.exog_names]
    lines = str(res.summary()).splitlines()
    cells = [line.split() for line in lines]
    return {c[0]: c for c in cells if c and c[0] in names}


# ----------------------------------------------------------- data share notes
@pytest.fixture
def counts(rng):
    n = 80
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    y = rng.poisson(np.exp(X @ [0.5, 0.3, -0.2, 0.1]))
    return X, y


def test_negligible_share_rows_show_no_statistic_and_are_explained(counts):
    X, y = counts
    L = np.diag([0.0, 1.0, 1.0, 1.0])
    lam = 1e9  # shares ~ 1e-7: far below 1e-3
    res = pr.PriorGLM(y, X, family=families.Poisson(), prior=[0, 0.3, -0.2, 0.1]).fit(lam=lam)
    share = _dense_share(X, L, lam, np.asarray(res.mu))  # Poisson log link: W = mu
    # the dense share is computed at the same converged fit: rounding only, 1e-6 absolute
    np.testing.assert_allclose(res.data_share().per_coefficient, share, atol=1e-6)
    assert list(res.data_share().not_informative()) == list(share < 1e-3)
    text = str(res.summary())
    rows = _coef_rows(res)
    for name in ("x1", "x2", "x3"):
        assert rows[name][4:6] == ["--", "--"], rows[name]
    assert rows["const"][4] != "--"
    flat = " ".join(text.split())
    assert "Data share below 5% for x1, x2, x3: these rows restate the prior" in flat
    assert "z and P are shown as -- where the share is below 0.001 (x1, x2, x3)" in flat


def test_low_share_is_listed_without_hiding_the_statistic(rng):
    n = 50
    X = np.column_stack([np.ones(n), rng.normal(size=n), 0.01 * rng.normal(size=n)])
    y = X @ [1.0, 2.0, 30.0] + rng.normal(size=n)
    L = np.diag([0.0, 1.0, 1.0])
    lam = 1e-2 * n * 3  # x2's information ~ n * 1e-4: share ~ 0.01; x1's ~ 0.99
    res = pr.PriorRidge(y, X, penalty=[0, 1, 1]).fit(lam=lam)
    share = _dense_share(X, L, lam)
    assert 1e-3 < share[2] < 0.05 < share[1]  # the design does what the test needs
    text = " ".join(str(res.summary()).split())
    assert "Data share below 5% for x2:" in text
    assert "shown as --" not in text


def test_no_note_when_every_share_is_large(rng):
    n = 100
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = X @ [1.0, 2.0, -1.0] + rng.normal(size=n)
    res = pr.PriorRidge(y, X).fit(lam=1.0)
    assert np.all(_dense_share(X, np.diag([0.0, 1, 1]), 1.0) > 0.05)
    assert "Data share below" not in str(res.summary())
    assert all("--" not in cells for cells in _coef_rows(res).values())


# ----------------------------------------------------------- units warning
@pytest.fixture
def units_frame(rng):
    n = 60
    df = pd.DataFrame({"small": rng.normal(size=n), "big": 1000.0 * rng.normal(size=n)})
    df["y"] = 1 + df.small + 0.001 * df.big + rng.normal(size=n)
    return df


def test_units_warning_once_at_the_users_line(units_frame):
    ratio = units_frame.big.std(ddof=0) / units_frame.small.std(ddof=0)
    assert ratio > 100
    model = pr.PriorRidge.from_formula("y ~ small + big", units_frame)
    with pytest.warns(PenaltyUnitsWarning, match="standardize=True") as record:
        res = model.fit(lam=1.0)
    assert len(record) == 1
    assert record[0].filename == __file__
    message = str(record[0].message)
    assert f"{ratio:.3g}-fold" in message
    assert "big" in message
    assert 'penalty="information"' in message
    assert "default (raw columns)" in str(res.summary())
    with pytest.warns(PenaltyUnitsWarning) as record:
        old = pr.PriorRidge.from_formula("y ~ small + big", units_frame).fit(lam="gcv")
    assert [r.filename for r in record] == [__file__]
    del old


@pytest.mark.parametrize(
    "kwargs",
    [{"standardize": True}, {"penalty": [0, 1, 1]}, {"penalty": None, "lam": 0.0}],
)
def test_no_units_warning_when_the_penalty_is_units_free_or_absent(units_frame, kwargs):
    kwargs = dict(kwargs)
    lam = kwargs.pop("lam", 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = pr.PriorRidge.from_formula("y ~ small + big", units_frame, **kwargs).fit(lam=lam)
    label = "default (standardized)" if kwargs.get("standardize") else "(raw columns)"
    assert label in str(res.summary())


def test_units_warning_for_glm_too(units_frame):
    units_frame = units_frame.assign(count=np.arange(len(units_frame)) % 4)
    with pytest.warns(PenaltyUnitsWarning) as record:
        res = pr.PriorGLM.from_formula(
            "count ~ small + big", units_frame, family=sm.families.Poisson()
        ).fit(lam=2.0)
    assert [r.filename for r in record] == [__file__]
    assert "Penalty:" in str(res.summary())


# ----------------------------------------------------------- compatibility
def _two_sample_oracle(old, new):
    """Direct numpy: d'(V_old + V_new)^-1 d and both p-values, from two statsmodels fits."""
    from scipy import stats

    d = np.asarray(new.params) - np.asarray(old.params)
    V = np.asarray(old.cov_params()) + np.asarray(new.cov_params())
    stat = float(d @ np.linalg.inv(V) @ d)
    k = d.size
    return stat, stats.chi2.sf(stat, k), stats.f.sf(stat / k, k, new.df_resid)


@pytest.fixture
def two_frames(rng):
    def make(n, shift=0.0):
        df = pd.DataFrame(
            {"x1": rng.normal(size=n), "x2": rng.uniform(0, 3, n), "w": rng.uniform(0.5, 2, n)}
        )
        df["o"] = rng.normal(size=n)
        df["y"] = 1 + (0.5 + shift) * df.x1 - 0.3 * df.x2 + df.o + rng.normal(size=n)
        df["yo"] = df.y - df.o
        df["t"] = rng.uniform(1, 3, n)
        df["count"] = rng.poisson(df.t * np.exp(0.2 + 0.3 * df.x1 - 0.2 * df.x2))
        return df

    return make(150), make(30)


def test_two_sample_linear_equals_two_statsmodels_fits_at_any_lam(two_frames):
    big, small = two_frames
    old = sm.WLS.from_formula("yo ~ x1 + x2", big, weights=big["w"]).fit()
    new = sm.WLS.from_formula("yo ~ x1 + x2", small, weights=small["w"]).fit()
    stat, p_chi2, p_f = _two_sample_oracle(old, new)
    model = pr.PriorRidge.from_formula(
        "y ~ x1 + x2", small, prior=old, weights="w", offset="o"
    )
    tests = [model.fit(lam=lam).compatibility_test() for lam in (0.3, 30.0, 3e4)]
    for t in tests:
        assert t.method == "two-sample"
        # two QR-class solves of cond ~ 10 systems: eps * cond^2 * k ~ 1e-13; 1e-9 is far above
        assert t.statistic == pytest.approx(stat, rel=1e-9)
        assert t.chi2_pvalue == pytest.approx(p_chi2, rel=1e-8)
        assert t.f_pvalue == pytest.approx(p_f, rel=1e-8)
        assert t.pvalue == t.f_pvalue  # the new data's scale is estimated: F form
        assert (t.df, t.df_denom, t.distribution) == (3, new.df_resid, "F")
        assert "two-sample" in str(t)
    assert tests[0].statistic == tests[1].statistic == tests[2].statistic  # lam plays no part


def test_two_sample_from_a_prior_file_equals_the_results_object(two_frames, tmp_path):
    big, small = two_frames
    old = pr.PriorRidge.from_formula("y ~ x1 + x2", big).fit(lam=0.0)
    old.save_prior(tmp_path / "old.json")
    a = pr.PriorRidge.from_formula("y ~ x1 + x2", small, prior=old).fit(lam=1.0)
    b = pr.PriorRidge.from_formula(
        "y ~ x1 + x2", small, prior=pr.load_prior(tmp_path / "old.json")
    ).fit(lam=1.0)
    # JSON round-trips floats exactly: only the product scale * ncov is rounded again
    stat_a = a.compatibility_test().statistic
    assert b.compatibility_test().statistic == pytest.approx(stat_a, rel=1e-12)
    ols = [sm.OLS.from_formula("y ~ x1 + x2", frame).fit() for frame in (big, small)]
    ref = _two_sample_oracle(*ols)
    assert a.compatibility_test().statistic == pytest.approx(ref[0], rel=1e-9)


def test_two_sample_poisson_with_exposure_equals_two_statsmodels_glms(two_frames):
    big, small = two_frames
    kw = {"family": sm.families.Poisson()}
    old = sm.GLM.from_formula("count ~ x1 + x2", big, exposure=big["t"], **kw).fit(tol=1e-13)
    new = sm.GLM.from_formula("count ~ x1 + x2", small, exposure=small["t"], **kw).fit(tol=1e-13)
    stat, p_chi2, _ = _two_sample_oracle(old, new)
    res = pr.PriorGLM.from_formula(
        "count ~ x1 + x2", small, prior=old, exposure="t", **kw
    ).fit(lam=5.0)
    t = res.compatibility_test()
    # IRLS to a relative deviance change of 1e-12 (ours) and 1e-13: estimates agree to
    # ~sqrt(1e-12) = 1e-6 relative; the statistic moves with d: rel 1e-5 (10x)
    assert t.statistic == pytest.approx(stat, rel=1e-5)
    assert t.pvalue == pytest.approx(p_chi2, rel=1e-5)
    assert t.distribution == "chi2"  # known scale: the chi-square form


def test_theil_is_kept_and_named_where_two_samples_cannot_be_compared(two_frames):
    big, small = two_frames
    old = pr.PriorRidge.from_formula("y ~ x1 + x2", big).fit(lam=0.0)
    vector = pr.PriorRidge.from_formula("y ~ x1 + x2", small, prior=np.asarray(old.params))
    t = vector.fit(lam=1.0).compatibility_test()
    assert t.method == "theil"
    assert "Theil, at the fitted lam" in str(t)
    tiny = pr.PriorRidge.from_formula("y ~ x1 + x2", small.head(3), prior=old).fit(lam=1.0)
    assert tiny.compatibility_test().method == "theil"  # n <= k
    # a level absent from the new data: its column is 0, the unpenalized fit is singular
    big = big.assign(g=np.where(np.arange(len(big)) % 2, "a", "b"))
    small = small.assign(g="a")
    old_g = pr.PriorRidge.from_formula("y ~ x1 + x2 + C(g)", big).fit(lam=0.0)
    res = old_g.refine(small, lam=1.0)
    assert res.compatibility_test().method == "theil"


def test_two_sample_detects_a_moved_slope_that_theil_at_gcv_lam_misses(rng):
    # the scenario: the new slope moved by many standard errors
    n_old, n_new = 400, 25
    X_old = np.column_stack([np.ones(n_old), rng.normal(size=(n_old, 2))])
    X_new = np.column_stack([np.ones(n_new), rng.normal(size=(n_new, 2))])
    y_old = X_old @ [1.0, 0.5, -0.3] + rng.normal(size=n_old)
    y_new = X_new @ [1.0, 2.5, -0.3] + rng.normal(size=n_new)  # slope + ~10 SE
    old = pr.PriorRidge(y_old, X_old).fit(lam=0.0)
    res = pr.PriorRidge(y_new, X_new, prior=old).fit(lam="gcv")
    assert res.compatibility_test().pvalue < 1e-6


def _uniformity_bound(reps):
    """Kolmogorov-Smirnov: P(D > 1.95 / sqrt(reps)) ~ 0.001 under uniform p-values."""
    return 1.95 / np.sqrt(reps)


def test_two_sample_pvalues_are_uniform_under_the_null_linear(rng):
    from scipy import stats

    reps, beta = 300, np.array([1.0, 0.5, -0.3])
    pvals = []
    for _ in range(reps):
        X_old = np.column_stack([np.ones(400), rng.normal(size=(400, 2))])
        X_new = np.column_stack([np.ones(12), rng.normal(size=(12, 2))])
        old = pr.PriorRidge(X_old @ beta + rng.normal(size=400), X_old).fit(lam=0.0)
        new_y = X_new @ beta + rng.normal(size=12)
        res = pr.PriorRidge(new_y, X_new, prior=old).fit(lam=1.0)
        pvals.append(res.compatibility_test().pvalue)
    # V_old is 1/33 of V_new here: the F form is exact up to that share (slightly conservative)
    assert stats.kstest(pvals, "uniform").statistic < _uniformity_bound(reps)
    # size at 5%: binomial sd sqrt(.05 * .95 / 300) = 0.0126; 3 sd either side
    assert abs(np.mean(np.asarray(pvals) < 0.05) - 0.05) < 3 * 0.0126


def test_two_sample_pvalues_are_uniform_under_the_null_poisson(rng):
    from scipy import stats

    reps, beta = 200, np.array([0.5, 0.3, -0.2])
    pvals = []
    for _ in range(reps):
        X_old = np.column_stack([np.ones(300), rng.normal(size=(300, 2))])
        X_new = np.column_stack([np.ones(80), rng.normal(size=(80, 2))])
        old = sm.GLM(rng.poisson(np.exp(X_old @ beta)), X_old, family=sm.families.Poisson()).fit()
        y_new = rng.poisson(np.exp(X_new @ beta))
        res = pr.PriorGLM(y_new, X_new, family=sm.families.Poisson(), prior=old).fit(lam=1.0)
        pvals.append(res.compatibility_test().pvalue)
    # asymptotic chi-square with 80 and 300 counts of mean ~2: close to uniform
    assert stats.kstest(pvals, "uniform").statistic < _uniformity_bound(reps)


# ----------------------------------------------------------- unconditional covariance
def _upper_chol_of_inverse(A):
    """Upper-triangular C with C C' = A^-1, densely (reversed Cholesky of the inverse)."""
    Ainv = np.linalg.inv(A)
    return np.linalg.cholesky(Ainv[::-1, ::-1])[::-1, ::-1]


def _dense_reml(X, y, L, lam, k0):
    """Negative restricted log-likelihood, scale profiled out (DESIGN section 1), densely."""
    n = X.shape[0]
    A = X.T @ X + lam * L
    b = np.linalg.solve(A, X.T @ y)
    pen_rss = np.sum((y - X @ b) ** 2) + lam * b @ L @ b
    s2 = pen_rss / (n - k0)
    ev = np.linalg.eigvalsh(lam * L)
    logdet_pen = np.sum(np.log(ev[ev > 1e-9 * ev.max()]))
    return 0.5 * ((n - k0) * (np.log(2 * np.pi * s2) + 1) + np.linalg.slogdet(A)[1] - logdet_pen)


@pytest.fixture
def wide_problem(rng):
    n, k = 40, 20
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    y = X @ np.r_[1.0, 0.2 * rng.normal(size=k - 1)] + rng.normal(size=n)
    return X, y


def test_unconditional_equals_bayes_at_a_fixed_lam(wide_problem):
    X, y = wide_problem
    model = pr.PriorRidge(y, X)
    a, b = model.fit(lam=3.0), model.fit(lam=3.0, cov_type="unconditional")
    np.testing.assert_array_equal(np.asarray(b.cov_params()), np.asarray(a.cov_params()))
    np.testing.assert_array_equal(b.bse, a.bse)


def test_unconditional_linear_equals_dense_assembly_and_is_never_narrower(wide_problem):
    X, y = wide_problem
    k = X.shape[1]
    model = pr.PriorRidge(y, X)
    bayes = model.fit(lam="reml")
    res = model.fit(lam="reml", cov_type="unconditional")
    lam, scale = res.lam, res.scale
    L = np.diag(np.r_[0.0, np.ones(k - 1)])
    # independent pieces: J by central differences of the coefficient path (h = 1e-4:
    # error h^2 ~ 1e-8 relative), the REML curvature from the dense REML (h = 1e-3:
    # truncation ~1e-6, rounding eps * 100 / h^2 ~ 2e-8), dC/drho from dense Cholesky
    # factors of the inverse (h = 1e-4)
    h = 1e-4
    path = model.coef_path([lam * np.exp(-h), lam * np.exp(h)])
    J = (path[1] - path[0]) / (2 * h)
    hr = 1e-3
    reml = [_dense_reml(X, y, L, lam * np.exp(t), 1) for t in (-hr, 0.0, hr)]
    curv = (reml[0] - 2 * reml[1] + reml[2]) / hr**2
    dC = (
        _upper_chol_of_inverse(X.T @ X + lam * np.exp(h) * L)
        - _upper_chol_of_inverse(X.T @ X + lam * np.exp(-h) * L)
    ) / (2 * h)
    Vb = scale * np.linalg.inv(X.T @ X + lam * L)
    expected = Vb + np.outer(J, J) / curv + scale / (curv + 0.1) * dC @ dC.T
    assert res.reml_curvature == pytest.approx(curv, rel=1e-4)
    # the errors above are relative to the matrix, not to each (possibly tiny) entry
    scale_v = np.abs(expected).max()
    np.testing.assert_allclose(np.asarray(res.cov_params()), expected, rtol=0, atol=1e-4 * scale_v)
    # never narrower: the added terms are positive semi-definite
    extra = np.asarray(res.cov_params()) - np.asarray(bayes.cov_params())
    assert np.linalg.eigvalsh(extra).min() > -1e-12 * np.abs(extra).max()
    assert np.all(res.bse >= bayes.bse)
    assert np.any(res.bse > 1.01 * bayes.bse)


def test_unconditional_glm_uses_the_derivative_of_converged_fits(rng):
    n = 150
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 5))])
    y = rng.poisson(np.exp(0.3 + X[:, 1:] @ [0.3, -0.2, 0.1, 0.0, 0.2]))
    model = pr.PriorGLM(y, X, family=sm.families.Poisson())
    res = model.fit(lam="reml", cov_type="unconditional", tol=1e-13)
    bayes = model.fit(lam=res.lam, tol=1e-13)
    lam = res.lam
    # finite differences of converged fits: h = 1e-2 gives truncation ~1e-4 relative;
    # fits converged to 1e-13 in deviance move the estimates by ~3e-7, /2h ~ 2e-5
    h = 1e-2
    fits = [model.fit(lam=lam * np.exp(t), tol=1e-13) for t in (-h, h)]
    J = (np.asarray(fits[1].params) - np.asarray(fits[0].params)) / (2 * h)
    hr = 0.1
    reml = [model.fit(lam=lam * np.exp(t), tol=1e-13).reml for t in (-hr, 0.0, hr)]
    curv = (reml[0] - 2 * reml[1] + reml[2]) / hr**2
    W = np.asarray(bayes.mu)  # Poisson, log link: the working weights are the means
    L = np.diag(np.r_[0.0, np.ones(5)])
    A = X.T @ (W[:, None] * X) + lam * L
    dC = (_upper_chol_of_inverse(A + lam * (np.exp(h) - 1) * L) - _upper_chol_of_inverse(
        A + lam * (np.exp(-h) - 1) * L
    )) / (2 * h)
    expected = np.linalg.inv(A) + np.outer(J, J) / curv + dC @ dC.T / (curv + 0.1)
    # exact (Poisson, log link) against h = 0.1: truncation ~1e-3 relative, 10x margin
    assert res.reml_curvature == pytest.approx(curv, rel=1e-2)
    scale_v = np.abs(expected).max()
    np.testing.assert_allclose(np.asarray(res.cov_params()), expected, rtol=0, atol=1e-3 * scale_v)
    assert np.all(res.bse >= bayes.bse)
    fixed = model.fit(lam=lam, cov_type="unconditional", tol=1e-13)
    np.testing.assert_array_equal(np.asarray(fixed.cov_params()), np.asarray(bayes.cov_params()))


def test_unconditional_intervals_recover_coverage_lost_to_the_choice_of_lam(rng):
    """20 coefficients, lam by REML, truths drawn from the prior with sd 0.2.

    The 95% Bayesian intervals cover ~88% here; the unconditional ones are wider
    and cover every truth the Bayesian ones cover, so the gain is the share of
    intervals only they cover. Its standard error is at most sqrt(p(1-p)/reps)
    ~ 0.0097 for p ~ 0.04 even if all 20 intervals of a replicate moved together:
    requiring a gain above one point leaves ~3 standard errors of margin.
    """
    from scipy import stats

    n, k, reps = 40, 20, 400
    covered_b = covered_u = 0
    for _ in range(reps):
        X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
        b = np.r_[1.0, 0.2 * rng.normal(size=k - 1)]
        y = X @ b + rng.normal(size=n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pr.exceptions.LamOnEdgeWarning)
            res = pr.PriorRidge(y, X).fit(lam="reml", cov_type="unconditional")
        p = np.asarray(res.params)
        half = stats.t.ppf(0.975, res.df_resid) * np.sqrt(
            res.scale * np.diag(res.normalized_cov_params)
        )
        ci = np.asarray(res.conf_int())
        covered_b += np.sum(np.abs(b - p) <= half)
        covered_u += np.sum((ci[:, 0] <= b) & (b <= ci[:, 1]))
    rate_b, rate_u = covered_b / (reps * k), covered_u / (reps * k)
    assert rate_b < 0.93  # the loss the issue describes is there
    assert rate_u - rate_b > 0.01


@pytest.mark.dask
def test_units_warning_from_dask_data_equals_in_memory(units_frame):
    import dask.dataframe as dd

    ddf = dd.from_pandas(units_frame, npartitions=3)
    messages = []
    for data in (ddf, units_frame):
        with pytest.warns(PenaltyUnitsWarning) as record:
            pr.PriorRidge.from_formula("y ~ small + big", data).fit(lam=1.0)
        assert [r.filename for r in record] == [__file__]
        messages.append(str(record[0].message))
    assert messages[0] == messages[1]  # the same standard deviations to the 3 digits printed


def test_variance_share_flags_prior_held_rows_under_a_non_diagonal_penalty():
    rng = np.random.default_rng(7)
    X = np.column_stack([np.ones(60), rng.normal(size=(60, 3))])
    y = X @ [1.0, 0.5, -0.3, 0.2] + rng.normal(size=60)
    L = np.array(
        [[0, 0, 0, 0], [0, 2.0, 0.9, 0], [0, 0.9, 1.0, 0], [0, 0, 0, 1e-9]]
    )  # PSD, non-diagonal; x3 nearly unpenalized
    lam = 1e9
    res = pr.PriorRidge(y, X, penalty=L).fit(lam=lam)
    share = res.data_share()
    assert not share.diagonal
    # oracle: diag(A^-1 X'X A^-1) / diag(A^-1) formed directly from the data
    A = X.T @ X + lam * L
    Ai = np.linalg.inv(A)
    direct = np.diagonal(Ai @ (X.T @ X) @ Ai) / np.diagonal(Ai)
    # inverse of A: relative error ~ k eps cond(A) per entry, 10x margin
    tol = 10 * 4 * np.finfo(float).eps * np.linalg.cond(A)
    np.testing.assert_allclose(share.variance_share.to_numpy(), direct, rtol=tol, atol=tol)
    assert np.all((share.variance_share >= 0) & (share.variance_share <= 1))
    # x1 and x2 are held by lam = 1e9; the intercept and x3 are the data's
    assert share.low() == ["x1", "x2"]
    assert list(share.not_informative()) == [False, True, True, False]
    text = str(res.summary())
    assert "posterior variance) below 5% for x1, x2" in " ".join(text.split())
