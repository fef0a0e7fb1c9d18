"""Shared fixtures: small random problems and the dense oracles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def dense_solution(X, z, L, w, lam):
    """Closed form (X'WX + lam L)^-1 X'W z, solved densely."""
    W = np.diag(w)
    A = X.T @ W @ X + lam * L
    return np.linalg.solve(A, X.T @ W @ z), A


def augmented_ols(X, y, L, w, lam, b0, offset):
    """Augmented-data route: OLS on [W^1/2 X; sqrt(lam) R], R'R = L."""
    evals, evecs = np.linalg.eigh(L)
    R = (evecs * np.sqrt(np.clip(evals, 0, None))).T
    sw = np.sqrt(w)
    Xs = np.vstack([X * sw[:, None], np.sqrt(lam) * R])
    ys = np.concatenate([(y - offset) * sw, np.sqrt(lam) * R @ b0])
    return np.linalg.lstsq(Xs, ys, rcond=None)[0]


def random_problem(rng, n, k, *, kind="default", weights=True, intercept=True):
    """Design with an intercept, response, prior, weights, offset and penalty."""
    cols = rng.normal(size=(n, k - 1 if intercept else k)) * rng.uniform(0.1, 10, k - intercept)
    cols += rng.uniform(-5, 5, cols.shape[1])
    X = np.column_stack([np.ones(n), cols]) if intercept else cols
    b0 = rng.normal(size=k)
    y = X @ (b0 + rng.normal(size=k)) + rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, n) if weights else np.ones(n)
    offset = rng.normal(size=n)
    if kind == "default":
        L = np.eye(k)
        if intercept:
            L[0, 0] = 0.0
    elif kind == "dense":
        M = rng.normal(size=(k, k))
        L = M @ M.T
        if intercept:
            L[0, :] = 0.0
            L[:, 0] = 0.0
    elif kind == "difference":  # second differences: null space of dim 2 (+ intercept)
        D = np.diff(np.eye(k - 1), 2, axis=0)
        L = np.zeros((k, k))
        L[1:, 1:] = D.T @ D
    elif kind == "pd":
        M = rng.normal(size=(k, k))
        L = M @ M.T + np.eye(k)
    else:
        raise ValueError(kind)
    return X, y, b0, w, offset, L


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)


@pytest.fixture(scope="module")
def groups_frame():
    """120 rows of ``a, b, c`` ~ N(0, 1) and ``z = a + b/2 + e``: two penalty groups' data."""
    rng = np.random.default_rng(7)
    n = 120
    df = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    df["z"] = df.a + 0.5 * df.b + rng.normal(size=n)
    return df
