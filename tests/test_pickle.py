"""Pickling and JSON priors round trip bit for bit, formulas included."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from bounds import EPS, MARGIN, glm_optimum_distance

import priorreg as pr


@pytest.fixture
def frame(rng):
    n = 60
    df = pd.DataFrame(
        {
            "x": rng.uniform(1, 5, n),
            "g": rng.choice(["a", "b", "c"], n),
            "expo": rng.uniform(1, 2, n),
        }
    )
    df["y"] = 1 + df.x + rng.normal(size=n)
    df["count"] = rng.poisson(df.expo * np.exp(0.3 * df.x))
    return df


def _same(a, b):
    for name in ["params", "bse", "prior", "edf_params", "fittedvalues"]:
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))
    np.testing.assert_array_equal(np.asarray(a.cov_params()), np.asarray(b.cov_params()))
    assert a.lam == b.lam
    assert a.edf == b.edf


@pytest.mark.parametrize("formula", ["y ~ standardize(x) + C(g)", "y ~ np.log(x) + I(x**2)"])
def test_formula_results_pickle_and_predict_on_new_data(frame, formula):
    res = pr.PriorRidge.from_formula(formula, frame, prior={"Intercept": 1.0}).fit(lam="gcv")
    back = pickle.loads(pickle.dumps(res))
    _same(res, back)
    new = frame.head(7).assign(x=np.linspace(1, 3, 7), g=["c", "a", "b", "a", "c", "b", "a"])
    np.testing.assert_array_equal(res.predict(new), back.predict(new))
    # predictions through the formula on the training rows equal the fitted
    # values: the same x'b, perhaps summed in another order: k eps sum |x_j b_j|
    X, b = res.model.exog, np.asarray(res.params)
    bound = MARGIN * X.shape[1] * EPS * (np.abs(X) @ np.abs(b))
    np.testing.assert_array_less(np.abs(back.predict(frame) - res.fittedvalues), bound)
    assert str(back.summary()) == str(res.summary())
    refined = back.refine(frame.tail(20), lam=3.0)
    np.testing.assert_array_equal(refined.prior, res.params)


def test_glm_results_pickle(frame):
    res = pr.PriorGLM.from_formula(
        "count ~ x + C(g)", frame, family=sm.families.Poisson(), exposure="expo"
    ).fit(lam=2.0)
    back = pickle.loads(pickle.dumps(res))
    _same(res, back)
    np.testing.assert_array_equal(
        res.predict(frame, exposure=frame.expo), back.predict(frame, exposure=frame.expo)
    )


def test_array_results_pickle(rng):
    X = np.column_stack([np.ones(40), rng.normal(size=(40, 3))])
    y = X @ [1.0, 0.5, -0.5, 0.2] + rng.normal(size=40)
    res = pr.PriorRidge(y, X).fit(lam="reml")
    back = pickle.loads(pickle.dumps(res))
    _same(res, back)
    assert back.loocv == res.loocv


def test_save_load_prior_glm_round_trip(frame, tmp_path):
    res = pr.PriorGLM.from_formula(
        "count ~ x + C(g)", frame, family=sm.families.Poisson(), exposure="expo"
    ).fit(lam=0.0)
    res.save_prior(tmp_path / "p.json")
    loaded = pr.load_prior(tmp_path / "p.json")
    np.testing.assert_array_equal(loaded.params.to_numpy(), np.asarray(res.params))
    np.testing.assert_array_equal(
        loaded.normalized_cov_params.to_numpy(), np.asarray(res.normalized_cov_params)
    )
    again = pr.PriorGLM.from_formula(
        "count ~ x + C(g)",
        frame,
        family=sm.families.Poisson(),
        exposure="expo",
        prior=loaded,
        penalty="information",
    ).fit(lam=1e-9)
    # the prior is the MLE itself, so the penalized optimum is the MLE: both
    # fits within their Newton steps of it (statsmodels' score and Hessian), x 10
    model = res.model
    kw = {"offset": model.offset_total}
    family = sm.families.Poisson()
    d = sum(
        glm_optimum_distance(family, model.exog, model.endog, np.asarray(b), **kw)
        for b in (again.params, res.params)
    )
    assert np.linalg.norm(np.asarray(again.params) - np.asarray(res.params)) <= MARGIN * d
