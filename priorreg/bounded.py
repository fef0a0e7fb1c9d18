r"""Bounded penalized least squares on the reduced factor.

With ``delta = b - b0`` the linear kernel minimises

.. math::

    \|W^{1/2}(z - X\delta)\|^2 + \lambda\, \delta' L \delta
    \quad\text{subject to}\quad l - b_0 \le \delta \le u - b_0 .

The data enter only through the path factor
(:class:`priorreg.linalg.PathFactor`), whose whitened coordinates give
``k0 + r`` rows ``R`` with :math:`R'R = X'WX` and ``h`` with
:math:`\|W^{1/2}(z - X\delta)\|^2 = \|h - R\delta\|^2 + \rho^2`
(``R = [[T_0, B], [0, \mathrm{diag}(d) V']]`` mapped back to the caller's
coordinates). The bounded problem at any ``lam`` is therefore the small
box-constrained least-squares problem

.. math::

    \min_{l \le \delta \le u} \Big\| \begin{bmatrix} R \\ \sqrt\lambda\, L^{1/2}
    \end{bmatrix} \delta - \begin{bmatrix} h \\ 0 \end{bmatrix} \Big\|^2,

with ``2k`` rows whatever ``n``: solved exactly by BVLS (Stark and Parker
1995; ``scipy.optimize.lsq_linear``) and polished on its active set. When
the unbounded solution already satisfies the bounds it is the answer.

For a fixed active set ``A`` (coefficients held at their bound), the free
coefficients ``F`` solve an unbounded problem with offset ``X_A delta_A``
and penalty ``L_FF``; the cross term ``2 lam delta_F' L_FA delta_A`` is a
shift of their prior by :math:`s = -L_{FF}^{+} L_{FA} \delta_A` (the
conditional mean of ``delta_F`` given ``delta_A`` under the Gaussian prior).
:meth:`ReducedProblem.free_factor` builds that problem's path factor from
the same ``R`` (no pass over the data), so edf, RSS, REML and covariance of
the free set at every ``lam`` cost what they cost without bounds.

References
----------
Stark, P. B. and Parker, R. L. (1995). Bounded-variable least-squares: an
algorithm and applications. Computational Statistics 10, 129-141.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy import linalg as sla
from scipy import sparse
from scipy.optimize import lsq_linear
from scipy.sparse.linalg import splu

from priorreg._typing import FloatArray
from priorreg.linalg import PathFactor, SingularSystemError, factorize_triangular
from priorreg.penalty import Penalty

__all__ = [
    "FreeProblem",
    "ReducedProblem",
    "active_set",
    "conditional_penalty",
    "conditional_prior",
    "free_index",
]

_EPS = float(np.finfo(float).eps)


@dataclass(frozen=True)
class FreeProblem:
    """The unbounded problem of the free coefficients for one active set.

    ``rows`` (``R_F``, with ``h`` beside it and ``sqrt(rss_floor)`` under it) is
    the data of the free columns, the active ones moved to the response:
    ``delta_F = shift + factor.coef(lam)``. ``factor`` (an SVD, for every
    ``lam``) is formed on first use; it is ``None`` when every coefficient is
    at a bound (then ``rss_fixed`` is the residual sum of squares).
    """

    free: np.ndarray
    delta_active: FloatArray
    shift: FloatArray
    L_free: FloatArray
    rows: FloatArray
    rss_fixed: float
    n_obs: int
    intercept: int | None
    log_weights: float

    @property
    def penalty(self) -> Penalty:
        """The free coefficients' penalty ``L_FF``."""
        return Penalty.of(self.L_free)

    @cached_property
    def factor(self) -> PathFactor | None:
        """Path factor of the free problem (``None`` when nothing is free)."""
        kf = int(self.free.sum())
        if kf == 0:
            return None
        T = sla.qr(self.rows, mode="r")[0][: kf + 1]
        return factorize_triangular(T, self.L_free, self.n_obs, self.intercept, self.log_weights)

    def cov_edf(self, lam: float) -> tuple[FloatArray, float]:
        r"""``(X_F'WX_F + lam L_FF)^{-1}`` and its edf at one ``lam`` (one QR, no SVD).

        With :math:`T` the triangular factor of :math:`[R_F; \sqrt\lambda S_F]`
        (:math:`S_F'S_F = L_{FF}`), the covariance is :math:`T^{-1}T^{-T}` and
        :math:`\mathrm{edf} = \lVert R_F T^{-1}\rVert_F^2`.
        """
        kf = int(self.free.sum())
        R_F = self.rows[:-1, :kf]
        S = self.penalty.root()
        T = sla.qr(np.vstack([R_F, np.sqrt(lam) * S]), mode="r")[0][:kf]
        if T.shape[0] < kf or np.any(np.abs(np.diag(T)) <= kf * _EPS * np.abs(T).max()):
            raise SingularSystemError(
                "X'WX + lam L is singular on the free coefficients: use lam > 0 or "
                "remove redundant columns"
            )
        Tinv = sla.solve_triangular(T, np.eye(kf), lower=False)
        return Tinv @ Tinv.T, float(np.sum((R_F @ Tinv) ** 2))


@dataclass(frozen=True)
class ReducedProblem:
    """The data of a penalized least-squares problem reduced to ``k`` columns.

    Attributes
    ----------
    R : ndarray of shape (p, k)
        ``R'R = X'WX`` (``p = k0 + r`` rows, ``r`` the directions the data reach).
    h : ndarray of shape (p,)
        ``|W^1/2 (z - X delta)|^2 = |h - R delta|^2 + rss_floor``.
    rss_floor : float
        Residual sum of squares no ``delta`` can reduce.
    L : ndarray of shape (k,) or (k, k)
        Penalty (its diagonal when diagonal).
    n_obs : int
    intercept : int or None
        Index of the constant column (for the free problems' centring).
    log_weights : float
        ``sum(log w)`` (REML constant).
    """

    R: FloatArray
    h: FloatArray
    rss_floor: float
    L: FloatArray
    n_obs: int
    intercept: int | None
    log_weights: float

    @classmethod
    def from_factor(
        cls, factor: PathFactor, L: FloatArray, intercept: int | None
    ) -> ReducedProblem:
        """Map the whitened rows of ``factor`` back to the caller's coordinates."""
        k0 = factor.n_unpen
        r = factor.d.size
        A = np.zeros((k0 + r, factor.n_coef))
        if k0:
            A[:k0, :k0] = factor.T0
            A[:k0, k0:] = factor.B
        if r:
            A[k0:, k0:] = factor.d[:, None] * factor.V.T
        h = np.concatenate([factor.g0, factor.f if r else np.zeros(0)])
        basis = factor.basis
        # delta = basis theta, so the rows in delta are A basis^{-1}
        if sparse.issparse(basis):  # diagonal penalty: a scaled permutation plus one row
            R = splu(sparse.csc_matrix(basis.T)).solve(np.asarray(A.T, order="F")).T
        else:
            R = np.linalg.solve(basis.T, A.T).T
        return cls(R, h, float(factor.rss_floor), L, factor.n_obs, intercept, factor.log_weights)

    @cached_property
    def penalty_root(self) -> FloatArray:
        """``S`` with ``S'S = L`` (rows of the penalty in the stacked system)."""
        return Penalty.of(self.L).root()

    def stacked(self, lam: float) -> tuple[FloatArray, FloatArray]:
        """``([R; sqrt(lam) S], [h; 0])``: the bounded problem's least-squares system."""
        S = self.penalty_root
        A = np.vstack([self.R, np.sqrt(lam) * S])
        c = np.concatenate([self.h, np.zeros(S.shape[0])])
        return A, c

    def objective(self, delta: FloatArray, lam: float) -> float:
        """``|h - R delta|^2 + rss_floor + lam delta' L delta``."""
        pen = Penalty.of(self.L).times(delta)
        return float(np.sum((self.h - self.R @ delta) ** 2) + self.rss_floor + lam * delta @ pen)

    def solve(
        self, lam: float, lower: FloatArray, upper: FloatArray, start: FloatArray | None = None
    ) -> tuple[FloatArray, np.ndarray]:
        """Bounded solution ``delta`` and the active set at ``lam``.

        ``lower``/``upper`` bound ``delta`` (``-inf``/``inf`` for open sides).
        ``start`` is the unbounded solution when known: if it satisfies the
        bounds it is returned as it is. Active coefficients are set exactly
        to their bound.
        """
        k = self.R.shape[1]
        if start is not None and np.all(start >= lower) and np.all(start <= upper):
            return start, np.zeros(k, dtype=bool)
        A, c = self.stacked(lam)
        norms = np.linalg.norm(A, axis=0)
        norms[norms == 0] = 1.0
        As = A / norms
        lo, hi = lower * norms, upper * norms
        x0 = None if start is None else start * norms
        found = active_set(As.T @ As, As.T @ c, lo, hi, x0)
        if found is None:  # singular free block or no convergence: BVLS on the rows
            res = lsq_linear(As, c, bounds=(lo, hi), method="bvls", tol=1e-14, lsq_solver="exact")
            x, mask, chol = res.x, res.active_mask, None
        else:
            x, mask, chol = found
        delta = x / norms
        active = mask != 0
        delta[mask < 0] = lower[mask < 0]
        delta[mask > 0] = upper[mask > 0]
        polished = self._polish(As, c, norms, delta, active, chol)
        if polished is not None and np.all(polished >= lower) and np.all(polished <= upper):
            delta = polished
        return delta, active

    @staticmethod
    def _polish(
        As: FloatArray,
        c: FloatArray,
        norms: FloatArray,
        delta: FloatArray,
        active: np.ndarray,
        chol: Any,
    ) -> FloatArray | None:
        """Least squares on the free columns with the active ones at their bounds.

        With the Cholesky factor of the free block's Gram matrix (``chol``),
        two steps of corrected semi-normal equations (residuals on the rows,
        corrections by the factor) give least-squares accuracy; else ``lstsq``.
        """
        free = ~active
        if not free.any():
            return delta
        rhs = c - As[:, active] @ (delta[active] * norms[active])
        A_free = As[:, free]
        if chol is None:
            x = sla.lstsq(A_free, rhs, lapack_driver="gelsy", check_finite=False)[0]
        else:
            x = delta[free] * norms[free]
            for _ in range(2):
                x = x + sla.cho_solve(chol, A_free.T @ (rhs - A_free @ x))
        out = delta.copy()
        out[free] = x / norms[free]
        return out

    def free_problem(
        self,
        active: np.ndarray,
        delta: FloatArray,
        memo: dict[bytes, FreeProblem] | None = None,
    ) -> FreeProblem:
        """The free coefficients' problem with ``delta[active]`` held fixed.

        ``memo``: the caller's problems already built, by active set and held
        values (e.g. over one search of ``lam``); this object keeps none, so
        a model that holds it is not changed by a fit.
        """
        key = active.tobytes() + np.asarray(delta)[active].tobytes()
        if memo is not None and key in memo:
            return memo[key]
        free = ~active
        dA = np.asarray(delta, dtype=float)[active]
        L_free, shift = conditional_prior(self.L, active, dA)
        h = self.h - self.R[:, active] @ dA - self.R[:, free] @ shift
        kf = int(free.sum())
        rows = np.vstack(
            [np.column_stack([self.R[:, free], h]), np.r_[np.zeros(kf), np.sqrt(self.rss_floor)]]
        )
        intercept = free_index(self.intercept, free)
        rss = float(h @ h) + self.rss_floor
        out = FreeProblem(
            free, dA, shift, L_free, rows, rss, self.n_obs, intercept, self.log_weights
        )
        if memo is not None:
            memo[key] = out
        return out


def free_index(j: int | None, free: np.ndarray) -> int | None:
    """Position of column ``j`` among the free columns (``None`` if ``j`` is ``None`` or held)."""
    if j is None or not free[j]:
        return None
    return int(np.count_nonzero(free[:j]))


def active_set(
    Q: FloatArray, q: FloatArray, lower: FloatArray, upper: FloatArray, x0: FloatArray | None
) -> tuple[FloatArray, np.ndarray, Any] | None:
    r"""Primal active-set method for :math:`\min \tfrac12 x'Qx - q'x`, ``lower <= x <= upper``.

    ``Q`` is positive definite on every free block met (else ``None``). The
    start is ``x0`` (the unconstrained solution) clipped to the box, with the
    clipped coordinates held at their bound. Each step solves the free block
    by Cholesky; a free coordinate that would leave the box stops the step and
    joins the held set; when the free solution is feasible, the held
    coordinate whose multiplier has the wrong sign (the largest) is released.
    Returns ``(x, mask, chol)``, ``mask`` -1 / +1 at the lower / upper bound,
    0 free, ``chol`` the Cholesky factor of the free block (``cho_factor``);
    ``None`` after ``10 k`` steps. ``Q`` should be scaled to unit diagonal:
    the multipliers are compared with ``1e3 eps (|Q| |x| + |q|)``.
    """
    k = q.size
    if x0 is None:
        try:
            x0 = sla.cho_solve(sla.cho_factor(Q), q)
        except np.linalg.LinAlgError:
            return None
    x = np.clip(x0, lower, upper)
    mask = np.where(x <= lower, -1, np.where(x >= upper, 1, 0))
    for _ in range(10 * k + 10):
        free = mask == 0
        x[mask < 0] = lower[mask < 0]
        x[mask > 0] = upper[mask > 0]
        target = x.copy()
        chol = None
        if free.any():
            rhs = q[free] - Q[np.ix_(free, ~free)] @ x[~free]
            try:
                chol = sla.cho_factor(Q[np.ix_(free, free)])
            except np.linalg.LinAlgError:
                return None
            target[free] = sla.cho_solve(chol, rhs)
        below = free & (target < lower)
        above = free & (target > upper)
        if below.any() or above.any():
            step = target - x
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(below, (lower - x) / step, np.inf)
                ratio = np.minimum(ratio, np.where(above, (upper - x) / step, np.inf))
            j = int(np.argmin(ratio))
            x = x + max(float(ratio[j]), 0.0) * step
            mask[j] = -1 if below[j] else 1
            continue
        x = target
        grad = Q @ x - q
        tol = 1e3 * _EPS * (np.abs(Q) @ np.abs(x) + np.abs(q))
        wrong = np.where(mask < 0, -grad, np.where(mask > 0, grad, 0.0)) - tol
        j = int(np.argmax(wrong))
        if wrong[j] <= 0:
            return x, mask, chol
        mask[j] = 0
    return None


def conditional_prior(
    L: FloatArray, active: np.ndarray, delta_active: FloatArray
) -> tuple[FloatArray, FloatArray]:
    r"""Penalty ``L_FF`` of the free coefficients and their prior shift ``s``.

    :math:`\delta' L \delta = (\delta_F - s)' L_{FF} (\delta_F - s) + c` with
    :math:`s = -L_{FF}^{+} L_{FA} \delta_A` (``L_FA`` maps into the range of
    ``L_FF`` because ``L`` is positive semi-definite) and ``c`` free of ``delta_F``.
    """
    free = ~active
    pen = Penalty.of(L)
    L_free = pen.restricted(free).values
    if pen.is_diagonal or not free.any() or not active.any():  # no coupling: no shift
        return L_free, np.zeros(int(free.sum()))
    cross = L[np.ix_(free, active)] @ delta_active
    return L_free, -np.linalg.lstsq(L_free, cross, rcond=None)[0]


def conditional_penalty(L: FloatArray, delta: FloatArray, active: np.ndarray) -> float:
    """``(delta_F - s)' L_FF (delta_F - s)``: the free set's share of the penalty."""
    L_free, shift = conditional_prior(L, active, delta[active])
    e = delta[~active] - shift
    return Penalty.of(L_free).quad(e)


def free_rss(problem: FreeProblem, lam: float) -> float:
    """Weighted residual sum of squares of the bounded fit at ``lam``."""
    if problem.factor is None:
        return problem.rss_fixed
    return float(problem.factor.rss(lam))


def free_edf(problem: FreeProblem, lam: float) -> float:
    """Trace of the hat matrix of the free columns (0 when none is free)."""
    return 0.0 if problem.factor is None else float(problem.factor.edf(lam))


def free_reml(problem: FreeProblem, lam: float, n_obs: int, log_weights: float) -> float:
    """REML of the free coefficients' problem (see ``PathFactor.reml``)."""
    if problem.factor is not None:
        return float(problem.factor.reml(lam))
    sigma2 = problem.rss_fixed / n_obs
    return 0.5 * (n_obs * (np.log(2 * np.pi * sigma2) + 1.0) - log_weights)
