r"""Does the default penalty depend on the units of the columns? Say so once.

The identity penalty :math:`\lambda \sum_j (b_j - b_{0j})^2` weighs one unit
of every coefficient alike. A coefficient's size is inverse to its column's
scale, so with column standard deviations :math:`s_j` the penalty on the
standardized coefficients :math:`s_j b_j` is :math:`\lambda \sum_j
(s_j b_j - s_j b_{0j})^2 / s_j^2`: columns are penalized in proportion to
:math:`1/s_j^2`. A ratio of standard deviations above 100 means penalties
10,000x apart, which decides which coefficients stay at the prior.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from priorreg._typing import FloatArray
from priorreg.exceptions import PenaltyUnitsWarning, warn
from priorreg.penalty import column_sd

__all__ = [
    "UNITS_RATIO",
    "penalty_units_message",
    "units_message_from_sd",
    "warn_penalty_units",
]

#: Largest ratio of the standard deviations of penalized columns that the
#: default penalty accepts without a warning.
UNITS_RATIO = 100.0

def penalty_units_message(
    X: FloatArray, weights: FloatArray | None, penalized: FloatArray, names: Sequence[str]
) -> str | None:
    """What to say when penalized columns' standard deviations differ more than 100x.

    Parameters
    ----------
    X : ndarray of shape (n_obs, n_coef)
    weights : ndarray of shape (n_obs,) or None
        Observation weights for the standard deviations.
    penalized : ndarray of bool, shape (n_coef,)
        Columns the default penalty weighs.
    names : sequence of str
        Column names, for the message.

    Returns
    -------
    str or None
        The message, ``None`` when the scales are within 100x of each other.
    """
    return units_message_from_sd(column_sd(X, weights), penalized, names)


def units_message_from_sd(
    sd: FloatArray, penalized: FloatArray, names: Sequence[str]
) -> str | None:
    """:func:`penalty_units_message` from the columns' standard deviations ``sd``."""
    idx = np.flatnonzero(penalized)
    if idx.size < 2:
        return None
    sd = np.asarray(sd, dtype=float)[idx]
    keep = sd > 0  # a column constant in these data (e.g. a level absent) has no scale
    if keep.sum() < 2:
        return None
    idx, sd = idx[keep], sd[keep]
    hi, lo = int(np.argmax(sd)), int(np.argmin(sd))
    ratio = sd[hi] / sd[lo]
    if not ratio > UNITS_RATIO:
        return None
    return (
        f"the default penalty weighs penalized columns whose standard deviations "
        f"differ {ratio:.3g}-fold ({names[idx[hi]]}: {sd[hi]:.3g}, {names[idx[lo]]}: "
        f"{sd[lo]:.3g}), so the units of the columns decide which coefficients stay "
        "at the prior; pass standardize=True (penalty on standardized columns) or "
        'penalty="information" (the prior fit\'s precision).'
    )


def warn_penalty_units(message: str | None, lam: float) -> None:
    """Issue :class:`PenaltyUnitsWarning` with ``message`` for a fit with ``lam > 0``.

    At ``lam = 0`` the penalty plays no part, so nothing is said.
    """
    if message and lam > 0:
        warn(message, PenaltyUnitsWarning)
