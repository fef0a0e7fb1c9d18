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
