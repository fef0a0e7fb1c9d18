"""A Dask IRLS pass with an offset and an exposure: both enter the linear predictor.

:func:`priorreg.outofcore.model._glm_arrays` adds ``offset + log(exposure)``
only when a block has both (one alone is used as it is, none is a broadcast
zero). Oracle: statsmodels' Poisson deviance, Pearson sum and weights at
the means computed densely from ``eta = X b + offset + log(exposure)``, the
working response written out, and the dense Gram matrix of the weighted
working problem.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from bounds import EPS, MARGIN

from priorreg.outofcore.irls_pass import _PASS_ROWS, Asks, PointSpec, glm_point
from priorreg.outofcore.passes import _Block

F = sm.families


@pytest.mark.parametrize("rows", ["offset", "exposure", "both"])
def test_offset_and_exposure_enter_eta(rows):
    rng = np.random.default_rng(23)
    n = 2 * _PASS_ROWS + 37
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    offset = rng.normal(scale=0.3, size=n)
    exposure = rng.uniform(0.5, 3.0, n)
    parts = {"offset": {"offset": offset}, "exposure": {"exposure": exposure}}
    given = parts.get(rows, {"offset": offset, "exposure": exposure})
    total = given.get("offset", 0.0) + np.log(given.get("exposure", 1.0))
    params, b0 = np.array([0.2, 0.3]), np.array([0.1, 0.0])
    eta = X @ params + total
    family = F.Poisson()
    mu = family.link.inverse(eta)
    y = rng.poisson(mu).astype(float)
    block = _Block(y, rows=dict(given), columns=(1.0, x.copy()))
    out = glm_point(block, family, PointSpec(params), b0, Asks())
    # sums of n terms: n eps sum|terms| rounding; 10x margin
    dev = family.deviance(y, mu)
    assert out["dev"] == pytest.approx(dev, rel=MARGIN * n * EPS)
    pearson = np.sum((y - mu) ** 2 / family.variance(mu))
    assert out["pearson"] == pytest.approx(pearson, rel=MARGIN * n * EPS)
    W = family.weights(mu)
    t = X @ (params - b0) + (y - mu) / mu  # z - offset - X b0, g'(mu) = 1/mu
    A = np.column_stack([X, t]) * np.sqrt(W)[:, None]
    R = out["work_R"]
    # as test_dask_irls_pass: |R'R - A'A| <= 3 k n eps ||A||_F^2; 10x margin
    bound = MARGIN * 3 * A.shape[1] * n * EPS * np.linalg.norm(A) ** 2
    assert np.max(np.abs(R.T @ R - A.T @ A)) <= bound
    # the test can tell: leaving out either part moves the deviance far beyond that
    for part in (offset, np.log(exposure)):
        if rows == "both":
            dropped = family.link.inverse(eta - part)
            assert abs(family.deviance(y, dropped) - dev) > 1e3 * MARGIN * n * EPS * dev
