"""The per-partition sweep of the Dask scan against direct evaluation.

``_column_scan`` reads a partition in cache-sized chunks of rows and gives
the columns' extrema and either their weighted moments or the Householder
factor of ``W^1/2 [1, X, t]``; ``split_scan_factor`` reads the moments and
the fit's factor from it. Oracles: numpy's min/max, two-pass moments in
extended precision (``np.longdouble``), numpy's Householder QR of the whole
weighted matrix and the Gram matrix ``[X, t]' W [X, t]``.
"""

from __future__ import annotations

import numpy as np
import pytest
from bounds import EPS, MARGIN

from priorreg.outofcore import passes
from priorreg.outofcore.passes import (
    _column_scan,
    _merge,
    _weighted_qr,
    split_scan_factor,
)
from priorreg.penalty import column_sd

#: Rows spanning several chunks and a short last chunk.
N = 3 * passes._QR_ROWS + 123


def _data(seed: int = 0, n: int = N, k: int = 5):
    rng = np.random.default_rng(seed)
    X = np.asfortranarray(rng.normal(size=(n, k)))
    X[:, 0] = 1.0  # an intercept, as formulas give
    X[:, 1] = 1e4 + rng.normal(size=n)  # mean / sd = 1e4
    t = X @ rng.normal(size=k) + rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    return X, t, w


def _moments_ld(A: np.ndarray, w: np.ndarray | None):
    """Two-pass weighted moments in extended precision."""
    A = np.asarray(A, dtype=np.longdouble)
    w = np.ones(A.shape[0], dtype=np.longdouble) if w is None else w.astype(np.longdouble)
    total = w.sum()
    mean = (w[:, None] * A).sum(axis=0) / total
    m2 = (w[:, None] * (A - mean) ** 2).sum(axis=0)
    return float(total), mean.astype(float), m2.astype(float)


def _r_rtol(p: int, cond: float = 1.0) -> float:
    # Householder QR: the computed R is the exact factor of A + dA with
    # ||dA_j|| <= p eps ||A_j|| (Higham, Thm 19.4, up to a small constant);
    # two such computations of R differ by at most that times cond(A) of the
    # column-scaled A; 10x margin
    return MARGIN * p * EPS * cond


def _cond(A: np.ndarray) -> float:
    return float(np.linalg.cond(A / np.linalg.norm(A, axis=0)))


@pytest.mark.parametrize("weighted", [False, True])
def test_linear_sweep_equals_direct_evaluation(weighted):
    X, t, w = _data()
    w = w if weighted else None
    half = X.shape[0] // 2
    # two "partitions" merged as the reduction tree merges them
    parts = [
        {"n": m.stop - m.start, **_column_scan(X[m], t[m], None if w is None else w[m])}
        for m in (slice(0, half), slice(half, N))
    ]
    scan = split_scan_factor(_merge(*parts))
    np.testing.assert_array_equal(scan["x_min"], X.min(axis=0))
    np.testing.assert_array_equal(scan["x_max"], X.max(axis=0))

    k = X.shape[1]
    total, mean, m2 = _moments_ld(np.column_stack([X, t]), w)
    got_total, got_mean, got_m2 = scan["x_mom"]
    y_total, y_mean, y_m2 = scan["y_mom"]
    # the total weight: R_00^2 = ||sw||^2, relative error ~ p eps
    assert got_total == pytest.approx(total, rel=_r_rtol(k + 2))
    assert y_total == got_total
    # means m_j = R_0j / R_00: error <= p eps ||a_j|| / ||sw||, i.e. relative
    # to sqrt(m_j^2 + sd_j^2)
    scale = np.sqrt(mean**2 + m2 / total)
    assert np.all(np.abs(np.r_[got_mean, y_mean] - mean) <= _r_rtol(k + 2) * scale)
    # centred sums of squares: |d sqrt(S_j)| <= p eps ||sw a_j|| (the fit's own
    # accuracy); the intercept's is exactly 0 (its extrema agree)
    got_sd = np.sqrt(np.r_[got_m2, y_m2])
    assert got_m2[0] == 0.0
    bound = _r_rtol(k + 2) * np.sqrt(total) * scale
    assert np.all(np.abs(got_sd[1:] - np.sqrt(m2[1:])) <= bound[1:])
    # the spread of the column with mean 1e4 is still good to ~1e-10
    assert got_sd[1] == pytest.approx(np.sqrt(m2[1]), rel=_r_rtol(k + 2) * 1e4 * 2)

    # the fit's factor: R of W^1/2 [X, t], rows up to sign as numpy's QR
    sw = np.ones(X.shape[0]) if w is None else np.sqrt(w)
    A = np.column_stack([X, t]) * sw[:, None]
    ref = np.linalg.qr(A, mode="r")
    R = scan["fit_R"]
    assert R.shape == (k + 1, k + 1)
    signs = np.sign(np.diag(R)) * np.sign(np.diag(ref))
    norms = np.linalg.norm(A, axis=0)
    err = np.abs(R * signs[:, None] - ref)
    assert np.all(err <= _r_rtol(k + 1, _cond(A)) * norms[None, :])
    # and its Gram matrix is [X, t]' W [X, t] (backward error, no cond)
    gram = A.T @ A
    assert np.all(np.abs(R.T @ R - gram) <= _r_rtol(k + 1) * np.outer(norms, norms))


def test_glm_sweep_moments_equal_two_pass():
    """Without a target: extrema and moments merged over chunks (Chan et al.)."""
    X, _, w = _data(1)
    scan = _column_scan(X, None, w)
    total, mean, m2 = _moments_ld(X, w)
    got_total, got_mean, got_m2 = scan["x_mom"]
    # summation over n rows in chunks: relative error ~ log2(n) eps per sum,
    # and the centring is exact to eps |m_j|; 10x margin
    tol = MARGIN * np.log2(N) * EPS
    assert got_total == pytest.approx(total, rel=tol)
    assert np.all(np.abs(got_mean - mean) <= tol * (np.abs(mean) + np.sqrt(m2 / total)))
    nonconst = m2 > 0
    assert np.all(np.abs(got_m2[nonconst] - m2[nonconst]) <= tol * 1e4 * m2[nonconst])
    np.testing.assert_array_equal(scan["x_min"], X.min(axis=0))
    np.testing.assert_array_equal(scan["x_max"], X.max(axis=0))


def test_constant_column_spread_is_exactly_zero_with_uneven_weights():
    """As ``column_sd`` in memory: a constant column's sd is 0, not eps |x|."""
    X, t, w = _data(2)
    X[:, 2] = 0.1  # not exactly representable: the weighted mean is off by rounding
    scan = split_scan_factor({"n": N, **_column_scan(X, t, w)})
    _, _, m2 = scan["x_mom"]
    assert m2[2] == 0.0
    assert column_sd(X, w)[2] == 0.0


def test_empty_partition():
    X = np.empty((0, 3), order="F")
    scan = split_scan_factor({"n": 0, **_column_scan(X, np.empty(0), None)})
    assert scan["x_mom"][0] == 0.0
    assert scan["fit_R"].shape == (0, 4)
    assert np.all(scan["x_min"] == np.inf)
    assert np.all(scan["x_max"] == -np.inf)


def test_weighted_qr_chunks_equal_one_householder_factor():
    """The IRLS pass's factor of [sw X, sw z] over several chunks."""
    X, t, w = _data(3)
    sw = np.sqrt(w)
    R = _weighted_qr(X, t, sw)
    A = np.column_stack([X, t]) * sw[:, None]
    ref = np.linalg.qr(A, mode="r")
    signs = np.sign(np.diag(R)) * np.sign(np.diag(ref))
    norms = np.linalg.norm(A, axis=0)
    tol = _r_rtol(X.shape[1] + 1, _cond(A))
    assert np.all(np.abs(R * signs[:, None] - ref) <= tol * norms[None, :])


def test_columns_give_the_same_sweep_as_the_matrix():
    """A block coded as columns (the intercept as the number 1.0) is read as its matrix."""
    X, t, w = _data(4)
    columns = (1.0, *(X[:, j] for j in range(1, X.shape[1])))
    by_columns = _column_scan(columns, t, w, N)
    by_matrix = _column_scan(X, t, w)
    # the same numbers copied into the same chunks: equal bit for bit
    for key in ("x_min", "x_max", "scan_R"):
        np.testing.assert_array_equal(by_columns[key], by_matrix[key])
    glm = _column_scan((1.0,), None, None, N)
    assert glm["x_mom"][0] == N
    np.testing.assert_array_equal(glm["x_mom"][2], [0.0])
    np.testing.assert_array_equal(passes._matrix(columns, N), X)


@pytest.mark.parametrize("progress", [False, True])
def test_passes_run_with_one_blas_thread(progress, capsys):
    """Dask's threads run the partitions in parallel; BLAS adds no threads of its own."""
    import dask
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    before = blas_threads()
    assert before  # numpy's BLAS is loaded and seen
    with dask.config.set(scheduler="threads"):
        inside = passes._compute(dask.delayed(blas_threads)(), progress, "count threads")
    assert inside == [1] * len(before)
    assert blas_threads() == before  # the caller's setting is restored
