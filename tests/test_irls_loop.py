"""The one penalized IRLS loop (priorreg.irls.irls_loop) on its data protocol.

In-memory arrays (the path factor and the Gram route) and Dask partitions
run the same loop: the same start, step halving and stopping rule. Each
backend's step is checked against the other's from the same point (the same
working problem solved two ways), each fit against an independent oracle
(statsmodels' score and Hessian: the Newton step to the penalized optimum).
"""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from bounds import MARGIN, solve_rtol

import priorreg as pr
from priorreg.irls import ArrayData, irls_loop
from priorreg.outofcore import passes as _passes
from priorreg.outofcore.glm import DaskData, _FitState


def _glm_radius(family, model, lam, *params):
    """10x the summed Newton steps (statsmodels' score/Hessian) of estimates of one optimum."""
    from bounds import glm_newton_step

    kw = {"lam": lam, "L": model.penalty_matrix, "b0": model.prior_values}
    total = 0.0
    for b in params:
        step, info = glm_newton_step(family, model.exog, model.endog, np.asarray(b), **kw)
        total += float(np.linalg.norm(step))
    return MARGIN * total, info


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(13)
    n = 3000
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n) + 2.0})
    df["y"] = rng.poisson(np.exp(0.2 + 0.5 * df["x1"] - 0.3 * df["x2"])).astype(float)
    X = df[["x1", "x2"]].assign(const=1.0)
    return df, X


def _models(frames, **kw):
    df, X = frames
    dX, dy = (dd.from_pandas(v, npartitions=4, sort=False) for v in (X, df["y"]))
    fam = sm.families.Poisson()
    return pr.PriorGLM(df["y"], X, family=fam, **kw), pr.PriorGLM(dy, dX, family=fam, **kw)


class _Recorder:
    """Accepted points of a loop, in order (``report`` gets the iteration only)."""

    def __init__(self):
        self.deviances: list[float] = []

    def __call__(self, iteration, lam, deviance, change):
        assert iteration == len(self.deviances) + 1
        self.deviances.append(deviance)


@pytest.mark.parametrize("prior", [None, [0.1, -0.1, 0.0]], ids=["no-prior", "prior"])
def test_dask_loop_is_the_memory_loop_iteration_for_iteration(frames, prior):
    memory, lazy = _models(frames, prior=prior)
    lam = 3.0
    with dask.config.set(scheduler="sync"):
        lazy._state = _FitState()  # a fit's own state, as DaskPriorGLM.fit makes it
        data_d, data_m = DaskData(lazy), ArrayData(memory.problem)
        rec_d, rec_m = _Recorder(), _Recorder()
        r_d = irls_loop(data_d, lam, tol=1e-10, report=rec_d)
        r_m = irls_loop(data_m, lam, tol=1e-10, report=rec_m)
        assert r_d is not None
        assert r_m is not None
        # the same iteration: as many steps, each accepted point one pass
        assert r_d.converged
        assert r_m.converged
        assert r_d.iterations == r_m.iterations == len(rec_d.deviances)
        assert lazy._state.passes == r_d.iterations + 1  # + the start; no halving here
        # step for step: from each in-memory point, the Dask working problem
        # (TSQR of the partitions) gives the in-memory step (path factor) to
        # the rounding of two backward-stable solves of A = X'WX + lam L
        point = data_m.evaluate(None if prior is None else np.asarray(prior, float))
        for _ in range(r_m.iterations):
            step_m = data_m.system(point).solve(lam, point.params)
            at = data_d.evaluate(point.params)
            step_d = data_d.system(at).solve(lam, point.params)
            W = memory.problem.prior_weights * np.exp(point.eta)  # Poisson log: W = mu
            A = memory.exog.T @ (W[:, None] * memory.exog) + lam * memory.penalty_matrix
            err = np.linalg.norm(step_d - step_m)
            assert err <= solve_rtol(A) * np.linalg.norm(step_m)
            point = data_m.evaluate(step_m)
        # both end at the penalized MLE (statsmodels' Newton step, x 10)
        radius, _ = _glm_radius(sm.families.Poisson(), memory, lam, r_d.params, r_m.params)
        assert np.linalg.norm(r_d.params - r_m.params) <= radius


def test_dask_fit_leaves_the_model_alone_and_counts_its_passes(frames):
    _, lazy = _models(frames)
    calls: list[str] = []
    original = _passes._compute

    def counting(obj, progress, label):
        calls.append(label)
        return original(obj, progress, label)

    with dask.config.set(scheduler="sync"), pytest.MonkeyPatch.context() as mp:
        mp.setattr(_passes, "_compute", counting)
        before = dict(vars(lazy))
        res = lazy.fit(lam=2.0)
        # one pass per IRLS iteration (the deviance of each estimate and the
        # next working factor in one pass), + the start, + the separation check
        # (once per model)
        irls = [c for c in calls if c.startswith("IRLS pass")]
        assert len(irls) == res.iterations + 1 == res.model.passes
        assert calls == ["separation check", *irls]
        # the model the user built is untouched: same attributes, same objects
        # (the separation check is the model's documented once-per-model cache)
        after = dict(vars(lazy))
        assert after.pop("_separation", None) is res.model._separation
        assert after.keys() == before.keys()
        assert all(after[k] is before[k] for k in before)
        assert lazy.passes == 0
        assert lazy.problem is None  # no in-memory arrays, no exception as control flow
        calls.clear()
        again = lazy.fit(lam=2.0)
        assert calls == irls  # the separation check is not repeated
        np.testing.assert_array_equal(again.params, res.params)


def test_dask_fit_honours_maxiter_as_in_memory(frames):
    memory, lazy = _models(frames)
    with dask.config.set(scheduler="sync"):
        with pytest.warns(pr.ConvergenceWarning, match="did not converge in 2"):
            res = lazy.fit(lam=1.0, maxiter=2)
        with pytest.warns(pr.ConvergenceWarning, match="did not converge in 2"):
            ref = memory.fit(lam=1.0, maxiter=2)
    assert (res.converged, res.iterations) == (ref.converged, ref.iterations) == (False, 2)
    assert res.model.passes == 3


def test_one_loop_for_the_gram_route_and_the_path_route(frames):
    """``gram_irls`` and ``penalized_irls`` are the one loop on two working solves."""
    from priorreg.gram_irls import GramData

    memory, _ = _models(frames, prior=[0.1, -0.1, 0.0])
    lam = 5.0
    data_g, data_p = GramData(memory.problem), ArrayData(memory.problem)
    r_g = irls_loop(data_g, lam, tol=1e-12)
    r_p = irls_loop(data_p, lam, tol=1e-12)
    assert r_g is not None
    assert r_p is not None
    assert r_g.iterations == r_p.iterations
    radius, _ = _glm_radius(sm.families.Poisson(), memory, lam, r_g.params, r_p.params)
    assert np.linalg.norm(r_g.params - r_p.params) <= radius
