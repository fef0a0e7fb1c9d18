r"""Inference specific to prior-centred fits: compatibility and data share.

Both follow from the decomposition of the estimate

.. math::

    \hat b = S\, b_{\mathrm{data}} + (I - S)\, b_0, \qquad
    S = (X'WX + \lambda L)^{-1} X'WX,

where :math:`b_{\mathrm{data}}` is the least-squares estimate from the new
data alone (when it exists).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from priorreg._typing import FloatArray
from priorreg.linalg import PathFactor

__all__ = [
    "LOW_SHARE",
    "NEGLIGIBLE_SHARE",
    "CompatibilityTest",
    "DataShare",
    "compatibility_test",
    "sandwich_cov",
]

#: A data share below this (5%) means the prior supplies at least 19 times the
#: data's information: the summary lists such coefficients.
LOW_SHARE = 0.05
#: Below this share the prior supplies over 999 times the data's information:
#: the posterior mean moves from the prior by at most a share of the data's
#: own deviation, ``s (b_data - b0)``, so with ``s < 1e-3`` it restates the
#: prior to three digits of that deviation, and the posterior standard error is
#: the prior's, ``sqrt(scale / (lam L_jj))``. A t statistic is then the prior's
#: distance from zero in units of its own spread (millions at a large lam), not
#: evidence: the summary shows it as ``--``.
NEGLIGIBLE_SHARE = 1e-3


@dataclass(frozen=True)
class CompatibilityTest:
    r"""A test that the new data are compatible with the prior.

    Two tests, named by ``method``:

    ``"two-sample"``
        The prior is a fitted results object with a covariance and the new
        data identify every coefficient: the Wald comparison of two
        independent samples, :math:`(b_{new} - b_{old})'(V_{old} +
        V_{new})^{-1}(b_{new} - b_{old})` with :math:`b_{new}, V_{new}` from
        the unpenalized fit on the new data (see
        :func:`priorreg.compat.two_sample_test`). It does not depend on
        ``lam``.
    ``"theil"``
        Otherwise: Theil's (1963) test at the fitted ``lam``, which treats
        the prior as :math:`b \sim N(b_0, \sigma^2(\lambda L)^+)` (see
        :func:`compatibility_test`).

    Attributes
    ----------
    statistic : float
        The chi-square form: the two-sample Wald statistic, or Theil's
        :math:`\Delta / s^2` where :math:`\Delta` is the increase of the
        penalized residual sum of squares caused by the prior.
    df : int
        Number of restrictions tested: ``k`` coefficients (two-sample), or
        the penalized directions the data reach (Theil).
    pvalue : float
        Two-sample: from :math:`F(k, \mathrm{df}_{new})` (``statistic / k``)
        when the new fit's scale is estimated, else from :math:`\chi^2_k`.
        Theil: from the F distribution
        with ``(df, df_denom)`` degrees of freedom when the data alone leave
        residual degrees of freedom (exact under Gaussian errors), else from
        :math:`\chi^2_{df}` with the fit's scale.
    df_denom : float or None
        The denominator degrees of freedom of the F form (two-sample: the
        new data's residual df).
    distribution : {"F", "chi2", "none"}
        Reference distribution of ``pvalue``; ``"none"`` when Theil's test
        has nothing to test (``lam = 0`` or no penalized direction reached):
        statistic 0, p-value 1.
    method : {"theil", "two-sample"}
    f_pvalue, chi2_pvalue : float or None
        Two-sample: ``P(F(df, df_denom) > statistic / df)`` and
        ``P(chi2(df) > statistic)``, both forms.
    """

    statistic: float
    df: int
    pvalue: float
    df_denom: float | None
    distribution: str
    method: str = "theil"
    f_pvalue: float | None = None
    chi2_pvalue: float | None = None

    @property
    def fvalue(self) -> float:
        """``statistic / df``."""
        return self.statistic / self.df if self.df else float("nan")

    def __str__(self) -> str:
        if self.method == "two-sample":
            what = "Prior compatibility (two-sample Wald: prior fit vs unpenalized fit here)"
            chi2 = f"chi2={self.statistic:.4g}, df={self.df}"
            if self.distribution == "F":
                f_form = f"F({self.df},{self.df_denom:.0f})={self.fvalue:.4g}"
                return f"{what}: {f_form}, p={self.pvalue:.4g} ({chi2}, p={self.chi2_pvalue:.4g})"
            return f"{what}: {chi2}, p={self.pvalue:.4g}"
        if self.distribution == "none":
            return (
                "Prior compatibility (Theil): not applicable, the prior carries no weight "
                "(lam = 0 or no penalized direction reached by the data)"
            )
        if self.distribution == "F":
            return (
                f"Prior compatibility (Theil, at the fitted lam): chi2={self.statistic:.4g}, "
                f"df={self.df}, F({self.df}, {self.df_denom:.0f})={self.fvalue:.4g}, "
                f"p={self.pvalue:.4g}"
            )
        return (
            f"Prior compatibility (Theil, at the fitted lam): chi2={self.statistic:.4g}, "
            f"df={self.df}, p={self.pvalue:.4g}"
        )


def compatibility_test(factor: PathFactor, lam: float, scale: float) -> CompatibilityTest:
    r"""Theil (1963) compatibility test of the prior with the data.

    With :math:`f_j` the data's projections on the whitened penalized
    directions and :math:`d_j` their singular values,

    .. math::

        \Delta = \min_b \big[\mathrm{RSS}(b) + \lambda (b-b_0)'L(b-b_0)\big]
                 - \min_b \mathrm{RSS}(b)
               = \sum_j \frac{\lambda f_j^2}{d_j^2 + \lambda},

    which, when :math:`X'WX` is invertible, equals
    :math:`(b_{\mathrm{data}} - b_0)' [(X'WX)^{-1} + (\lambda L)^{-1}]^{-1}
    (b_{\mathrm{data}} - b_0)` on the penalized directions (Theil's
    statistic with prior covariance :math:`\sigma^2 (\lambda L)^{-1}`).
    Under the prior :math:`b \sim N(b_0, \sigma^2(\lambda L)^+)`, each
    :math:`f_j \sim N(0, \sigma^2 (d_j^2 + \lambda)/\lambda)`, so
    :math:`\Delta/\sigma^2 \sim \chi^2_r` exactly, and with :math:`s^2` from
    the data-only fit (independent of :math:`f`) the ratio is :math:`F(r, n -
    \mathrm{rank} X)`.

    (statsmodels' sandbox ``TheilGLS`` reports :math:`\operatorname{tr}H^2`
    as its degrees of freedom; the effective degrees of freedom of the fit
    are :math:`\operatorname{tr}H`, reported as ``edf``.)
    """
    r = int(factor.d.size)
    if lam <= 0 or r == 0:
        return CompatibilityTest(0.0, r, 1.0, None, "none")
    delta = factor.prior_misfit(lam)
    df_denom = factor.n_obs - factor.n_unpen - r
    if df_denom > 0 and factor.rss_floor > 0:
        s2 = factor.rss_floor / df_denom
        stat = delta / s2
        pvalue = float(stats.f.sf(stat / r, r, df_denom))
        return CompatibilityTest(stat, r, pvalue, float(df_denom), "F")
    stat = delta / scale
    return CompatibilityTest(stat, r, float(stats.chi2.sf(stat, r)), None, "chi2")


@dataclass(frozen=True)
class DataShare:
    r"""Share of the estimate's information that comes from the data.

    ``per_coefficient`` is the diagonal of
    :math:`S = (X'WX + \lambda L)^{-1}X'WX` (1 for unpenalized coefficients,
    0 for coefficients the data do not inform; with a non-diagonal penalty,
    such as ``penalty="information"``, single entries may leave [0, 1]);
    ``overall`` is
    :math:`\operatorname{tr}(S)/k = \mathrm{edf}/k`.
    """

    per_coefficient: pd.Series
    overall: float
    #: The penalty is diagonal, so each entry is a share in [0, 1]: the
    #: posterior variance of coefficient j is its prior variance times
    #: ``1 - share_j``. With a non-diagonal penalty entries mix coefficients,
    #: so :meth:`low` and :meth:`not_informative` read ``variance_share``.
    diagonal: bool = True
    #: With a non-diagonal penalty: the part of each coefficient's posterior
    #: variance that is the data's sampling variance,
    #: ``diag(A^-1 X'WX A^-1) / diag(A^-1)``. It lies in [0, 1] for every PSD
    #: penalty (``X'WX <= A``) and equals ``per_coefficient`` for a diagonal
    #: penalty and orthogonal columns; near 0 the estimate's spread is the
    #: prior's, not the data's.
    variance_share: pd.Series | None = None

    def __str__(self) -> str:
        return f"share of information from the data: {self.overall:.3f} (overall)"

    def _flag_values(self) -> pd.Series | None:
        """The shares the flags read: ``per_coefficient`` or ``variance_share``."""
        return self.per_coefficient if self.diagonal else self.variance_share

    def low(self, threshold: float = LOW_SHARE) -> list[str]:
        """Names of the coefficients whose data share is below ``threshold``."""
        values = self._flag_values()
        if values is None:
            return []
        return [str(n) for n, v in values.items() if v < threshold]

    def not_informative(self) -> FloatArray:
        """Mask of the coefficients whose share is below :data:`NEGLIGIBLE_SHARE`.

        Their estimate, standard error and interval restate the prior; a t or
        z statistic for them measures the prior's distance from zero in units
        of the prior's own spread, not evidence from the data. With a
        non-diagonal penalty ``variance_share`` is read (all False without it).
        """
        values = self._flag_values()
        if values is None:
            return np.zeros(len(self.per_coefficient), dtype=bool)
        return np.asarray(values.to_numpy() < NEGLIGIBLE_SHARE)


def variance_share(ncov: FloatArray, L: FloatArray, lam: float, names: list[str]) -> pd.Series:
    r"""``diag(A^{-1} X'WX A^{-1}) / diag(A^{-1})`` from :math:`A^{-1}`, ``L`` and ``lam``.

    :math:`A^{-1}X'WXA^{-1} = A^{-1} - \lambda A^{-1}LA^{-1}` (:func:`sandwich_cov`),
    so no pass over the data is needed. Clipped to [0, 1] against rounding.
    """
    V = np.asarray(ncov, dtype=float)
    var = np.diagonal(V)
    sampling = np.diagonal(sandwich_cov(V, np.asarray(L, dtype=float), lam))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(var > 0, sampling / var, 1.0)
    return pd.Series(np.clip(ratio, 0.0, 1.0), index=names, name="variance_share")


def sandwich_cov(ncov: FloatArray, L: FloatArray, lam: float) -> FloatArray:
    r"""Normalized sampling covariance :math:`A^{-1}X'WXA^{-1} = A^{-1} - \lambda A^{-1}LA^{-1}`."""
    out = ncov - lam * (ncov @ L @ ncov)
    return 0.5 * (out + out.T)
