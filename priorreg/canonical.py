r"""Working weights, residuals and deviance of a row block for the canonical links.

A pass of penalized IRLS (:func:`priorreg.gram_irls.gram_pass`) needs, per
row block with linear predictor :math:`\eta`, the means
:math:`\mu = g^{-1}(\eta)`, the square roots of the working weights
:math:`W = w / (V(\mu) g'(\mu)^2)`, the weighted working residual
:math:`W^{1/2} g'(\mu)(y - \mu)` and the deviance. Through statsmodels'
family objects each is a chain of calls (each clipping its argument anew);
for the two canonical pairs of the benchmarked models they reduce to a few
array operations on the block while it is in cache:

- binomial with the logit link, one trial per row and ``y`` in {0, 1}:
  :math:`g' = 1/v` and :math:`V = v` with :math:`v = p(1 - p)`, ``p`` the
  mean clipped to :math:`[\epsilon, 1 - \epsilon]` as statsmodels clips it;
  the deviance :math:`-2 \sum w \log(\mu + 10^{-20})` over ``y = 1`` and
  :math:`-2 \sum w \log(1 - \mu + 10^{-20})` over ``y = 0`` (statsmodels'
  terms), infinite where an observed outcome has a mean of exactly 0 or 1
  (as :func:`priorreg.families.deviance`);
- Poisson with the log link: :math:`g' = 1/\max(\mu, \epsilon)` and
  :math:`V = \mu`, and statsmodels' deviance
  :math:`2 \sum w (y \log(\max(y/\mu, \epsilon)) - (y - \mu))`.

The weights are statsmodels' expression :math:`w / (g'^2 V)` itself (so the
same overflow and underflow where a mean leaves the family's range), with
:math:`g'` and :math:`V` computed once per block and the clipping done once;
the values agree to rounding (a few ulps per row). Any other
family, link or response takes statsmodels' route (``None`` here).

Which family-link pair has a shortcut is decided here for both backends
(:func:`canonical_pair`); the Dask IRLS pass
(:mod:`priorreg.outofcore.irls_pass`) takes its unit working quantities from
:func:`unit_working`. The two differ where they must: the block kernels
also need the exact family class, one trial per row and a 0/1 response
(their deviance assumes it), and have no Gaussian kernel (the Gaussian fit
never iterates in memory); the Dask pass keeps statsmodels' deviance and
only needs the weights and link derivative.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from statsmodels.genmod import families as smf

from priorreg._typing import FloatArray

__all__ = ["BlockKernel", "block_kernel", "canonical_pair", "unit_working"]

_EPS = float(np.finfo(float).eps)  # statsmodels' FLOAT_EPS

#: ``kernel(eta, y, w) -> (mu, sw, col, deviance)`` of one row block (``w``
#: the prior weights): the means, ``W^1/2``, ``W^1/2 g'(mu) (y - mu)`` and the
#: block's deviance.
BlockKernel = Callable[
    [FloatArray, FloatArray, FloatArray], tuple[FloatArray, FloatArray, FloatArray, float]
]


def _binary_variance(mu: FloatArray) -> FloatArray:
    r"""The binomial variance :math:`p (1 - p)` of the means clipped as statsmodels clips them.

    ``p`` is ``mu`` clipped to :math:`[\epsilon, 1 - \epsilon]`.
    """
    p = np.clip(mu, _EPS, 1.0 - _EPS)
    return p * (1.0 - p)


def canonical_pair(family: Any) -> str | None:
    """The canonical family-link pairs with a shortcut (``None``: the general route).

    ``"poisson"`` (Poisson, log link), ``"logit"`` (binomial with the logit
    link and a binary variance, one trial) or ``"identity"`` (Gaussian,
    identity link). The link's exact type is tested: statsmodels derives the
    probit and cloglog links from ``Logit``.
    """
    link = type(family.link)
    if isinstance(family, smf.Poisson) and link is smf.links.Log:
        return "poisson"
    if (
        isinstance(family, smf.Binomial)
        and link is smf.links.Logit
        and getattr(family.variance, "n", 1) == 1
    ):
        return "logit"
    if isinstance(family, smf.Gaussian) and link is smf.links.Identity:
        return "identity"
    return None


def unit_working(family: Any, mu: FloatArray, kind: str | None = None) -> tuple[Any, Any]:
    r"""``(family.weights(mu), family.link.deriv(mu))``, with the canonical links' shortcut.

    For a canonical link :math:`g'(\mu) = 1 / V(\mu)`, so the IRLS weight
    :math:`1 / (g'^2 V)` is :math:`V(\mu)`: Poisson-log :math:`(\mu, 1/\mu)`,
    logit :math:`(p(1-p), 1/(p(1-p)))` with ``p`` clipped as statsmodels
    clips it, Gaussian-identity ``(1, 1)``. Otherwise statsmodels' link
    derivative and variance, the derivative computed once. ``kind`` is
    :func:`canonical_pair` of ``family``.
    """
    if kind == "poisson":
        return mu, 1.0 / mu
    if kind == "logit":
        v = _binary_variance(mu)
        return v, 1.0 / v
    if kind == "identity":
        return 1.0, 1.0
    gprime = family.link.deriv(mu)
    return 1.0 / (gprime**2 * family.variance(mu)), gprime


def _logit_binary(
    eta: FloatArray, y: FloatArray, w: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, float]:
    """Logit link, 0/1 response (one trial per row)."""
    mu = 1.0 / (1.0 + np.exp(-eta))
    v = _binary_variance(mu)
    d = 1.0 / v  # g'(mu)
    sw = np.sqrt(w * (1.0 / (d * d * v)))
    col = sw * (d * (y - mu))
    # statsmodels: y log(y / (mu + 1e-20)) + (1 - y) log((1 - y) / (1 - mu + 1e-20))
    # (each ratio clipped below at eps, which binds only at y = 0, where 0 log(eps) = 0)
    q = np.where(y > 0, mu, 1.0 - mu)  # the probability of the observed outcome
    deviance = -2.0 * float(w @ np.log(q + 1e-20))
    if np.min(q) <= 0 and np.any((q <= 0) & (w > 0)):
        # an outcome of probability exactly 0: infinite (priorreg.families.deviance)
        deviance = math.inf
    return mu, sw, col, deviance


def _log_poisson(
    eta: FloatArray, y: FloatArray, w: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, float]:
    """Log link, Poisson response."""
    mu = np.exp(eta)
    d = 1.0 / np.maximum(mu, _EPS)  # g'(mu)
    sw = np.sqrt(w * (1.0 / (d * d * mu)))  # V(mu) = mu (mu >= 0 here)
    col = sw * (d * (y - mu))
    ratio = np.maximum(y / mu, _EPS)
    deviance = 2.0 * float(w @ (y * np.log(ratio) - (y - mu)))
    return mu, sw, col, deviance


def block_kernel(family: Any, y: FloatArray, var_weights: FloatArray) -> BlockKernel | None:
    """The canonical-link kernel for ``family`` and response ``y``, or ``None``.

    Parameters
    ----------
    family : statsmodels family
    y : ndarray of shape (n_obs,)
        Response (binomial: proportions).
    var_weights : ndarray of shape (n_obs,)
        Variance weights (binomial: trials).

    Returns
    -------
    BlockKernel or None
        ``None`` for other families and links (exactly these classes, not
        subclasses, which may change a function), a binomial with more than
        one trial in a row or a response outside {0, 1}.
    """
    pair = canonical_pair(family)
    # the exact family class too: a subclass may change a function the kernel inlines
    if pair == "poisson" and type(family) is smf.Poisson:
        return _log_poisson
    if (
        pair == "logit"
        and type(family) is smf.Binomial
        and getattr(family, "n", 1) == 1
        and bool(np.all(var_weights == 1))
        and bool(np.all((y == 0) | (y == 1)))
    ):
        return _logit_binary
    return None
