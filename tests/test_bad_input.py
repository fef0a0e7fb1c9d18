"""Bad input: each case is a clear ValueError/TypeError naming the problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bounds import solve_rtol

import priorreg as pr


@pytest.fixture
def data(rng):
    n = 30
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = X @ [1.0, 2.0, -1.0] + rng.normal(size=n)
    return y, X


def _frame(rng):
    return pd.DataFrame({"y": rng.normal(size=20), "x": rng.normal(size=20), "g": ["a", "b"] * 10})


CASES = [
    ("prior wrong length", dict(prior=[1.0, 2.0]), ValueError, "expected \\(3,\\)"),
    ("prior unknown name", dict(prior={"x9": 1.0}), ValueError, "not in the design.*Valid"),
    ("prior non-finite", dict(prior=[0.0, np.nan, 0.0]), ValueError, "non-finite"),
    ("prior string", dict(prior="prior.json"), TypeError, "load_prior"),
    ("penalty not symmetric", dict(penalty=np.triu(np.ones((3, 3)))), ValueError, "symmetric"),
    ("penalty not PSD", dict(penalty=-np.eye(3)), ValueError, "positive semi-definite"),
    ("penalty wrong size", dict(penalty=np.eye(4)), ValueError, "shape \\(4, 4\\)"),
    ("penalty negative weight", dict(penalty=[0.0, -1.0, 1.0]), ValueError, ">= 0"),
    ("penalty unknown string", dict(penalty="ridge"), ValueError, "unknown penalty"),
    ("penalty non-finite", dict(penalty=np.full((3, 3), np.inf)), ValueError, "non-finite"),
    (
        "information without covariance",
        dict(penalty="information", prior=[0, 1, 2]),
        ValueError,
        "carries its covariance",
    ),
    ("weights wrong length", dict(weights=np.ones(5)), ValueError, "weights has shape"),
    ("weights zero", dict(weights=np.zeros(30)), ValueError, "weights must be > 0"),
    ("weights nan", dict(weights=np.full(30, np.nan)), ValueError, "weights has 30 row"),
    ("offset inf", dict(offset=np.full(30, np.inf)), ValueError, "offset has 30 row"),
]


@pytest.mark.parametrize(("label", "kwargs", "error", "match"), CASES, ids=[c[0] for c in CASES])
def test_model_construction_errors(data, label, kwargs, error, match):
    y, X = data
    with pytest.raises(error, match=match):
        pr.PriorRidge(y, X, **kwargs)


FIT_CASES = [
    ("lam negative", dict(lam=-1.0), ValueError, ">= 0"),
    ("lam nan", dict(lam=np.nan), ValueError, "finite"),
    ("lam inf", dict(lam=np.inf), ValueError, "finite"),
    ("lam unknown criterion", dict(lam="aicc"), ValueError, "unknown lam criterion"),
    ("lam wrong type", dict(lam=[1.0]), TypeError, "lam must be"),
    ("lams with fixed lam", dict(lam=1.0, lams=[1, 2]), ValueError, "grid to search"),
    ("lams negative", dict(lam="gcv", lams=[-1.0, 1.0]), ValueError, "> 0"),
    ("cov_type unknown", dict(lam=1.0, cov_type="robust"), ValueError, "cov_type"),
]


@pytest.mark.parametrize(
    ("label", "kwargs", "error", "match"), FIT_CASES, ids=[c[0] for c in FIT_CASES]
)
def test_fit_errors(data, label, kwargs, error, match):
    y, X = data
    with pytest.raises(error, match=match):
        pr.PriorRidge(y, X).fit(**kwargs)


def test_nan_in_response_or_design(data):
    y, X = data
    y2, X2 = y.copy(), X.copy()
    y2[3] = np.nan
    with pytest.raises(ValueError, match=r"endog has 1 row.*missing='drop'"):
        pr.PriorRidge(y2, X)
    X2[4, 1] = np.inf
    with pytest.raises(ValueError, match="exog has 1 row"):
        pr.PriorRidge(y, X2)
    res = pr.PriorRidge(y2, X, missing="drop").fit(lam=1.0)
    assert res.nobs == 29
    assert not np.isnan(y).any()  # the caller's arrays are untouched


def test_collinear_unpenalized_columns(data):
    y, X = data
    X3 = np.column_stack([X, 2 * X[:, 1]])
    with pytest.raises(ValueError, match="collinear"):
        pr.PriorRidge(y, X3, penalty=[0.0, 0.0, 1.0, 0.0]).fit(lam=1.0)


def test_ols_on_singular_design_is_an_error_not_noise(data):
    y, X = data
    X3 = np.column_stack([X, X[:, 1] + X[:, 2]])
    with pytest.raises(ValueError, match="singular at lam=0"):
        pr.PriorRidge(y, X3).fit(lam=0.0)
    assert np.all(np.isfinite(pr.PriorRidge(y, X3).fit(lam=1.0).params))


def test_formula_errors(rng):
    df = _frame(rng)
    with pytest.raises(ValueError, match="cannot build the design"):
        pr.PriorRidge.from_formula("y ~ nothere", df)
    old = pr.PriorRidge.from_formula("y ~ x + C(g)", df).fit(lam=0.0)
    other = df.assign(g=["a", "b", "c", "d"] * 5)
    with pytest.raises(ValueError, match=r"not in the design|refine"):
        pr.PriorRidge.from_formula("y ~ x", other, prior=old)
    with pytest.raises(ValueError, match="cannot code new data"):
        old.predict(pd.DataFrame({"x": [1.0], "g": ["zzz"]}))
    with pytest.raises(ValueError, match="not a column"):
        pr.PriorRidge.from_formula("y ~ x", df, weights="nope")
    with pytest.raises(TypeError, match="needs a model built with from_formula"):
        pr.PriorRidge(df.y.to_numpy(), np.ones((20, 1))).fit(lam=1.0).refine(df)


def test_load_prior_rejects_other_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not a priorreg prior"):
        pr.load_prior(path)
    path.write_text("not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        pr.load_prior(path)


# ------------------------------------------------ documented results (warnings)
def test_constant_response_warns_exact_fit(data):
    _, X = data
    with pytest.warns(UserWarning, match="fit is exact"):
        res = pr.PriorRidge(np.full(30, 3.0), X).fit(lam=1.0)
    # (3, 0, 0) fits exactly: a backward-stable solve of A = X'X + L returns
    # it within solve_rtol(A) * 3 (x 10 included)
    tol = solve_rtol(X.T @ X + np.diag([0.0, 1.0, 1.0])) * 3.0
    np.testing.assert_allclose(res.params, [3.0, 0.0, 0.0], rtol=0, atol=tol)


def test_one_row_warns_no_residual_df(data):
    y, X = data
    with pytest.warns(UserWarning, match="no residual degrees of freedom"):
        res = pr.PriorRidge(y[:1], X[:1]).fit(lam=1.0)
    assert np.all(np.isfinite(res.params))
    assert np.all(np.isnan(res.bse))


def test_one_observation_more_than_coefficients(data):
    y, X = data
    res = pr.PriorRidge(y[:4], X[:4]).fit(lam="reml")
    assert 1.0 <= res.edf <= 3.0
    assert np.all(np.isfinite(res.bse))


def test_empty_data():
    with pytest.raises(ValueError, match="data are empty"):
        pr.PriorRidge(np.zeros(0), np.zeros((0, 2)))


def test_missing_drop_counts_rows_in_summary(data):
    y, X = data
    y2 = y.copy()
    y2[[1, 5]] = np.nan
    res = pr.PriorRidge(y2, X, missing="drop").fit(lam=1.0)
    assert res.model.n_dropped == 2
    # the header's column widths follow its longest entry: match the words and the count
    assert "Rows dropped (NA): 2 " in " ".join(str(res.summary()).split()) + " "
    with pytest.raises(ValueError, match="NaN"):
        pr.PriorRidge(y2, X, missing="raise")


def test_unseen_level_at_prediction_and_typo_in_prior(rng):
    df = _frame(rng)
    res = pr.PriorRidge.from_formula("y ~ x + C(g)", df).fit(lam=1.0)
    with pytest.raises(ValueError, match="cannot code new data"):
        res.predict(pd.DataFrame({"x": [0.0], "g": ["z"]}))
    with pytest.raises(ValueError, match=r"\['xx'\].*Valid column names"):
        pr.PriorRidge.from_formula("y ~ x + C(g)", df, prior={"xx": 1.0})


def test_irls_divergence_and_separation_warn(rng):
    import statsmodels.api as sm

    x = np.linspace(-1, 1, 30)
    X = np.column_stack([np.ones(30), x])
    y = (x > 0).astype(float)
    with pytest.warns(Warning, match="perfect separation"):
        pr.PriorGLM(y, X, family=sm.families.Binomial()).fit(lam=0.0)
    with pytest.warns(Warning, match="perfect separation"):
        pr.PriorGLM(y, X, family=sm.families.Binomial(), penalty=[1.0, 1.0]).fit(lam=1e-3)
    y_mixed = (np.sin(7 * x) > 0).astype(float)  # not separated by any direction
    with pytest.warns(pr.ConvergenceWarning):
        res = pr.PriorGLM(y_mixed, X, family=sm.families.Binomial()).fit(lam=1e-3, maxiter=1)
    assert not res.converged


def test_inputs_are_never_mutated(data):
    y, X = data
    w = np.linspace(1, 2, 30)
    o = np.linspace(0, 1, 30)
    prior = np.array([1.0, 2.0, 3.0])
    copies = [a.copy() for a in (y, X, w, o, prior)]
    pr.PriorRidge(y, X, weights=w, offset=o, prior=prior, standardize=True).fit(lam="loocv")
    for before, after in zip(copies, (y, X, w, o, prior), strict=True):
        np.testing.assert_array_equal(before, after)
