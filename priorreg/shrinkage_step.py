r"""A Newton step on the shrinkage fraction instead of on :math:`\rho = \log\lambda`.

A penalized fit depends on :math:`\lambda` through the shrinkage factors
:math:`u_j = \lambda/(\lambda + \mu_j)` of the penalized directions
(:math:`\mu_j` the generalized eigenvalues of the Gram matrix against the
penalty): :math:`\mathrm{edf} = k_0 + \sum_j (1 - u_j)`. Where
:math:`\lambda \ll \mu_j` a criterion is smooth in :math:`\lambda` itself
(:math:`u \approx \lambda/\mu`), where :math:`\lambda \gg \mu_j` in
:math:`1/\lambda`; on :math:`\rho` its curvature then changes like
:math:`e^{\pm\rho}` and :math:`e^{\pm 2\rho}` over a step, and a Newton step
on :math:`\rho` falls short or overshoots. With one effective :math:`\mu`,
read from the fit's own shrinkage :math:`u = 1 - (\mathrm{edf} - k_0)/m`
(:math:`m` penalized directions), Newton's method on :math:`u`, with
:math:`du/d\rho = u(1 - u)`,

.. math::

    \frac{dV}{du} = \frac{V'}{u(1-u)}, \qquad
    \frac{d^2V}{du^2} = \frac{V'' - (1 - 2u)V'}{u^2(1-u)^2}, \qquad
    \Delta u = -\frac{u(1-u)V'}{V'' - (1 - 2u)V'},

gives the step :math:`\Delta\rho = \operatorname{logit}(u + \Delta u) -
\operatorname{logit}(u)`. It agrees with the Newton step on :math:`\rho` to
second order in the step, so the search's local convergence is unchanged;
it differs on long steps, where it follows the saturation of :math:`u`.
"""

from __future__ import annotations

import math

__all__ = ["shrinkage_fraction", "shrinkage_step"]


def shrinkage_fraction(edf: float, n_coef: int, n_penalized: int) -> float | None:
    r"""The mean shrinkage :math:`u = 1 - (\mathrm{edf} - k_0)/m` of a fit (module Notes).

    ``n_penalized`` is :math:`m = \operatorname{rank} L`, ``k_0 = n_coef - m``;
    ``None`` when it is not strictly between 0 and 1 (no penalized direction,
    or an edf outside its range by rounding).
    """
    if n_penalized <= 0 or not math.isfinite(edf):
        return None
    u = 1.0 - (edf - (n_coef - n_penalized)) / n_penalized
    return u if 0.0 < u < 1.0 else None


def shrinkage_step(grad: float, curv: float, u: float | None) -> float | None:
    r"""The step on :math:`\rho` of Newton's method on :math:`u` (module Notes).

    ``grad`` and ``curv`` are :math:`V'` and :math:`V'' > 0` on :math:`\rho`
    at a fit with shrinkage ``u``. ``None`` (take the Newton step on
    :math:`\rho`) when ``u`` is not known or the model on :math:`u` has no
    minimum with :math:`0 < u + \Delta u < 1`.
    """
    if u is None or not 0.0 < u < 1.0:
        return None
    denom = curv - (1.0 - 2.0 * u) * grad
    if not denom > 0:
        return None
    du = -u * (1.0 - u) * grad / denom
    if not 0.0 < u + du < 1.0:
        return None
    return math.log1p(du / u) - math.log1p(-du / (1.0 - u))  # logit(u + du) - logit(u)
