"""Several penalties on Dask data (issue 15): DaskPriorRidge equals the in-memory fit.

Oracle: ``PriorRidge`` on the computed data (QR of the rows in memory) against
the Dask model (TSQR factor of the first pass); both QR-class.
"""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import priorreg as pr
from priorreg.outofcore import DaskPriorGLM, DaskPriorRidge

FORMULA = "y ~ x1 + x2 + x3 + x4 + C(g)"


def _frame(n=400, seed=12):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 4)), columns=["x1", "x2", "x3", "x4"])
    df["g"] = rng.choice(["a", "b", "c"], size=n)
    df["y"] = (
        df.x1 - df.x2 + 0.5 * df.x3 + 0.3 * (df.g == "b") + rng.normal(size=n)
    )
    df["w"] = rng.uniform(0.5, 2.0, n)
    df["o"] = rng.normal(scale=0.1, size=n)
    return df


PENALTY = {"old": ["x1", "x2"], "new": "x3 + x4 + C(g)"}
PRIOR = {"old": {"x1": 0.9, "x2": -0.8}, "new": None}


def _pair(**kw):
    df = _frame()
    args = dict(penalty=PENALTY, prior=PRIOR, weights="w", offset="o", **kw)
    mem = pr.PriorRidge.from_formula(FORMULA, data=df, **args)
    dsk = DaskPriorRidge.from_formula(
        FORMULA, data=dd.from_pandas(df, npartitions=4, sort=False), **args
    )
    return mem, dsk


def test_fixed_lams_equal_the_in_memory_fit():
    mem, dsk = _pair()
    a, b = mem.fit(lam={"old": 2.0, "new": 0.5}), dsk.fit(lam={"old": 2.0, "new": 0.5})
    # two QR factorizations of the same rows: eps cond(A) k ~ 1e-13; 1e-10
    np.testing.assert_allclose(b.params, a.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.bse, a.bse, rtol=1e-10)
    np.testing.assert_allclose(b.edf_components, a.edf_components, rtol=1e-10)
    for name in ("edf", "scale", "gcv", "reml", "loocv", "llf"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-10), name
    np.testing.assert_allclose(np.asarray(b.hat_diag.compute()), a.hat_diag, rtol=1e-9)
    np.testing.assert_allclose(
        np.asarray(b.fittedvalues.compute()), np.asarray(a.fittedvalues), rtol=1e-10
    )
    assert "old (group): lam = 2" in str(b.summary())


@pytest.mark.parametrize("criterion", ["gcv", "reml"])
def test_joint_selection_equals_the_in_memory_search(criterion):
    mem, dsk = _pair()
    a = mem.fit(lam=criterion, cov_type="unconditional")
    b = dsk.fit(lam=criterion, cov_type="unconditional")
    # the same criterion from Gram data equal to ~1e-13; both Newton searches
    # stop at |g| <= 1e-7 (1 + |V|): rho agrees to ~1e-6 (1e-4 is 100x),
    # coefficients and standard errors to ~1e-7 (1e-5)
    np.testing.assert_allclose(np.log(b.lam), np.log(a.lam), atol=1e-4)
    np.testing.assert_allclose(b.params, a.params, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b.bse, a.bse, rtol=1e-5)
    assert b.lam_method == criterion


def test_what_dask_cannot_do_with_several_penalties_is_a_clear_error():
    _, dsk = _pair()
    with pytest.raises(ValueError, match=r"loocv.*not available on Dask data.*gcv"):
        dsk.fit(lam="loocv")
    df = _frame()
    glm = DaskPriorGLM.from_formula(
        FORMULA, data=dd.from_pandas(df, npartitions=2, sort=False), penalty=PENALTY
    )
    # a GLM fits at fixed lams (tests/test_multi_dask_glm.py); a criterion is refused
    with pytest.raises(ValueError, match=r"several penalties is not available on Dask.*in memory"):
        glm.fit(lam="gcv")
