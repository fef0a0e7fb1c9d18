r"""``fit()`` of a model with several penalties: fixed lams or joint selection.

Linear model: one weighted Gram matrix ``X'WX``, ``X'Wz`` (``z = y - o - X
b_ref``) serves every Newton step on ``rho = log(lam)``
(:mod:`priorreg.multi_select`, :mod:`priorreg.multi_kernel`); the final fit
at the selected lams is the single-penalty fit with the combined penalty
``S`` and prior ``b0*`` (its factorization gives QR-class accuracy and the
exact residuals, leverages and LOOCV).

GLM: a performance iteration (Gu 1992; Wood 2004, JASA 99, 673-686): at each
penalized IRLS step the lams are selected by Newton's method on the
criterion of the working linear model (``gcv``: ``n RSS_w/(n-edf)^2``;
``ubre`` and ``aic`` with a known scale: ``RSS_w/n + 2 phi edf/n - phi``,
which orders lams as AIC does; ``reml``: the working model's REML, PQL), and
the coefficients are updated at them, until both settle. From there the
outer iteration (:mod:`priorreg.multi_outer`) minimises the criterion at
converged fits (the Laplace REML for ``reml``) by Newton's method with its
exact Hessian; ``loocv`` starts from the GCV optimum and is searched by
Nelder-Mead (:mod:`priorreg.multi_loo`). The final fit is a converged
penalized IRLS fit at the selected lams. Dask data: :mod:`priorreg.multi_dask`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from priorreg import families as _families
from priorreg.exceptions import quietly
from priorreg.linalg import SingularSystemError
from priorreg.multi import Components, check_lams
from priorreg.multi_dask import combined_copy, is_out_of_core, refuse_out_of_core, scan_problem
from priorreg.multi_kernel import (
    CriterionPoint,
    GramProblem,
    evaluate,
    gram_problem,
    loocv_evaluate,
    penalty_range,
)
from priorreg.multi_loo import select_loocv
from priorreg.multi_outer import _evaluate as _evaluate_outer
from priorreg.multi_outer import counted_fits, criterion_scale, outer_search, record_fit
from priorreg.multi_select import (
    MultiSelection,
    coordinate_scan,
    flat_components,
    newton_rho,
    path_frame,
    search_bounds,
    small_blas,
    warn_at_edge,
)

__all__ = ["fit_glm", "fit_linear"]

LINEAR_CRITERIA = ("gcv", "reml", "loocv")
GLM_CRITERIA = ("gcv", "ubre", "aic", "reml", "loocv")
#: GLM criteria refined at converged fits (outer iteration, exact Hessian); all of them.
OUTER_CRITERIA = ("gcv", "ubre", "aic", "reml")
#: Newton runs from a new scan start when the scan around an optimum finds a lower value.
_RESTARTS = 3


def _combined_model(model: Any, lams: Any) -> Any:
    """The single-penalty model with penalty ``S = sum lam_j P_j`` and prior ``b0*``."""
    comps: Components = model.penalty_components
    S, b0 = comps.combined(lams)
    kwargs = {key: getattr(model, key, None) for key in model._row_keys}
    if hasattr(model, "family"):  # a GLM: the family and the scale option
        kwargs.update(family=model.family, scale=model.scaletype)
    return type(model)(
        model.data.orig_endog,
        model.data.orig_exog,
        prior=b0,
        penalty=S,
        standardize=False,
        missing="none",
        design=model.design,
        **kwargs,
    )


def _linear_rows(model: Any) -> tuple[Any, Any]:
    """``(W^1/2 X, W^1/2 z)`` with ``z = y - o - X b_ref``."""
    b_ref = model.penalty_components.priors[0]
    z = model.endog - model.exog @ b_ref
    if model.offset is not None:
        z = z - model.offset
    if model.weights is None:
        return model.exog, z
    sw = np.sqrt(model.weights)
    return model.exog * sw[:, None], z * sw


def _linear_problem(model: Any) -> GramProblem:
    b_ref = model.penalty_components.priors[0]
    if is_out_of_core(model):  # Dask: from the first pass's factor
        return scan_problem(model, b_ref)
    Xw, zw = _linear_rows(model)
    prob = gram_problem(Xw, zw, None, b_ref, model.nobs)
    log_w = 0.0 if model.weights is None else float(np.sum(np.log(model.weights)))
    return GramProblem(prob.G, prob.c, prob.zz, prob.n_obs, log_w, b_ref)


def _skip_singular(at: Any) -> Any:
    """``at`` for Newton's method: a singular trial step is an infinite criterion.

    The first point (the start) must evaluate: its error propagates.
    """
    calls = [0]

    def safe(rho: Any) -> Any:
        calls[0] += 1
        try:
            return at(rho)
        except SingularSystemError:
            if calls[0] == 1:
                raise
            m = np.size(rho)
            nan = np.full(m, np.nan)
            return CriterionPoint(rho, math.inf, nan, np.full((m, m), np.nan), math.nan,
                                  nan, math.nan, nan)

    return safe


def _search(
    prob: GramProblem,
    comps: Components,
    criterion: str,
    *,
    scale: float | None = None,
    rho0: Any = None,
    warn: bool = True,
    rows: tuple[Any, Any] | None = None,
) -> tuple[Any, list[Any], bool, tuple[Any, Any]]:
    parts = penalty_range(comps.matrices)
    start, lo, hi = search_bounds(prob.G, comps.matrices)
    if rho0 is not None:
        start = rho0

    def at(rho: Any, order: int = 2) -> Any:
        if rows is not None:  # LOOCV needs the rows
            return loocv_evaluate(
                prob, comps.matrices, comps.priors, rho, rows[0], rows[1], order=order
            )
        return evaluate(
            prob,
            comps.matrices,
            comps.priors,
            rho,
            criterion,
            scale=scale,
            order=order,
            penalty_range_parts=parts,
        )

    def value(rho: Any) -> float:
        # lams many orders apart can make sum_j lam_j P_j singular in floating
        # point: such a trial of the scan is skipped (the start must evaluate)
        try:
            return float(at(rho, 0).value)
        except SingularSystemError:
            return math.inf

    if rho0 is None:
        with small_blas():
            start = coordinate_scan(value, start, lo, hi)
    path: list[Any] = []
    with quietly(), small_blas():
        for _ in range(_RESTARTS):
            best, steps, converged = newton_rho(
                _skip_singular(at), start, lo, hi, labels=comps.labels, criterion=criterion
            )
            path.extend(steps)
            # a lam driven to 0 or infinity may have left a better basin behind:
            # scan again from the optimum and restart Newton if it finds one
            start = coordinate_scan(value, best.rho, lo, hi)
            if rho0 is not None or not value(start) < best.value:
                break
    if warn:
        flat = flat_components(best, lo, hi)
        warn_at_edge(best.rho, lo, hi, comps.labels, criterion, flat=flat)
    return best, path, converged, parts


def _check_unconditional_lams(lams: Any) -> None:
    if np.any(np.asarray(lams) <= 0):
        raise ValueError(
            'cov_type="unconditional" needs every lam > 0 (it differentiates in log(lam))'
        )


def _unconditional_terms(
    prob: GramProblem, comps: Components, lams: Any, scale: float | None
) -> tuple[Any, Any]:
    """``(J, H)``: ``d b / d rho`` and the REML Hessian at ``lams`` (all > 0)."""
    _check_unconditional_lams(lams)
    point = evaluate(prob, comps.matrices, comps.priors, np.log(lams), "reml", scale=scale)
    return point.dcoef, point.hess


def _check_cov_type(cov_type: str) -> str:
    if cov_type not in ("bayes", "sandwich", "unconditional"):
        raise ValueError(
            f"cov_type must be 'bayes', 'sandwich' or 'unconditional', not {cov_type!r}"
        )
    return "bayes" if cov_type == "unconditional" else cov_type


def _criterion(lam: Any, allowed: tuple[str, ...], lams: Any) -> str | None:
    if lams is not None:
        raise ValueError(
            "lams= is a grid for a single penalty; several lams are searched jointly by "
            "Newton's method on log(lam) from a start taken from the data"
        )
    if not isinstance(lam, str):
        return None
    key = lam.lower()
    if key not in allowed:
        raise ValueError(
            f"lam={lam!r} is not available with several penalties; use one of {allowed} "
            "or one fixed value per component"
        )
    return key


def _wrap(model: Any, inner_res: Any, cls: type, **attach: Any) -> Any:
    inner = inner_res._results
    if is_out_of_core(model):
        from priorreg.multi_results import out_of_core_class

        cls = out_of_core_class(type(inner))
    res = cls(inner.model, inner._fit, selection=None, cov_type=inner.cov_type)
    res._attach(model.penalty_components, **attach)
    return type(inner_res)(res)


def _no_progress(disp: Any) -> None:
    """``disp=True`` is not available; a callable (the command line's printer) gets no steps."""
    if disp and not callable(disp):
        raise ValueError(
            "disp= is not available with several penalties; res.lam_path records the "
            "Newton steps of the search"
        )


def fit_linear(model: Any, lam: Any, lams: Any, cov_type: str, *, disp: Any = False) -> Any:
    """``PriorRidge.fit`` with several penalties (see :meth:`PriorRidge.fit`)."""
    from priorreg.multi_results import MultiRidgeResults

    _no_progress(disp)

    comps: Components = model.penalty_components
    base_cov = _check_cov_type(cov_type)
    criterion = _criterion(lam, LINEAR_CRITERIA, lams)
    prob = None
    selection = None
    if criterion is None:
        lam_values = check_lams(lam, comps)
    else:
        if criterion == "loocv":
            refuse_out_of_core(
                model, 'lam="loocv"', "use lam='gcv' or 'reml', or fit the computed data in memory"
            )
        prob = _linear_problem(model)
        rows = _linear_rows(model) if criterion == "loocv" else None
        best, path, converged, _ = _search(prob, comps, criterion, rows=rows)
        lam_values = best.lam
        selection = MultiSelection(
            lam_values,
            criterion,
            best.value,
            path_frame(path, comps.labels, criterion),
            bool(np.any(path[-1].rho != best.rho)),
            converged,
            best.hess,
        )
    unconditional = None
    if cov_type == "unconditional":
        prob = prob if prob is not None else _linear_problem(model)
        unconditional = _unconditional_terms(prob, comps, lam_values, None)
    combined = combined_copy if is_out_of_core(model) else _combined_model
    inner = combined(model, lam_values).fit(lam=1.0, cov_type=base_cov)
    return _wrap(
        model,
        inner,
        MultiRidgeResults,
        lams=lam_values,
        selection=selection,
        unconditional=unconditional,
    )


def _working_problem(model: Any, eta: Any, mu: Any, b_ref: Any) -> GramProblem:
    W, z = model.problem.working(eta, mu)
    if not (np.all(np.isfinite(W)) and np.all(W > 0) and np.all(np.isfinite(z))):
        raise FloatingPointError("working weights are not finite and positive")
    return gram_problem(model.exog, z - model.exog @ b_ref, W, b_ref, model.wnobs)


def _penalized_deviance(model: Any, params: Any, lams: Any) -> float:
    comps: Components = model.penalty_components
    _, mu = model.problem.mean(params)
    resid = params[None, :] - comps.priors
    pen = float(np.einsum("j,jk,jkl,jl->", lams, resid, comps.matrices, resid))
    return model.problem.deviance(mu) + pen


def _glm_scale(model: Any, criterion: str) -> float | None:
    """The known scale of ``ubre``/``aic`` (and of ``reml`` when known), else ``None``."""
    known = _families.is_known_scale(model.family) or isinstance(model.scaletype, float)
    if criterion in ("ubre", "aic"):
        if not known:
            raise ValueError(
                f"{criterion} with several penalties needs a known scale: the "
                f"{type(model.family).__name__} family's dispersion is estimated. Pass "
                "scale= to PriorGLM, or use lam='gcv' or 'reml'"
            )
        return model._known_scale(criterion)
    if criterion == "reml" and known:
        return model._known_scale(criterion)
    return None


def select_glm(
    model: Any, criterion: str, maxiter: int, tol: float, *, warn: bool = True
) -> tuple[Any, MultiSelection]:
    """Performance iteration, then Newton on the criterion at converged fits.

    ``extra`` of the selection holds the search bounds and the estimate at
    the optimum (a start for :func:`priorreg.multi_loo.select_loocv`).
    """
    comps: Components = model.penalty_components
    scale = _glm_scale(model, criterion)
    working = "ubre" if criterion == "aic" else criterion
    b_ref = comps.priors[0]
    problem = model.problem
    # the usual GLM start: means between the response and its mean (statsmodels' starting_mu)
    mu = model.family.starting_mu(problem.y)
    eta = model.family.link(mu)
    params: Any = None
    rho = None
    steps: list[Any] = []
    converged = False
    best = None
    for _ in range(maxiter):
        prob = _working_problem(model, eta, mu, b_ref)
        best, path, _, _ = _search(prob, comps, working, scale=scale, rho0=rho, warn=False)
        steps.append(path[-1])
        new = b_ref + best.delta
        if params is not None:  # step halving on the penalized deviance at the new lams
            target = _penalized_deviance(model, params, best.lam)
            for _ in range(30):
                if _penalized_deviance(model, new, best.lam) <= target * (1 + 1e-12):
                    break
                new = 0.5 * (new + params)
            change = float(np.max(np.abs(new - params)) / (1.0 + np.max(np.abs(new))))
        else:
            change = math.inf
        rho_change = math.inf if rho is None else float(np.max(np.abs(best.rho - rho)))
        params, rho = new, best.rho
        eta, mu = problem.mean(params)
        if change <= math.sqrt(tol) and rho_change <= 1e-6:
            converged = True
            break
    assert best is not None
    record_fit(len(steps))  # one IRLS step per pass of the performance iteration
    _, lo, hi = search_bounds(prob.G, comps.matrices)
    table = path_frame(steps, comps.labels, working)
    table.insert(0, "stage", "performance")
    rho, value, hess = best.rho, best.value, best.hess
    if criterion in OUTER_CRITERIA:
        with quietly(), small_blas():
            best, outer, converged = outer_search(
                model, comps, criterion, best, lo, hi, scale=scale, maxiter=maxiter, tol=tol
            )
        outer_table = path_frame(outer, comps.labels, criterion)
        outer_table.insert(0, "stage", "outer")
        table = pd.concat([table, outer_table], ignore_index=True)
        table.index.name = "step"
        rho, value, hess = best.rho, best.value, best.hess
    flat = flat_components(best, lo, hi, criterion_scale(criterion, scale))
    edge = (
        warn_at_edge(rho, lo, hi, comps.labels, criterion, flat=flat)
        if warn
        else (rho <= lo + 1e-9) | (rho >= hi - 1e-9)
    )
    selection = MultiSelection(
        np.exp(rho), criterion, float(value), table, bool(edge.any()), converged, hess,
        extra={"bounds": (lo, hi), "params": best.delta + comps.priors[0]},
    )
    return np.exp(rho), selection


def select_glm_loocv(model: Any, maxiter: int, tol: float) -> tuple[Any, MultiSelection]:
    """LOOCV: Nelder-Mead over converged fits from the GCV optimum (:mod:`priorreg.multi_loo`)."""
    comps: Components = model.penalty_components
    _, gcv = select_glm(model, "gcv", maxiter, tol, warn=False)
    lo, hi = gcv.extra["bounds"]  # type: ignore[misc]
    with quietly(), small_blas():
        rho, value, table, converged = select_loocv(
            model, comps, np.log(gcv.lam), lo, hi, gcv.extra["params"], maxiter=maxiter, tol=tol
        )
    table.insert(0, "stage", "nelder-mead")
    gcv_table = gcv.path.rename(columns={"gcv": "start: gcv"})
    gcv_table["stage"] = "start (gcv): " + gcv_table["stage"]
    table = pd.concat([gcv_table, table], ignore_index=True)
    table.index.name = "step"
    edge = warn_at_edge(rho, lo, hi, comps.labels, "loocv")
    selection = MultiSelection(
        np.exp(rho), "loocv", value, table, bool(edge.any()), converged,
        np.full((comps.m, comps.m), np.nan),
    )
    return np.exp(rho), selection


def fit_glm(
    model: Any,
    lam: Any,
    lams: Any,
    cov_type: str,
    maxiter: int,
    tol: float,
    *,
    scale: Any = None,
    disp: Any = False,
) -> Any:
    """``PriorGLM.fit`` with several penalties (see :meth:`PriorGLM.fit`)."""
    from priorreg.multi_results import MultiGLMResults

    _no_progress(disp)
    if scale is not None and scale != model.scaletype:
        raise ValueError(
            "fit(scale=...) is not available with several penalties; give scale= to "
            "PriorGLM(...) instead"
        )

    refuse_out_of_core(
        model, "a GLM", "fit PriorGLM on the computed data in memory, or give one penalty"
    )
    comps: Components = model.penalty_components
    base_cov = _check_cov_type(cov_type)
    criterion = _criterion(lam, GLM_CRITERIA, lams)
    with counted_fits() as search:  # every IRLS run of the call, in this thread
        selection = None
        if criterion is None:
            lam_values = check_lams(lam, comps)
        else:
            if criterion == "loocv":
                lam_values, selection = select_glm_loocv(model, maxiter, tol)
            else:
                lam_values, selection = select_glm(model, criterion, maxiter, tol)
        inner = _combined_model(model, lam_values).fit(
            lam=1.0, cov_type=base_cov, maxiter=maxiter, tol=tol
        )
        unconditional = None
        if cov_type == "unconditional":
            # exact: the converged fit's d b/d rho, Laplace REML Hessian
            _check_unconditional_lams(lam_values)
            point = _evaluate_outer(
                model,
                comps,
                np.log(lam_values),
                "reml",
                _glm_scale(model, "reml"),
                np.asarray(inner._results.params),
                maxiter,
                tol,
            )
            unconditional = (point.dcoef, point.hess)
    res = _wrap(
        model,
        inner,
        MultiGLMResults,
        lams=lam_values,
        selection=selection,
        unconditional=unconditional,
    )
    # the final fit at the selected lams is a single-penalty fit: its own counts
    final = inner._results
    res._results.fit_counts = (
        sum(search) + final.iterations_total,
        len(search) + final.search_fits,
    )
    return res


