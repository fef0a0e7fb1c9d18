"""scikit-learn estimators fitted in parallel threads keep their own warnings.

A grid search on joblib's threading backend fits estimators concurrently.
``warnings.catch_warnings`` swaps process-wide state (the filters and
``showwarning``), so two overlapping fits would exchange or lose each
other's warnings. The estimators collect the warnings they keep per thread.

The overlap is forced, not left to chance: the function that issues the
warning inside the fit waits until the other thread is inside its own fit,
and the second thread issues its warning only after the first fit has
returned (the order in which process-wide state is restored wrongly).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import priorreg as pr
from priorreg import results as results_module
from priorreg.sklearn import PriorRidgeRegressor

TIMEOUT = 60.0  # seconds; a fit of 20 rows takes milliseconds


def test_overlapping_fits_keep_their_own_warnings(monkeypatch):
    original = results_module._warn_degenerate_scale
    arrived: list[threading.Event] = [threading.Event(), threading.Event()]
    first_done = threading.Event()
    order: list[int] = []
    lock = threading.Lock()

    def staged(*args, **kwargs):
        with lock:
            me = len(order)
            order.append(me)
        arrived[me].set()
        if me == 0:
            assert arrived[1].wait(TIMEOUT)  # the other fit is running too
        else:
            assert first_done.wait(TIMEOUT)  # the first fit has returned
        return original(*args, **kwargs)

    monkeypatch.setattr(results_module, "_warn_degenerate_scale", staged)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    y = np.full(20, 3.0)  # a constant response: an exact fit, DegenerateFitWarning

    def fit() -> PriorRidgeRegressor:
        return PriorRidgeRegressor(lam=1.0).fit(X, y)

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(fit)
        assert arrived[0].wait(TIMEOUT)
        second = pool.submit(fit)
        a = first.result(timeout=TIMEOUT)
        first_done.set()
        b = second.result(timeout=TIMEOUT)
    for est in (a, b):
        assert len(est.fit_warnings_) == 1, est.fit_warnings_
        assert "the fit is exact" in est.fit_warnings_[0]
        # oracle for the estimates: the mean of a constant response, slopes 0
        np.testing.assert_allclose(est.intercept_, 3.0, rtol=1e-12)
        np.testing.assert_allclose(est.coef_, 0.0, atol=1e-12)


def test_kept_warnings_leave_other_threads_alone():
    from priorreg.exceptions import DegenerateFitWarning, kept_warnings, warn

    inside = threading.Event()
    release = threading.Event()
    kept_in_thread: list = []

    def keep() -> None:
        with kept_warnings((DegenerateFitWarning,)) as kept:
            inside.set()
            assert release.wait(TIMEOUT)
            warn("kept in the thread", DegenerateFitWarning)
        kept_in_thread.extend(kept)

    thread = threading.Thread(target=keep)
    thread.start()
    assert inside.wait(TIMEOUT)
    # while the other thread keeps its warnings, this thread's are issued
    with pytest.warns(pr.DegenerateFitWarning, match="issued here") as record:
        warn("issued here", DegenerateFitWarning)
    release.set()
    thread.join(TIMEOUT)
    assert [str(w.message) for w in record] == ["issued here"]
    assert kept_in_thread == [("kept in the thread", DegenerateFitWarning)]


def test_family_class_warning_points_at_the_model_call():
    import statsmodels.api as sm

    rng = np.random.default_rng(2)
    X = np.column_stack([np.ones(30), rng.normal(size=30)])
    y = rng.poisson(2.0, 30).astype(float)
    with pytest.warns(sm.tools.sm_exceptions.ValueWarning, match="alpha") as record:
        model = pr.PriorGLM(y, X, family=sm.families.NegativeBinomial)
    assert [w.filename for w in record] == [__file__]
    # statsmodels' default, as sm.families.NegativeBinomial() would give
    assert model.family.alpha == 1.0
