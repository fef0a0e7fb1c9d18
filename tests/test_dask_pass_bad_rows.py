"""A Dask IRLS pass counts the rows whose working weight or response is bad.

The pass decides a chunk good by two sums (of ``log W`` and of ``t``) and
counts its rows only otherwise. Oracle: the count over every row, in numpy,
of ``not (W finite and W > 0 and t finite)`` from statsmodels' family
functions on the whole arrays.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from bounds import EPS, MARGIN

from priorreg.outofcore import irls_pass
from priorreg.outofcore.irls_pass import Asks, PointSpec, glm_point
from priorreg.outofcore.passes import _Block


def _design(n, seed=7):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    return rng, X, (1.0, X[:, 1].copy(), X[:, 2].copy())


def _oracle_bad(family, X, y, var_w, params, b0):
    with np.errstate(all="ignore"):
        mu = family.link.inverse(X @ params)
        W = var_w * family.weights(mu)
        t = X @ (params - b0) + family.link.deriv(mu) * (y - mu)
        return int(np.count_nonzero(~(np.isfinite(W) & (W > 0) & np.isfinite(t))))


@pytest.mark.parametrize("where", ["last chunk", "first and last chunks"])
def test_bad_weights_are_counted_in_every_chunk(where):
    n = 2 * irls_pass._PASS_ROWS + 31  # three chunks, the last one short
    rng, X, columns = _design(n)
    family = sm.families.Poisson()
    y = rng.poisson(1.5, n).astype(float)
    var_w = rng.uniform(0.5, 2.0, n)
    var_w[n - 5] = 0.0  # W = 0
    var_w[n - 2] = np.inf  # W = inf
    if where == "first and last chunks":
        var_w[[3, 10]] = [0.0, np.nan]
    params, b0 = np.array([0.2, 0.1, -0.1]), np.zeros(3)
    block = _Block(y, rows={"var_weights": var_w}, columns=columns)
    out = glm_point(block, family, PointSpec(params), b0, Asks())
    expected = _oracle_bad(family, X, y, var_w, params, b0)
    assert expected == (2 if where == "last chunk" else 4)  # the oracle sees them all
    assert out["bad_w"] == expected
    assert out["log_w"] == 0.0
    assert not np.any(out["work_R"])


def test_finite_working_responses_whose_sum_overflows_are_not_bad():
    """``sum(t)`` overflows for two rows near the largest double: the rows are counted, none bad."""
    n = irls_pass._PASS_ROWS + 9
    rng, X, columns = _design(n, seed=8)
    family = sm.families.Gaussian()
    y = rng.normal(size=n)
    y[[1, 2]] = 1e308  # t = y - mu, each finite, their sum inf
    params, b0 = np.zeros(3), np.zeros(3)
    block = _Block(y, rows={}, columns=columns)
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.sum(y))
    out = glm_point(block, family, PointSpec(params), b0, Asks())
    assert _oracle_bad(family, X, y, np.ones(n), params, b0) == 0
    assert out["bad_w"] == 0
    assert out["log_w"] == 0.0  # W = 1 on every row: log W sums to 0 exactly


def test_unit_weights_give_the_weighted_factor():
    """No var or freq weights: W is the family's weight itself; oracle the dense Gram matrix."""
    n = irls_pass._PASS_ROWS + 100
    rng, X, columns = _design(n, seed=9)
    family = sm.families.Poisson()
    y = rng.poisson(2.0, n).astype(float)
    params, b0 = np.array([0.5, 0.1, -0.2]), np.array([0.4, 0.0, 0.0])
    out = glm_point(_Block(y, rows={}, columns=columns), family, PointSpec(params), b0, Asks())
    mu = np.exp(X @ params)
    W = family.weights(mu)
    t = X @ (params - b0) + family.link.deriv(mu) * (y - mu)
    A = np.column_stack([X, t]) * np.sqrt(W)[:, None]
    k = X.shape[1]
    # Gram matrix then Cholesky (rcond >= 1e-6 here): |R'R - A'A| <= 3 (k+1) n eps ||A||_F^2,
    # as the Householder bound of test_dask_irls_pass; 10x margin
    R = out["work_R"]
    bound = MARGIN * 3 * (k + 1) * n * EPS * np.linalg.norm(A) ** 2
    assert np.max(np.abs(R.T @ R - A.T @ A)) <= bound
    # a sum of n logs, each correctly rounded: n eps sum |log W|; 10x margin
    tol = MARGIN * n * EPS * np.sum(np.abs(np.log(W)))
    assert out["log_w"] == pytest.approx(np.sum(np.log(W)), abs=tol)
    assert out["bad_w"] == 0
