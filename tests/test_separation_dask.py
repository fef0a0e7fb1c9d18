"""Separation of Dask GLMs: one pass over the partitions finds what memory finds.

Oracles: the in-memory check on the same rows (same warning text, columns and
row count), and the definition itself: along the direction found every row
sits on its side (``x_i'd >= 0`` where ``y = 1``, ``<= 0`` where ``y = 0``,
``= 0`` for Poisson rows with positive counts) and some row moves.
"""

from __future__ import annotations

import warnings

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import priorreg as pr
from priorreg import separation as sep

F = sm.families


pytestmark = pytest.mark.usefixtures("synchronous")  # tests/conftest.py


def record(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    return out, caught


def both(formula, df, family, lam=1.0, npartitions=3):
    """In-memory and Dask fits, with the warnings of each."""
    ddf = dd.from_pandas(df, npartitions=npartitions, sort=False)
    memory = record(lambda: pr.PriorGLM.from_formula(formula, df, family=family).fit(lam=lam))
    out_of_core = record(lambda: pr.PriorGLM.from_formula(formula, ddf, family=family).fit(lam=lam))
    return memory, out_of_core


def messages(caught):
    return [(w.category, str(w.message)) for w in caught]


def satisfies_definition(res, df, side_of):
    """``X d`` is on each row's side, zero on interior rows, non-zero somewhere."""
    memory = pr.PriorGLM.from_formula(res.model.formula, df, family=res.model.family)
    eta = np.asarray(memory.exog) @ res.separation.direction
    side = side_of(np.asarray(memory.endog_response))
    tol = 1e-9 * np.max(np.abs(eta))
    assert np.all(eta[side > 0] >= -tol)
    assert np.all(eta[side < 0] <= tol)
    assert np.all(np.abs(eta[side == 0]) <= tol)
    assert np.sum(np.abs(eta) > tol) == res.separation.n_rows > 0


def binary_side(y):
    return np.where(y >= 1, 1.0, np.where(y <= 0, -1.0, 0.0))


def combination_frame(n=120, seed=4):
    """``y = a and b``: no single column separates, ``a + b - 1.5`` does."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, size=n).astype(float)
    b = rng.integers(0, 2, size=n).astype(float)
    return pd.DataFrame({"y": a * b, "a": a, "b": b})


def test_separation_needing_two_columns_is_found_on_distinct_rows():
    df = combination_frame()
    (ref, warned_ref), (res, warned) = both("y ~ a + b", df, F.Binomial())
    # the programme has tied optima (the rows with a = 0, or those with b = 0,
    # all have y = 0): each answer is checked against the definition
    assert [w.category for w in warned] == [w.category for w in warned_ref]
    assert [w.category for w in warned] == [pr.SeparationWarning]
    assert len(res.separation.columns) >= 2
    satisfies_definition(res, df, binary_side)
    satisfies_definition(ref, df, binary_side)


@pytest.mark.parametrize("lp_limit", [None, 10])
def test_rare_level_with_continuous_covariates(lp_limit, monkeypatch):
    """Found on the distinct rows, and by the single-column screen when they are too many."""
    if lp_limit is not None:
        monkeypatch.setattr(sep, "LP_MAX_ENTRIES", lp_limit)
    rng = np.random.default_rng(11)
    n = 600
    x = rng.normal(size=n)
    g = rng.choice(np.array(["a", "b"], dtype=object), size=n)
    g[[10, 300, 550]] = "rare"  # three partitions, each one row, all with y = 0
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-x))).astype(float)
    y[g == "rare"] = 0.0
    df = pd.DataFrame({"y": y, "x": x, "g": g})
    (ref, warned_ref), (res, warned) = both("y ~ x + C(g)", df, F.Binomial(), lam="gcv")
    assert [w.category for w in warned_ref] == [pr.SeparationWarning]
    assert [w.category for w in warned] == [pr.SeparationWarning]
    assert "[C(g)[T.rare]]" in str(warned[0].message)
    assert ref.separation.columns == res.separation.columns == ["C(g)[T.rare]"]
    assert res.separation.n_rows == ref.separation.n_rows == 3
    satisfies_definition(res, df, binary_side)


def test_poisson_zero_group_warns_like_memory():
    rng = np.random.default_rng(8)
    g = np.array(["a", "b", "c", "d"])[np.arange(60) % 4]
    y = rng.poisson(3.0, size=60).astype(float)
    y[g == "d"] = 0.0
    df = pd.DataFrame({"y": y, "g": g})
    (_, warned_ref), (res, warned) = both("y ~ C(g)", df, F.Poisson())
    assert messages(warned) == messages(warned_ref)
    assert res.separation.columns == ["C(g)[T.d]"]
    satisfies_definition(res, df, lambda y: np.where(y <= 0, -1.0, 0.0))


def test_unpenalized_intercept_of_an_all_ones_response_is_unbounded():
    df = combination_frame().assign(y=1.0)
    (_, warned_ref), (res, warned) = both("y ~ a", df, F.Binomial())
    assert messages(warned) == messages(warned_ref)
    assert res.separation.unbounded
    assert "no finite value at any lam" in str(warned[0].message)


@pytest.mark.parametrize("lp_limit", [None, 10])
def test_overlapping_data_are_not_separated(lp_limit, monkeypatch):
    if lp_limit is not None:  # the column screen alone
        monkeypatch.setattr(sep, "LP_MAX_ENTRIES", lp_limit)
    rng = np.random.default_rng(5)
    n = 300
    a = rng.integers(0, 2, size=n).astype(float)
    x = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-x - a))).astype(float)
    df = pd.DataFrame({"y": y, "a": a, "x": x})
    (ref, warned_ref), (res, warned) = both("y ~ a + x", df, F.Binomial(), lam="gcv")
    assert warned == warned_ref == []
    assert res.separation is None
    assert ref.separation is None
    mle = sm.GLM(df.y, sm.add_constant(df[["a", "x"]]), family=F.Binomial()).fit()
    assert mle.converged  # oracle: a finite MLE
    assert np.all(np.abs(mle.params) < 10)


def test_gaussian_and_non_bounding_links_need_no_pass():
    df = combination_frame()
    ddf = dd.from_pandas(df, npartitions=2, sort=False)
    model = pr.PriorGLM.from_formula("y ~ a + b", ddf, family=F.Gaussian())
    assert sep.model_separation(model) is None
