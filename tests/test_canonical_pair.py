"""One decision of which family-link pairs have a canonical shortcut, for both backends.

Oracles: the pairs by definition (statsmodels' family classes and the exact
link class, the probit and cloglog links being subclasses of ``Logit``); the
in-memory kernel's choice against its rule written out independently here
(exact family class, one trial, unit variance weights, 0/1 response), so
that sharing the pair detection changes no backend's choice; statsmodels'
binomial variance for the clipped variance both backends use.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from priorreg.canonical import _binary_variance, block_kernel, canonical_pair

F, L = sm.families, sm.families.links


class _MyPoisson(F.Poisson):
    """A subclass: the Dask pass takes it as Poisson, the block kernels do not."""


PAIRS = [
    ("poisson-log", F.Poisson(), "poisson"),
    ("poisson-sqrt", F.Poisson(L.Sqrt()), None),
    ("poisson-subclass", _MyPoisson(), "poisson"),
    ("logit", F.Binomial(), "logit"),
    ("probit", F.Binomial(L.Probit()), None),
    ("cloglog", F.Binomial(L.CLogLog()), None),
    ("gaussian-identity", F.Gaussian(), "identity"),
    ("gaussian-log", F.Gaussian(L.Log()), None),
    ("gamma-inverse", F.Gamma(), None),  # canonical, but no shortcut
    ("negbin-log", F.NegativeBinomial(L.Log(), alpha=1.0), None),
]


@pytest.mark.parametrize(("name", "family", "pair"), PAIRS, ids=[p[0] for p in PAIRS])
def test_canonical_pair(name, family, pair):
    assert canonical_pair(family) == pair


def _former_rule(family, y, var_weights):
    """The in-memory kernels' choice as written before the detection was shared."""
    link = family.link
    if type(family) is F.Poisson and type(link) is L.Log:
        return "poisson"
    if (
        type(family) is F.Binomial
        and type(link) is L.Logit
        and getattr(family, "n", 1) == 1
        and getattr(family.variance, "n", 1) == 1
        and np.all(var_weights == 1)
        and np.all((y == 0) | (y == 1))
    ):
        return "logit"
    return None


@pytest.mark.parametrize(("name", "family", "pair"), PAIRS, ids=[p[0] for p in PAIRS])
@pytest.mark.parametrize("response", ["binary", "proportions", "counts"])
@pytest.mark.parametrize("trials", [1.0, 3.0])
def test_block_kernel_choice_is_unchanged(name, family, pair, response, trials):
    n = 8
    y = {
        "binary": np.array([0.0, 1.0] * (n // 2)),
        "proportions": np.linspace(0.0, 1.0, n),
        "counts": np.arange(n, dtype=float),
    }[response]
    var_weights = np.full(n, trials)
    kernel = block_kernel(family, y, var_weights)
    former = _former_rule(family, y, var_weights)
    assert (kernel is None) == (former is None)
    if former is not None:
        assert kernel.__name__ == {"poisson": "_log_poisson", "logit": "_logit_binary"}[former]


def test_binary_variance_is_statsmodels_to_the_bit():
    # statsmodels' Binomial variance (n = 1): p (1 - p) * 1 with p = clip(mu / 1, eps, 1 - eps),
    # the same correctly rounded operations: equal bit for bit
    rng = np.random.default_rng(11)
    mu = np.concatenate(
        [rng.uniform(0.0, 1.0, 1000), [0.0, 1e-300, 1e-17, 0.5, 1.0 - 1e-17, 1.0, np.nan]]
    )
    expected = F.Binomial().variance(mu)
    np.testing.assert_array_equal(_binary_variance(mu), expected)
