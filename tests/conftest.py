"""Shared fixtures: small random problems and the dense oracles."""

from __future__ import annotations

import json
import math

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


def central_differences(at, rho, h):
    """Central differences of a criterion's value and gradient in ``rho``.

    ``at(r)`` returns an object with ``.value`` and ``.grad``. Returns the
    gradient ``(V(rho + h e_j) - V(rho - h e_j)) / 2h`` and the matrix whose
    row ``j`` is ``(grad(rho + h e_j) - grad(rho - h e_j)) / 2h``.
    """
    m = len(rho)
    grad, rows = np.zeros(m), np.zeros((m, m))
    for j in range(m):
        e = np.zeros(m)
        e[j] = h
        up, down = at(rho + e), at(rho - e)
        grad[j] = (up.value - down.value) / (2 * h)
        rows[j] = (up.grad - down.grad) / (2 * h)
    return grad, rows


def richardson_first(value, rho, h):
    """Richardson-extrapolated central difference of ``value`` at ``rho`` (steps ``h``, ``2h``).

    ``(4 D(h) - D(2h)) / 3`` with ``D(h) = (V(rho + h) - V(rho - h)) / 2h``:
    truncation ``O(h^4)``, rounding ``~ |error of V| / h``.
    """
    d1 = (value(rho + h) - value(rho - h)) / (2 * h)
    d2 = (value(rho + 2 * h) - value(rho - 2 * h)) / (4 * h)
    return (4 * d1 - d2) / 3


def richardson_second(value, rho, h):
    """Richardson-extrapolated second difference of ``value`` at ``rho`` (steps ``h``, ``2h``).

    ``(4 D(h) - D(2h)) / 3`` with ``D(h) = (V(rho + h) - 2 V(rho) + V(rho - h)) / h^2``:
    truncation ``O(h^4)``, rounding ``~ 8 |error of V| / h^2``.
    """
    v0 = value(rho)

    def second(step):
        return (value(rho + step) - 2 * v0 + value(rho - step)) / step**2

    return (4 * second(h) - second(2 * h)) / 3


#: The two penalty groups of :func:`groups_frame`'s predictors.
GROUPS = {"g1": ["a"], "g2": ["b", "c"]}


def fit_groups_cli(tmp_path, frame, lam, *extra, penalty=True):
    """``priorreg fit "z ~ a + b + c"`` on ``frame`` (written to CSV), with the
    :data:`GROUPS` penalty file unless ``penalty=False``; returns the exit status."""
    from priorreg import cli

    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "pen.json").write_text(json.dumps({"components": GROUPS}))
    groups = ["--penalty", str(tmp_path / "pen.json")] if penalty else []
    args = ["fit", "z ~ a + b + c", "--data", str(tmp_path / "d.csv"), "--lam", lam]
    return cli.main([*args, *groups, *extra])


@pytest.fixture
def synchronous():
    """Dask's synchronous scheduler for the test (files opt in with ``usefixtures``)."""
    import dask

    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture
def labels(monkeypatch):
    """The label of every pass over Dask partitions made from here on."""
    from priorreg.outofcore import passes

    seen: list[str] = []
    original = passes._compute

    def counting(obj, progress, label):
        seen.append(label)
        return original(obj, progress, label)

    monkeypatch.setattr(passes, "_compute", counting)
    return seen


def search_gradient(model, criterion, lam, maxiter=200, tol=1e-13):
    """The GLM penalty search's exact derivative of ``criterion`` in log(lam) at ``lam``.

    The search (:class:`priorreg.glm_search.GLMSearch`) evaluates ``lam`` by a
    converged Gram-route fit first; both its value and derivative must exist.
    """
    from priorreg.glm_search import GLMSearch

    search = GLMSearch(model, criterion, maxiter, tol)
    search._start()
    search.evaluate(lam)
    assert math.isfinite(search.trials[lam].value)  # a converged Gram-route fit
    grad = search.gradient(lam)
    assert grad is not None
    return grad


def allocated_peak(fn) -> int:
    """Peak bytes ``fn()`` allocates beyond what was allocated before (tracemalloc).

    NumPy reports its data buffers to tracemalloc, so arrays count.
    """
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
