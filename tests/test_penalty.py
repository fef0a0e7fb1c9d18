"""The Penalty object: every method against dense linear algebra on the full matrix."""

from __future__ import annotations

import numpy as np
import pytest

import priorreg as pr
from priorreg import penalty as penalty_module
from priorreg.linalg import _log_pdet, _rank, factorize
from priorreg.penalty import Penalty, resolve_penalty, resolve_penalty_matrix

EPS = np.finfo(float).eps


def psd_matrix(rng, k, rank):
    """A PSD matrix of the given rank, eigenvalues in [1, 10] (cond of the range <= 10)."""
    Q = np.linalg.qr(rng.normal(size=(k, k)))[0]
    s = np.zeros(k)
    s[:rank] = rng.uniform(1.0, 10.0, rank)
    return (Q * s) @ Q.T


def forms(rng, k):
    """(Penalty, dense matrix) for weights, a diagonal matrix and a full matrix."""
    w = rng.uniform(0.5, 3.0, k)
    w[0] = 0.0
    w[k // 2] = 0.0
    full = psd_matrix(rng, k, max(k - 2, 0))
    return [
        (Penalty(w), np.diag(w)),
        (Penalty(np.diag(w)), np.diag(w)),
        (Penalty(full), full),
    ]


@pytest.mark.parametrize("k", [1, 2, 7])
def test_products_equal_the_dense_matrix(rng, k):
    # oracle: numpy on the k x k matrix; a product of k terms of size <= 10 |v|^2
    # carries rounding <= k eps 10 |v|^2: 10x margin
    for pen, M in forms(rng, k):
        v = rng.normal(size=k)
        V = rng.normal(size=(k, 3))
        tol = 100 * k * EPS * max(np.abs(M).max(), 1.0)
        np.testing.assert_allclose(pen.matrix(), M, rtol=0, atol=tol)
        np.testing.assert_allclose(pen.times(v), M @ v, rtol=0, atol=tol * np.abs(v).max())
        np.testing.assert_allclose(pen.times(V), M @ V, rtol=0, atol=tol * np.abs(V).max())
        assert pen.quad(v) == pytest.approx(v @ M @ v, abs=tol * (v @ v))
        np.testing.assert_array_equal(pen.diagonal(), np.diagonal(M))
        s = rng.uniform(0.1, 10.0, k)
        np.testing.assert_allclose(
            pen.scaled(s).matrix(), np.diag(s) @ M @ np.diag(s), rtol=0, atol=100 * tol
        )
        keep = np.arange(k) % 2 == 0
        np.testing.assert_array_equal(pen.restricted(keep).matrix(), M[np.ix_(keep, keep)])
        for j in range(k):  # free of the penalty: its row and column are zero
            assert pen.unpenalized(j) == (not np.any(M[j]) and not np.any(M[:, j]))
        assert not pen.unpenalized(None)


def test_diagonal_is_recognized_and_weights_form_no_matrix(rng):
    pen_w, pen_d, pen_f = (pen for pen, _ in forms(rng, 6))
    assert pen_w.is_diagonal
    assert pen_d.is_diagonal
    assert not pen_f.is_diagonal
    assert pen_w.diagonal() is pen_w.values  # the weights themselves: nothing copied
    assert "_dense" not in pen_w.__dict__  # no k x k matrix until asked for
    pen_w.matrix()
    assert pen_w.matrix() is pen_w.matrix()  # formed once
    with pytest.raises(ValueError, match="vector of weights or a k x k matrix"):
        Penalty(np.zeros((2, 2, 2)))
    assert Penalty.of(pen_w) is pen_w


@pytest.mark.parametrize("k", [3, 8])
def test_rank_root_and_log_pdet_equal_the_eigenvalues(rng, k):
    # oracle: eigvalsh of the dense matrix; eigenvalues in [1, 10] or exactly 0,
    # so a threshold of k eps 10 separates them with orders of magnitude to spare
    for pen, M in forms(rng, k):
        s = np.linalg.eigvalsh(M)
        positive = s[s > 1e-8]
        assert pen.rank == positive.size == np.linalg.matrix_rank(M)
        assert _rank(pen.values) == pen.rank
        # log det of eigenvalues with relative error k eps cond, summed over k: 10x margin
        assert pen.log_pdet() == pytest.approx(np.sum(np.log(positive)), abs=100 * k * k * EPS)
        assert _log_pdet(pen.values) == pen.log_pdet()
        S = pen.root()
        assert S.shape[1] == k  # k rows for weights (zero rows where unpenalized), else rank
        # eigh is backward stable: |S'S - L| <= k eps |L| up to a constant; 100x
        np.testing.assert_allclose(S.T @ S, M, rtol=0, atol=100 * k * EPS * np.abs(M).max())


@pytest.mark.parametrize("k", [4, 9])
def test_whitening_makes_the_penalty_the_identity_on_its_range(rng, k):
    # T' D L D T = diag(0_k0, I): the defining property, checked on the dense
    # matrix; column scales in [0.1, 10] make cond(D L D) <= 1e5 on the range,
    # so the error is <= k eps 1e5: 10x margin
    for pen, M in forms(rng, k):
        s = rng.uniform(0.1, 10.0, k)
        w = pen.whiten(s)
        T = w.basis.toarray() if hasattr(w.basis, "toarray") else w.basis
        target = np.diag(np.r_[np.zeros(w.n_null), np.ones(k - w.n_null)])
        Lp = np.diag(s) @ M @ np.diag(s)
        assert w.n_null == k - pen.rank
        np.testing.assert_allclose(T.T @ Lp @ T, target, rtol=0, atol=1e6 * k * EPS)
        assert np.linalg.matrix_rank(T) == k  # a basis: theta -> delta is one to one


def test_factor_of_weights_matrix_and_penalty_object_agree(rng):
    # the kernel takes the penalty in any form; the three describe one L.
    # Oracle: the dense closed form; two backward-stable solves of a system of
    # condition ~1e3 differ by <= 1e3 k eps: 10x margin
    n, k = 40, 5
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    z = rng.normal(size=n)
    w = np.r_[0.0, rng.uniform(0.5, 2.0, k - 1)]
    dense = np.linalg.solve(X.T @ X + 2.0 * np.diag(w), X.T @ z)
    for L in (w, np.diag(w), Penalty(w), Penalty(np.diag(w))):
        fac = factorize(X, z, L, intercept=0)
        np.testing.assert_allclose(fac.coef(2.0), dense, rtol=0, atol=1e4 * k * EPS)
        assert fac.diagonal_penalty


def test_model_keeps_one_penalty_object(rng):
    n = 30
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = rng.normal(size=n)
    model = pr.PriorRidge(y, X, penalty=[0.0, 2.0, 1.0])
    assert isinstance(model.penalty, Penalty)
    np.testing.assert_array_equal(model.penalty_weights, [0.0, 2.0, 1.0])
    np.testing.assert_array_equal(model.penalty_matrix, np.diag([0.0, 2.0, 1.0]))
    full = np.array([[0.0, 0.0, 0.0], [0.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    model.penalty_matrix = full  # as the Dask model's standardization does
    assert isinstance(model.penalty, Penalty)
    assert not model.penalty.is_diagonal
    np.testing.assert_array_equal(model.penalty_weights, [0.0, 2.0, 1.0])


def test_penalty_matrix_function_is_renamed_with_a_warning():
    names = ["Intercept", "x", "z"]
    expected = np.diag([0.0, 2.0, 1.0])
    np.testing.assert_array_equal(resolve_penalty_matrix({"x": 2.0}, names, 0), expected)
    with pytest.warns(FutureWarning, match="resolve_penalty_matrix") as record:
        old = penalty_module.penalty_matrix({"x": 2.0}, names, 0)
    assert record[0].filename == __file__  # stacklevel points at the caller's line
    np.testing.assert_array_equal(old, expected)


def test_bad_penalty_type_is_a_type_error():
    with pytest.raises(TypeError, match="penalty must be None, weights or a matrix; got object"):
        resolve_penalty(object(), ["a", "b"], None)
