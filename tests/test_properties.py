"""Properties over random shapes, scales, priors, penalties and lams (hypothesis)."""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from conftest import random_problem
from hypothesis import given, settings
from hypothesis import strategies as st

import priorreg as pr

KINDS = ["default", "dense", "difference"]


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
    scale = np.abs(np.asarray(lin.params)).max()
    np.testing.assert_allclose(glm.params, lin.params, rtol=1e-7, atol=1e-7 * scale)
    assert abs(glm.edf - lin.edf) < 1e-8


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
    res = pr.PriorRidge(y, X, prior=b0).fit(lam=1e20 * 10.0 ** (2 * scale_power))
    np.testing.assert_allclose(res.params[1:], b0[1:], rtol=1e-5, atol=1e-5 * np.abs(b0).max())
    assert 1.0 - 1e-6 <= res.edf <= 1.0 + 1e-4


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
    np.testing.assert_allclose(a.params, b.params, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.asarray(a.hat_diag)[perm], b.hat_diag, atol=1e-10)
    assert abs(a.gcv - b.gcv) <= 1e-9 * a.gcv


@settings(max_examples=20, deadline=None)
@given(n=st.integers(3, 25), k=st.integers(2, 30), seed=st.integers(0, 2**32 - 1))
def test_edf_path_monotone_from_full_to_unpenalized(n, k, seed):
    rng = np.random.default_rng(seed)
    X, y, _, w, _, _ = random_problem(rng, n, k)
    model = pr.PriorRidge(y, X, weights=w)
    lams = np.logspace(-12, 12, 49)
    edf = model.path(lams)["edf"].to_numpy()
    assert np.all(np.isfinite(edf))
    assert np.all(np.diff(edf) <= 1e-9)
    assert edf[-1] >= 1.0 - 1e-9
    assert edf[0] <= min(n, k) + 1e-9
