"""Separation of a Dask GLM's data, found in one pass over the partitions.

The in-memory check (:mod:`priorreg.separation`) reads every row; here each
partition contributes, per column, the number of its rows with a non-zero
value and how many of those sit on the upper or on the lower side (the
single-column screen, exact at any size), and its distinct rows with their
sides and counts while there are few of them. When the distinct rows of the
whole data fit in :data:`priorreg.separation.LP_MAX_ENTRIES` entries (designs
of indicators and few levels), Konis' linear programme runs on them as in
memory; otherwise only the single-column screen decides. The columns are
scaled by the maximum absolute values from the model's first pass, so the
tolerances are those of the in-memory check.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from priorreg._typing import FloatArray
from priorreg.outofcore.model import _glm_arrays
from priorreg.outofcore.passes import _SPLIT_EVERY, _Block, _compute
from priorreg.separation import (
    _TOL,
    Separation,
    _max_lp_rows,
    _row_sides,
    distinct_rows,
    make_separation,
    search_direction,
)

__all__ = ["dask_separation"]


def _partition_stats(
    block: _Block, family: Any, scale: FloatArray, max_rows: int
) -> dict[str, Any]:
    """Per-column counts of the screen and (while few) the distinct ``[x/scale, side]`` rows."""
    resp, _, _, _ = _glm_arrays(block, family)
    n = block.X.shape[0]
    side = _row_sides(family, resp)
    if side is None:  # no row at a bound here
        side = np.zeros(n)
    Xs = block.X / scale
    nz = np.abs(Xs) > _TOL
    signed = side[:, None] * Xs
    out: dict[str, Any] = {
        "nonzero": nz.sum(axis=0),
        "upper": (nz & (signed > 0)).sum(axis=0),
        "lower": (nz & (signed < 0)).sum(axis=0),
    }
    out["rows"] = distinct_rows(np.column_stack([Xs, side]), max_rows)
    return out


def _merge_stats(max_rows: int, *parts: dict[str, Any]) -> dict[str, Any]:
    """Sum the counts; pool the distinct rows while they stay within ``max_rows``."""
    out = {key: sum(part[key] for part in parts) for key in ("nonzero", "upper", "lower")}
    pooled = [part["rows"] for part in parts]
    out["rows"] = None
    if all(p is not None for p in pooled):
        out["rows"] = distinct_rows(
            np.vstack([p[0] for p in pooled]), max_rows, np.concatenate([p[1] for p in pooled])
        )
    return out


def _one_pass(model: Any, scale: FloatArray, max_rows: int) -> dict[str, Any]:
    """The partitions' statistics, merged in a reduction tree."""
    import dask

    level = model.source.tasks(_partition_stats, model.family, scale, max_rows)
    while len(level) > 1:
        level = [
            dask.delayed(_merge_stats, pure=False)(max_rows, *level[i : i + _SPLIT_EVERY])
            for i in range(0, len(level), _SPLIT_EVERY)
        ]
    return _compute(level[0], model.progress, "separation check")  # type: ignore[no-any-return]


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
    """A separating direction of a Dask ``PriorGLM``'s data, or ``None`` (one pass).

    Parameters
    ----------
    model : DaskPriorGLM
        The model; its first pass gives the column ranges.

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
    xmin, xmax = model._scan["x_min"], model._scan["x_max"]
    scale = np.fmax(np.abs(xmin), np.abs(xmax))
    scale = np.where(scale > 0, scale, 1.0)
    max_rows = _max_lp_rows(scale.size)
    stats = _one_pass(model, scale, max_rows)
    if not np.any(stats["upper"] + stats["lower"]):  # no row at a bound reachable
        return None
    Xu, su, counts = None, np.zeros(0), None
    if stats["rows"] is not None:
        rows, counts = stats["rows"]
        Xu, su = rows[:, :-1], rows[:, -1]

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
