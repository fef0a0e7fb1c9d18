"""Kernels of a fixed-lam GLM fit against dense and statsmodels oracles.

The blockwise Gram matrix (contiguous buffer for the design, the working
column by a matrix-vector product) against the dense ``A'A``; the binomial
log-likelihood without its binomial coefficients when every row is a single
trial against statsmodels' ``family.loglike``, and with several trials
against scipy's binomial log-probabilities (R's ``glm`` likelihood).
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

import priorreg as pr
from priorreg import families
from priorreg.gram import ROW_BLOCK, blockwise_gram


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shifted", [False, True])
@pytest.mark.parametrize("n", [300, 2 * ROW_BLOCK + 19])
def test_blockwise_gram_equals_the_dense_product(rng, n, weighted, shifted):
    k = 5
    X = rng.normal(size=(n, k)) + 3.0
    sw = rng.uniform(0.3, 2.0, n) if weighted else None
    zw = rng.normal(size=n)
    shift = rng.normal(size=k) if shifted else None
    before = X.copy()
    G = blockwise_gram(X, sw, zw, shift)
    A = X - (0.0 if shift is None else shift)
    if sw is not None:
        A = A * sw[:, None]
    A = np.column_stack([A, zw])
    dense = A.T @ A
    np.testing.assert_array_equal(X, before)  # the caller's design is not changed
    np.testing.assert_array_equal(G, G.T)
    # entry (i, j) is a sum of n products: |error| <= n eps sqrt(G_ii G_jj) <= n eps max|G|
    # ~ 1.8e-12 max|G| at n ~ 8.2e3 in either route: 2e-11 is > 10x that bound
    np.testing.assert_allclose(G, dense, rtol=0, atol=2e-11 * np.max(np.abs(dense)))


def test_blockwise_gram_reads_weights_per_block(rng):
    n, k = ROW_BLOCK + 7, 3
    X = rng.normal(size=(n, k))
    sw = rng.uniform(0.5, 1.5, n)
    zw = rng.normal(size=n)
    seen = []

    def weigh(rows, block):
        seen.append((rows.start, block.shape[0]))
        return sw[rows], zw[rows]

    G = blockwise_gram(X, None, None, None, weigh=weigh)
    np.testing.assert_array_equal(  # the same products in the same order
        G, blockwise_gram(X, sw, zw, None)
    )
    assert seen == [(0, ROW_BLOCK), (ROW_BLOCK, 7)]


def test_single_trial_binomial_loglike_equals_statsmodels(rng):
    n = 500
    y = (rng.uniform(size=n) < 0.4).astype(float)
    mu = rng.uniform(0.05, 0.95, n)
    fw = rng.integers(1, 4, n).astype(float)
    fam = sm.families.Binomial()
    ours = families.loglike(fam, y, mu, np.ones(n), fw, 1.0)
    # oracle: scipy's Bernoulli log-probabilities, the same terms (binomial coefficients
    # of single trials are exactly 1); a sum of n = 500 terms of one sign:
    # |error| <= (n + 4) eps |sum| ~ 1.1e-13 relative, and 2e-12 is > 10x that
    oracle = float(fw @ stats.bernoulli.logpmf(y, mu))
    np.testing.assert_allclose(ours, oracle, rtol=2e-12)
    # statsmodels writes y log(mu / (1 - mu)) + log(1 - mu): its terms cancel by up to
    # |log(mu / (1 - mu))| / |log(mu)| < 60 for mu in [0.05, 0.95], so its rounding
    # is up to 60x the above (~7e-12): 1e-10 is > 10x that
    theirs = fam.loglike(y, mu, var_weights=np.ones(n), freq_weights=fw)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)


def test_binomial_loglike_with_trials_keeps_the_coefficients(rng):
    n = 300
    trials = rng.integers(1, 6, n).astype(float)
    y = rng.binomial(trials.astype(int), 0.3) / trials
    mu = rng.uniform(0.05, 0.95, n)
    fam = sm.families.Binomial()
    ours = families.loglike(fam, y, mu, trials, np.ones(n), 1.0)
    # R's glm likelihood with trials: sum of binomial log-probabilities (scipy)
    theirs = float(np.sum(stats.binom.logpmf(np.rint(trials * y), trials, mu)))
    # n = 300 terms of one sign, each a few roundings: (n + 10) eps ~ 7e-14; 1e-12 > 10x
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    # and the coefficients matter here: dropping them changes the value
    succ = trials * y
    without = float(np.sum(succ * np.log(mu) + (trials - succ) * np.log1p(-mu)))
    assert abs(without - theirs) > 1.0


def test_prior_fit_comes_with_the_first_pass_and_equals_the_product(rng):
    """X b0, kept from the pass at the prior, is the dense product (offset apart)."""
    n = 3 * ROW_BLOCK + 5
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    b0 = np.array([0.2, 0.1, -0.1, 0.3])
    offset = rng.normal(scale=0.1, size=n)
    y = rng.poisson(np.exp(X @ b0 + offset)).astype(float)
    model = pr.PriorGLM(y, X, family=sm.families.Poisson(), prior=b0, offset=offset)
    res = model.fit(lam=5.0)
    kept = model.problem.__dict__["prior_fit"]
    # a row's dot product of 4 terms: |error| <= 4 eps sum|x_ij b0_j| <= 4 eps (0.2 +
    # 3 * 6 * 0.3) ~ 5e-15 (|x| < 6, |b0| <= 0.3): 1e-13 absolute is > 10x that
    np.testing.assert_allclose(kept, X @ b0, rtol=0, atol=1e-13)
    # the same fit from a model whose X b0 was computed by the product first
    other = pr.PriorGLM(y, X, family=sm.families.Poisson(), prior=b0, offset=offset)
    _ = other.problem.prior_fit
    again = other.fit(lam=5.0)
    # the steps do not use X b0 (it enters the covariance's working response only)
    np.testing.assert_array_equal(again.params, res.params)


@pytest.mark.parametrize(
    ("mean", "shifted"), [(0.0, False), (0.5, False), (1.0, True), (5.0, True)]
)
def test_centred_gram_skips_the_shift_only_for_columns_near_zero(rng, mean, shifted):
    """Unshifted rows (kappa <= 1.5 predicted) or shifted: the exact centred Gram matrix."""
    from priorreg.gram import centred_gram

    n, k = 2 * ROW_BLOCK + 11, 4
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1)) + mean])
    sw = rng.uniform(0.5, 1.5, n)
    zw = rng.normal(size=n)
    cg = centred_gram(X, sw, zw, 0, max_kappa=1.5)
    assert cg.shift is not None
    assert bool(np.any(cg.shift)) == shifted
    # oracle: the dense centred data with the exact weighted means
    w = sw * sw
    m = (w @ X) / w.sum()
    m[0] = 0.0
    A = np.column_stack([(X - m) * sw[:, None], zw])
    dense = A.T @ A
    # the centring is exact algebra; the rounding of the sums is <= n eps kappa max|G|
    # with kappa <= 1.5 unshifted (and ~1 shifted): 2.7e-12 at n ~ 8.2e3, and the
    # means r = G_j / G_jj carry the same relative error: 3e-11 is > 10x
    np.testing.assert_allclose(cg.G, dense, rtol=0, atol=3e-11 * np.max(np.abs(dense)))
    np.testing.assert_allclose(cg.means, m, rtol=0, atol=3e-11 * (1 + abs(mean)))
