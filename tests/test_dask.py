"""Out-of-core fits on Dask equal the in-memory fits (priorreg.outofcore).

Most tests run on a ``distributed.LocalCluster`` of two worker processes,
so the designs, coders and partial factors really travel between
processes; a few use the threaded scheduler.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from bounds import (
    EPS,
    MARGIN,
    assert_close_normwise,
    cond,
    glm_newton_step,
    lstsq_rtol,
    solve_rtol,
)
from distributed import Client, LocalCluster

import priorreg as pr
from priorreg import outofcore
from priorreg.linalg import factorize, factorize_triangular

pytestmark = [
    pytest.mark.dask,
    # The data have a level in 3 of 4000 rows on purpose (one partition only):
    # its dummy's standard deviation is 100x below x2's, so the in-memory fits
    # with the default penalty say so (tested in test_inference.py)
    pytest.mark.filterwarnings("ignore::priorreg.exceptions.PenaltyUnitsWarning"),
]

DATA = Path(__file__).parent / "data" / "nist"
FORMULA = "y ~ x1 + x2 + x3 + C(g)"
#: Tolerances (tests/bounds.py): Dask (TSQR over partitions) and pandas
#: (in memory) are two QR-class computations of one fit. At the same lam the
#: estimates agree within lstsq_rtol of the augmented design [W^1/2 X;
#: sqrt(lam) R] and second moments (covariance, edf, criteria) within
#: n k eps cond^2 (x 10). Two searches for lam end at points whose criterion
#: values differ by delta; they lie within sqrt(2 delta / f'') of each other
#: (assert_lams_close), and the estimates move with lam as db/dlam =
#: -A^-1 L (b - b0).


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        # ":0": any free port (None means the default 8787, which another
        # process on the machine may hold)
        dashboard_address=":0",
        worker_dashboard_address=":0",
    )
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def frame():
    """Data with weights, offset, exposure and a level present in one partition only."""
    rng = np.random.default_rng(20261125)
    n = 4000
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(2.0, 3.0, size=n),
            "x3": rng.uniform(-1, 1, size=n),
            "g": rng.choice(["a", "b", "c"], size=n),
            "w": rng.uniform(0.5, 2.0, size=n),
            "o": rng.normal(scale=0.1, size=n),
            "expo": rng.uniform(0.5, 2.0, size=n),
        }
    )
    df.loc[[2500, 2600, 2700], "g"] = "rare"  # only in partition 2 of 4
    eta = 0.2 + 0.4 * df.x1 - 0.1 * df.x2 + 0.3 * df.x3 + 0.5 * (df.g == "b")
    df["y"] = 1.0 + 2.0 * eta + df.o + rng.normal(size=n)
    df["count"] = rng.poisson(df.expo * np.exp(eta))
    df.loc[7, "x3"] = np.nan  # dropped by the formula, as in memory
    return df


@pytest.fixture(scope="module")
def ddf(frame):
    return dd.from_pandas(frame, npartitions=4, sort=False)


def close(a, b, rtol):
    """Normwise: max |a - b| <= rtol max |b| (the form the bounds take)."""
    assert_close_normwise(np.asarray(a, float), np.asarray(b, float), rtol)


def augmented(model, lam):
    """[W^1/2 X; sqrt(lam) R] with R'R = L, and W^1/2 (y - o - X b0) padded with zeros."""
    Xw, zw = model._weighted_data
    evals, evecs = np.linalg.eigh(model.penalty_matrix)
    R = (evecs * np.sqrt(np.clip(evals, 0, None))).T
    return np.vstack([Xw, np.sqrt(lam) * R]), np.concatenate([zw, np.zeros(R.shape[0])])


def linear_tols(ref):
    """(rtol of the estimates, rtol of second moments) for two QR-class fits like ``ref``."""
    Xa, za = augmented(ref.model, ref.lam)
    d = np.asarray(ref.params, float) - ref.model.prior_values
    tol = lstsq_rtol(Xa, d, za - Xa @ d) * np.linalg.norm(d) / np.linalg.norm(ref.params)
    second = MARGIN * 2 * Xa.size * EPS * cond(Xa) ** 2
    return tol, second


def assert_lams_close(path, lam_a, lam_b, rounding):
    """Two minimisers of one criterion: |log lam_a - log lam_b| <= 10 sqrt(2 delta / f'').

    ``path(lams)`` evaluates the criterion; delta is the difference of its
    values at the two points plus ``rounding`` (what the two evaluations of
    the criterion can differ by); f'' by central differences (h = 0.01).
    """
    t = np.log(lam_b)
    f = np.asarray(path(np.exp([t - 0.01, t, t + 0.01, np.log(lam_a)])), dtype=float)
    curvature = (f[0] - 2 * f[1] + f[2]) / 0.01**2
    delta = abs(f[3] - f[1]) + rounding
    dt = abs(np.log(lam_a) - t)
    assert dt <= MARGIN * np.sqrt(2 * delta / curvature), (dt, delta, curvature)
    return dt


def slope_bound(ref, dt):
    """||b(lam e^dt) - b(lam)|| to first order: dt lam ||A^-1 L (b - b0)||, x 10."""
    Xa, _ = augmented(ref.model, ref.lam)
    A = Xa.T @ Xa
    d = np.asarray(ref.params, float) - ref.model.prior_values
    step = np.linalg.solve(A, ref.model.penalty_matrix @ d)
    return MARGIN * dt * ref.lam * np.linalg.norm(step)


def summary_lines(res):
    """The summary without the lines saying how lam was chosen (and that it is treated as known)."""
    text = str(res.summary()).split("Standard errors, tests and intervals treat lam")[0]
    return [line for line in text.splitlines() if "Lam chosen by" not in line]


def glm_radius(family, model, lam, *params):
    """10x the sum of the Newton steps of estimates of one penalized Poisson/Binomial MLE."""
    X, y = model.exog, model.endog
    kw = {"lam": lam, "L": model.penalty_matrix, "b0": model.prior_values}
    kw["offset"] = model.offset_total
    if model.freq_weights is not None:
        kw["freq_weights"] = model.freq_weights
    total = 0.0
    for b in params:
        step, info = glm_newton_step(family, X, y, np.asarray(b, float), **kw)
        total += np.linalg.norm(step) + len(step) * EPS * cond(info) * np.linalg.norm(b)
    return MARGIN * total, info


def glm_reach(res):
    """max_i sqrt(x_i' A^-1 x_i): the largest |x_i' d| per unit of ||d||_A (A = X'WX + lam L)."""
    A_inv = np.asarray(res.normalized_cov_params)
    X = res.model.exog
    return float(np.sqrt(np.max(np.einsum("ij,jk,ik->i", X, A_inv, X))))


def glm_stop_distance(res, tol=1e-8):
    """A-norm distance from the optimum of a fit known only by its stopping rule.

    Its last IRLS (= Newton, canonical link) step s lowered the penalized
    deviance Q by < tol Q, so ||s||_A <= sqrt(2 tol Q). With |d log W / d eta|
    <= 1 (Poisson log, Binomial logit), the Hessian along s is within
    e^(+-delta) of A, delta = reach ||s||_A; the gradient left after the
    step is <= (e^delta - 1) ||s||_A <= 2 delta ||s||_A in the A^-1 norm,
    and so is the distance to the optimum (quadratic convergence, made exact).
    """
    Q = res.deviance + res.lam * res.model.problem.penalty(np.asarray(res.params))
    step = np.sqrt(2 * tol * Q)
    return float(2 * glm_reach(res) * step**2)


def glm_drift(res, radius):
    """Relative change of W (so of A^-1 and edf) over ``radius`` in b (2-norm)."""
    return float(np.max(np.linalg.norm(res.model.exog, axis=1)) * radius)


def glm_drift_a(res, dist_a):
    """Relative change of W over an A-norm distance: reach * dist (x 2 for e^x - 1)."""
    return 2 * glm_reach(res) * dist_a


def test_import_does_not_import_dask():
    code = "import sys, priorreg; assert 'dask' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rare_level_only_in_one_partition(client, frame, ddf):
    parts = [set(p["g"].unique()) for p in ddf.partitions]
    assert ["rare" in p for p in parts] == [False, False, True, False]
    res = pr.PriorRidge.from_formula(FORMULA, ddf).fit(lam=1.0)
    ref = pr.PriorRidge.from_formula(FORMULA, frame).fit(lam=1.0)
    assert list(res.params.index) == list(ref.params.index)
    assert "C(g)[T.rare]" in res.params.index
    assert res.nobs == ref.nobs == len(frame) - 1
    assert res.model.n_dropped == 1
    close(res.params, ref.params, linear_tols(ref)[0])


def test_linear_gcv_equals_pandas(client, frame, ddf):
    kw = {"prior": {"x1": 0.5, "x2": -0.1}, "weights": "w", "offset": "o"}
    mod = pr.PriorRidge.from_formula(FORMULA, ddf, **kw)
    assert isinstance(mod, pr.PriorRidge)
    res = mod.fit(lam="gcv")
    ref = pr.PriorRidge.from_formula(FORMULA, frame, **kw).fit(lam="gcv")
    assert isinstance(res._results, pr.PriorRidgeResults)
    assert type(res) is type(ref)
    assert res.lam_method == "gcv"
    tol, second = linear_tols(ref)
    k = len(ref.params)
    dt = assert_lams_close(
        lambda v: ref.model.path(v, "gcv")["gcv"], res.lam, ref.lam, 2 * k * second * ref.gcv
    )
    assert np.linalg.norm(res.params - ref.params) <= slope_bound(ref, dt) + tol * np.linalg.norm(
        ref.params
    )
    # the grid comes from the factor (no pass); every column is a smooth
    # function of the factor's entries, with log-derivatives <= k: k second
    close(res.lam_path.to_numpy(), ref.lam_path.to_numpy(), k * second)
    # at the selected lam, the Dask fit is the in-memory fit
    same = pr.PriorRidge.from_formula(FORMULA, frame, **kw).fit(lam=res.lam)
    tol, second = linear_tols(same)
    close(res.params, same.params, tol)
    for name in ("bse", "edf_params"):
        close(getattr(res, name), getattr(same, name), second)
    # p = 2 sf(|t|): rtol(p) <= (|t| + 1) |t| rtol(t) (entrywise, as p may be tiny)
    t = np.abs(np.asarray(same.tvalues))
    np.testing.assert_allclose(res.pvalues, same.pvalues, rtol=np.max((t + 1) * t) * 2 * second)
    # scale, gcv, llf, ... from RSS and edf; reml adds log-dets (k second absolute)
    for name in ("edf", "scale", "gcv", "reml", "rsquared", "llf", "aic", "df_resid", "nobs"):
        close(getattr(res, name), getattr(same, name), k * second)
    close(res.cov_params(), same.cov_params(), second)
    fitted = res.fittedvalues.compute()
    pd.testing.assert_index_equal(fitted.index, same.fittedvalues.index)
    close(fitted, same.fittedvalues, tol * cond(augmented(same.model, same.lam)[0]))
    # residuals: fitted values' error relative to the (smaller) residuals
    r = same.resid.to_numpy()
    kappa = cond(augmented(same.model, same.lam)[0])
    r_tol = tol * kappa * np.max(np.abs(fitted)) / np.max(np.abs(r))
    close(res.resid.compute(), same.resid, r_tol)
    close(res.hat_diag.compute(), same.hat_diag, second)  # h_ii in [0, 1]
    h = np.max(same.hat_diag)
    close(res.loocv, same.loocv, 2 * (r_tol + second) / (1 - h) ** 2)


def test_linear_summary_and_loocv_selection(client, frame, ddf):
    kw = {"prior": {"x1": 0.5}, "penalty": {"x2": 4.0}, "standardize": True}
    res = pr.PriorRidge.from_formula(FORMULA, ddf, **kw).fit(lam="loocv")
    ref = pr.PriorRidge.from_formula(FORMULA, frame, **kw).fit(lam="loocv")
    tol, second = linear_tols(ref)
    k = len(ref.params)
    h = np.max(ref.hat_diag)
    rounding = 2 * k * second / (1 - h) ** 2 * ref.loocv
    dt = assert_lams_close(
        lambda v: ref.model.path(v, "loocv")["loocv"], res.lam, ref.lam, rounding
    )
    slack = slope_bound(ref, dt) + tol * np.linalg.norm(ref.params)
    assert np.linalg.norm(res.params - ref.params) <= slack
    # the grid (from the factor) and its criteria: k second, as above; LOOCV's
    # 1 / (1 - h_ii)^2 amplifies it
    close(res.lam_path.to_numpy(), ref.lam_path.to_numpy(), 2 * k * second / (1 - h) ** 2)
    # column variances, n terms each: sum_rtol(n) (x 10), squared into the penalty
    close(res.model.penalty_matrix, ref.model.penalty_matrix, 2 * MARGIN * len(frame) * EPS)
    same = pr.PriorRidge.from_formula(FORMULA, frame, **kw).fit(lam=res.lam)
    tol, second = linear_tols(same)
    close(res.params, same.params, tol)
    close(res.bse, same.bse, second)
    assert summary_lines(res) == summary_lines(same)


def test_linear_arrays_threads(frame):
    """The array interface (dask Series and DataFrame), on the threaded scheduler."""
    clean = frame.dropna()
    X = clean[["x1", "x2"]].assign(const=1.0)[["const", "x1", "x2"]]
    dX = dd.from_pandas(X, npartitions=3, sort=False)
    dy = dd.from_pandas(clean["y"], npartitions=3, sort=False)
    dw = dd.from_pandas(clean["w"], npartitions=3, sort=False)
    with dask.config.set(scheduler="threads"):
        res = pr.PriorRidge(dy, dX, weights=dw, prior=[0.0, 1.0, 0.0]).fit(lam=3.0)
        ref = pr.PriorRidge(clean["y"], X, weights=clean["w"], prior=[0.0, 1.0, 0.0]).fit(lam=3.0)
        tol, _ = linear_tols(ref)
        close(res.params, ref.params, tol)
        assert list(res.params.index) == ["const", "x1", "x2"]
        assert res.model.intercept_idx == ref.model.intercept_idx == 0
        # X b: error <= ||X|| ||db|| (entrywise by the largest row)
        close(res.predict().compute(), ref.predict(), tol * cond(X.to_numpy()))


def test_linear_dask_arrays_threads(frame):
    clean = frame.dropna()
    X = np.column_stack([clean.x1, np.ones(len(clean)), clean.x2])
    y = clean.y.to_numpy()
    with dask.config.set(scheduler="threads"):
        dy, dX = da.from_array(y, chunks=1000), da.from_array(X, chunks=(1000, 2))
        res = pr.PriorRidge(dy, dX, prior=[0.7, 1.6, -0.15]).fit(lam="reml")
        ref = pr.PriorRidge(y, X, prior=[0.7, 1.6, -0.15]).fit(lam="reml")
        tol, second = linear_tols(ref)
        rounding = 3 * second * abs(ref.reml) + 3 * second  # log-dets: k second absolute
        dt = assert_lams_close(
            lambda v: ref.model.path(v, "reml")["reml"], res.lam, ref.lam, rounding
        )
        slack = slope_bound(ref, dt) + tol * np.linalg.norm(ref.params)
        assert np.linalg.norm(res.params - ref.params) <= slack
        assert isinstance(res.params, np.ndarray)
        assert res.model.exog_names == ref.model.exog_names == ["x1", "const", "x2"]
        fitted = res.fittedvalues
        assert isinstance(fitted, da.Array)
        close(fitted.compute(), ref.fittedvalues, slack / np.linalg.norm(ref.params) * cond(X))


def test_glm_poisson_equals_pandas(client, frame, ddf):
    kw = {"family": sm.families.Poisson(), "exposure": "expo", "prior": {"x1": 0.3}}
    formula = "count ~ x1 + x2 + x3 + C(g)"
    mod = pr.PriorGLM.from_formula(formula, ddf, **kw)
    res = mod.fit(lam="gcv")
    ref = pr.PriorGLM.from_formula(formula, frame, **kw).fit(lam="gcv")
    assert isinstance(res._results, pr.PriorGLMResults)
    assert res.converged
    fam, memory = sm.families.Poisson(), ref.model
    n, k = memory.exog.shape
    # the two searches: GCV at fits converged to tol = 1e-8, each within its
    # stopping distance d of the optimum; GCV = n D / (n - edf)^2 moves by
    # 2 k drift(d) / (n - edf) relatively (D is stationary in b to first
    # order up to the penalty's slope, covered by the same term)
    d = glm_stop_distance(ref)
    rounding = (2 * k * MARGIN * glm_drift_a(ref, d) / (n - ref.edf)) * ref.gcv
    assert_lams_close(
        lambda v: memory.path(v, "gcv", tol=1e-12)["gcv"], res.lam, ref.lam, rounding
    )
    # at the selected lam, the Dask fit is the in-memory fit: both estimates
    # of one penalized MLE, within their Newton steps (x 10)
    same = pr.PriorGLM.from_formula(formula, frame, **kw).fit(lam=res.lam)
    radius, info = glm_radius(fam, memory, res.lam, res.params, same.params)
    assert np.linalg.norm(res.params - same.params) <= radius
    # A^-1 (bse, edf) at the estimates: W = mu drifts by max |x_i' db|;
    # plus inverting A (solve_rtol)
    drift = glm_drift(same, radius) + solve_rtol(info)
    close(res.bse, same.bse, drift)
    np.testing.assert_allclose(res.edf_params, same.edf_params, rtol=0, atol=drift)
    assert res.edf == pytest.approx(same.edf, abs=k * drift)
    # D, Pearson chi2, llf, mu and residuals: their gradient times the radius
    mu = np.asarray(same.mu)
    g_dev = np.linalg.norm(memory.exog.T @ (2 * (mu - memory.endog)))
    slack_dev = g_dev * radius + MARGIN * n * EPS * same.deviance
    assert res.deviance == pytest.approx(same.deviance, abs=slack_dev)
    assert res.llf == pytest.approx(same.llf, abs=slack_dev / 2)
    chi_grad = np.linalg.norm(memory.exog.T @ ((memory.endog / mu) ** 2 * mu - mu))
    assert res.pearson_chi2 == pytest.approx(same.pearson_chi2, abs=chi_grad * radius + slack_dev)
    gcv_rel = slack_dev / same.deviance + 2 * k * drift / (n - same.edf)
    assert res.gcv == pytest.approx(same.gcv, rel=gcv_rel)
    assert res.aic == pytest.approx(same.aic, abs=slack_dev + 2 * k * drift)
    # Laplace REML: D / 2, penalty and log-dets (k drift each)
    assert res.reml == pytest.approx(same.reml, abs=slack_dev + 2 * k * drift + g_dev * radius)
    assert res.rsquared == pytest.approx(same.rsquared, abs=2 * slack_dev / same.deviance)
    close(res.mu.compute(), same.mu, glm_drift(same, radius))
    # deviance residuals: |d r_i / d eta_i| = |y_i - mu_i| / |r_i| (Poisson)
    r = np.asarray(same.resid_deviance)
    rate = np.where(r != 0, np.abs(memory.endog - mu) / np.where(r != 0, np.abs(r), 1), np.sqrt(mu))
    eta_err = np.linalg.norm(memory.exog, axis=1) * radius
    np.testing.assert_array_less(
        np.abs(res.resid_deviance.compute() - r), rate * eta_err + MARGIN * EPS * (1 + np.abs(r))
    )
    # the search path: each trial is a fit converged to tol = 1e-8, known by
    # its stopping rule only; compared with in-memory fits at the same lams
    path = res.lam_path
    again = memory.path(path["lam"].to_numpy(), "gcv", tol=1e-12)
    np.testing.assert_array_equal(again["lam"], path["lam"])
    d_a = MARGIN * glm_stop_distance(ref)
    trial_drift = glm_drift_a(ref, d_a) + solve_rtol(info)
    close(path["edf"], again["edf"], k * trial_drift)
    d_2 = d_a / np.sqrt(np.linalg.eigvalsh(info)[0])  # ||d||_2 <= ||d||_A / sqrt(lambda_min)
    dev_rel = (g_dev * d_2 + slack_dev) / ref.deviance
    close(path["deviance"], again["deviance"], dev_rel)
    close(path["gcv"], again["gcv"], 2 * k * trial_drift / (n - ref.edf) + slack_dev / ref.deviance)
    # a fixed lam, started alike: the same iterations, rounding apart
    fixed = mod.fit(lam=5.0)
    fixed_ref = pr.PriorGLM.from_formula(formula, frame, **kw).fit(lam=5.0)
    radius, info = glm_radius(fam, memory, 5.0, fixed.params, fixed_ref.params)
    assert np.linalg.norm(fixed.params - fixed_ref.params) <= radius
    # approximate LOOCV: deviance terms / (1 - h_ii): as the deviance and edf
    h_max = float(np.max(np.asarray(fixed_ref.hat_diag)))
    drift = glm_drift(fixed_ref, radius) + solve_rtol(info)
    loo_rel = (slack_dev / fixed_ref.deviance + 2 * drift) / (1 - h_max) ** 2
    close(fixed.loocv, fixed_ref.loocv, loo_rel)
    assert fixed.iterations == fixed_ref.iterations
    assert str(fixed.summary()) == str(fixed_ref.summary())


def test_glm_binomial_fixed_lam(client, frame, ddf):
    formula = "I(count > 1) ~ x1 + x2 + C(g)"
    kw = {"family": sm.families.Binomial(), "freq_weights": "w"}
    # the rare level's three rows share one outcome: quasi-separation, found
    # in memory and, in one pass over the partitions, out of core
    with pytest.warns(pr.SeparationWarning, match="rare") as dask_warned:
        res = pr.PriorGLM.from_formula(formula, ddf, **kw).fit(lam=2.0)
    with pytest.warns(pr.SeparationWarning, match="rare") as memory_warned:
        ref = pr.PriorGLM.from_formula(formula, frame, **kw).fit(lam=2.0)
    assert [str(w.message) for w in dask_warned] == [str(w.message) for w in memory_warned]
    found, expected = res.separation, ref.separation
    assert (found.columns, found.n_rows, found.unbounded) == (
        expected.columns,
        expected.n_rows,
        expected.unbounded,
    )
    np.testing.assert_array_equal(found.direction, expected.direction)
    fam, memory = sm.families.Binomial(), ref.model
    radius, info = glm_radius(fam, memory, 2.0, res.params, ref.params)
    assert np.linalg.norm(res.params - ref.params) <= radius
    # llf: gradient (X' f (y - mu), zero but for the penalty) times radius
    mu = np.asarray(ref.mu)
    g = np.linalg.norm(memory.exog.T @ (memory.freq_weights * (memory.endog - mu)))
    n = len(mu)
    assert res.llf == pytest.approx(ref.llf, abs=g * radius + MARGIN * n * EPS * abs(ref.llf))
    # W = mu (1 - mu): relative drift <= max |x_i' db| (logit)
    drift = glm_drift(ref, radius) + solve_rtol(info)
    close(res.bse, ref.bse, drift)


def lre(estimate, certified):
    estimate, certified = np.asarray(estimate, float), np.asarray(certified, float)
    err = np.abs(estimate - certified) / np.abs(certified)
    return -np.log10(np.maximum(err, 1e-17))


def test_longley_lam_zero_through_dask(client):
    cert = json.loads((DATA / "certified.json").read_text())["datasets"]["Longley"]
    data = pd.read_csv(DATA / cert["data_file"])
    ddata = dd.from_pandas(data, npartitions=3, sort=False)
    res = pr.PriorRidge.from_formula("y ~ x1 + x2 + x3 + x4 + x5 + x6", ddata).fit(lam=0.0)
    assert lre(res.params, cert["estimates"]).min() >= 9.0
    assert lre(res.bse, cert["std_devs"]).min() >= 9.0
    assert lre(np.sqrt(res.scale), cert["residual_sd"]) >= 9.0
    assert lre(res.rsquared, cert["r_squared"]) >= 9.0
    # at lam = 0 each shrinkage factor d / (d + 0) is 1: edf is a sum of 7
    # ones up to rounding (7 eps); 1e-12 is far above that
    assert res.edf == pytest.approx(7.0, abs=1e-12)


def test_predict_both_ways(client, frame, ddf):
    res = pr.PriorRidge.from_formula(FORMULA, ddf).fit(lam=2.0)
    ref = pr.PriorRidge.from_formula(FORMULA, frame).fit(lam=2.0)
    new = frame.dropna().iloc[::37]
    dnew = dd.from_pandas(new, npartitions=2, sort=False)
    tol, second = linear_tols(ref)
    Xa, _ = augmented(ref.model, ref.lam)
    # x'b with b within tol: relative to the largest prediction, tol cond(X)
    close(res.predict(new), ref.predict(new), tol * cond(Xa))  # Dask fit, pandas data
    lazy = ref.predict(dnew)  # pandas fit, Dask data
    assert outofcore.is_dask(lazy)
    # the same coefficients and rows: x'b rounded alike up to k eps sum |x_j b_j|
    k = len(ref.params)
    bound = MARGIN * k * EPS * np.abs(ref.model.exog).max() * np.abs(ref.params).sum()
    np.testing.assert_array_less(np.abs(lazy.compute() - ref.predict(new)), bound)
    close(res.predict(dnew).compute(), ref.predict(new), tol * cond(Xa))
    frame_pred = res.get_prediction(new).summary_frame(alpha=0.1)
    ref_pred = ref.get_prediction(new).summary_frame(alpha=0.1)
    close(frame_pred.to_numpy(), ref_pred.to_numpy(), tol * cond(Xa) + second)
    glm = pr.PriorGLM.from_formula(
        "count ~ x1 + x2 + C(g)", frame, family=sm.families.Poisson()
    ).fit(lam=1.0)
    expected = glm.predict(new, exposure=np.full(len(new), 2.0))
    # the same exp(x'b + log 2), row by row: (k + 2) eps |eta| relative (x 10)
    eta = np.log(expected.to_numpy())
    rtol = MARGIN * (len(glm.params) + 2) * EPS * max(1.0, np.abs(eta).max())
    close(glm.predict(dnew, exposure=2.0).compute(), expected, rtol)


def test_refine_from_dask_fit_on_pandas(client, frame, ddf):
    old = pr.PriorRidge.from_formula(FORMULA, ddf).fit(lam=0.0)
    small = frame[frame.g != "rare"].dropna().head(40)
    res = old.refine(small, lam=5.0)
    old_ref = pr.PriorRidge.from_formula(FORMULA, frame).fit(lam=0.0)
    ref = old_ref.refine(small, lam=5.0)
    assert type(res.model) is pr.PriorRidge
    # the priors differ by the old fits' difference (lstsq_rtol of the big
    # design); b = A^-1 (X'y + lam L b0) passes it on through lam A^-1 L; plus
    # the new fit's own rounding
    old_tol, _ = linear_tols(old_ref)
    Xa, _ = augmented(ref.model, ref.lam)
    A = Xa.T @ Xa
    gain = np.linalg.norm(5.0 * np.linalg.solve(A, ref.model.penalty_matrix), 2)
    tol, _ = linear_tols(ref)
    slack = gain * old_tol * np.linalg.norm(old_ref.params) + tol * np.linalg.norm(ref.params)
    assert np.linalg.norm(res.params - ref.params) <= slack


def test_glm_arrays_known_categories_and_progress(frame, capsys):
    """Array GLM; known categories (one unused) need no levels pass; progress is shown."""
    df = frame.dropna().head(1500).copy()
    df["h"] = pd.Categorical(df["g"], categories=["a", "b", "c", "rare", "unused"])
    part = dd.from_pandas(df, npartitions=3, sort=False)
    with dask.config.set(scheduler="threads"):
        X = df[["x1", "x2"]].assign(const=1.0)
        dX, dy = (dd.from_pandas(v, npartitions=3, sort=False) for v in (X, df["count"]))
        res = pr.PriorGLM(dy, dX, family=sm.families.Poisson()).fit(lam=1.0)
        ref = pr.PriorGLM(df["count"], X, family=sm.families.Poisson()).fit(lam=1.0)
        radius, _ = glm_radius(sm.families.Poisson(), ref.model, 1.0, res.params, ref.params)
        assert np.linalg.norm(res.params - ref.params) <= radius
        assert res.model.intercept_idx == 2
        formula = "count ~ x1 + C(h)"
        kw = {"family": sm.families.Poisson(), "exposure": "expo"}
        res = pr.PriorGLM.from_formula(formula, part, progress=True, **kw).fit(lam=2.0)
        ref = pr.PriorGLM.from_formula(formula, df, **kw).fit(lam=2.0)
        assert "C(h)[T.unused]" in res.params.index
        radius, _ = glm_radius(sm.families.Poisson(), ref.model, 2.0, res.params, ref.params)
        assert np.linalg.norm(res.params - ref.params) <= radius
        err = capsys.readouterr().err
        assert "IRLS iteration 1" in err
        assert "collect categorical levels" not in err
        # no intercept column: the constant is decided as in memory
        res = pr.PriorRidge.from_formula("y ~ 0 + C(g) + x1", part).fit(lam=1.0)
        ref = pr.PriorRidge.from_formula("y ~ 0 + C(g) + x1", df).fit(lam=1.0)
        assert res.model.k_constant == ref.model.k_constant
        assert res.model.intercept_idx == ref.model.intercept_idx
        tol, second = linear_tols(ref)
        close(res.params, ref.params, tol)
        close(res.rsquared, ref.rsquared, 2 * second)  # 1 - RSS / TSS


def test_stateful_transform_is_refused(ddf):
    with pytest.raises(NotImplementedError, match="stateful transform"):
        pr.PriorRidge.from_formula("y ~ standardize(x1)", ddf)


def test_triangular_factor_sign_invariance():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(60), rng.normal(size=(60, 3))])
    z = rng.normal(size=60)
    L = np.diag([0.0, 1.0, 2.0, 1.0])
    R = np.linalg.qr(np.column_stack([X, z]), mode="r")
    flipped = np.diag([1.0, -1.0, -1.0, 1.0, -1.0]) @ R
    a = factorize_triangular(R, L, 60, intercept=0)
    b = factorize_triangular(flipped, L, 60, intercept=0)
    ref = factorize(X, z, L, intercept=0)
    lams = np.array([0.1, 1.0, 10.0])
    # one QR, its rows' signs flipped, against a factorization of X: the
    # coefficients within lstsq_rtol, the log-dets of REML within k n k eps
    # cond(X)^2 absolute (x 10)
    coef = ref.coef(1.0)
    tol = lstsq_rtol(X, coef, z - X @ coef)
    second = MARGIN * 2 * X.size * EPS * cond(X) ** 2
    for fac in (a, b):
        close(fac.coef(1.0), coef, tol)
        np.testing.assert_allclose(fac.reml(lams), ref.reml(lams), rtol=second, atol=4 * second)
        B = X @ fac.row_map
        k0 = fac.n_unpen
        lev = np.sum(B[:, :k0] ** 2, axis=1)[:, None] + (B[:, k0:] ** 2) @ fac.shrinkage(lams)
        np.testing.assert_allclose(lev, ref.leverage(lams), rtol=0, atol=second)  # h in [0, 1]
