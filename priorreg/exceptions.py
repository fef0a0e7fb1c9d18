"""Warnings raised by priorreg, and the one function that raises them.

Errors are plain ``ValueError``/``TypeError`` (and
:class:`priorreg.linalg.SingularSystemError`, a ``ValueError``).
:func:`warn` gives every warning the ``stacklevel`` of the first caller
outside priorreg, so the warning points at the user's line whatever the
depth of the call inside the package (``fit``, ``refine``, ``summary``).
Code that must keep some of them from the user collects them with
:func:`kept_warnings`, which is local to the thread (a context variable),
instead of changing the process-wide warning filters.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from statsmodels.tools.sm_exceptions import ConvergenceWarning as _SMConvergenceWarning
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning as _SMSeparationWarning

__all__ = [
    "ConvergenceWarning",
    "DegenerateFitWarning",
    "LamOnEdgeWarning",
    "PenaltyUnitsWarning",
    "SeparationWarning",
    "grid_option",
    "kept_warnings",
    "warn",
]

_PACKAGE_DIR = str(Path(__file__).resolve().parent)

#: How users widen the search grid where they are: ``lams=`` in Python;
#: the command line sets ``--lams`` while it fits, so advice names its option.
grid_option: ContextVar[str] = ContextVar("grid_option", default="lams=")


class LamOnEdgeWarning(UserWarning):
    """The selected penalty weight lies on the edge of the search grid.

    The criterion may keep decreasing beyond the grid: widen it with
    ``lams=`` (``--lams`` on the command line) or read ``res.lam_path``. A
    minimum at the upper edge means the estimates stay at the prior; at
    the lower edge, that the prior adds little to the data. A criterion
    that is flat in ``lam`` (e.g. a response the unpenalized columns fit
    exactly) does not determine ``lam`` at all, and the warning says so.
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
class SeparationWarning(_SMSeparationWarning):
    """The data separate the outcomes: no finite estimate from the data alone.

    Raised at every ``lam`` (fixed or selected): along the separated
    direction the estimates are decided by the prior and ``lam`` alone.
    """


class DegenerateFitWarning(UserWarning):
    """A fit whose scale or goodness of fit is undefined (constant response, no df left)."""


def _outside_stacklevel() -> int:
    """``stacklevel`` of the first frame outside priorreg, for a call from :func:`warn`."""
    frame = sys._getframe(2)  # the caller of warn()
    level = 2
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(
        _PACKAGE_DIR
    ):
        frame = frame.f_back
        level += 1
    return level


#: Where :func:`warn` puts the warnings of the categories a caller keeps.
_keeper: ContextVar[tuple[tuple[type[Warning], ...], list[tuple[str, type[Warning]]]] | None] = (
    ContextVar("priorreg_keeper", default=None)
)


@contextmanager
def kept_warnings(
    categories: tuple[type[Warning], ...],
) -> Iterator[list[tuple[str, type[Warning]]]]:
    """Collect priorreg's warnings of ``categories`` instead of issuing them.

    Unlike ``warnings.catch_warnings``, this changes no process-wide state:
    the collector lives in a context variable, so other threads (a grid
    search on joblib's threading backend) keep their own warnings, and
    warnings of other categories are issued as usual. Only warnings issued
    through :func:`warn` in this thread are collected.

    Yields
    ------
    list of (str, Warning subclass)
        Filled with the message and category of each warning kept, in order.
    """
    kept: list[tuple[str, type[Warning]]] = []
    token = _keeper.set((categories, kept))
    try:
        yield kept
    finally:
        _keeper.reset(token)


@contextmanager
def quietly() -> Iterator[None]:
    """Drop priorreg's warnings and numpy's floating-point warnings, in this thread only.

    For trial fits whose warnings are not the user's (a start, a search
    step): :func:`kept_warnings` for every category and ``np.errstate``,
    both local to the thread (context variables), so a fit running in
    another thread keeps its warnings.
    """
    import numpy as np

    with kept_warnings((Warning,)), np.errstate(all="ignore"):
        yield


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Issue ``message`` pointing at the first line outside priorreg.

    Inside :func:`kept_warnings`, a warning of a kept category is collected
    there instead.

    Parameters
    ----------
    message : str
        One sentence on the cause and one on what to do.
    category : Warning subclass
        The warning class.
    """
    keeper = _keeper.get()
    if keeper is not None and issubclass(category, keeper[0]):
        keeper[1].append((message, category))
        return
    warnings.warn(message, category, stacklevel=_outside_stacklevel())
