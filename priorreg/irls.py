r"""Penalized IRLS: the GLM as a sequence of prior-centred ridge problems.

Minimises the penalized deviance

.. math::

    D(b) + \lambda (b - b_0)' L (b - b_0)

(``D`` with prior weights ``freq_weights * var_weights``, no 1/2 or 1/n).
Each step solves the weighted linear problem
:math:`(X'WX + \lambda L) b = X'W(z - o) + \lambda L b_0` with working
weights :math:`W = w / (V(\mu) g'(\mu)^2)` and working response
:math:`z = \eta + g'(\mu)(y - \mu)` through the linear kernel
(:func:`priorreg.linalg.factorize`), halving the step while the penalized
deviance increases, until its relative change
:math:`|P_t - P_{t-1}| / (|P_t| + 0.1)` is below ``tol``.

With ``select`` the step also chooses ``lam`` on the working linear model
("performance iteration", Gu 1992; Wood 2004), which finds a near-optimal
penalty weight at the cost of about one fit.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from priorreg._typing import FloatArray
from priorreg.linalg import PathFactor, factorize
from priorreg.selection import select_lam

__all__ = ["IRLSProblem", "IRLSResult", "penalized_irls"]


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
        then 0, 1, inf or NaN, and the step halving of :func:`halve_step`
        rejects the non-finite deviance, so no warning (as for
        :meth:`deviance` and :meth:`working`).
        """
        eta = self.X @ params + self.offset
        with np.errstate(all="ignore"):
            return eta, self.family.link.inverse(eta)

    def deviance(self, mu: FloatArray) -> float:
        """Deviance with prior weights (scale 1)."""
        with np.errstate(all="ignore"):
            return float(
                self.family.deviance(
                    self.y,
                    mu,
                    var_weights=self.var_weights,
                    freq_weights=self.freq_weights,
                    scale=1.0,
                )
            )

    def penalty(self, params: FloatArray) -> float:
        """``(b - b0)' L (b - b0)``."""
        delta = params - self.b0
        return float(delta @ self.L @ delta)

    def working(self, eta: FloatArray, mu: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Working weights ``W`` and response ``z`` (without offset)."""
        with np.errstate(all="ignore"):
            gprime = self.family.link.deriv(mu)
            W = self.prior_weights * self.family.weights(mu)
            z = (eta - self.offset) + gprime * (self.y - mu)
        return W, z

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


def _valid(dev: float) -> bool:
    return bool(np.isfinite(dev))


#: Step halvings before a step is given up.
_MAX_HALVINGS = 40


def halve_step(
    problem: IRLSProblem,
    lam: float,
    params: FloatArray | None,
    new: FloatArray,
    pen_old: float,
) -> tuple[FloatArray, FloatArray, FloatArray, float, float]:
    r"""Take the step to ``new``, halved towards ``params`` while it does not descend.

    The step is halved (at most 40 times) while the penalized deviance
    :math:`P = D + \lambda (b - b_0)'L(b - b_0)` is not finite or exceeds
    ``pen_old`` by more than ``1e-12`` relative; ``params=None`` (no
    current estimate) takes the step as it is. Returns
    ``(b, eta, mu, D, P)`` at the accepted point.
    """
    eta, mu = problem.mean(new)
    dev = problem.deviance(mu)
    pen = dev + lam * problem.penalty(new)
    halvings = 0
    while (
        params is not None
        and halvings < _MAX_HALVINGS
        and (not _valid(pen) or pen > pen_old + 1e-12 * abs(pen_old))
    ):
        new = 0.5 * (params + new)
        eta, mu = problem.mean(new)
        dev = problem.deviance(mu)
        pen = dev + lam * problem.penalty(new)
        halvings += 1
    return new, eta, mu, dev, pen


def penalized_irls(
    problem: IRLSProblem,
    lam: float,
    *,
    start: FloatArray | None = None,
    maxiter: int = 100,
    tol: float = 1e-8,
    select: Callable[[PathFactor, FloatArray], float] | None = None,
    start_factor: tuple[PathFactor, FloatArray] | None = None,
) -> IRLSResult:
    """Run penalized IRLS at a fixed ``lam`` (or select it with ``select``).

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
    family = problem.family
    params: FloatArray | None = None
    if start is not None:
        params = np.asarray(start, dtype=float)
    elif np.any(problem.b0):
        params = problem.b0.copy()
    if params is not None:
        eta, mu = problem.mean(params)
        dev = problem.deviance(mu)
        if not _valid(dev):
            params = None
    reuse = start_factor if start is not None and params is not None else None
    if params is None:
        mu = family.starting_mu(problem.y)
        eta = family.link(mu) + 0.0
        dev = problem.deviance(mu)
    pen_old = np.inf
    converged = False
    iterations = 0
    for iterations in range(1, maxiter + 1):  # noqa: B007 - reported below
        if reuse is not None:
            (factor, zw), reuse = reuse, None
        else:
            factor, zw = problem.factor(eta, mu)
        if select is not None:
            lam = select(factor, zw)
        if params is not None:
            pen_old = dev + lam * problem.penalty(params)
        new, new_eta, new_mu, new_dev, new_pen = halve_step(
            problem, lam, params, problem.b0 + factor.coef(lam), pen_old
        )
        if not _valid(new_pen):
            break
        change = abs(new_pen - pen_old) / (abs(new_pen) + 0.1)
        params, eta, mu, dev = new, new_eta, new_mu, new_dev
        if change < tol:
            converged = True
            break
    if params is None:  # the first step already left the family's range
        raise ValueError(
            f"penalized IRLS failed at its first step: the {type(family).__name__} "
            f"family's deviance is not finite with the {type(family.link).__name__} "
            "link (means outside the family's range). Use a link that keeps the means "
            "valid, e.g. Log(), or a prior close to the solution as the start"
        )
    return IRLSResult(
        params=params,
        eta=eta,
        mu=mu,
        deviance=dev,
        penalized_deviance=dev + lam * problem.penalty(params),
        lam=float(lam),
        converged=converged,
        iterations=iterations,
    )


def working_selector(criterion: str) -> Callable[[PathFactor, FloatArray], float]:
    """Select ``lam`` on the working linear model (GCV, or REML for ``"reml"``)."""
    linear = "reml" if criterion == "reml" else "gcv"

    def select(factor: PathFactor, zw: FloatArray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return select_lam(factor, zw, linear).lam

    return select
