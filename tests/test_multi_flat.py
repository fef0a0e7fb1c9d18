"""Several penalties: when is a component's lam flat (run to 0 or infinity), at any n."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.optimize import minimize, minimize_scalar

import priorreg as pr
import priorreg.multi_outer as multi_outer
from priorreg.multi_kernel import CriterionPoint
from priorreg.multi_select import flat_components, newton_rho, warn_at_edge

POISSON = sm.families.Poisson()


def _point(rho, value, grad, hess_diag):
    m = len(rho)
    return CriterionPoint(
        np.asarray(rho, float), float(value), np.asarray(grad, float),
        np.diag(np.asarray(hess_diag, float)), 0.0, np.zeros(1), 0.0, np.zeros((1, m)),
    )


def _quadratic(centre, curvature, base=1.0):
    """``V = base + sum_j curvature_j (rho_j - centre_j)^2 / 2`` with exact derivatives."""
    centre, curvature = np.asarray(centre, float), np.asarray(curvature, float)

    def evaluate(rho):
        d = rho - centre
        return _point(rho, base + 0.5 * curvature @ d**2, curvature * d, curvature)

    return evaluate


def test_flat_rule_is_invariant_to_the_units_of_the_criterion():
    lo, hi = np.full(2, -25.0), np.full(2, 25.0)
    # an interior minimum of curvature 1e-8 at n = 2e5 (UBRE's O(edf/n) scale)
    # and a component whose V changes by 1e-13 over 8 in rho
    p = _point([0.0, 0.0], 0.15, [0.0, 1e-14], [1e-8, 1e-15])
    assert flat_components(p, lo, hi).tolist() == [False, True]
    q = _point([0.0, 0.0], 0.15e-9, [0.0, 1e-23], [1e-17, 1e-24])  # V in other units
    assert flat_components(q, lo, hi).tolist() == [False, True]
    # UBRE near 0 (D/n - phi cancels): the scale of its terms decides
    z = _point([0.0, 0.0], 1e-12, [0.0, 1e-14], [1e-8, 1e-15])
    assert flat_components(z, lo, hi, scale=1.0).tolist() == [False, True]


def test_newton_finds_a_minimum_of_large_n_curvature_that_the_old_rule_called_flat():
    # V = 1 + 1e-8 (rho - c)^2 / 2: gradient and curvature below 1e-7 (1 + |V|)
    centre = np.array([2.0, -3.0])
    evaluate = _quadratic(centre, [1e-8, 2e-8])
    lo, hi = np.full(2, -25.0), np.full(2, 25.0)
    best, _, converged = newton_rho(
        evaluate, np.zeros(2), lo, hi, labels=["a", "b"], criterion="ubre"
    )
    assert converged
    # one exact Newton step on a quadratic: rho exact to eps * |c| ~ 1e-15; 1e-9 margin
    np.testing.assert_allclose(best.rho, centre, atol=1e-9)


def test_a_component_decaying_to_infinity_is_held_flat_and_warned():
    # V = 1 + 1e-3 exp(-rho_2) + (rho_1 - 1)^2: the second lam runs to infinity
    def evaluate(rho):
        e = 1e-3 * np.exp(-rho[1])
        return _point(rho, 1 + e + (rho[0] - 1) ** 2, [2 * (rho[0] - 1), -e], [2.0, e])

    lo, hi = np.full(2, -25.0), np.full(2, 40.0)
    best, _, _ = newton_rho(evaluate, np.zeros(2), lo, hi, labels=["a", "b"], criterion="gcv")
    flat = flat_components(best, lo, hi)
    assert flat.tolist() == [False, True]
    assert best.rho[1] < hi[1]  # held inside the range, by the flat rule
    # rho_1 exact minimum 1 (quadratic): Newton's |g| <= 1e-7 (1 + |V|) -> 1e-7; 10x
    assert best.rho[0] == pytest.approx(1.0, abs=1e-6)
    # held inside the range, lam ~ 1e9: the user is told it is undetermined
    with pytest.warns(pr.LamOnEdgeWarning, match=r"no longer changes with lam.*b \(lam="):
        edge = warn_at_edge(best.rho, lo, hi, ["a", "b"], "gcv", flat=flat)
    assert edge.tolist() == [False, True]


# --- a large-n Poisson UBRE with every lam interior ----------------------------------


def _large_poisson(n=100_000, seed=3):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, 6))])
    y = rng.poisson(np.exp(X @ np.array([0.3, 0.15, -0.1, 0.12, 0.1, 0.08, -0.12])))
    Ps = [np.diag([0, 1.0, 1, 1, 0, 0, 0]), np.diag([0, 0, 0, 0, 1.0, 1, 1])]
    return y.astype(float), X, Ps


def _dense_poisson_fit(y, X, S):
    """Penalized Poisson deviance ``D(b) + b'Sb`` minimised by Newton's method (numpy)."""
    b = np.zeros(X.shape[1])
    b[0] = np.log(np.mean(y))
    for _ in range(100):
        mu = np.exp(X @ b)
        A = X.T @ (mu[:, None] * X) + S
        step = np.linalg.solve(A, X.T @ (y - mu) - S @ b)
        b = b + step
        if np.max(np.abs(step)) <= 1e-13 * (1 + np.max(np.abs(b))):
            break
    mu = np.exp(X @ b)
    return b, mu, X.T @ (mu[:, None] * X)


def _dense_ubre(y, X, Ps, rho):
    S = sum(np.exp(r) * P for r, P in zip(rho, Ps, strict=True))
    _, mu, G = _dense_poisson_fit(y, X, S)
    n = y.size
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 2 * np.sum(np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu))
    edf = np.trace(np.linalg.solve(G + S, G))
    return dev / n + 2 * edf / n - 1.0


def test_large_n_poisson_ubre_no_component_flat_and_equals_a_dense_oracle(monkeypatch):
    y, X, Ps = _large_poisson()
    seen = []
    real_newton = multi_outer.newton_rho

    def spy(*args, **kw):
        out = real_newton(*args, **kw)
        seen.append(out[0])
        return out

    def no_rescan(*args, **kw):
        raise AssertionError("a component was declared flat: the rescan ran")

    monkeypatch.setattr(multi_outer, "newton_rho", spy)
    monkeypatch.setattr(multi_outer, "coordinate_scan", no_rescan)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no edge / flat warning either
        res = pr.PriorGLM(y, X, family=POISSON, penalty=Ps).fit(lam="ubre")
    best = seen[-1]
    # the regime of the old defect: gradient and curvature below 1e-7 (1 + |V|)
    size = 1e-7 * (1 + abs(best.value))
    assert np.all(np.abs(best.grad) < size)
    assert np.all(np.abs(np.diagonal(best.hess)) < size)
    lo, hi = res._results.selection.extra["bounds"]
    assert not flat_components(best, lo, hi, 1.0).any()

    rho = np.log(np.asarray(res.lam))
    ours = _dense_ubre(y, X, Ps, rho)
    # the reported criterion is the dense one: both from fits converged to a
    # relative step ~1e-8 (second order in V) and sums of n terms (eps n ~ 2e-11)
    assert res._results.selection.value == pytest.approx(ours, rel=1e-9, abs=1e-10)
    opt = minimize(
        lambda r: _dense_ubre(y, X, Ps, r), np.array([2.0, 7.0]), method="Nelder-Mead",
        options={"xatol": 1e-4, "fatol": 1e-15, "maxiter": 400},
    )
    # V noise ~ 1e-12 (sums of 1e5 terms); fatol 1e-15
    assert ours <= opt.fun + 1e-11
    # curvature h ~ 3e-8 (above): |d rho| <= sqrt(2 dV / h) ~ sqrt(2e-12 / 3e-8) ~ 1e-2
    # with the optimizer's xatol 1e-4; 10x margin -> 0.1 (10% in lam)
    np.testing.assert_allclose(rho, opt.x, atol=0.1)


# --- a lam that runs to 0 and one that runs to infinity ------------------------------


def _edge_problem(seed=5, n=400):
    """Columns 1-2 carry signal, 3-6 none; penalty 1 on 1-4, 2 on 1-2, 3 on 5-6.

    Penalty 2 only adds shrinkage to the signal columns that penalty 1
    already shrinks: its lam runs to 0. Penalty 3 sits on noise: its lam
    runs to infinity (GCV, UBRE).
    """
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 6))])
    b = np.array([0.3, 0.8, -0.6, 0, 0, 0, 0])
    Ps = [np.diag([0, 1.0, 1, 1, 1, 0, 0]), np.diag([0, 1.0, 1, 0, 0, 0, 0]),
          np.diag([0, 0, 0, 0, 0, 1.0, 1])]
    return rng, X, b, Ps


def _dense_gcv(y, X, Ps, rho):
    S = sum(np.exp(r) * P for r, P in zip(rho, Ps, strict=True))
    A = X.T @ X + S
    b = np.linalg.solve(A, X.T @ y)
    n = y.size
    edf = np.trace(np.linalg.solve(A, X.T @ X))
    return n * float(np.sum((y - X @ b) ** 2)) / (n - edf) ** 2


# seeds whose noise columns' in-sample effect is too small to pay for their edf
# (at other seeds their lam is interior, rightly: the noise then looks like signal)
@pytest.mark.parametrize(("kind", "seed"), [("linear", 5), ("poisson", 6)])
def test_lams_run_to_zero_and_infinity_warn_and_the_free_lam_minimises(kind, seed):
    rng, X, b, Ps = _edge_problem(seed)
    if kind == "linear":
        y = X @ b + rng.normal(size=X.shape[0])
        model, criterion, dense = pr.PriorRidge(y, X, penalty=Ps), "gcv", _dense_gcv
    else:
        y = rng.poisson(np.exp(0.5 * X @ b)).astype(float)
        model = pr.PriorGLM(y, X, family=POISSON, penalty=Ps)
        criterion, dense = "ubre", _dense_ubre
    with pytest.warns(pr.LamOnEdgeWarning, match=r"penalty 2 .*penalty 3 ") as caught:
        res = model.fit(lam=criterion)
    assert len(caught) == 1  # one warning for the one cause
    lam = np.asarray(res.lam)
    assert lam[1] < 1e-6 * lam[0]
    assert lam[2] > 1e8 * lam[0]
    rho = np.log(lam)

    def along_first(t):
        return dense(y, X, Ps, np.array([t, rho[1], rho[2]]))

    inner = minimize_scalar(along_first, bracket=(rho[0] - 1, rho[0] + 1), tol=1e-10)
    ours = along_first(rho[0])
    # V at n = 400 computed to ~1e-13 relative (dense factors, cond ~1e3 on the
    # data's directions); Newton's |g| <= 1e-7 (1 + |V|) -> dV ~ 1e-14; 1e-11 margin
    assert ours <= inner.fun + 1e-11 * (1 + abs(inner.fun))
    # curvature in rho_1 ~ 1e-3 (n = 400): |d rho| <= sqrt(2e-11 / 1e-3) ~ 1.5e-4; 10x
    assert rho[0] == pytest.approx(inner.x, abs=2e-3)
