"""Warnings raised by priorreg (errors are plain ``ValueError``/``TypeError``)."""

from __future__ import annotations

from statsmodels.tools.sm_exceptions import ConvergenceWarning as _SMConvergenceWarning

__all__ = ["ConvergenceWarning", "LamOnEdgeWarning", "PenaltyUnitsWarning"]


class LamOnEdgeWarning(UserWarning):
    """The selected penalty weight lies on the edge of the search grid.

    The criterion may keep decreasing beyond the grid: widen it with
    ``lams=`` or read ``res.lam_path``. A minimum at the upper edge means the
    data agree with the prior (the estimate stays at the prior); at the
    lower edge, that the prior adds little to the data.
    """


class ConvergenceWarning(_SMConvergenceWarning):
    """An iterative fit stopped before meeting its tolerance."""


class PenaltyUnitsWarning(UserWarning):
    """The default penalty weighs columns whose units differ by more than 100x.

    The identity penalty treats a unit of every coefficient alike, so a
    column measured in small units (a large standard deviation, a small
    coefficient) is barely penalized while one in large units is held at
    its prior: rescaling a column changes the answer. Pass
    ``standardize=True`` (the penalty on standardized columns) or
    ``penalty="information"`` (the prior fit's own precision).
    """
