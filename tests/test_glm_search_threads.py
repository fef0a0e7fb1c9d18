"""The GLM penalty search runs with one BLAS thread and restores the caller's setting."""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from threadpoolctl import threadpool_info, threadpool_limits  # with scikit-learn (test extra)

import priorreg as pr
from priorreg import glm_search


def test_glm_search_runs_with_one_blas_thread(monkeypatch):
    def blas_threads() -> list[int]:
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    seen: list[list[int]] = []
    run = glm_search.GLMSearch.run

    def recording_run(self, lams):
        seen.append(blas_threads())
        return run(self, lams)

    monkeypatch.setattr(glm_search.GLMSearch, "run", recording_run)
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(300), rng.normal(size=(300, 3))])
    y = rng.poisson(np.exp(0.2 + X[:, 1] * 0.3)).astype(float)
    model = pr.PriorGLM(y, X, family=sm.families.Poisson(), prior=np.zeros(4))
    with threadpool_limits(limits=2, user_api="blas"):  # a caller's two threads
        before = blas_threads()
        assert before == [2] * len(before)
        assert before  # numpy's BLAS is loaded and seen
        res = model.fit(lam="gcv")
        assert seen == [[1] * len(before)]
        assert blas_threads() == before  # the caller's setting is restored
    assert np.all(np.isfinite(res.params))
