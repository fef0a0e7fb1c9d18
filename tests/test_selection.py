"""Selection criteria against brute force; the selected lam is optimal."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from bounds import EPS, MARGIN, solve_rtol
from conftest import random_problem

import priorreg as pr


def brute_force_loocv(X, y, b0, w, offset, L, lam):
    return brute_force_loocv_and_bound(X, y, b0, w, offset, L, lam)[0]


def brute_force_loocv_and_bound(X, y, b0, w, offset, L, lam):
    """LOOCV by n refits, and a bound on what rounding can change in it.

    Each left-out prediction error e_i = y_i - o_i - x_i'b_(i) is off by at
    most solve_rtol(A_(i)) (||x_i|| ||b_(i)|| + |y_i - o_i|) (two backward-stable
    solves, 10x margin); the leverage route divides its residual by 1 - h_ii,
    amplifying by at most 1 / (1 - h_ii). The mean of w_i e_i^2 then moves by
    at most mean(w_i (2 |e_i| de_i + de_i^2)).
    """
    n = len(y)
    A_full = X.T @ (w[:, None] * X) + lam * L
    h = w * np.einsum("ij,ij->i", X, np.linalg.solve(A_full, X.T).T)
    errs, bounds = [], []
    for i in range(n):
        keep = np.arange(n) != i
        Xk, wk = X[keep], w[keep]
        A = Xk.T @ (wk[:, None] * Xk) + lam * L
        b = np.linalg.solve(A, Xk.T @ (wk * (y[keep] - offset[keep])) + lam * L @ b0)
        e = y[i] - offset[i] - X[i] @ b
        de = solve_rtol(A) * (np.linalg.norm(X[i]) * np.linalg.norm(b) + abs(y[i] - offset[i]))
        de /= 1 - h[i]
        errs.append(w[i] * e**2)
        bounds.append(w[i] * (2 * abs(e) * de + de**2))
    return np.mean(errs), np.mean(bounds)


@pytest.mark.parametrize("kind", ["default", "dense", "difference"])
def test_loocv_equals_brute_force_refits(rng, kind):
    X, y, b0, w, offset, L = random_problem(rng, 30, 5, kind=kind)
    model = pr.PriorRidge(y, X, prior=b0, penalty=L, weights=w, offset=offset)
    lams = np.array([0.01, 0.7, 30.0])
    path = model.path(lams, criterion="loocv")
    for lam, value in zip(lams, path["loocv"], strict=True):
        brute, bound = brute_force_loocv_and_bound(X, y, b0, w, offset, L, lam)
        assert value == pytest.approx(brute, abs=bound)
    # the same factorization evaluated at the same lam by two entry points:
    # the same operations, so the same bound (far below 1e-12 relative here)
    _, bound = brute_force_loocv_and_bound(X, y, b0, w, offset, L, 0.7)
    assert model.fit(lam=0.7).loocv == pytest.approx(path["loocv"][1], abs=bound)


def test_loocv_equals_sklearn_ridgecv_leave_one_out(rng):
    from sklearn.linear_model import RidgeCV

    X, y, _, _, _, _ = random_problem(rng, 40, 6, weights=False)
    alphas = np.logspace(-2, 3, 6)
    ref = RidgeCV(alphas=alphas, fit_intercept=True, store_cv_results=True).fit(X[:, 1:], y)
    ours = pr.PriorRidge(y, X).path(alphas, criterion="loocv")
    # RidgeCV's eigen route and ours are both backward stable: each within the
    # brute-force rounding bound of the exact value
    L, zero, one = np.diag([0.0, *np.ones(5)]), np.zeros(6), np.ones(40)
    bound = [2 * brute_force_loocv_and_bound(X, y, zero, one, 0 * y, L, a)[1] for a in alphas]
    np.testing.assert_array_less(np.abs(ours["loocv"] - ref.cv_results_.mean(axis=0)), bound)


def test_gcv_formula_and_edf_path(rng):
    X, y, b0, w, offset, L = random_problem(rng, 30, 5, kind="dense")
    model = pr.PriorRidge(y, X, prior=b0, penalty=L, weights=w, offset=offset)
    for lam in [0.1, 10.0]:
        res = model.fit(lam=lam)
        W = np.diag(w)
        H = X @ np.linalg.solve(X.T @ W @ X + lam * L, X.T @ W)
        rss = np.sum(w * res.resid**2)
        # rss: residuals within tol ||X b|| / ||r|| relative, twice (squares);
        # n - tr(H): tr(H) <= k within k tol; tol = solve_rtol(A) (x 10)
        A = X.T @ W @ X + lam * L
        tol = solve_rtol(A)
        fitted = np.linalg.norm(y - offset - res.resid)
        rel = 4 * tol * fitted / np.sqrt(rss / w.max()) + 2 * 5 * tol / (30 - np.trace(H))
        assert res.gcv == pytest.approx(30 * rss / (30 - np.trace(H)) ** 2, rel=rel)


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
    # the bounded search converges in t = log(lam) to xatol = 1e-6, where
    # f(t) - f(t*) <= f'' xatol^2 / 2 (f'' from the fine grid, spacing 1e-2);
    # both values carry rounding n k eps |f|; 10x margin
    i = int(np.clip(np.argmin(values), 1, len(values) - 2))
    curvature = abs(values[i + 1] - 2 * values[i] + values[i - 1]) / (4 / 400) ** 2
    slack = curvature * 1e-6**2 / 2 + 2 * 60 * 6 * EPS * abs(values.min())
    assert at_opt <= values.min() + MARGIN * slack


def test_edge_of_grid_warns_and_lam_path_reported(rng):
    X, _, b0, _, _, _ = random_problem(rng, 40, 4, weights=False)
    y = X @ b0 + rng.normal(size=40)  # the prior is the truth: lam -> infinity
    with pytest.warns(pr.LamOnEdgeWarning, match="upper edge"):
        res = pr.PriorRidge(y, X, prior=b0).fit(lam="gcv", lams=[1e-3, 1e-2, 1e-1])
    assert res.lam == 1e-1  # the grid point itself, returned as given
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
    brute, bound = np.transpose(
        [brute_force_loocv_and_bound(X, y, b0, w, offset, L, lam) for lam in lams]
    )
    np.testing.assert_array_less(np.abs(path["loocv"] - brute), bound)


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
    # both backward stable: within twice the brute-force rounding bound
    L, zero, one = np.diag([0.0, *np.ones(5)]), np.zeros(6), np.ones(80)
    bound = np.array(
        [2 * brute_force_loocv_and_bound(X, y, zero, one, 0 * y, L, a)[1] for a in alphas]
    )
    loocv_ref = ref.cv_results_.mean(axis=0)
    np.testing.assert_array_less(np.abs(res.lam_path["loocv"] - loocv_ref), bound)
    # no worse than RidgeCV's grid choice, up to that rounding
    best = int(np.argmin(loocv_ref))
    assert res.selection.value <= -ref.best_score_ + bound[best]
    # the interpolant (span tolerance 1e-13, see above) against the exact pass:
    # 1e-11 relative is 100x that
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
    # near a minimum f(t) - f(t*) ~ f''(t*) (t - t*)^2 / 2, so two points whose
    # values differ by delta (plus the rounding of f, n eps |f| x 10) lie
    # within sqrt(2 delta / f'') of each other; f'' by central differences
    # (h = 1e-2: truncation h^2 f^(4) / 12, negligible); 10x margin
    h = 1e-2
    f0 = criterion(opt.x)
    curvature = (criterion(opt.x + h) - 2 * f0 + criterion(opt.x - h)) / h**2
    rounding = MARGIN * len(small) * EPS * abs(f0)
    delta = abs(criterion(t0) - opt.fun) + rounding
    assert abs(t0 - opt.x) <= MARGIN * np.sqrt(2 * delta / curvature)
    # our minimum is no higher than scipy's beyond the rounding of f (~1e-14
    # relative here; 1e-12 is 100x that)
    assert res.selection.value <= opt.fun * (1 + 1e-12)
