r"""Dense criteria of a several-penalty fit and their derivatives in ``log(lam)``.

From one weighted Gram matrix (``G = X'WX``, ``c = X'Wz``, ``z'Wz`` with
``z = y - o - X b_ref``), everything at ``rho = log(lam)`` is ``k x k``
algebra. With ``S = sum_j lam_j P_j``, ``A = G + S``, ``d = b - b_ref =
A^{-1}(c + sum_j lam_j P_j (b0_j - b_ref))`` and ``D_j = b0_j - b_ref``:

.. math::

    \frac{\partial d}{\partial\rho_j} = d_j = -\lambda_j A^{-1} P_j (d - D_j),\qquad
    \frac{\partial^2 d}{\partial\rho_j\partial\rho_k}
      = \delta_{jk} d_j - \lambda_k A^{-1}P_k d_j - \lambda_j A^{-1}P_j d_k,

:math:`\mathrm{RSS} = z'Wz - 2d'c + d'Gd` with
:math:`\partial_j \mathrm{RSS} = 2(Gd - c)'d_j` and
:math:`\partial_{jk}\mathrm{RSS} = 2 d_k'Gd_j + 2(Gd - c)'d_{jk}`;
:math:`\mathrm{edf} = \operatorname{tr}(A^{-1}G)` with
:math:`\partial_j \mathrm{edf} = -\lambda_j\operatorname{tr}(M_jF)` and
:math:`\partial_{jk}\mathrm{edf} = -\delta_{jk}\lambda_j\operatorname{tr}(M_jF)
+ \lambda_j\lambda_k\operatorname{tr}(M_kM_jF + M_jM_kF)`,
``M_j = A^{-1}P_j``, ``F = A^{-1}G``. The penalized RSS
:math:`D_p = \mathrm{RSS} + \sum_j\lambda_j (d - D_j)'P_j(d - D_j)` has
(envelope theorem) :math:`\partial_j D_p = \lambda_j (d-D_j)'P_j(d-D_j)`,
:math:`\partial_{jk}D_p = \delta_{jk}\partial_jD_p - 2\lambda_j\lambda_k
(d-D_j)'P_jA^{-1}P_k(d-D_k)`; and
:math:`\partial_j\log|A| = \lambda_j\operatorname{tr}M_j`,
:math:`\partial_{jk}\log|A| = \delta_{jk}\lambda_j\operatorname{tr}M_j
- \lambda_j\lambda_k\operatorname{tr}(M_jM_k)` (the same for
:math:`\log|S|_+` on the range of the penalties). These are Wood (2011),
"Fast stable restricted maximum likelihood and marginal likelihood
estimation of semiparametric generalized linear models", JRSS-B 73(1),
Appendix B, for the linear (working) model.

Criteria (all minimised, as in :mod:`priorreg.selection`):
``gcv = n RSS / (n - edf)^2``; ``ubre = RSS/n + 2 phi edf/n - phi`` (known
scale ``phi``); ``reml`` with the scale profiled out
``0.5[(n - Mp)(log(2 pi Dp/(n - Mp)) + 1) + log|A| - log|S|_+ - sum log w]``
(``Mp`` the dimension of the penalties' common null space; the constants
of :meth:`priorreg.linalg.PathFactor.reml`), or with a known scale
``0.5[Dp/phi + log|A| - log|S|_+ - Mp log(2 pi phi)]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from priorreg._typing import FloatArray
from priorreg.linalg import SingularSystemError

__all__ = ["CriterionPoint", "GramProblem", "evaluate", "gram_problem"]

_EPS = float(np.finfo(float).eps)


def gram(X: FloatArray) -> FloatArray:
    """``X'X`` by one BLAS ``syrk`` (half the work of a general product), symmetrized."""
    Xt = X.T if X.flags.c_contiguous else np.asarray(X, order="F").T  # (k, n), Fortran order
    upper = sla.blas.dsyrk(1.0, Xt, trans=0, lower=0)
    return np.triu(upper) + np.triu(upper, 1).T


@dataclass(frozen=True)
class GramProblem:
    """The weighted Gram data of a linear (or working) problem, about ``b_ref``."""

    G: FloatArray
    c: FloatArray
    zz: float
    n_obs: float
    log_weights: float
    b_ref: FloatArray


def gram_problem(
    X: FloatArray, z: FloatArray, weights: FloatArray | None, b_ref: FloatArray, n_obs: float
) -> GramProblem:
    """``X'WX``, ``X'Wz``, ``z'Wz`` in one pass over the data (``z`` already about ``b_ref``)."""
    if weights is None:
        Xw, zw, log_w = X, z, 0.0
    else:
        sw = np.sqrt(weights)
        Xw, zw, log_w = X * sw[:, None], z * sw, float(np.sum(np.log(weights)))
    G = gram(Xw)
    return GramProblem(0.5 * (G + G.T), Xw.T @ zw, float(zw @ zw), float(n_obs), log_w, b_ref)


@dataclass(frozen=True)
class CriterionPoint:
    """A criterion at ``rho = log(lam)``, with its gradient and Hessian in ``rho``."""

    rho: FloatArray
    value: float
    grad: FloatArray
    hess: FloatArray
    edf: float
    delta: FloatArray
    rss: float
    dcoef: FloatArray  # (k, m): d b / d rho_j

    @property
    def lam(self) -> FloatArray:
        """``exp(rho)``."""
        return np.exp(self.rho)


@dataclass(frozen=True)
class _Range:
    """An orthonormal basis of the penalties' common range (for ``log|S|_+``)."""

    U: FloatArray
    parts: FloatArray  # (m, r, r): U' P_j U


def penalty_range(matrices: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(U, U'P_jU)``: basis of the range of ``sum_j P_j`` (scaled) and the projected ``P_j``."""
    scales = np.maximum(np.max(np.abs(matrices), axis=(1, 2)), 1e-300)
    total = np.tensordot(1.0 / scales, matrices, axes=1)
    ev, vec = np.linalg.eigh(0.5 * (total + total.T))
    tol = max(float(ev.max(initial=0.0)), 1e-300) * total.shape[0] * 1e3 * _EPS
    U = vec[:, ev > tol]
    parts = U.T @ matrices @ U
    return U, parts


def _inverse(A: FloatArray) -> tuple[FloatArray, float]:
    """``(A^{-1}, log|A|)`` by Cholesky; a clear error when ``A`` is singular."""
    try:
        C = sla.cholesky(A, lower=False)
    except np.linalg.LinAlgError as exc:
        raise SingularSystemError(
            "X'WX + sum_j lam_j P_j is singular: the data and penalties do not identify "
            "every coefficient (collinear unpenalized columns?). Penalize them or remove "
            "redundant columns."
        ) from exc
    # LAPACK's triangular inverse: for small k, trsm against the identity is
    # orders of magnitude slower here (OpenBLAS threading on a 2-core machine)
    Cinv, info = sla.lapack.dtrtri(C, lower=0)
    if info != 0:
        raise SingularSystemError("X'WX + sum_j lam_j P_j is singular")
    return Cinv @ Cinv.T, 2.0 * float(np.sum(np.log(np.diagonal(C))))


def _log_det_terms(
    lams: FloatArray, parts: FloatArray, order: int
) -> tuple[float, FloatArray, FloatArray]:
    """``log|S|_+`` with its gradient and Hessian in ``rho`` (on the penalties' range)."""
    m = lams.size
    if parts.shape[1] == 0:
        return 0.0, np.zeros(m), np.zeros((m, m))
    Sr = np.tensordot(lams, parts, axes=1)
    Sinv, logdet = _inverse(0.5 * (Sr + Sr.T))
    if order == 0:
        return logdet, np.zeros(m), np.zeros((m, m))
    Q = Sinv @ parts
    tr = np.einsum("jaa->j", Q)
    grad = lams * tr
    cross = np.einsum("jab,kba->jk", Q, Q, optimize=True)
    hess = np.diag(grad) - np.outer(lams, lams) * cross
    return logdet, grad, hess


def _second_coef(M: FloatArray, dcoef: FloatArray, lams: FloatArray) -> FloatArray:
    """``(k, m, m)``: second derivatives of the coefficients in ``rho`` (module docstring)."""
    m = lams.size
    MD = M @ dcoef  # M_j d_k, (m, k, m)
    return np.asarray(
        np.einsum("jk,aj->ajk", np.eye(m), dcoef)
        - lams[None, None, :] * np.einsum("kaj->ajk", MD)
        - lams[None, :, None] * np.einsum("jak->ajk", MD)
    )


def evaluate(
    prob: GramProblem,
    matrices: FloatArray,
    priors: FloatArray,
    rho: FloatArray,
    criterion: str,
    *,
    scale: float | None = None,
    order: int = 2,
    penalty_range_parts: tuple[FloatArray, FloatArray] | None = None,
) -> CriterionPoint:
    """``criterion`` at ``rho`` with its gradient and Hessian (``order`` 0, 1 or 2).

    Parameters
    ----------
    prob : GramProblem
    matrices : ndarray of shape (m, k, k)
        The penalty matrices ``P_j``.
    priors : ndarray of shape (m, k)
        The priors ``b0_j``.
    rho : ndarray of shape (m,)
        ``log(lam)``.
    criterion : {"gcv", "ubre", "reml"}
    scale : float, optional
        Known scale (``ubre``; ``reml`` with a known scale); ``None`` profiles
        it out of ``reml``.
    order : int
        0: value only; 1: and gradient; 2: and Hessian.
    penalty_range_parts : (U, U'P_jU), optional
        From :func:`penalty_range` (computed once by the caller).

    Returns
    -------
    CriterionPoint
    """
    rho = np.asarray(rho, dtype=float)
    lams = np.exp(rho)
    m, k = matrices.shape[0], matrices.shape[1]
    D = priors - prob.b_ref
    S = np.tensordot(lams, matrices, axes=1)
    s0 = lams @ (matrices @ D[:, :, None])[:, :, 0]
    Ainv, logdetA = _inverse(0.5 * (prob.G + S + (prob.G + S).T))
    d = Ainv @ (prob.c + s0)
    Gd = prob.G @ d
    rss = max(prob.zz - 2.0 * d @ prob.c + d @ Gd, 0.0)
    F = Ainv @ prob.G
    edf = float(np.trace(F))
    resid_pen = d[None, :] - D  # (m, k)
    Pd = (matrices @ resid_pen[:, :, None])[:, :, 0]
    pen = np.einsum("jk,jk->j", resid_pen, Pd)
    dcoef = -(Ainv @ Pd.T) * lams[None, :]  # (k, m)
    n = prob.n_obs
    grad = np.zeros(m)
    hess = np.zeros((m, m))
    need_m = order >= 1
    M = Ainv @ matrices if need_m else None
    if criterion in ("gcv", "ubre"):
        if criterion == "gcv":
            tau = n - edf
            value = n * rss / tau**2 if tau > 0 else np.inf
        else:
            phi = float(scale if scale is not None else 1.0)
            value = rss / n + 2.0 * phi * edf / n - phi
        if order >= 1 and np.isfinite(value):
            g_res = Gd - prob.c
            rss_1 = 2.0 * g_res @ dcoef
            N = M @ F  # M_j F
            trMF = np.einsum("jaa->j", N)
            edf_1 = -lams * trMF
            rss_2 = edf_2 = None
            if order >= 2:
                d2 = _second_coef(M, dcoef, lams)
                rss_2 = 2.0 * dcoef.T @ prob.G @ dcoef + 2.0 * np.einsum("a,ajk->jk", g_res, d2)
                cross = np.einsum("kab,jba->jk", M, N, optimize=True)  # tr(M_k M_j F)
                edf_2 = -np.diag(lams * trMF) + np.outer(lams, lams) * (cross + cross.T)
            if criterion == "gcv":
                grad = n * rss_1 / tau**2 + 2.0 * n * rss * edf_1 / tau**3
                if order >= 2:
                    hess = (
                        n * rss_2 / tau**2
                        + 2.0 * n * (np.outer(rss_1, edf_1) + np.outer(edf_1, rss_1)) / tau**3
                        + 6.0 * n * rss * np.outer(edf_1, edf_1) / tau**4
                        + 2.0 * n * rss * edf_2 / tau**3
                    )
            else:
                grad = rss_1 / n + 2.0 * phi * edf_1 / n
                if order >= 2:
                    hess = rss_2 / n + 2.0 * phi * edf_2 / n
    elif criterion == "reml":
        U, parts = (
            penalty_range(matrices) if penalty_range_parts is None else penalty_range_parts
        )
        Mp = k - U.shape[1]
        dp = rss + float(lams @ pen)
        logdetS, ldS_1, ldS_2 = _log_det_terms(lams, parts, order)
        if scale is None:
            n_eff = n - Mp
            value = 0.5 * (
                n_eff * (np.log(2.0 * np.pi * dp / n_eff) + 1.0)
                + logdetA
                - logdetS
                - prob.log_weights
            )
        else:
            value = 0.5 * (dp / scale + logdetA - logdetS - Mp * np.log(2.0 * np.pi * scale))
        if order >= 1:
            dp_1 = lams * pen
            trM = np.einsum("jaa->j", M)
            ldA_1 = lams * trM
            if scale is None:
                grad = 0.5 * (n_eff * dp_1 / dp + ldA_1 - ldS_1)
            else:
                grad = 0.5 * (dp_1 / scale + ldA_1 - ldS_1)
            if order >= 2:
                dp_2 = np.diag(dp_1) - 2.0 * np.outer(lams, lams) * (Pd @ Ainv @ Pd.T)
                MM = np.einsum("jab,kba->jk", M, M, optimize=True)
                ldA_2 = np.diag(ldA_1) - np.outer(lams, lams) * MM
                if scale is None:
                    hess = 0.5 * (
                        n_eff * (dp_2 / dp - np.outer(dp_1, dp_1) / dp**2) + ldA_2 - ldS_2
                    )
                else:
                    hess = 0.5 * (dp_2 / scale + ldA_2 - ldS_2)
    else:
        raise ValueError(f"unknown criterion {criterion!r} for several penalties")
    return CriterionPoint(
        rho=rho,
        value=float(value),
        grad=np.asarray(grad, dtype=float),
        hess=0.5 * (hess + np.asarray(hess).T),
        edf=edf,
        delta=d,
        rss=float(rss),
        dcoef=dcoef,
    )


_ROW_BLOCK = 4096


def loocv_evaluate(
    prob: GramProblem,
    matrices: FloatArray,
    priors: FloatArray,
    rho: FloatArray,
    Xw: FloatArray,
    zw: FloatArray,
    *,
    order: int = 2,
) -> CriterionPoint:
    r"""Exact LOOCV ``mean_i (e_i / (1 - h_ii))^2`` with its gradient and Hessian in ``rho``.

    ``Xw = W^{1/2} X`` and ``zw = W^{1/2} z`` are the rows (``z`` about
    ``b_ref``, as in ``prob``). With ``B = X_w A^{-1}``: ``h_i = B_i x_{w,i}``,
    :math:`\partial_j h_i = -\lambda_j (BP_j)_i B_i'`,
    :math:`\partial_{jk} h_i = \delta_{jk}\partial_j h_i + 2\lambda_j\lambda_k
    (BP_kA^{-1})_i (BP_j)_i'`, ``e = zw - Xw d`` and its derivatives from those
    of ``d``; then ``f = e/(1-h)`` and :math:`V = \overline{f^2}`. Rows are
    processed in blocks: ``O(n k^2 m)`` per evaluation.
    """
    base = evaluate(prob, matrices, priors, rho, "gcv", order=0)
    lams = np.exp(np.asarray(rho, dtype=float))
    m = lams.size
    S = np.tensordot(lams, matrices, axes=1)
    Ainv, _ = _inverse(0.5 * (prob.G + S + (prob.G + S).T))
    d, dcoef = base.delta, base.dcoef
    M = Ainv @ matrices
    d2 = _second_coef(M, dcoef, lams) if order >= 2 else None
    PA = matrices @ Ainv  # P_k A^{-1}
    n = Xw.shape[0]
    total, grad, hess = 0.0, np.zeros(m), np.zeros((m, m))
    for start in range(0, n, _ROW_BLOCK):
        rows = slice(start, min(start + _ROW_BLOCK, n))
        Xb = Xw[rows]
        B = Xb @ Ainv
        h = np.einsum("ij,ij->i", B, Xb)
        e = zw[rows] - Xb @ d
        one = 1.0 - h
        f = e / one
        total += float(f @ f)
        if order == 0:
            continue
        BP = B @ matrices  # (m, rows, k)
        h1 = -lams[:, None] * np.einsum("jib,ib->ji", BP, B)  # (m, rows)
        e1 = -(Xb @ dcoef).T  # (m, rows)
        f1 = e1 / one + e * h1 / one**2
        grad += 2.0 * (f1 @ f)
        if order >= 2:
            BPA = B @ PA  # B P_k A^{-1}, (m, rows, k)
            cross = np.einsum("kib,jib->jki", BPA, BP, optimize=True)
            h2 = 2.0 * np.outer(lams, lams)[:, :, None] * cross
            h2[np.arange(m), np.arange(m)] += h1
            e2 = -np.einsum("ia,ajk->jki", Xb, d2, optimize=True)
            f2 = (
                e2 / one
                + (e1[:, None, :] * h1[None, :, :] + e1[None, :, :] * h1[:, None, :]) / one**2
                + e * h2 / one**2
                + 2.0 * e * h1[:, None, :] * h1[None, :, :] / one**3
            )
            hess += 2.0 * (f1 @ f1.T + f2 @ f)
    value = total / n
    return CriterionPoint(
        rho=np.asarray(rho, dtype=float),
        value=value if np.isfinite(value) else np.inf,
        grad=grad / n,
        hess=0.5 * (hess + hess.T) / n,
        edf=base.edf,
        delta=d,
        rss=base.rss,
        dcoef=dcoef,
    )
