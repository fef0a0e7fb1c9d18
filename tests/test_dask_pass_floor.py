"""A Dask IRLS pass whose means reach a floor in one chunk of many computes its own log-likelihood.

Where a floor of the log-likelihood or the deviance applies (binomial means
beyond ``1 - 1e-16``), ``ll = c - D/2`` does not hold, and the pass sums the
log-likelihood itself over every chunk (:class:`priorreg.outofcore.irls_pass._PointSums`).
Oracle: :func:`priorreg.families.loglike` (statsmodels' formula with the
binomial coefficients) on the whole arrays at once, the means computed
densely from ``X b + offset``.
"""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from bounds import EPS, MARGIN
from scipy.special import gammaln

from priorreg import families as _families
from priorreg.outofcore.irls_pass import _PASS_ROWS, Asks, PointSpec, glm_point, loglike_constant
from priorreg.outofcore.passes import _Block

F = sm.families


def test_a_floor_in_the_first_chunk_makes_the_pass_sum_loglike_over_every_chunk():
    rng = np.random.default_rng(17)
    n = 3 * _PASS_ROWS + 101  # four chunks, the last one short
    x = rng.uniform(-0.3, 0.3, n)
    x[:50] = np.linspace(0.7, 1.0, 50)  # eta = 60 x >= 42 there: means of exactly 1
    offset = rng.normal(scale=0.1, size=n)
    trials = rng.integers(1, 4, n).astype(float)
    freq = rng.integers(1, 3, n).astype(float)
    params = np.array([0.0, 60.0])
    mu = F.Binomial().link.inverse(params[0] + params[1] * x + offset)
    y = rng.binomial(trials.astype(int), np.clip(mu, 0.0, 1.0)) / trials
    y[:50] = 1.0  # a finite deviance where the means are 1
    rows = {"offset": offset, "var_weights": trials, "freq_weights": freq}
    block = _Block(y, rows=rows, columns=(1.0, x.copy()))
    out = glm_point(block, F.Binomial(), PointSpec(params), np.zeros(2), Asks())
    # the floor applies in the first chunk only: later chunks must not clear the flag
    assert np.max(mu[:_PASS_ROWS]) > 1.0 - 1e-16
    assert np.max(mu[_PASS_ROWS:]) <= 1.0 - 1e-16
    assert out["ll_floored"] == 1
    assert loglike_constant(F.Binomial(), out) is None
    ll = _families.loglike(F.Binomial(), y, mu, trials, freq, 1.0)
    # the same terms summed in chunks and whole: n eps sum|term| rounding, each term
    # bounded by f (n y |log mu| + n (1 - y) |log(1 - mu)| + log n!); 10x margin
    clip = np.clip(mu, 1e-300, 1 - 1e-16)
    logs = trials * (y * np.abs(np.log(clip)) + (1 - y) * np.abs(np.log1p(-clip)))
    terms = freq * (logs + gammaln(trials + 1.0))
    assert abs(out["ll1"] - ll) <= MARGIN * n * EPS * float(np.sum(terms))
    # the test can tell: the first chunk alone, or the last, is far from the whole sum
    first = _families.loglike(
        F.Binomial(), y[:_PASS_ROWS], mu[:_PASS_ROWS], trials[:_PASS_ROWS], freq[:_PASS_ROWS], 1.0
    )
    assert abs(first - ll) > 1e3 * MARGIN * n * EPS * float(np.sum(terms))
