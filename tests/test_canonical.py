"""The canonical-link block kernels against statsmodels' family functions.

Oracle: statsmodels' ``link.inverse``, ``family.weights`` and ``link.deriv``
and priorreg's deviance (:func:`priorreg.families.deviance`: statsmodels'
values, infinite where a binomial mean of exactly 0 or 1 contradicts the
response) on the same linear predictors, including means at and beyond the
ends of the family's range (where both must give the same non-finite values,
so that IRLS halves the same steps).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

from priorreg import families
from priorreg.canonical import block_kernel
from priorreg.gram_irls import gram_pass
from priorreg.irls import IRLSProblem

F = sm.families
#: Each value is a handful of floating-point operations on the same inputs in
#: either route (a product or quotient rounded a few times): 1e-13 relative is
#: > 10x the bound of ~10 eps.
RTOL = 1e-13


def deviance_rtol(n):
    """A sum of n terms of one sign summed in another order: (n + 10) eps; 10x margin."""
    return 10 * (n + 10) * np.finfo(float).eps


def statsmodels_terms(family, eta, y, w):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mu = family.link.inverse(eta)
        sw = np.sqrt(w * family.weights(mu))
        col = sw * (family.link.deriv(mu) * (y - mu))
        dev = families.deviance(family, y, mu, np.ones_like(y), w)
    return mu, sw, col, dev


def assert_same(ours, theirs, rtol):
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(theirs))
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    ok = np.isfinite(theirs)
    np.testing.assert_allclose(ours[ok], theirs[ok], rtol=rtol, atol=0)


def draw_response(rng, name, eta):
    """The family and a response drawn at linear predictor ``eta`` (Poisson-log or logit)."""
    if name == "poisson":
        return F.Poisson(), rng.poisson(np.exp(eta)).astype(float)
    return F.Binomial(), (rng.uniform(size=eta.size) < 1 / (1 + np.exp(-eta))).astype(float)


@pytest.mark.parametrize("name", ["poisson", "logistic"])
def test_kernel_equals_statsmodels_on_ordinary_predictors(rng, name):
    n = 2000
    eta = rng.normal(scale=2.0, size=n)
    w = rng.uniform(0.5, 3.0, n)
    family, y = draw_response(rng, name, eta)
    kernel = block_kernel(family, y, np.ones(n))
    assert kernel is not None
    with np.errstate(all="ignore"):
        mu, sw, col, dev = kernel(eta, y, w)
    m0, sw0, col0, dev0 = statsmodels_terms(family, eta, y, w)
    np.testing.assert_array_equal(mu, m0)  # the same formula for the means
    assert_same(sw, sw0, RTOL)
    assert_same(col, col0, RTOL)
    np.testing.assert_allclose(dev, dev0, rtol=deviance_rtol(n))


@pytest.mark.parametrize("name", ["poisson", "logistic"])
def test_kernel_matches_statsmodels_at_the_ends_of_the_range(name):
    # means that underflow to 0, reach 1, overflow to inf, and NaN
    eta = np.array([-800.0, -745.0, -40.0, -36.0, 0.0, 36.0, 40.0, 700.0, 800.0, np.nan])
    n = eta.size
    w = np.ones(n)
    family = F.Poisson() if name == "poisson" else F.Binomial()
    for y in (np.zeros(n), np.ones(n)):
        kernel = block_kernel(family, y, np.ones(n))
        assert kernel is not None
        with np.errstate(all="ignore"):
            mu, sw, col, _ = kernel(eta, y, w)
        m0, sw0, col0, _ = statsmodels_terms(family, eta, y, w)
        np.testing.assert_array_equal(mu, m0)
        assert_same(sw, sw0, RTOL)
        assert_same(col, col0, RTOL)
        for i in range(n):  # the deviance of each single row, finite or not alike
            with np.errstate(all="ignore"):
                dev = kernel(eta[i : i + 1], y[i : i + 1], w[i : i + 1])[3]
            dev0 = statsmodels_terms(family, eta[i : i + 1], y[i : i + 1], w[i : i + 1])[3]
            assert_same([dev], [dev0], RTOL)


def test_other_models_take_the_statsmodels_route(rng):
    n = 10
    y01 = (rng.uniform(size=n) < 0.5).astype(float)
    assert block_kernel(F.Binomial(link=F.links.Probit()), y01, np.ones(n)) is None
    assert block_kernel(F.Binomial(), np.full(n, 0.5), np.full(n, 2.0)) is None  # trials
    assert block_kernel(F.Binomial(), y01, np.full(n, 2.0)) is None
    assert block_kernel(F.Poisson(link=F.links.Identity()), y01, np.ones(n)) is None
    assert block_kernel(F.Gamma(), y01 + 1, np.ones(n)) is None
    assert block_kernel(F.NegativeBinomial(alpha=1.0), y01, np.ones(n)) is None


@pytest.mark.parametrize("name", ["poisson", "logistic"])
def test_gram_pass_with_the_kernel_equals_the_statsmodels_route(rng, monkeypatch, name):
    """One pass (several row blocks) with and without the kernel: same point."""
    import priorreg.gram_irls as gi

    n, k = 9000, 4
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    b = rng.normal(scale=0.3, size=k)
    eta = X @ b
    family, y = draw_response(rng, name, eta)
    fw = rng.uniform(0.5, 2.0, n)
    problem = IRLSProblem(
        X, y, family, np.zeros(n), fw, np.ones(n), np.zeros(k), np.diag([0.0, 1, 1, 1]), 0
    )
    fast = gram_pass(problem, b)
    monkeypatch.setattr(gi, "block_kernel", lambda *args: None)
    slow = gram_pass(problem, b)
    np.testing.assert_array_equal(fast.mu, slow.mu)
    np.testing.assert_allclose(fast.deviance, slow.deviance, rtol=deviance_rtol(n))
    assert fast.gram is not None
    assert slow.gram is not None
    # Gram entries: sums of n products of terms equal to ~10 eps: 1e-12 is > 10x that
    scale = np.max(np.abs(slow.gram.gram))
    np.testing.assert_allclose(fast.gram.gram, slow.gram.gram, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(
        fast.gram.score, slow.gram.score, rtol=0, atol=1e-12 * np.max(np.abs(slow.gram.score))
    )
