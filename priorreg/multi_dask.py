r"""Several penalties on Dask data (``DaskPriorRidge``): no pass beyond the first.

The first pass of a Dask linear model leaves the triangular factor ``R``
of ``[W^{1/2} X, W^{1/2}(y - o)]`` (TSQR). Everything the joint search
needs is ``k x k`` algebra on it: with ``R = [R_X, r]`` and
``r_z = r - R_X b_ref``,

.. math::

    X'WX = R_X'R_X,\qquad X'Wz = R_X'r_z,\qquad z'Wz = r_z'r_z,\qquad
    z = y - o - X b_{ref}.

The fit at the selected lams is the model's own single-penalty fit with
the combined penalty ``S`` and prior ``b0*`` (a copy of the model that
shares the first pass: no new pass). LOOCV needs the rows at every step of
its search and is not available with several penalties on Dask data; nor
are several penalties for ``DaskPriorGLM``, whose outer iteration would
need a pass per Newton step.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from priorreg.multi import Components
from priorreg.multi_kernel import GramProblem

__all__ = ["combined_copy", "is_out_of_core", "refuse_out_of_core", "scan_problem"]


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


def combined_copy(model: Any, lams: Any) -> Any:
    """The model with the one penalty ``S`` and prior ``b0*`` at ``lams``, sharing its pass."""
    comps: Components = model.penalty_components
    S, b0 = comps.combined(lams)
    out = copy.copy(model)
    for cached in ("factor", "reduced"):  # cached on the penalty and prior
        out.__dict__.pop(cached, None)
    out.penalty_components = None
    out.penalty_matrix = S
    out.prior_values = b0
    out.penalty_kind = "user"
    return out
