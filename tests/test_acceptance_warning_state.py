"""Fits change no process-wide warning state, so a fit in a thread hides no one's warnings.

Trial fits inside a fit (the start of a bounded GLM search, the steps of a
several-penalty search) drop their own warnings. ``warnings.catch_warnings``
with ``simplefilter("ignore")`` would do it by swapping the process-wide
filters: while one thread was inside such a block, a warning issued by any
other thread (another estimator of a grid search on joblib's threading
backend, or the user's own code) was silently lost. Building a Dask model
(its design and statsmodels' data object on template rows) did the same. They now drop them per
thread (:func:`priorreg.exceptions.quietly`: ``kept_warnings`` and
``np.errstate``).

The overlap is forced, not left to chance: the function called inside the
quiet block waits until the main thread has issued its warning, and the main
thread issues it only once the other thread is inside that block.
"""

from __future__ import annotations

import importlib
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import priorreg as pr
from priorreg import glm, multi_fit

TIMEOUT = 120.0  # seconds; each fit below takes well under a second alone


class _MainThreadWarning(UserWarning):
    """The warning the main thread issues while the other thread is inside its fit."""


def _main_warning_survives(monkeypatch, owner: Any, name: str, fit: Callable[[], Any]) -> Any:
    """Run ``fit`` in a thread held inside ``owner.name``; the main thread's warning is seen."""
    with pytest.warns(_MainThreadWarning, match="the main thread's own warning"):
        return _overlapped(monkeypatch, owner, name, fit)


def _overlapped(monkeypatch, owner: Any, name: str, fit: Callable[[], Any]) -> Any:
    """Run ``fit`` in a thread held inside ``owner.name``; warn meanwhile in this thread."""
    original = getattr(owner, name)
    inside, released = threading.Event(), threading.Event()
    worker: list[threading.Thread] = []

    def staged(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is worker[0] and not inside.is_set():
            inside.set()
            assert released.wait(TIMEOUT)  # the main thread has warned
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, staged)

    def run() -> Any:
        worker.append(threading.current_thread())
        return fit()

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(run)
        assert inside.wait(TIMEOUT), f"{name} was not called by the fit"
        warnings.warn("the main thread's own warning", _MainThreadWarning, stacklevel=1)
        released.set()
        result = future.result(timeout=TIMEOUT)
    return result


def _poisson(n: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    y = rng.poisson(np.exp(X @ [0.3, 0.2, -0.1, 0.3])).astype(float)
    return y, X


def _two_penalties():
    # lams of both penalties inside the range searched (no edge warning)
    rng = np.random.default_rng(1)
    n = 200
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 4))])
    y = rng.poisson(np.exp(X @ [0.3, 0.4, -0.3, 0.3, -0.2])).astype(float)
    P1 = np.diag([0.0, 1.0, 1.0, 0.0, 0.0])
    P2 = np.diag([0.0, 0.0, 0.0, 1.0, 1.0])
    priors = [np.array([0, 0.2, -0.2, 0, 0]), np.array([0.0, 0.0, 0.0, 0.1, 0.1])]
    return pr.PriorGLM(y, X, family=sm.families.Poisson(), penalty=[P1, P2], prior=priors)


def test_bounded_glm_start_keeps_other_threads_warnings(monkeypatch):
    y, X = _poisson()

    def make() -> Any:
        return pr.PriorGLM(y, X, family=sm.families.Poisson(), bounds="nonnegative")

    alone = make().fit(lam="gcv")
    res = _main_warning_survives(
        monkeypatch, glm.PriorGLM, "_performance_iteration", lambda: make().fit(lam="gcv")
    )
    # oracle: the same fit alone. The threads share no state, so the
    # arithmetic is the same; should a BLAS round differently between calls,
    # the search still stops within its step tolerance (1e-3 in log lam,
    # glm_search; it moves estimates of size ~1 by ~1e-3): 1e-2 is a 10x margin
    np.testing.assert_allclose(res.params, alone.params, rtol=1e-2, atol=1e-2)
    assert np.all(res.params >= 0)


@pytest.mark.parametrize(
    ("name", "criterion"),
    [("newton_rho", "gcv"), ("outer_search", "reml"), ("select_loocv", "loocv")],
)
def test_several_penalty_search_keeps_other_threads_warnings(monkeypatch, name, criterion):
    alone = _two_penalties().fit(lam=criterion)

    res = _main_warning_survives(
        monkeypatch, multi_fit, name, lambda: _two_penalties().fit(lam=criterion)
    )
    # oracle: the same fit alone (bound as above, with Newton's step tolerance
    # of several penalties, 1e-4 in log lam, multi_select._STEP_TOL)
    np.testing.assert_allclose(res.lam, alone.lam, rtol=1e-3)
    np.testing.assert_allclose(res.params, alone.params, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(
    ("family", "link_name"),
    [
        (sm.families.Gamma, "Log"),
        (sm.families.Binomial, "Probit"),
        (sm.families.Poisson, "Log"),
    ],
)
def test_null_deviance_with_offset_equals_statsmodels(family, link_name):
    rng = np.random.default_rng(4)
    n = 150
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    offset = 0.3 * rng.normal(size=n)
    fam = family(link=getattr(sm.families.links, link_name)())
    eta = 0.5 + X[:, 1:] @ [0.3, -0.2] + offset
    if family is sm.families.Gamma:
        y = rng.gamma(4.0, np.exp(eta) / 4.0)
    elif family is sm.families.Binomial:
        y = (rng.uniform(size=n) < fam.link.inverse(eta)).astype(float)
    else:
        y = rng.poisson(np.exp(eta)).astype(float)
    w = rng.uniform(0.5, 2.0, size=n)
    res = pr.PriorGLM(y, X, family=fam, offset=offset, var_weights=w).fit(lam=0.0, tol=1e-13)
    # oracle: statsmodels at lam = 0, whose null deviance comes from its own
    # intercept-only IRLS fit with the same offset (and llnull at its scale)
    ref = sm.GLM(y, X, family=fam, offset=offset, var_weights=w).fit(tol=1e-13)
    # the null deviance is stationary in the intercept (both converged to
    # ~1e-8 relative at worst: error ~1e-16); llnull moves with the scale,
    # which both fits estimate from estimates equal to ~sqrt(1e-13) ~ 3e-7:
    # rel 1e-10 and 1e-5 are 10x margins
    assert res.null_deviance == pytest.approx(ref.null_deviance, rel=1e-10)
    assert res.llnull == pytest.approx(ref.llnull, rel=1e-5)


def test_null_deviance_keeps_other_threads_warnings(monkeypatch):
    y, X = _poisson(seed=5)
    offset = np.linspace(-0.5, 0.5, y.size)
    fam = sm.families.Poisson()
    res = pr.PriorGLM(y, X, family=fam, offset=offset).fit(lam=1.0)
    # the null model's means are computed lazily, in the thread that asks
    null_deviance = _main_warning_survives(
        monkeypatch, res.family, "fitted", lambda: res.null_deviance
    )
    ref = sm.GLM(y, np.ones((y.size, 1)), family=fam, offset=offset).fit(tol=1e-13)
    # oracle: statsmodels' intercept-only fit; stationary deviance (see above)
    assert null_deviance == pytest.approx(ref.deviance, rel=1e-10)


@pytest.mark.parametrize(
    ("owner", "name"),
    [("priorreg.formula", "build_design"), ("statsmodels.base.data", "handle_data")],
)
def test_dask_model_building_keeps_other_threads_warnings(monkeypatch, owner, name):
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"x1": rng.normal(size=120), "x2": rng.normal(size=120)})
    frame["y"] = 1.0 + 0.5 * frame["x1"] + rng.normal(size=120)
    ddf = dd.from_pandas(frame, npartitions=2, sort=False)
    model = _main_warning_survives(
        monkeypatch,
        importlib.import_module(owner),
        name,
        lambda: pr.PriorRidge.from_formula("y ~ x1 + x2", ddf),
    )
    # oracle: the same formula on the pandas frame (patsy in memory)
    assert model.exog_names == ["Intercept", "x1", "x2"]
    res, ref = model.fit(lam=1.0), pr.PriorRidge.from_formula("y ~ x1 + x2", frame).fit(lam=1.0)
    # two summations of 120 rows in different orders: eps * cond * n ~ 1e-13; 10x margin
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-11)


def test_bounded_estimator_in_a_thread_keeps_other_threads_warnings(monkeypatch):
    from priorreg.sklearn import PriorGLMRegressor

    y, X = _poisson(seed=7)
    X = X[:, 1:]  # the estimator adds the intercept

    def fit() -> Any:
        return PriorGLMRegressor(family="poisson", bounds="nonnegative", lam="gcv").fit(X, y)

    alone = fit()
    est = _main_warning_survives(monkeypatch, glm.PriorGLM, "_performance_iteration", fit)
    assert est.fit_warnings_ == alone.fit_warnings_
    # oracle: the same fit alone (bound as in the first test)
    np.testing.assert_allclose(est.coef_, alone.coef_, rtol=1e-2, atol=1e-2)
    assert np.all(est.coef_ >= 0)
