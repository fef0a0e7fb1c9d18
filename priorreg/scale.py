r"""The dispersion (scale) of a GLM fit, with statsmodels' ``GLM.fit(scale=...)`` options.

With Pearson's chi-square :math:`X^2 = \sum_i f_i v_i (y_i - \mu_i)^2 / V(\mu_i)`
(frequency weights :math:`f`, variance weights :math:`v`), the deviance
:math:`D` and :math:`n - \mathrm{edf}` residual degrees of freedom
(:math:`n = \sum_i f_i`):

.. math::

    \phi = \begin{cases}
      1 & \text{None, Binomial, Poisson, NegativeBinomial} \\
      X^2 / (n - \mathrm{edf}) & \text{None (other families) or "x2"} \\
      D / (n - \mathrm{edf}) & \text{"dev"} \\
      c & \text{a number } c > 0 .
    \end{cases}

``"x2"`` with the Poisson family is the quasi-Poisson model of R (the
estimates are those of the Poisson fit; standard errors grow by
:math:`\sqrt\phi`). At ``lam = 0`` (``edf`` = rank) these are statsmodels'
``GLM.fit(scale=...)`` values.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from priorreg import families as _families
from priorreg.exceptions import warn

__all__ = [
    "check_criterion_scale",
    "check_scale",
    "dispersion",
    "is_estimated",
    "known_scale",
    "model_scale",
    "needs_deviance",
    "needs_pearson",
]


def check_scale(scale: Any) -> str | float | None:
    """Validate a scale option: ``None``, ``"x2"``, ``"dev"`` or a number > 0.

    Raises
    ------
    ValueError, TypeError
        Naming the value and the accepted ones.
    """
    if scale is None:
        return None
    if isinstance(scale, str):
        key = scale.lower()
        if key not in ("x2", "dev"):
            raise ValueError(
                f"scale={scale!r} is not known; use None (the family's default), 'x2' "
                "(Pearson chi2 / df_resid), 'dev' (deviance / df_resid) or a number > 0"
            )
        return key
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(
            f"scale must be None, 'x2', 'dev' or a number > 0, not {type(scale).__name__}"
        )
    value = float(scale)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"scale must be a positive number, got {scale!r}; use a finite value > 0, "
            "'x2' or 'dev'"
        )
    return value


def is_estimated(scale: str | float | None, family: Any) -> bool:
    """Whether the dispersion is estimated from the data (then tests use t)."""
    if scale is None:
        return not _families.is_known_scale(family)
    return isinstance(scale, str)


def needs_pearson(scale: str | float | None, family: Any) -> bool:
    """Whether :func:`dispersion` reads Pearson's chi-square."""
    return scale == "x2" or (scale is None and not _families.is_known_scale(family))


def needs_deviance(scale: str | float | None) -> bool:
    """Whether :func:`dispersion` reads the deviance."""
    return scale == "dev"


def dispersion(
    scale: str | float | None, family: Any, pearson: float, deviance: float, df_resid: float
) -> float:
    r"""The dispersion :math:`\phi` of the module docstring (NaN when ``df_resid <= 0``)."""
    if isinstance(scale, float):
        return scale
    if scale is None and _families.is_known_scale(family):
        return 1.0
    stat = deviance if scale == "dev" else pearson
    return stat / df_resid if df_resid > 0 else float("nan")


def known_scale(scale: str | float | None, family: Any, what: str) -> float:
    """The known dispersion for ``what`` (e.g. UBRE), or a ``ValueError``."""
    if isinstance(scale, float):
        return scale
    if scale is None and _families.is_known_scale(family):
        return 1.0
    name = type(family).__name__
    if scale is None:
        reason = f"the {name} family's dispersion is estimated"
        fix = "Pass fit(scale=number) for a known dispersion, or use lam='gcv' (or 'reml')"
    else:
        reason = f"scale={scale!r} estimates the dispersion from the data"
        fix = "Use lam='gcv', or pass fit(scale=number) for a known dispersion"
    raise ValueError(f"{what} needs a known scale: {reason}. {fix}")


def check_criterion_scale(criterion: str, scale: str | float | None, family: Any) -> None:
    """Refuse selection criteria that the scale option leaves undefined.

    ``ubre`` needs a known scale. ``aic`` and ``reml`` need a likelihood;
    with ``"x2"`` or ``"dev"`` for a family whose dispersion is 1 (a
    quasi-likelihood model such as quasi-Poisson) there is none, as in R,
    where such fits have no AIC.
    """
    if criterion == "ubre":
        known_scale(scale, family, "ubre")
    elif (
        criterion in ("aic", "reml")
        and isinstance(scale, str)
        and _families.is_known_scale(family)
    ):
        raise ValueError(
            f"{criterion} needs a likelihood, and scale={scale!r} with the "
            f"{type(family).__name__} family is a quasi-likelihood model: "
            "use lam='gcv' (or 'loocv')"
        )


def model_scale(scale: Any) -> str | float | None:
    """The deprecated model-level ``scale=``: validated, with a ``FutureWarning``.

    It becomes the default of ``fit(scale=None)``, as before; ``fit(scale=...)``
    is the one place for the option, as in statsmodels.
    """
    if scale is None:
        return None
    value = check_scale(scale)
    warn(
        "PriorGLM(..., scale=) is deprecated and will be removed: pass the scale to "
        f"fit(scale={value!r}) instead (also 'x2' or 'dev', as statsmodels' GLM.fit)",
        FutureWarning,
    )
    return value
