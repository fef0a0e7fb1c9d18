"""Penalized IRLS when a step leaves the range of the family's mean."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import priorreg as pr

F = sm.families


def test_mean_of_an_overflowing_step_is_silent_and_rejected(rng):
    # a trial step with a huge linear predictor: the logit's exp(-eta)
    # overflows; the means are the limits 0 and 1, and the deviance of the
    # responses that disagree with them (statsmodels clips mu) is far above
    # that of any reasonable fit, so step halving rejects the step
    n = 20
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = (rng.random(n) < 0.5).astype(float)
    model = pr.PriorGLM(y, X, family=F.Binomial())
    problem = model.problem
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eta, mu = problem.mean(np.array([0.0, 1e6]))
        dev = problem.deviance(mu)
        dev_null = problem.deviance(problem.mean(np.zeros(2))[1])
    np.testing.assert_array_equal(mu, (eta > 0).astype(float))
    assert dev > 10 * dev_null
    # and a fit at a fixed lam is unaffected (converges, no warning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = model.fit(lam=1.0)
    assert res.converged


def test_first_step_out_of_range_is_a_clear_error(rng):
    # the inverse Gaussian's canonical link 1/mu^2: from the starting means
    # the first step gives a negative eta for some rows, where the mean does
    # not exist; every halving keeps some of them
    n = 80
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3)) * [1.0, 2.0, 0.5]])
    y = rng.poisson(np.exp(X @ [0.3, 0.4, -0.3, 0.2])) + 0.5
    with pytest.raises(ValueError, match=r"first step.*InverseSquared.*Log\(\)"):
        pr.PriorGLM(y, X, family=F.InverseGaussian()).fit(lam=2.0)
    res = pr.PriorGLM(y, X, family=F.InverseGaussian(link=F.links.Log())).fit(lam=2.0)
    assert res.converged
