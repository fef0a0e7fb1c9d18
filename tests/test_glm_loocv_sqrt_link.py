"""The approximate LOOCV of a square-root-link fit with rows where ``eta < 0``.

``mu = eta^2`` there, so ``d mu/d eta = 2 eta < 0`` while ``1/g'(mu) > 0``
(priorreg.link_slope). The approximation is the exact leave-one-out of the
working linear model at the converged fit. Oracle: that working problem
built densely by hand (``W = 4`` for Poisson with this link, ``z = eta +
(y - mu) / (2 eta)``), refitted without each row (brute force); and the
in-memory value against the Dask model's.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import statsmodels.api as sm
from glm_data import sqrt_poisson

import priorreg as pr
from priorreg.glm_loocv_rows import loo_predictor

F = sm.families
SQRT_POISSON = F.Poisson(link=F.links.Sqrt())
LAM = 27.0
EPS = float(np.finfo(float).eps)


def _working_problem(X, y, prior, L, b):
    """Dense working problem at ``b`` by hand: weights, response, ``A``, right-hand side."""
    eta = X @ b
    mu = eta**2
    W = 4.0 * np.ones_like(y)  # (d mu/d eta)^2 / V(mu) = (2 eta)^2 / eta^2
    z = eta + (y - mu) / (2.0 * eta)  # d mu/d eta = 2 eta, of either sign
    A = X.T @ (W[:, None] * X) + LAM * L
    rhs = X.T @ (W * z) + LAM * L @ prior
    return eta, mu, W, z, A, rhs


def _brute_force_eta(X, W, z, A, rhs):
    """``x_i' b_{-i}``: the working problem refitted without each row."""
    out = np.empty(X.shape[0])
    for i, x in enumerate(X):
        b_i = np.linalg.solve(A - W[i] * np.outer(x, x), rhs - W[i] * z[i] * x)
        out[i] = x @ b_i
    return out


def _fit():
    X, y, prior = sqrt_poisson()
    res = pr.PriorGLM(y, X, family=SQRT_POISSON, prior=prior).fit(lam=LAM, tol=1e-13)
    L = np.asarray(res.model.penalty_matrix)
    return X, y, prior, L, res


def test_loo_predictor_is_the_working_models_leave_one_out_row_by_row():
    X, y, prior, L, res = _fit()
    b = np.asarray(res.params)
    eta, mu, W, z, A, rhs = _working_problem(X, y, prior, L, b)
    assert np.sum(eta < 0) >= 2  # rows where 1/g'(mu) has the wrong sign
    Ainv = np.linalg.inv(A)
    h = W * np.einsum("ij,jk,ik->i", X, Ainv, X)
    brute = _brute_force_eta(X, W, z, A, rhs)
    got = loo_predictor(SQRT_POISSON.link, y, eta, mu, h)
    # the identity x_i'b_{-i} = eta_w,i - h_i (z_i - eta_w,i) / (1 - h_i) is exact
    # at the working solution b_w = A^{-1} rhs; the fit stops one IRLS step short of
    # it (~4e-9 here at tol 1e-13), which moves row i by |x_i'(b_w - b)| / (1 - h_i).
    # Rounding of the solves: eps * cond(A) * max|z| * k (~1e-14). Bound: both; 10x margin
    gap = np.abs(X @ (Ainv @ rhs - b)) / (1.0 - h)
    rounding = EPS * np.linalg.cond(A) * np.max(np.abs(z)) * X.shape[1]
    tol = 10.0 * (gap + rounding)
    np.testing.assert_array_less(np.abs(got - brute), tol)
    # the test can tell: without the slope's sign the rows with eta < 0 are off by
    # 2 |e| h / (1 - h) ~ 4e-3, far beyond the bound
    e_unsigned = SQRT_POISSON.link.deriv(mu) * (y - mu)
    old = eta - e_unsigned * h / (1.0 - h)
    assert np.sum(np.abs(old - brute) > 1e3 * tol) >= 2


def _fit_dask():
    X, y, prior = sqrt_poisson()
    with dask.config.set(scheduler="synchronous"):
        model = pr.PriorGLM(
            da.from_array(y, chunks=150), da.from_array(X, chunks=(150, X.shape[1])),
            family=SQRT_POISSON, prior=prior,
        )  # fmt: skip
        res = model.fit(lam=LAM, tol=1e-13)
        loocv = res.loocv
    return np.asarray(res.params), loocv


@pytest.mark.parametrize("backend", ["memory", "dask"])
def test_loocv_value_is_the_mean_deviance_of_the_brute_force_predictions(backend):
    X, y, prior, L, res = _fit()
    b, loocv = (np.asarray(res.params), res.loocv) if backend == "memory" else _fit_dask()
    eta, _, W, z, A, rhs = _working_problem(X, y, prior, L, b)
    assert np.sum(eta < 0) >= 2
    brute = _brute_force_eta(X, W, z, A, rhs)
    want = float(np.mean(SQRT_POISSON.resid_dev(y, brute**2) ** 2))
    # per row the criterion's predictions differ from brute by <= the row-by-row
    # bound above (tol_i); the deviance's slope in eta, |d dev/d eta| =
    # |4 (eta^2 - y) / eta|, turns that into <= mean(|slope_i| tol_i) (first order;
    # tol_i ~ 4e-8 leaves the second order ~1e-15 negligible). Rounding of the sum and
    # of the leverages (eps * cond(A) * k ~ 1e-15 relative per row): 1e-12 relative,
    # a 100x margin
    Ainv = np.linalg.inv(A)
    h = W * np.einsum("ij,jk,ik->i", X, Ainv, X)
    gap = np.abs(X @ (Ainv @ rhs - b)) / (1.0 - h)
    rounding = EPS * np.linalg.cond(A) * np.max(np.abs(z)) * X.shape[1]
    slope = np.abs(4.0 * (brute**2 - y) / brute)
    bound = float(np.mean(slope * 10.0 * (gap + rounding))) + 1e-12 * want
    # the test can tell: without the slope's sign the value is ~1e-5 relative off
    assert bound < 1e-7 * want
    assert abs(loocv - want) <= bound
