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
LOOCV and its derivative (:mod:`priorreg.glm_loocv`) make the first two in
one (:func:`priorreg.gram_leverage.gram_along`) and one more for the
leverages from the same Cholesky factor. The search
(:func:`priorreg.line_search.newton_search`) takes Newton steps from the
performance-iteration :math:`\lambda`: the first with the exact
:math:`V''` there (:mod:`priorreg.glm_curvature`, one more pass; GCV, UBRE,
AIC and REML with a known scale, canonical links; LOOCV's from
:mod:`priorreg.glm_loocv_curvature`; the GCV and LOOCV first step is
Newton's on the mean shrinkage, :mod:`priorreg.shrinkage_step`), later ones
with the curvature from the two nearest derivatives (a secant on
:math:`V'`), safeguarded by the bracket that sign changes of :math:`V'`
give, each fit warm-started from the nearest one.
After the first sign change of :math:`V'` next to the fit with the exact
:math:`V''`, the step goes to the minimum of the quartic through both fits'
values and derivatives and that curvature
(:func:`priorreg.line_search.quartic_zero`): no further curvature pass. It
stops when the step is below ``1e-3`` on :math:`\log\lambda` (after taking
it), or without taking a step below ``1e-2`` whose predicted fall is below
``tol / 100`` of the criterion (a fit converged to ``tol`` does not resolve
it). At the outermost fit, a criterion still falling towards a bound by
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
from priorreg.glm_curvature import criterion_curvature, fit_curvature
from priorreg.glm_loocv import LoocvAtFit, loocv_at_fit
from priorreg.glm_loocv_curvature import loocv_curvature
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
from priorreg.line_search import _ROUNDING_RTOL, XATOL, brent, newton_search
from priorreg.link_slope import slope_sign
from priorreg.selection import Selection, _parabola_vertex
from priorreg.shrinkage_step import shrinkage_fraction

__all__ = [
    "GLMSearch",
    "Sensitivity",
    "brent",
    "exact_curvature",
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
#: Criterion values closer than this (relative) cannot locate a vertex.
_FLAT_RTOL = 1e-10
#: Values this close (relative) over the whole search: a flat criterion, which
#: the bracket search reports (the flatness test of ``selection.warn_on_edge``).
_FLAT_VALUES = 1e-12
#: The last Newton step (below ``XATOL``) is also skipped when the change of
#: the criterion it predicts is below this fraction of ``tol``: a fit
#: converged to ``tol`` (relative change of the penalized deviance) carries
#: its criterion to about ``tol`` relative, so a fall of ``tol / 100`` cannot
#: be told from the fits' own error.
_SKIP_TOL_FRACTION = 1e-2
#: ... for a step below this on ``log(lam)`` (the tolerance the tests of the
#: search hold it to against a brute-force minimiser).
_SKIP_XATOL = 10 * XATOL
#: The first Newton step uses the exact curvature where it is covered
#: (:mod:`priorreg.glm_curvature`); later steps use secants.
_FIRST_CURVATURE = True
#: Criteria whose Newton step from the exact curvature at the best point is
#: taken on the shrinkage fraction (:mod:`priorreg.shrinkage_step`) rather
#: than on ``log(lam)``.
_SHRINKAGE_STEP_CRITERIA = ("gcv", "loocv")
#: The search stays within 1e7 of its start either way (as the bracket does).
_SPAN = 7.0 * math.log(10.0)


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
    #: :math:`A^{-1}`, :math:`H_1` and :math:`X\,d\hat b/d\rho`, for the second
    #: derivatives (:mod:`priorreg.glm_curvature`).
    inverse: FloatArray | None = None
    gram_derivative: FloatArray | None = None
    d_eta: FloatArray | None = None


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
    sign = slope_sign(fam.link, point.eta, mu)
    with np.errstate(all="ignore"):
        g1 = fam.link.deriv(mu)
        rel_v = fam.variance.deriv(mu) / fam.variance(mu)
        rel_g = fam.link.deriv2(mu) / g1
        W = problem.prior_weights * fam.weights(mu)
        dW = -W * (rel_v + 2.0 * rel_g) * sign / g1
    if not np.all(np.isfinite(dW)):
        return None
    b1 = params_derivative(problem, point, lam, chol)
    if b1 is None:
        return None
    Ld = L @ (point.params - problem.b0)
    e1 = X @ b1
    H1 = signed_gram(X, dW * e1)
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
        inverse=Ainv,
        gram_derivative=H1,
        d_eta=e1,
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


def exact_curvature(model: Any, criterion: str, fit: Any) -> float | None:
    """Exact second derivative on ``log(lam)`` of ``criterion`` at a converged fit.

    :meth:`GLMSearch.curvature` at ``fit`` (one pass for the Gram matrix at
    its estimate, two for the derivatives); ``None`` where it is not covered
    (:mod:`priorreg.glm_curvature`), without in-memory data, or where the
    Gram route declines.
    """
    search = GLMSearch(model, criterion, 200, 1e-12)
    if search.problem is None or not fit.lam > 0:
        return None
    point = gram_point(search.problem, np.asarray(fit.params), fit.eta, fit.fittedvalues,
                       fit.deviance)
    if point is None:
        return None
    trial = search._newton_trial(GramFit(point, fit.lam, fit.edf, math.nan, True, 0))
    search.trials[fit.lam] = trial
    return search.curvature(fit.lam) if math.isfinite(trial.grad or math.nan) else None


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
        self._sensitivity: dict[float, Sensitivity] = {}
        self._loocv_at: dict[float, LoocvAtFit] = {}
        self._located = False  # Newton stopped on a step below its tolerance
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
            at = loocv_at_fit(model, problem, point, lam, params_derivative)
            self._loocv_at[lam] = at  # its derivative's pieces, for the exact curvature
            return at.value, at.grad
        sens = sensitivity(problem, point, lam)
        if sens is not None:
            self._sensitivity[lam] = sens
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

    def curvature(self, lam: float) -> float | None:
        """Exact second derivative on ``log(lam)`` at the trial at ``lam``.

        From :mod:`priorreg.glm_curvature` and the first derivatives' pass.

        ``None`` where it is not covered (LOOCV, a non-canonical link, an
        estimated scale except for GCV) or the first derivatives were not formed.
        """
        sens, trial, model = self._sensitivity.get(lam), self.trials.get(lam), self.model
        if sens is None or trial is None or trial.point is None or sens.inverse is None:
            return None
        assert sens.gram_derivative is not None
        fc = fit_curvature(model, trial.point, lam, sens.inverse, sens.gram_derivative,
                           sens.d_params, sens.d_eta)
        if fc is None:
            return None
        phi = model._known_scale("ubre") if self.criterion == "ubre" else self._phi()
        return criterion_curvature(self.criterion, model.wnobs, trial.deviance, sens.edf,
                                   sens.d_deviance, sens.d_edf, fc, phi)

    def _loocv_curvature(self, lam: float) -> float | None:
        """For LOOCV: its exact second derivative at the trial at ``lam``.

        From :mod:`priorreg.glm_loocv_curvature` and the pieces of the
        trial's first derivative; ``None`` where it is not covered.
        """
        trial, at = self.trials[lam], self._loocv_at.get(lam)
        if trial.point is None or at is None or self.problem is None:
            return None
        return loocv_curvature(self.model, self.problem, trial.point, lam, at)

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

        def f(rho: float) -> tuple[float, ...]:
            # a fit already made at rho (exp(log(lam)) may differ from lam in its last bit)
            lam = next((v for v in self.trials if math.log(v) == rho), float(math.exp(rho)))
            lam_of[rho] = lam
            value = self.evaluate(lam)
            if not math.isfinite(value):
                return math.inf, math.nan
            grad = self.gradient(lam)
            if grad is None or not math.isfinite(grad):
                raise _NoDerivativeError
            if rho == rho0 and _FIRST_CURVATURE:  # exact for the first step; secants after it
                curv = self.curvature(lam)
                if curv is None and self.criterion == "loocv":
                    curv = self._loocv_curvature(lam)
                if curv is not None and math.isfinite(curv):
                    return value, grad, curv
            return value, grad

        def shrinkage(rho: float) -> float | None:
            return shrinkage_fraction(self.trials[lam_of[rho]].edf, k, m)

        lam_of: dict[float, float] = {}
        assert self.problem is not None
        k, m = self.problem.L.shape[0], _rank(self.problem.L)
        warp = shrinkage if self.criterion in _SHRINKAGE_STEP_CRITERIA else None
        skip = max(_ROUNDING_RTOL, _SKIP_TOL_FRACTION * self.tol)
        try:
            self._located = newton_search(
                f, rho0, lo, hi, skip_rtol=skip, skip_xatol=_SKIP_XATOL, quartic=True,
                shrinkage=warp
            )
        except _NoDerivativeError:
            return False
        return True

    def _flat(self) -> bool:
        """Too few fits, or values equal to rounding (as the edge warning judges).

        Three fits are needed unless Newton located the minimum (a step below
        its tolerance from a positive curvature): one fit then suffices, and
        values equal over less than 1 on ``log(lam)`` do not make it flat.
        """
        values = np.array([t.value for t in self.trials.values()])
        values = values[np.isfinite(values)]
        if values.size < (1 if self._located else 3):
            return True
        deviances = [t.deviance for t in self.trials.values()]
        if exact_deviance(self.model, deviances):  # values of rounding size (e.g. all ~0)
            return True
        span = np.ptp(np.log([lam for lam, t in self.trials.items() if math.isfinite(t.value)]))
        if self._located and span < 1.0:
            return False  # located from close points: their values need not differ
        return values.size > 1 and bool(np.ptp(values) <= _FLAT_VALUES * np.max(np.abs(values)))

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
