"""pandas' nullable columns (Int64, Float64, boolean, string) with ``pd.NA``.

patsy and statsmodels test missing values with ``value != value``, which
``pd.NA`` refuses ("boolean value of NA is ambiguous"): a frame read with
pandas' nullable dtypes could not be fitted at all. Oracles: statsmodels'
OLS and GLM at lam = 0 on the same rows in plain float64 (NA dropped), and
the user's frame, which must come back unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from bounds import MARGIN, assert_close_normwise, glm_optimum_distance, lstsq_rtol

import priorreg as pr


@pytest.fixture
def nullable():
    rng = np.random.default_rng(8)
    n = 40
    df = pd.DataFrame(
        {
            "x": pd.array(rng.normal(size=n), dtype="Float64"),
            "k": pd.array(rng.integers(0, 5, n), dtype="Int64"),
            "g": pd.array(rng.choice(list("abc"), n), dtype=pd.StringDtype(na_value=pd.NA)),
            "flag": pd.array(rng.uniform(size=n) < 0.5, dtype="boolean"),
        }
    )
    df["y"] = pd.array(df["x"].to_numpy(dtype=float) + rng.normal(size=n), dtype="Float64")
    df.loc[3, "x"] = pd.NA
    df.loc[5, "k"] = pd.NA
    df.loc[7, "g"] = pd.NA
    df.loc[9, "flag"] = pd.NA
    return df


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """The rows without NA, in numpy dtypes."""
    rows = df.dropna()
    return pd.DataFrame(
        {
            "x": rows["x"].to_numpy(dtype=float),
            "k": rows["k"].to_numpy(dtype=float),
            "g": rows["g"].to_numpy(dtype=object),
            "flag": rows["flag"].to_numpy(dtype=bool),
            "y": rows["y"].to_numpy(dtype=float),
        }
    )


FORMULA = "y ~ x + k + C(g) + flag"


def test_nullable_columns_fit_as_ols_on_the_complete_rows(nullable):
    before = nullable.copy()
    res = pr.PriorRidge.from_formula(FORMULA, nullable, missing="drop").fit(lam=0.0)
    assert res.nobs == 36  # four rows with one NA each
    plain = _plain(nullable)
    ols = smf.ols(FORMULA, plain).fit()
    assert list(res.params.index) == list(ols.params.index)
    # two QR-class solutions of the same least-squares problem
    X = ols.model.exog
    tol = lstsq_rtol(X, ols.params.to_numpy(), ols.resid.to_numpy())
    assert_close_normwise(res.params.to_numpy(), ols.params.to_numpy(), tol)
    pd.testing.assert_frame_equal(nullable, before)  # the user's data unchanged


def test_nullable_columns_with_missing_raise_name_the_problem(nullable):
    with pytest.raises(ValueError, match="missing values"):
        pr.PriorRidge.from_formula(FORMULA, nullable, missing="raise")


def test_nullable_glm_and_arrays(nullable):
    res = pr.PriorGLM.from_formula(
        "k ~ x", nullable, family=sm.families.Poisson(), missing="drop"
    ).fit(lam=0.0)
    ref = smf.glm("k ~ x", nullable.dropna(subset=["k", "x"]).astype(
        {"k": float, "x": float}), family=sm.families.Poisson()).fit()  # fmt: skip
    # two IRLS fits of one MLE stop within their Newton steps of it (x MARGIN)
    X, y = ref.model.exog, ref.model.endog
    radius = MARGIN * sum(
        glm_optimum_distance(sm.families.Poisson(), X, y, b)
        for b in (res.params.to_numpy(), ref.params.to_numpy())
    )
    assert np.linalg.norm(res.params.to_numpy() - ref.params.to_numpy()) <= radius
    # arrays: a Series and a DataFrame of nullable floats, NA dropped
    X = pd.DataFrame({"const": 1.0, "x": nullable["x"]})
    arr = pr.PriorRidge(nullable["y"], X, missing="drop").fit(lam=0.0)
    ols = sm.OLS(nullable["y"].to_numpy(dtype=float, na_value=np.nan),
                 X.astype(float).to_numpy(), missing="drop").fit()  # fmt: skip
    tol = lstsq_rtol(ols.model.exog, ols.params, ols.resid)
    assert_close_normwise(arr.params.to_numpy(), ols.params, tol)
    assert arr.model.endog_names == "y"
