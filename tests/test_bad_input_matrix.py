"""The bad-input matrix in Python: every case is a clear error or a correct fit.

Each call runs with every warning recorded. An error must be a
``ValueError``/``TypeError`` whose message is priorreg's own sentence
(matched below: it names the problem and the fix), raised without any
warning on the way; a fit must have finite estimates that equal an
independent oracle, at most one warning per cause; and the user's data are
the same objects with the same contents afterwards (compared with deep
copies taken before the call).
"""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import augmented_ols

import priorreg as pr
from priorreg.linalg import SingularSystemError

F = sm.families
EPS = np.finfo(float).eps


def make_frame(n: int = 30, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    return pd.DataFrame(
        {
            "y": 1.0 + 2.0 * x - z + rng.normal(size=n),
            "x": x,
            "z": z,
            "g": np.array(["a", "b", "c"])[np.arange(n) % 3],
            "w": rng.uniform(0.5, 2.0, n),
            "o": rng.normal(scale=0.1, size=n),
            "count": rng.poisson(np.exp(0.3 + 0.4 * x)).astype(float),
            "bin": (rng.uniform(size=n) < 1 / (1 + np.exp(-x))).astype(float),
        }
    )


def _same(before, after):
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(before, after)
    elif isinstance(before, pd.Series):
        pd.testing.assert_series_equal(before, after)
    elif isinstance(before, np.ndarray):
        np.testing.assert_array_equal(before, after)
    elif isinstance(before, dict):
        assert before.keys() == after.keys()
        for key in before:
            _same(before[key], after[key])


def run_clean(call, *data):
    """Run ``call()``; return (result or exception, warnings); check ``data`` untouched."""
    copies = [copy.deepcopy(d) for d in data]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = call()
        except Exception as exc:  # judged by the caller
            out = exc
    for before, after in zip(copies, data, strict=True):
        _same(before, after)
    return out, caught


def assert_error(call, error, match, *data):
    out, caught = run_clean(call, *data)
    assert isinstance(out, error), f"expected {error.__name__}, got {out!r}"
    assert pytest.approx(0) == len(caught), [str(w.message) for w in caught]
    msg = str(out)
    assert len(msg.splitlines()) == 1, msg
    import re

    assert re.search(match, msg), msg


def one_per_cause(caught):
    kinds = [w.category for w in caught]
    assert len(kinds) == len(set(kinds)), [str(w.message) for w in caught]


# ------------------------------------------------------------ array models
def arrays():
    df = make_frame()
    X = np.column_stack([np.ones(len(df)), df[["x", "z"]].to_numpy()])
    return df["y"].to_numpy(), X, df


def _with(arr, pos, value):
    out = np.array(arr, dtype=float)
    out[pos] = value
    return out


NONFINITE = [
    ("endog nan", lambda y, X: dict(endog=_with(y, 3, np.nan)), "endog has 1 row.*missing='drop'"),
    ("endog inf", lambda y, X: dict(endog=_with(y, 3, np.inf)), "endog has 1 row"),
    ("exog inf", lambda y, X: dict(exog=_with(X, (4, 1), np.inf)), "exog has 1 row"),
    ("exog nan", lambda y, X: dict(exog=_with(X, (4, 2), np.nan)), "exog has 1 row"),
    ("weights nan", lambda y, X: dict(weights=_with(np.ones(30), 0, np.nan)), "weights has 1 row"),
    ("offset inf", lambda y, X: dict(offset=_with(np.zeros(30), 2, -np.inf)), "offset has 1 row"),
    ("prior nan", lambda y, X: dict(prior=[0.0, np.nan, 0.0]), r"prior has non-finite.*\['x1'\]"),
    ("penalty inf", lambda y, X: dict(penalty=[0.0, np.inf, 1.0]), "non-finite|finite"),
    ("penalty matrix nan", lambda y, X: dict(penalty=np.full((3, 3), np.nan)), "non-finite"),
    ("weights zero", lambda y, X: dict(weights=_with(np.ones(30), 5, 0.0)), "weights must be > 0"),
    ("weights negative", lambda y, X: dict(weights=-np.ones(30)), "weights must be > 0.*Drop"),
    ("prior wrong shape", lambda y, X: dict(prior=np.zeros((3, 1))), r"prior has shape \(3, 1\)"),
    ("prior wrong name", lambda y, X: dict(prior={"x7": 1.0}), r"\['x7'\].*Valid column names"),
    ("penalty wrong shape", lambda y, X: dict(penalty=np.eye(2)), r"shape \(2, 2\)"),
    ("penalty wrong name", lambda y, X: dict(penalty={"q": 1.0}), r"\['q'\].*Valid column names"),
    ("endog 2 columns", lambda y, X: dict(endog=np.column_stack([y, y])), r"needs 1 column"),
    ("endog text", lambda y, X: dict(endog=np.array(["a"] * 30)), "endog must be numeric"),
    ("exog 1e300", lambda y, X: dict(exog=X * [1, 1e300, 1]), "'x1'.*magnitude.*rescale"),
    ("exog 1e-300", lambda y, X: dict(exog=X * [1, 1e-300, 1]), "'x1'.*magnitude.*rescale"),
    ("endog 1e300", lambda y, X: dict(endog=y * 1e300), "endog.*magnitude.*rescale"),
    ("weights 1e300", lambda y, X: dict(weights=np.full(30, 1e300)), "weights has values of mag"),
    ("offset 1e300", lambda y, X: dict(offset=np.full(30, 1e300)), "offset has values of mag"),
    ("prior 1e300", lambda y, X: dict(prior=[0.0, 1e300, 0.0]), "prior column 'x1'.*magnitude"),
]


@pytest.mark.parametrize(("label", "change", "match"), NONFINITE, ids=[c[0] for c in NONFINITE])
def test_ridge_arrays_bad_input(label, change, match):
    y, X, _ = arrays()
    kwargs = {"endog": y, "exog": X, **change(y, X)}
    error = TypeError if label == "endog text" else ValueError
    data = [v for v in kwargs.values() if isinstance(v, np.ndarray)]
    assert_error(lambda: pr.PriorRidge(**kwargs).fit(lam=1.0), error, match, *data)


FIT_ARGS = [
    ("lam nan", dict(lam=np.nan), "finite"),
    ("lam inf", dict(lam=np.inf), "finite"),
    ("lam negative", dict(lam=-1.0), ">= 0"),
    ("lams nan", dict(lam="gcv", lams=[np.nan, 1.0]), "finite.* > 0"),
    ("lams inf", dict(lam="reml", lams=[1.0, np.inf]), "finite.* > 0"),
    ("lams zero", dict(lam="gcv", lams=[0.0, 1.0]), "> 0"),
    ("lams one value", dict(lam="gcv", lams=[1.0]), "at least two"),
]


@pytest.mark.parametrize(("label", "kwargs", "match"), FIT_ARGS, ids=[c[0] for c in FIT_ARGS])
@pytest.mark.parametrize("model", ["ridge", "glm"])
def test_lam_and_grid_bad_input(label, kwargs, match, model):
    y, X, df = arrays()
    if model == "ridge":
        mod = pr.PriorRidge(y, X)
    else:
        mod = pr.PriorGLM(df["count"].to_numpy(), X, family=F.Poisson())
    assert_error(lambda: mod.fit(**kwargs), ValueError, match, y, X)


GLM_CASES = [
    ("binomial y > 1", F.Binomial(), lambda d: d.assign(bin=d.bin * 2), "bin", r"in \[0, 1\]"),
    ("binomial y < 0", F.Binomial(), lambda d: d.assign(bin=-d.bin), "bin", r"in \[0, 1\]"),
    ("poisson negative", F.Poisson(), lambda d: d.assign(count=-d["count"] - 1), "count", ">= 0"),
    ("gamma zero", F.Gamma(F.links.Log()), lambda d: d.assign(count=0.0), "count", "> 0"),
]


@pytest.mark.parametrize(
    ("label", "family", "change", "response", "match"), GLM_CASES, ids=[c[0] for c in GLM_CASES]
)
def test_glm_response_outside_the_family(label, family, change, response, match):
    df = change(make_frame())
    assert_error(
        lambda: pr.PriorGLM.from_formula(f"{response} ~ x", df, family=family).fit(lam=1.0),
        ValueError,
        match,
        df,
    )


GLM_ROWS = [
    ("exposure zero", dict(exposure=np.zeros(30)), "exposure must be > 0"),
    ("exposure nan", dict(exposure=np.full(30, np.nan)), "exposure has 30 row"),
    ("freq_weights negative", dict(freq_weights=-np.ones(30)), "freq_weights must be > 0"),
    ("var_weights inf", dict(var_weights=np.full(30, np.inf)), "var_weights has 30 row"),
    ("offset nan", dict(offset=np.full(30, np.nan)), "offset has 30 row"),
    ("scale nan", dict(scale=np.nan), "scale must be a positive number"),
    ("family string", dict(family="poisson"), "family must be a statsmodels family"),
]


@pytest.mark.parametrize(("label", "kwargs", "match"), GLM_ROWS, ids=[c[0] for c in GLM_ROWS])
def test_glm_row_arrays_bad_input(label, kwargs, match):
    df = make_frame()
    kwargs = {"family": F.Poisson(), **kwargs}
    error = TypeError if label == "family string" else ValueError
    arrays_in = [v for v in kwargs.values() if isinstance(v, np.ndarray)]
    assert_error(
        lambda: pr.PriorGLM.from_formula("count ~ x", df, **kwargs).fit(lam=1.0),
        error,
        match,
        df,
        *arrays_in,
    )


# ------------------------------------------------------------ formulas and data
FORMULA_CASES = [
    ("text response", "g ~ x", {}, r"response 'g' is not numeric.*levels \['a', 'b', 'c'\]"),
    ("unknown column", "y ~ nothere", {}, "cannot build the design.*Available columns"),
    ("weights not a column", "y ~ x", dict(weights="nope"), "not a column"),
    ("penalty Series wrong name", "y ~ x", dict(penalty=pd.Series({"zz": 1.0})), r"\['zz'\]"),
    (
        "penalty frame wrong labels",
        "y ~ x",
        dict(penalty=pd.DataFrame(np.eye(2), index=["a", "b"], columns=["a", "b"])),
        "labels do not match",
    ),
    ("prior Series wrong name", "y ~ x", dict(prior=pd.Series({"xx": 1.0})), r"\['xx'\]"),
]


@pytest.mark.parametrize(
    ("label", "formula", "kwargs", "match"), FORMULA_CASES, ids=[c[0] for c in FORMULA_CASES]
)
def test_formula_bad_input(label, formula, kwargs, match):
    df = make_frame()
    assert_error(
        lambda: pr.PriorRidge.from_formula(formula, df, **kwargs).fit(lam=1.0),
        ValueError,
        match,
        df,
    )


def test_text_response_is_an_error_for_the_glm_too():
    df = make_frame()
    assert_error(
        lambda: pr.PriorGLM.from_formula("g ~ x", df, family=F.Binomial()).fit(lam=1.0),
        ValueError,
        "response 'g' is not numeric.*astype",
        df,
    )


def test_empty_data_and_header_only_data():
    df = make_frame().iloc[:0]
    assert_error(
        lambda: pr.PriorRidge.from_formula("y ~ x", df), ValueError, "no rows: give at least", df
    )
    header_only = pd.DataFrame({"y": pd.Series([], dtype=object), "x": pd.Series([], dtype=object)})
    assert_error(
        lambda: pr.PriorRidge.from_formula("y ~ x", header_only), ValueError, "no rows", header_only
    )
    assert_error(lambda: pr.PriorRidge(np.zeros(0), np.zeros((0, 2))), ValueError, "empty")


def test_all_rows_dropped_by_missing_names_the_column():
    df = make_frame().assign(z=np.nan)
    assert_error(
        lambda: pr.PriorRidge.from_formula("y ~ x + z", df),
        ValueError,
        r"all 30 rows were dropped.*\['z'\] are missing on every row.*fill in",
        df,
    )
    scattered = make_frame()
    scattered.loc[::2, "x"] = np.nan
    scattered.loc[1::2, "z"] = np.nan
    assert_error(
        lambda: pr.PriorGLM.from_formula("count ~ x + z", scattered, family=F.Poisson()),
        ValueError,
        "all 30 rows were dropped.*every row has a missing value",
        scattered,
    )
    _, X, _ = arrays()
    assert_error(
        lambda: pr.PriorRidge(np.full(30, np.nan), X, missing="drop"), ValueError, "all 30 rows", X
    )


def test_unseen_levels_and_wrong_types_at_prediction_and_refinement():
    df = make_frame()
    res = pr.PriorRidge.from_formula("y ~ x + C(g)", df).fit(lam=1.0)
    new = df.iloc[:5].assign(g="zz")
    for call in (lambda: res.predict(new), lambda: res.refine(new, lam=1.0)):
        assert_error(call, ValueError, "'zz' does not match any of the expected levels.*fit", new)
    text = df.iloc[:5].assign(x=["1.5", "u", "2", "3", "4"])
    for call in (lambda: res.predict(text), lambda: res.refine(text, lam=1.0)):
        assert_error(call, ValueError, r"column 'x' is not numeric \(e.g. 'u'\)", text)


def test_missing_values_as_none_are_dropped_at_refinement():
    """An object column of numbers and None is numbers with missing values."""
    df = make_frame()
    res = pr.PriorRidge.from_formula("y ~ x", df.iloc[:20]).fit(lam=1.0)
    new = df.iloc[20:].astype({"x": object})
    new.loc[new.index[0], "x"] = None
    out, caught = run_clean(lambda: res.refine(new, lam=1.0), new)
    assert not caught
    oracle = res.refine(df.iloc[21:], lam=1.0)
    np.testing.assert_array_equal(np.asarray(out.params), np.asarray(oracle.params))
    assert out.model.n_dropped == 1


# ------------------------------------------------------------ files
PRIOR_FILES = [
    ("not json", "nope{", "not valid JSON"),
    ("other json", '{"a": 1}', "not a priorreg prior"),
    (
        "lengths differ",
        {"names": ["Intercept", "x"], "params": [1.0]},
        "'names' has 2 entries but 'params' has 1",
    ),
    ("names missing", {"params": [1.0]}, "'names' and 'params' must be lists"),
    ("params text", {"names": ["x"], "params": ["a"]}, "'params' must be numbers"),
    ("names repeated", {"names": ["x", "x"], "params": [1.0, 2.0]}, "repeats a name"),
    (
        "covariance wrong shape",
        {"names": ["Intercept", "x"], "params": [1.0, 2.0], "normalized_cov_params": [[1.0]]},
        r"shape \(1, 1\); expected \(2, 2\)",
    ),
]


@pytest.mark.parametrize(("label", "doc", "match"), PRIOR_FILES, ids=[c[0] for c in PRIOR_FILES])
def test_malformed_prior_files(tmp_path, label, doc, match):
    path = tmp_path / "prior.json"
    if isinstance(doc, dict):
        doc = json.dumps({"format": "priorreg-prior", "version": 1, **doc})
    path.write_text(doc)
    assert_error(lambda: pr.load_prior(path), ValueError, match)


def test_missing_prior_file(tmp_path):
    assert_error(lambda: pr.load_prior(tmp_path / "no.json"), ValueError, "prior file not found")


def test_information_prior_with_singular_covariance_is_refused():
    df = make_frame()
    old = sm.OLS.from_formula("y ~ x + z", df).fit()
    ncov = np.array(old.normalized_cov_params)
    ncov[2, :] = ncov[1, :]
    ncov[:, 2] = ncov[:, 1]  # rank 2: no inverse
    prior = pr.PriorFile(
        params=old.params,
        normalized_cov_params=pd.DataFrame(ncov, index=old.params.index, columns=old.params.index),
        meta={},
    )
    assert_error(
        lambda: pr.PriorRidge.from_formula("y ~ x + z", df, prior=prior, penalty="information"),
        ValueError,
        "singular or nearly so.*penalty=None",
        df,
    )


# ------------------------------------------------------------ rank deficiency and scales
def test_rank_deficiency_in_the_unpenalized_block_is_an_error():
    y, X, _ = arrays()
    X3 = np.column_stack([X, 2 * X[:, 1]])
    assert_error(
        lambda: pr.PriorRidge(y, X3, penalty=[0.0, 0.0, 1.0, 0.0]).fit(lam=1.0),
        SingularSystemError,
        "collinear.*remove a redundant unpenalized column or penalize it",
        y,
        X3,
    )


def test_rank_deficiency_in_the_penalized_block_is_a_correct_fit():
    y, X, _ = arrays()
    X3 = np.column_stack([X, X[:, 1] + X[:, 2]])  # rank 3 of 4, the redundancy penalized
    L = np.diag([0.0, 1.0, 1.0, 1.0])
    b0 = np.array([0.5, 1.0, -1.0, 0.2])
    out, caught = run_clean(lambda: pr.PriorRidge(y, X3, prior=b0).fit(lam=2.0), y, X3, b0)
    assert not caught
    oracle = augmented_ols(X3, y, L, np.ones(30), 2.0, b0, np.zeros(30))
    # augmented matrix cond ~ 30 (lam = 2 on unit-scale columns): eps * cond^2 * k ~ 1e-12; 1e-10
    np.testing.assert_allclose(out.params, oracle, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("factor", [1e50, 1e-50])
def test_extreme_but_representable_scales_fit_like_statsmodels(factor):
    y, X, _ = arrays()
    Xs = X * [1.0, factor, 1.0]
    out, caught = run_clean(lambda: pr.PriorRidge(y, Xs).fit(lam=0.0), y, Xs)
    assert not caught
    ols = sm.OLS(y, X).fit()  # the unscaled problem: estimate and error of x1 scale by 1/factor
    expected = np.asarray(ols.params) / [1.0, factor, 1.0]
    expected_se = np.asarray(ols.bse) / [1.0, factor, 1.0]
    # cond of the column-equilibrated design ~ 3: eps * 3 * 30 ~ 2e-14; 1e-11 (100x margin
    # for the rounding of the scaling itself)
    np.testing.assert_allclose(out.params, expected, rtol=1e-11)
    np.testing.assert_allclose(out.bse, expected_se, rtol=1e-11)


# ------------------------------------------------------------ degenerate data with an answer
def test_constant_response_gives_nan_r_squared_and_a_summary():
    df = make_frame().assign(y=3.0)
    out, caught = run_clean(lambda: pr.PriorRidge.from_formula("y ~ x + z", df).fit(lam=1.0), df)
    assert [w.category for w in caught] == [pr.DegenerateFitWarning]
    assert "R-squared is NaN" in str(caught[0].message)
    ols = sm.OLS.from_formula("y ~ x + z", df).fit()
    # the exact fit: intercept 3, slopes 0, in the closed form and in OLS (rounding ~ eps * 3 * 30)
    np.testing.assert_allclose(out.params, ols.params, atol=1e-12)
    np.testing.assert_allclose(out.params, [3.0, 0.0, 0.0], atol=1e-12)
    assert np.isnan(out.rsquared)
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        text = str(out.summary())
    assert not again
    assert "R-squared is undefined (NaN): the response does not vary" in text


def test_single_row_with_a_prior_fits_with_nan_scale():
    df = make_frame().iloc[:1]
    b0 = {"x": 2.0, "z": -1.0}
    out, caught = run_clean(
        lambda: pr.PriorRidge.from_formula("y ~ x + z", df, prior=b0).fit(lam=1.0), df, b0
    )
    assert [w.category for w in caught] == [pr.DegenerateFitWarning]
    assert "no residual degrees of freedom" in str(caught[0].message)
    X = np.array([[1.0, df.x.iloc[0], df.z.iloc[0]]])
    oracle = augmented_ols(
        X, df.y.to_numpy(), np.diag([0.0, 1.0, 1.0]), np.ones(1), 1.0, np.array([0, 2.0, -1.0]), 0
    )
    # a 4 x 3 augmented problem with cond < 10: eps * 10 * 3 ~ 1e-14; 1e-12
    np.testing.assert_allclose(out.params, oracle, rtol=1e-12, atol=1e-12)
    assert np.isnan(out.scale)
    assert np.all(np.isnan(out.bse))
    assert np.isnan(out.rsquared)
    text = str(out.summary())
    assert "No residual degrees of freedom" in text
    assert "R-squared is undefined" in text


def test_single_row_poisson_has_known_scale_and_finite_errors():
    df = make_frame().iloc[:1]
    out, caught = run_clean(
        lambda: pr.PriorGLM.from_formula("count ~ x", df, family=F.Poisson(), prior={"x": 0.3}).fit(
            lam=1.0, tol=1e-12
        ),
        df,
    )
    assert not caught  # the scale is 1: nothing is undefined
    mu = np.asarray(out.mu, dtype=float)
    X = np.array([[1.0, df.x.iloc[0]]])
    precision = X.T @ (mu[:, None] * X) + np.diag([0.0, 1.0])
    # closed-form covariance at the estimate, cond < 1e3: eps * 1e3 ~ 1e-13; 1e-9 for IRLS
    np.testing.assert_allclose(out.bse, np.sqrt(np.diag(np.linalg.inv(precision))), rtol=1e-9)


def test_constant_response_linear_selection_gives_one_warning():
    df = make_frame().assign(y=1.0)
    out, caught = run_clean(lambda: pr.PriorRidge.from_formula("y ~ x", df).fit(lam="gcv"), df)
    one_per_cause(caught)
    assert all("agree" not in str(w.message) for w in caught)
    np.testing.assert_allclose(out.params, [1.0, 0.0], atol=1e-12)


def test_inputs_are_untouched_across_a_full_glm_run():
    df = make_frame()
    w = df["w"].to_numpy().copy()
    prior = {"x": 0.4}
    out, caught = run_clean(
        lambda: (
            pr.PriorGLM.from_formula(
                "count ~ x + C(g)", df, family=F.Poisson(), var_weights=w, offset="o", prior=prior
            )
            .fit(lam="reml")
            .refine(df, lam="gcv", var_weights=w)  # an array is not carried over: given again
        ),
        df,
        w,
        prior,
    )
    assert np.all(np.isfinite(out.params))
    one_per_cause(caught)


@pytest.mark.parametrize(
    ("family", "warning"),
    [
        (F.Poisson(), pr.LamOnEdgeWarning),  # known scale: only lam is undetermined
        (F.Gaussian(), pr.DegenerateFitWarning),  # estimated scale: the exact fit says it all
        (F.Gamma(F.links.Log()), pr.DegenerateFitWarning),
    ],
)
def test_constant_glm_response_gives_one_honest_warning(family, warning):
    df = make_frame().assign(count=2.0)
    out, caught = run_clean(
        lambda: pr.PriorGLM.from_formula("count ~ x", df, family=family).fit(lam="gcv"), df
    )
    assert [w.category for w in caught] == [warning], [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert "agree" not in message
    assert "no evidence against the prior" not in message
    assert "does not determine lam" in message or "no criterion can choose lam" in message
    # the exact fit: mean 2 everywhere (IRLS to 1e-8 relative: ~1e-8 on the mean; 1e-6)
    np.testing.assert_allclose(out.mu, 2.0, rtol=1e-6)


@pytest.mark.parametrize("model", ["ridge", "glm"])
def test_lams_of_text_is_a_type_error(model):
    df = make_frame()
    if model == "ridge":
        mod = pr.PriorRidge.from_formula("y ~ x", df)
    else:
        mod = pr.PriorGLM.from_formula("count ~ x", df, family=F.Poisson())
    assert_error(lambda: mod.fit(lam="gcv", lams="1,2"), TypeError, "lams must be numbers", df)


@pytest.mark.parametrize("key", ["weights", "offset"])
def test_nan_in_a_row_column_of_a_formula_model_says_to_drop_rows(key):
    df = make_frame().assign(w=np.r_[np.nan, np.ones(29)])
    assert_error(
        lambda: pr.PriorRidge.from_formula("y ~ x", df, **{key: "w"}),
        ValueError,
        f"{key} has 1 row.*drop those rows from the data",
        df,
    )
