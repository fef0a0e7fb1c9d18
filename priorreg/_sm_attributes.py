r"""statsmodels' attribute names on priorreg results, with ``df_resid = n - edf``.

Each quantity is defined as statsmodels defines it for OLS/WLS or GLM, with
the effective degrees of freedom in place of the rank wherever a degree of
freedom count enters: ``df_model = edf - k_constant`` and
``df_resid = n - edf``. At ``lam = 0`` every number equals statsmodels'.

The mixins read only what the results classes already hold (``model``,
``ssr``, ``edf``, ``df_model``, ``df_resid``, ``scale``, ``llf``, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from priorreg import families as _families
from priorreg._typing import FloatArray

__all__ = ["GLMAttributes", "LinearAttributes", "RidgeInfluence"]


def _null_means(family: Any, y: FloatArray, offset: FloatArray, iw: FloatArray) -> FloatArray:
    r"""Means of the intercept-only GLM with an offset, by scalar IRLS.

    Notes
    -----
    Fisher scoring on the intercept ``a`` (the IRLS statsmodels runs, without
    its warnings, which are process-wide state):

    .. math::

        a \leftarrow \frac{\sum_i w_i z_i}{\sum_i w_i},\quad
        z_i = a + g'(\mu_i)(y_i - \mu_i),\quad
        w_i = \frac{iw_i}{g'(\mu_i)^2 V(\mu_i)},\quad
        \mu_i = g^{-1}(o_i + a).

    Stops when ``a`` moves by less than ``1e-12 (1 + |a|)`` (at most 100 steps).
    """
    # start: the link of the mean response less the mean offset
    ybar = np.atleast_1d(np.average(y, weights=iw))
    a = float(family.link(ybar)[0] - np.average(offset, weights=iw))
    with np.errstate(all="ignore"):
        for _ in range(100):
            mu = family.fitted(offset + a)
            w = iw * family.weights(mu)
            z = a + family.link.deriv(mu) * (y - mu)
            new = float(np.sum(w * z) / np.sum(w))
            if not math.isfinite(new):
                break
            done = abs(new - a) <= 1e-12 * (1.0 + abs(new))
            a = new
            if done:
                break
        return np.asarray(family.fitted(offset + a), dtype=float)


@dataclass(frozen=True)
class RidgeInfluence:
    r"""Leave-one-out diagnostics of a ``PriorRidge`` fit at its ``lam``.

    With :math:`\tilde X = W^{1/2}X`, :math:`A = X'WX + \lambda L`,
    :math:`H = \tilde X A^{-1}\tilde X'` and weighted residuals
    :math:`\tilde e = W^{1/2}(y - o - X\hat b)`, deleting row ``i`` and
    refitting at the same ``lam`` changes the estimate by exactly
    :math:`A^{-1}\tilde x_i \tilde e_i/(1 - h_{ii})` (Sherman-Morrison), so

    .. math::

        D_i = \frac{\tilde e_i^2\,(H^2)_{ii}}{(1-h_{ii})^2\,\mathrm{edf}\,s^2},
        \qquad
        \mathrm{RSS}_{(i)} = \mathrm{RSS} - \tilde e_i^2
        + \frac{2\tilde e_i((H\tilde e)_i - h_{ii}\tilde e_i)}{1-h_{ii}}
        + \frac{\tilde e_i^2((H^2)_{ii} - h_{ii}^2)}{(1-h_{ii})^2},

    Cook's distance as the change of all fitted values (weighted) over
    ``edf * scale``, and the residual sum of squares of the other rows at the
    refit. At ``lam = 0`` (:math:`H^2 = H`, :math:`H\tilde e = 0`) these are
    statsmodels' ``OLSInfluence`` values.

    Attributes
    ----------
    hat_matrix_diag : ndarray
        :math:`h_{ii}`.
    resid_studentized_internal : ndarray
        :math:`\tilde e_i / \sqrt{s^2(1 - h_{ii})}`.
    resid_studentized_external : ndarray
        :math:`\tilde e_i / \sqrt{s_{(i)}^2 (1 - h_{ii})}` with
        :math:`s_{(i)}^2 = \mathrm{RSS}_{(i)}/(\mathrm{df\_resid} - 1)`.
    sigma2_not_obsi : ndarray
        :math:`s_{(i)}^2`.
    cooks_distance : tuple of ndarray
        :math:`D_i` and its p-values from :math:`F(\mathrm{edf}, \mathrm{df\_resid})`
        (statsmodels' convention; a guide, not a test).
    """

    hat_matrix_diag: FloatArray
    resid_studentized_internal: FloatArray
    resid_studentized_external: FloatArray
    sigma2_not_obsi: FloatArray
    cooks_distance: tuple[FloatArray, FloatArray]

    def summary_frame(self) -> pd.DataFrame:
        """The diagnostics as columns of one DataFrame (statsmodels' names)."""
        return pd.DataFrame(
            {
                "cooks_d": self.cooks_distance[0],
                "standard_resid": self.resid_studentized_internal,
                "hat_diag": self.hat_matrix_diag,
                "student_resid": self.resid_studentized_external,
            }
        )


def ridge_influence(
    Xw: FloatArray,
    ew: FloatArray,
    ncov: FloatArray,
    hat: FloatArray,
    edf: float,
    df_resid: float,
    scale: float,
) -> RidgeInfluence:
    """Influence measures from the weighted design ``Xw``, residuals ``ew`` and ``A^-1``."""
    G = Xw @ ncov  # rows x_i' A^{-1}
    h2 = np.einsum("ij,ij->i", G @ (Xw.T @ Xw), G)  # (H^2)_ii
    He = G @ (Xw.T @ ew)
    rss = float(ew @ ew)
    one_h = 1.0 - hat
    with np.errstate(divide="ignore", invalid="ignore"):
        rss_loo = (
            rss
            - ew**2
            + 2 * ew * (He - hat * ew) / one_h
            + ew**2 * (h2 - hat**2) / one_h**2
        )
        sigma2_loo = rss_loo / (df_resid - 1.0)
        internal = ew / np.sqrt(scale * one_h)
        external = ew / np.sqrt(sigma2_loo * one_h)
        cooks = ew**2 * h2 / (one_h**2 * edf * scale)
    pvals = stats.f.sf(cooks, edf, df_resid)
    return RidgeInfluence(hat, internal, external, sigma2_loo, (cooks, pvals))


class LinearAttributes:
    r"""statsmodels' OLS/WLS attributes for ``PriorRidge`` results.

    Sums of squares are weighted and taken on the response net of the
    offset, :math:`y - o` (as R's ``summary.lm``); ``centered_tss`` is about
    the weighted mean, ``ess = tss - ssr`` with the centred TSS when the
    model has a constant, the uncentred one otherwise (as statsmodels).
    """

    model: Any
    ssr: float
    edf: float
    df_model: float
    df_resid: float
    nobs: float
    scale: float
    resid: Any
    lam: float
    normalized_cov_params: Any

    @cached_property
    def _weights_or_one(self) -> FloatArray:
        w = self.model.weights
        return np.ones(self.model.endog.shape[0]) if w is None else np.asarray(w)

    @cached_property
    def _net_response(self) -> FloatArray:
        y = np.asarray(self.model.endog, dtype=float)
        return y if self.model.offset is None else y - self.model.offset

    @cached_property
    def centered_tss(self) -> float:
        r""":math:`\sum_i w_i (y_i - o_i - \bar y_w)^2`, :math:`\bar y_w` the weighted mean."""
        y, w = self._net_response, self._weights_or_one
        centre = np.sum(w * y) / np.sum(w)
        return float(np.sum(w * (y - centre) ** 2))

    @cached_property
    def uncentered_tss(self) -> float:
        r""":math:`\sum_i w_i (y_i - o_i)^2`."""
        y, w = self._net_response, self._weights_or_one
        return float(np.sum(w * y**2))

    @cached_property
    def _tss(self) -> float:
        return self.centered_tss if self.model.k_constant else self.uncentered_tss

    @cached_property
    def ess(self) -> float:
        """Explained sum of squares ``tss - ssr`` (centred TSS with a constant)."""
        return self._tss - self.ssr

    @cached_property
    def rsquared_adj(self) -> float:
        r""":math:`1 - (1 - R^2)(n - k_c)/\mathrm{df\_resid}`, ``k_c`` = 1 with a constant."""
        if not self.df_resid > 0:
            return math.nan
        rsq = self.rsquared  # type: ignore[attr-defined]
        return 1.0 - (self.nobs - self.model.k_constant) / self.df_resid * (1.0 - rsq)

    @cached_property
    def mse_model(self) -> float:
        """``ess / df_model`` with ``df_model = edf - k_constant``."""
        return self.ess / self.df_model if self.df_model > 0 else math.nan

    @cached_property
    def mse_resid(self) -> float:
        """``ssr / df_resid``."""
        return self.ssr / self.df_resid if self.df_resid > 0 else math.nan

    @cached_property
    def mse_total(self) -> float:
        """``tss / (df_resid + df_model) = tss / (n - k_constant)``."""
        return self._tss / (self.df_resid + self.df_model)

    @cached_property
    def fvalue(self) -> float:
        r"""``mse_model / mse_resid``: all non-constant coefficients zero.

        With ``lam > 0`` the degrees of freedom are effective ones
        (``edf - k_constant`` and ``n - edf``) and the F reference is an
        approximation; at ``lam = 0`` this is the usual exact F test.
        """
        return self.mse_model / self.mse_resid

    @cached_property
    def f_pvalue(self) -> float:
        """``P(F(df_model, df_resid) > fvalue)``."""
        if not (self.df_model > 0 and self.df_resid > 0 and np.isfinite(self.fvalue)):
            return math.nan
        return float(stats.f.sf(self.fvalue, self.df_model, self.df_resid))

    @cached_property
    def condition_number(self) -> float:
        r"""Condition number of the weighted design.

        :math:`\sqrt{\mathrm{eig}_{\max}/\mathrm{eig}_{\min}}` of :math:`X'WX`.

        As statsmodels: a property of the design, not of the penalized
        system (``X'WX + lam L`` is better conditioned).
        """
        Xw = self.model.exog * np.sqrt(self._weights_or_one)[:, None]
        eig = np.linalg.eigvalsh(Xw.T @ Xw)
        return float(np.sqrt(eig.max() / eig.min())) if eig.min() > 0 else math.inf

    def get_influence(self) -> RidgeInfluence:
        """Hat diagonal, studentized residuals and Cook's distance (see :class:`RidgeInfluence`)."""
        sw = np.sqrt(self._weights_or_one)
        Xw = self.model.exog * sw[:, None]
        ew = np.asarray(self.resid, dtype=float) * sw
        hat = np.asarray(self.hat_diag)  # type: ignore[attr-defined]
        ncov = np.asarray(self.normalized_cov_params)
        return ridge_influence(Xw, ew, ncov, hat, self.edf, self.df_resid, self.scale)


class GLMAttributes:
    r"""statsmodels' GLM attributes for ``PriorGLM`` results.

    ``null_deviance`` and ``llnull`` are those of the intercept-only model
    with the same offset, exposure and weights (fitted by statsmodels'
    ``GLM``, as ``GLMResults.null`` does); the parameter count of ``bic_llf``
    and ``info_criteria`` is ``edf`` (statsmodels' ``df_model + 1``, the rank).
    """

    model: Any
    family: Any
    mu: FloatArray
    edf: float
    df_resid: float
    scale: float
    deviance: float
    llf: float

    @cached_property
    def _n_trials(self) -> FloatArray | float:
        endog = self.model.endog
        return endog[:, 0] + endog[:, 1] if np.ndim(endog) == 2 else 1.0

    @cached_property
    def null(self) -> FloatArray:
        """Fitted means of the intercept-only model (same offset, exposure, weights)."""
        model = self.model
        y = model.endog_response
        offset = model.offset_total
        iw = model.freq_weights_total * model.var_weights_total
        if not np.any(offset):
            return np.full_like(y, np.sum(iw * y) / np.sum(iw))
        return _null_means(self.family, y, offset, iw)

    @cached_property
    def null_deviance(self) -> float:
        """Deviance of the intercept-only model."""
        model = self.model
        return float(
            self.family.deviance(
                model.endog_response,
                self.null,
                model.var_weights_total,
                model.freq_weights_total,
            )
        )

    @cached_property
    def llnull(self) -> float:
        """Log-likelihood of the intercept-only model at this fit's ``scale`` (as statsmodels)."""
        model = self.model
        return _families.loglike(
            self.family,
            model.endog_response,
            self.null,
            model.var_weights_total,
            model.freq_weights_total,
            self.scale,
        )

    def pseudo_rsquared(self, kind: str = "cs") -> float:
        r"""Cox-Snell (``"cs"``) or McFadden (``"mcf"``) pseudo R-squared.

        :math:`1 - \exp(2(\ell_0 - \ell)/n)` and :math:`1 - \ell/\ell_0`
        (statsmodels' definitions, ``n`` the number of rows).
        """
        key = kind.lower()
        if key.startswith("mcf"):
            return 1.0 - self.llf / self.llnull
        if key.startswith("cox") or key in ("cs", "lr"):
            return 1.0 - math.exp((self.llnull - self.llf) * 2.0 / self.model.nobs)
        raise ValueError(f"kind must be 'cs' (Cox-Snell) or 'mcf' (McFadden), not {kind!r}")

    @cached_property
    def resid_working(self) -> FloatArray:
        """``(y - mu) g'(mu)`` (times the trials of a two-column binomial response)."""
        resid = (self.model.endog_response - self.mu) * self.family.link.deriv(self.mu)
        return np.asarray(resid * self._n_trials)

    @cached_property
    def resid_anscombe(self) -> FloatArray:
        """Anscombe residuals of the family at this fit's scale (statsmodels' default)."""
        model = self.model
        return np.asarray(
            self.family.resid_anscombe(
                model.endog_response, self.mu, var_weights=model.var_weights_total, scale=self.scale
            )
        )

    @cached_property
    def bic_llf(self) -> float:
        """``-2 llf + log(n) edf`` (the BIC of statsmodels with the rank replaced by edf)."""
        return self.info_criteria("bic")

    @cached_property
    def bic_deviance(self) -> float:
        """``deviance - (n - edf) log(n)``, ``n`` the weighted number of observations."""
        n = self.model.wnobs
        return float(self.deviance - (n - self.edf) * math.log(n))

    def info_criteria(self, crit: str, scale: float | None = None, dk_params: float = 0) -> float:
        """``"aic"``, ``"bic"`` or ``"qaic"`` with ``edf + dk_params`` parameters.

        As statsmodels' ``GLMResults.info_criteria``; ``qaic`` needs the
        ``scale`` of the largest model compared (quasi-likelihood at scale 1).
        """
        key = crit.lower()
        k_params = self.edf + dk_params
        if key == "aic":
            return -2 * self.llf + 2 * k_params
        if key == "bic":
            return -2 * self.llf + k_params * math.log(self.edf + self.df_resid)
        if key == "qaic":
            if scale is None:
                raise ValueError("qaic needs scale=, the dispersion of the largest model compared")
            model = self.model
            ll1 = _families.loglike(
                self.family,
                model.endog_response,
                self.mu,
                model.var_weights_total,
                model.freq_weights_total,
                1.0,
            )
            return -2 * ll1 / scale + 2 * k_params
        raise ValueError(f"crit must be 'aic', 'bic' or 'qaic', not {crit!r}")


def _linear_only(name: str) -> property:
    """A GLM results attribute that exists only for the linear model: AttributeError."""

    def missing(self: Any) -> Any:
        raise AttributeError(
            f"{name} is defined for PriorRidge results; for a GLM use deviance, "
            "null_deviance, pseudo_rsquared() or info_criteria()"
        )

    return property(missing)


for _name in (
    "rsquared_adj",
    "fvalue",
    "f_pvalue",
    "ess",
    "centered_tss",
    "uncentered_tss",
    "mse_model",
    "mse_resid",
    "mse_total",
    "condition_number",
    "get_influence",
):
    setattr(GLMAttributes, _name, _linear_only(_name))
