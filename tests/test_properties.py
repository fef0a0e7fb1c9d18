"""Properties over random shapes, scales, priors, penalties and lams (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from bounds import EPS, MARGIN, assert_close_normwise, solve_rtol
from conftest import random_problem
from hypothesis import given, settings
from hypothesis import strategies as st

import priorreg as pr

KINDS = ["default", "dense", "difference"]

# random_problem draws column scales up to 100x apart, so the units advice
# (PenaltyUnitsWarning) fires for some draws and not others; the properties
# are about the penalty as given
pytestmark = pytest.mark.filterwarnings("ignore::priorreg.PenaltyUnitsWarning")


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(8, 40),
    k=st.integers(3, 7),
    kind=st.sampled_from(KINDS),
    log_lam=st.floats(-3, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_gaussian_glm_equals_linear_model(n, k, kind, log_lam, seed):
    rng = np.random.default_rng(seed)
    X, y, b0, w, offset, L = random_problem(rng, n, k, kind=kind)
    lam = 10.0**log_lam
    lin = pr.PriorRidge(y, X, prior=b0, penalty=L, weights=w, offset=offset).fit(lam=lam)
    glm = pr.PriorGLM(
        y, X, family=sm.families.Gaussian(), prior=b0, penalty=L, var_weights=w, offset=offset
    ).fit(lam=lam, tol=1e-14)
    # identity link: IRLS is the weighted ridge solve; both backward stable
    # with A = X'WX + lam L: solve_rtol(A) of the estimates (and of the prior,
    # the residual route adds b0), normwise; edf = tr(A^-1 X'WX) <= k: k tol
    A = X.T @ (w[:, None] * X) + lam * L
    tol = solve_rtol(A)
    scale = np.abs(np.asarray(lin.params)).max() + np.abs(b0).max()
    np.testing.assert_allclose(glm.params, lin.params, rtol=0, atol=tol * scale)
    assert abs(glm.edf - lin.edf) <= k * tol


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(5, 30),
    k=st.integers(2, 8),
    seed=st.integers(0, 2**32 - 1),
    scale_power=st.integers(-6, 6),
)
def test_huge_lam_returns_prior_on_penalized_directions(n, k, seed, scale_power):
    rng = np.random.default_rng(seed)
    X, y, b0, _, _, _ = random_problem(rng, n, k, weights=False)
    X[:, 1:] *= 10.0**scale_power
    lam = 1e20 * 10.0 ** (2 * scale_power)
    res = pr.PriorRidge(y, X, prior=b0).fit(lam=lam)
    # exact: d_p = (X_p'M X_p + lam I)^-1 X_p'M r0 (M: residual maker of the
    # intercept), so ||d_p|| <= ||X_p'M r0|| / lam; rounding: b = b0 + d to
    # k eps of the larger of |b0| and the least-squares fit's size; x 10
    r0 = y - X @ b0
    Mr0, MXp = r0 - r0.mean(), X[:, 1:] - X[:, 1:].mean(axis=0)
    fit_size = np.linalg.norm(np.linalg.lstsq(X, r0, rcond=None)[0]) + np.linalg.norm(b0)
    bound = np.linalg.norm(MXp.T @ Mr0) / lam + k * EPS * fit_size
    assert np.linalg.norm(res.params[1:] - b0[1:]) <= MARGIN * bound
    # edf = 1 + sum d^2 / (d^2 + lam) <= 1 + ||M X_p||_F^2 / lam; rounding k eps
    assert 1.0 - MARGIN * k * EPS <= res.edf <= 1.0 + np.sum(MXp**2) / lam + MARGIN * k * EPS


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(6, 40),
    k=st.integers(2, 6),
    seed=st.integers(0, 2**32 - 1),
    log_lam=st.floats(-2, 2),
)
def test_invariant_to_row_order(n, k, seed, log_lam):
    rng = np.random.default_rng(seed)
    X, y, b0, w, offset, _ = random_problem(rng, n, k)
    perm = rng.permutation(n)
    lam = 10.0**log_lam
    a = pr.PriorRidge(y, X, prior=b0, weights=w, offset=offset).fit(lam=lam)
    b = pr.PriorRidge(y[perm], X[perm], prior=b0, weights=w[perm], offset=offset[perm]).fit(lam=lam)
    # the same problem, rows in another order: two backward-stable solves of
    # A = X'WX + lam L (solve_rtol, x 10); h_ii in [0, 1]: absolute; GCV from
    # RSS (residuals within tol ||fitted|| / ||r||, twice) and edf (k tol)
    L = np.diag([0.0] + [1.0] * (k - 1))
    A = X.T @ (w[:, None] * X) + lam * L
    tol = solve_rtol(A)
    assert_close_normwise(a.params, b.params, tol * (1 + np.abs(b0).max() / np.abs(b.params).max()))
    np.testing.assert_allclose(np.asarray(a.hat_diag)[perm], b.hat_diag, rtol=0, atol=tol)
    r = np.asarray(a.resid)
    r_tol = tol * np.linalg.norm(y - offset - r) / np.linalg.norm(r)
    assert abs(a.gcv - b.gcv) <= (2 * r_tol + 2 * k * tol / (n - a.edf)) * a.gcv


@settings(max_examples=20, deadline=None)
@given(n=st.integers(3, 25), k=st.integers(2, 30), seed=st.integers(0, 2**32 - 1))
def test_edf_path_monotone_from_full_to_unpenalized(n, k, seed):
    rng = np.random.default_rng(seed)
    X, y, _, w, _, _ = random_problem(rng, n, k)
    model = pr.PriorRidge(y, X, weights=w)
    lams = np.logspace(-12, 12, 49)
    edf = model.path(lams)["edf"].to_numpy()
    assert np.all(np.isfinite(edf))
    # edf: a sum of min(n, k) shrinkage factors in [0, 1], each exactly
    # monotone in lam and rounded to a few eps; x 10
    slack = MARGIN * 4 * min(n, k) * EPS
    assert np.all(np.diff(edf) <= slack)
    assert edf[-1] >= 1.0 - slack
    assert edf[0] <= min(n, k) + slack
