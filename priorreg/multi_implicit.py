r"""Exact first and second derivatives in ``rho = log(lam)`` of a converged GLM fit.

A GLM with several penalties has, at fixed ``lam``, the converged estimate
:math:`\hat b(\rho)` of the penalized deviance
:math:`D(b) + \sum_j \lambda_j (b - b_{0,j})'P_j(b - b_{0,j})`. Its score
equation :math:`X'u = s`, :math:`u_i = \sigma_i w_{p,i}(y_i - \mu_i)/(V_i g'_i)`,
:math:`s = \sum_j \lambda_j P_j(\hat b - b_{0,j})`, differentiated once and
twice along :math:`\rho` gives (Wood 2011, JRSS-B 73(1), appendix D; mgcv's
``gdi.c``), with the observed weights :math:`w_o` (equal to the Fisher
weights :math:`w` for canonical links), :math:`A_o = X'W_oX + S`,
:math:`r_j = P_j(\hat b - b_{0,j})` and :math:`\eta_j = Xb_j`:

.. math::

    b_j = -\lambda_j A_o^{-1} r_j,\qquad
    b_{jk} = \delta_{jk} b_j - A_o^{-1}\big(X'(w_o' \odot \eta_j \odot \eta_k)
      + \lambda_k P_k b_j + \lambda_j P_j b_k\big).

The deviance has :math:`D_j = -2s'b_j` and :math:`D_{jk} = 2b_k'X'W_oXb_j -
2s'b_{jk}`; the penalized deviance (envelope theorem)
:math:`(D_p)_j = \lambda_j r_j'(\hat b - b_{0,j})` and
:math:`(D_p)_{jk} = \delta_{jk}(D_p)_j - 2\lambda_j\lambda_k r_j'A_o^{-1}r_k`.
With the Fisher weights, :math:`G = X'WX`, :math:`A = G + S`,
:math:`G_j = X'(w' \odot \eta_j)X`, :math:`A_j = G_j + \lambda_j P_j`,
:math:`c_{jk} = w'' \odot \eta_j \odot \eta_k + w' \odot \eta_{jk}`,
:math:`N_j = A^{-1}A_j`, :math:`K_j = A^{-1}G_j` and :math:`F = A^{-1}G`:

.. math::

    \partial_j \log|A| = \operatorname{tr} N_j,\qquad
    \partial_{jk} \log|A| = c_{jk}'h + \delta_{jk}\lambda_j\operatorname{tr}(A^{-1}P_j)
        - \operatorname{tr}(N_kN_j),

    \partial_j\,\mathrm{edf} = \operatorname{tr} K_j - \operatorname{tr}(N_jF),\qquad
    \partial_{jk}\mathrm{edf} = c_{jk}'q - \delta_{jk}\lambda_j\operatorname{tr}(A^{-1}P_jF)
        - \operatorname{tr}(N_kK_j) - \operatorname{tr}(N_jK_k)
        + \operatorname{tr}(N_kN_jF) + \operatorname{tr}(N_jN_kF),

:math:`h_i = x_i'A^{-1}x_i`, :math:`q_i = x_i'A^{-1}SA^{-1}x_i`. Every
quantity is closed form except the per-observation second derivative
:math:`w''` of the Fisher weights in :math:`\eta` and the derivative
:math:`w_o'` of the observed ones (non-canonical links): statsmodels'
families give neither :math:`V''` nor :math:`g'''`, so these two are
central differences in :math:`\eta` of the closed-form :math:`w'` and
:math:`w_o`, with step :math:`\epsilon^{1/3}\max(1, |\eta_i|)` (relative
error about :math:`\epsilon^{2/3} \approx 4\cdot 10^{-11}`). The closed-form
:math:`w' = -w\,(V'/V + 2g''/g')\,\sigma/g'` and :math:`u` take the sign
:math:`\sigma` of :math:`d\mu/d\eta` against :math:`1/g'(\mu)`
(:func:`priorreg.link_slope.slope_sign`; 1 unless the inverse link is not
one-to-one, -1 for the square-root link where :math:`\eta < 0`), so
:math:`w'` and its difference :math:`w''` are those of the weights along
:math:`\mu = g^{-1}(\eta)`; :math:`w_o`, the slope of :math:`u` in
:math:`\eta`, has :math:`\sigma^2 = 1` and no sign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from priorreg._typing import FloatArray
from priorreg.gram import signed_gram
from priorreg.link_slope import slope_sign
from priorreg.multi import Components
from priorreg.multi_kernel import _inverse, gram

__all__ = ["FitDerivatives", "fit_derivatives", "weight_derivatives"]

_STEP = float(np.finfo(float).eps) ** (1.0 / 3.0)


@dataclass(frozen=True)
class FitDerivatives:
    """A converged fit's deviance, edf, ``log|A|`` and penalized deviance with derivatives.

    ``d_*`` are gradients in ``rho`` (shape ``(m,)``), ``h_*`` Hessians
    (``(m, m)``, zeros when only first order was asked for); ``pen_dev`` is
    the penalized deviance ``D + sum_j lam_j (b - b0_j)'P_j(b - b0_j)``.
    """

    deviance: float
    edf: float
    log_det: float
    pen_dev: float
    d_deviance: FloatArray
    d_edf: FloatArray
    d_log_det: FloatArray
    d_pen_dev: FloatArray
    h_deviance: FloatArray
    h_edf: FloatArray
    h_log_det: FloatArray
    h_pen_dev: FloatArray
    dcoef: FloatArray
    mu: FloatArray


def _weights(model: Any, eta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Fisher weights ``w``, ``dw/deta`` and observed weights ``w_o`` at ``eta`` (closed form)."""
    fam = model.family
    pw = model.problem.prior_weights
    y = model.problem.y
    with np.errstate(all="ignore"):
        mu = fam.link.inverse(eta)
        g1 = fam.link.deriv(mu)
        rel_v = fam.variance.deriv(mu) / fam.variance(mu)
        rel_g = fam.link.deriv2(mu) / g1
        w = pw * fam.weights(mu)
        # d mu/d eta = s / g'(mu) (priorreg.link_slope): -1 for the square-root link at eta < 0
        dw = -w * (rel_v + 2.0 * rel_g) * slope_sign(fam.link, eta, mu) / g1
        w_obs = w + w * (y - mu) * (rel_v + rel_g)
    return w, dw, w_obs


def weight_derivatives(
    model: Any, eta: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, bool]:
    r"""``(w, w', w'', w_o, w_o', canonical)`` in :math:`\eta` (module Notes).

    ``w''`` and, for a non-canonical link, ``w_o'`` are central differences
    of the closed-form ``w'`` and ``w_o``.
    """
    w, dw, w_obs = _weights(model, eta)
    h = _STEP * np.maximum(1.0, np.abs(eta))
    _, dw_up, wo_up = _weights(model, eta + h)
    _, dw_dn, wo_dn = _weights(model, eta - h)
    d2w = (dw_up - dw_dn) / (2.0 * h)
    canonical = bool(np.all(np.abs(w_obs - w) <= 1e-13 * np.abs(w)))
    dw_obs = dw if canonical else (wo_up - wo_dn) / (2.0 * h)
    return w, dw, d2w, w_obs, dw_obs, canonical


def fit_derivatives(
    model: Any, comps: Components, lams: FloatArray, params: FloatArray, order: int = 2
) -> FitDerivatives:
    """Derivatives in ``rho`` of the converged fit ``params`` at ``lams`` (module Notes).

    Parameters
    ----------
    model : PriorGLM
        The model (its ``problem``, ``family`` and ``exog``).
    comps : Components
        Penalty matrices and priors.
    lams : ndarray of shape (m,)
        The lams of the fit (all > 0).
    params : ndarray of shape (k,)
        The converged estimate at ``lams``.
    order : {0, 1, 2}
        The values only (derivatives zero), first derivatives, or also second.

    Returns
    -------
    FitDerivatives
    """
    X = model.exog
    lams = np.asarray(lams, dtype=float)
    m = lams.size
    eta, mu = model.problem.mean(params)
    deviance = float(model.problem.deviance(mu))
    w, dw, d2w, w_obs, dw_obs, canonical = weight_derivatives(model, eta)
    G = gram(X * np.sqrt(w)[:, None])
    S = np.tensordot(lams, comps.matrices, axes=1)
    S = 0.5 * (S + S.T)
    Ainv, log_det = _inverse(G + S)
    Go = G if canonical else signed_gram(X, w_obs)
    Aoinv = Ainv if canonical else np.linalg.inv(0.5 * (Go + Go.T) + S)
    resid = params[None, :] - comps.priors
    Pd = (comps.matrices @ resid[:, :, None])[:, :, 0]  # r_j, (m, k)
    pen = np.einsum("jk,jk->j", resid, Pd)
    s = lams @ Pd
    dcoef = -(Aoinv @ Pd.T) * lams[None, :]  # (k, m)
    F = Ainv @ G
    zero = np.zeros((m, m))
    if order == 0:
        return FitDerivatives(
            deviance, float(np.trace(F)), float(log_det), deviance + float(lams @ pen),
            *(np.zeros(m),) * 4, *(zero,) * 4, dcoef, mu,
        )
    E1 = X @ dcoef  # (n, m)
    dG = np.stack([signed_gram(X, dw * E1[:, j]) for j in range(m)])
    dA = dG + lams[:, None, None] * comps.matrices
    N = Ainv @ dA
    K = Ainv @ dG
    d_edf = np.einsum("jaa->j", K) - np.einsum("jab,ba->j", N, F)
    d_log_det = np.einsum("jaa->j", N)
    h_dev = h_edf = h_ld = h_pd = zero
    if order >= 2:
        pairs = (E1[:, :, None] * E1[:, None, :]).reshape(-1, m * m)
        T = (X.T @ (dw_obs[:, None] * pairs)).reshape(-1, m, m)
        PB = comps.matrices @ dcoef  # P_j b_k, (m, k, m)
        term = T + lams[None, None, :] * np.einsum("kaj->ajk", PB)
        term = term + lams[None, :, None] * np.einsum("jak->ajk", PB)
        d2coef = -np.einsum("ab,bjk->ajk", Aoinv, term)
        d2coef[:, np.arange(m), np.arange(m)] += dcoef
        E2 = (X @ d2coef.reshape(-1, m * m)).reshape(-1, m, m)
        h_dev = 2.0 * dcoef.T @ Go @ dcoef - 2.0 * np.einsum("a,ajk->jk", s, d2coef)
        h_pd = np.diag(lams * pen) - 2.0 * np.outer(lams, lams) * (Pd @ Aoinv @ Pd.T)
        B = X @ Ainv
        h = np.einsum("ij,ij->i", B, X)
        q = np.einsum("ij,ij->i", B @ S, B)
        c = d2w[:, None, None] * pairs.reshape(-1, m, m) + dw[:, None, None] * E2
        ch = np.einsum("ijk,i->jk", c, h)
        cq = np.einsum("ijk,i->jk", c, q)
        AP = Ainv @ comps.matrices
        NN = np.einsum("kab,jba->jk", N, N)
        h_ld = ch + np.diag(lams * np.einsum("jaa->j", AP)) - NN
        NK = np.einsum("jab,kba->jk", N, K)  # tr(N_j K_k)
        NNF = np.einsum("kab,jba->jk", N, N @ F)  # tr(N_k N_j F)
        h_edf = (
            cq
            - np.diag(lams * np.einsum("jab,ba->j", AP, F))
            - NK
            - NK.T
            + NNF
            + NNF.T
        )
        h_dev, h_edf, h_ld, h_pd = (0.5 * (a + a.T) for a in (h_dev, h_edf, h_ld, h_pd))
    return FitDerivatives(
        deviance=deviance,
        edf=float(np.trace(F)),
        log_det=float(log_det),
        pen_dev=deviance + float(lams @ pen),
        d_deviance=np.asarray(-2.0 * s @ dcoef),
        d_edf=np.asarray(d_edf),
        d_log_det=np.asarray(d_log_det),
        d_pen_dev=np.asarray(lams * pen),
        h_deviance=np.asarray(h_dev),
        h_edf=np.asarray(h_edf),
        h_log_det=np.asarray(h_ld),
        h_pen_dev=np.asarray(h_pd),
        dcoef=dcoef,
        mu=mu,
    )
