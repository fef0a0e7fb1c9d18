r"""Penalized IRLS on the weighted Gram matrix: the fits inside a penalty search.

Each step of :func:`priorreg.irls.penalized_irls` solves
:math:`(X'WX + \lambda L)\, b_{t+1} = X'W z + \lambda L b_0`; written as a
correction of the current estimate it is the Fisher-scoring step

.. math::

    (H + \lambda L)\,\Delta = X'W g'(\mu)(y - \mu) - \lambda L (b_t - b_0),
    \qquad H = X'WX,

with working weights :math:`W = w / (V(\mu) g'(\mu)^2)`. The two are the
same iteration in exact arithmetic (same step halving, same stopping rule);
this one needs, per accepted estimate, one pass over the data for the
weighted Gram matrix :math:`[W^{1/2}X, W^{1/2}g'(y-\mu)]'[\cdot]` (a BLAS
``syrk`` on row blocks, no weighted copy of ``X``) and a Cholesky factor of
the small matrix :math:`H + \lambda L`; none of the path quantities of
:func:`priorreg.linalg.factorize` (orthogonal factor, whitening, SVD), which
serve every ``lam`` at once and are needed only at the selected one.

A selection criterion needs, at the converged estimate, the deviance and
the effective degrees of freedom

.. math::

    \mathrm{edf} = \operatorname{tr}\big((H + \lambda L)^{-1} H\big),

with ``H`` the Gram matrix *at that estimate*: the loop ends with it (the
stopping test is made after the Gram matrix of the new estimate is formed),
so the criterion is exact at the converged fit, not a one-step
approximation.

The Gram matrix squares the condition number of the weighted design. With
an unpenalized constant column the Gram matrix is formed centred
(:func:`priorreg.gram.centred_gram`: a shift per row block, the exact
centring on the small matrix), and the steps, edf and covariance are solved
in the centred coordinates :math:`X_c = X(I - e_j m')`, which the penalty
does not see. A pass over the rows at an estimate skips the per-block shift
when a sample of the rows says the columns' weighted means are within 0.7
standard deviations of 0 (:data:`_MAX_KAPPA`): the rounding of the Gram
matrix then grows by at most 50%, and each block is weighted in one sweep.
The Cholesky factor is taken of the column-scaled matrix
:math:`D(H + \lambda L)D`, ``D = diag(H)^{-1/2}``; when its reciprocal
condition number is below ``1e-6`` (``edf`` then no longer certain to
about ``1e-10`` relative), the kernel declines (returns ``None``) and the
caller uses the orthogonal path of :mod:`priorreg.linalg` instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg as sla
from scipy.linalg import lapack
from scipy.optimize import minimize_scalar

from priorreg._typing import FloatArray
from priorreg.canonical import block_kernel
from priorreg.gram import CentredGram, centred_gram
from priorreg.irls import ArrayData, ArrayPoint, IRLSProblem, IRLSResult, as_result, irls_loop
from priorreg.linalg import PathFactor
from priorreg.link_slope import slope_sign

__all__ = [
    "DeferredFactor",
    "FixedFit",
    "GramArrayPoint",
    "GramData",
    "GramFit",
    "GramPoint",
    "GramSummary",
    "GramSystem",
    "fixed_lam_irls",
    "gram_irls",
    "gram_pass",
    "gram_point",
    "gram_summary",
    "performance_irls",
]

#: Smallest reciprocal condition number of ``D (H + lam L) D`` accepted:
#: rounding in the Gram route is about ``eps / rcond`` relative, 2e-10 here.
_MIN_RCOND = 1e-6
_EPS = float(np.finfo(float).eps)
#: A pass leaves the rows unshifted when the sample predicts every column's
#: :math:`\kappa = 1 + \bar x^2 / \mathrm{var} \le 1.5`
#: (:func:`priorreg.gram.centred_gram`): the Gram matrix's rounding is then
#: at most 1.5 times that of the centred data, about ``1.5 eps / rcond``.
_MAX_KAPPA = 1.5


@dataclass(frozen=True)
class GramPoint:
    r"""An estimate with its mean, deviance and weighted Gram matrix.

    ``gram`` is :math:`X'WX`, ``score`` :math:`X'W g'(\mu)(y - \mu)` and
    ``rss`` :math:`\sum_i W_i (g'(\mu_i)(y_i - \mu_i))^2`, all at ``params``.
    """

    params: FloatArray
    eta: FloatArray
    mu: FloatArray
    deviance: float
    gram: FloatArray
    score: FloatArray
    rss: float
    #: With a constant unpenalized column ``j``: :math:`H_c = P'HP` and
    #: :math:`P's` for :math:`P = I - e_j m'` (``means`` is ``m``), the same
    #: quantities for the centred design, whose conditioning the solves use.
    centred: FloatArray | None = None
    centred_score: FloatArray | None = None
    means: FloatArray | None = None
    centre: int | None = None


@dataclass(frozen=True)
class GramFit:
    """A penalized IRLS fit at one ``lam`` from :func:`gram_irls`."""

    point: GramPoint
    lam: float
    edf: float
    penalized_deviance: float
    converged: bool
    iterations: int

    @property
    def params(self) -> FloatArray:
        """Coefficients at the last estimate."""
        return self.point.params

    @property
    def deviance(self) -> float:
        """Deviance at the last estimate."""
        return self.point.deviance


def gram_point(
    problem: IRLSProblem,
    params: FloatArray,
    eta: FloatArray,
    mu: FloatArray,
    deviance: float,
    *,
    working: FloatArray | None = None,
) -> GramPoint | None:
    r"""The Gram matrix and score at an estimate (one pass); ``None`` if ``W`` is invalid.

    ``working`` replaces the working residual :math:`g'(\mu)(y - \mu)` in the
    score when ``params`` is only a reference point for the means ``mu``
    (IRLS started from the family's starting means).
    """
    family = problem.family
    with np.errstate(all="ignore"):
        W = problem.prior_weights * family.weights(mu)
        sw = np.sqrt(W)
        if working is None:
            working = slope_sign(family.link, eta, mu) * family.link.deriv(mu) * (problem.y - mu)
        col = sw * working
    if not (np.all(np.isfinite(W)) and np.all(W > 0) and np.all(np.isfinite(col))):
        return None
    cg = centred_gram(problem.X, sw, col, problem.centre)
    return _point_from(cg, problem.centre, params, eta, mu, deviance)


def _point_from(
    cg: CentredGram,
    j: int | None,
    params: FloatArray,
    eta: FloatArray,
    mu: FloatArray,
    deviance: float,
) -> GramPoint:
    """The :class:`GramPoint` of a (centred on column ``j``, or not) Gram matrix."""
    k = cg.G.shape[0] - 1
    G = cg.G
    if j is None or cg.means is None:
        return GramPoint(params, eta, mu, deviance, G[:k, :k], G[:k, k].copy(), float(G[k, k]))
    Hc, sc, m = G[:k, :k], G[:k, k].copy(), cg.means
    # X = X_c Q with Q = P^-1 = I + e_j m': H = Q' H_c Q, s = Q' s_c
    H = Hc + np.outer(Hc[:, j], m)
    H = H + np.outer(m, H[j, :])
    score = sc + m * sc[j]
    H = 0.5 * (H + H.T)
    return GramPoint(params, eta, mu, deviance, H, score, float(G[k, k]), Hc, sc, m, j)


@dataclass(frozen=True)
class GramArrayPoint(ArrayPoint):
    """An in-memory estimate with the Gram matrix there (``None``: invalid weights)."""

    gram: GramPoint | None = None


def gram_pass(problem: IRLSProblem, params: FloatArray) -> GramArrayPoint:
    r"""Means, deviance and the Gram matrix and score at ``params`` in one pass over ``X``.

    Each row block gives :math:`\eta = X b + o`, the means, the working
    weights and residual, and is then added to the (centred) Gram matrix by
    ``syrk`` while it is in cache; the deviance follows from the means (for
    the canonical binomial and Poisson models block by block, with the
    weights: :mod:`priorreg.canonical`).
    """
    family, link = problem.family, problem.family.link
    X, y, offset = problem.X, problem.y, problem.offset
    prior_w = problem.prior_weights
    n = X.shape[0]
    eta, mu = np.empty(n), np.empty(n)
    valid = [True]
    kernel = block_kernel(family, y, problem.var_weights)
    block_deviance: list[float] = []
    # at the prior (the usual start) X b0 comes with the pass: keep it as the
    # problem's cached ``prior_fit`` instead of another product with X later
    xb0 = (
        np.empty(n)
        if "prior_fit" not in problem.__dict__ and np.array_equal(params, problem.b0)
        else None
    )

    def weights_at(rows: slice, block: FloatArray) -> FloatArray:
        with np.errstate(all="ignore"):
            return prior_w[rows] * family.weights(link.inverse(block @ params + offset[rows]))

    def weigh(rows: slice, block: FloatArray) -> tuple[FloatArray, FloatArray]:
        with np.errstate(all="ignore"):
            xb = block @ params
            if xb0 is not None:
                xb0[rows] = xb
            e = xb + offset[rows]
            if kernel is None:
                m = link.inverse(e)
                sw = np.sqrt(prior_w[rows] * family.weights(m))
                col = sw * (slope_sign(link, e, m) * link.deriv(m) * (y[rows] - m))
            else:
                m, sw, col, dev = kernel(e, y[rows], prior_w[rows])
                block_deviance.append(dev)
        eta[rows], mu[rows] = e, m
        # W finite and > 0 (sw finite and > 0; a negative W gives sw = NaN)
        if not (np.all(np.isfinite(sw)) and np.all(sw > 0) and np.all(np.isfinite(col))):
            valid[0] = False
        return sw, col

    j = problem.centre
    # weights of a trial step may be 0, inf or NaN (means out of range): the Gram
    # matrix is then discarded (valid), so its arithmetic must not warn either
    with np.errstate(all="ignore"):
        cg = centred_gram(
            X, None, None, j, weigh=weigh, weights_at=weights_at, max_kappa=_MAX_KAPPA
        )
    deviance = problem.deviance(mu) if kernel is None else float(sum(block_deviance))
    if xb0 is not None:  # functools.cached_property reads the instance __dict__
        problem.__dict__["prior_fit"] = xb0
    gram = _point_from(cg, j, params, eta, mu, deviance) if valid[0] else None
    return GramArrayPoint(params, eta, mu, deviance, gram)


def _centred(point: GramPoint) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """``(H, s, m)`` of the best-conditioned form at ``point`` (``m`` ``None``: not centred)."""
    if point.centred is None or point.centred_score is None:
        return point.gram, point.score, None
    return point.centred, point.centred_score, point.means


def _cholesky(A: FloatArray) -> tuple[FloatArray, FloatArray] | None:
    """Upper Cholesky factor of ``D A D`` and ``D``; ``None`` if ill conditioned."""
    diag = np.diagonal(A)
    if not np.all(np.isfinite(A)) or np.any(diag <= 0):
        return None
    D = 1.0 / np.sqrt(diag)
    As = D[:, None] * A * D[None, :]
    C, info = lapack.dpotrf(As, lower=0, clean=1)
    if info != 0:
        return None
    rcond, info = lapack.dpocon(C, float(np.max(np.sum(np.abs(As), axis=0))))
    if info != 0 or not rcond >= _MIN_RCOND:
        return None
    return C, D


def _solve(C: FloatArray, D: FloatArray, B: FloatArray) -> FloatArray:
    """``A^-1 B`` from the factor of ``D A D``."""
    scaled = D[:, None] * B if B.ndim == 2 else D * B
    out, info = lapack.dpotrs(C, scaled, lower=0)
    if info != 0:
        raise FloatingPointError("dpotrs failed")
    return D[:, None] * out if B.ndim == 2 else D * out


def edf(point: GramPoint, lam: float, L: FloatArray) -> float | None:
    r"""Effective degrees of freedom :math:`\operatorname{tr}((H + \lambda L)^{-1} H)`.

    ``H`` is ``point.gram`` (or its centred form :math:`P'HP`: the trace is
    the same, :math:`P'LP = L`); ``None`` when ``H + lam L`` is ill
    conditioned.
    """
    H = _centred(point)[0]
    factor = _cholesky(H + lam * L)
    if factor is None:
        return None
    return float(np.trace(_solve(*factor, H)))


@dataclass(frozen=True)
class GramSystem:
    r"""The working problem as the Gram matrix and score at a point.

    The step from the point's coefficients ``b`` (zero at the family's
    starting means, whose score then holds the whole working response) is
    :math:`b + (H + \lambda L)^{-1}(s - \lambda L(b - b_0))`, solved by the
    Cholesky factor of the column-scaled :math:`H + \lambda L`.
    """

    point: GramPoint
    L: FloatArray
    b0: FloatArray

    def solve(self, lam: float, params: FloatArray | None) -> FloatArray | None:
        r"""The working solution at ``lam``; ``None`` when ``H + lam L`` is ill conditioned.

        On the centred form when there is one: :math:`(H_c + \lambda L)\Delta_c
        = P'(s - \lambda L(b - b_0))` (:math:`P'L = L`, the centred column
        being unpenalized) and :math:`\Delta = P \Delta_c`.
        """
        H, score, m = _centred(self.point)
        factor = _cholesky(H + lam * self.L)
        if factor is None:
            return None
        ref = self.point.params
        step = _solve(*factor, score - lam * (self.L @ (ref - self.b0)))
        if m is not None:
            assert self.point.centre is not None
            step[self.point.centre] -= m @ step
        return ref + step


@dataclass(frozen=True)
class GramData(ArrayData):
    """In-memory arrays for :func:`priorreg.irls.irls_loop`, working solves on ``X'WX``.

    The working system at a point is its weighted Gram matrix (one blockwise
    ``syrk`` pass, :func:`gram_point`); ``None`` (the route declines) when
    the working weights are not valid there.
    """

    def evaluate(self, params: FloatArray | None) -> ArrayPoint:
        """Means and deviance at ``params``, with the Gram matrix there (:func:`gram_pass`)."""
        if params is None or self.box is not None:
            return super().evaluate(params)
        return gram_pass(self.problem, params)

    def system(self, point: ArrayPoint) -> GramSystem | None:  # type: ignore[override]
        """The Gram matrix and score at ``point`` (from its pass when it was evaluated here)."""
        problem = self.problem
        if isinstance(point, GramArrayPoint):
            gp = point.gram
        elif point.params is None:  # the starting means: score of the whole working response
            _, z = problem.working(point.eta, point.mu)
            ref = np.zeros_like(problem.b0)
            gp = gram_point(problem, ref, point.eta, point.mu, point.deviance, working=z)
        else:
            gp = gram_point(problem, point.params, point.eta, point.mu, point.deviance)
        return None if gp is None else GramSystem(gp, problem.L, problem.b0)


def _gram_fit(data: GramData, r: object) -> GramFit | None:
    """The :class:`GramFit` of a loop's end: the Gram matrix and edf at its last point."""
    if r is None or r.stuck:  # type: ignore[attr-defined]
        return None
    system = data.system(r.point)  # type: ignore[attr-defined]
    if system is None:
        return None
    lam = r.lam  # type: ignore[attr-defined]
    value = edf(system.point, lam, data.problem.L)
    if value is None:
        return None
    return GramFit(
        system.point, float(lam), value, r.penalized_deviance, r.converged, r.iterations  # type: ignore[attr-defined]
    )


def gram_irls(
    problem: IRLSProblem,
    lam: float,
    start: GramPoint,
    *,
    maxiter: int = 100,
    tol: float = 1e-8,
) -> GramFit | None:
    r"""Penalized IRLS at ``lam`` from ``start`` by Fisher-scoring steps on ``X'WX``.

    :func:`priorreg.irls.irls_loop` (the same step halving and stopping
    rule as every fit) on :class:`GramData`: the step is solved from the
    Cholesky factor of :math:`X'WX + \lambda L` instead of the orthogonal
    path factor.

    Parameters
    ----------
    problem : IRLSProblem
    lam : float
        Penalty weight, > 0 or with ``X'WX`` non-singular.
    start : GramPoint
        Starting estimate with its Gram matrix (e.g. a converged fit at a
        nearby ``lam``).
    maxiter, tol
        Iteration limit and relative tolerance on the penalized deviance.

    Returns
    -------
    GramFit or None
        ``None`` when the Gram route is not accurate or not defined there
        (ill-conditioned ``X'WX + lam L``, invalid working weights or a
        non-finite deviance); the caller then uses
        :func:`priorreg.irls.penalized_irls`.
    """
    data = GramData(problem)
    point = ArrayPoint(start.params, start.eta, start.mu, start.deviance)
    first = (point, GramSystem(start, problem.L, problem.b0))
    return _gram_fit(data, irls_loop(data, lam, maxiter=maxiter, tol=tol, first=first))


def _working_gcv_lam(point: GramPoint, L: FloatArray, b0: FloatArray, n_obs: int) -> float | None:
    r"""``lam`` minimising GCV of the working linear model at ``point``.

    The working model's estimate at ``lam`` is ``params + u`` with
    :math:`(H + \lambda L) u = s - \lambda L (b - b_0)` (``H``, ``s`` the
    Gram matrix and score at ``point``, ``b`` its coefficients). With the
    generalized eigenvectors :math:`L V = H V \mathrm{diag}(\mu)`,
    :math:`V'HV = I`, and :math:`g = V's`, :math:`h = V'H(b - b_0)`:

    .. math::

        \mathrm{RSS}(\lambda) = \mathrm{RSS}(0)
            + \sum_j \Big(\frac{\lambda\mu_j (g_j + h_j)}{1 + \lambda\mu_j}\Big)^2,
        \qquad
        \mathrm{edf}(\lambda) = \sum_j \frac{1}{1 + \lambda\mu_j},

    and GCV :math:`= n\,\mathrm{RSS}/(n - \mathrm{edf})^2` is minimised over
    the grid of :func:`priorreg.selection.default_grid` (:math:`1/\mu_j` are
    the squared singular values there), then by a bounded search on
    ``log(lam)``, as :func:`priorreg.selection.select_lam` does on the path
    factorization. ``None`` when ``H`` is not positive definite.
    """
    H = point.gram
    diag = np.diagonal(H)
    if np.any(diag <= 0) or not np.all(np.isfinite(H)):
        return None
    D = 1.0 / np.sqrt(diag)
    Hs = D[:, None] * H * D[None, :]
    Ls = D[:, None] * L * D[None, :]
    try:
        mu, V = sla.eigh(Ls, Hs)
    except np.linalg.LinAlgError:
        return None
    scale = float(np.max(np.abs(mu), initial=0.0))
    pen = mu > scale * mu.size * _EPS
    if not np.any(pen):
        return None
    mu = np.where(pen, mu, 0.0)
    g = V.T @ (D * point.score)
    h = V.T @ (Hs @ ((point.params - b0) / D))
    rss0 = max(point.rss - float(g @ g), 0.0)
    gh2 = (g + h) ** 2

    def gcv(lams: FloatArray) -> FloatArray:
        lm = lams[:, None] * mu[None, :]
        rss = rss0 + np.sum(gh2 * (lm / (1.0 + lm)) ** 2, axis=1)
        dfr = n_obs - np.sum(1.0 / (1.0 + lm), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(dfr > 0, n_obs * rss / dfr**2, np.inf)

    d2 = 1.0 / mu[pen]
    hi = float(d2.max())
    lo = max(float(d2.min()), hi * 1e-12)
    grid = np.logspace(np.log10(lo) - 3, np.log10(hi) + 3, 60)
    values = gcv(grid)
    i = int(np.argmin(values))
    if i in (0, grid.size - 1):
        return float(grid[i])
    opt = minimize_scalar(
        lambda t: float(gcv(np.array([math.exp(t)]))[0]),
        bounds=(math.log(grid[i - 1]), math.log(grid[i + 1])),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(math.exp(opt.x)) if opt.fun <= values[i] else float(grid[i])


def performance_irls(
    problem: IRLSProblem, *, maxiter: int = 100, tol: float = 1e-8
) -> GramFit | None:
    """Penalized IRLS choosing ``lam`` by GCV on the working model at each step.

    The performance iteration of :func:`priorreg.irls.penalized_irls` with
    ``select=working_selector("gcv")`` (the same loop, start and stopping
    rule), with ``lam`` chosen by :func:`_working_gcv_lam` and the step
    solved on the Gram matrix. ``None`` when the Gram route declines (see
    :func:`gram_irls`).
    """
    data = GramData(problem)
    L, b0, n_obs = problem.L, problem.b0, problem.X.shape[0]

    def select(system: GramSystem) -> float | None:
        return _working_gcv_lam(system.point, L, b0, n_obs)

    try:
        r = irls_loop(data, math.nan, maxiter=maxiter, tol=tol, select=select)
    except ValueError:  # no finite step from the starting means: the path route decides
        return None
    return _gram_fit(data, r)


@dataclass(frozen=True)
class FixedFit:
    """A fixed-``lam`` fit by :func:`fixed_lam_irls` and the Gram matrix at its estimate."""

    result: IRLSResult
    point: GramPoint


def fixed_lam_irls(
    problem: IRLSProblem,
    lam: float,
    *,
    start: FloatArray | None = None,
    maxiter: int = 100,
    tol: float = 1e-8,
) -> FixedFit | None:
    r"""Penalized IRLS at a fixed ``lam`` on the Gram route, no path factorization.

    :func:`priorreg.irls.irls_loop` on :class:`GramData`: per iteration one
    blockwise ``syrk`` pass for :math:`X'WX` and the score, and a ``k x k``
    Cholesky factor; no ``n x k`` temporary. Each step is a correction
    :math:`\Delta = (H + \lambda L)^{-1}(s - \lambda L(b - b_0))` with the
    score :math:`s = X'W g'(\mu)(y - \mu)` evaluated from the rows, so the
    fixed point (the penalized MLE) does not depend on the rounding of
    :math:`H`: that only slows the contraction (iterative refinement). The
    loop ends with the Gram matrix at the last estimate, from which the
    covariance :math:`(H + \lambda L)^{-1}` and the edf follow
    (:func:`gram_summary`).

    Returns
    -------
    FixedFit or None
        ``None`` when the Gram route declines (ill-conditioned
        :math:`X'WX + \lambda L`: reciprocal condition number of the scaled
        matrix below ``1e-6``; invalid working weights; no finite step): the
        caller then runs :func:`priorreg.irls.penalized_irls` on the path
        factorization.
    """
    data = GramData(problem)
    try:
        r = irls_loop(data, lam, start=start, maxiter=maxiter, tol=tol)
    except ValueError:  # no finite step from the starting means: the path route reports it
        return None
    if r is None or r.stuck:
        return None
    system = data.system(r.point)
    if system is None:
        return None
    return FixedFit(as_result(r, data), system.point)


@dataclass
class DeferredFactor:
    """The path factor of the working problem at a fit, computed at its first use.

    Stands for :class:`priorreg.linalg.PathFactor` (attributes are those of
    the factor): a fit on the Gram route needs the path factorization only
    for leverages, LOOCV, REML and the like, not for its estimate,
    covariance or edf.
    """

    problem: IRLSProblem
    eta: FloatArray
    mu: FloatArray
    _factor: PathFactor | None = None

    @property
    def value(self) -> PathFactor:
        """The path factor (factorized now if not yet)."""
        if self._factor is None:
            self._factor = self.problem.factor(self.eta, self.mu)[0]
        return self._factor

    def __getattr__(self, name: str) -> object:
        if name.startswith("_"):  # unpickling, copying: no factorization
            raise AttributeError(name)
        return getattr(self.value, name)


@dataclass(frozen=True)
class GramSummary:
    """Covariance and edf of a fit from the Gram matrix at its estimate."""

    factor: DeferredFactor
    zw: FloatArray
    normalized_cov: FloatArray
    edf: float


def gram_summary(problem: IRLSProblem, r: IRLSResult, point: GramPoint) -> GramSummary | None:
    r"""Covariance and edf of a fit from the Gram matrix ``H`` at its estimate.

    .. math::

        V = (H + \lambda L)^{-1}, \qquad \mathrm{edf} = \operatorname{tr}(V H),

    From the Cholesky factor of the scaled :math:`H + \lambda L` (``H`` the
    Gram matrix at the fit, centred when it can be: :math:`V = P V_c P'`);
    ``None`` when it is ill conditioned (the caller then factorizes on the
    path route). The path factor is deferred.
    """
    H, _, m = _centred(point)
    factor = _cholesky(H + r.lam * problem.L)
    if factor is None:
        return None
    k = H.shape[0]
    Vc = _solve(*factor, np.eye(k))
    Vc = 0.5 * (Vc + Vc.T)
    edf_value = float(np.sum(Vc * H))  # tr(A^-1 H) = tr(A_c^-1 H_c), both symmetric
    ncov = Vc
    if m is not None:  # V = P V_c P', P = I - e_j m'
        assert point.centre is not None
        j = point.centre
        ncov = Vc.copy()
        ncov[j, :] -= m @ Vc
        ncov[:, j] -= ncov @ m
    ncov = 0.5 * (ncov + ncov.T)
    W, z = problem.working(r.eta, r.mu)
    zw = (z - problem.prior_fit) * np.sqrt(W)
    return GramSummary(DeferredFactor(problem, r.eta, r.mu), zw, ncov, edf_value)
