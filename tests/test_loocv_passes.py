"""The row passes behind the GLM LOOCV derivative (priorreg.gram_leverage, priorreg.glm_loocv).

Oracles: dense products and solves of the whole design (numpy).
"""

from __future__ import annotations

import numpy as np

from priorreg import gram_leverage
from priorreg.gram_irls import _cholesky
from priorreg.gram_leverage import gram_along, quadratic_forms

EPS = float(np.finfo(float).eps)


def test_gram_along_equals_dense_products(rng):
    # rows over several blocks of 4096 (a last block of one row), weights of
    # both signs and zeros, columns of different scales
    n, k = 12289, 9
    X = rng.normal(size=(n, k)) * np.array([1.0, 10.0, 0.1, 1.0, 3.0, 1.0, 1e2, 1.0, 0.5])
    b = rng.normal(size=k)
    v = rng.normal(size=n)
    v[::5] = 0.0
    e, H1 = gram_along(X, b, v)
    # oracle: X @ b and X' diag(v * X b) X in whole-matrix numpy products.
    # X b: each entry sums k terms, error <= k eps sum_j |x_ij b_j|; 10x margin
    bound_e = 10 * k * EPS * (np.abs(X) @ np.abs(b))
    assert np.all(np.abs(e - X @ b) <= bound_e)
    # each entry of H1 sums n terms |v_i e_i x_ij x_il| (e carries its own
    # relative error k eps): eps * (n + k) * sum of the terms; 10x margin
    s = v * (X @ b)
    expected = X.T @ (s[:, None] * X)
    terms = np.abs(X).T @ (np.abs(s)[:, None] * np.abs(X))
    assert np.all(np.abs(H1 - expected) <= 10 * (n + k) * EPS * terms)
    assert np.array_equal(H1, H1.T)


def test_quadratic_forms_without_m_equal_dense_solves(rng, monkeypatch):
    # the leverages alone (value without derivative) over several blocks
    monkeypatch.setattr(gram_leverage, "_BLOCK_ELEMENTS", 1)
    n, k = 9000, 6
    X = rng.normal(size=(n, k)) * np.array([1.0, 10.0, 0.1, 1.0, 3.0, 1e2])
    W = rng.uniform(0.5, 2.0, n)
    A = X.T @ (W[:, None] * X) + 2.0 * np.eye(k)
    q, r = quadratic_forms(X, *_cholesky(A))
    assert r is None
    # oracle: LU solves with S = D A D, u = D x; relative forward error of
    # either route <= 2k eps cond(S); 10x margin
    Ds = 1.0 / np.sqrt(np.diagonal(A))
    S = Ds[:, None] * A * Ds[None, :]
    U = X * Ds
    expected = np.einsum("ij,ji->i", U, np.linalg.solve(S, U.T))
    np.testing.assert_allclose(q, expected, rtol=10 * 2 * k * EPS * np.linalg.cond(S))
