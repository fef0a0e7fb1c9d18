"""Notes for the summary of a fit whose numbers are degenerate (said where users read them).

A constant response has no R-squared, a fit without residual degrees of
freedom no scale, and a separated GLM estimates that the prior alone set:
statsmodels and R print NaN or warn; priorreg prints NaN and says why.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["summary_notes"]


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
