"""Small simulated GLM data shared by the tests of the GLM penalty search."""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm

F = sm.families


def simulated_glm(rng, family, n=400, k=6):
    """``(X, y, prior)``: an intercept plus ``k - 1`` normal columns, ``y`` from ``family``.

    Poisson and Binomial (any link) use the canonical inverse link for the
    means; anything else draws Gamma responses with a log link. The prior is
    the true coefficients plus N(0, 0.3^2) noise.
    """
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    beta = rng.normal(scale=0.3, size=k)
    eta = X @ beta
    if isinstance(family, F.Poisson):
        y = rng.poisson(np.exp(eta)).astype(float)
    elif isinstance(family, F.Binomial):
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    else:  # Gamma, log link
        y = rng.gamma(2.0, np.exp(eta) / 2.0)
    return X, y, beta + rng.normal(scale=0.3, size=k)


def sqrt_poisson(seed=4, n=400, k=6):
    """``(X, y, prior)``: Poisson, square-root link, fits with rows where ``eta < 0``.

    The intercept is 2 and ``y ~ Poisson(max(eta, 0.05)^2)``, so ``y = 0``
    where the linear predictor is small; the prior is the true coefficients
    plus N(0, 0.3^2) noise.
    """
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    beta = rng.normal(scale=0.3, size=k)
    beta[0] = 2.0
    y = rng.poisson(np.maximum(X @ beta, 0.05) ** 2).astype(float)
    return X, y, beta + rng.normal(scale=0.3, size=k)


def sqrt_negbin(seed=3, n=200):
    """``(X, y, beta)``: negative binomial (alpha 1), square-root link, a U-shaped mean.

    ``mu = (X beta)^2`` with a covariate uniform on [-2, 2] whose coefficient
    makes the linear predictor cross zero: about a third of the rows have
    ``eta`` well below 0 and few are near 0. The Fisher weights
    ``4 / (1 + eta^2)`` are not constant (Poisson's are, with this link), so
    their slope in ``eta`` shows the sign of ``d mu/d eta``.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, n)
    X = np.column_stack([np.ones(n), x, rng.normal(size=(n, 3))])
    beta = np.array([0.5, 1.5, 0.3, -0.2, 0.1])
    mu = (X @ beta) ** 2
    y = rng.negative_binomial(1.0, 1.0 / (1.0 + mu)).astype(float)  # var mu + mu^2
    return X, y, beta
