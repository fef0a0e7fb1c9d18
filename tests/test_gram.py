"""The one-pass blockwise Gram factor (priorreg.gram) against dense oracles."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dense_solution

from priorreg.gram import ROW_BLOCK, WeightedRows, one_pass_factor
from priorreg.linalg import factorize


def _design(rng, n, k, *, sorted_trend=False, mean=2.0):
    cols = rng.normal(size=(n, k - 1)) * rng.uniform(0.5, 2.0, k - 1) + mean
    if sorted_trend:  # a time trend: the first rows are not representative
        cols[:, 0] = np.linspace(0.0, 50.0, n)
    return np.column_stack([np.ones(n), cols])


@pytest.mark.parametrize("sorted_trend", [False, True])
@pytest.mark.parametrize("n", [700, 3 * ROW_BLOCK + 17])
def test_weighted_one_pass_factor_equals_the_dense_solution(rng, n, sorted_trend):
    # several row blocks, weights, column means of a few standard deviations
    # (a trend column ordered by row): no copy of X is made, and the
    # coefficients, edf and leverages equal the dense closed form. cond(A) is
    # below ~1e3 here and the one-pass bound is eps * 1e4 relative: 1e-10 has
    # a margin of 10x or more.
    k = 6
    X = _design(rng, n, k, sorted_trend=sorted_trend)
    w = rng.uniform(0.2, 3.0, n)
    z = X @ rng.normal(size=k) + rng.normal(size=n)
    L = np.diag([0.0] + [1.0] * (k - 1))
    before = X.copy()
    fac = factorize(X, z, L, w, 0)
    assert fac.method == "cholesky"
    assert fac._row_basis_inputs[0].A is X  # the caller's array, not a weighted copy
    np.testing.assert_array_equal(X, before)
    for lam in (0.0, 3.0, 500.0):
        delta, A = dense_solution(X, z, L, w, lam)
        np.testing.assert_allclose(fac.coef(lam), delta, rtol=1e-10)
        Xw = X * np.sqrt(w)[:, None]
        lev = np.einsum("ij,ji->i", Xw, np.linalg.solve(A, Xw.T))  # diag of the hat matrix
        assert fac.edf(lam) == pytest.approx(lev.sum(), rel=1e-10)
        np.testing.assert_allclose(fac.leverage(lam), lev, rtol=1e-10, atol=1e-14)


def test_ill_conditioned_design_falls_back_to_the_centred_copy(rng):
    # two nearly collinear columns: cond^2 * kappa > 1e4, the one-pass factor
    # declines and the factorization takes the copy route (CholeskyQR2 or
    # Householder), still equal to the dense solve of the centred problem
    n, k = 400, 4
    X = _design(rng, n, k)
    X[:, 2] = X[:, 1] + 1e-4 * rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, n)
    z = X @ rng.normal(size=k) + rng.normal(size=n)
    L = np.diag([0.0, 1.0, 1.0, 1.0])
    assert one_pass_factor(X, np.sqrt(w), z * np.sqrt(w), L, 0) is None
    fac = factorize(X, z, L, w, 0)
    assert fac.method in ("cholesky-qr2", "householder")
    # cond(A) ~ 1e4 at lam = 1; QR-class error eps * cond ~ 1e-12; 1e-9 leaves 10x+
    delta, _ = dense_solution(X, z, L, w, 1.0)
    np.testing.assert_allclose(fac.coef(1.0), delta, rtol=1e-9)


def test_no_intercept_means_no_centring(rng):
    # without an unpenalized constant column nothing is shifted or centred
    n, k = 300, 4
    X = rng.normal(size=(n, k)) + 1.0
    w = rng.uniform(0.5, 2.0, n)
    z = rng.normal(size=n)
    out = one_pass_factor(X, np.sqrt(w), z * np.sqrt(w), np.ones(k), None)
    assert out is not None
    assert out.shift is None
    assert out.means is None
    # R'R is the scaled Gram matrix of [W^1/2 X, W^1/2 z] (rounding eps * n; 1e-12 relative)
    A = np.column_stack([X, z]) * np.sqrt(w)[:, None]
    G = A.T @ A
    S = np.diag(out.scale)
    np.testing.assert_allclose(out.R.T @ out.R, S @ G @ S, rtol=1e-12, atol=1e-13)


def test_weighted_rows_equal_the_materialized_design(rng):
    n = 2 * ROW_BLOCK + 5
    A = rng.normal(size=(n, 3))
    sw, shift = rng.uniform(0.5, 2.0, n), np.array([0.0, 1.5, -2.0])
    M = rng.normal(size=(3, 2))
    dense = (A - shift) * sw[:, None]
    rows = WeightedRows(A, sw, shift)
    # the same products, summed in a different order: eps * k relative
    np.testing.assert_allclose(rows @ M, dense @ M, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(rows[slice(10, 20)], dense[10:20], rtol=1e-15)
    plain = (A * sw[:, None]) @ M[:, 0]
    np.testing.assert_allclose(WeightedRows(A, sw) @ M[:, 0], plain, rtol=1e-13)
