r"""Is a fitted prior compatible with the new data? The two-sample comparison.

When the prior is a fitted model with a covariance :math:`V_{old}` (a
priorreg or statsmodels results object, or a prior file with its scale) and
the new data identify every coefficient on their own, the two datasets are
compared as independent samples:

.. math::

    W = (b_{new} - b_{old})' (V_{old} + V_{new})^{-1} (b_{new} - b_{old})
        \sim \chi^2_k \quad\text{under } H_0: \beta_{old} = \beta_{new},

with :math:`b_{new}, V_{new}` from the *unpenalized* fit of the same model
(weights, offset, family) on the new data. It is calibrated when both
estimates are approximately normal with the stated covariances and the
samples are independent: exactly for Gaussian linear models with known
scales, asymptotically otherwise. With the new data's scale estimated, the
p-value is the F form's, :math:`W/k \sim F(k, \mathrm{df}_{new})`: exact
when :math:`V_{new}` dominates (a small new sample of a Gaussian linear
model), conservative when :math:`V_{old}` is not negligible; the
chi-square p-value is ``chi2_pvalue``. Neither depends on the
selected ``lam``, which is chosen to reconcile the prior with the data and
so leaves Theil's test at that ``lam`` almost no power.

When these conditions fail (a bare prior vector, a prior without a
covariance, new data that cannot identify every coefficient), the results
fall back to Theil's test at the fitted ``lam``
(:func:`priorreg.inference.compatibility_test`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from priorreg._typing import FloatArray
from priorreg.inference import CompatibilityTest
from priorreg.prior import PriorFile, _canonical, _params_of

__all__ = ["prior_covariance", "two_sample_test"]


def prior_covariance(
    prior: Any, names: Sequence[str], intercept_name: str | None = None
) -> FloatArray | None:
    """The prior fit's covariance of its estimates, aligned with ``names``.

    ``cov_params()`` of a results object; ``scale * normalized_cov_params``
    of a :class:`~priorreg.prior.PriorFile` that records a finite scale.
    ``None`` when the prior carries no covariance or its names do not match.
    """
    if isinstance(prior, PriorFile):
        scale = prior.meta.get("scale")
        if prior.normalized_cov_params is None or scale is None or not math.isfinite(scale):
            return None
        cov = float(scale) * np.asarray(prior.normalized_cov_params, dtype=float)
    elif hasattr(prior, "params") and callable(getattr(prior, "cov_params", None)):
        cov = np.asarray(prior.cov_params(), dtype=float)
    else:
        return None
    params = _params_of(prior)
    names = list(names)
    if isinstance(params, pd.Series):
        prior_names = [_canonical(str(n), intercept_name) for n in params.index]
    else:
        prior_names = names
    if sorted(prior_names) != sorted(names) or cov.shape != (len(names), len(names)):
        return None
    pos = [prior_names.index(n) for n in names]
    cov = cov[np.ix_(pos, pos)]
    return cov if np.all(np.isfinite(cov)) else None


def two_sample_test(
    b_new: FloatArray,
    V_new: FloatArray,
    b_old: FloatArray,
    V_old: FloatArray,
    df_resid_new: float | None,
    *,
    estimated_scale: bool = True,
) -> CompatibilityTest:
    r"""Wald comparison of two independent estimates of the same coefficients.

    Parameters
    ----------
    b_new, V_new : ndarray of shape (k,), (k, k)
        Unpenalized estimate on the new data and its covariance.
    b_old, V_old : ndarray of shape (k,), (k, k)
        The prior fit's estimate and covariance.
    df_resid_new : float or None
        Residual degrees of freedom of the new fit, for the F form.
    estimated_scale : bool
        Whether ``V_new`` contains an estimated scale: then ``pvalue`` is the
        F form's (``distribution="F"``), else the chi-square form's.

    Returns
    -------
    CompatibilityTest
        ``method="two-sample"``; ``statistic`` the chi-square form;
        ``chi2_pvalue`` and ``f_pvalue`` both forms' p-values.

    Notes
    -----
    .. math::

        W = d'(V_{old} + V_{new})^{-1} d,\quad d = b_{new} - b_{old},\qquad
        p_{\chi^2} = P(\chi^2_k > W),\qquad p_F = P(F_{k,\,\mathrm{df}} > W/k).

    The F form is exact for Gaussian linear models when :math:`V_{old}` is
    negligible beside :math:`V_{new}`; the chi-square form when both
    covariances are known. In between, the F form errs on the conservative
    side.

    Examples
    --------
    >>> t = two_sample_test([1.0, 2.0], np.eye(2), [0.0, 0.0], np.eye(2), 30)
    >>> round(t.statistic, 3), t.df, t.method
    (2.5, 2, 'two-sample')
    """
    d = np.asarray(b_new, dtype=float) - np.asarray(b_old, dtype=float)
    V = np.asarray(V_old, dtype=float) + np.asarray(V_new, dtype=float)
    stat = float(d @ np.linalg.solve(0.5 * (V + V.T), d))
    k = d.size
    chi2_p = float(stats.chi2.sf(stat, k))
    f_p = None
    if df_resid_new is not None and df_resid_new > 0:
        f_p = float(stats.f.sf(stat / k, k, df_resid_new))
    use_f = estimated_scale and f_p is not None
    return CompatibilityTest(
        stat,
        k,
        f_p if use_f else chi2_p,  # type: ignore[arg-type]
        df_resid_new,
        "F" if use_f else "chi2",
        method="two-sample",
        f_pvalue=f_p,
        chi2_pvalue=chi2_p,
    )


def two_sample_for(
    results: Any, unpenalized: Any, *, estimated_scale: bool = True
) -> CompatibilityTest | None:
    """The two-sample test of ``results``' model, or ``None`` when it does not apply.

    ``unpenalized`` is a function returning ``(params, cov, df_resid)`` of
    the unpenalized fit on the model's data, or raising ``ValueError`` when
    the data do not identify every coefficient.
    """
    model = results.model
    names = [str(n) for n in model.exog_names]
    intercept = None if model.intercept_idx is None else names[model.intercept_idx]
    V_old = prior_covariance(model.prior_spec, names, intercept)
    if V_old is None or model.nobs <= model.k_params:
        return None
    try:
        b_new, V_new, df_new = unpenalized()
    except ValueError:  # singular at lam = 0: the data cannot identify every coefficient
        return None
    if not (np.all(np.isfinite(b_new)) and np.all(np.isfinite(V_new))):
        return None
    return two_sample_test(
        b_new, V_new, model.prior_values, V_old, df_new, estimated_scale=estimated_scale
    )
