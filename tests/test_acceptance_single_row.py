"""A model of a single row returns per-row results as float Series, labelled by row.

statsmodels' row labelling squeezes a one-row result to a 0-d array, which
pandas stores as an ``object`` Series; priorreg keeps the dtype. The values
are checked against the family's own functions of ``X @ params`` (the
definition of each residual), computed here independently.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import priorreg as pr

EPS = np.finfo(float).eps
# one row, two coefficients: exp/log of a value of order 1, each to a few eps;
# 1e3 eps is a margin of more than 10x over that
RTOL = 1e3 * EPS

GLM_ROW_ATTRS = (
    "fittedvalues",
    "mu",
    "resid_response",
    "resid_pearson",
    "resid_deviance",
    "resid_working",
    "resid_anscombe",
)


@pytest.fixture
def one_row():
    return pd.DataFrame({"y": [3.0], "x": [2.0]}, index=["only"])


def test_single_row_glm_arrays_are_float_and_labelled(one_row):
    family = sm.families.Poisson()
    prior = {"Intercept": 0.5, "x": 0.2}
    res = pr.PriorGLM.from_formula("y ~ x", one_row, family=family, prior=prior).fit(lam=1.0)
    for name in GLM_ROW_ATTRS:
        value = getattr(res, name)
        assert isinstance(value, pd.Series), name
        assert value.dtype == np.float64, (name, value.dtype)
        assert list(value.index) == ["only"], name
    # oracle: the family's definitions at eta = x'b
    eta = np.array([1.0, 2.0]) @ np.asarray(res.params)
    mu = np.exp(eta)
    np.testing.assert_allclose(res.mu.to_numpy(), [mu], rtol=RTOL)
    np.testing.assert_allclose(res.resid_response.to_numpy(), [3.0 - mu], atol=RTOL * 3.0)
    np.testing.assert_allclose(
        res.resid_pearson.to_numpy(), [(3.0 - mu) / np.sqrt(mu)], atol=RTOL * 3.0
    )
    # pickled results keep the labelling
    again = pickle.loads(pickle.dumps(res))
    assert again.mu.dtype == np.float64
    assert list(again.mu.index) == ["only"]


def test_single_row_binomial_two_columns_is_float(one_row):
    frame = one_row.assign(failures=[1.0])
    res = pr.PriorGLM.from_formula(
        "y + failures ~ x", frame, family=sm.families.Binomial(), prior={"x": 0.1}
    )
    fit = res.fit(lam=1.0)  # the binomial scale is 1: no residual df needed
    p = 1.0 / (1.0 + np.exp(-(np.array([1.0, 2.0]) @ np.asarray(fit.params))))
    assert fit.mu.dtype == np.float64
    np.testing.assert_allclose(fit.mu.to_numpy(), [p], rtol=RTOL)


def test_single_row_ridge_arrays_are_float(one_row):
    model = pr.PriorRidge.from_formula("y ~ x", one_row, prior={"Intercept": 0.5, "x": 0.2})
    with pytest.warns(pr.DegenerateFitWarning):  # no residual df at one row
        res = model.fit(lam=1.0)
    fitted = np.array([1.0, 2.0]) @ np.asarray(res.params)
    for name, expected in (("fittedvalues", fitted), ("resid", 3.0 - fitted)):
        value = getattr(res, name)
        assert value.dtype == np.float64, (name, value.dtype)
        assert list(value.index) == ["only"]
        np.testing.assert_allclose(value.to_numpy(), [expected], atol=RTOL * 3.0)


def test_many_rows_are_labelled_as_before():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"y": rng.poisson(3.0, 20).astype(float), "x": rng.normal(size=20)})
    frame.index = [f"r{i}" for i in range(20)]
    res = pr.PriorGLM.from_formula("y ~ x", frame, family=sm.families.Poisson()).fit(lam=1.0)
    assert res.mu.dtype == np.float64
    assert list(res.mu.index) == list(frame.index)
    X = np.column_stack([np.ones(20), frame["x"]])
    np.testing.assert_allclose(res.mu.to_numpy(), np.exp(X @ np.asarray(res.params)), rtol=RTOL)


def test_single_row_summary_shows_no_negative_zero(one_row):
    # one row, two coefficients: edf = 1 = n to rounding, so df_resid is 0 up to
    # a rounding error of either sign; the header must not read "-0.000"
    res = pr.PriorGLM.from_formula(
        "y ~ x", one_row, family=sm.families.Poisson(), prior={"Intercept": 0.5, "x": 0.2}
    ).fit(lam=1.0)
    assert abs(res.df_resid) < 1e-9
    header = str(res.summary().tables[0])
    assert "-0.000" not in header
    assert "Df Residuals:" in header
