r"""The GLM's approximate leave-one-out linear predictor, row by row.

At a converged fit the working linear model has weights :math:`W` and the
working response :math:`z = \eta + (y - \mu)/(d\mu/d\eta)`, with
:math:`d\mu/d\eta = s/g'(\mu)` (:mod:`priorreg.link_slope`: :math:`s = 1`
unless the inverse link is not one-to-one, as the square-root link's for
:math:`\eta < 0`). Dropping row ``i`` from its penalized weighted least
squares moves the row's fitted linear predictor exactly to

.. math::

    \eta_{-i} = \eta_i - e_i \frac{h_i}{1 - h_i}, \qquad
    e_i = z_i - \eta_i = s_i\, g'(\mu_i)(y_i - \mu_i),

:math:`h_i` the leverage of row ``i`` in the working model. The in-memory
criterion (:meth:`priorreg.irls.ArrayData.loo_deviance_at`), its derivative
(:mod:`priorreg.glm_loocv`) and the Dask pass all take :math:`e` from here,
so the three agree on the sign.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from priorreg._typing import FloatArray
from priorreg.link_slope import slope_sign

__all__ = ["loo_predictor", "working_residual"]


def working_residual(link: Any, y: FloatArray, eta: FloatArray, mu: FloatArray) -> FloatArray:
    r"""The working residual :math:`e = z - \eta = s\, g'(\mu)(y - \mu)` (module Notes).

    Parameters
    ----------
    link : statsmodels link
        The family's link.
    y, eta, mu : ndarray
        Response, linear predictor and means of a fit.

    Returns
    -------
    ndarray
        :math:`e` per row; not finite where :math:`g'(\mu)` is not.

    Notes
    -----
    .. math::

        e_i = s_i\, g'(\mu_i)(y_i - \mu_i),

    :math:`s_i` from :func:`priorreg.link_slope.slope_sign`.
    """
    with np.errstate(all="ignore"):
        return slope_sign(link, eta, mu) * link.deriv(mu) * (y - mu)


def loo_predictor(
    link: Any, y: FloatArray, eta: FloatArray, mu: FloatArray, h: FloatArray
) -> FloatArray:
    r"""The leave-one-out linear predictor of the working model (module Notes).

    Parameters
    ----------
    link : statsmodels link
        The family's link.
    y, eta, mu : ndarray
        Response, linear predictor and means of a converged fit.
    h : ndarray
        Leverages of the working linear model at the fit.

    Returns
    -------
    ndarray
        :math:`\eta_{-i}` per row (not finite where :math:`h_i = 1` or
        :math:`e_i` is not finite; the callers' sums see those).

    Notes
    -----
    .. math::

        \eta_{-i} = \eta_i - s_i\, g'(\mu_i)(y_i - \mu_i)\,\frac{h_i}{1 - h_i}.
    """
    e = working_residual(link, y, eta, mu)
    with np.errstate(all="ignore"):
        return eta - e * h / (1.0 - h)
