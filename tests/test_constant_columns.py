"""A constant column has no scale, also with uneven weights."""

from __future__ import annotations

import warnings

import numpy as np

import priorreg as pr
from priorreg.penalty import column_sd


def test_constant_column_sd_is_zero_with_uneven_weights(rng):
    X = np.column_stack([np.ones(50), rng.normal(size=50), np.full(50, 3.7)])
    w = rng.uniform(0.5, 2.0, 50)
    sd = column_sd(X, w)
    assert sd[0] == 0.0
    assert sd[2] == 0.0
    # the others: the weighted standard deviation, computed directly
    mean = np.average(X[:, 1], weights=w)
    expected = np.sqrt(np.average((X[:, 1] - mean) ** 2, weights=w))
    np.testing.assert_allclose(sd[1], expected, rtol=1e-13)  # n eps ~ 1e-14; 10x


def test_no_units_warning_for_a_constant_penalized_column(rng):
    # [1, x, 1]: the second constant column is penalized; with uneven weights
    # its rounding-level sd made the default penalty's units look 1e16 apart
    n = 40
    X = np.column_stack([np.ones(n), rng.normal(size=n), np.ones(n)])
    y = X[:, 1] + rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = pr.PriorRidge(y, X, weights=w).fit(lam=2.0)
        std = pr.PriorRidge(y, X, weights=w, standardize=True).fit(lam=2.0)
    # the penalized constant column is fully shrunk by the unpenalized
    # intercept in both (a constant column keeps scale 1 under standardize)
    assert abs(res.params[2]) < 1e-12
    assert abs(std.params[2]) < 1e-12
