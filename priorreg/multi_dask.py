r"""Several penalties on Dask data: no pass beyond those of one penalty.

The first pass of a Dask linear model (``DaskPriorRidge``) leaves the
triangular factor ``R`` of ``[W^{1/2} X, W^{1/2}(y - o)]`` (TSQR).
Everything the joint search needs is ``k x k`` algebra on it: with
``R = [R_X, r]`` and ``r_z = r - R_X b_ref``,

.. math::

    X'WX = R_X'R_X,\qquad X'Wz = R_X'r_z,\qquad z'Wz = r_z'r_z,\qquad
    z = y - o - X b_{ref}.

The fit at the selected lams is the model's own single-penalty fit with
the combined penalty ``S`` and prior ``b0*`` (a copy of the model that
shares the first pass: no new pass). LOOCV needs the rows at every step of
its search and is not available with several penalties on Dask data.

``DaskPriorGLM`` with several penalties fits at fixed lams: the model's
own penalized IRLS with ``S`` and ``b0*`` at weight 1, one pass per IRLS
iteration as for one penalty (:mod:`priorreg.outofcore.multi_glm`). A
criterion is refused before any pass: its outer iteration needs a
converged fit, so a pass per IRLS step, at every Newton step of the search.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from priorreg.multi import Components, component_count, is_multi_penalty
from priorreg.multi_kernel import GramProblem
from priorreg.penalty import Penalty

__all__ = [
    "combine_in_place",
    "combined_copy",
    "has_several_penalties",
    "is_out_of_core",
    "refuse_out_of_core",
    "scan_problem",
    "standardize_components",
]


def is_out_of_core(model: Any) -> bool:
    """True for a Dask model (its first pass left a scan with the data's factor)."""
    return isinstance(getattr(model, "_scan", None), dict) and hasattr(model, "source")


def refuse_out_of_core(model: Any, what: str, fix: str) -> None:
    """A clear error for what several penalties cannot do on Dask data."""
    if is_out_of_core(model):
        raise ValueError(f"{what} with several penalties is not available on Dask data; {fix}")


def scan_problem(model: Any, b_ref: Any) -> GramProblem:
    """:class:`GramProblem` about ``b_ref`` from the first pass's factor (module Notes)."""
    R = np.array(model._scan["fit_R"], dtype=float)
    k = model.k_params
    RX = R[:, :k]
    rz = R[:, k] - RX @ b_ref
    G = RX.T @ RX
    return GramProblem(
        0.5 * (G + G.T),
        RX.T @ rz,
        float(rz @ rz),
        float(model.nobs),
        float(model._scan["log_w"]),
        np.asarray(b_ref, dtype=float),
    )


def has_several_penalties(model: Any) -> bool:
    """True for a model with several penalty components, read without a pass.

    A Dask model whose scan is still pending (a formula GLM before its first
    fit) answers from the penalty it was given; a copy of it that combines
    them at fixed lams when its scan arrives (``_fixed_lams``) has one.
    """
    pending = model.__dict__.get("_pending")
    if pending is not None and model.__dict__.get("_fixed_lams") is None:
        spec = pending["penalty"]
        return bool(is_multi_penalty(spec) and component_count(spec) > 1)
    if pending is not None:
        return False
    return model.__dict__.get("penalty_components") is not None


def standardize_components(model: Any, sd: Any) -> None:
    """Scale every penalty component by the columns' sds, as in memory (``standardize``).

    ``P_j -> D P_j D`` with ``D = diag(sd)`` (constant columns keep 1), then
    the model's penalty and prior from the scaled components, as
    :meth:`priorreg.base.PriorModel._setup_components` sets them.
    """
    comps: Components = model.penalty_components
    matrices = sd[None, :, None] * comps.matrices * sd[None, None, :]
    scaled = Components(comps.names, matrices, comps.priors, comps.kinds)
    model.penalty_components = scaled
    model.prior_values = scaled.combined(np.ones(scaled.m))[1]
    model.penalty = Penalty(scaled.total)


def combine_in_place(model: Any, lams: Any) -> None:
    """Give ``model`` the one penalty ``S`` and prior ``b0*`` of its components at ``lams``."""
    comps: Components = model.penalty_components
    S, b0 = comps.combined(lams)
    for cached in ("factor", "reduced"):  # cached on the penalty and prior
        model.__dict__.pop(cached, None)
    model.penalty_components = None
    model.penalty_matrix = S
    model.prior_values = b0
    model.penalty_kind = "user"


def combined_copy(model: Any, lams: Any) -> Any:
    """The model with the one penalty ``S`` and prior ``b0*`` at ``lams``, sharing its pass."""
    out = copy.copy(model)
    combine_in_place(out, lams)
    return out
