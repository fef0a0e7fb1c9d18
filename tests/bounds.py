"""Error bounds that the tests' tolerances come from.

A tolerance is what rounding (or a stated stopping rule) can change in a
result, times ``MARGIN``; it is never the rounding seen once on one machine.
The bounds are the textbook ones (Higham, *Accuracy and Stability of
Numerical Algorithms*, 2nd ed.: 7.2 for linear systems, 20.1 for least
squares); condition numbers are computed from the problem at hand, so the
tolerance follows the problem. The constants ``c(k)`` are taken as ``k``
(or ``n`` for sums over rows): the dimension factors of the theorems, which
are pessimistic for random rounding and so cover any BLAS blocking and
thread count.

Normwise bounds bound ``max |a - b| / max |b|``; a small entry of a vector may
have a larger relative error than the vector has, so a normwise bound is
checked normwise (:func:`assert_close_normwise`), not entry by entry.
"""

from __future__ import annotations

import numpy as np

EPS = float(np.finfo(float).eps)
#: Every tolerance is a bound times this margin.
MARGIN = 10.0


def cond(A) -> float:
    """2-norm condition number of a matrix (``np.linalg.cond``)."""
    return float(np.linalg.cond(np.asarray(A, dtype=float)))


def solve_rtol(A, n_solvers: int = 2) -> float:
    """Normwise relative difference of backward-stable solves of ``A x = b``, times MARGIN.

    Each solve has relative forward error at most ``k eps cond(A)`` (to first
    order, Higham Thm 7.2 with backward error ``k eps``); two independent
    solves differ by at most the sum.
    """
    A = np.asarray(A, dtype=float)
    return MARGIN * n_solvers * A.shape[0] * EPS * cond(A)


def lstsq_rtol(X, coef, resid, n_solvers: int = 2) -> float:
    """Normwise relative difference of backward-stable least-squares solutions, times MARGIN.

    For ``min ||X b - y||`` solved by QR/SVD (or by any method with the same
    backward error, e.g. corrected semi-normal equations), Higham Thm 20.1:

    .. math:: \\|\\Delta b\\| / \\|b\\| \\le c\\,\\epsilon\\,\\kappa (2 + \\kappa\\,
              \\|r\\| / (\\|X\\| \\|b\\|)),  \\quad c = n k.
    """
    X = np.asarray(X, dtype=float)
    n, k = X.shape
    kappa = cond(X)
    norm_b = max(float(np.linalg.norm(coef)), np.finfo(float).tiny)
    ratio = float(np.linalg.norm(resid)) / (float(np.linalg.norm(X, 2)) * norm_b)
    return MARGIN * n_solvers * n * k * EPS * kappa * (2.0 + kappa * ratio)


def sum_rtol(n_terms: int) -> float:
    """Relative error of a sum of ``n`` same-sign terms (any order): ``n eps``, x MARGIN."""
    return MARGIN * n_terms * EPS


def assert_close_normwise(actual, desired, rtol: float, err_msg: str = "") -> None:
    """``max |actual - desired| <= rtol * max |desired|``: the form normwise bounds take."""
    a = np.asarray(actual, dtype=float)
    d = np.asarray(desired, dtype=float)
    assert a.shape == d.shape, (a.shape, d.shape)
    err = float(np.max(np.abs(a - d))) if a.size else 0.0
    scale = float(np.max(np.abs(d))) if d.size else 0.0
    assert err <= rtol * scale, f"{err_msg} max|diff| = {err:.3g} > {rtol:.3g} * {scale:.3g}"


def glm_optimum_distance(family, X, y, params, *, lam=0.0, L=None, b0=None, **glm_kwargs):
    """Distance from ``params`` to the minimiser of ``D(b) + lam (b - b0)' L (b - b0)``.

    To first order it is the length of the Newton step ``H^-1 g`` there
    (gradient and Hessian of the penalized log-likelihood at scale 1, from
    statsmodels' ``GLM.score`` and ``GLM.hessian``: an oracle independent of
    priorreg); the rounding floor ``k eps cond(H) ||b||`` is added. A converged
    IRLS fit (Newton or Fisher scoring) stops within this distance of the
    optimum, whatever its stopping rule.
    """
    step, H = glm_newton_step(family, X, y, params, lam=lam, L=L, b0=b0, **glm_kwargs)
    b = np.asarray(params, dtype=float)
    return float(np.linalg.norm(step)) + b.size * EPS * cond(H) * float(np.linalg.norm(b))


def glm_newton_step(family, X, y, params, *, lam=0.0, L=None, b0=None, **glm_kwargs):
    """Newton step ``-H^-1 g`` of the penalized log-likelihood at ``params``, and ``-H``.

    ``-H`` (positive definite) is the penalized observed information at
    scale 1; ``step' (-H) step / 2`` is, to second order, how far the
    penalized log-likelihood at ``params`` is below its maximum.
    """
    import statsmodels.api as sm

    b = np.asarray(params, dtype=float)
    k = b.size
    L = np.zeros((k, k)) if L is None else np.asarray(L, dtype=float)
    b0 = np.zeros(k) if b0 is None else np.asarray(b0, dtype=float)
    model = sm.GLM(y, X, family=family, **glm_kwargs)
    g = model.score(b, scale=1.0) - lam * L @ (b - b0)
    H = model.hessian(b, scale=1.0) - lam * L
    return -np.linalg.solve(H, g), -H


def sensitivity(f, b, radius):
    """First-order bound on ``|f(b') - f(b)|`` over ``||b' - b|| <= radius``.

    ``||J|| radius`` with the Jacobian ``J`` of ``f`` by central differences
    (step 1e-6 relative: truncation ~1e-12, far below the radii used).
    Works for scalar and vector ``f`` (one bound per output entry).
    """
    b = np.asarray(b, dtype=float)
    cols = []
    for j in range(b.size):
        h = 1e-6 * max(1.0, abs(b[j]))
        e = np.zeros(b.size)
        e[j] = h
        up, down = np.asarray(f(b + e), dtype=float), np.asarray(f(b - e), dtype=float)
        cols.append((up - down) / (2 * h))
    J = np.stack(cols, axis=-1)
    return np.linalg.norm(J, axis=-1) * radius


def glm_quantities(family, X, y, *, estimated_scale):
    """Deviance, Pearson chi2, scale, llf, bse and residuals of a GLM at ``b``.

    Computed with statsmodels' family functions; for :func:`sensitivity`.
    """
    n, k = X.shape

    def at(b):
        eta = X @ b
        mu = family.link.inverse(eta)
        var = family.variance(mu)
        chi2 = float(np.sum((y - mu) ** 2 / var))
        scale = chi2 / (n - k) if estimated_scale else 1.0
        dmu = 1.0 / family.link.deriv(mu)
        W = dmu**2 / var
        cov = scale * np.linalg.inv(X.T @ (W[:, None] * X))
        return {
            "deviance": family.deviance(y, mu),
            "pearson_chi2": chi2,
            "scale": scale,
            "llf": family.loglike(y, mu, scale=scale),
            "bse": np.sqrt(np.diag(cov)),
            "resid_pearson": (y - mu) / np.sqrt(var),
            "resid_deviance": family.resid_dev(y, mu),
        }

    return at
