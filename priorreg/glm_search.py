r"""The GLM penalty search: Newton on :math:`\rho = \log\lambda` over converged fits.

A GLM criterion :math:`V(\rho)` (GCV, UBRE, AIC, Laplace REML) is evaluated
at *converged* penalized IRLS fits (DESIGN section 1). Its exact derivative
follows from implicit differentiation of the fit (Wood 2011, section 3;
mgcv's outer iteration). At a converged estimate :math:`\hat b(\rho)` the
score equation :math:`s(\hat b) = \lambda L (\hat b - b_0)` holds, with
:math:`s(b) = X'W g'(\mu)(y - \mu)`, so

.. math::

    \frac{d\hat b}{d\rho} = -\lambda (\mathcal I + \lambda L)^{-1} L (\hat b - b_0),
    \qquad
    \frac{dD}{d\rho} = -2\lambda (\hat b - b_0)' L \frac{d\hat b}{d\rho},

with :math:`\mathcal I = X' \mathrm{diag}(W \alpha) X` the observed
information, :math:`\alpha = 1 + (y - \mu)(V'/V + g''/g')` (:math:`\alpha =
1` for canonical links, where it is the Gram matrix :math:`H = X'WX`). With
:math:`A = H + \lambda L`, :math:`K = A^{-1}H` and
:math:`H_1 = dH/d\rho = X'\mathrm{diag}(\partial_\eta W \odot X\, d\hat b/d\rho) X`,

.. math::

    \frac{d\,\mathrm{edf}}{d\rho} = \operatorname{tr}\big(A^{-1}H_1 (I - K)\big)
        - \lambda \operatorname{tr}(A^{-1} L K),
    \qquad
    \frac{d\log|A|}{d\rho} = \operatorname{tr}(A^{-1}H_1) + \lambda\operatorname{tr}(A^{-1}L),

:math:`\partial_\eta W = -W (V'/V + 2 g''/g') / g'`. Then
:math:`\mathrm{GCV}' = nD'/(n - \mathrm{edf})^2 + 2nD\,\mathrm{edf}'/(n -
\mathrm{edf})^3`, :math:`\mathrm{UBRE}' = D'/n + 2\phi\,\mathrm{edf}'/n`,
:math:`\mathrm{AIC}' = D'/\phi + 2\,\mathrm{edf}'` (known scale) and, by the
envelope theorem (the Laplace objective is stationary in :math:`b` and in a
profiled :math:`\phi`),

.. math::

    \mathrm{REML}' = \frac{\lambda (\hat b - b_0)'L(\hat b - b_0)}{2\phi}
        + \tfrac12 \frac{d\log|A|}{d\rho} - \tfrac{m}{2},
    \qquad m = \operatorname{rank} L .

One converged fit and two extra passes over the data (``X db/drho`` and
:math:`H_1`, one ``syrk`` pass whatever the signs of its weights; a third
for :math:`\mathcal I` with a non-canonical link) give the value and the
exact first derivative; :func:`params_derivative` is the one implicit
derivative of the estimate (also behind ``cov_type="unconditional"``).
LOOCV and its derivative (:mod:`priorreg.glm_loocv`) add one pass for the
leverages from the same Cholesky factor. The search takes Newton steps with
the curvature from the two nearest derivatives (a secant on :math:`V'`),
safeguarded by the bracket that sign changes of :math:`V'` give, starting
at the performance-iteration :math:`\lambda`, each fit warm-started from the
nearest one. It stops when the step is below ``1e-3`` on :math:`\log\lambda`
(after taking that last step, unless the criterion is flat to rounding
there). At the outermost fit, a criterion still falling towards a bound by
a predicted :math:`V'^2/V''` below ``1e-6`` relative has the bound
evaluated at once. The reported optimum is the converged fit with the
smallest value. Criteria without a derivative here (``aic`` with an
estimated scale; Dask data) use a bracket and Brent's method on converged
fits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from priorreg import families as _families
from priorreg._typing import FloatArray
from priorreg.degenerate import exact_deviance, warn_glm_edge
from priorreg.glm_loocv import loocv_and_derivative
from priorreg.gram import signed_gram
from priorreg.gram_irls import (
    GramFit,
    GramPoint,
    _cholesky,
    _solve,
    gram_irls,
    gram_point,
    performance_irls,
)
from priorreg.irls import IRLSProblem, IRLSResult
from priorreg.linalg import _log_pdet, _rank
from priorreg.selection import Selection, _parabola_vertex

__all__ = [
    "GLMSearch",
    "Sensitivity",
    "brent",
    "laplace_reml",
    "newton_search",
    "params_derivative",
    "sensitivity",
]

#: Criteria that need only the deviance, edf, likelihood and leverages at a
#: fit: the search evaluates them by Gram-matrix IRLS (:mod:`priorreg.gram_irls`),
#: the leverages from the same Cholesky factor (:mod:`priorreg.gram_leverage`).
GRAM_CRITERIA = ("gcv", "ubre", "aic", "reml", "loocv")
#: Criteria with an exact derivative here (Newton); the others use Brent's method.
NEWTON_CRITERIA = ("gcv", "ubre", "aic", "reml", "loocv")
#: The derivative-free search brackets the start by these factors (log10).
_BRACKET_LOG10 = (float(np.log10(1.5)), 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)
#: Tolerance of the search on ``log(lam)``. The criteria are flat at their
#: minimum: rounding of the deviance (about 1e-14 relative for 1e5 terms)
#: already moves the argmin by about 1e-3 on ``log(lam)`` in the benchmark of
#: ``benchmarks/glm_path.py``, and the criterion changes there by ~1e-13.
XATOL = 1e-3
#: Criterion values closer than this (relative) cannot locate a vertex.
_FLAT_RTOL = 1e-10
#: Values this close (relative) over the whole search: a flat criterion, which
#: the bracket search reports (the flatness test of ``selection.warn_on_edge``).
_FLAT_VALUES = 1e-12
#: The last Newton step (below ``XATOL``) is skipped only when the predicted
#: change of the criterion is at the rounding of the deviance (~1e-14 relative).
_ROUNDING_RTOL = 1e-13
#: A criterion still falling at the outermost fit, with a convex tail, falls by
#: about ``V'^2 / V''`` more (exactly so for an exponential tail, where Newton
#: steps of constant length would walk to the bound). Below this (relative),
#: and with a Newton step at least half the last spacing (near a minimum the
#: step is a small fraction of it), the search evaluates the bound at once: if
#: the tail is monotone the bound is the minimum the walk would reach; if not,
#: the search goes on from the best fit.
_TAIL_RTOL = 1e-6
#: The search stays within 1e7 of its start either way (as the bracket does).
_SPAN = 7.0 * math.log(10.0)
#: First step on ``log(lam)`` (no curvature known yet), and the largest.
_FIRST_STEP = math.log(1.5)
_MAX_STEP = 2.0 * math.log(10.0)


@dataclass
class Trial:
    """One converged fit of the penalty search and its criterion value.

    ``fit`` is the full fit (path factorization) when the trial was made by
    :func:`priorreg.irls.penalized_irls`; ``point`` the weighted Gram matrix
    at the estimate when made (or later used as a start) by
    :func:`priorreg.gram_irls.gram_irls`; ``grad`` the derivative of the
    criterion on ``log(lam)`` once computed.
    """

    lam: float
    value: float
    edf: float
    deviance: float
    params: FloatArray
    fit: Any
    point: GramPoint | None
    iterations: int
    grad: float | None = None

    @classmethod
    def of_fit(cls, fit: Any, value: float, iterations: int | None = None) -> Trial:
        value = value if fit.converged else math.inf
        its = fit.iterations if iterations is None else iterations
        return cls(fit.lam, value, fit.edf, fit.deviance, fit.params, fit, None, its)


def brent(
    f: Callable[[float], float], ts: list[float], values: list[float], xatol: float
) -> tuple[float, float]:
    """Minimise ``f`` inside a bracket ``ts[0] < ts[1] < ts[2]`` (``f(ts[1])`` smallest).

    Brent's (1973) method: parabolic interpolation through the best three
    points, golden-section steps when the parabola is not trusted; the values
    at the bracket are known, so the first step is the parabola through them.
    Stops when the minimum is located to within ``xatol``.
    """
    golden = 0.3819660112501051
    lo, hi = ts[0], ts[2]
    x, fx = ts[1], values[1]
    (w, fw), (v, fv) = sorted([(ts[0], values[0]), (ts[2], values[2])], key=lambda p: p[1])
    e = d = hi - lo  # the bracket stands for the earlier steps: parabolas allowed
    tol1 = 0.5 * xatol
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if max(x - lo, hi - x) <= 2 * tol1:
            break
        parabolic = False
        if abs(e) > tol1 and all(math.isfinite(val) for val in (fx, fw, fv)):
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0:
                p = -p
            q = abs(q)
            if abs(p) < abs(0.5 * q * e) and q * (lo - x) < p < q * (hi - x):
                e, d = d, p / q
                parabolic = True
                if (x + d) - lo < 2 * tol1 or hi - (x + d) < 2 * tol1:
                    d = tol1 if mid >= x else -tol1
        if not parabolic:
            e = (hi - x) if x < mid else (lo - x)
            d = golden * e
        u = x + (d if abs(d) >= tol1 else math.copysign(tol1, d))
        fu = f(u)
        if fu <= fx:
            if u >= x:
                lo = x
            else:
                hi = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                lo = u
            else:
                hi = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v in (x, w):
                v, fv = u, fu
    return x, fx


@dataclass(frozen=True)
class Sensitivity:
    r"""Derivatives on :math:`\rho = \log\lambda` of a converged fit's ingredients.

    ``edf`` :math:`= \operatorname{tr}(A^{-1}H)`, ``log_det`` :math:`=
    \log|A|` with :math:`A = X'WX + \lambda L`; ``d_*`` their derivatives and
    those of the deviance and the estimate, all along the path of converged fits.
    """

    edf: float
    log_det: float
    d_deviance: float
    d_edf: float
    d_log_det: float
    d_params: FloatArray


def params_derivative(
    problem: IRLSProblem,
    point: GramPoint,
    lam: float,
    chol: tuple[FloatArray, FloatArray] | None = None,
) -> FloatArray | None:
    r"""The implicit derivative :math:`d\hat b/d\rho` of a converged fit (module Notes).

    .. math::

        \frac{d\hat b}{d\rho} = -\lambda (\mathcal I + \lambda L)^{-1} L (\hat b - b_0),

    :math:`\mathcal I` the observed information at ``point`` (the Gram matrix
    for a canonical link; one more pass over the data otherwise). ``chol``
    is the factor of :math:`X'WX + \lambda L` when the caller has it.
    ``None`` when that matrix is ill conditioned for the Gram route or the
    family's derivatives are not finite at ``point``.
    """
    if chol is None:
        chol = _cholesky(point.gram + lam * problem.L)
        if chol is None:
            return None
    fam, mu = problem.family, point.mu
    with np.errstate(all="ignore"):
        rel_v = fam.variance.deriv(mu) / fam.variance(mu)
        rel_g = fam.link.deriv2(mu) / fam.link.deriv(mu)
        W = problem.prior_weights * fam.weights(mu)
        curv = W * (problem.y - mu) * (rel_v + rel_g)  # observed minus Fisher weights
    if not np.all(np.isfinite(curv)):
        return None
    Ld = problem.L @ (point.params - problem.b0)
    canonical = bool(np.all(np.abs(rel_v + rel_g) <= 1e-10 * (np.abs(rel_v) + np.abs(rel_g))))
    if canonical:
        return -lam * _solve(*chol, Ld)
    obs = point.gram + signed_gram(problem.X, curv) + lam * problem.L
    try:
        return -lam * np.linalg.solve(obs, Ld)
    except np.linalg.LinAlgError:
        return None


def sensitivity(problem: IRLSProblem, point: GramPoint, lam: float) -> Sensitivity | None:
    """Exact derivatives of deviance, edf and ``log|A|`` at a converged fit (module Notes).

    ``point`` is the converged estimate with its Gram matrix. ``None`` when
    ``A`` is ill conditioned for the Gram route or the family's derivatives
    are not finite there.
    """
    X, L, fam = problem.X, problem.L, problem.family
    chol = _cholesky(point.gram + lam * L)
    if chol is None:
        return None
    k = L.shape[0]
    Ainv = _solve(*chol, np.eye(k))
    Ainv = 0.5 * (Ainv + Ainv.T)
    mu = point.mu
    with np.errstate(all="ignore"):
        g1 = fam.link.deriv(mu)
        rel_v = fam.variance.deriv(mu) / fam.variance(mu)
        rel_g = fam.link.deriv2(mu) / g1
        W = problem.prior_weights * fam.weights(mu)
        dW = -W * (rel_v + 2.0 * rel_g) / g1
    if not np.all(np.isfinite(dW)):
        return None
    b1 = params_derivative(problem, point, lam, chol)
    if b1 is None:
        return None
    Ld = L @ (point.params - problem.b0)
    H1 = signed_gram(X, dW * (X @ b1))
    K = Ainv @ point.gram
    AH1 = Ainv @ H1
    AL = Ainv @ L
    tr_ah1 = float(np.trace(AH1))
    C, D = chol
    return Sensitivity(
        edf=float(np.trace(K)),
        log_det=float(2.0 * np.sum(np.log(np.diagonal(C))) - 2.0 * np.sum(np.log(D))),
        d_deviance=float(-2.0 * lam * (Ld @ b1)),
        d_edf=tr_ah1 - float(np.sum(AH1 * K.T)) - lam * float(np.sum(AL * K.T)),
        d_log_det=tr_ah1 + lam * float(np.trace(AL)),
        d_params=b1,
    )


def laplace_reml(
    loglike: Callable[[float], float],
    pen: float,
    log_det: float,
    k0: int,
    phi: float | None,
    pearson: float,
    wnobs: float,
) -> tuple[float, float]:
    r"""The Laplace REML score at a fit, with a known or a profiled scale.

    .. math::

        -\ell(\phi) + \frac{P}{2\phi} + \tfrac12 \log\mathrm{det}
        - \tfrac{k_0}{2}\log(2\pi\phi)

    ``pen`` is :math:`\lambda (b - b_0)'L(b - b_0)`, ``log_det`` is
    :math:`\log|X'WX + \lambda L| - \log|\lambda L|_+`; ``phi`` a known
    scale, or ``None`` to minimise over it (the profiled REML). Returns the
    value and the scale used.
    """

    def neg(log_phi: float) -> float:
        p = math.exp(log_phi)
        return -loglike(p) + pen / (2 * p) + 0.5 * log_det - 0.5 * k0 * math.log(2 * math.pi * p)

    if phi is not None:
        return neg(math.log(phi)), phi
    guess = math.log(max(pearson / max(wnobs - k0, 1.0), 1e-300))
    opt = minimize_scalar(neg, bracket=(guess - 0.5, guess + 0.5), tol=1e-10)
    return float(opt.fun), math.exp(float(opt.x))


def newton_search(
    f: Callable[[float], tuple[float, float]],
    rho0: float,
    lo: float,
    hi: float,
    xatol: float = XATOL,
) -> None:
    r"""Locate a minimum of ``V(rho)`` on ``[lo, hi]`` from values and exact derivatives.

    ``f(rho) -> (V, V')`` (``V = inf`` and ``V' = nan`` where no converged
    fit exists: a wall). Steps :math:`-V'/c` from the best point, ``c`` the
    secant slope of :math:`V'` between it and the nearest other point (a
    first step of ``log 1.5`` downhill, growing x4 while ``c <= 0``), at most
    ``log(100)`` long, kept inside the bracket of the largest point with
    :math:`V' < 0` and the smallest with :math:`V' > 0` (bisection
    otherwise). At the outermost point, still falling outwards with a
    remaining fall :math:`V'^2/c` below ``1e-6`` relative and a Newton step
    at least half the last spacing (a plateau, not a minimum close by), it
    evaluates the bound (or wall) at once rather than walking to it. Stops after a step
    below ``xatol``; the caller reads the points from the memo behind ``f``.
    """
    pts: dict[float, tuple[float, float]] = {}

    def at(rho: float) -> tuple[float, float]:
        if rho not in pts:
            pts[rho] = f(rho)
        return pts[rho]

    at(rho0)
    step = _FIRST_STEP
    for _ in range(60):
        finite = {r: vg for r, vg in pts.items() if math.isfinite(vg[0])}
        if not finite:
            return
        rb = min(finite, key=lambda r: finite[r][0])
        vb, gb = finite[rb]
        if gb == 0 or not math.isfinite(gb):
            return
        walls = [r for r, vg in pts.items() if not math.isfinite(vg[0])]
        left = [r for r, (_, g) in finite.items() if g < 0] + [r for r in walls if r < rb]
        right = [r for r, (_, g) in finite.items() if g > 0] + [r for r in walls if r > rb]
        a = max([lo, *(r for r in left if r <= rb)])
        b = min([hi, *(r for r in right if r >= rb)])
        others = sorted(
            (r for r in finite if r != rb and math.isfinite(finite[r][1])),
            key=lambda r: abs(r - rb),
        )
        c = -1.0
        if others:
            ro = others[0]
            c = (gb - finite[ro][1]) / (rb - ro)
            if len(others) > 1:  # slope at rb of the parabola through three derivatives
                r2 = others[1]
                c2 = (finite[ro][1] - finite[r2][1]) / (ro - r2)
                c_quad = c + (c - c2) * (rb - ro) / (rb - r2)
                c = c_quad if c_quad > 0 else c
        edge = b if gb < 0 else a
        outermost = rb == (max(finite) if gb < 0 else min(finite))
        # a plateau, not a minimum nearby: the Newton step (1/kappa on an
        # exponential tail) is as long as the last spacing, not a fraction of it
        long_step = bool(others) and c > 0 and abs(gb / c) >= 0.5 * abs(rb - others[0])
        if long_step and outermost and edge not in pts and gb * gb / c <= _TAIL_RTOL * abs(vb):
            at(edge)  # evaluate the plateau's end instead of walking there
            continue
        if c > 0:
            t = rb - gb / c
        else:
            t = rb - math.copysign(step, gb)
            step *= 4.0
        t = min(max(t, rb - _MAX_STEP), rb + _MAX_STEP)
        if not a < t < b:
            inner = a if t <= a else b
            bounded = inner in (lo, hi) and inner not in pts
            t = inner if bounded else 0.5 * (rb + inner)
        if abs(t - rb) < xatol:
            flat = c > 0 and 0.5 * c * (t - rb) ** 2 <= _ROUNDING_RTOL * abs(vb)
            if abs(t - rb) > 1e-6 and not flat and t not in pts:
                at(t)
            return
        if t in pts:
            return
        at(t)


class GLMSearch:
    """The penalty search of :meth:`priorreg.PriorGLM.fit` (see the module notes).

    ``model`` is a :class:`priorreg.PriorGLM` (or a subclass: the Dask model
    has no in-memory problem and searches by its own fits).
    """

    def __init__(
        self,
        model: Any,
        criterion: str,
        maxiter: int,
        tol: float,
        report: Callable[..., None] | None = None,
    ) -> None:
        self.model, self.criterion = model, criterion
        self.maxiter, self.tol, self.report = maxiter, tol, report
        self.trials: dict[float, Trial] = {}
        self.problem: IRLSProblem | None = None
        gram = getattr(model, "bounds", None) is None  # Gram steps know no bounds
        if gram and criterion in GRAM_CRITERIA and (criterion != "aic" or self._phi() is not None):
            try:
                self.problem = model.problem
            except NotImplementedError:  # no in-memory arrays (out of core)
                self.problem = None

    # ---------------------------------------------------------- criteria
    def _phi(self) -> float | None:
        """The known scale (a number given, or 1 for its families), ``None`` if estimated."""
        model = self.model
        if isinstance(model.scaletype, float):
            return model.scaletype
        if model.scaletype is None and _families.is_known_scale(model.family):
            return 1.0
        return None

    def _value_and_grad(self, nf: GramFit) -> tuple[float, float | None]:
        """Criterion and its derivative on ``log(lam)`` at a converged Gram fit."""
        model, problem, name = self.model, self.problem, self.criterion
        assert problem is not None
        lam, point = nf.lam, nf.point
        if name == "loocv":
            return loocv_and_derivative(model, problem, point, lam, params_derivative)
        sens = sensitivity(problem, point, lam)
        if name in ("gcv", "ubre", "aic"):
            value = model._deviance_criterion(
                name, nf.deviance, nf.edf, lambda: model._llf_at(point, nf.edf)
            )
            if sens is None:
                return value, None
            n, D = model.wnobs, nf.deviance
            if name == "gcv":
                dfr = n - nf.edf
                grad = n * sens.d_deviance / dfr**2 + 2 * n * D * sens.d_edf / dfr**3
            elif name == "ubre":
                phi = model._known_scale("ubre")
                grad = sens.d_deviance / n + 2 * phi * sens.d_edf / n
            else:
                phi = self._phi()
                assert phi is not None
                grad = sens.d_deviance / phi + 2 * sens.d_edf
            return value, grad
        L = problem.L
        chol = _cholesky(point.gram + lam * L) if lam > 0 else None
        if chol is None:
            return math.nan, None
        m = _rank(L)
        log_det_a = 2.0 * float(np.sum(np.log(np.diagonal(chol[0])) - np.log(chol[1])))
        log_det = log_det_a - m * math.log(lam) - _log_pdet(L)
        pen = lam * problem.penalty(point.params)
        fam, y = model.family, model.endog_response
        with np.errstate(all="ignore"):
            resid2 = (y - point.mu) ** 2
            pearson = float(np.sum(problem.prior_weights * resid2 / fam.variance(point.mu)))
        data = model._irls_data()  # the log-likelihood at a scale: the data protocol's

        def loglike(phi: float) -> float:
            return data.loglike(point, phi)

        k0, n = L.shape[0] - m, model.wnobs
        value, phi = laplace_reml(loglike, pen, log_det, k0, self._phi(), pearson, n)
        if sens is None:
            return value, None
        return value, pen / (2 * phi) + 0.5 * sens.d_log_det - 0.5 * m

    def _newton_trial(self, nf: GramFit) -> Trial:
        value, grad = math.inf, math.nan
        if nf.converged:
            value, g = self._value_and_grad(nf)
            grad = math.nan if g is None else g
            if not math.isfinite(value):
                value = math.inf
        its = nf.iterations
        return Trial(nf.lam, value, nf.edf, nf.deviance, nf.params, None, nf.point, its, grad)

    def _start_point(self, trial: Trial) -> GramPoint | None:
        """The Gram matrix at a trial's estimate (one pass, cached on the trial)."""
        if trial.point is None and trial.fit is not None and self.problem is not None:
            f = trial.fit
            trial.point = gram_point(self.problem, f.params, f.eta, f.fittedvalues, f.deviance)
        return trial.point

    def evaluate(self, lam: float) -> float:
        """The criterion at a converged fit at ``lam`` (memoized; warm-started)."""
        trials, model = self.trials, self.model
        if lam in trials:
            return trials[lam].value
        nearest = None
        if trials:
            nearest = trials[min(trials, key=lambda v: abs(math.log(v) - math.log(lam)))]
        trial = None
        if self.problem is not None and nearest is not None:
            start = self._start_point(nearest)
            if start is not None:
                nf = gram_irls(self.problem, lam, start, maxiter=self.maxiter, tol=self.tol)
                trial = None if nf is None else self._newton_trial(nf)
                if nf is not None and nf.converged and not math.isfinite(trial.value):
                    trial = None  # not defined on the Gram route
        if trial is None:
            if nearest is not None and nearest.fit is None:
                fit = model._irls(lam, nearest.params, self.maxiter, self.tol)
            else:
                start_fit = None if nearest is None else nearest.fit
                fit = model._irls(lam, None, self.maxiter, self.tol, start_fit=start_fit)
            trial = Trial.of_fit(fit, model.criterion(fit, self.criterion))
        trials[lam] = trial
        if self.report is not None:
            self.report(lam, trial.value, trial.edf)
        return trial.value

    def gradient(self, lam: float) -> float | None:
        """Derivative of the criterion on ``log(lam)`` at the trial at ``lam``."""
        trial = self.trials[lam]
        if trial.grad is None and self.problem is not None and math.isfinite(trial.value):
            point = self._start_point(trial)
            if point is not None and trial.fit is not None and trial.fit.converged:
                nf = GramFit(point, lam, trial.edf, math.nan, True, trial.iterations)
                trial.grad = self._value_and_grad(nf)[1]
        return trial.grad

    # ------------------------------------------------------------ search
    def _start(self) -> float:
        """The performance iteration (Gram route, else the path): the start ``lam``."""
        model, trial = self.model, None
        if self.problem is not None:
            nf = performance_irls(self.problem, maxiter=self.maxiter, tol=self.tol)
            trial = None if nf is None else self._newton_trial(nf)
        if trial is None:
            fit0 = model._performance_iteration(self.criterion, self.maxiter, self.tol)
            trial = Trial.of_fit(fit0, model.criterion(fit0, self.criterion))
        lam0 = max(trial.lam, 1e-300)
        self.trials[lam0] = trial
        if self.report is not None:
            self.report(lam0, trial.value, trial.edf)
        return lam0

    def _newton(self, rho0: float, lo: float, hi: float) -> bool:
        """Newton search on ``log(lam)``; False when a derivative was not available."""

        class _NoDerivativeError(Exception):
            pass

        def f(rho: float) -> tuple[float, float]:
            lam = float(math.exp(rho))
            value = self.evaluate(lam)
            if not math.isfinite(value):
                return math.inf, math.nan
            grad = self.gradient(lam)
            if grad is None or not math.isfinite(grad):
                raise _NoDerivativeError
            return value, grad

        try:
            newton_search(f, rho0, lo, hi)
        except _NoDerivativeError:
            return False
        return True

    def _flat(self) -> bool:
        """Fewer than three fits, or values equal to rounding (as the edge warning judges)."""
        values = np.array([t.value for t in self.trials.values()])
        values = values[np.isfinite(values)]
        if values.size < 3:
            return True
        deviances = [t.deviance for t in self.trials.values()]
        if exact_deviance(self.model, deviances):  # values of rounding size (e.g. all ~0)
            return True
        return bool(np.ptp(values) <= _FLAT_VALUES * np.max(np.abs(values)))

    def _bracket_and_brent(self, lam0: float | None) -> None:
        """Derivative-free: widen a bracket around ``lam0``, then Brent and a parabola step."""
        trials = self.trials
        if lam0 is not None:
            for side in (-1.0, 1.0):
                self.evaluate(lam0 * 10.0 ** (side * _BRACKET_LOG10[0]))
            for step in _BRACKET_LOG10[1:]:
                grid = sorted(trials)
                best = int(np.argmin([trials[v].value for v in grid]))
                if 0 < best < len(grid) - 1:
                    break
                self.evaluate(lam0 * 10.0 ** (step if best else -step))
        grid = sorted(trials)
        values = [trials[v].value for v in grid]
        best = int(np.argmin(values))
        if best in (0, len(grid) - 1) or not np.isfinite(values[best]):
            return
        ts = [math.log(grid[i]) for i in (best - 1, best, best + 1)]
        brent(
            lambda t: self.evaluate(float(math.exp(t))),
            ts,
            [values[best - 1], values[best], values[best + 1]],
            XATOL,
        )
        # one parabola step through the best point and its neighbours
        # locates lam far below the search tolerance; skipped where the
        # criterion is flat to rounding over them
        grid = sorted(trials)
        best = int(np.argmin([trials[v].value for v in grid]))
        if 0 < best < len(grid) - 1:
            near = [grid[best - 1], grid[best], grid[best + 1]]
            vals = np.array([trials[v].value for v in near])
            t_vertex = _parabola_vertex(np.log(near), vals)
            resolved = np.ptp(vals) > _FLAT_RTOL * abs(vals[1])
            if resolved and abs(t_vertex - math.log(grid[best])) > 1e-6:
                self.evaluate(float(math.exp(t_vertex)))

    def run(self, lams: FloatArray | None) -> tuple[Any, Selection]:
        """Search, then finish the best converged fit; returns ``(fit, Selection)``."""
        model, trials, criterion = self.model, self.trials, self.criterion
        newton_ok = self.problem is not None and criterion in NEWTON_CRITERIA
        bounds: tuple[float, float] | None = None
        if lams is None:
            lam0 = self._start()
            rho0 = math.log(lam0)
            bounds = (rho0 - _SPAN, rho0 + _SPAN)
            if newton_ok and math.isfinite(trials[lam0].value):
                # a criterion flat at the start (e.g. an exact fit at every
                # lam) stops Newton at once: the bracket search then tells
                # a flat criterion from a minimum
                newton_ok = self._newton(rho0, *bounds) and not self._flat()
            else:
                newton_ok = False
            if not newton_ok:
                bounds = None
                self._bracket_and_brent(lam0)
        else:
            for lam in np.sort(np.asarray(lams, dtype=float)):
                self.evaluate(float(lam))
            grid = sorted(trials)
            best = int(np.argmin([trials[v].value for v in grid]))
            if newton_ok and 0 < best < len(grid) - 1:
                lo, hi = math.log(grid[best - 1]), math.log(grid[best + 1])
                newton_ok = self._newton(math.log(grid[best]), lo, hi)
            if not newton_ok:
                self._bracket_and_brent(None)
        grid = sorted(trials)
        values = [trials[v].value for v in grid]
        best = int(np.argmin(values))
        if not np.isfinite(values[best]):
            raise ValueError(
                f"{criterion} could not be evaluated: no fit on the lam grid converged"
            )
        if bounds is not None:  # Newton: on the edge when it ran into a bound
            t = math.log(grid[best])
            on_edge = min(abs(t - bounds[0]), abs(t - bounds[1])) < 1e-9
            upper = abs(t - bounds[1]) < 1e-9
        else:
            on_edge, upper = best in (0, len(grid) - 1), best > 0
        if on_edge:
            deviances = [trials[v].deviance for v in grid]
            warn_glm_edge(model, criterion, grid[best], upper, values, deviances)
        final = grid[best]
        chosen = trials[final]
        fit = chosen.fit
        if fit is None:
            # a converged Gram-route fit: the same IRLS iterate, finished
            # (covariance, edf, ...) with the path factorization at it
            point = chosen.point
            assert point is not None
            fit = model._finish(
                IRLSResult(
                    params=point.params,
                    eta=point.eta,
                    mu=point.mu,
                    deviance=point.deviance,
                    penalized_deviance=point.deviance
                    + final * model.problem.penalty(point.params),
                    lam=final,
                    converged=True,
                    iterations=chosen.iterations,
                ),
                point,  # covariance and edf from its Cholesky factor, no path factor
            )
            # the same converged iterate: its criterion is the search's value
            # (recomputed from the path factor it differs by rounding only)
            chosen = Trial.of_fit(fit, chosen.value, chosen.iterations)
            trials[final] = chosen
        if self.report is not None:
            self.report(final, chosen.value, chosen.edf, chosen=True)
        lam_sorted = sorted(trials)
        path = {
            "lam": np.array(lam_sorted),
            "edf": np.array([trials[v].edf for v in lam_sorted]),
            "deviance": np.array([trials[v].deviance for v in lam_sorted]),
            criterion: np.array([trials[v].value for v in lam_sorted]),
            # IRLS iterations of each fit, from its warm start (the search's cost)
            "iterations": np.array([trials[v].iterations for v in lam_sorted], dtype=int),
        }
        return fit, Selection(final, criterion, chosen.value, path, on_edge)
