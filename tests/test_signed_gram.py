"""``signed_gram``: ``X' diag(v) X`` for weights of any sign, against the dense product."""

from __future__ import annotations

import numpy as np
import pytest

from priorreg.gram import ROW_BLOCK, blockwise_gram, signed_gram

EPS = float(np.finfo(float).eps)


def _weights(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    size = rng.uniform(0.1, 3.0, size=n)
    if kind == "mixed":
        return size * rng.choice([-1.0, 1.0], size=n)
    if kind == "mostly positive":  # the negative rows' buffer fills over many blocks
        return size * np.where(rng.uniform(size=n) < 0.05, -1.0, 1.0)
    if kind == "mostly negative":
        return size * np.where(rng.uniform(size=n) < 0.05, 1.0, -1.0)
    if kind == "positive":
        return size
    if kind == "negative":
        return -size
    if kind == "sorted":  # all positive rows first: each buffer fills block by block
        return np.sort(size * rng.choice([-1.0, 1.0], size=n))[::-1]
    if kind == "zeros":  # zero weights among both signs
        v = size * rng.choice([-1.0, 1.0], size=n)
        v[::3] = 0.0
        return v
    raise AssertionError(kind)


KINDS = ["mixed", "mostly positive", "mostly negative", "positive", "negative", "sorted", "zeros"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [3 * ROW_BLOCK + 123, 1000, 1])
def test_signed_gram_equals_the_dense_product(kind, n, rng):
    # n not a multiple of the row block (a short last block), below one
    # block, and a single row
    k = 11
    X = rng.normal(size=(n, k)) * rng.uniform(0.5, 5.0, size=k) + rng.normal(size=k)
    v = _weights(kind, n, rng)
    v_orig, X_orig = v.copy(), X.copy()
    G = signed_gram(X, v)
    expected = X.T @ (v[:, None] * X)
    # Each entry is a sum of n products v_i x_ij x_il, in any order: either
    # result errs by at most n * eps * sum_i |v_i| |x_ij| |x_il| (rounding of
    # the sums, the products and the square roots), so their difference by
    # twice that; the usual error is ~sqrt(n) eps times it, far below
    absx = np.abs(X)
    bound = 2.0 * (n + 4) * EPS * (absx.T @ (np.abs(v)[:, None] * absx))
    assert np.all(np.abs(G - expected) <= bound)
    assert np.array_equal(G, G.T)
    assert np.array_equal(v, v_orig)  # the inputs are read, not changed
    assert np.array_equal(X, X_orig)


def test_signed_gram_of_positive_weights_is_the_weighted_gram(rng):
    # the same matrix as the positive-weight pass on sqrt(v) (an independent
    # code path: one contiguous weighted block per syrk); both err by at
    # most n eps sum_i v_i |x_ij| |x_il|
    n, k = 2 * ROW_BLOCK + 77, 9
    X = rng.normal(size=(n, k))
    v = rng.uniform(0.0, 2.0, size=n)
    G = signed_gram(X, v)
    expected = blockwise_gram(X, np.sqrt(v), np.zeros(n), None)[:k, :k]
    bound = 2.0 * (n + 4) * EPS * (np.abs(X).T @ (v[:, None] * np.abs(X)))
    assert np.all(np.abs(G - expected) <= bound)
    # and the negated weights give the negated matrix, to the bit (the same
    # rows in the same order, only the buffer they go to changes)
    assert np.array_equal(signed_gram(X, -v), -G)


def test_signed_gram_of_zero_weights_or_rows():
    X = np.arange(12.0).reshape(4, 3)
    assert np.array_equal(signed_gram(X, np.zeros(4)), np.zeros((3, 3)))
    assert np.array_equal(signed_gram(np.empty((0, 3)), np.empty(0)), np.zeros((3, 3)))
