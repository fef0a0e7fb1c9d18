"""A GLM started from a prior far from the data: converged means converged.

IRLS starts from the prior. Three ways it used to go wrong for a Gamma model
with a log link: a prior whose working step had no finite deviance left the
fit at the prior with ``converged=False`` after "100 iterations"; a prior
far off made Fisher scoring creep (eta moves by at most 1 a step), so fits
and the search for lam ran out of iterations (both now restart once from the
family's start, where R and statsmodels begin); and a prior intercept off by
more than 36 on the log scale put every mean where statsmodels' Gamma
deviance is floored, so the deviance stopped changing and the fit reported
``converged=True`` far from the optimum.

Oracles: statsmodels' score and Hessian (the Newton step at the estimate,
tests/bounds.py), the invariance of the optimum to the prior of an
unpenalized intercept, and the Gamma unit deviance written out.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from bounds import EPS, MARGIN, glm_newton_step

import priorreg as pr
from priorreg import families
from priorreg.selection import _parabola_vertex

TOL = 1e-8  # the IRLS tolerance of these fits (the default)


@pytest.fixture(scope="module")
def gamma_data():
    rng = np.random.default_rng(6)
    n = 200
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    mu = np.exp(X @ [1.0, 0.3, -0.2])
    y = rng.gamma(5.0, mu / 5.0)
    return X, y, sm.families.Gamma(link=sm.families.links.Log())


def assert_at_optimum(family, X, y, res, lam, b0):
    """The estimate is within its stopping rule's radius of the optimum (x MARGIN).

    A relative change of the penalized deviance Q below tol bounds the
    distance to the fixed point by sqrt(2 tol Q / lambda_min(A)), A the
    penalized information (statsmodels' Hessian at scale 1).
    """
    L = np.diag([0.0, 1.0, 1.0])
    b = np.asarray(res.params, dtype=float)
    step, A = glm_newton_step(family, X, y, b, lam=lam, L=L, b0=np.asarray(b0, float))
    Q = res.deviance + lam * (b - b0) @ L @ (b - b0)
    radius = math.sqrt(2 * TOL * Q / np.linalg.eigvalsh(A)[0])
    radius += b.size * EPS * np.linalg.cond(A) * np.linalg.norm(b)  # rounding floor
    assert np.linalg.norm(step) <= MARGIN * radius, (np.linalg.norm(step), radius)


def test_prior_without_a_finite_step_restarts_from_the_family_start(gamma_data):
    X, y, family = gamma_data
    prior = np.array([-50.0, 30.0, 30.0])
    res = pr.PriorGLM(y, X, family=family, prior=prior).fit(lam=1.0)
    assert res.converged
    assert_at_optimum(family, X, y, res, 1.0, prior)


def test_floored_deviance_does_not_fake_convergence(gamma_data):
    X, y, family = gamma_data
    far = np.array([200.0, 0.0, 0.0])  # exp(200): every y/mu below machine epsilon
    res = pr.PriorGLM(y, X, family=family, prior=far).fit(lam=1.0)
    assert res.converged
    assert_at_optimum(family, X, y, res, 1.0, far)
    # the optimum does not depend on the prior of the unpenalized intercept
    near = pr.PriorGLM(y, X, family=family, prior=[1.0, 0.0, 0.0]).fit(lam=1.0)
    assert_at_optimum(family, X, y, near, 1.0, far)


def test_a_fit_that_cannot_converge_still_says_so(gamma_data):
    # slopes held at +-20 by lam = 100: means spanning e^+-80, where Fisher
    # scoring on the Gamma log link creeps; from the prior and from the
    # family's start alike, 100 iterations do not reach the optimum
    X, y, family = gamma_data
    with pytest.warns(pr.ConvergenceWarning, match="did not converge"):
        res = pr.PriorGLM(y, X, family=family, prior=[50.0, 20.0, -20.0]).fit(lam=100.0)
    assert not res.converged


def test_selection_from_a_far_prior_finds_the_same_lam(gamma_data):
    X, y, family = gamma_data
    far = pr.PriorGLM(y, X, family=family, prior=[200.0, 0.0, 0.0]).fit(lam="gcv")
    near = pr.PriorGLM(y, X, family=family, prior=[1.0, 0.0, 0.0]).fit(lam="gcv")
    assert far.converged
    # the same criterion (the intercept's prior does not enter it), searched to
    # 1e-3 on log(lam): the two selections agree to that, x MARGIN
    assert abs(math.log(far.lam) - math.log(near.lam)) <= MARGIN * 1e-3
    assert_at_optimum(family, X, y, far, far.lam, np.zeros(3))


def test_gamma_deviance_without_the_floor():
    family = sm.families.Gamma(link=sm.families.links.Log())
    y = np.array([1.0, 2.0, 3.0, 0.5])
    w = np.array([1.0, 2.0, 1.0, 3.0])
    ones = np.ones(4)
    for mu in (np.array([1.1, 1.9, 2.5, 0.7]), np.array([1.1, 1e20, 2.5, np.exp(200.0)])):
        ours = families.deviance(family, y, mu, w, ones)
        # the unit deviance written out: 2 (log(mu / y) + y / mu - 1)
        exact = float(np.sum(w * 2 * (np.log(mu) - np.log(y) + y / mu - 1)))
        # log(mu) - log(y) of up to ~200 loses ~200 eps absolute per row; 4 rows
        assert ours == pytest.approx(exact, rel=MARGIN * 4 * 200 * EPS)
    usual = np.array([1.1, 1.9, 2.5, 0.7])
    sm_dev = family.deviance(y, usual, var_weights=w, freq_weights=ones, scale=1.0)
    assert families.deviance(family, y, usual, w, ones) == sm_dev  # statsmodels', bit for bit


def test_parabola_through_a_non_converged_neighbour_is_not_computed():
    # a neighbour whose fit did not converge has the value inf: the middle point
    t = np.log([1.0, 10.0, 100.0])
    assert _parabola_vertex(t, np.array([math.inf, 1.0, 2.0])) == t[1]
    assert _parabola_vertex(t, np.array([2.0, 1.0, math.inf])) == t[1]


@pytest.fixture(scope="module")
def binary_data():
    rng = np.random.default_rng(6)
    n = 200
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    p = 1 / (1 + np.exp(-(X @ [-0.4, 0.8, -0.5])))
    return X, (rng.uniform(size=n) < p).astype(float), sm.families.Binomial()


@pytest.mark.parametrize("lam", [1.0, "gcv"])
def test_binomial_prior_beyond_the_clipped_means(binary_data, lam):
    # eta = 300 gives means of exactly 1: statsmodels clips them to 1 - eps and
    # reports a finite, constant deviance, so the fit looked converged at an
    # intercept of -3e14. The intercept is unpenalized: its prior is irrelevant.
    X, y, family = binary_data
    far = pr.PriorGLM(y, X, family=family, prior=[300.0, 0.0, 0.0]).fit(lam=lam)
    near = pr.PriorGLM(y, X, family=family, prior=[0.0, 0.0, 0.0]).fit(lam=lam)
    assert far.converged
    assert far.lam == pytest.approx(near.lam, rel=MARGIN * 1e-3)  # search tolerance
    assert_at_optimum(family, X, y, far, far.lam, np.zeros(3))


def test_binomial_deviance_of_impossible_means_is_infinite():
    family = sm.families.Binomial()
    y = np.array([0.0, 1.0, 0.5])
    ones = np.ones(3)
    assert families.deviance(family, y, np.array([0.2, 0.7, 0.5]), ones, ones) == (
        family.deviance(y, np.array([0.2, 0.7, 0.5]), scale=1.0)
    )
    # a mean of 1 for a response of 0 (or of 0.5): the deviance is infinite
    assert families.deviance(family, y, np.array([1.0, 0.7, 0.5]), ones, ones) == math.inf
    assert families.deviance(family, y, np.array([0.2, 0.7, 1.0]), ones, ones) == math.inf
    # a mean of 1 for a response of 1 is the limit of a perfect fit: finite
    assert math.isfinite(families.deviance(family, y, np.array([0.2, 1.0, 0.5]), ones, ones))


def test_inverse_gaussian_start_without_working_weights_restarts():
    rng = np.random.default_rng(6)
    n = 200
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = rng.wald(np.exp(X @ [1.0, 0.3, -0.2]), 5.0)
    family = sm.families.InverseGaussian(link=sm.families.links.Log())
    # exp(300)^3 overflows: no working weights at the prior
    far = pr.PriorGLM(y, X, family=family, prior=[300.0, 0.0, 0.0]).fit(lam=1.0)
    assert far.converged
    assert_at_optimum(family, X, y, far, 1.0, np.array([300.0, 0.0, 0.0]))


def test_dask_fit_from_a_far_prior_equals_the_in_memory_fit():
    import dask
    import dask.dataframe as dd
    import pandas as pd

    rng = np.random.default_rng(6)
    n = 400
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    p = 1 / (1 + np.exp(-(-0.4 + 0.8 * df.a - 0.5 * df.b)))
    df["y"] = (rng.uniform(size=n) < p).astype(float)
    kw = {"family": sm.families.Binomial(), "prior": {"Intercept": 300.0}}
    memory = pr.PriorGLM.from_formula("y ~ a + b", df, **kw).fit(lam=1.0)
    with dask.config.set(scheduler="sync"):
        lazy = pr.PriorGLM.from_formula("y ~ a + b", dd.from_pandas(df, npartitions=3), **kw)
        res = lazy.fit(lam=1.0)
    assert res.converged
    assert memory.converged
    X = np.column_stack([np.ones(n), df[["a", "b"]]])
    for fit in (memory, res):
        assert_at_optimum(sm.families.Binomial(), X, df["y"].to_numpy(), fit, 1.0,
                          np.array([300.0, 0.0, 0.0]))  # fmt: skip
