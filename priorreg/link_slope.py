r"""The sign of the mean's slope on the linear predictor at a fit, against the link's.

IRLS and the criteria use the link derivative :math:`g'(\mu)`; the mean of a
row is :math:`\mu = g^{-1}(\eta)`. Where :math:`g^{-1}` inverts :math:`g` the
two agree, :math:`d\mu/d\eta = 1/g'(\mu)`. A link whose inverse is not
one-to-one on the whole line (the square-root link: :math:`\mu = \eta^2` also
for :math:`\eta < 0`, where :math:`g(\mu) = |\eta|`) reverses the slope there:

.. math::

    \frac{d\mu}{d\eta} = \frac{s}{g'(\mu)}, \qquad
    s = \operatorname{sign}\big((g^{-1})'(\eta)\, g'(\mu)\big) \in \{-1, 1\}.

The derivatives of a converged fit along :math:`\log\lambda` differentiate
:math:`\mu(\eta)` by the chain rule, so they carry :math:`s`; dropping it
gives a derivative of the wrong sign on those rows and a search that stops
away from the minimum.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from priorreg._typing import FloatArray

__all__ = ["slope_sign"]


def slope_sign(link: Any, eta: FloatArray, mu: FloatArray) -> FloatArray:
    r""":math:`s`: -1 where :math:`(g^{-1})'(\eta)` and :math:`g'(\mu)` differ in sign, else 1.

    Parameters
    ----------
    link : statsmodels link
        The family's link (``inverse_deriv`` and ``deriv``).
    eta, mu : ndarray
        Linear predictor and means of a fit.

    Returns
    -------
    ndarray
        The sign :math:`s` per row (module Notes); 1 where either factor is
        zero or not finite (the callers' finiteness checks see those).

    Notes
    -----
    .. math::

        s_i = \begin{cases} -1 & (g^{-1})'(\eta_i)\, g'(\mu_i) < 0 \\ 1 & \text{otherwise}
        \end{cases}
    """
    with np.errstate(all="ignore"):
        prod = np.asarray(link.inverse_deriv(eta)) * np.asarray(link.deriv(mu))
    return np.where(prod < 0, -1.0, 1.0)
