"""The blockwise Gram passes run with one BLAS thread over several row blocks.

Oracles: threadpoolctl's report of the BLAS thread count inside the pass,
and the dense products ``X.T @ X`` / ``X.T @ (v X)`` for the results.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits  # with scikit-learn (test extra)

from priorreg import gram


def _blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


@pytest.mark.parametrize(("n", "inside"), [(gram.ROW_BLOCK + 7, 1), (gram.ROW_BLOCK, 2)])
def test_blockwise_passes_use_one_blas_thread_over_several_blocks(monkeypatch, n, inside):
    seen: list[list[int]] = []
    syrk = gram.dsyrk

    def recording_syrk(*args, **kwargs):
        seen.append(_blas_threads())
        return syrk(*args, **kwargs)

    monkeypatch.setattr(gram, "dsyrk", recording_syrk)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(n, 4))
    z = rng.normal(size=n)
    v = rng.normal(size=n)  # mixed signs
    with threadpool_limits(limits=2, user_api="blas"):  # a caller's two threads
        before = _blas_threads()
        assert before
        assert before == [2] * len(before)
        G = gram.blockwise_gram(X, None, z, None)
        S = gram.signed_gram(X, v)
        assert _blas_threads() == before  # the caller's setting is restored
    assert seen
    assert all(threads == [inside] * len(before) for threads in seen)
    # dense oracles: sums of n products of O(1) terms, rounding ~ n eps ~ 1e-12
    # relative to sum |x_i x_j| ~ n; 1e-10 n is a 100x margin
    A = np.column_stack([X, z])
    np.testing.assert_allclose(G, A.T @ A, rtol=0, atol=1e-10 * n)
    np.testing.assert_allclose(S, X.T @ (v[:, None] * X), rtol=0, atol=1e-10 * n)
