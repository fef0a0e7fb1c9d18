"""Numeric formulas on Dask are coded per partition without patsy.

The design infos come from patsy once (template rows); each partition's
columns are then the factors evaluated once and multiplied
(``priorreg.outofcore.coding._Plain``). Oracles: patsy's in-memory design of
the whole frame (the same IEEE operations in the same order, so equal
bit for bit) and the in-memory fit (two QR-class computations of one
estimate, within ``lstsq_rtol`` of the augmented design).
"""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from bounds import EPS, MARGIN, cond, glm_newton_step, lstsq_rtol

import priorreg as pr
from priorreg import formula as _formula

pytestmark = pytest.mark.dask

FORMULA = "y ~ x1 + x2:x3 + np.log(expo) + I(x1 ** 2) + x1:x2:x3"


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(20261130)
    n = 3000
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(2.0, 3.0, size=n),
            "x3": rng.uniform(-1, 1, size=n),
            "expo": rng.uniform(0.5, 2.0, size=n),
            "g": rng.choice(["a", "b"], size=n),
        }
    )
    eta = 0.2 + 0.4 * df.x1 - 0.1 * df.x2 * df.x3 + 0.3 * np.log(df.expo)
    df["y"] = 1.0 + eta + rng.normal(size=n)
    df["count"] = rng.poisson(np.exp(eta))
    df.loc[[7, 1500], "x3"] = np.nan  # dropped by the formula, as in memory
    df.loc[2200, "y"] = np.nan
    return df


@pytest.fixture(scope="module")
def ddf(frame):
    return dd.from_pandas(frame, npartitions=3, sort=False)


def _blocks(model):
    """The coded partitions of a Dask model, in order (synchronous scheduler)."""
    tasks = model.source.tasks(lambda block: block)
    with dask.config.set(scheduler="synchronous"):
        return list(dask.compute(*tasks))


def test_numeric_formula_is_coded_without_patsy_and_equals_patsy(frame, ddf, monkeypatch):
    model = pr.PriorRidge.from_formula(FORMULA, ddf)
    assert model.source.coder.plain is not None  # every column a product of numeric factors
    ref = pr.PriorRidge.from_formula(FORMULA, frame)

    def no_patsy(*args, **kwargs):
        raise AssertionError("patsy coded a partition")

    monkeypatch.setattr(_formula, "rebuild_design", no_patsy)
    blocks = _blocks(model)
    X = np.vstack([b.X for b in blocks])
    y = np.concatenate([b.y for b in blocks])
    index = np.concatenate([np.asarray(b.index) for b in blocks])
    # same operations in the same order as patsy: equal bit for bit
    np.testing.assert_array_equal(X, ref.exog)
    np.testing.assert_array_equal(y, ref.endog)
    np.testing.assert_array_equal(index, ref.data.row_labels)
    assert model.exog_names == ref.exog_names
    assert model.n_dropped == ref.n_dropped == 3


def test_numeric_formula_fit_equals_in_memory(frame, ddf):
    lam = 7.0
    res = pr.PriorRidge.from_formula(FORMULA, ddf, prior={"x1": 0.3}).fit(lam=lam)
    ref = pr.PriorRidge.from_formula(FORMULA, frame, prior={"x1": 0.3}).fit(lam=lam)
    # both solve min ||W^1/2 (z - X d)||^2 + lam d'Ld as a least-squares
    # problem; two backward-stable solutions differ by lstsq_rtol of the
    # augmented matrix [X; sqrt(lam) I_pen] (tests/bounds.py, 10x margin)
    X = ref.model.exog
    pen = np.sqrt(lam * ref.model.penalty_matrix)
    Xa = np.vstack([X, pen])
    d = np.asarray(ref.params) - ref.model.prior_values
    za = np.concatenate([ref.model.endog - X @ ref.model.prior_values, np.zeros(pen.shape[0])])
    tol = lstsq_rtol(Xa, d, za - Xa @ d) * np.linalg.norm(d)
    assert np.linalg.norm(res.params - ref.params) <= tol


def test_glm_numeric_formula_uses_the_numeric_coder(frame, ddf):
    res = pr.PriorGLM.from_formula(
        "count ~ x1 + x2:x3", ddf, family=sm.families.Poisson()
    ).fit(lam=2.0)
    assert res.model.source.coder.plain is not None
    ref = pr.PriorGLM.from_formula("count ~ x1 + x2:x3", frame, family=sm.families.Poisson()).fit(
        lam=2.0
    )
    # both estimates of one penalized MLE: within 10x the sum of their Newton
    # steps, plus the rounding of the step, k eps cond(-H) ||b|| (tests/bounds.py)
    model = ref.model
    radius = 0.0
    for b in (res.params, ref.params):
        step, info = glm_newton_step(
            sm.families.Poisson(),
            model.exog,
            model.endog,
            np.asarray(b, dtype=float),
            lam=2.0,
            L=model.penalty_matrix,
            b0=model.prior_values,
        )
        radius += np.linalg.norm(step) + step.size * EPS * cond(info) * np.linalg.norm(b)
    assert np.linalg.norm(res.params - ref.params) <= MARGIN * radius
    # started alike, the two fits take the same iterations
    assert res.iterations == ref.iterations


def test_categorical_term_falls_back_to_patsy(ddf):
    model = pr.PriorRidge.from_formula("y ~ x1 + C(g)", ddf)
    assert model.source.coder.plain is None


def test_infinite_value_in_a_numeric_column_is_named(frame):
    df = frame.copy()
    df.loc[10, "x2"] = np.inf
    data = dd.from_pandas(df, npartitions=3, sort=False)
    message = r"exog has 1 row\(s\) with NaN or inf"
    with pytest.raises(ValueError, match=message), dask.config.set(scheduler="synchronous"):
        pr.PriorRidge.from_formula("y ~ x1 + x2", data)
    # the user's data are not changed by coding
    assert df.loc[10, "x2"] == np.inf


def test_intercept_only_formula(frame, ddf):
    """A design of the constant column alone (no data column to count the rows by)."""
    with dask.config.set(scheduler="synchronous"):
        res = pr.PriorGLM.from_formula("count ~ 1", ddf, family=sm.families.Poisson()).fit(
            lam=1.0
        )
        lin = pr.PriorRidge.from_formula("y ~ 1", ddf).fit(lam=1.0)
    kept = frame.dropna(subset=["y"])
    # unpenalized intercept: the MLE is log(mean count), within 10x the
    # Newton step left at the estimate (plus its rounding, as above)
    counts = frame["count"].to_numpy(dtype=float)
    ones = np.ones((counts.size, 1))
    b = np.asarray(res.params, dtype=float)
    step, info = glm_newton_step(sm.families.Poisson(), ones, counts, b)
    radius = MARGIN * (np.linalg.norm(step) + EPS * cond(info) * np.linalg.norm(b))
    assert abs(b[0] - np.log(counts.mean())) <= radius
    # the mean by QR of a column of ones: n eps relative (10x margin)
    assert lin.params.iloc[0] == pytest.approx(kept["y"].mean(), rel=MARGIN * len(kept) * EPS)
    assert res.model.source.coder.plain is not None


def test_template_reads_only_the_formula_columns(frame, monkeypatch):
    """Data wider than the model: the template rows come from the formula's columns."""
    from priorreg.outofcore import coding

    wide = frame.assign(**{f"unused{i}": np.arange(len(frame), dtype=float) for i in range(5)})
    data = dd.from_pandas(wide, npartitions=3, sort=False)
    read: list[list[str]] = []
    head = coding._head

    def recording(ddf):
        read.append([str(c) for c in ddf.columns])
        return head(ddf)

    monkeypatch.setattr(coding, "_head", recording)
    with dask.config.set(scheduler="synchronous"):
        model = pr.PriorRidge.from_formula("y ~ x1 + x2:x3 + np.log(expo)", data)
    assert read == [["x1", "x2", "x3", "expo", "y"]]
    ref = pr.PriorRidge.from_formula("y ~ x1 + x2:x3 + np.log(expo)", wide)
    assert model.exog_names == ref.exog_names
    assert model.nobs == ref.nobs
