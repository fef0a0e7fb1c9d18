"""Separation of a Dask GLM's data, found in the fit's first IRLS pass.

The in-memory check (:mod:`priorreg.separation`) reads every row; here each
partition contributes, in the sweep that computes its share of the first
IRLS point (:mod:`priorreg.outofcore.irls_pass`; the check costs no pass of
its own), per column, the number of its rows with a non-zero value and how
many of those sit on the upper or on the lower side (the single-column
screen, exact at any size), and its distinct rows with their sides and
counts while there are few of them. When the distinct rows of the
whole data fit in :data:`priorreg.separation.LP_MAX_ENTRIES` entries (designs
of indicators and few levels), Konis' linear programme runs on them as in
memory; otherwise only the single-column screen decides. The columns are
scaled by the maximum absolute values from the model's scan, so the
tolerances are those of the in-memory check.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from priorreg._typing import FloatArray
from priorreg.separation import (
    _TOL,
    Separation,
    _max_lp_rows,
    _row_sides,
    make_separation,
    search_direction,
)

__all__ = ["counts_exact", "dask_separation", "separation_scale"]


def separation_scale(scan: dict[str, Any]) -> FloatArray:
    """The columns' largest absolute values (1 for a zero column), from the model's scan."""
    scale = np.fmax(np.abs(scan["x_min"]), np.abs(scan["x_max"]))
    return np.where(scale > 0, scale, 1.0)


def counts_exact(sums: dict[str, Any], scale: FloatArray) -> bool:
    r"""Whether separation counts made with other column scales decide as ``scale``'s would.

    A row counts as non-zero in column ``j`` when :math:`|x / s_j| > \mathrm{tol}`;
    rounded division by a positive number is monotone, so a largest or
    smallest :math:`|x|` decides for all rows. Per column, either

    - every row is counted alike: the smallest :math:`|x|` counted still
      passes with ``scale`` and the largest not counted still fails
      (``sep_hi_min``, ``sep_lo_max``); or
    - the column cannot separate alone with ``scale`` either: the largest
      :math:`|x|` of a counted row off the upper side, off the lower side and
      at a bound (``sep_witness_max``) all still pass, so those three rows
      stop its count under both scales (its partial counts are read for
      nothing else).
    """
    hi = np.asarray(sums["sep_hi_min"], dtype=float) / scale
    lo = np.asarray(sums["sep_lo_max"], dtype=float) / scale
    witness = np.asarray(sums["sep_witness_max"], dtype=float) / scale
    alike = (hi > _TOL) & (lo <= _TOL)
    stopped = np.all(witness > _TOL, axis=0)
    return bool(np.all(alike | stopped))


def _screen(stats: dict[str, Any], free: FloatArray) -> FloatArray | None:
    """:func:`priorreg.separation._column_screen` from the per-column counts."""
    nonzero = stats["nonzero"]
    reached = (nonzero > 0) & free
    for sign, key in ((1.0, "upper"), (-1.0, "lower")):
        ok = reached & (stats[key] == nonzero)
        if ok.any():
            d = np.zeros(nonzero.size)
            d[int(np.flatnonzero(ok)[0])] = sign
            return d
    return None


def dask_separation(model: Any) -> Separation | None:
    """A separating direction of a Dask ``PriorGLM``'s data, or ``None``.

    The counts come with the fit's first IRLS point (kept for the loop, so
    no pass of its own); families and links that cannot separate need none.

    Parameters
    ----------
    model : DaskPriorGLM
        The model (the copy a fit works on); its scan gives the column ranges.

    Returns
    -------
    Separation or None
        As :func:`priorreg.separation.find_separation` on the same rows.
    """
    family = model.family
    # families and links that cannot separate need no pass (a zero response is
    # at the lower bound of every family that can)
    if _row_sides(family, np.zeros(1)) is None:
        return None
    scale = separation_scale(model._scan)
    max_rows = _max_lp_rows(scale.size)
    # the counts ride on the fit's first IRLS pass (its point is kept for the loop)
    sums = model._evaluate(model._first_start(), separation=(scale, max_rows)).sums
    stats = {key: sums[f"sep_{key}"] for key in ("nonzero", "upper", "lower")}
    distinct = sums["sep_distinct"]
    stats["rows"] = None if distinct is None else distinct[:2]
    if not np.any(stats["upper"] + stats["lower"]):  # no row at a bound reachable
        return None
    Xu, su, counts = None, np.zeros(0), None
    if stats["rows"] is not None:
        rows, counts = stats["rows"]  # pooled as read: scaled here, as in memory
        Xu, su = rows[:, :-1] / scale, rows[:, -1]

    def screen(free: FloatArray) -> FloatArray | None:
        return _screen(stats, free)

    found = search_direction(screen, Xu, su, model.penalty, scale)
    if found is None:
        return None
    d, unbounded = found
    if Xu is not None and counts is not None:
        n_rows = int(counts[np.abs(Xu @ d) > _TOL].sum())
    else:  # a single column: its non-zero rows
        n_rows = int(stats["nonzero"][np.flatnonzero(d)[0]])
    return make_separation(d, scale, list(model.exog_names), n_rows, unbounded)
