"""Selection criteria against brute force; the selected lam is optimal."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import random_problem

import priorreg as pr


def brute_force_loocv(X, y, b0, w, offset, L, lam):
    n = len(y)
    errs = []
    for i in range(n):
        keep = np.arange(n) != i
        Xk, wk = X[keep], w[keep]
        A = Xk.T @ (wk[:, None] * Xk) + lam * L
        b = np.linalg.solve(A, Xk.T @ (wk * (y[keep] - offset[keep])) + lam * L @ b0)
        errs.append(w[i] * (y[i] - offset[i] - X[i] @ b) ** 2)
    return np.mean(errs)


@pytest.mark.parametrize("kind", ["default", "dense", "difference"])
def test_loocv_equals_brute_force_refits(rng, kind):
    X, y, b0, w, offset, L = random_problem(rng, 30, 5, kind=kind)
    model = pr.PriorRidge(y, X, prior=b0, penalty=L, weights=w, offset=offset)
    lams = np.array([0.01, 0.7, 30.0])
    path = model.path(lams, criterion="loocv")
    for lam, value in zip(lams, path["loocv"], strict=True):
        assert value == pytest.approx(brute_force_loocv(X, y, b0, w, offset, L, lam), rel=1e-9)
    assert model.fit(lam=0.7).loocv == pytest.approx(path["loocv"][1], rel=1e-12)


def test_loocv_equals_sklearn_ridgecv_leave_one_out(rng):
    from sklearn.linear_model import RidgeCV

    X, y, _, _, _, _ = random_problem(rng, 40, 6, weights=False)
    alphas = np.logspace(-2, 3, 6)
    ref = RidgeCV(alphas=alphas, fit_intercept=True, store_cv_results=True).fit(X[:, 1:], y)
    ours = pr.PriorRidge(y, X).path(alphas, criterion="loocv")
    np.testing.assert_allclose(ours["loocv"], ref.cv_results_.mean(axis=0), rtol=1e-8)


def test_gcv_formula_and_edf_path(rng):
    X, y, b0, w, offset, L = random_problem(rng, 30, 5, kind="dense")
    model = pr.PriorRidge(y, X, prior=b0, penalty=L, weights=w, offset=offset)
    for lam in [0.1, 10.0]:
        res = model.fit(lam=lam)
        W = np.diag(w)
        H = X @ np.linalg.solve(X.T @ W @ X + lam * L, X.T @ W)
        rss = np.sum(w * res.resid**2)
        assert res.gcv == pytest.approx(30 * rss / (30 - np.trace(H)) ** 2, rel=1e-10)


@pytest.mark.parametrize("criterion", ["gcv", "loocv", "reml"])
def test_selected_lam_is_optimal_on_fine_grid(rng, criterion):
    X, _, b0, w, offset, L = random_problem(rng, 60, 6)
    y = X @ (b0 + 0.3 * rng.normal(size=6)) + offset + rng.normal(size=60)
    model = pr.PriorRidge(y, X, prior=b0, penalty=L, weights=w, offset=offset)
    res = model.fit(lam=criterion)
    assert res.lam_method == criterion
    assert list(res.lam_path.columns[:2]) == ["lam", "edf"]
    fine = np.exp(np.linspace(np.log(res.lam) - 2, np.log(res.lam) + 2, 401))
    values = model.path(fine, criterion=criterion)[criterion]
    at_opt = model.path([res.lam, res.lam * 1.0000001], criterion=criterion)[criterion][0]
    # the bounded search converges in log(lam) to 1e-6; the criterion is flat there
    assert at_opt <= values.min() + 1e-9 * abs(values.min())


def test_edge_of_grid_warns_and_lam_path_reported(rng):
    X, _, b0, _, _, _ = random_problem(rng, 40, 4, weights=False)
    y = X @ b0 + rng.normal(size=40)  # the prior is the truth: lam -> infinity
    with pytest.warns(pr.LamOnEdgeWarning, match="upper edge"):
        res = pr.PriorRidge(y, X, prior=b0).fit(lam="gcv", lams=[1e-3, 1e-2, 1e-1])
    assert res.lam == pytest.approx(1e-1)
    assert len(res.lam_path) == 3


def test_fixed_lam_has_no_path(rng):
    X, y, *_ = random_problem(rng, 20, 3)
    res = pr.PriorRidge(y, X).fit(lam=2.0)
    assert res.lam_method == "fixed"
    assert res.lam_path is None


def test_default_grid_needs_no_warning_on_ordinary_data(rng):
    X, _, b0, w, _, _ = random_problem(rng, 200, 5)
    y = X @ (b0 + 0.2 * rng.normal(size=5)) + rng.normal(size=200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = pr.PriorRidge(y, X, prior=b0, weights=w).fit(lam="gcv")
    assert 0 < res.lam < np.inf


@pytest.mark.parametrize("kind", ["default", "dense", "difference"])
def test_loocv_on_a_long_grid_equals_brute_force_refits(rng, kind):
    # more lams than the zoom batch: the path goes through LoocvPath (one pass
    # over the rows, then O(n p) per lam) and must still equal brute force
    X, y, b0, w, offset, L = random_problem(rng, 30, 5, kind=kind)
    model = pr.PriorRidge(y, X, prior=b0, penalty=L, weights=w, offset=offset)
    lams = np.logspace(-3, 4, 30)
    path = model.path(lams, criterion="loocv")
    brute = [brute_force_loocv(X, y, b0, w, offset, L, lam) for lam in lams]
    np.testing.assert_allclose(path["loocv"], brute, rtol=1e-9)


def test_loocv_path_equals_exact_pass_inside_and_outside_its_interval(rng):
    from priorreg.selection import LoocvPath, loocv

    n, k = 400, 60
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1)) * np.logspace(-2, 2, k - 1)])
    y = X @ rng.normal(size=k) + rng.normal(size=n)
    model = pr.PriorRidge(y, X)
    factor, z_w = model.factor, model._weighted_data[1]
    evaluate = LoocvPath(factor, z_w, 1e-3, 1e5)
    # the shrinkage vectors of an interval span few directions: the reduction is real
    assert evaluate.basis.shape[1] < factor.d.size
    inside = np.logspace(-3, 5, 57) * 1.013  # not the sample points of the basis
    # the leverages are off by at most the 1e-13 span tolerance, the criterion
    # by rounding: 1e-11 relative leaves two orders of margin
    np.testing.assert_allclose(evaluate(inside), loocv(factor, z_w, inside), rtol=1e-11)
    # far outside the interval the shrinkage leaves the span: the exact pass is used
    outside = np.array([1e-12, 1e12])
    np.testing.assert_array_equal(evaluate(outside), loocv(factor, z_w, outside))


def test_loocv_selection_equals_sklearn_ridgecv_on_its_grid(rng):
    # the grid's LOOCV values (through LoocvPath) equal RidgeCV's, and the
    # refined optimum is no worse than RidgeCV's grid choice
    from sklearn.linear_model import RidgeCV

    X, y, _, _, _, _ = random_problem(rng, 80, 6, weights=False)
    alphas = np.logspace(-3, 4, 40)
    ref = RidgeCV(alphas=alphas, fit_intercept=True, store_cv_results=True).fit(X[:, 1:], y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pr.LamOnEdgeWarning)
        res = pr.PriorRidge(y, X).fit(lam="loocv", lams=alphas)
    np.testing.assert_allclose(res.lam_path["loocv"], ref.cv_results_.mean(axis=0), rtol=1e-9)
    assert res.selection.value <= -ref.best_score_ * (1 + 1e-12)
    assert res.loocv == pytest.approx(res.selection.value, rel=1e-11)


def test_loocv_selection_is_the_minimiser_to_printed_precision():
    # the zoom (two batches and a parabola) against scipy's scalar minimiser on
    # the exact criterion; the criterion is smooth, so the minimiser is defined
    # to ~1e-6 in lam: 1e-5 relative leaves margin
    import statsmodels.api as sm
    from scipy.optimize import minimize_scalar

    from priorreg.selection import loocv

    data = sm.datasets.grunfeld.load_pandas().data
    others = data[data.firm != "Westinghouse"]
    small = data[data.firm == "Westinghouse"].sort_values("year").head(8)
    old = pr.PriorRidge.from_formula("invest ~ value + capital", others).fit(lam=0)
    res = old.refine(small, lam="loocv")
    factor, z_w = res.model.factor, res.model._weighted_data[1]

    def criterion(t):
        return float(loocv(factor, z_w, np.array([np.exp(t)]))[0])

    t0 = np.log(res.lam)
    opt = minimize_scalar(criterion, bracket=(t0 - 0.2, t0 + 0.2), tol=1e-12)
    assert res.lam == pytest.approx(np.exp(opt.x), rel=1e-5)
    assert res.selection.value <= opt.fun * (1 + 1e-12)
