"""Checks of the user's data that name the problem and its fix in one sentence.

Called by the models before any numerical work, so a bad input never
reaches numpy, pandas or patsy as a crash or a flood of overflow warnings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from priorreg._typing import FloatArray

__all__ = [
    "as_float_array",
    "as_grid","check_column_scale", "check_formula_response", "check_formula_rows"]

#: Values beyond this overflow the squares and cross-products of a fit
#: (``n * x^2`` exceeds the largest double, 1.8e308, from ``x ~ 1e150`` on);
#: a margin of 1e50 keeps ``n`` up to 1e100 and the criteria finite.
_HUGE = 1e100
#: Non-zero values all below this underflow in the same products.
_TINY = 1e-100


def check_column_scale(
    name: str, values: FloatArray, columns: Sequence[str] | None = None, *, tiny: bool = True
) -> None:
    """Values so large (or so small) that their squares overflow are a ``ValueError``.

    Parameters
    ----------
    name : str
        ``"endog"`` or ``"exog"``, for the message.
    values : ndarray of shape (n,) or (n, k)
        Finite values.
    columns : sequence of str, optional
        Column names of a 2-D ``values``.
    tiny : bool
        Also refuse non-zero values all below 1e-100 (not for weights, whose
        overall size cancels, nor for offsets and priors, where 0 is common).

    Raises
    ------
    ValueError
        Naming the column and its largest absolute value, and asking to rescale it.
    """
    arr = values if values.ndim == 2 else values[:, None]
    if arr.shape[0] == 0:
        return
    peak = np.maximum(np.max(arr, axis=0), -np.min(arr, axis=0))  # max |x|, no copy of arr
    small = (peak > 0) & (peak < _TINY) if tiny else np.zeros(peak.shape, dtype=bool)
    bad = np.flatnonzero((peak > _HUGE) | small)
    if bad.size == 0:
        return
    j = int(bad[0])
    label = f"{name} column {columns[j]!r}" if columns is not None and values.ndim == 2 else name
    raise ValueError(
        f"{label} has values of magnitude {peak[j]:.3g}, whose squares "
        f"overflow or underflow in double precision: rescale it (e.g. divide it by "
        f"{10.0 ** np.floor(np.log10(peak[j])):.0e}) so its values lie between 1e-100 and 1e100"
    )


def check_formula_rows(frame: pd.DataFrame, design: Any) -> None:
    """Every row dropped for missing values is a ``ValueError`` naming the culprits."""
    if len(design.rows) == 0:
        source = frame[[c for c in design.source.columns if c in frame.columns]]
        culprits = [str(c) for c in source.columns if source[c].isna().all()]
        where = (
            f"the column(s) {culprits} are missing on every row"
            if culprits
            else "every row has a missing value in one of the formula's variables "
            f"{[str(c) for c in source.columns]}"
        )
        raise ValueError(
            f"all {len(frame)} rows were dropped for missing values ({where}): fill in "
            "the missing values or drop those variables from the formula"
        )


def check_formula_response(design: Any, endog_columns: Sequence[int]) -> None:
    """A response that patsy coded as indicator columns (text or categories) is a ``ValueError``.

    A boolean response (``y[False]``, ``y[True]``) is left to the model.
    """
    endog = design.endog
    if not isinstance(endog, pd.DataFrame):
        return
    names = [str(c) for c in endog.columns]
    if len(names) == 2 and names[0].endswith("[False]") and names[1].endswith("[True]"):
        return
    if any("[" in n for n in names):
        variable = names[0].split("[")[0]
        levels = [n[len(variable) :].strip("[]") for n in names]
        raise ValueError(
            f"the response {variable!r} is not numeric: it has the levels {levels}, which "
            "patsy would code as one indicator column each. Convert it to numbers in the "
            f"data first, e.g. data['y'] = (data[{variable!r}] == {levels[-1]!r}).astype(int)"
        )
    if endog.shape[1] not in endog_columns:
        raise ValueError(
            f"the formula's response has {len(names)} columns {names}; this model takes "
            + " or ".join(str(c) for c in endog_columns)
            + " (two only for a Binomial GLM: successes + failures ~ ...)"
        )


def as_float_array(value: Any, message: str) -> FloatArray:
    """``value`` as a float array, or a ``TypeError`` with ``message`` (what it must be)."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(message) from exc


def as_grid(lams: Any) -> FloatArray:
    """``lams=`` as a float array, or a ``TypeError`` that says what a grid is."""
    message = f"lams must be numbers (a list or array of penalty weights > 0), not {lams!r}"
    return as_float_array(lams, message)
