"""The approximate LOOCV of a square-root-link fit with rows where ``eta < 0``.

``mu = eta^2`` there, so ``d mu/d eta = 2 eta < 0`` while ``1/g'(mu) > 0``
(priorreg.link_slope). The approximation is the exact leave-one-out of the
working linear model at the converged fit. Oracle: that working problem
built densely by hand (``W = 4`` for Poisson with this link, ``z = eta +
(y - mu) / (2 eta)``), refitted without each row (brute force), for the
in-memory criterion, the Dask pass and the several-penalty criterion.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask.array as da
import numpy as np
import pytest
import statsmodels.api as sm
from glm_data import sqrt_poisson

import priorreg as pr
from priorreg.glm_loocv_rows import loo_predictor
from priorreg.multi_loo import loo_deviance
from priorreg.multi_outer import _irls_at

F = sm.families
SQRT_POISSON = F.Poisson(link=F.links.Sqrt())
LAM = 27.0
EPS = float(np.finfo(float).eps)


@dataclass(frozen=True)
class BruteForce:
    """The working problem at a fit, refitted without each row, and its error bound."""

    eta: np.ndarray  # the fit's linear predictor
    h: np.ndarray  # leverages of the working model
    eta_loo: np.ndarray  # x_i'b_{-i}
    row_tol: np.ndarray  # bound on |approximation - eta_loo| per row, 10x margin
    value: float  # mean deviance at eta_loo
    value_tol: float  # bound on |criterion - value|


def _brute_force(X, y, b, S, Sb0):
    """The penalized working problem ``(X'WX + S) b = X'Wz + Sb0`` at ``b``, by hand."""
    eta = X @ b
    W = 4.0 * np.ones_like(y)  # (d mu/d eta)^2 / V(mu) = (2 eta)^2 / eta^2
    z = eta + (y - eta**2) / (2.0 * eta)  # d mu/d eta = 2 eta, of either sign
    A = X.T @ (W[:, None] * X) + S
    rhs = X.T @ (W * z) + Sb0
    eta_loo = np.empty(X.shape[0])
    for i, x in enumerate(X):
        eta_loo[i] = x @ np.linalg.solve(A - W[i] * np.outer(x, x), rhs - W[i] * z[i] * x)
    Ainv = np.linalg.inv(A)
    h = W * np.einsum("ij,jk,ik->i", X, Ainv, X)
    # the identity x_i'b_{-i} = eta_w,i - h_i (z_i - eta_w,i) / (1 - h_i) is exact at
    # the working solution b_w = A^{-1} rhs; the fit stops one IRLS step short of it
    # (~4e-9 at tol 1e-13), which moves row i by |x_i'(b_w - b)| / (1 - h_i). Rounding
    # of the solves: eps * cond(A) * max|z| * k (~1e-14). Bound: both, 10x margin
    gap = np.abs(X @ (Ainv @ rhs - b)) / (1.0 - h)
    rounding = EPS * np.linalg.cond(A) * np.max(np.abs(z)) * X.shape[1]
    row_tol = 10.0 * (gap + rounding)
    value = float(np.mean(SQRT_POISSON.resid_dev(y, eta_loo**2) ** 2))
    # the deviance's slope in eta, |4 (eta^2 - y) / eta|, turns the rows' bound into
    # mean(|slope_i| row_tol_i) (first order; row_tol ~ 4e-8 leaves the second ~1e-15).
    # Rounding of the sums and leverages (eps * cond(A) * k ~ 1e-15 per row): 1e-12
    # relative, a 100x margin
    slope = np.abs(4.0 * (eta_loo**2 - y) / eta_loo)
    value_tol = float(np.mean(slope * row_tol)) + 1e-12 * value
    # the checks can tell: without the slope's sign the criterion is ~2e-5 relative off
    assert value_tol < 1e-7 * value
    return BruteForce(eta, h, eta_loo, row_tol, value, value_tol)


def _fit():
    X, y, prior = sqrt_poisson()
    res = pr.PriorGLM(y, X, family=SQRT_POISSON, prior=prior).fit(lam=LAM, tol=1e-13)
    L = np.asarray(res.model.penalty_matrix)
    return X, y, prior, L, res


def _fit_dask():
    X, y, prior = sqrt_poisson()
    model = pr.PriorGLM(
        da.from_array(y, chunks=150), da.from_array(X, chunks=(150, X.shape[1])),
        family=SQRT_POISSON, prior=prior,
    )  # fmt: skip
    res = model.fit(lam=LAM, tol=1e-13)
    return np.asarray(res.params), res.loocv


def test_loo_predictor_is_the_working_models_leave_one_out_row_by_row():
    X, y, prior, L, res = _fit()
    b = np.asarray(res.params)
    bf = _brute_force(X, y, b, LAM * L, LAM * L @ prior)
    assert np.sum(bf.eta < 0) >= 2  # rows where 1/g'(mu) has the wrong sign
    got = loo_predictor(SQRT_POISSON.link, y, bf.eta, bf.eta**2, bf.h)
    np.testing.assert_array_less(np.abs(got - bf.eta_loo), bf.row_tol)
    # the test can tell: without the slope's sign the rows with eta < 0 are off by
    # 2 |e| h / (1 - h) ~ 4e-3, far beyond the bound
    mu = bf.eta**2
    old = bf.eta - SQRT_POISSON.link.deriv(mu) * (y - mu) * bf.h / (1.0 - bf.h)
    assert np.sum(np.abs(old - bf.eta_loo) > 1e3 * bf.row_tol) >= 2


@pytest.mark.usefixtures("synchronous")
@pytest.mark.parametrize("backend", ["memory", "dask"])
def test_loocv_value_is_the_mean_deviance_of_the_brute_force_predictions(backend):
    X, y, prior, L, res = _fit()
    b, loocv = (np.asarray(res.params), res.loocv) if backend == "memory" else _fit_dask()
    bf = _brute_force(X, y, b, LAM * L, LAM * L @ prior)
    assert np.sum(bf.eta < 0) >= 2
    assert abs(loocv - bf.value) <= bf.value_tol


def test_several_penalties_loocv_is_the_brute_force_value():
    X, y, prior = sqrt_poisson()
    P1, P2 = np.diag([0.0, 1, 1, 0, 0, 0]), np.diag([0.0, 0, 0, 1, 1, 1])
    priors = [prior, prior + 0.1]
    model = pr.PriorGLM(y, X, family=SQRT_POISSON, penalty=[P1, P2], prior=priors)
    comps = model.penalty_components
    lams = np.array([10.0, 40.0])
    # tol = 0: IRLS to rounding level
    b, _ = _irls_at(model, comps, lams, np.asarray(prior), 200, 0.0)
    S = lams[0] * P1 + lams[1] * P2
    bf = _brute_force(X, y, b, S, lams[0] * P1 @ priors[0] + lams[1] * P2 @ priors[1])
    assert np.sum(bf.eta < 0) >= 2
    assert abs(loo_deviance(model, comps, lams, b) - bf.value) <= bf.value_tol
