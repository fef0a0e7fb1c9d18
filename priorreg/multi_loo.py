r"""Leave-one-out selection of several lams for a GLM.

The criterion is the single-penalty one (:meth:`priorreg.glm.PriorGLM.criterion`):
the mean leave-one-out deviance with the one-step approximation of the
leave-one-out linear predictor, at the converged fit at ``rho = log(lam)``:

.. math::

    \eta_{-i} \approx \eta_i - \frac{e_i h_{ii}}{1 - h_{ii}},\qquad
    e_i = s_i\, g'(\mu_i)(y_i - \mu_i),\quad
    h_{ii} = w_i x_i'(X'WX + S)^{-1}x_i,

    \mathrm{LOOCV} = \frac{1}{n}\sum_i f_i\, d_i(y_i, \mu_{-i}),

``d_i`` the unit deviance, ``f_i`` the frequency weights and :math:`s_i`
the slope's sign of :mod:`priorreg.link_slope` (:mod:`priorreg.glm_loocv_rows`). It has no
cheap exact Hessian, so the lams are chosen derivative-free: Nelder-Mead
on ``rho`` over converged fits (each warm-started from the last), from the
GCV optimum (its exact Newton search, :func:`priorreg.multi_fit.select_glm`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from priorreg._typing import FloatArray
from priorreg.multi import Components
from priorreg.multi_kernel import _inverse, gram
from priorreg.multi_outer import _irls_at

__all__ = ["loo_deviance", "select_loocv"]

#: Nelder-Mead stops when the simplex is this small in every rho (a relative
#: change of lam of 1e-4) and the values in it agree to ``_FATOL`` (relative).
_XATOL = 1e-4
_FATOL = 1e-11


def loo_deviance(model: Any, comps: Components, lams: FloatArray, params: FloatArray) -> float:
    """The approximate mean leave-one-out deviance at a converged fit (module Notes)."""
    X = model.exog
    eta, mu = model.problem.mean(params)
    w, _ = model.problem.working(eta, mu)
    S = np.tensordot(lams, comps.matrices, axes=1)
    Ainv, _ = _inverse(gram(X * np.sqrt(w)[:, None]) + 0.5 * (S + S.T))
    h = w * np.einsum("ij,jk,ik->i", X, Ainv, X)
    return model._irls_data().loo_deviance_at(mu, eta, h)


def select_loocv(
    model: Any,
    comps: Components,
    rho0: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    start: FloatArray,
    *,
    maxiter: int,
    tol: float,
) -> tuple[FloatArray, float, pd.DataFrame, bool]:
    """Minimise :func:`loo_deviance` over ``rho`` by Nelder-Mead from ``rho0``.

    Returns ``(rho, value, path, converged)``; ``path`` has one row per
    evaluation (lams, edf-free: the criterion only).
    """
    last = {"params": np.asarray(start, dtype=float)}
    rows: list[tuple[FloatArray, float]] = []

    def value(rho: FloatArray) -> float:
        rho = np.clip(rho, lo, hi)
        lams = np.exp(rho)
        try:
            params, converged = _irls_at(model, comps, lams, last["params"], maxiter, tol)
            v = loo_deviance(model, comps, lams, params) if converged else math.inf
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            v = math.inf
        if math.isfinite(v):
            last["params"] = params
        rows.append((rho, v))
        return v

    opt = _nelder_mead(value, np.clip(rho0, lo, hi))
    labels = comps.labels
    table = pd.DataFrame(
        {
            **{f"lam[{name}]": [float(np.exp(r[j])) for r, _ in rows] for j, name in
               enumerate(labels)},
            "loocv": [v for _, v in rows],
        }
    )
    return np.clip(opt.x, lo, hi), float(opt.fun), table, bool(opt.success)


def _nelder_mead(value: Callable[[FloatArray], float], rho0: FloatArray) -> Any:
    """Nelder-Mead with a first simplex of steps of 1 (a factor e in lam)."""
    m = rho0.size
    simplex = np.vstack([rho0, rho0 + np.eye(m)])
    return minimize(
        value,
        rho0,
        method="Nelder-Mead",
        options={
            "initial_simplex": simplex,
            "xatol": _XATOL,
            "fatol": _FATOL,
            "maxiter": 200 * m,
            "adaptive": m > 2,
        },
    )
