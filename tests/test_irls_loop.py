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
from bounds import EPS, MARGIN, solve_rtol

import priorreg as pr
from priorreg.irls import ArrayData, irls_loop
from priorreg.outofcore import coding as _coding
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
        mp.setattr(_coding, "_compute", counting)  # bound there at import
        before = dict(vars(lazy))
        res = lazy.fit(lam=2.0)
        # one pass per IRLS iteration (the deviance of each estimate and the
        # next working factor in one pass), + the start; the separation check
        # (once per model) rides on the start's pass
        irls = [c for c in calls if c.startswith("IRLS pass")]
        assert len(irls) == res.iterations + 1 == res.model.passes
        assert calls == irls
        assert res.model._separation is None  # Poisson zeros, but not separated
        first = res.model._state.points[b"start"]  # b0 = 0: the family's starting means
        assert "sep_nonzero" in first.sums
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


# ------------------------------------------------- fixed lam on the Gram route
def _poisson(n, k, seed=3):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1)) + 0.5])
    beta = np.concatenate([[0.3], rng.normal(scale=0.1, size=k - 1)])
    y = rng.poisson(np.exp(X @ beta)).astype(float)
    return y, X, beta + rng.normal(scale=0.05, size=k)


def test_fixed_lam_fit_needs_no_path_factorization_for_its_estimate_and_bse(monkeypatch):
    import priorreg.irls as irls_module

    y, X, b0 = _poisson(2000, 6)
    calls = []
    original = irls_module.factorize

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(irls_module, "factorize", counting)
    lam = 40.0
    res = pr.PriorGLM(y, X, family=sm.families.Poisson(), prior=b0).fit(lam=lam)
    bse = np.asarray(res.bse)
    assert calls == []  # IRLS steps, covariance and edf from X'WX alone
    # oracles: statsmodels' Newton step to the penalized optimum (x 10), and
    # the dense inverse of A = X'WX + lam L at the estimate (W = mu, Poisson log)
    model = res.model
    radius, _ = _glm_radius(sm.families.Poisson(), model, lam, res.params)
    assert radius < 1e-6 * np.linalg.norm(res.params)  # a converged fit: the bound bites
    mu = np.exp(X @ np.asarray(res.params))
    A = X.T @ (mu[:, None] * X) + lam * model.penalty_matrix
    cov = np.linalg.inv(A)
    # inverting A: solve_rtol(A) relative; W moved by max |x_i' db| <= |x_i| radius
    drift = np.max(np.linalg.norm(X, axis=1)) * radius
    np.testing.assert_allclose(bse, np.sqrt(np.diag(cov)), rtol=solve_rtol(A) + MARGIN * drift)
    edf = np.trace(cov @ (A - lam * model.penalty_matrix))
    assert res.edf == pytest.approx(edf, abs=X.shape[1] * (solve_rtol(A) + MARGIN * drift))
    # the path factorization comes once, when something needs it (leverages)
    h = np.asarray(res.hat_diag)
    assert calls == [1]
    Xw = X * np.sqrt(mu)[:, None]
    dense_h = np.einsum("ij,ij->i", Xw @ cov, Xw)
    np.testing.assert_allclose(h, dense_h, rtol=0, atol=solve_rtol(A) + MARGIN * drift)
    res.loocv  # noqa: B018 - the same factor serves LOOCV
    assert calls == [1]


def test_fixed_lam_fit_falls_back_to_the_path_route_when_gram_is_not_accurate():
    from priorreg.gram_irls import fixed_lam_irls

    rng = np.random.default_rng(5)
    n = 400
    x = rng.normal(size=n)
    # two unpenalized columns 1e-5 apart: cond(X'WX + lam L) ~ 1e11 after
    # centring and scaling, whatever lam
    X = np.column_stack([np.ones(n), x, x + 1e-5 * rng.normal(size=n), rng.normal(size=n)])
    y = rng.poisson(np.exp(0.2 + 0.3 * x)).astype(float)
    model = pr.PriorGLM(
        y, X, family=sm.families.Poisson(), prior=[0.2, 0.1, 0.2, 0.0], penalty=[0, 0, 0, 1.0]
    )
    assert fixed_lam_irls(model.problem, 1.0) is None  # declined: rcond below 1e-6
    res = model.fit(lam=1.0)
    radius, info = _glm_radius(sm.families.Poisson(), model, 1.0, res.params)
    # the path route's QR-class estimate: at the optimum to its Newton step
    # (statsmodels' score and Hessian, whose own solve loses cond(info) eps)
    assert radius <= MARGIN * 4 * EPS * np.linalg.cond(info) * np.linalg.norm(res.params)


def test_fixed_lam_fit_makes_no_copy_of_the_design():
    import tracemalloc

    n, k = 50_000, 50
    y, X, b0 = _poisson(n, k)
    warm = pr.PriorGLM(y[:500], X[:500], family=sm.families.Poisson(), prior=b0)
    assert np.all(np.isfinite(warm.fit(lam=1.0).bse))  # imports and caches warmed up
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    res = pr.PriorGLM(y, X, family=sm.families.Poisson(), prior=b0).fit(lam=n * 1e-3)
    res.bse  # noqa: B018 - the covariance is part of the measured fit
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # n-vectors (means, weights, working response, residuals, ...: at most 24)
    # plus at most 4 row blocks of 4096 x (k + 1) and O(k^2): well below one
    # n x k copy (the bound is 0.57 X here)
    bound = 24 * 8 * n + 4 * 4096 * (k + 1) * 8 + 100 * k * k * 8
    assert bound < X.nbytes
    assert peak - base <= bound


def test_gram_route_centres_a_design_far_from_the_origin():
    """Columns near 1e4 (cond(X'WX) ~ 1e16 uncentred) stay on the Gram route, centred."""
    from priorreg.gram_irls import fixed_lam_irls, gram_point
    from priorreg.irls import penalized_irls

    rng = np.random.default_rng(11)
    n = 400
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x + 1e4, rng.normal(size=n)])
    y = rng.poisson(np.exp(0.2 + 0.3 * x)).astype(float)
    b0 = np.array([0.2 - 3e3, 0.3, 0.0])
    model = pr.PriorGLM(y, X, family=sm.families.Poisson(), prior=b0)
    problem = model.problem
    assert problem.centre == 0
    # the Gram matrix and score, centred and mapped back, against the dense
    # products: each a sum of n terms, rounding <= n eps sum |terms| (Higham
    # 3.1), the centring and its inverse (exact algebra) adding as much again
    eta, mu = problem.mean(b0)
    point = gram_point(problem, b0, eta, mu, problem.deviance(mu))
    H = X.T @ (mu[:, None] * X)
    score = X.T @ (y - mu)
    absX = np.abs(X)
    bound = 2 * MARGIN * n * EPS
    assert np.all(np.abs(point.gram - H) <= bound * (absX.T @ (mu[:, None] * absX)))
    assert np.all(np.abs(point.score - score) <= bound * (absX.T @ np.abs(y - mu)))
    # the fit: Gram steps in the centred coordinates, against the path route
    # (QR-class, centred too): one optimum (statsmodels' Newton step, x 10)
    fixed = fixed_lam_irls(problem, 2.0, tol=1e-12)
    assert fixed is not None
    ref = penalized_irls(problem, 2.0, tol=1e-12)
    assert fixed.result.iterations == ref.iterations
    radius, info = _glm_radius(sm.families.Poisson(), model, 2.0, fixed.result.params, ref.params)
    radius += MARGIN * 3 * EPS * np.linalg.cond(info) * np.linalg.norm(ref.params)
    assert np.linalg.norm(fixed.result.params - ref.params) <= radius


def test_fixed_lam_iteration_reads_the_design_once(monkeypatch):
    """Means, deviance and the next X'WX of an estimate come from one blockwise pass."""
    import priorreg.gram_irls as gram_irls_module
    from priorreg.irls import IRLSProblem

    y, X, b0 = _poisson(5000, 8)
    passes, products = [], []
    centred, mean = gram_irls_module.centred_gram, IRLSProblem.mean

    def counting_gram(*args, **kwargs):
        passes.append(1)
        return centred(*args, **kwargs)

    def counting_mean(self, params):
        products.append(1)
        return mean(self, params)

    monkeypatch.setattr(gram_irls_module, "centred_gram", counting_gram)
    monkeypatch.setattr(IRLSProblem, "mean", counting_mean)
    res = pr.PriorGLM(y, X, family=sm.families.Poisson(), prior=b0).fit(lam=30.0)
    assert res.converged
    # the start and each accepted estimate (no halving from a prior this close)
    assert len(passes) == res.iterations + 1
    assert products == []  # no separate X b pass
