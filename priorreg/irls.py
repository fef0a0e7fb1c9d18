r"""Penalized IRLS: the GLM as a sequence of prior-centred ridge problems.

Minimises the penalized deviance

.. math::

    D(b) + \lambda (b - b_0)' L (b - b_0)

(``D`` with prior weights ``freq_weights * var_weights``, no 1/2 or 1/n).
Each step solves the weighted linear problem
:math:`(X'WX + \lambda L) b = X'W(z - o) + \lambda L b_0` with working
weights :math:`W = w / (V(\mu) g'(\mu)^2)` and working response
:math:`z = \eta + s\, g'(\mu)(y - \mu)` (:math:`s` the sign of the inverse
link's slope, :mod:`priorreg.link_slope`: 1 but for the square-root link at
:math:`\eta < 0`) through the linear kernel
(:func:`priorreg.linalg.factorize`), halving the step while the penalized
deviance increases, until its relative change
:math:`|P_t - P_{t-1}| / (|P_t| + 0.1)` is below ``tol``.

With ``select`` the step also chooses ``lam`` on the working linear model
("performance iteration", Gu 1992; Wood 2004), which finds a near-optimal
penalty weight at the cost of about one fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
from statsmodels.genmod import families as smf

from priorreg import families as _families
from priorreg._typing import FloatArray
from priorreg.bounded import ReducedProblem
from priorreg.exceptions import kept_warnings
from priorreg.glm_loocv_rows import loo_predictor
from priorreg.gram import unpenalized
from priorreg.linalg import PathFactor, factorize
from priorreg.link_slope import slope_sign
from priorreg.selection import select_lam

__all__ = [
    "ArrayData",
    "ArrayPoint",
    "Box",
    "IRLSData",
    "IRLSProblem",
    "IRLSResult",
    "LoopResult",
    "PathSystem",
    "irls_loop",
    "mean_in_domain",
    "mean_out_of_domain",
    "penalized_irls",
]


@dataclass(frozen=True)
class IRLSProblem:
    """Data and penalty of a penalized GLM fit (arrays only)."""

    X: FloatArray
    y: FloatArray
    family: Any
    offset: FloatArray
    freq_weights: FloatArray
    var_weights: FloatArray
    b0: FloatArray
    L: FloatArray
    intercept: int | None

    @property
    def prior_weights(self) -> FloatArray:
        """``freq_weights * var_weights``."""
        return self.freq_weights * self.var_weights

    def mean(self, params: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Linear predictor (with offset) and mean.

        A trial step may take the inverse link out of range (``exp`` of a
        huge ``eta``, a negative power of a negative ``eta``): the mean is
        then 0, 1, inf or NaN, and the step halving of :func:`irls_loop`
        rejects the non-finite deviance, so no warning (as for
        :meth:`deviance` and :meth:`working`).
        """
        eta = self.X @ params + self.offset
        with np.errstate(all="ignore"):
            return eta, self.family.link.inverse(eta)

    def deviance(self, mu: FloatArray) -> float:
        """Deviance with prior weights (scale 1)."""
        with np.errstate(all="ignore"):
            return _families.deviance(self.family, self.y, mu, self.var_weights, self.freq_weights)

    def penalty(self, params: FloatArray) -> float:
        """``(b - b0)' L (b - b0)``."""
        delta = params - self.b0
        return float(delta @ self.L @ delta)

    def working(self, eta: FloatArray, mu: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Working weights ``W`` and response ``z`` (without offset)."""
        with np.errstate(all="ignore"):
            # d eta / d mu = sign / g'(mu) (priorreg.link_slope): 1 / g'(mu) for most links
            gprime = slope_sign(self.family.link, eta, mu) * self.family.link.deriv(mu)
            W = self.prior_weights * self.family.weights(mu)
            z = (eta - self.offset) + gprime * (self.y - mu)
        return W, z

    @cached_property
    def centre(self) -> int | None:
        """The constant, unpenalized column the Gram route centres on (``None``: none)."""
        j = self.intercept
        if j is None or not unpenalized(self.L, j) or not self.X.shape[0]:
            return None
        c = self.X[0, j]
        return j if c != 0 and bool(np.all(self.X[:, j] == c)) else None

    @cached_property
    def prior_fit(self) -> FloatArray:
        """``X b0`` (computed once per problem)."""
        return self.X @ self.b0

    def factor(self, eta: FloatArray, mu: FloatArray) -> tuple[PathFactor, FloatArray]:
        """Factorized working problem and ``W^1/2 (z - X b0)``."""
        W, z = self.working(eta, mu)
        if not (np.all(np.isfinite(W)) and np.all(W > 0) and np.all(np.isfinite(z))):
            raise FloatingPointError("working weights are not finite and positive")
        zr = z - self.prior_fit
        return factorize(self.X, zr, self.L, W, self.intercept), zr * np.sqrt(W)


@dataclass(frozen=True)
class IRLSResult:
    """A (converged or not) penalized IRLS fit at one ``lam``."""

    params: FloatArray
    eta: FloatArray
    mu: FloatArray
    deviance: float
    penalized_deviance: float
    lam: float
    converged: bool
    iterations: int


# ----------------------------------------------------------------- the loop
class IRLSPoint(Protocol):
    """An estimate as the loop sees it.

    ``params`` is ``None`` at the family's starting means (no estimate yet);
    ``deviance`` is the deviance there, ``inf`` where it is not defined (a
    mean outside the family's domain), so that the step is halved.
    """

    @property
    def params(self) -> FloatArray | None: ...

    @property
    def deviance(self) -> float: ...


P = TypeVar("P", bound=IRLSPoint)


class WorkingSystem(Protocol):
    """The weighted linear problem of one IRLS step, ready to solve at any ``lam``."""

    def solve(self, lam: float, params: FloatArray | None) -> FloatArray | None:
        """The working problem's solution at ``lam`` (``None``: this route declines)."""
        ...


S = TypeVar("S", bound=WorkingSystem)


class IRLSData(Protocol[P, S]):
    r"""What the penalized IRLS loop needs of the data.

    ``evaluate(b)`` computes, in one pass, the linear predictor, the means
    and the deviance at ``b`` (``b=None``: the family's starting means);
    ``system(point)`` the working linear problem there
    (:math:`X'WX`, :math:`X'W(z - X b_0)` in some factored form: the
    weighted Gram matrix, the triangular factor of the weighted design, or
    the path factor); ``penalty(b)`` :math:`(b - b_0)'L(b - b_0)`.

    At a converged point the results and the penalty search ask two more
    things: ``loglike(point, scale)``, the full log-likelihood
    :math:`\ell(\mu; \phi)` as statsmodels' families compute it, and
    ``loo_deviance(point, factor, lam)``, the approximate leave-one-out
    deviance

    .. math::

        \frac{1}{n}\sum_i f_i\, d_i\big(y_i, g^{-1}(\eta_i - e_i h_i / (1 - h_i))\big),
        \qquad e_i = s_i\, g'(\mu_i)(y_i - \mu_i),

    with the leverages :math:`h_i` of the working model ``factor`` at
    ``lam`` (:mod:`priorreg.glm_loocv_rows`, :math:`s` the slope's sign of
    :mod:`priorreg.link_slope`; :math:`n = \sum_i f_i`).

    In-memory arrays (:class:`ArrayData`, :class:`priorreg.gram_irls.GramData`)
    and Dask partitions (:class:`priorreg.outofcore.glm.DaskData`)
    implement it.
    """

    b0: FloatArray
    family: Any

    def evaluate(self, params: FloatArray | None) -> P:
        """The point at ``params`` (one pass over the data)."""
        ...

    def system(self, point: P) -> S | None:
        """The working problem at ``point`` (``None``: this route declines)."""
        ...

    def penalty(self, params: FloatArray) -> float:
        """``(b - b0)' L (b - b0)``."""
        ...

    def loglike(self, point: P, scale: float) -> float:
        """Full log-likelihood at ``point`` with dispersion ``scale``."""
        ...

    def loo_deviance(self, point: P, factor: PathFactor, lam: float) -> float:
        """Approximate leave-one-out deviance at ``point`` (``inf`` where not finite)."""
        ...


@dataclass(frozen=True)
class LoopResult(Generic[P]):
    """The last accepted point of :func:`irls_loop` and how the loop ended."""

    point: P
    lam: float
    penalized_deviance: float
    converged: bool
    iterations: int
    #: The loop stopped because no halved step gave a finite deviance.
    stuck: bool = False

    @property
    def params(self) -> FloatArray:
        """Coefficients at the last accepted point."""
        assert self.point.params is not None
        return self.point.params


#: Step halvings before a step is given up.
_MAX_HALVINGS = 40


def _descends(pen: float, pen_old: float) -> bool:
    """``pen`` is finite and not above ``pen_old`` (by more than ``1e-12`` relative)."""
    return bool(np.isfinite(pen)) and not pen > pen_old + 1e-12 * abs(pen_old)


def irls_loop(
    data: IRLSData[P, S],
    lam: float,
    *,
    start: FloatArray | None = None,
    maxiter: int = 100,
    tol: float = 1e-8,
    select: Callable[[S], float | None] | None = None,
    first: tuple[P, S] | None = None,
    report: Callable[[int, float, float, float], None] | None = None,
) -> LoopResult[P] | None:
    r"""Penalized IRLS: the one loop of every backend and route.

    Minimises :math:`P(b) = D(b) + \lambda (b - b_0)'L(b - b_0)`. From the
    start (``start``; else the prior when its mean is valid; else the
    family's starting means) each iteration solves the working linear
    problem at the current point for the full step, evaluates the candidate
    (one pass over the data) and halves the step towards the current
    estimate (at most 40 times) while :math:`P` is not finite or exceeds
    the current value by more than ``1e-12`` relative. The loop stops when

    .. math::

        |P_t - P_{t-1}| / (|P_t| + 0.1) < \mathrm{tol}

    (converged) or after ``maxiter`` iterations. A loop from a given start
    (``start`` or the prior, not ``first``) that finds no working weights or
    no finite step there, or ends without converging, runs once more from
    the family's starting means (a prior far from the data, e.g. an
    intercept in other units, otherwise creeps or sticks); the second
    result is kept when it converges.

    Parameters
    ----------
    data : IRLSData
        The data and the route of the working solves.
    lam : float
        Penalty weight (the first one when ``select`` is given).
    start : ndarray, optional
        Starting coefficients.
    maxiter, tol
        Iteration limit and relative tolerance on the penalized deviance.
    select : callable, optional
        ``select(system) -> lam`` chooses ``lam`` at every step on the
        working problem (performance iteration); ``None`` declines.
    first : (point, system), optional
        A point already evaluated at ``start`` with its working system
        (e.g. from a converged fit at another ``lam``): no pass for them.
    report : callable, optional
        ``report(iteration, lam, deviance, change)`` after each accepted step.

    Returns
    -------
    LoopResult or None
        ``None`` when the route declines (``data.system``, its ``solve`` or
        ``select`` returned ``None``).

    Raises
    ------
    ValueError
        When no step gives a finite deviance from the family's starting means.
    """
    point: P | None = None
    system: S | None = None
    if first is not None:
        point, system = first
    else:
        if start is not None:
            point = data.evaluate(np.asarray(start, dtype=float))
        elif np.any(data.b0):
            point = data.evaluate(data.b0.copy())
        if point is not None and not np.isfinite(point.deviance):
            point = None
        if point is None:
            point = data.evaluate(None)
    pen_old = math.inf
    converged = stuck = False
    # a start far from the data (a prior) can leave no finite step, or creep
    # towards the optimum (a Gamma log link moves eta by at most 1 a step): then
    # once more from the family's own start, where R's glm and statsmodels begin
    restart = first is None and point.params is not None
    lam_given = lam
    iterations = 0
    for iterations in range(1, maxiter + 1):
        if system is None:
            try:
                system = data.system(point)
            except FloatingPointError:  # no working weights at the given start
                if not (restart and iterations == 1):
                    raise
                restart = False
                point = data.evaluate(None)
                system = data.system(point)
            if system is None:
                return None
        if select is not None:
            chosen = select(system)
            if chosen is None:
                return None
            lam = chosen
        params = point.params
        if params is not None:
            pen_old = point.deviance + lam * data.penalty(params)
        new = system.solve(lam, params)
        if new is None:
            return None
        cand = data.evaluate(new)
        new_pen = cand.deviance + lam * data.penalty(new)
        halvings = 0
        while params is not None and halvings < _MAX_HALVINGS and not _descends(new_pen, pen_old):
            new = 0.5 * (params + new)
            cand = data.evaluate(new)
            new_pen = cand.deviance + lam * data.penalty(new)
            halvings += 1
        if not np.isfinite(new_pen):
            if restart and iterations == 1:
                restart = False
                point, system, pen_old = data.evaluate(None), None, math.inf
                continue
            stuck = True
            break
        change = abs(new_pen - pen_old) / (abs(new_pen) + 0.1)
        point, system, pen_old = cand, None, new_pen
        if report is not None:
            report(iterations, lam, point.deviance, change)
        if change < tol:
            converged = True
            break
    if point.params is None:  # the first step already left the family's range
        family = data.family
        raise ValueError(
            f"penalized IRLS failed at its first step: the {type(family).__name__} "
            f"family's deviance is not finite with the {type(family.link).__name__} "
            "link (means outside the family's range). Use a link that keeps the means "
            "valid, e.g. Log(), or a prior close to the solution as the start"
        )
    if restart and not converged:
        again = irls_loop(
            data,
            lam_given,
            maxiter=maxiter,
            tol=tol,
            select=select,
            first=(data.evaluate(None), None),  # type: ignore[arg-type]
            report=report,
        )
        if again is not None and again.converged:
            return again
    return LoopResult(point, float(lam), pen_old, converged, iterations, stuck)


# ------------------------------------------------------------ in-memory data
def mean_out_of_domain(family: Any, mu: FloatArray) -> int:
    """Number of means not valid for ``family`` (not finite, outside (0, 1) or <= 0)."""
    mu = np.asarray(mu)
    with np.errstate(invalid="ignore"):
        if isinstance(family, smf.Gaussian):
            ok = np.isfinite(mu)
        elif isinstance(family, smf.Binomial):
            ok = np.isfinite(mu) & (mu > 0) & (mu < 1)
        else:
            ok = np.isfinite(mu) & (mu > 0)
    return int(np.count_nonzero(~ok))


def mean_in_domain(family: Any, mu: FloatArray) -> bool:
    """Whether the means are valid for ``family``: finite, in (0, 1) or > 0."""
    return mean_out_of_domain(family, mu) == 0


@dataclass(frozen=True)
class Box:
    r"""Bounds :math:`l - b_0 \le \delta \le u - b_0` on the working solution.

    The bounded working problem is solved exactly on the reduced factor
    (:meth:`priorreg.bounded.ReducedProblem.solve`); its unbounded solution
    is the answer when it satisfies the bounds.
    """

    lower: FloatArray
    upper: FloatArray
    L: FloatArray
    intercept: int | None

    @classmethod
    def of(cls, bounds: Any, b0: FloatArray, L: FloatArray, intercept: int | None) -> Box:
        """The box of a model's ``bounds`` (its ``lower``/``upper`` on ``b``) around ``b0``."""
        return cls(bounds.lower - b0, bounds.upper - b0, L, intercept)

    def solve(self, factor: PathFactor, lam: float) -> FloatArray:
        """Bounded ``delta = b - b0`` of the working problem at ``lam``."""
        reduced = ReducedProblem.from_factor(factor, self.L, self.intercept)
        return reduced.solve(lam, self.lower, self.upper, start=factor.coef(lam))[0]


@dataclass(frozen=True)
class ArrayPoint:
    """An estimate of an in-memory fit: linear predictor, means and deviance."""

    params: FloatArray | None
    eta: FloatArray
    mu: FloatArray
    deviance: float


@dataclass(frozen=True)
class PathSystem:
    """The working problem as its path factor (any ``lam``, with or without bounds)."""

    factor: PathFactor
    zw: FloatArray
    b0: FloatArray
    box: Box | None = None

    def solve(self, lam: float, params: FloatArray | None) -> FloatArray:
        """``b0 + delta`` with ``delta`` the (bounded) working solution at ``lam``."""
        delta = self.factor.coef(lam) if self.box is None else self.box.solve(self.factor, lam)
        return self.b0 + delta


@dataclass(frozen=True)
class ArrayData:
    """In-memory arrays for :func:`irls_loop`: working solves on the path factor.

    ``box`` bounds the working solutions; the deviance is then ``inf`` for
    means outside the family's domain, so that a step into it is halved.
    """

    problem: IRLSProblem
    box: Box | None = None

    @property
    def b0(self) -> FloatArray:
        """The prior."""
        return self.problem.b0

    @property
    def family(self) -> Any:
        """The statsmodels family."""
        return self.problem.family

    def evaluate(self, params: FloatArray | None) -> ArrayPoint:
        """Linear predictor, means and deviance at ``params`` (or the starting means)."""
        problem = self.problem
        if params is None:
            mu = problem.family.starting_mu(problem.y)
            eta = problem.family.link(mu) + 0.0
        else:
            eta, mu = problem.mean(params)
        if self.box is not None and not mean_in_domain(problem.family, mu):
            return ArrayPoint(params, eta, mu, math.inf)
        return ArrayPoint(params, eta, mu, problem.deviance(mu))

    def system(self, point: ArrayPoint) -> PathSystem:
        """The path factor of the working problem at ``point``."""
        factor, zw = self.problem.factor(point.eta, point.mu)
        return PathSystem(factor, zw, self.problem.b0, self.box)

    def penalty(self, params: FloatArray) -> float:
        """``(b - b0)' L (b - b0)``."""
        return self.problem.penalty(params)

    def loglike(self, point: ArrayPoint, scale: float) -> float:
        """Full log-likelihood at the means of ``point`` (any estimate with ``mu``)."""
        p = self.problem
        return _families.loglike(p.family, p.y, point.mu, p.var_weights, p.freq_weights, scale)

    def loo_deviance(self, point: ArrayPoint, factor: PathFactor, lam: float) -> float:
        """Approximate leave-one-out deviance with the leverages of ``factor`` at ``lam``."""
        h = np.asarray(factor.leverage(lam))
        return self.loo_deviance_at(point.mu, point.eta, h)

    def loo_deviance_at(self, mu: FloatArray, eta: FloatArray, h: FloatArray) -> float:
        """Approximate leave-one-out deviance at means ``mu`` with leverages ``h``."""
        p = self.problem
        family = p.family
        eta_loo = loo_predictor(family.link, p.y, eta, mu, h)  # sign of d mu/d eta included
        with np.errstate(all="ignore"):
            mu_loo = family.link.inverse(eta_loo)
            dev = family.resid_dev(p.y, mu_loo, var_weights=p.var_weights) ** 2
        total = float(np.sum(p.freq_weights * dev)) / float(p.freq_weights.sum())
        return total if np.isfinite(total) else math.inf


def as_result(r: LoopResult[ArrayPoint], data: Any) -> IRLSResult:
    """The :class:`IRLSResult` of an in-memory loop's last point."""
    p = r.point
    return IRLSResult(
        params=r.params,
        eta=p.eta,
        mu=p.mu,
        deviance=p.deviance,
        penalized_deviance=p.deviance + r.lam * data.penalty(r.params),
        lam=r.lam,
        converged=r.converged,
        iterations=r.iterations,
    )


def penalized_irls(
    problem: IRLSProblem,
    lam: float,
    *,
    start: FloatArray | None = None,
    maxiter: int = 100,
    tol: float = 1e-8,
    select: Callable[[PathFactor, FloatArray], float] | None = None,
    start_factor: tuple[PathFactor, FloatArray] | None = None,
    box: Box | None = None,
) -> IRLSResult:
    """Run penalized IRLS at a fixed ``lam`` (or select it with ``select``) on the path factor.

    :func:`irls_loop` on :class:`ArrayData`.

    Parameters
    ----------
    problem : IRLSProblem
    lam : float
        Penalty weight (the first one when ``select`` is given).
    start : ndarray, optional
        Starting coefficients (warm start); default: the prior when it gives
        a valid mean, else the family's usual starting means.
    maxiter, tol
        Iteration limit and relative tolerance on the penalized deviance.
    select : callable, optional
        ``select(factor, z_w) -> lam`` chooses ``lam`` at every step
        (performance iteration).
    start_factor : (PathFactor, ndarray), optional
        ``problem.factor`` at ``start`` (e.g. of a converged fit at another
        ``lam``): the factorization holds for every ``lam``, so the first
        step reuses it instead of factorizing again. Ignored without ``start``.
    box : Box, optional
        Bounds on the working solutions (:mod:`priorreg.bounded_glm`).

    Returns
    -------
    IRLSResult

    Raises
    ------
    ValueError
        When no step gives a finite deviance (e.g. a link that takes the
        means out of the family's range, as the inverse-squared link of the
        inverse Gaussian can).
    """
    data = ArrayData(problem, box)
    first = None
    if start is not None and start_factor is not None:
        point = data.evaluate(np.asarray(start, dtype=float))
        if np.isfinite(point.deviance):
            first = (point, PathSystem(*start_factor, problem.b0, box))
    pick = None
    if select is not None:
        chooser = select

        def pick(system: PathSystem) -> float:
            return chooser(system.factor, system.zw)

    r = irls_loop(
        data, lam, start=start, maxiter=maxiter, tol=tol, select=pick, first=first
    )
    assert r is not None  # the path route never declines
    return as_result(r, data)


def working_selector(criterion: str) -> Callable[[PathFactor, FloatArray], float]:
    """Select ``lam`` on the working linear model (GCV, or REML for ``"reml"``)."""
    linear = "reml" if criterion == "reml" else "gcv"

    def select(factor: PathFactor, zw: FloatArray) -> float:
        # the working model's own warnings (an edge of its grid) are not the user's;
        # dropped per thread, without touching the process-wide filters
        with kept_warnings((Warning,)):
            return select_lam(factor, zw, linear).lam

    return select
