"""Notes for the summary of a fit whose numbers are degenerate (said where users read them).

A constant response has no R-squared, a fit without residual degrees of
freedom no scale, and a separated GLM estimates that the prior alone set:
statsmodels and R print NaN or warn; priorreg prints NaN and says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from priorreg import scale as _scale
from priorreg.selection import warn_on_edge
from priorreg.separation import model_separation

__all__ = ["estimated_scale", "exact_deviance", "summary_notes", "warn_glm_edge"]

#: A deviance below this share of ``sum w |y|`` (eps with a margin of 1e3: each
#: unit deviance of an exact fit is rounding of size eps |y|) is an exact fit.
_EXACT_DEVIANCE = 1e3 * float(np.finfo(float).eps)


def estimated_scale(model: Any) -> bool:
    """The GLM's scale is estimated (not known to be 1 nor given; :mod:`priorreg.scale`)."""
    return _scale.is_estimated(model.scaletype, model.family)


def exact_deviance(model: Any, deviances: Sequence[float]) -> bool:
    """Every deviance is rounding of the response's size: an exact fit (in-memory GLMs)."""
    problem = getattr(model, "problem", None)
    if problem is None:  # out of core: no in-memory arrays
        return False
    size = float(np.sum(problem.prior_weights * (np.abs(problem.y) + 1)))
    return bool(np.max(deviances) <= _EXACT_DEVIANCE * size)


def warn_glm_edge(
    model: Any,
    criterion: str,
    lam: float,
    upper: bool,
    values: Sequence[float],
    deviances: Sequence[float],
) -> None:
    """The edge warning of a GLM search, unless another warning covers its cause.

    Separated data get the separation warning instead. An exact fit at every
    ``lam`` (e.g. a constant response) leaves ``lam`` undetermined: said once,
    by the results' exact-fit warning when the scale is estimated (it will be
    0), else by a flat-criterion edge warning.
    """
    if model_separation(model) is not None:
        return
    exact = exact_deviance(model, deviances)
    if exact and estimated_scale(model):
        return
    warn_on_edge(criterion, lam, upper=upper, values=np.asarray(values), flat=exact or None)


def summary_notes(res: Any) -> list[str]:
    """One sentence per degenerate number of ``res``, for the summary's notes."""
    notes = []
    if not np.isfinite(res.rsquared):
        notes.append(
            "R-squared is undefined (NaN): the response does not vary (or the null "
            "model fits exactly), so there is nothing to explain."
        )
    if not np.isfinite(res.scale):
        notes.append(
            f"No residual degrees of freedom (df_resid = {res.df_resid:.3g}): the scale, "
            "standard errors, tests and intervals are NaN; the estimates are those of the "
            "penalized fit."
        )
    elif res.scale == 0:
        notes.append("The fit is exact (residuals 0): standard errors are 0, tests undefined.")
    separation = getattr(res, "separation", None)
    if separation is not None:
        notes.append(
            f"Separation along {separation.columns}: the data alone push these estimates "
            "to infinity; their values (and intervals) are set by the prior and lam."
        )
    return notes
