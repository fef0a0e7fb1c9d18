r"""The numbers of one fit, as models produce them and results read them.

A model's ``fit()`` computes one of these frozen dataclasses at the chosen
``lam`` and hands it to its results class, which adds the labels. They sit
below both layers, so models import their results (and results never import
models): the dependencies run one way.

- :class:`LinearFit`: penalized least squares,
  :math:`\hat b = (X'WX + \lambda L)^{-1}(X'W(y - o) + \lambda L b_0)`.
- :class:`GLMFit`: a converged penalized IRLS fit, minimising
  :math:`D(b) + \lambda (b - b_0)'L(b - b_0)`.
- :class:`BoundedLinearFit`, :class:`BoundedGLMFit`: the same under bounds
  :math:`l \le b \le u`, with the coefficients at a bound marked ``active``.
- :class:`FitRequest`: what a converged GLM fit is asked of a model (where
  to start, the IRLS limits).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from priorreg._typing import FloatArray
from priorreg.bounded import FreeProblem
from priorreg.linalg import PathFactor

__all__ = ["BoundedGLMFit", "BoundedLinearFit", "GLMFit", "LinearFit"]


@dataclass(frozen=True)
class LinearFit:
    """The numbers of one fit at one ``lam`` (no labels).

    ``normalized_cov`` is ``(X'WX + lam L)^{-1}``, or a function returning
    it when forming the ``k x k`` matrix is deferred until asked for;
    ``cov_diagonal`` is a function returning its diagonal in ``O(k r)``
    (``None``: take the matrix's). ``edf_params`` is ``None`` when it
    follows from that diagonal (``1 - lam L_jj cov_jj``, diagonal ``L``).
    """

    lam: float
    params: FloatArray
    normalized_cov: FloatArray | Callable[[], FloatArray]
    edf: float
    edf_params: FloatArray | None
    fittedvalues: FloatArray
    resid: FloatArray
    rss: float
    cov_diagonal: Callable[[], FloatArray] | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class GLMFit(LinearFit):
    """The numbers of one converged penalized GLM fit at one ``lam``.

    ``rss`` is the Pearson chi-square; ``fittedvalues`` are the means.
    """

    scale: float
    eta: FloatArray
    deviance: float
    pearson_chi2: float
    llf: float
    converged: bool
    iterations: int
    factor: PathFactor
    zw: FloatArray


@dataclass(frozen=True)
class BoundedLinearFit(LinearFit):
    """A linear fit under bounds: ``active`` marks the coefficients at a bound.

    ``normalized_cov`` is ``(X_F'WX_F + lam L_FF)^{-1}`` on the free block and
    zero elsewhere; ``edf`` and ``edf_params`` are those of the free columns.
    """

    active: np.ndarray = field(kw_only=True)
    free: FreeProblem | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class BoundedGLMFit(GLMFit):
    """A converged bounded GLM fit; ``factor`` is the free columns' path factor."""

    active: np.ndarray | None = None


@dataclass(frozen=True)
class FitRequest:
    """A converged GLM fit asked at ``lam``: from ``start`` or warm from ``start_fit``.

    ``PriorGLM._irls`` builds it; the in-memory, bounded and Dask GLMs answer
    it in ``_converged``, so the request is stated once.
    """

    lam: float
    start: FloatArray | None
    maxiter: int
    tol: float
    start_fit: GLMFit | None = None

    @property
    def start_params(self) -> FloatArray | None:
        """The starting estimate: ``start_fit``'s where given, else ``start``."""
        if self.start_fit is None:
            return self.start
        return np.asarray(self.start_fit.params, dtype=float)
