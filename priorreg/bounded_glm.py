r"""``PriorGLM`` with bounds: penalized IRLS with a bounded inner solve.

Minimises :math:`D(b) + \lambda (b - b_0)'L(b - b_0)` subject to
:math:`l \le b \le u`. Each IRLS step solves the working weighted least-squares
problem *with the bounds* on its one factorization
(:meth:`priorreg.bounded.ReducedProblem.solve`: a projected Newton step whose
quadratic model is minimised exactly over the box), then halves the step
towards the current estimate while the penalized deviance does not decrease
or the mean leaves the family's domain (e.g. :math:`\mu \le 0` for Poisson
with the identity link). Both ends of every step satisfy the bounds, and so
does every point between them (the box is convex), so the iteration stays
feasible; it starts from a feasible point with a valid mean.

At convergence the inference, edf and criteria are those of the free
coefficients with the active ones held at their bound (their working
problem's path factor), as for :mod:`priorreg.bounded_linear`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import numpy as np

from priorreg._typing import ArrayLike, FloatArray
from priorreg.bounded import ReducedProblem, conditional_penalty, free_index
from priorreg.bounded_results import bounded_results, check_cov_type
from priorreg.bounds import refuse_several_penalties, resolve_bounds
from priorreg.exceptions import quietly
from priorreg.fits import BoundedGLMFit, FitRequest, GLMFit
from priorreg.glm import PriorGLM
from priorreg.irls import (
    ArrayData,
    Box,
    IRLSResult,
    mean_in_domain,
    mean_out_of_domain,
    penalized_irls,
)
from priorreg.linalg import factorize

__all__ = ["BoundedGLMFit", "BoundedPriorGLM", "mean_in_domain", "mean_out_of_domain"]


def feasible_start(data: ArrayData, lam: float, start: FloatArray | None) -> FloatArray | None:
    """A starting point inside the bounds with a valid mean, or ``None``.

    Tried in turn (each only if the ones before fail): ``start`` clipped to
    the bounds; the bounded step from the family's usual starting means; the
    prior clipped; the intercept alone at the link of the mean response
    (others at zero, clipped).
    """
    for point in _start_candidates(data, lam, start):
        if point is not None and np.isfinite(data.evaluate(point).deviance):
            return point
    return None


def _start_candidates(
    data: ArrayData, lam: float, start: FloatArray | None
) -> Iterator[FloatArray | None]:
    problem, box = data.problem, data.box
    assert box is not None
    lo, hi = problem.b0 + box.lower, problem.b0 + box.upper
    if start is not None:
        yield np.clip(start, lo, hi)
    try:
        yield np.clip(data.system(data.evaluate(None)).solve(lam, None), lo, hi)
    except (FloatingPointError, ValueError, np.linalg.LinAlgError):
        yield None
    yield np.clip(problem.b0, lo, hi)
    if problem.intercept is not None:
        point = np.clip(np.zeros_like(problem.b0), lo, hi)
        w = problem.prior_weights
        ybar = float(np.sum(w * problem.y) / np.sum(w))
        with np.errstate(all="ignore"):
            level = float(problem.family.link(np.array([ybar]))[0]) - float(np.mean(problem.offset))
        point[problem.intercept] = np.clip(level, lo[problem.intercept], hi[problem.intercept])
        yield point


class BoundedPriorGLM(PriorGLM):  # type: ignore[misc]
    """:class:`PriorGLM` with ``bounds=`` (built by ``PriorGLM(..., bounds=...)``).

    See :mod:`priorreg.bounded_glm` for the iteration and
    :mod:`priorreg.bounds` for the specification.
    """

    def __init__(
        self, endog: ArrayLike, exog: ArrayLike, family: Any = None, *, bounds: Any = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(endog, exog, family, **kwargs)
        self.bounds = resolve_bounds(
            bounds, self.exog_names, self.intercept_idx, self.penalty_weights
        )
        refuse_several_penalties(self.bounds, getattr(self, "penalty_components", None))

    def _box(self) -> Box:
        """The bounds on the working solutions ``delta = b - b0``."""
        p = self.problem
        return Box.of(self.bounds, p.b0, p.L, p.intercept)

    def _converged(self, req: FitRequest) -> GLMFit:
        if self.bounds is None:
            return super()._converged(req)
        lam, maxiter, tol = req.lam, req.maxiter, req.tol
        box = self._box()
        point = feasible_start(ArrayData(self.problem, box), lam, req.start_params)
        if point is None:
            raise ValueError(
                "no starting point inside the bounds gives valid means for the "
                f"{type(self.family).__name__} family (e.g. mu > 0): loosen the bounds "
                "or give the intercept room"
            )
        r = penalized_irls(self.problem, lam, start=point, maxiter=maxiter, tol=tol, box=box)
        return self._finish_bounded(r)

    def _finish_bounded(self, r: IRLSResult) -> BoundedGLMFit:
        """Snap the estimate to its active bounds; inference on the free columns."""
        problem = self.problem
        b0 = problem.b0
        lo, hi = self.bounds.lower, self.bounds.upper
        factor, _ = problem.factor(r.eta, r.mu)
        reduced = ReducedProblem.from_factor(factor, problem.L, problem.intercept)
        _, active = reduced.solve(r.lam, lo - b0, hi - b0, start=factor.coef(r.lam))
        params = self.bounds.snap(r.params, active)
        eta, mu = problem.mean(params)
        dev = problem.deviance(mu)
        snapped = IRLSResult(
            params=params,
            eta=eta,
            mu=mu,
            deviance=dev,
            penalized_deviance=dev + r.lam * problem.penalty(params),
            lam=r.lam,
            converged=r.converged,
            iterations=r.iterations,
        )
        base = self._finish(snapped)
        values = {f.name: getattr(base, f.name) for f in fields(base)}
        if not active.any():
            return BoundedGLMFit(**values, active=active)
        free_problem = reduced.free_problem(active, params - b0)
        F = free_problem.free
        W, z = problem.working(eta, mu)
        z = z - problem.prior_fit - problem.X[:, active] @ free_problem.delta_active
        k = params.size
        ncov = np.zeros((k, k))
        edf_params = np.zeros(k)
        edf = 0.0
        if F.any():
            z = z - problem.X[:, F] @ free_problem.shift
            intercept = free_index(problem.intercept, F)
            free_factor = factorize(problem.X[:, F], z, free_problem.L_free, W, intercept)
            K = free_factor.cov_factor(r.lam)
            ncov_F = K @ K.T
            ncov[np.ix_(F, F)] = ncov_F
            L = free_problem.L_free
            edf_params[F] = 1.0 - r.lam * np.diagonal(L @ ncov_F)
            edf = float(free_factor.edf(r.lam))
            values["factor"], values["zw"] = free_factor, z * np.sqrt(W)
        scale = self._scale_for(mu, edf, base.pearson_chi2, base.deviance)
        values.update(
            normalized_cov=ncov,
            edf=edf,
            edf_params=edf_params,
            scale=scale,
            llf=self._llf(snapped, scale),
        )
        return BoundedGLMFit(**values, active=active)

    def _performance_iteration(self, criterion: str, maxiter: int, tol: float) -> GLMFit:
        """The bounded fit at the ``lam`` of the unbounded performance iteration."""
        if self.bounds is None:
            return super()._performance_iteration(criterion, maxiter, tol)
        lam = 1.0
        try:
            with quietly():
                lam = max(super()._performance_iteration(criterion, maxiter, tol).lam, 1e-8)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            pass
        return self._irls(lam, None, maxiter, tol)

    def _penalty_value(self, params: FloatArray) -> float:
        """The free coefficients' (conditional) penalty, for REML on the free set."""
        if self.bounds is None:
            return super()._penalty_value(params)
        delta = np.asarray(params, dtype=float) - self.prior_values
        return conditional_penalty(self.problem.L, delta, self.bounds.at_bound(params))

    def _results(self, fit: GLMFit, selection: Any, cov_type: str) -> Any:
        if self.bounds is None:
            return super()._results(fit, selection, cov_type)
        check_cov_type(cov_type)
        wrapper = super()._results(fit, selection, cov_type)

        return bounded_results(wrapper, self, fit, selection, cov_type, linear=False)


def model_class(cls: type, bounds: Any = True) -> type:
    """The class that fits ``cls`` under ``bounds`` (``PriorGLM`` -> ``BoundedPriorGLM``).

    ``bounds=None`` leaves an out-of-core class as it is (nothing to bound); an
    out-of-core class that takes ``bounds=`` itself (the Dask GLM) is kept too.
    """
    if issubclass(cls, BoundedPriorGLM) or not issubclass(cls, PriorGLM):
        return cls
    if getattr(cls, "_takes_bounds", False):
        return cls
    if cls is PriorGLM:
        return BoundedPriorGLM
    if bounds is None:
        return cls
    raise NotImplementedError(
        f"bounds are not available for {cls.__name__}: fit PriorGLM itself (in memory "
        "or on Dask data) with bounds=, or use PriorRidge for a linear model"
    )
