r"""Several penalties for ``DaskPriorGLM`` at fixed lams: the combined penalty's IRLS.

At fixed ``lam = (lam_1, ..., lam_m)`` the penalty of ``m`` components is
one penalty with one prior (:mod:`priorreg.multi`):

.. math::

    \sum_j \lambda_j (b - b_{0,j})' P_j (b - b_{0,j})
    = (b - b_0^*)' S (b - b_0^*) + \text{const},\qquad
    S = \sum_j \lambda_j P_j,\quad S b_0^* = \sum_j \lambda_j P_j b_{0,j},

so the fit is the Dask GLM's own penalized IRLS with ``S`` and ``b0*`` at
weight 1 (:func:`priorreg.multi_dask.combined_copy`): one pass per IRLS
iteration, a halved step one more, exactly as a one-penalty fit. The first
fit of a formula model reads its scan in its first IRLS pass
(:mod:`priorreg.outofcore.first_pass`); that pass starts from ``b0*`` at
the fit's lams, as formed from the template rows, so it is the fit's first
point and no pass is added. The one exception: with ``standardize=True``,
components that are not diagonal and a prior per component, ``b0*`` formed
from the data's column scales differs from the template's, and the start is
evaluated by one pass more.

A criterion (``lam="gcv"``, ...) is refused before any pass: its outer
iteration needs a converged fit, a pass per IRLS step, at every Newton step
of the joint search. So is ``cov_type="unconditional"``, whose derivative
of the fit in ``log(lam)`` and REML Hessian need the rows.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

from priorreg.glm import PriorGLM
from priorreg.multi import Components, check_lams
from priorreg.multi_dask import combined_copy
from priorreg.multi_fit import GLM_CRITERIA, _check_cov_type, _criterion, _no_progress, _wrap
from priorreg.multi_results import MultiGLMResults
from priorreg.outofcore.first_pass import template_setup

__all__ = ["fit_several"]

_FIT = inspect.signature(PriorGLM.fit)


def _refuse(lam: Any, lams: Any, cov_type: str) -> None:
    """What a Dask GLM with several penalties cannot do: a clear error, before any pass."""
    if isinstance(lam, str) and lams is None:
        raise ValueError(
            f"lam={lam!r} with several penalties is not available on Dask data (each step of "
            "the search needs converged fits, a pass per IRLS iteration); give one fixed lam "
            "per penalty, e.g. lam=[1.0, 10.0], or select the lams in memory with PriorGLM "
            "on the computed data"
        )
    _criterion(lam, GLM_CRITERIA, lams)  # lams= and names as in memory
    if cov_type == "unconditional":
        raise ValueError(
            'cov_type="unconditional" with several penalties is not available on Dask data '
            "(its derivative in log(lam) needs the rows); use cov_type='bayes' or "
            "'sandwich', or fit PriorGLM on the computed data in memory"
        )
    _check_cov_type(cov_type)


def _components(model: Any) -> Components:
    """The model's components without a pass (a pending scan: from its template rows)."""
    if model.__dict__.get("_pending") is None:
        return model.penalty_components  # type: ignore[no-any-return]
    found = template_setup(model)
    if found is None:  # no template rows: the scan now (what the fit would read first)
        model._scan_now()
        return model.penalty_components  # type: ignore[no-any-return]
    return found[0].penalty_components  # type: ignore[no-any-return]


def _combined(model: Any, lams: Any) -> Any:
    """The one-penalty model of ``model`` at ``lams`` (no pass).

    A model whose scan is pending gives a copy that combines its components
    when the scan arrives (``DaskPriorGLM._scanned``), so the first fit's
    scan rides on the combined model's first IRLS point.
    """
    if model.__dict__.get("_pending") is None:
        return combined_copy(model, lams)
    out = copy.copy(model)
    out._fixed_lams = lams
    return out


def fit_several(model: Any, *args: Any, **kwargs: Any) -> Any:
    """``DaskPriorGLM.fit`` with several penalties (parameters of :meth:`PriorGLM.fit`).

    Returns the several-penalty results over the Dask results of the
    combined fit (:func:`priorreg.multi_results.out_of_core_class`); its
    ``model`` is the combined model, which counts the fit's passes.
    """
    bound = _FIT.bind(model, *args, **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    _no_progress(a["disp"])
    scale = a["scale"]
    if scale is not None and scale != model.scaletype:
        raise ValueError(
            "fit(scale=...) is not available with several penalties; give scale= to "
            "PriorGLM(...) instead"
        )
    _refuse(a["lam"], a["lams"], a["cov_type"])
    lam_values = check_lams(a["lam"], _components(model))
    combined = _combined(model, lam_values)
    inner = type(combined).fit(
        combined, lam=1.0, cov_type=a["cov_type"], maxiter=a["maxiter"], tol=a["tol"]
    )
    if model.__dict__.get("_pending") is not None:  # the fit's first pass read the scan
        model._apply_scan(combined._scan)
        model._scanned_apart = combined._scanned_apart
    return _wrap(model, inner, MultiGLMResults, lams=lam_values, selection=None,
                 unconditional=None)
