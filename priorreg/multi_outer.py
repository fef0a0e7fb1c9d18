r"""Outer iteration for a GLM with several penalties: the criterion at converged fits.

After the performance iteration (:func:`priorreg.multi_fit.select_glm`) the
lams are refined on the criterion evaluated at *converged* penalized IRLS
fits (DESIGN section 1), as mgcv's outer iteration. The gradient in
``rho = log(lam)`` is exact (Wood 2011, section 3 and appendix D, first
order): at a converged fit, with ``u = w_p (y - mu)/(V g')``,
``s = sum_j lam_j P_j (b - b0_j) = X'u`` and the observed weights
``w_o = w + w_p (y - mu)(V'g' + V g'')/(V^2 g'^3)`` (equal to the Fisher
weights ``w`` for canonical links),

.. math::

    b_j = -\lambda_j (X'W_oX + S)^{-1} P_j (b - b_{0,j}),\qquad
    \partial_j D = -2 s'b_j,

    \partial_j \mathrm{edf} = \sum_i \frac{\partial w_i}{\partial\eta_i}
      (Xb_j)_i\, x_i'Qx_i - \lambda_j \operatorname{tr}(A^{-1}P_jA^{-1}X'WX),

``A = X'WX + S``, ``Q = A^{-1} S A^{-1}``. The Hessian starts from the
working model's (exact for the working model, from the performance
iteration) and is updated by BFGS from the exact gradients; steps are
Newton steps on it (eigenvalues made positive, length at most 5) with step
halving on the criterion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from priorreg._typing import FloatArray
from priorreg.multi import Components
from priorreg.multi_kernel import CriterionPoint, _inverse, gram
from priorreg.multi_select import _newton_step

__all__ = ["outer_search"]


@dataclass(frozen=True)
class _OuterFit:
    params: FloatArray
    deviance: float
    edf: float
    value: float
    grad: FloatArray
    converged: bool


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
    value, eta, mu = pen_dev(b)
    for _ in range(maxiter):
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
        step = float(np.max(np.abs(new - b)))
        done = abs(value - new_value) <= tol * (abs(new_value) + 1e-300) and step <= math.sqrt(
            tol
        ) * (1.0 + float(np.max(np.abs(new))))
        b, value, eta, mu = new, new_value, new_eta, new_mu
        if done:
            return b, True
    return b, False


def _weight_terms(model: Any, mu: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Fisher weights ``w``, observed weights ``w_o`` and ``dw/deta`` at the means."""
    fam = model.family
    pw = model.problem.prior_weights
    y = model.problem.y
    V = fam.variance(mu)
    dV = fam.variance.deriv(mu)
    g1 = fam.link.deriv(mu)
    g2 = fam.link.deriv2(mu)
    w = pw / (V * g1**2)
    w_obs = w + pw * (y - mu) * (dV * g1 + V * g2) / (V**2 * g1**3)
    dw_deta = -pw * (dV * g1**2 + 2 * V * g1 * g2) / (V**2 * g1**4) / g1
    return w, w_obs, dw_deta


def _evaluate(
    model: Any,
    comps: Components,
    rho: FloatArray,
    criterion: str,
    scale: float,
    start: FloatArray,
    maxiter: int,
    tol: float,
) -> _OuterFit:
    lams = np.exp(rho)
    params, converged = _irls_at(model, comps, lams, start, maxiter, tol)
    X = model.exog
    _, mu = model.problem.mean(params)
    deviance = model.problem.deviance(mu)
    w, w_obs, dw = _weight_terms(model, mu)
    G = gram(X * np.sqrt(w)[:, None])
    S = np.tensordot(lams, comps.matrices, axes=1)
    Ainv, _ = _inverse(G + S)
    F = Ainv @ G
    edf = float(np.trace(F))
    # observed weights may be negative: a general product (equal to G when canonical)
    Go = G if np.allclose(w_obs, w, rtol=1e-13, atol=0) else X.T @ (w_obs[:, None] * X)
    Aoinv, _ = _inverse(0.5 * (Go + Go.T) + S)
    resid = params[None, :] - comps.priors
    Pd = (comps.matrices @ resid[:, :, None])[:, :, 0]
    s = lams @ Pd
    dcoef = -(Aoinv @ Pd.T) * lams[None, :]  # (k, m)
    dev_1 = -2.0 * s @ dcoef
    Q = Ainv @ S @ Ainv
    q = np.einsum("ij,ij->i", X @ Q, X)
    eta_1 = X @ dcoef  # (n, m)
    M = Ainv @ comps.matrices
    trMF = np.einsum("jab,ba->j", M, F)
    edf_1 = (dw * q) @ eta_1 - lams * trMF
    n = model.wnobs
    if criterion == "gcv":
        tau = n - edf
        value = n * deviance / tau**2 if tau > 0 else math.inf
        grad = n * dev_1 / tau**2 + 2.0 * n * deviance * edf_1 / tau**3
    elif criterion == "ubre":
        value = deviance / n + 2.0 * scale * edf / n - scale
        grad = dev_1 / n + 2.0 * scale * edf_1 / n
    else:  # aic with a known scale: -2 llf = D / scale + const(y)
        value = model._deviance_criterion("aic", deviance, edf, lambda: model._llf(mu, scale))
        grad = dev_1 / scale + 2.0 * edf_1
    return _OuterFit(params, deviance, edf, float(value), np.asarray(grad), converged)


def outer_search(
    model: Any,
    comps: Components,
    criterion: str,
    start: CriterionPoint,
    lo: FloatArray,
    hi: FloatArray,
    *,
    scale: float,
    maxiter: int,
    tol: float,
    outer_tol: float = 1e-7,
    max_steps: int = 30,
) -> tuple[FloatArray, list[tuple[FloatArray, float, float, float]], bool]:
    """Minimise the converged-fit criterion from the performance iteration's optimum.

    Returns ``(rho, path, converged)`` with ``path`` rows ``(rho, edf, value,
    max|grad|)``.
    """
    rho = np.asarray(start.rho, dtype=float)
    H = np.asarray(start.hess, dtype=float) * (model.wnobs / scale if criterion == "aic" else 1.0)
    params = start.delta + comps.priors[0]
    point = _evaluate(model, comps, rho, criterion, scale, params, maxiter, tol)
    path = [(rho, point.edf, point.value, float(np.max(np.abs(point.grad))))]
    converged = False
    for _ in range(max_steps):
        g = point.grad
        size = outer_tol * (1.0 + abs(point.value))
        free = ~(((rho <= lo) & (g > 0)) | ((rho >= hi) & (g < 0)) | (np.abs(g) < size))
        if not free.any():
            converged = True
            break
        step = np.zeros_like(rho)
        step[free] = _newton_step(g[free], H[np.ix_(free, free)])
        trial = None
        for _ in range(25):
            candidate_rho = np.clip(rho + step, lo, hi)
            candidate = _evaluate(
                model, comps, candidate_rho, criterion, scale, point.params, maxiter, tol
            )
            if candidate.value < point.value:
                trial = candidate
                break
            step = step / 2
        if trial is None:
            converged = bool(np.max(np.abs(g[free])) <= 1e3 * size)
            break
        s_vec, y_vec = candidate_rho - rho, trial.grad - g
        if s_vec @ y_vec > 1e-12 * np.linalg.norm(s_vec) * np.linalg.norm(y_vec):  # BFGS
            Hs = H @ s_vec
            H = H - np.outer(Hs, Hs) / (s_vec @ Hs) + np.outer(y_vec, y_vec) / (s_vec @ y_vec)
        change = point.value - trial.value
        rho, point = candidate_rho, trial
        path.append((rho, point.edf, point.value, float(np.max(np.abs(point.grad)))))
        if change <= outer_tol**2 * (1.0 + abs(point.value)):
            converged = True
            break
    return rho, path, converged
