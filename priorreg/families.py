"""A thin adapter over ``statsmodels.genmod.families``: checks and likelihoods."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import gammaln
from statsmodels.genmod import families as smf
from statsmodels.tools.sm_exceptions import ValueWarning

from priorreg._typing import FloatArray
from priorreg.exceptions import warn

__all__ = [
    "FAMILIES",
    "LINKS",
    "check_family",
    "check_response",
    "describe",
    "deviance",
    "family_from_json",
    "family_from_names",
    "family_instance",
    "family_to_json",
    "is_known_scale",
    "loglike",
]

_KNOWN_SCALE = (smf.Binomial, smf.Poisson, smf.NegativeBinomial)
#: statsmodels' floor on ratios inside its deviances (``Family._clean``)
_FLOAT_EPS = np.finfo(float).eps

#: Family names (command line, prior files) -> statsmodels class names. A name
#: read from a file is only ever looked up here.
FAMILIES = {
    "gaussian": "Gaussian",
    "binomial": "Binomial",
    "poisson": "Poisson",
    "gamma": "Gamma",
    "inverse_gaussian": "InverseGaussian",
    "negative_binomial": "NegativeBinomial",
    "tweedie": "Tweedie",
}
#: Link names -> statsmodels link class names.
LINKS = {
    "identity": "Identity",
    "log": "Log",
    "logit": "Logit",
    "probit": "Probit",
    "cloglog": "CLogLog",
    "loglog": "LogLog",
    "cauchy": "Cauchy",
    "inverse": "InversePower",
    "inverse_squared": "InverseSquared",
    "sqrt": "Sqrt",
}
#: Numeric parameters of families that a prior file records.
_FAMILY_PARAMETERS = {"negative_binomial": ("alpha",), "tweedie": ("var_power",)}


def family_instance(family: type[smf.Family]) -> smf.Family:
    """``family()``, with statsmodels' warning on a default parameter pointing at the user.

    A negative binomial class without ``alpha`` gets statsmodels' default
    ``alpha=1``, and statsmodels' warning is issued by :func:`priorreg.exceptions.warn`,
    so it points at the user's line (and needs no change of the warning filters).
    """
    if issubclass(family, smf.NegativeBinomial):
        warn(
            "Negative binomial dispersion parameter alpha not set. Using default value "
            "alpha=1.0. Pass sm.families.NegativeBinomial(alpha=...) to set it.",
            ValueWarning,
        )
        return family(alpha=1.0)
    return family()


def check_family(family: Any) -> smf.Family:
    """Return ``family`` if it is a statsmodels family instance, else raise."""
    if isinstance(family, type) and issubclass(family, smf.Family):
        return family_instance(family)
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
            f"(first at position {int(rows[0])}: {float(np.ravel(y)[rows[0]]):g}); check the "
            "response column, or choose a family whose support includes it"
        )


def deviance(
    family: smf.Family,
    y: FloatArray,
    mu: FloatArray,
    var_weights: FloatArray,
    freq_weights: FloatArray,
) -> float:
    """Deviance as statsmodels computes it (scale 1), without its floors on ``mu``.

    A binomial mean of exactly 0 or 1 (``eta`` beyond about 37) where the
    response is not 0 or 1 has an infinite deviance; statsmodels clips the
    mean to ``[eps, 1 - eps]`` and reports a finite, constant one, so a start
    beyond that range (a far prior intercept) looked converged. Likewise
    statsmodels computes the Gamma unit deviance ``2 (-log(y/mu) + (y - mu)/mu)``
    with ``y/mu`` clipped at machine epsilon, so the deviance stops changing
    once a mean exceeds ``y`` by a factor of ``4.5e15``: a start far from the
    data (a prior intercept off by 36 on the log scale) would look converged.
    Those rows get their exact ``-log(y/mu)`` here; every other value is
    statsmodels' own, bit for bit.
    """
    dev = float(
        family.deviance(y, mu, var_weights=var_weights, freq_weights=freq_weights, scale=1.0)
    )
    if not (np.isfinite(dev) and np.size(mu)):
        return dev
    # the checks below cost a min and a max over the means unless a floor applies
    if isinstance(family, smf.Binomial) and (np.min(mu) <= 0 or np.max(mu) >= 1):
        # statsmodels clips mu to [eps, 1 - eps]: a mean of exactly 0 or 1 where the
        # response is not has an infinite deviance, not 2 log(1/eps) = 72 per row
        impossible = ((mu <= 0) & (y > 0)) | ((mu >= 1) & (y < 1))
        if np.any(impossible & (np.broadcast_to(var_weights * freq_weights, y.shape) > 0)):
            return math.inf
    if isinstance(family, smf.Gamma) and np.max(mu) * _FLOAT_EPS > np.min(y):
        ratio = y / mu
        low = ratio < _FLOAT_EPS
        if np.any(low):
            # -log(ratio) instead of -log(eps); log(mu) - log(y) where the ratio underflows
            exact = np.where(ratio[low] > 0, -np.log(ratio[low]), np.log(mu[low]) - np.log(y[low]))
            weight = np.broadcast_to(var_weights * freq_weights, y.shape)[low]
            dev += float(2 * np.sum(weight * (exact + np.log(_FLOAT_EPS))))
    return dev


def _single_trials(n: FloatArray, succ: FloatArray) -> bool:
    """Every row is one trial with 0 or 1 success: its binomial coefficient is 1."""
    return bool(np.all(n == 1) and np.all((succ == 0) | (succ == 1)))


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
        obs = succ * np.log(mu_c) + (n - succ) * np.log1p(-mu_c)
        if not _single_trials(n, succ):  # log C(1, 0) = log C(1, 1) = 0 exactly
            obs = gammaln(n + 1) - gammaln(succ + 1) - gammaln(n - succ + 1) + obs
        return float(np.sum(freq_weights * obs))
    with np.errstate(all="ignore"):  # a zero or NaN scale (exact fit, no df) gives inf/NaN
        return float(
            family.loglike(y, mu, var_weights=var_weights, freq_weights=freq_weights, scale=scale)
        )


def family_from_names(
    name: str, link: str | None = None, parameters: dict[str, float] | None = None
) -> smf.Family:
    """A family from the names of :data:`FAMILIES` and :data:`LINKS` (nothing evaluated).

    Raises
    ------
    ValueError
        An unknown name (listing the known ones) or a link the family refuses.
    """
    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; use one of {sorted(FAMILIES)}")
    kwargs: dict[str, Any] = dict(parameters or {})
    if link is not None:
        if link not in LINKS:
            raise ValueError(f"unknown link {link!r}; use one of {sorted(LINKS)}")
        kwargs["link"] = getattr(smf.links, LINKS[link])()
    cls = getattr(smf, FAMILIES[name])
    allowed = tuple(getattr(cls, "links", [object]))  # statsmodels' own test: isinstance
    if link is not None and not isinstance(kwargs["link"], allowed):
        valid = sorted(k for k, v in LINKS.items() if issubclass(getattr(smf.links, v), allowed))
        raise ValueError(
            f"link {link!r} does not suit the {name} family; use one of {valid} "
            "(or leave the link out for the family's canonical one)"
        )
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"link {link!r} does not suit the {name} family: {exc}") from exc


def _name_of(obj: Any, table: dict[str, str]) -> str | None:
    return next((key for key, cls in table.items() if type(obj).__name__ == cls), None)


def describe(family: smf.Family) -> str:
    """E.g. ``"Poisson(link=Log)"``, for messages."""
    return f"{type(family).__name__}(link={type(family.link).__name__})"


def family_to_json(family: smf.Family) -> dict[str, Any]:
    """Names (and numeric parameters) that rebuild ``family``; ``name`` null if none do."""
    name = _name_of(family, FAMILIES)
    link = _name_of(family.link, LINKS)
    doc: dict[str, Any] = {"name": name, "link": link, "text": describe(family)}
    if name is None or link is None or getattr(family, "eql", False):
        doc["name"] = None  # e.g. a Power(0.3) link: not in the tables
        return doc
    for key in _FAMILY_PARAMETERS.get(name, ()):
        doc[key] = float(getattr(family, key))
    return doc


def family_from_json(doc: Any) -> tuple[smf.Family | None, str | None]:
    """``(family, text)`` from :func:`family_to_json` output; ``family`` None if not rebuildable."""
    if doc is None:
        return None, None
    if not isinstance(doc, dict):
        raise ValueError("family is not an object")
    text = doc.get("text")
    text = text if isinstance(text, str) else None
    name, link = doc.get("name"), doc.get("link")
    if name is None:
        return None, text
    if not isinstance(name, str) or not (link is None or isinstance(link, str)):
        raise ValueError("family and link names must be strings")
    parameters: dict[str, float] = {}
    for key in _FAMILY_PARAMETERS.get(name, ()):
        value = doc.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"family parameter {key} must be a positive number")
        parameters[key] = float(value)
    return family_from_names(name, link, parameters), text
