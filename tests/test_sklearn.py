"""priorreg.sklearn: the estimators against the models, scikit-learn and closed forms."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
)
from sklearn.metrics import d2_tweedie_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import priorreg as pr
from priorreg.sklearn import PriorGLMRegressor, PriorLogisticClassifier, PriorRidgeRegressor
from priorreg.sklearn._base import PriorEstimatorBase
from priorreg.sklearn._glm import resolve_family

#: Linear solves here: relative error <= eps * cond(X'WX + lam L) * k with
#: cond <= 1e3 and k <= 5: ~1e-12; tolerances 1e-9 (100x margin or more).
RTOL_SOLVE = 1e-9
#: Newton/IRLS run to tol=1e-12 (both converge quadratically for canonical
#: links, so they stop at the rounding floor eps * cond(H) * |b| ~ 1e-13 for
#: these well-conditioned designs): 1e-9 is a 1000x margin.
ATOL_NEWTON = 1e-9


@pytest.fixture
def data(rng):
    n, p = 80, 3
    X = rng.normal(size=(n, p)) * [1.0, 2.0, 0.5] + [0.0, 1.0, -1.0]
    eta = 0.3 + X @ [0.4, -0.3, 0.2]
    return {
        "X": X,
        "y": eta + rng.normal(size=n),
        "counts": rng.poisson(np.exp(eta)),
        "labels": np.where(rng.random(n) < 1 / (1 + np.exp(-eta)), "yes", "no"),
        "w": rng.uniform(0.5, 2.0, n),
        "frame": pd.DataFrame(X, columns=["a", "b", "c"]),
    }


def with_const(X):
    return np.column_stack([np.ones(len(X)), X])


# ---------------------------------------------------------------- the models
@pytest.mark.parametrize("lam", [3.0, "gcv", "loocv", "reml"])
def test_ridge_regressor_equals_prior_ridge(data, lam):
    X, y, w = data["X"], data["y"], data["w"]
    prior = np.array([0.5, -0.2, 0.1])
    est = PriorRidgeRegressor(lam=lam, prior=prior).fit(X, y, sample_weight=w)
    res = pr.PriorRidge(y, with_const(X), prior=np.r_[0.0, prior], weights=w).fit(lam=lam)
    # the same computation on the same numbers (a DataFrame design instead
    # of an array): rounding differs at most at eps * cond * k
    np.testing.assert_allclose(est.lam_, res.lam, rtol=RTOL_SOLVE)
    np.testing.assert_allclose(est.coef_, res.params[1:], rtol=RTOL_SOLVE)
    np.testing.assert_allclose(est.intercept_, res.params[0], rtol=RTOL_SOLVE)
    np.testing.assert_allclose(est.results_.bse, res.bse, rtol=RTOL_SOLVE)
    np.testing.assert_allclose(est.predict(X), res.fittedvalues, rtol=RTOL_SOLVE)
    assert est.results_.lam_method == res.lam_method


@pytest.mark.parametrize("lam", [3.0, "gcv", "aic", "reml"])
def test_glm_regressor_equals_prior_glm(data, lam):
    X, y, w = data["X"], data["counts"], data["w"]
    est = PriorGLMRegressor(family="poisson", lam=lam, prior={"x0": 0.3}).fit(X, y, sample_weight=w)
    model = pr.PriorGLM(
        y, with_const(X), family=sm.families.Poisson(), prior=[0, 0.3, 0, 0], freq_weights=w
    )
    res = model.fit(lam=lam)
    np.testing.assert_allclose(est.lam_, res.lam, rtol=RTOL_SOLVE)
    np.testing.assert_allclose(est.coef_, res.params[1:], rtol=RTOL_SOLVE)
    np.testing.assert_allclose(est.predict(X), res.fittedvalues, rtol=RTOL_SOLVE)
    assert est.n_iter_ == res.iterations


def test_classifier_equals_prior_glm(data):
    X, labels = data["X"], data["labels"]
    clf = PriorLogisticClassifier(lam="gcv").fit(X, labels)
    res = pr.PriorGLM(
        (labels == "yes").astype(float), with_const(X), family=sm.families.Binomial()
    ).fit(lam="gcv")
    assert clf.classes_.tolist() == ["no", "yes"]
    np.testing.assert_allclose(clf.coef_.ravel(), res.params[1:], rtol=RTOL_SOLVE)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], res.fittedvalues, rtol=RTOL_SOLVE)
    assert clf.coef_.shape == (1, 3)
    assert clf.intercept_.shape == (1,)


# ------------------------------------------------------------- scikit-learn
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_zero_prior_equals_sklearn_ridge(data, fit_intercept):
    # sklearn's Ridge(alpha) minimises sum w (y - Xb - b0)^2 + alpha |b|^2,
    # intercept unpenalized: lam = alpha
    X, y, w = data["X"], data["y"], data["w"]
    X = np.column_stack([X, np.ones(len(X))])  # a constant feature: penalized like any
    est = PriorRidgeRegressor(lam=2.5, fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    ref = Ridge(alpha=2.5, fit_intercept=fit_intercept, solver="cholesky").fit(
        X, y, sample_weight=w
    )
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=RTOL_SOLVE, atol=1e-12)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, rtol=RTOL_SOLVE, atol=1e-12)


def test_logistic_equals_sklearn_logistic_regression(data):
    # LogisticRegression(C) minimises C * sum w logloss + |b|^2 / 2; times
    # 2/C: the binomial deviance + |b|^2 / C, so lam = 1 / C
    X, labels, w = data["X"], data["labels"], data["w"]
    clf = PriorLogisticClassifier(lam=2.0, tol=1e-12).fit(X, labels, sample_weight=w)
    ref = LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-14, max_iter=1000)
    ref.fit(X, labels, sample_weight=w)
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=ATOL_NEWTON)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, atol=ATOL_NEWTON)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=ATOL_NEWTON)
    np.testing.assert_allclose(
        clf.predict_log_proba(X), ref.predict_log_proba(X), atol=ATOL_NEWTON
    )
    np.testing.assert_allclose(
        clf.decision_function(X), ref.decision_function(X), atol=ATOL_NEWTON
    )
    assert (clf.predict(X) == ref.predict(X)).all()


def test_poisson_equals_sklearn_poisson_regressor(data):
    # PoissonRegressor(alpha): sum w d / (2 sum w) + alpha/2 |b|^2; times
    # 2 sum w: the deviance + alpha sum(w) |b|^2, so lam = alpha * sum(w)
    X, y, w = data["X"], data["counts"], data["w"]
    est = PriorGLMRegressor(lam=0.1 * w.sum(), tol=1e-12).fit(X, y, sample_weight=w)
    ref = PoissonRegressor(alpha=0.1, solver="newton-cholesky", tol=1e-14, max_iter=1000)
    ref.fit(X, y, sample_weight=w)
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=ATOL_NEWTON)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, atol=ATOL_NEWTON)
    # D^2 is the score of both
    np.testing.assert_allclose(
        est.score(X, y, sample_weight=w), ref.score(X, y, sample_weight=w), atol=ATOL_NEWTON
    )


@pytest.mark.parametrize(
    ("family", "power", "response"),
    [("poisson", 1, "counts"), ("gamma", 2, "positive"), ("gaussian", 0, "y")],
)
def test_glm_score_is_d2(data, family, power, response):
    X = data["X"]
    y = data["counts"] + 0.5 if response == "positive" else data[response]
    est = PriorGLMRegressor(family=family, link="log" if power else None, lam=1.0).fit(X, y)
    mu = est.predict(X)
    # sklearn's D^2 for the Tweedie power of the family (0: R^2)
    expected = d2_tweedie_score(y, mu, power=power, sample_weight=data["w"])
    # both sum the same unit deviances: rounding ~ n eps
    assert est.score(X, y, sample_weight=data["w"]) == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------ sample weights
@pytest.mark.parametrize("lam", [1.5, "gcv", "aic", "reml"])
@pytest.mark.parametrize("kind", ["glm", "logit"])
def test_glm_sample_weight_is_repetition(data, lam, kind):
    X = data["X"]
    y = data["counts"] if kind == "glm" else data["labels"]
    counts = np.random.default_rng(5).integers(0, 4, len(X))
    cls = PriorGLMRegressor if kind == "glm" else PriorLogisticClassifier
    weighted = cls(lam=lam, tol=1e-12).fit(X, y, sample_weight=counts)
    repeated = cls(lam=lam, tol=1e-12).fit(X.repeat(counts, axis=0), y.repeat(counts))
    # the search locates log(lam) to 1e-3 (priorreg.glm._XATOL); 10x margin.
    # var_weights (precision) semantics would move lam by ~50% on these data
    assert weighted.lam_ == pytest.approx(repeated.lam_, rel=1e-2)
    if not isinstance(lam, str):
        np.testing.assert_allclose(weighted.coef_, repeated.coef_, atol=ATOL_NEWTON)


def test_ridge_sample_weight(data):
    X, y = data["X"], data["y"]
    counts = np.random.default_rng(5).integers(0, 4, len(X))
    # a fixed lam: weights are repeated rows, weight 0 a dropped row
    a = PriorRidgeRegressor(lam=4.0).fit(X, y, sample_weight=counts)
    b = PriorRidgeRegressor(lam=4.0).fit(X.repeat(counts, axis=0), y.repeat(counts))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=RTOL_SOLVE)
    # a criterion: PriorRidge's precision weights (n counts the rows kept)
    keep = counts > 0
    c = PriorRidgeRegressor(lam="gcv").fit(X, y, sample_weight=counts)
    res = pr.PriorRidge(y[keep], with_const(X[keep]), weights=counts[keep]).fit(lam="gcv")
    np.testing.assert_allclose(c.lam_, res.lam, rtol=RTOL_SOLVE)


def test_sample_weight_not_modified(data):
    w = data["w"].copy()
    w[:3] = 0.0
    before = w.copy()
    PriorGLMRegressor(lam=1.0).fit(data["X"], data["counts"], sample_weight=w)
    np.testing.assert_array_equal(w, before)


# ------------------------------------------------------------------ priors
def test_prior_forms_agree(data):
    X, y, frame = data["X"], data["y"], data["frame"]
    b = np.array([0.7, -0.4, 0.3])
    base = PriorRidgeRegressor(lam=5.0, prior=b).fit(frame, y)
    ols = LinearRegression().fit(frame, y)
    forms = [
        {"a": 0.7, "b": -0.4, "c": 0.3},
        pd.Series([0.3, 0.7, -0.4], index=["c", "a", "b"]),
    ]
    for prior in forms:
        est = PriorRidgeRegressor(lam=5.0, prior=prior).fit(frame, y)
        np.testing.assert_allclose(est.coef_, base.coef_, rtol=RTOL_SOLVE)
    # a fitted sklearn model by name (columns in another order) equals its
    # coefficients as an array; the intercept prior is irrelevant (unpenalized)
    by_name = PriorRidgeRegressor(lam=5.0, prior=ols).fit(frame, y)
    reordered = LinearRegression().fit(frame[["c", "a", "b"]], y)
    by_name2 = PriorRidgeRegressor(lam=5.0, prior=reordered).fit(frame, y)
    by_array = PriorRidgeRegressor(lam=5.0, prior=ols.coef_).fit(X, y)
    by_position = PriorRidgeRegressor(lam=5.0, prior=LinearRegression().fit(X, y)).fit(X, y)
    for est in (by_name2, by_array, by_position):
        np.testing.assert_allclose(est.coef_, by_name.coef_, rtol=RTOL_SOLVE)
    # statsmodels and priorreg results, aligned by name (const -> Intercept)
    sm_res = sm.OLS(y, sm.add_constant(frame)).fit()
    est = PriorRidgeRegressor(lam=5.0, prior=sm_res).fit(frame, y)
    np.testing.assert_allclose(est.coef_, by_name.coef_, rtol=RTOL_SOLVE)
    est = PriorRidgeRegressor(lam=5.0, prior=by_name.results_).fit(frame, y)
    chained = PriorRidgeRegressor(lam=5.0, prior=by_name).fit(frame, y)
    np.testing.assert_allclose(chained.coef_, est.coef_, rtol=RTOL_SOLVE)


def test_prior_closed_form(data):
    # b = (X'X + lam L)^-1 (X'y + lam L b0) on the design [1, X], L = diag(0, 1, 1, 1)
    X, y = data["X"], data["y"]
    b0 = np.array([0.0, 0.7, -0.4, 0.3])
    D = with_const(X)
    L = np.diag([0.0, 1.0, 1.0, 1.0])
    expected = np.linalg.solve(D.T @ D + 5.0 * L, D.T @ y + 5.0 * L @ b0)
    est = PriorRidgeRegressor(lam=5.0, prior=b0[1:]).fit(X, y)
    np.testing.assert_allclose(np.r_[est.intercept_, est.coef_], expected, rtol=RTOL_SOLVE)


def test_information_penalty_reproduces_pooled_ols(data):
    # DESIGN section 2: lam = 1 with the old OLS fit's information matrix as
    # the penalty reproduces OLS on the pooled data
    frame, y = data["frame"], data["y"]
    old = PriorRidgeRegressor(lam=0.0).fit(frame[:40], y[:40])
    new = PriorRidgeRegressor(lam=1.0, prior=old, penalty="information").fit(frame[40:], y[40:])
    pooled = np.linalg.lstsq(with_const(data["X"]), y, rcond=None)[0]
    np.testing.assert_allclose(np.r_[new.intercept_, new.coef_], pooled, rtol=RTOL_SOLVE)


def test_prior_errors(data):
    X, y, frame = data["X"], data["y"], data["frame"]
    with pytest.raises(ValueError, match=r"shape \(2,\); expected \(3,\)|3 features"):
        PriorRidgeRegressor(lam=1.0, prior=[1.0, 2.0]).fit(X, y)
    with pytest.raises(ValueError, match=r"not in the design.*'zz'"):
        PriorRidgeRegressor(lam=1.0, prior={"zz": 1.0}).fit(frame, y)
    with pytest.raises(ValueError, match="intercept"):
        PriorRidgeRegressor(lam=1.0, fit_intercept=False, prior=LinearRegression().fit(X, y)).fit(
            X, y
        )
    with pytest.raises(NotFittedError, match="not fitted"):
        PriorRidgeRegressor(lam=1.0, prior=LinearRegression()).fit(X, y)


# ----------------------------------------------------------------- penalty
def test_penalty_forms(data):
    frame, y = data["frame"], data["y"]
    D = with_const(data["X"])
    weights = np.array([0.0, 2.0, 0.5, 1.0])
    for penalty in ([2.0, 0.5, 1.0], {"a": 2.0, "b": 0.5}, np.diag([2.0, 0.5, 1.0])):
        est = PriorRidgeRegressor(lam=3.0, penalty=penalty).fit(frame, y)
        expected = np.linalg.solve(D.T @ D + 3.0 * np.diag(weights), D.T @ y)
        np.testing.assert_allclose(np.r_[est.intercept_, est.coef_], expected, rtol=RTOL_SOLVE)
    M = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
    Lfull = np.zeros((4, 4))
    Lfull[1:, 1:] = M
    expected = np.linalg.solve(D.T @ D + 3.0 * Lfull, D.T @ y)
    for penalty in (M, pd.DataFrame(M, index=list("abc"), columns=list("abc"))):
        est = PriorRidgeRegressor(lam=3.0, penalty=penalty).fit(frame, y)
        np.testing.assert_allclose(np.r_[est.intercept_, est.coef_], expected, rtol=RTOL_SOLVE)
    with pytest.raises(ValueError, match=r"expected \(3,\) weights"):
        PriorRidgeRegressor(lam=3.0, penalty=[1.0, 2.0]).fit(frame, y)


def test_standardize_equals_model(data):
    X, y = data["X"], data["y"]
    est = PriorRidgeRegressor(lam=3.0, standardize=True).fit(X, y)
    res = pr.PriorRidge(y, with_const(X), standardize=True).fit(lam=3.0)
    np.testing.assert_allclose(est.coef_, res.params[1:], rtol=RTOL_SOLVE)
    # the penalty is units-free: rescaling a feature rescales its coefficient
    scaled = PriorRidgeRegressor(lam=3.0, standardize=True).fit(X * [10.0, 1.0, 1.0], y)
    np.testing.assert_allclose(scaled.coef_ * [10.0, 1.0, 1.0], est.coef_, rtol=RTOL_SOLVE)


# ------------------------------------------------------------------ bounds
def test_bounds_passed_only_when_given(data):
    est = PriorRidgeRegressor(lam=1.0).fit(data["X"], data["y"])
    assert est._bounds_kwargs(pr.PriorRidge) == {}
    est.set_params(bounds="nonnegative")
    assert est._bounds_kwargs(pr.PriorRidge) == {"bounds": "nonnegative"}
    est.set_params(bounds=[(0, None), (None, 1), (0, 2)])  # one pair per feature
    pairs = est._bounds_kwargs(pr.PriorRidge)["bounds"]
    assert pairs == [(None, None), (0, None), (None, 1), (0, 2)]


def test_bounds_equal_the_bounded_models(data):
    X, y = data["X"], data["y"]
    # a prior far below zero drives some coefficients to their bound 0
    prior = -np.abs(np.asarray(with_const(X)).std(axis=0)) * 5
    est = PriorRidgeRegressor(lam=30.0, bounds="nonnegative", prior=prior[1:]).fit(X, y)
    res = pr.PriorRidge(y, with_const(X), prior=prior, bounds="nonnegative").fit(lam=30.0)
    assert np.all(est.coef_ >= 0)
    np.testing.assert_allclose(est.coef_, res.params[1:], rtol=RTOL_SOLVE, atol=RTOL_SOLVE)
    np.testing.assert_array_equal(est.results_.active_bounds, res.active_bounds)
    counts = np.random.default_rng(3).poisson(2.0, size=len(y))
    glm = PriorGLMRegressor(lam=30.0, bounds="nonnegative", tol=1e-12).fit(X, counts)
    ref = pr.PriorGLM(
        counts, with_const(X), family=sm.families.Poisson(), bounds="nonnegative"
    ).fit(lam=30.0, tol=1e-12)
    assert np.all(glm.coef_ >= 0)
    # both run the same bounded IRLS to tol 1e-12 on the same data: equal to rounding
    np.testing.assert_allclose(glm.coef_, ref.params[1:], rtol=1e-8, atol=1e-10)


# ------------------------------------------------------- families and links
def test_family_and_link_resolution():
    fam = resolve_family("negative_binomial")
    assert isinstance(fam, sm.families.NegativeBinomial)
    user = sm.families.Tweedie(var_power=1.5)
    fam = resolve_family(user, "identity")
    assert isinstance(fam.link, sm.families.links.Identity)
    assert isinstance(user.link, sm.families.links.Log)  # the user's object is untouched
    assert isinstance(resolve_family(sm.families.Gamma).link, sm.families.links.InversePower)
    with pytest.raises(ValueError, match="unknown family 'poison'"):
        resolve_family("poison")
    with pytest.raises(ValueError, match="unknown link"):
        resolve_family("poisson", "logg")
    with pytest.raises(TypeError, match="family must be"):
        resolve_family(3)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("gaussian", sm.families.Gaussian),
        ("gamma", sm.families.Gamma),
        ("inverse_gaussian", sm.families.InverseGaussian),
        ("tweedie", sm.families.Tweedie),
        ("negative_binomial", sm.families.NegativeBinomial),
        ("binomial", sm.families.Binomial),
    ],
)
def test_family_by_name_equals_instance(data, name, cls):
    X = data["X"]
    y = {"binomial": (data["labels"] == "yes").astype(float)}.get(name, data["counts"] + 0.5)
    # the log link for the gamma and inverse Gaussian, whose canonical links
    # leave the positive means on these data (test_canonical_link_out_of_range)
    link = "log" if name in ("gamma", "inverse_gaussian") else None
    a = PriorGLMRegressor(family=name, link=link, lam=2.0).fit(X, y)
    fam = cls(alpha=1.0) if name == "negative_binomial" else cls()
    if link:
        fam = cls(link=sm.families.links.Log())
    res = pr.PriorGLM(y, with_const(X), family=fam).fit(lam=2.0)
    np.testing.assert_allclose(a.coef_, res.params[1:], rtol=RTOL_SOLVE)
    assert a.__sklearn_tags__().target_tags.positive_only == (name not in ("gaussian", "binomial"))


def test_canonical_link_out_of_range(data):
    # the inverse Gaussian's 1/mu^2 link: the first IRLS step already gives
    # negative means on these data; a clear error, not a crash
    with pytest.raises(ValueError, match=r"first step.*InverseSquared.*Log"):
        PriorGLMRegressor(family="inverse_gaussian", lam=2.0).fit(data["X"], data["counts"] + 0.5)


def test_family_errors(data):
    with pytest.raises(ValueError, match="Poisson family needs a response >= 0"):
        PriorGLMRegressor(lam=1.0).fit(data["X"], data["y"] - 10)
    with pytest.raises(ValueError, match="unknown family"):
        PriorGLMRegressor(family="poison").fit(data["X"], data["counts"])


# ------------------------------------------------------------- classifier
def test_classifier_labels_and_errors(data):
    X = data["X"]
    y = np.where(data["labels"] == "yes", 7, -3)
    clf = PriorLogisticClassifier(lam=1.0).fit(X, y)
    assert clf.classes_.tolist() == [-3, 7]
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-15)
    # predict is the more probable class
    proba = clf.predict_proba(X)
    assert (clf.predict(X) == clf.classes_[proba.argmax(axis=1)]).all()
    with pytest.raises(ValueError, match="Only binary classification"):
        clf.fit(X, np.arange(len(X)) % 3)
    with pytest.raises(ValueError, match="1 class"):
        clf.fit(X, np.ones(len(X)))
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X, data["y"])


# ------------------------------------------------------- scikit-learn tools
def test_grid_search_equals_ridge_grid_search(data):
    X, y = data["X"], data["y"]
    grid = [0.1, 1.0, 10.0, 100.0]
    cv = KFold(5, shuffle=True, random_state=0)
    ours = GridSearchCV(
        make_pipeline(StandardScaler(), PriorRidgeRegressor()),
        {"priorridgeregressor__lam": grid},
        cv=cv,
    ).fit(X, y)
    ref = GridSearchCV(
        make_pipeline(StandardScaler(), Ridge(solver="cholesky")), {"ridge__alpha": grid}, cv=cv
    ).fit(X, y)
    assert ours.best_params_["priorridgeregressor__lam"] == ref.best_params_["ridge__alpha"]
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], rtol=RTOL_SOLVE
    )
    best = ours.best_estimator_[-1]
    assert best.lam_ == ref.best_params_["ridge__alpha"]


def test_cross_val_score_in_pipeline(data):
    X, labels = data["X"], data["labels"]
    cv = KFold(4, shuffle=True, random_state=1)
    ours = cross_val_score(
        make_pipeline(StandardScaler(), PriorLogisticClassifier(lam=2.0, tol=1e-12)),
        X,
        labels,
        cv=cv,
    )
    ref = cross_val_score(
        make_pipeline(
            StandardScaler(), LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-14)
        ),
        X,
        labels,
        cv=cv,
    )
    np.testing.assert_array_equal(ours, ref)  # accuracies: equal predictions
    scores = cross_val_score(PriorGLMRegressor(lam="gcv"), X, data["counts"], cv=cv)
    assert np.all(np.isfinite(scores))


def test_clone_params_and_pickle(data):
    frame, y = data["frame"], data["y"]
    prior_model = LinearRegression().fit(frame, y)
    est = PriorRidgeRegressor(lam="reml", prior=prior_model, cov_type="sandwich")
    twin = clone(est)
    assert twin.get_params()["lam"] == "reml"
    assert twin.get_params()["cov_type"] == "sandwich"
    # clone unfits an estimator parameter (scikit-learn's rule): a clear error
    # that names the remedy, FrozenEstimator, which clone keeps as it is
    with pytest.raises(NotFittedError, match="FrozenEstimator"):
        twin.fit(frame, y)
    twin.set_params(lam=2.0, prior=FrozenEstimator(prior_model))
    assert est.lam == "reml"
    fitted = clone(twin).fit(frame, y)
    direct = PriorRidgeRegressor(lam=2.0, prior=prior_model).fit(frame, y)
    np.testing.assert_array_equal(fitted.coef_, direct.coef_)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(data["frame"]), fitted.predict(data["frame"]))


def test_dataframe_names_and_results(data):
    frame, y = data["frame"], data["y"]
    est = PriorRidgeRegressor(lam=2.0).fit(frame, y)
    assert est.feature_names_in_.tolist() == ["a", "b", "c"]
    assert est.results_.params.index.tolist() == ["Intercept", "a", "b", "c"]
    text = est.results_.summary().as_text()
    assert re.search(r"^a\s", text, re.MULTILINE)
    assert re.search(r"^Intercept\s", text, re.MULTILINE)
    assert isinstance(est.results_._results, pr.PriorRidgeResults)  # as PriorRidge.fit gives
    est = PriorRidgeRegressor(lam=2.0).fit(data["X"], y)
    assert not hasattr(est, "feature_names_in_")
    assert est.results_.params.index.tolist() == ["Intercept", "x0", "x1", "x2"]
    with pytest.raises(ValueError, match="named 'Intercept'"):
        PriorRidgeRegressor(lam=2.0).fit(frame.rename(columns={"a": "Intercept"}), y)


# --------------------------------------------------------------- warnings
def test_lam_on_edge_is_an_attribute_not_a_warning(rng):
    # y orthogonal to [1, X]: every fit is b = 0, the RSS does not depend on
    # lam and edf falls with it, so GCV decreases to the upper edge
    X = rng.normal(size=(30, 2))
    D = with_const(X)
    noise = rng.normal(size=30)
    y = noise - D @ np.linalg.lstsq(D, noise, rcond=None)[0]
    model = pr.PriorRidge(y, D)
    with pytest.warns(pr.LamOnEdgeWarning):
        res = model.fit(lam="gcv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = PriorRidgeRegressor(lam="gcv").fit(X, y)
    assert est.lam_on_edge_
    assert est.lam_ == res.lam
    assert not PriorRidgeRegressor(lam=1.0).fit(X, y).lam_on_edge_


def test_warning_points_at_the_callers_line(data):
    est = PriorGLMRegressor(lam=1.0, max_iter=1)
    with pytest.warns(pr.ConvergenceWarning) as record:
        est.fit(data["X"], data["counts"])
    assert len(record) == 1
    assert record[0].filename == __file__


def test_gcv_needs_two_samples():
    with pytest.raises(ValueError, match="n_samples = 1"):
        PriorRidgeRegressor(lam="gcv").fit([[1.0, 2.0]], [3.0])


# ----------------------------------------------------------------- import
def test_import_priorreg_does_not_import_sklearn():
    code = "import sys, priorreg; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    code = "import sys, priorreg.sklearn; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_base_is_shared():
    for cls in (PriorRidgeRegressor, PriorGLMRegressor, PriorLogisticClassifier):
        assert issubclass(cls, PriorEstimatorBase)


def test_prior_file_and_glm_results_as_prior(data, tmp_path):
    frame, y, counts = data["frame"], data["y"], data["counts"]
    old = PriorRidgeRegressor(lam=0.0).fit(frame[:40], y[:40])
    path = tmp_path / "prior.json"
    old.results_.save_prior(path)
    from_file = PriorRidgeRegressor(lam=1.0, prior=pr.load_prior(path), penalty="information")
    from_est = PriorRidgeRegressor(lam=1.0, prior=old, penalty="information")
    a = from_file.fit(frame[40:], y[40:])
    b = from_est.fit(frame[40:], y[40:])
    # JSON round-trips floats exactly: the same numbers in, the same out
    np.testing.assert_array_equal(a.coef_, b.coef_)
    # a statsmodels GLM fit as the prior of the GLM estimator (const -> Intercept)
    # (constant last, so a match by position would be wrong)
    design = sm.add_constant(frame, prepend=False)
    sm_fit = sm.GLM(counts, design, family=sm.families.Poisson()).fit(tol=1e-12)
    est = PriorGLMRegressor(lam=2.0, prior=sm_fit, tol=1e-12).fit(frame, counts)
    # the prior is the maximum-likelihood fit on the same data: the penalized
    # deviance's gradient is zero there, so the fit stays at it when (and
    # only when) the prior is aligned by name
    np.testing.assert_allclose(est.coef_, sm_fit.params[["a", "b", "c"]], atol=ATOL_NEWTON)
    np.testing.assert_allclose(est.intercept_, sm_fit.params["const"], atol=ATOL_NEWTON)


def test_cov_type_reaches_the_results(data):
    X, y = data["X"], data["y"]
    a = PriorRidgeRegressor(lam=2.0, cov_type="sandwich").fit(X, y)
    res = pr.PriorRidge(y, with_const(X)).fit(lam=2.0, cov_type="sandwich")
    np.testing.assert_allclose(a.results_.bse, res.bse, rtol=RTOL_SOLVE)
    with pytest.raises(ValueError, match="cov_type must be"):
        PriorRidgeRegressor(lam=2.0, cov_type="robust").fit(X, y)


def test_classifier_convergence_warning_points_at_caller(data):
    clf = PriorLogisticClassifier(lam=1.0, max_iter=1)
    with pytest.warns(pr.ConvergenceWarning, match="did not converge") as record:
        clf.fit(data["X"], data["labels"])
    assert [w.filename for w in record] == [__file__]


def test_model_construction_warning_points_at_caller(data):
    # statsmodels warns when a negative binomial family is built without
    # alpha; built inside fit from the class, the warning still points here
    est = PriorGLMRegressor(family=sm.families.NegativeBinomial, lam=1.0)
    with pytest.warns(sm.tools.sm_exceptions.ValueWarning, match="alpha") as record:
        est.fit(data["X"], data["counts"])
    assert [w.filename for w in record] == [__file__]


def test_classifier_prior_from_fitted_classifiers(data):
    frame, labels = data["frame"], data["labels"]
    lr = LogisticRegression(C=1.0).fit(frame[["c", "a", "b"]], labels)
    by_model = PriorLogisticClassifier(lam=3.0, prior=lr).fit(frame, labels)
    c, a, b = lr.coef_[0]
    prior = {"a": a, "b": b, "c": c, "Intercept": lr.intercept_[0]}
    by_dict = PriorLogisticClassifier(lam=3.0, prior=prior).fit(frame, labels)
    # the same prior, aligned by name: the same computation
    np.testing.assert_array_equal(by_model.coef_, by_dict.coef_)
    # the intercept's prior (by_model's vs 0) only moves IRLS's start: at
    # tol=1e-12 both stop at the rounding floor (see ATOL_NEWTON)
    chained = PriorLogisticClassifier(lam=3.0, prior=by_model, tol=1e-12).fit(frame, labels)
    by_array = PriorLogisticClassifier(lam=3.0, prior=by_model.coef_.ravel(), tol=1e-12)
    by_array.fit(frame, labels)
    np.testing.assert_allclose(chained.coef_, by_array.coef_, atol=ATOL_NEWTON)


@pytest.mark.parametrize("lam", [2.0, "gcv", "reml"])
def test_gaussian_glm_is_ridge_with_frequency_weights(data, lam):
    # the documented way to frequency semantics under a criterion for the
    # linear model: the Gaussian GLM with freq_weights equals PriorRidge on
    # the repeated rows
    X, y = data["X"], data["y"]
    counts = np.random.default_rng(5).integers(0, 4, len(X))
    glm = PriorGLMRegressor(family="gaussian", lam=lam, tol=1e-12)
    glm.fit(X, y, sample_weight=counts)
    ridge = PriorRidgeRegressor(lam=lam).fit(X.repeat(counts, axis=0), y.repeat(counts))
    # the GLM search locates log(lam) to 1e-3 (priorreg.glm._XATOL): 10x margin
    assert glm.lam_ == pytest.approx(ridge.lam_, rel=1e-2)
    if not isinstance(lam, str):
        np.testing.assert_allclose(glm.coef_, ridge.coef_, atol=ATOL_NEWTON)


def test_separation_kept_at_positive_lam_warned_at_zero(rng):
    X = rng.normal(size=(40, 2))
    y = np.where(X[:, 0] > 0, "a", "b")  # separated by x0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = PriorLogisticClassifier(lam=1.0).fit(X, y)
    assert any("separat" in m for m in clf.fit_warnings_)
    # the model itself warns at the same lam: the estimator only keeps it
    D = with_const(X)
    with pytest.warns(pr.SeparationWarning):
        res = pr.PriorGLM((y == "b").astype(float), D, family=sm.families.Binomial()).fit(lam=1.0)
    np.testing.assert_allclose(clf.coef_.ravel(), res.params[1:], rtol=RTOL_SOLVE)
    with pytest.warns(pr.SeparationWarning):
        PriorLogisticClassifier(lam=0.0, max_iter=30).fit(X, y)
