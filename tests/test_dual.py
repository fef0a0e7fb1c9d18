"""The wide-case reduction (priorreg.dual) against dense eigendecompositions and solves.

Tolerances (tests/bounds.py): the tridiagonal reduction and the dense
eigendecomposition and solves are backward stable, so they agree within
solve_rtol(K + lam I) (2 m eps cond, x 10), computed for each problem;
orthogonality and reconstruction within m eps times the norms involved.
"""

from __future__ import annotations

import numpy as np
import pytest
from bounds import EPS, MARGIN, assert_close_normwise, solve_rtol
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
    # Householder reduction: backward error m eps ||K|| (Higham 19.3), m = 12;
    # Q orthogonal to m eps; the reflected g to m eps ||g||; x 10 each
    m = 12
    K = M @ M.T
    np.testing.assert_allclose(HQ @ T @ HQ.T, K, atol=MARGIN * m * EPS * np.linalg.norm(K, 2))
    np.testing.assert_allclose(HQ.T @ HQ, np.eye(12), atol=MARGIN * m * EPS)  # orthogonal
    np.testing.assert_allclose(
        tri.from_rows(g), [tri.alpha] + [0.0] * 11, atol=MARGIN * m * EPS * np.linalg.norm(g)
    )
    # symmetric eigenvalues move by at most the backward error (Weyl): both
    # sides m eps ||K||
    ev = np.linalg.eigvalsh(K)[::-1]
    np.testing.assert_allclose(rows.d**2, ev, rtol=0, atol=2 * MARGIN * m * EPS * ev[0])


@pytest.mark.parametrize("lam", LAMS)
def test_path_terms_and_solves_equal_dense_formulas(rng, lam):
    M = rng.normal(size=(10, 25)) * rng.uniform(0.1, 10, 25)
    g = rng.normal(size=10)
    rows = RowGram.reduce(M, g)
    K = M @ M.T
    S = K + lam * np.eye(10)
    y = np.linalg.solve(S, g)
    # y within tol = solve_rtol(S) normwise; quadratic forms in y: 2 tol
    # relative to the form with |.| inside (e.g. ||K|| |y|^2 for y'Ky)
    tol = solve_rtol(S)
    ny = np.linalg.norm(y)
    rss_part, penalty, misfit = rows.path_terms(lam)
    assert rss_part == pytest.approx(lam**2 * y @ y, abs=2 * tol * lam**2 * ny**2)
    assert penalty == pytest.approx(y @ K @ y, abs=2 * tol * np.linalg.norm(K, 2) * ny**2)
    assert misfit == pytest.approx(lam * g @ y, abs=2 * tol * lam * np.linalg.norm(g) * ny)
    coef_tol = tol * np.linalg.norm(M, 2) * ny / np.abs(M.T @ y).max()
    assert_close_normwise(rows.coefficients(lam), M.T @ y, coef_tol)
    X = rng.normal(size=(10, 3))
    assert_close_normwise(rows.solve(lam, X), np.linalg.solve(S, X), tol)
    Y = rng.normal(size=(7, 10))
    dense = np.diag(Y @ np.linalg.solve(S, Y.T))
    bound = tol * np.linalg.norm(Y, axis=1) ** 2 * np.linalg.norm(np.linalg.inv(S), 2)
    np.testing.assert_array_less(np.abs(rows.inverse_quadratic_diagonal(lam, Y) - dense), bound)
    U, f = rows.spectrum
    np.testing.assert_allclose(U.T @ U, np.eye(10), atol=MARGIN * 10 * EPS)
    misfit_bound = 2 * tol * lam * np.linalg.norm(g) * ny
    np.testing.assert_allclose(
        np.sum(lam * f**2 / (rows.d**2 + lam)), misfit, rtol=0, atol=misfit_bound
    )


def check_against_dense(fac, X, z, delta, A, lam):
    """coef, leverages, RSS and cov diagonal against the dense solve, within solve_rtol(A)."""
    tol = solve_rtol(A)
    assert_close_normwise(fac.coef(lam), delta, tol)
    H = X @ np.linalg.solve(A, X.T)
    np.testing.assert_allclose(fac.leverage(lam), np.diag(H), rtol=0, atol=tol)  # in [0, 1]
    r = z - X @ delta
    r_err = tol * np.linalg.norm(X, 2) * np.linalg.norm(delta)
    rss = np.sum(r**2)
    assert fac.rss(lam) == pytest.approx(rss, abs=2 * r_err * np.sqrt(rss) + r_err**2)
    A_inv = np.linalg.inv(A)
    np.testing.assert_allclose(
        fac.cov_diagonal(lam), np.diag(A_inv), rtol=0, atol=tol * np.linalg.norm(A_inv, 2)
    )


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
        check_against_dense(fac, X, z, delta, A, lam)


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
    check_against_dense(fac, X, z, delta, A, 2.0)  # the leverages: now they are formed
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
    # a solution with relative error e leaves a gradient <= e ||A|| ||b||
    # (A = X'X + lam L), e <= the factor's own bound; the gradient's own
    # rounding is n eps ||X|| (||y|| + ||X b||); x 10
    A_norm = np.linalg.norm(X, 2) ** 2 + lam
    e = model.factor.solution_error_bound(lam)
    rounding = n * EPS * np.linalg.norm(X, 2) * (np.linalg.norm(y) + np.linalg.norm(X @ res.params))
    assert np.linalg.norm(grad) <= MARGIN * (e * A_norm * np.linalg.norm(res.params) + rounding)


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
        check_against_dense(fac, X, z, delta, A, lam)


def test_wide_path_at_lam_zero_is_the_minimum_norm_interpolant(rng):
    # MM' is non-singular, so lam = 0 is the interpolating fit of least |c|:
    # RSS = rho^2, |c|^2 = g'(MM')^{-1} g (dense solve), no misfit
    M = rng.normal(size=(6, 15))
    g = rng.normal(size=6)
    rows = RowGram.reduce(M, g)
    rss_part, penalty, misfit = rows.path_terms(0.0)
    assert rss_part == 0.0
    assert misfit == 0.0
    # g'(MM')^-1 g: 2 solve_rtol(MM') relative (a quadratic form), x 10 inside
    assert penalty == pytest.approx(
        g @ np.linalg.solve(M @ M.T, g), rel=2 * solve_rtol(M @ M.T)
    )
