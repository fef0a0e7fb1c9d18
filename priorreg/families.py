"""A thin adapter over ``statsmodels.genmod.families``: checks and likelihoods."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import gammaln
from statsmodels.genmod import families as smf

from priorreg._typing import FloatArray

__all__ = ["check_family", "check_response", "is_known_scale", "loglike"]

_KNOWN_SCALE = (smf.Binomial, smf.Poisson, smf.NegativeBinomial)


def check_family(family: Any) -> smf.Family:
    """Return ``family`` if it is a statsmodels family instance, else raise."""
    if isinstance(family, type) and issubclass(family, smf.Family):
        return family()
    if not isinstance(family, smf.Family):
        raise TypeError(
            "family must be a statsmodels family, e.g. sm.families.Poisson() or "
            f"sm.families.Binomial(link=sm.families.links.Probit()); got {family!r}"
        )
    return family


def is_known_scale(family: smf.Family) -> bool:
    """Binomial, Poisson and negative binomial have dispersion 1."""
    return isinstance(family, _KNOWN_SCALE)


def check_response(family: smf.Family, y: FloatArray) -> None:
    """A response outside the family's support is a ``ValueError``."""
    name = type(family).__name__
    if isinstance(family, smf.Binomial):
        bad = (y < 0) | (y > 1)
        rule = "in [0, 1] (0/1 or proportions; two columns for successes, failures)"
    elif isinstance(family, (smf.Poisson, smf.NegativeBinomial, smf.Tweedie)):
        bad = y < 0
        rule = ">= 0"
    elif isinstance(family, (smf.Gamma, smf.InverseGaussian)):
        bad = y <= 0
        rule = "> 0"
    else:
        return
    if np.any(bad):
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"the {name} family needs a response {rule}; {rows.size} value(s) are not "
            f"(first at position {int(rows[0])}: {y[rows[0]]!r})"
        )


def loglike(
    family: smf.Family,
    y: FloatArray,
    mu: FloatArray,
    var_weights: FloatArray,
    freq_weights: FloatArray,
    scale: float,
) -> float:
    """Full log-likelihood as statsmodels' families compute it.

    For the binomial with ``var_weights`` = trials (proportions, or the two
    column form), the binomial coefficients are included, as in R's ``glm``:
    ``sum fw [log C(n, ny) + ny log mu + n(1-y) log(1-mu)]``.
    """
    if isinstance(family, smf.Binomial):
        n = var_weights
        mu_c = np.clip(mu, 1e-300, 1 - 1e-16)
        succ = n * y
        obs = (
            gammaln(n + 1)
            - gammaln(succ + 1)
            - gammaln(n - succ + 1)
            + succ * np.log(mu_c)
            + (n - succ) * np.log1p(-mu_c)
        )
        return float(np.sum(freq_weights * obs))
    with np.errstate(all="ignore"):  # a zero or NaN scale (exact fit, no df) gives inf/NaN
        return float(
            family.loglike(y, mu, var_weights=var_weights, freq_weights=freq_weights, scale=scale)
        )
