r"""The scan of a Dask GLM, made in the same pass as its first fit's first IRLS point.

A ``PriorGLM.from_formula`` model on Dask data makes no pass when it is
built. Its first ``fit()`` reads the partitions once for both:

- the scan (:func:`priorreg.outofcore.model._scan`): the number of rows,
  dropped rows, the columns' extrema (the constant column, the separation
  check's scales) and moments (the sds of ``standardize`` and of the units
  check), and the response and weight totals;
- the first IRLS point (:func:`priorreg.outofcore.irls_pass.glm_point`):
  the deviance and the working factor at the start, the log-likelihood
  constant and the separation check's counts.

The start must be known before the pass. It is the prior ``b0`` (or the
family's starting means when ``b0 = 0``), which depends on the data only
through the constant column (the intercept's name in the prior); it is
taken from the design's template rows, and the scan then confirms it: the
model's attributes are set from the scan and, if the prior they give is
not the one the pass used (a constant column the template rows do not
show), the pass served the scan alone and the fit evaluates its own start,
one pass more. The separation counts are made with the template rows'
column scales and kept when the data's scales decide alike
(:func:`~priorreg.outofcore.separation.counts_exact`): always for columns
whose small values are exact zeros, and for continuous columns unless a
value within a factor of the two scales of ``1e-6`` times the column's
largest decides whether the column can separate; otherwise the check
makes its own pass, as before.

The scan cannot ride on the pass when the start needs it: the default
``starting_mu`` of a family (Poisson, Gamma, ...) is :math:`(y + \bar y)/2`,
with the mean of the whole response, so a fit from ``b0 = 0`` with such a
family scans first (one pass), then evaluates its start.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from statsmodels.genmod import families as smf

from priorreg import families as _families
from priorreg._typing import FloatArray
from priorreg.exceptions import quietly
from priorreg.outofcore.irls_pass import Asks, PointSpec
from priorreg.outofcore.passes import _moments
from priorreg.outofcore.separation import counts_exact, separation_scale
from priorreg.separation import _max_lp_rows, _row_sides

__all__ = ["SCAN_KEYS", "fold_scan", "template_setup", "template_start"]

#: What a pass with ``Asks(scan=True)`` adds for the model's scan.
SCAN_KEYS = (
    "n", "counts_list", "dropped", "x_min", "x_max", "x_mom", "y_sum", "wnobs", "iw_y", "iw",
)  # fmt: skip


def _template_scan(exog_t: Any) -> dict[str, Any]:
    """A scan of the template rows: what the model's setup needs, from those rows alone."""
    X = np.asarray(exog_t, dtype=float)
    n = X.shape[0]
    return {
        "n": n,
        "counts_list": [n],
        "dropped": 0,
        "x_min": X.min(axis=0),
        "x_max": X.max(axis=0),
        "x_mom": _moments(X, None),
        "y_sum": 0.0,
        "wnobs": float(n),
        "iw_y": 0.0,
        "iw": float(n),
    }


def template_setup(model: Any) -> tuple[Any, dict[str, Any]] | None:
    """The model set up from its template rows: ``(a copy of the model, their scan)``.

    Raises what the setup raises (a prior, penalty or bounds that do not fit
    the design): a deferred model calls it when it is built, so that bad
    input is refused there, before any pass, as the in-memory model refuses
    it. ``None`` without template rows. The model itself is left unchanged.
    """
    pending = model.__dict__["_pending"]
    if not len(pending["exog_t"]):
        return None
    trial = type(model).__new__(type(model))
    trial.__dict__.update(model.__dict__)
    trial.source = type(model.source).__new__(type(model.source))
    trial.source.__dict__.update(model.source.__dict__)
    scan = _template_scan(pending["exog_t"])
    with quietly():
        trial._apply_scan(scan)
    return trial, scan


def template_start(model: Any) -> tuple[FloatArray | None, FloatArray, dict[str, Any]] | None:
    """The first fit's start as the template rows give it: ``(start, b0, scan)``, or ``None``.

    ``start`` is ``None`` for the family's starting means. ``None`` when the
    start needs the scan (``b0 = 0`` and a starting mean from the whole
    response's mean) or the template rows do not set the model up (the
    real setup, after a scan of its own, then says why).
    """
    try:
        found = template_setup(model)
    except Exception:  # the real setup, after its scan, raises it
        return None
    if found is None:
        return None
    trial, scan = found
    b0 = np.asarray(trial.prior_values, dtype=float)
    start = trial._first_start()
    family = model.family
    if start is None and type(family).starting_mu is smf.Family.starting_mu:
        return None  # (y + mean(y)) / 2 needs the scan's mean
    return start, b0, scan


def fold_scan(model: Any, state: Any) -> None:
    """The model's scan in the same pass as the fit's first IRLS point (kept in ``state``).

    Sets the model's attributes from the scan. The point is kept for the
    fit when its start is the one the scan confirms; otherwise, or when the
    start needs the scan, the fit's loop evaluates its start itself.
    """
    found = template_start(model)
    if found is None:
        model._scan_now()
        return
    start, b0, template = found
    family = model.family
    separation = None
    if _row_sides(family, np.zeros(1)) is not None:  # families that can separate
        scale = separation_scale(template)
        separation = (scale, _max_lp_rows(scale.size))
    asks = Asks(
        loglike=_families.is_known_scale(family),
        gaussian=isinstance(family, smf.Gaussian),
        separation=separation,
        scan=True,
    )
    sums = model._point_sums(state, PointSpec(start), asks, b0)
    model._apply_scan({key: sums.pop(key) for key in SCAN_KEYS})
    confirmed = model._first_start()
    same = (start is None) == (confirmed is None) and np.array_equal(model.prior_values, b0)
    if start is not None and confirmed is not None:
        same = same and np.array_equal(start, confirmed)
    if not same:  # a constant column the template rows did not show
        return
    if separation is not None and not counts_exact(sums, separation_scale(model._scan)):
        for key in [key for key in sums if key.startswith("sep_")]:
            del sums[key]  # the separation check makes its own pass
    model._keep_point(state, start, sums)
