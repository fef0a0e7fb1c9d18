"""The IRLS data protocol's log-likelihood and leave-one-out pieces (issue 13, item 1).

``ArrayData`` (in memory) is checked against independent oracles:
statsmodels' ``GLM.loglike`` and a dense evaluation of the leave-one-out
formula with the explicit hat matrix. ``DaskData`` is checked against
``ArrayData`` at the same fit, and refuses leave-one-out for a bounded fit.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import statsmodels.api as sm

import priorreg as pr
from priorreg.irls import ArrayData, ArrayPoint
from priorreg.outofcore.glm import DaskData

N = 120


def _data(family):
    rng = np.random.default_rng(7)
    X = sm.add_constant(rng.normal(size=(N, 2)))
    eta = X @ [0.3, 0.4, -0.3]
    if isinstance(family, sm.families.Poisson):
        y = rng.poisson(np.exp(eta)).astype(float)
    elif isinstance(family, sm.families.Binomial):
        y = (rng.random(N) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    else:  # Gamma with log link
        y = rng.gamma(2.0, np.exp(eta) / 2.0)
    freq = rng.integers(1, 4, size=N).astype(float)
    return X, y, freq


FAMILIES = [
    sm.families.Poisson(),
    sm.families.Binomial(),
    sm.families.Gamma(sm.families.links.Log()),
]


def _fit(family, lam=2.0):
    X, y, freq = _data(family)
    model = pr.PriorGLM(y, X, family, freq_weights=freq)
    return model, model.fit(lam=lam)._glm_fit, X, y, freq


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: type(f).__name__)
def test_array_loglike_is_statsmodels_at_any_scale(family):
    model, fit, X, y, freq = _fit(family)
    data = ArrayData(model.problem)
    point = ArrayPoint(fit.params, fit.eta, fit.fittedvalues, fit.deviance)
    oracle = sm.GLM(y, X, family=family, freq_weights=freq)
    for scale in (1.0, 0.7, 2.5):
        want = oracle.loglike(fit.params, scale=scale)
        # the same sums of n = 120 terms of size ~ 1-10 in another order: eps * n * 10 ~ 3e-13
        # relative to |llf| ~ 1e2; rtol 1e-11 is a 10x+ margin
        np.testing.assert_allclose(data.loglike(point, scale), want, rtol=1e-11)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: type(f).__name__)
def test_array_loo_deviance_is_the_formula_with_the_dense_hat_matrix(family):
    model, fit, X, y, freq = _fit(family)
    lam = fit.lam
    data = ArrayData(model.problem)
    point = ArrayPoint(fit.params, fit.eta, fit.fittedvalues, fit.deviance)
    got = data.loo_deviance(point, fit.factor, lam)
    # dense oracle: W, h = diag(W^1/2 X (X'WX + lam L)^-1 X'W^1/2), then the module formula
    mu, eta = fit.fittedvalues, fit.eta
    W = freq * family.weights(mu)
    A = X.T @ (W[:, None] * X) + lam * model.penalty_matrix
    h = W * np.einsum("ij,ij->i", X @ np.linalg.inv(A), X)
    e = family.link.deriv(mu) * (y - mu)
    mu_loo = family.link.inverse(eta - e * h / (1.0 - h))
    unit = [family.deviance(y[i : i + 1], mu_loo[i : i + 1]) for i in range(N)]
    want = float(np.sum(freq * np.array(unit))) / freq.sum()
    # leverages from the path factor vs an explicit inverse of a 3 x 3 matrix with
    # cond ~ 1e2: eps * cond * few ~ 1e-13 relative, carried into the criterion by
    # factors h / (1 - h) < 1; rtol 1e-10 is a 100x+ margin
    np.testing.assert_allclose(got, want, rtol=1e-10)
    # and it is what the results report
    np.testing.assert_allclose(model.criterion(fit, "loocv"), got, rtol=0, atol=0)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: type(f).__name__)
def test_dask_data_answers_as_the_array_data_at_the_same_fit(family):
    X, y, freq = _data(family)
    dmodel = pr.PriorGLM(
        da.from_array(y, chunks=40),
        da.from_array(X, chunks=(40, 3)),
        family,
        freq_weights=da.from_array(freq, chunks=40),
    )
    dres = dmodel.fit(lam=2.0)
    dfit = dres._glm_fit
    params, lam = np.asarray(dfit.params, dtype=float), dfit.lam
    ddata = DaskData(dres.model)
    at = ddata.evaluate(params)
    # the oracle: the in-memory data at the same estimate, with its own factor there
    problem = pr.PriorGLM(y, X, family, freq_weights=freq).problem
    eta, mu = problem.mean(params)
    point = ArrayPoint(params, eta, mu, problem.deviance(mu))
    factor, _ = problem.factor(eta, mu)
    data = ArrayData(problem)
    # per-partition sums of n = 120 terms in another order: eps * n ~ 3e-14 relative to
    # the sum of |terms|, which is within 10x of |llf| here; rtol 1e-11 is a 30x+ margin
    for scale in (1.0, 1.7):
        np.testing.assert_allclose(ddata.loglike(at, scale), data.loglike(point, scale), rtol=1e-11)
    # leverages from TSQR vs Householder QR of the weighted 120 x 3 design (cond ~ 10):
    # eps * cond * k ~ 1e-14, entering the criterion through h / (1 - h) < 1 and the sum
    # as above; rtol 1e-11 is a 100x+ margin
    np.testing.assert_allclose(
        ddata.loo_deviance(at, dfit.factor, lam), data.loo_deviance(point, factor, lam), rtol=1e-11
    )


def test_dask_data_refuses_leave_one_out_for_a_bounded_fit():
    family = sm.families.Poisson()
    X, y, _ = _data(family)
    dmodel = pr.PriorGLM(
        da.from_array(y, chunks=40), da.from_array(X, chunks=(40, 3)), family, bounds="nonnegative"
    )
    dres = dmodel.fit(lam=2.0)
    dfit = dres._glm_fit
    data = DaskData(dres.model)
    with pytest.raises(NotImplementedError, match="fit the bounded GLM in memory"):
        data.loo_deviance(data.evaluate(np.asarray(dfit.params)), dfit.factor, dfit.lam)
