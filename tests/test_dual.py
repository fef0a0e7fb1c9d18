"""The wide-case reduction (priorreg.dual) against dense eigendecompositions and solves.

Tolerances: the tridiagonal reduction and the dense eigendecomposition are
both backward stable; on these problems (cond(K + lam I) < 1e8) 1e-10
relative agreement leaves a margin of several digits.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dense_solution

import priorreg as pr
from priorreg.dual import RowGram
from priorreg.linalg import factorize

LAMS = [1e-3, 0.5, 40.0, 1e5]


def test_reduction_reproduces_the_gram_matrix(rng):
    M = rng.normal(size=(12, 30))
    g = rng.normal(size=12)
    rows = RowGram.reduce(M, g)
    tri = rows.tridiagonal
    assert tri is not None
    T = np.diag(tri.diag) + np.diag(tri.off, 1) + np.diag(tri.off, -1)
    HQ = tri.to_rows(np.eye(12))
    np.testing.assert_allclose(HQ @ T @ HQ.T, M @ M.T, atol=1e-12 * np.abs(M @ M.T).max())
    np.testing.assert_allclose(HQ.T @ HQ, np.eye(12), atol=1e-14)  # orthogonal
    np.testing.assert_allclose(tri.from_rows(g), [tri.alpha] + [0.0] * 11, atol=1e-13)
    ev = np.linalg.eigvalsh(M @ M.T)[::-1]
    np.testing.assert_allclose(rows.d**2, ev, rtol=1e-12)


@pytest.mark.parametrize("lam", LAMS)
def test_path_terms_and_solves_equal_dense_formulas(rng, lam):
    M = rng.normal(size=(10, 25)) * rng.uniform(0.1, 10, 25)
    g = rng.normal(size=10)
    rows = RowGram.reduce(M, g)
    K = M @ M.T
    y = np.linalg.solve(K + lam * np.eye(10), g)
    rss_part, penalty, misfit = rows.path_terms(lam)
    assert rss_part == pytest.approx(lam**2 * y @ y, rel=1e-10)
    assert penalty == pytest.approx(y @ K @ y, rel=1e-10)
    assert misfit == pytest.approx(lam * g @ y, rel=1e-10)
    np.testing.assert_allclose(rows.coefficients(lam), M.T @ y, rtol=1e-10, atol=1e-14)
    X = rng.normal(size=(10, 3))
    np.testing.assert_allclose(
        rows.solve(lam, X), np.linalg.solve(K + lam * np.eye(10), X), rtol=1e-10, atol=1e-14
    )
    Y = rng.normal(size=(7, 10))
    dense = np.diag(Y @ np.linalg.solve(K + lam * np.eye(10), Y.T))
    np.testing.assert_allclose(rows.inverse_quadratic_diagonal(lam, Y), dense, rtol=1e-10)
    U, f = rows.spectrum
    np.testing.assert_allclose(U.T @ U, np.eye(10), atol=1e-13)
    np.testing.assert_allclose(np.sum(lam * f**2 / (rows.d**2 + lam)), misfit, rtol=1e-10)


def test_repeated_observations_fall_back_to_the_spectrum(rng):
    # a repeated row makes M M' singular: the directions the data do not
    # reach are dropped by the eigendecomposition, and the fit still equals
    # the dense closed form, leverages included
    n, k = 8, 20
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    X[5] = X[2]
    z = rng.normal(size=n)
    L = np.diag([0.0] + [1.0] * (k - 1))
    fac = factorize(X, z, L, None, 0)
    assert fac._rows is not None
    assert fac._rows.tridiagonal is None
    assert fac.d.size == n - 2  # one row repeated, one absorbed by the intercept
    for lam in (0.3, 30.0):
        delta, A = dense_solution(X, z, L, np.ones(n), lam)
        np.testing.assert_allclose(fac.coef(lam), delta, rtol=1e-9, atol=1e-12)
        H = X @ np.linalg.solve(A, X.T)
        np.testing.assert_allclose(fac.leverage(lam), np.diag(H), rtol=1e-9)
        rss = np.sum((z - X @ delta) ** 2)
        assert fac.rss(lam) == pytest.approx(rss, rel=1e-9)
        np.testing.assert_allclose(fac.cov_diagonal(lam), np.diag(np.linalg.inv(A)), rtol=1e-9)


def test_wide_factor_forms_no_singular_vectors_until_asked(rng):
    n, k = 30, 90
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    z = rng.normal(size=n)
    L = np.diag([0.0] + [1.0] * (k - 1))
    fac = factorize(X, z, L, None, 0)
    fac.rss(np.logspace(-2, 3, 20)), fac.coef(2.0), fac.cov_diagonal(2.0), fac.prior_misfit(2.0)
    assert "f" not in fac.__dict__
    assert "V" not in fac.__dict__
    assert fac._rows is not None
    assert "spectrum" not in fac._rows.__dict__
    delta, A = dense_solution(X, z, L, np.ones(n), 2.0)
    np.testing.assert_allclose(fac.coef(2.0), delta, rtol=1e-9, atol=1e-12)
    H = X @ np.linalg.solve(A, X.T)
    np.testing.assert_allclose(fac.leverage(2.0), np.diag(H), rtol=1e-9)  # now they are formed
    assert "spectrum" in fac._rows.__dict__


@pytest.mark.parametrize(("n", "k"), [(300, 7000), (20000, 120)])
def test_large_fit_skips_refinement_only_when_accurate(rng, n, k):
    # above 2e6 entries a well-conditioned fit (wide, or tall with a one-pass
    # Cholesky factor) returns the factor's solution unrefined; it must satisfy
    # the normal equations X'(y - Xb) = lam L (b - b0) to rounding (an
    # independent optimality check)
    lam = 50.0
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    y = X[:, :20] @ rng.normal(size=20) + rng.normal(size=n)
    b0 = rng.normal(scale=0.01, size=k)
    model = pr.PriorRidge(y, X, prior=b0)
    assert model.factor.solution_error_bound(lam) <= 1e4 * np.finfo(float).eps
    res = model.fit(lam=lam)
    L = model.penalty_matrix
    grad = X.T @ (y - X @ res.params) - lam * (L @ (res.params - b0))
    assert np.linalg.norm(grad) <= 1e-11 * np.linalg.norm(X.T @ y)


@pytest.mark.parametrize("n", [2, 3])
def test_one_or_two_rows_beyond_the_intercept(rng, n):
    # the reduced block has n - 1 rows: a 1 x 1 (or 2 x 2) tridiagonal system
    k = 5
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    z = rng.normal(size=n)
    L = np.diag([0.0] + [1.0] * (k - 1))
    fac = factorize(X, z, L, None, 0)
    for lam in (0.5, 20.0):
        delta, A = dense_solution(X, z, L, np.ones(n), lam)
        np.testing.assert_allclose(fac.coef(lam), delta, rtol=1e-10, atol=1e-13)
        assert fac.rss(lam) == pytest.approx(np.sum((z - X @ delta) ** 2), rel=1e-10, abs=1e-14)
        np.testing.assert_allclose(fac.cov_diagonal(lam), np.diag(np.linalg.inv(A)), rtol=1e-10)


def test_wide_path_at_lam_zero_is_the_minimum_norm_interpolant(rng):
    # MM' is non-singular, so lam = 0 is the interpolating fit of least |c|:
    # RSS = rho^2, |c|^2 = g'(MM')^{-1} g (dense solve), no misfit
    M = rng.normal(size=(6, 15))
    g = rng.normal(size=6)
    rows = RowGram.reduce(M, g)
    rss_part, penalty, misfit = rows.path_terms(0.0)
    assert rss_part == 0.0
    assert misfit == 0.0
    assert penalty == pytest.approx(g @ np.linalg.solve(M @ M.T, g), rel=1e-10)
