"""A Dask partition's values are checked finite once, by the coding's sums.

The numeric coding (``priorreg.outofcore.coding._Plain``) sums each of the
data's columns once; when every sum is finite and no column is a product,
each value is finite and the partition's check does not sum them again.
Oracle: the in-memory model built from the same frame, which must refuse
the same bad value with the same message, and ``np.isfinite`` of the values.
"""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import priorreg as pr

pytestmark = pytest.mark.dask


def _frame(n=3000, seed=11):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{j}": rng.normal(size=n) for j in (1, 2, 3)})
    df["y"] = df.x1 + rng.normal(size=n)
    return df


def _refused(df, formula):
    """The in-memory and the Dask model's messages for ``formula`` on ``df``."""
    with pytest.raises(ValueError, match="NaN or inf") as memory:
        pr.PriorRidge.from_formula(formula, df)
    data = dd.from_pandas(df, npartitions=3, sort=False)
    with (
        dask.config.set(scheduler="synchronous"),
        pytest.raises(ValueError, match="NaN or inf") as dask_,
    ):
        pr.PriorRidge.from_formula(formula, data)
    return str(memory.value), str(dask_.value)


def test_infinite_response_is_named():
    df = _frame()
    df.loc[2500, "y"] = np.inf  # a later partition, past the template rows
    memory, on_dask = _refused(df, "y ~ x1 + x2")
    assert "endog has 1 row(s) with NaN or inf" in memory
    assert "endog has 1 row(s) with NaN or inf" in on_dask


def test_inf_beside_a_dropped_missing_value_is_named():
    """A partition with a NaN row (dropped) and an inf row: the kept rows are checked."""
    df = _frame()
    df.loc[2400, "x1"] = np.nan
    df.loc[2500, "x2"] = -np.inf
    _, on_dask = _refused(df, "y ~ x1 + x2")
    assert "exog has 1 row(s) with NaN or inf" in on_dask


def test_plain_coding_reports_finite_values_only_when_they_are():
    from priorreg.outofcore.coding import _FormulaCoder

    df = _frame()
    data = dd.from_pandas(df, npartitions=3, sort=False)
    model = pr.PriorRidge.from_formula("y ~ x1 + x2", data)
    coder = model.source.coder
    assert isinstance(coder, _FormulaCoder)
    assert coder.plain is not None
    part = df.iloc[:1000]
    finite = coder.plain.code(part, "drop", coder.design)[3]
    assert finite == bool(np.isfinite(part[["y", "x1", "x2"]].to_numpy()).all())
    assert finite
    bad = part.copy()
    bad.loc[5, "x1"] = np.inf
    assert not coder.plain.code(bad, "drop", coder.design)[3]
    product = pr.PriorRidge.from_formula("y ~ x1:x2", data).source.coder
    # a product of finite values may overflow: the partition's check sums it
    assert not product.plain.code(part, "drop", product.design)[3]
