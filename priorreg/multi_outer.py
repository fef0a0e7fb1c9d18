r"""Outer iteration for a GLM with several penalties: the criterion at converged fits.

After the performance iteration (:func:`priorreg.multi_fit.select_glm`) the
lams are refined on the criterion evaluated at *converged* penalized IRLS
fits (DESIGN section 1), as mgcv's outer iteration (Wood 2011): Newton's
method on ``rho = log(lam)`` with the exact gradient and Hessian of the
criterion, from the implicit derivatives of the fit
(:mod:`priorreg.multi_implicit`). The step and its safeguards are those of
the linear search (:func:`priorreg.multi_select.newton_rho`): an indefinite
Hessian is made positive definite by the absolute values of its eigenvalues
(mgcv's choice), a step that does not lower the criterion is halved, and
after 30 halvings steepest descent is tried; a component whose lam runs to
0 or infinity, where the criterion is flat in it
(:func:`priorreg.multi_select.flat_components`) or pushes at the edge of
the range, is held fixed while the others converge (mgcv drops such
parameters from the Newton step).

Criteria, with deviance ``D``, ``edf = tr((X'WX + S)^{-1} X'WX)`` and
``n`` the weighted number of observations: ``gcv = n D/(n - edf)^2``;
``ubre = D/n + 2 phi edf/n - phi``; ``aic = -2 llf + 2 edf`` (known scale,
``-2 llf = D/phi + const``); ``reml``: the Laplace approximation

.. math::

    V = -\ell(\hat b;\phi) + \frac{1}{2\phi}\sum_j \lambda_j
        (\hat b - b_{0,j})'P_j(\hat b - b_{0,j})
        + \tfrac12\big(\log|X'WX + S| - \log|S|_+\big)
        - \tfrac{M_p}{2}\log(2\pi\phi),

``M_p`` the dimension of the penalties' common null space and ``W`` the
Fisher weights at :math:`\hat b` (the single-penalty criterion of
:meth:`priorreg.glm.PriorGLM.criterion` with ``S`` for ``lam L``). By the
envelope theorem :math:`\partial_j V = \partial_j D_p/(2\phi) +
\tfrac12(\partial_j\log|A| - \partial_j\log|S|_+)`. With an estimated scale
it is minimised over ``phi`` at each ``rho`` (profiled) and the Hessian is
:math:`V_{\rho\rho} - V_{\rho\tau}V_{\rho\tau}'/V_{\tau\tau}`,
``tau = log(phi)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from priorreg import families as _families
from priorreg._typing import FloatArray
from priorreg.multi import Components
from priorreg.multi_implicit import fit_derivatives
from priorreg.multi_kernel import CriterionPoint, _inverse, _log_det_terms, gram, penalty_range
from priorreg.multi_select import coordinate_scan, flat_components, newton_rho

__all__ = ["counted_fits", "criterion_scale", "outer_search", "record_fit"]

#: The IRLS iterations of each fit run in :func:`counted_fits` (per thread).
_counts: ContextVar[list[int] | None] = ContextVar("priorreg_multi_counts", default=None)


@contextmanager
def counted_fits() -> Iterator[list[int]]:
    """Collect the IRLS iterations of each fit of a several-penalty search.

    Yields
    ------
    list of int
        One entry per penalized IRLS run in the context (this thread only):
        the performance iteration and every fit at fixed lams of the outer or
        LOOCV search, in order.
    """
    counts: list[int] = []
    token = _counts.set(counts)
    try:
        yield counts
    finally:
        _counts.reset(token)


def record_fit(iterations: int) -> None:
    """Add one fit of ``iterations`` IRLS iterations to :func:`counted_fits`, if collecting."""
    counts = _counts.get()
    if counts is not None:
        counts.append(int(iterations))


def criterion_scale(criterion: str, scale: float | None) -> float:
    """The size of the criterion's terms that cancel, for :func:`flat_components`.

    UBRE, ``D/n + 2 phi edf/n - phi``, is near 0 when the model fits while
    its terms are of size ``phi``; the other criteria's size is ``|V|``.
    """
    if criterion == "ubre":
        return float(scale if scale is not None else 1.0)
    return 0.0


#: IRLS inside the outer iteration also needs its step below this (relative):
#: the derivatives use the estimate itself, not only the deviance.
_STEP_RTOL = 1e-8
#: Newton restarts from a scan when the optimum holds a lam where the criterion is flat.
_RESTARTS = 2
#: That scan's steps in each flat ``rho_j`` (a factor e^8 ~ 3000 in lam): each
#: point is a converged fit, so two per component, not the linear search's eight.
_FLAT_SCAN = np.array([-8.0, 8.0])


def _irls_at(
    model: Any, comps: Components, lams: FloatArray, start: FloatArray, maxiter: int, tol: float
) -> tuple[FloatArray, bool]:
    """Penalized IRLS at fixed ``lams`` on the dense Gram matrix, warm-started."""
    problem = model.problem
    X = model.exog
    S, b0 = comps.combined(lams)
    s0 = S @ b0

    def pen_dev(b: FloatArray) -> tuple[float, Any, Any]:
        with np.errstate(all="ignore"):  # a trial step may overflow: it is then halved
            eta, mu = problem.mean(b)
        d = b - b0
        return problem.deviance(mu) + float(d @ S @ d), eta, mu

    b = np.asarray(start, dtype=float)
    passes = 0  # the IRLS iterations run, recorded even when one fails
    try:
        value, eta, mu = pen_dev(b)
        for _ in range(maxiter):
            passes += 1
            W, z = problem.working(eta, mu)
            Ainv, _ = _inverse(gram(X * np.sqrt(W)[:, None]) + S)
            new = Ainv @ (X.T @ (W * z) + s0)
            for _ in range(30):
                new_value, new_eta, new_mu = pen_dev(new)
                if np.isfinite(new_value) and new_value <= value * (1 + 1e-12):
                    break
                new = 0.5 * (new + b)
            # the value is stationary in b: its change alone leaves b accurate to only
            # sqrt(tol); the derivatives need b itself, so the step must be small too
            # (Fisher scoring: one or two more steps for a canonical link)
            step = float(np.max(np.abs(new - b)))
            small = min(math.sqrt(tol), _STEP_RTOL) * (1.0 + float(np.max(np.abs(new))))
            done = abs(value - new_value) <= tol * (abs(new_value) + 1e-300) and step <= small
            b, value, eta, mu = new, new_value, new_eta, new_mu
            if done:
                return b, True
        return b, False
    finally:
        record_fit(passes)


def _reml_scale(
    model: Any, mu: FloatArray, pen_dev: float, log_det: float, k0: int, scale: float | None
) -> tuple[float, float, float]:
    r"""Laplace REML value, the scale used and (profiled scale) its curvature in ``log(scale)``.

    The value is the single-penalty criterion
    (:func:`priorreg.glm_search.laplace_reml`) with ``pen`` the sum over the
    components; an estimated scale minimises it (Brent's method). With an estimated
    scale, :math:`\tau = \log\phi` is refined by Newton steps on the
    central-difference derivative of :math:`V(\tau)` (steps 1e-4 and 1e-3):
    Brent's method alone locates a minimum only to :math:`\sqrt\epsilon`,
    which would show as noise of that size in the gradient in ``rho``. The
    curvature :math:`V_{\tau\tau}` of the profiled Hessian is the same
    central difference (relative error about 1e-6 in that one number), the
    only approximate term of the Hessian.
    """
    fam, y = model.family, model.endog_response
    vw, fw = model.var_weights_total, model.freq_weights_total
    pen = pen_dev - float(model.problem.deviance(mu))

    def loglike(phi: float) -> float:
        return _families.loglike(fam, y, mu, vw, fw, phi)

    def neg(tau: float) -> float:
        p = math.exp(tau)
        return -loglike(p) + pen / (2 * p) - 0.5 * k0 * math.log(2 * math.pi * p)

    if scale is not None:
        return neg(math.log(scale)) + 0.5 * log_det, float(scale), math.nan
    with np.errstate(all="ignore"):
        pearson = float(np.sum(model.problem.prior_weights * (y - mu) ** 2 / fam.variance(mu)))
    guess = math.log(max(pearson / max(model.wnobs - k0, 1.0), 1e-300))
    phi = math.exp(float(minimize_scalar(neg, bracket=(guess - 0.5, guess + 0.5), tol=1e-10).x))
    tau, curv = math.log(phi), math.nan
    for _ in range(3):
        slope = (neg(tau + 1e-4) - neg(tau - 1e-4)) / 2e-4
        curv = (neg(tau + 1e-3) - 2.0 * neg(tau) + neg(tau - 1e-3)) / 1e-6
        new = tau - slope / curv
        if not (curv > 0 and neg(new) <= neg(tau)):
            break
        tau = new
    return neg(tau) + 0.5 * log_det, math.exp(tau), curv


def _evaluate(
    model: Any,
    comps: Components,
    rho: FloatArray,
    criterion: str,
    scale: float | None,
    start: FloatArray,
    maxiter: int,
    tol: float,
    *,
    parts: tuple[FloatArray, FloatArray] | None = None,
    order: int = 2,
) -> CriterionPoint:
    """The criterion at the converged fit at ``rho``, with its exact gradient and Hessian.

    ``scale`` is the known scale (``ubre``, ``aic``; ``reml`` when known), or
    ``None`` (``gcv``; ``reml`` profiles it). ``delta`` of the result is the
    estimate minus the first component's prior.
    """
    lams = np.exp(rho)
    params, _ = _irls_at(model, comps, lams, start, maxiter, tol)
    fd = fit_derivatives(model, comps, lams, params, order)
    n = model.wnobs
    D, edf = fd.deviance, fd.edf
    if criterion == "gcv":
        tau = n - edf
        value = n * D / tau**2 if tau > 0 else math.inf
        grad = n * fd.d_deviance / tau**2 + 2.0 * n * D * fd.d_edf / tau**3
        hess = (
            n * fd.h_deviance / tau**2
            + 2.0 * n * (np.outer(fd.d_deviance, fd.d_edf) + np.outer(fd.d_edf, fd.d_deviance))
            / tau**3
            + 6.0 * n * D * np.outer(fd.d_edf, fd.d_edf) / tau**4
            + 2.0 * n * D * fd.h_edf / tau**3
        )
    elif criterion == "ubre":
        phi = float(scale if scale is not None else 1.0)
        value = D / n + 2.0 * phi * edf / n - phi
        grad = fd.d_deviance / n + 2.0 * phi * fd.d_edf / n
        hess = fd.h_deviance / n + 2.0 * phi * fd.h_edf / n
    elif criterion == "aic":  # known scale: -2 llf = D / scale + const(y)
        phi = float(scale if scale is not None else 1.0)
        value = model._deviance_criterion("aic", D, edf, lambda: model._llf(fd, phi))
        grad = fd.d_deviance / phi + 2.0 * fd.d_edf
        hess = fd.h_deviance / phi + 2.0 * fd.h_edf
    elif criterion == "reml":
        U, range_parts = penalty_range(comps.matrices) if parts is None else parts
        k0 = comps.matrices.shape[1] - U.shape[1]
        log_s, ls_1, ls_2 = _log_det_terms(lams, range_parts, 2)
        value, phi, curv = _reml_scale(model, fd.mu, fd.pen_dev, fd.log_det - log_s, k0, scale)
        grad = fd.d_pen_dev / (2.0 * phi) + 0.5 * (fd.d_log_det - ls_1)
        hess = fd.h_pen_dev / (2.0 * phi) + 0.5 * (fd.h_log_det - ls_2)
        if scale is None and curv > 0:  # profiled scale: the Schur complement
            cross = -fd.d_pen_dev / (2.0 * phi)
            hess = hess - np.outer(cross, cross) / curv
    else:
        raise ValueError(f"unknown criterion {criterion!r} for the outer iteration")
    return CriterionPoint(
        rho=np.asarray(rho, dtype=float),
        value=float(value),
        grad=np.asarray(grad, dtype=float),
        hess=0.5 * (hess + np.asarray(hess).T),
        edf=edf,
        delta=params - comps.priors[0],
        rss=D,
        dcoef=fd.dcoef,
    )


def outer_search(
    model: Any,
    comps: Components,
    criterion: str,
    start: CriterionPoint,
    lo: FloatArray,
    hi: FloatArray,
    *,
    scale: float | None,
    maxiter: int,
    tol: float,
) -> tuple[CriterionPoint, list[CriterionPoint], bool]:
    """Newton's method on the converged-fit criterion from the performance iteration's optimum.

    Returns ``(best, path, converged)`` as :func:`priorreg.multi_select.newton_rho`;
    each fit is warm-started from the previous one.
    """
    parts = penalty_range(comps.matrices) if criterion == "reml" else None
    last = {"params": start.delta + comps.priors[0]}

    def at(rho: FloatArray, order: int = 2) -> CriterionPoint:
        try:
            point = _evaluate(
                model, comps, rho, criterion, scale, last["params"], maxiter, tol,
                parts=parts, order=order,
            )
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            m = rho.size
            nan = np.full(m, np.nan)
            return CriterionPoint(rho, math.inf, nan, np.full((m, m), np.nan), math.nan,
                                  start.delta, math.nan, start.dcoef)
        if math.isfinite(point.value):
            last["params"] = point.delta + comps.priors[0]
        return point

    seen: dict[bytes, float] = {}

    def value(rho: FloatArray) -> float:  # a scan step clipped onto a point already seen
        key = np.asarray(rho, dtype=float).tobytes()
        if key not in seen:
            seen[key] = at(rho, 0).value
        return seen[key]

    rho0 = np.clip(np.asarray(start.rho, dtype=float), lo, hi)
    first = at(rho0)
    if not (math.isfinite(first.value) and np.all(np.isfinite(first.hess))):
        # no converged fit at the performance iteration's optimum: keep that optimum
        return start, [start], False

    def from_first(rho: FloatArray) -> CriterionPoint:  # newton_rho starts at rho0
        return first if np.array_equal(rho, rho0) else at(rho)

    cancel = criterion_scale(criterion, scale)
    best, path, converged = newton_rho(
        from_first, rho0, lo, hi, labels=comps.labels, criterion=criterion, scale=cancel
    )
    for _ in range(_RESTARTS):
        # a lam held where the criterion is flat in it (run to 0 or infinity)
        # may have left a lower basin behind: scan from the optimum, as the
        # linear search does, and restart Newton from what the scan finds
        flat = flat_components(best, lo, hi, cancel)
        if not flat.any():
            break
        seen[np.asarray(best.rho, dtype=float).tobytes()] = best.value
        held = np.where(flat, lo, best.rho), np.where(flat, hi, best.rho)
        rho = coordinate_scan(value, best.rho, *held, offsets=_FLAT_SCAN)
        if np.array_equal(rho, best.rho):
            break
        again, steps, again_converged = newton_rho(
            at, rho, lo, hi, labels=comps.labels, criterion=criterion, scale=cancel
        )
        path.extend(steps)
        if not again.value < best.value:
            break
        best, converged = again, again_converged
    return best, path, converged
