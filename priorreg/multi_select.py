r"""Joint selection of several ``lam`` by Newton's method on ``rho = log(lam)``.

As mgcv's outer iteration (Wood 2011, section 3.1; ``newton`` in mgcv's
``gam.fit3.r``): each step solves ``H step = -g`` with the exact gradient
``g`` and Hessian ``H`` of the criterion in ``rho``
(:mod:`priorreg.multi_kernel`). When ``H`` is not positive definite the
eigenvalues of its diagonally scaled form are replaced by their absolute
values (floored at ``1e-7 max|eig|``), which keeps the step a descent direction; a step longer
than 5 in any ``rho`` is shortened to 5; a step that does not reduce the
criterion is halved (up to 30 times), then steepest descent is tried.
A ``lam`` that runs to 0 or infinity flattens the criterion in its
``rho``: a component in which the criterion is flat
(:func:`flat_components`) is held fixed (as mgcv's ``uconv.ind``), and
every ``rho`` is kept within ``[rho_lo, rho_hi]``; a ``lam`` on that edge,
or held where the criterion is flat, warns that it acts as 0 or infinity.
Converged when every free gradient entry is below
``tol (1 + |V|)`` and the Newton step is below ``1e-4`` in every ``rho``,
or when a step changes ``V`` by less than ``tol^2 (1 + |V|)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from priorreg._typing import FloatArray
from priorreg.blas_threads import one_blas_thread
from priorreg.exceptions import LamOnEdgeWarning, warn
from priorreg.multi_kernel import CriterionPoint

__all__ = ["MultiSelection", "coordinate_scan", "flat_components", "newton_rho"]

#: Offsets of the coarse scan in each ``rho`` before Newton's method (a factor e^4 ~ 55 apart).
_SCAN = np.array([-16.0, -12.0, -8.0, -4.0, 4.0, 8.0, 12.0, 16.0])

_MAX_STEP = 5.0
#: Converged also needs the Newton step below this in every rho (a relative change of lam).
_STEP_TOL = 1e-4
_HALVINGS = 30
#: The move in a ``rho`` over which flatness is judged (a factor e^8 ~ 3000 in lam).
_FLAT_STEP = 8.0
#: What the criterion resolves, relative to ``|V| + scale``: V at a converged fit
#: carries the fit's error (IRLS stops at a relative step ~1e-8, which enters V at
#: second order), sums of n terms (eps sqrt(n) ~ 1e-13 at n = 1e6) and factors of
#: the k x k system (eps cond); 1e-10 lies above these, and far below the change
#: an interior lam makes over a factor e^8 (GCV, UBRE: ~ edf change / n, 1e-6
#: at n = 1e6 for one edf).
_RESOLUTION = 1e-10


def flat_components(
    point: CriterionPoint, lo: FloatArray, hi: FloatArray, scale: float = 0.0
) -> FloatArray:
    r"""Mask of the components in whose ``rho`` the criterion is flat.

    Component ``j`` is flat when moving ``rho_j`` by ``s_j`` (8, or less
    when the search range ends sooner) cannot change ``V`` by more than
    the rounding level of ``V``, by the Newton model at ``point``:

    .. math::

        |g_j| s_j + \tfrac12 |H_{jj}| s_j^2 \le r\,(|V| + \sigma),

    ``r = 1e-10`` what ``V`` at converged fits resolves (relative; see
    ``_RESOLUTION``) and :math:`\sigma` ``scale``, the size of terms of
    ``V`` that cancel (``phi`` in UBRE's ``D/n - phi``; 0 otherwise). The
    rule is invariant to the units of ``V``; GCV or UBRE vary by O(edf/n)
    over an interior ``lam``, far above that level, so no interior
    component is flat at any practical ``n`` (a rule ``|g|, |H_jj| < 1e-7 (1 + |V|)`` declares all
    of them flat at n = 2e5). A ``lam`` that truly runs to 0 or infinity
    makes ``g_j`` and ``H_jj`` decay exponentially in ``rho_j`` and is
    caught once the criterion no longer resolves its value (or it reaches
    the range's edge first).
    """
    rho = np.asarray(point.rho, dtype=float)
    room = np.maximum(rho - lo, hi - rho)
    s = np.minimum(_FLAT_STEP, np.maximum(room, 0.0))
    change = np.abs(point.grad) * s + 0.5 * np.abs(np.diagonal(point.hess)) * s**2
    level = _RESOLUTION * (abs(point.value) + abs(scale))
    return np.asarray(change <= level)


@dataclass(frozen=True)
class MultiSelection:
    """Outcome of the joint search: the optimum, the Newton path and the Hessian there."""

    lam: FloatArray
    criterion: str
    value: float
    path: pd.DataFrame
    on_edge: bool
    converged: bool
    hessian: FloatArray
    extra: dict[str, object] = field(default_factory=dict)


def small_blas() -> contextlib.AbstractContextManager[Any]:
    """One BLAS thread for the ``k x k`` algebra of the search (:mod:`priorreg.blas_threads`).

    A Cholesky factor of a 200 x 200 matrix is a fraction of a millisecond on
    one thread; with two threads on a busy machine the threads' hand-offs
    cost up to a thousand times that, and a search makes hundreds of them.
    """
    return one_blas_thread()


def _newton_step(g: FloatArray, H: FloatArray) -> FloatArray:
    """``-H^{-1} g`` with ``H`` made positive definite by its eigenvalues' absolute values.

    The eigenvalues are those of ``D^{-1} H D^{-1}``, ``D = diag(|H_jj|)^{1/2}``
    (the same step when ``H`` is positive definite): a lam running to
    infinity has a curvature far below the others', and a floor relative to
    the largest eigenvalue of ``H`` itself would cut its step to a crawl.
    """
    d = np.sqrt(np.abs(np.diagonal(H)))
    d = np.maximum(d, max(1e-8 * float(np.max(d, initial=0.0)), 1e-300))
    ev, vec = np.linalg.eigh(H / np.outer(d, d))
    top = max(float(np.max(np.abs(ev), initial=0.0)), 1e-300)
    ev = np.maximum(np.abs(ev), 1e-7 * top)
    step = -(vec @ ((vec.T @ (g / d)) / ev)) / d
    size = float(np.max(np.abs(step), initial=0.0))
    return step * (_MAX_STEP / size) if size > _MAX_STEP else step


def newton_rho(
    evaluate: Callable[[FloatArray], CriterionPoint],
    rho0: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    *,
    labels: list[str],
    criterion: str,
    tol: float = 1e-7,
    maxiter: int = 200,
    scale: float = 0.0,
) -> tuple[CriterionPoint, list[CriterionPoint], bool]:
    """Minimise a criterion over ``rho`` from ``rho0``: ``(best, path, converged)``.

    ``evaluate(rho)`` returns the criterion with its gradient and Hessian;
    ``scale`` is passed to :func:`flat_components`.
    """
    point = evaluate(np.clip(rho0, lo, hi))
    path = [point]
    converged = False
    for _ in range(maxiter):
        g, H, rho = point.grad, point.hess, point.rho
        size = tol * (1.0 + abs(point.value))
        at_lo = (rho <= lo) & (g > 0)
        at_hi = (rho >= hi) & (g < 0)
        flat = flat_components(point, lo, hi, scale)
        free = ~(at_lo | at_hi | flat)
        if not free.any():
            converged = True
            break
        step = np.zeros_like(rho)
        step[free] = _newton_step(g[free], H[np.ix_(free, free)])
        # a small gradient alone is not enough when the criterion varies little
        # (GCV of large n varies by ~edf/n): the Newton step must be small too
        if np.max(np.abs(g[free])) <= size and np.max(np.abs(step)) <= _STEP_TOL:
            converged = True
            break
        trial = None
        for attempt in range(2 * _HALVINGS):
            if attempt == _HALVINGS:  # Newton failed: steepest descent
                step = np.zeros_like(rho)
                step[free] = -g[free] / max(float(np.max(np.abs(g[free]))), 1e-300)
            candidate = evaluate(np.clip(rho + step, lo, hi))
            if candidate.value < point.value:
                trial = candidate
                break
            step = step / 2
        if trial is None:  # no descent at rounding level: as converged as it gets
            converged = np.max(np.abs(g[free])) <= 1e3 * size
            break
        change = point.value - trial.value
        point = trial
        path.append(point)
        if change <= tol**2 * (1.0 + abs(point.value)):
            converged = True
            break
    return point, path, converged


def warn_at_edge(
    rho: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    labels: list[str],
    criterion: str,
    *,
    flat: FloatArray | None = None,
) -> FloatArray:
    """Warn once for the components whose lam is at the edge of the range; return the mask.

    ``flat`` (:func:`flat_components` at the optimum) adds the components
    held inside the range where the criterion no longer changes with their
    lam: such a lam (say 1e10) is as undetermined as one on the edge, its
    value only where the search stopped, so the user is told the same.
    """
    at_edge = (rho <= lo + 1e-9) | (rho >= hi - 1e-9)
    held = np.zeros_like(at_edge) if flat is None else np.asarray(flat, dtype=bool) & ~at_edge
    edge = at_edge | held

    def named(mask: FloatArray) -> str:
        return ", ".join(f"{labels[j]} (lam={np.exp(rho[j]):.3g})" for j in np.flatnonzero(mask))

    if edge.any():
        causes = []
        if at_edge.any():
            causes.append(
                f"{criterion} is smallest with lam at the edge of the range searched "
                f"for {named(at_edge)}"
            )
        if held.any():
            causes.append(
                f"{criterion} no longer changes with lam (to rounding) for {named(held)}, "
                "so those lams are undetermined: any value beyond them fits alike"
            )
        warn(
            "; ".join(causes) + ": a very large lam keeps those coefficients at their "
            "prior, a very small one leaves them to the data alone.",
            LamOnEdgeWarning,
        )
    return np.asarray(edge)


def path_frame(path: list[CriterionPoint], labels: list[str], criterion: str) -> pd.DataFrame:
    """One row per Newton step: the lams, edf and the criterion."""
    rows = {
        f"lam[{name}]": [float(np.exp(p.rho[j])) for p in path] for j, name in enumerate(labels)
    }
    rows["edf"] = [p.edf for p in path]
    rows[criterion] = [p.value for p in path]
    rows["max|grad|"] = [float(np.max(np.abs(p.grad), initial=0.0)) for p in path]
    return pd.DataFrame(rows, index=pd.RangeIndex(len(path), name="step"))


def search_bounds(G: FloatArray, matrices: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(rho0, lo, hi)``: a start where penalty and data weigh alike, and +-25 around it.

    ``lam_j0 = mean(diag G) / mean(diag P_j)`` over the columns ``P_j``
    penalizes (mgcv's ``initial.sp`` idea); ``exp(25) ~ 7e10``, far beyond
    where the shrinkage of every direction is complete.
    """
    m = matrices.shape[0]
    rho0 = np.zeros(m)
    dG = np.diagonal(G)
    for j in range(m):
        dP = np.diagonal(matrices[j])
        on = dP > 0
        if not on.any():
            on = np.ones_like(dP, dtype=bool)
            dP = np.full_like(dP, max(float(np.max(np.abs(matrices[j]))), 1e-300))
        num = max(float(np.mean(dG[on])), 1e-300)
        rho0[j] = np.log(num / float(np.mean(dP[on])))
    return rho0, rho0 - 25.0, rho0 + 25.0


def coordinate_scan(
    value: Callable[[FloatArray], float],
    rho0: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    offsets: FloatArray = _SCAN,
) -> FloatArray:
    """A start for Newton's method: one sweep of a coarse scan along each ``rho_j``.

    Criteria such as GCV can have several local minima in ``rho``; from the
    data-based start alone Newton's method may settle in a poor one. Each
    ``rho_j`` in turn moves to the best of ``rho_j + (-16, ..., 16)`` (steps
    of 4, within the bounds), the others held: ``8 m`` evaluations of the
    criterion without derivatives (``offsets`` replaces the steps).
    """
    rho = np.clip(np.asarray(rho0, dtype=float), lo, hi)
    best = value(rho)
    for j in range(rho.size):
        base = rho[j]
        for offset in offsets:
            trial = rho.copy()
            trial[j] = np.clip(base + offset, lo[j], hi[j])
            v = value(trial)
            if v < best:
                best, rho = v, trial
    return rho
