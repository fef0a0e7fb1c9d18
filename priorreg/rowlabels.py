"""Per-row results labelled by statsmodels' data handling, with their dtype kept.

statsmodels' ``PandasData.attach_rows`` squeezes a result before wrapping it
in a Series, so the result of a single row becomes a 0-d array and pandas
makes an ``object`` Series of it (``res.fittedvalues``, ``res.mu``,
``res.resid_*``). :func:`keep_row_dtype` makes a model's data object label
rows without losing the dtype; every other result is labelled as before.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pandas as pd

__all__ = ["keep_row_dtype"]


def _attach_rows(data: Any, result: Any) -> Any:
    """``type(data).attach_rows(data, result)``, cast back to ``result``'s dtype."""
    out = type(data).attach_rows(data, result)
    # the kind, not `dtype != None`: numpy reads None as float64
    kind = getattr(getattr(result, "dtype", None), "kind", "O")
    if isinstance(out, pd.Series) and out.dtype.kind == "O" and kind != "O":
        out = out.astype(result.dtype)
    return out


def keep_row_dtype(data: Any) -> None:
    """Make ``data.attach_rows`` keep the dtype of a single-row result (in place).

    A module-level function bound by :func:`functools.partial`, so the data
    object (and the results holding it) still pickle.
    """
    data.attach_rows = partial(_attach_rows, data)
