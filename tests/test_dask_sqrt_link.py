"""The Dask IRLS pass takes the inverse link's slope as the in-memory loop does.

Poisson with the square-root link: ``mu = eta^2`` also for ``eta < 0``, where
``1/g'(mu)`` has the wrong sign for ``d mu/d eta`` (priorreg.link_slope).
Oracle: the stationarity of the penalized deviance of ``mu = eta^2``, written
out by hand (independent of IRLS), and the in-memory fit.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import statsmodels.api as sm
from glm_data import sqrt_poisson

import priorreg as pr

F = sm.families


def test_dask_sqrt_link_fit_is_stationary_and_equals_the_in_memory_fit():
    # the gradient of D(b) + lam (b - b0)'L(b - b0) with mu = (Xb)^2:
    # -2 X'((y - mu) / mu * 2 eta) + 2 lam L (b - b0). IRLS stops on the
    # deviance's change (tol 1e-12 relative, D ~ 4e2), which bounds it by
    # ~sqrt(tol * D * c), c ~ 4n = 1.6e3 the largest curvature: ~8e-4; 1e-2 is
    # a 10x margin. With 1/g'(mu) for d mu/d eta the pass stops where it is
    # ~1 to 6 on these data
    X, y, prior = sqrt_poisson()
    fam = F.Poisson(link=F.links.Sqrt())
    lam = 27.0
    memory = pr.PriorGLM(y, X, family=fam, prior=prior).fit(lam=lam, tol=1e-12)
    with dask.config.set(scheduler="synchronous"):
        model = pr.PriorGLM(
            da.from_array(y, chunks=150), da.from_array(X, chunks=(150, X.shape[1])),
            family=fam, prior=prior,
        )  # fmt: skip
        res = model.fit(lam=lam, tol=1e-12)
    b = np.asarray(res.params)
    eta = X @ b
    assert np.sum(eta < 0) >= 2  # the rows where 1/g'(mu) has the wrong sign
    mu = eta**2
    L = np.asarray(memory.model.penalty_matrix)
    grad = -2 * X.T @ ((y - mu) / mu * 2 * eta) + 2 * lam * L @ (b - prior)
    assert np.max(np.abs(grad)) < 1e-2
    # both fits within the stationarity bound: |b - b_mem| <= sqrt(k) (|g| +
    # |g_mem|) / lambda_min(H), H ~ 8 X'X (Fisher weight (2 eta)^2 / mu = 4),
    # lambda_min(X'X) ~ n (1 - sqrt(k/n))^2 ~ 300: 2.5 * 2e-2 / 2.4e3 ~ 2e-5;
    # 1e-3 is a 50x margin
    assert np.max(np.abs(b - np.asarray(memory.params))) < 1e-3
