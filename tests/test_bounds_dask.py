"""Bounded fits out of core (Dask) equal the in-memory bounded fits (issue 14, item 5).

The bounded solve runs on the reduced factor, which the Dask model builds from its
TSQR factor: the same numbers as in memory up to the factors' rounding
(eps * cond ~ 1e-13 here; 1e-8 as in test_dask.py leaves a wide margin).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

pytest.importorskip("dask.dataframe")

import dask
import dask.dataframe as dd

import priorreg as pr

pytestmark = pytest.mark.dask

FORMULA = "y ~ x1 + x2 + x3"
BOUNDS = {"x1": (None, 0.3), "x2": (0, None), "x3": (0.1, 0.5)}


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(14)
    n = 1500
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(1.0, 2.0, size=n),
            "x3": rng.uniform(-1, 1, size=n),
            "w": rng.uniform(0.5, 2.0, size=n),
            "o": rng.normal(scale=0.1, size=n),
        }
    )
    df["y"] = 1.0 + 0.5 * df.x1 - 0.3 * df.x2 + 0.2 * df.x3 + df.o + rng.normal(size=n)
    return df


def close(a, b, rtol):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("lam", [3.0, "gcv", "reml"])
def test_bounded_dask_equals_in_memory(frame, lam):
    kw = {"prior": {"x1": 0.5, "x2": -0.2}, "weights": "w", "offset": "o", "bounds": BOUNDS}
    ddf = dd.from_pandas(frame, npartitions=3, sort=False)
    with dask.config.set(scheduler="threads"):
        res = pr.PriorRidge.from_formula(FORMULA, ddf, **kw).fit(lam=lam)
        ref = pr.PriorRidge.from_formula(FORMULA, frame, **kw).fit(lam=lam)
        assert res.active_bounds.any()
        pd.testing.assert_series_equal(res.active_bounds, ref.active_bounds)
        # a selected lam is the argmin of a flat criterion: located to ~1e-6
        close(res.lam, ref.lam, 1e-5)
        same = pr.PriorRidge.from_formula(FORMULA, frame, **kw).fit(lam=res.lam)
        for name in ("params", "bse", "edf_params"):
            close(getattr(res, name), getattr(same, name), 1e-8)
        for name in ("edf", "scale", "gcv", "reml", "ssr"):
            close(getattr(res, name), getattr(same, name), 1e-8)
        close(res.fittedvalues.compute(), same.fittedvalues, 1e-8)
        with pytest.raises(NotImplementedError, match="need the data in memory"):
            _ = res.loocv


def test_bounded_dask_glm_is_a_clear_error(frame):
    ddf = dd.from_pandas(frame.assign(c=np.ones(len(frame))), npartitions=2, sort=False)
    with pytest.raises(NotImplementedError, match="fit the bounded GLM in memory"):
        pr.PriorGLM.from_formula(
            "c ~ x1", ddf, family=sm.families.Poisson(), bounds="nonnegative"
        )
