"""Checks of the user's data that name the problem and its fix in one sentence.

Called by the models before any numerical work, so a bad input never
reaches numpy, pandas or patsy as a crash or a flood of overflow warnings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from priorreg._typing import FloatArray

__all__ = [
    "ColumnStats",
    "as_float_array",
    "as_grid","check_column_scale", "check_formula_response", "check_formula_rows",
    "column_stats"]

#: Values beyond this overflow the squares and cross-products of a fit
#: (``n * x^2`` exceeds the largest double, 1.8e308, from ``x ~ 1e150`` on);
#: a margin of 1e50 keeps ``n`` up to 1e100 and the criteria finite.
_HUGE = 1e100
#: Non-zero values all below this underflow in the same products.
_TINY = 1e-100


#: Rows per block of :func:`column_stats`: a block of 50-100 columns fits a 1 MB cache.
_STATS_ROWS = 1024


@dataclass(frozen=True)
class ColumnStats:
    """What the model's checks need of each column of a design, from one pass.

    Attributes
    ----------
    high, low : ndarray of shape (n_coef,)
        Largest and smallest value (NaN if the column holds a NaN).
    sd : ndarray of shape (n_coef,)
        Weighted standard deviation (divisor ``sum w``); exactly 0 for a
        constant column.
    """

    high: FloatArray
    low: FloatArray
    sd: FloatArray

    @property
    def peak(self) -> FloatArray:
        """Largest absolute value of each column."""
        return np.maximum(self.high, -self.low)

    @property
    def extremes(self) -> FloatArray:
        """``[high; low]``: two rows that are equal exactly in the constant columns."""
        return np.vstack([self.high, self.low])


def column_stats(X: FloatArray, weights: FloatArray | None = None) -> ColumnStats:
    r"""Largest absolute value and weighted standard deviation of each column, one pass.

    The rows are read once, in cache-sized blocks, and never copied whole.
    Per block ``b`` the weighted mean :math:`\bar x_b` and the sum of
    squares :math:`M_b = \sum_{i \in b} w_i (x_i - \bar x_b)^2` are formed
    on the block in cache and pooled by Chan, Golub and LeVeque's update

    .. math::

        M_{a \cup b} = M_a + M_b + (\bar x_b - \bar x_a)^2 \frac{W_a W_b}{W_a + W_b},
        \qquad \mathrm{sd} = \sqrt{M / W},

    as accurate as the two-pass formula (each deviation is taken from a
    mean of its own block, not from 0). A column whose largest and smallest
    values agree is constant: its ``sd`` is set to exactly 0.

    Parameters
    ----------
    X : ndarray of shape (n_obs, n_coef)
        Finite values (a NaN or inf makes that column's numbers NaN).
    weights : ndarray of shape (n_obs,), optional
        Positive observation weights (default 1).

    Returns
    -------
    ColumnStats

    References
    ----------
    Chan, T. F., Golub, G. H. and LeVeque, R. J. (1983). Algorithms for
    computing the sample variance: analysis and recommendations. The
    American Statistician 37, 242-247.
    """
    n, k = X.shape
    hi, lo = np.full(k, -np.inf), np.full(k, np.inf)
    mean, M2, W = np.zeros(k), np.zeros(k), np.float64(0.0)
    ones = np.ones(min(n, _STATS_ROWS))
    buf = np.empty((min(n, _STATS_ROWS), k))
    with np.errstate(all="ignore"):
        for start in range(0, n, _STATS_ROWS):
            block = X[start : start + _STATS_ROWS]
            np.maximum(hi, block.max(axis=0), out=hi)
            np.minimum(lo, block.min(axis=0), out=lo)
            # sums as matrix-vector products (BLAS): faster than sum(axis=0) here
            w = ones[: block.shape[0]] if weights is None else weights[start : start + _STATS_ROWS]
            Wb = np.sum(w)  # numpy: a zero total gives NaN, not an exception
            mb = (w @ block) / Wb
            dev = np.subtract(block, mb, out=buf[: block.shape[0]])
            dev *= dev
            Mb = w @ dev
            delta = mb - mean
            total = W + Wb
            M2 += Mb + delta * delta * (W * Wb / total)
            mean += delta * (Wb / total)
            W = total
        sd = np.sqrt(M2 / W) if n else np.zeros(k)
    sd[hi == lo] = 0.0
    return ColumnStats(hi, lo, sd)


def check_column_scale(
    name: str,
    values: FloatArray,
    columns: Sequence[str] | None = None,
    *,
    tiny: bool = True,
    peak: FloatArray | None = None,
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
    peak : ndarray, optional
        The largest absolute value of each column when already known
        (:func:`column_stats`): no pass over ``values``.

    Raises
    ------
    ValueError
        Naming the column and its largest absolute value, and asking to rescale it.
    """
    arr = values if values.ndim == 2 else values[:, None]
    if arr.shape[0] == 0:
        return
    if peak is None:
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
