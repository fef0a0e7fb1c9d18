r"""The penalty matrix ``L`` and the objective it defines.

Every priorreg model minimises, with no hidden factors of 1/2 or 1/n,

.. math::

    Q(b) = \sum_i w_i (y_i - o_i - x_i'b)^2 + \lambda (b - b_0)' L (b - b_0)

(the GLM replaces the first term by the deviance). ``lam`` is the penalty
weight; ``alpha`` is only ever a significance level.

Penalty specifications:

- ``None``: identity on every column except the constant, which is
  unpenalized: ``L = diag(0, 1, ..., 1)``.
- per-column weights (1-D array, Series or dict; 0 = unpenalized; names
  not given keep their default weight).
- a full ``k x k`` symmetric positive semi-definite matrix (array or
  DataFrame labelled by column names).
- ``"information"``: the inverse of the prior fit's
  ``normalized_cov_params`` (a power prior; handled by the model, which
  owns the prior).

With ``standardize=True`` the matrix becomes ``S L S`` with ``S`` the
diagonal of the columns' (weighted) standard deviations, so the penalty
does not depend on the units of the predictors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from priorreg._typing import FloatArray

__all__ = [
    "check_psd",
    "default_penalty",
    "penalty_matrix",
    "resolve_penalty",
    "standardize_penalty",
]

_SYM_RTOL = 1e-10
_PSD_RTOL = 1e-10


def default_weights(k: int, intercept: int | None) -> FloatArray:
    """``(1, ..., 1)`` with 0 for the constant column (if any): the default's diagonal."""
    diag = np.ones(k)
    if intercept is not None:
        diag[intercept] = 0.0
    return diag


def default_penalty(k: int, intercept: int | None) -> FloatArray:
    """``diag(1, ..., 1)`` with 0 on the constant column (if any)."""
    return np.diag(default_weights(k, intercept))


def check_psd(L: FloatArray, names: Sequence[str]) -> FloatArray:
    """Validate a full penalty matrix: finite, square, symmetric, PSD.

    Returns the exactly symmetrized matrix ``(L + L') / 2``.
    """
    k = len(names)
    if L.shape != (k, k):
        raise ValueError(
            f"penalty matrix has shape {L.shape}; expected ({k}, {k}) for the "
            f"design columns {list(names)}"
        )
    if not np.all(np.isfinite(L)):
        raise ValueError("penalty matrix has non-finite entries")
    scale = max(float(np.max(np.abs(L), initial=0.0)), 1e-300)
    if np.max(np.abs(L - L.T), initial=0.0) > _SYM_RTOL * scale:
        raise ValueError("penalty matrix is not symmetric; pass (L + L.T) / 2")
    L = 0.5 * (L + L.T)
    eig = np.linalg.eigvalsh(L) if k else np.zeros(0)
    if eig.size and eig.min() < -_PSD_RTOL * max(eig.max(), 0.0) * k - 1e-300:
        raise ValueError(
            f"penalty matrix is not positive semi-definite (smallest eigenvalue "
            f"{eig.min():.3g}); a penalty must satisfy v'Lv >= 0"
        )
    return L


def _weights_from_named(
    spec: Mapping[str, Any] | pd.Series, names: Sequence[str], default: FloatArray
) -> FloatArray:
    diag = default.copy()
    unknown = [str(key) for key in dict(spec) if str(key) not in names]
    if unknown:
        raise ValueError(
            f"penalty names not in the design: {unknown}. Valid column names: {list(names)}"
        )
    for key, val in dict(spec).items():
        diag[list(names).index(str(key))] = float(val)
    return diag


def penalty_matrix(penalty: Any, names: Sequence[str], intercept: int | None) -> FloatArray:
    """Resolve a penalty specification (except ``"information"``) to the matrix ``L``.

    See :func:`resolve_penalty` (this always returns the ``k x k`` matrix).

    Examples
    --------
    >>> penalty_matrix({"x": 2.0}, ["Intercept", "x", "z"], 0)
    array([[0., 0., 0.],
           [0., 2., 0.],
           [0., 0., 1.]])
    """
    L = resolve_penalty(penalty, names, intercept)
    return np.diag(L) if L.ndim == 1 else L


def resolve_penalty(penalty: Any, names: Sequence[str], intercept: int | None) -> FloatArray:
    """Resolve a penalty specification (except ``"information"``) to ``L``.

    A specification by weights (``None``, a vector, a Series or a dict)
    gives the diagonal of ``L`` (1-D), so that nothing ``k x k`` is formed;
    a matrix or DataFrame gives the checked matrix.

    Parameters
    ----------
    penalty : None, array-like, Series, dict or DataFrame
        See the module docstring.
    names : sequence of str
        Design column names.
    intercept : int, optional
        Index of the constant column (unpenalized by default).

    Returns
    -------
    ndarray of shape (k,) or (k, k)

    Raises
    ------
    ValueError
        Wrong size, unknown names, negative weights, non-finite values, a
        matrix that is not symmetric or not PSD, or an unknown string.

    Examples
    --------
    >>> resolve_penalty({"x": 2.0}, ["Intercept", "x", "z"], 0)
    array([0., 2., 1.])
    """
    names = list(names)
    k = len(names)
    default = default_weights(k, intercept)
    if penalty is None:
        return default
    if isinstance(penalty, str):
        raise ValueError(
            f"unknown penalty {penalty!r}; use None, per-column weights, a "
            f'{k} x {k} matrix or "information"'
        )
    if isinstance(penalty, pd.DataFrame):
        if list(map(str, penalty.index)) != names or list(map(str, penalty.columns)) != names:
            try:
                penalty = penalty.loc[names, names]
            except KeyError as exc:
                raise ValueError(
                    f"penalty DataFrame labels do not match the design columns {names}"
                ) from exc
        return check_psd(penalty.to_numpy(dtype=float), names)
    if isinstance(penalty, (pd.Series, Mapping)):
        diag = _weights_from_named(penalty, names, default)
    else:
        try:
            arr = np.asarray(penalty, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"penalty must be None, weights or a matrix; got {type(penalty).__name__}"
            ) from exc
        if arr.ndim == 2:
            return check_psd(arr, names)
        if arr.ndim != 1 or arr.size != k:
            raise ValueError(
                f"penalty weights have shape {arr.shape}; expected ({k},) for the "
                f"design columns {names}"
            )
        diag = arr.copy()
    if not np.all(np.isfinite(diag)):
        raise ValueError("penalty weights must be finite")
    if np.any(diag < 0):
        bad = [names[i] for i in np.flatnonzero(diag < 0)]
        raise ValueError(f"penalty weights must be >= 0; negative for {bad}")
    return diag


def column_sd(X: FloatArray, weights: FloatArray | None) -> FloatArray:
    """Weighted standard deviation of each column of ``X`` (divisor ``sum w``).

    A constant column's is exactly 0 (with uneven weights its computed mean
    is off by rounding, which would leave a spurious ``sd ~ eps |x|``).
    """
    w = np.ones(X.shape[0]) if weights is None else weights
    mean = (w @ X) / w.sum()
    squares = np.zeros(X.shape[1])
    constant = np.ones(X.shape[1], dtype=bool)
    for start in range(0, X.shape[0], 4096):  # row blocks: no temporary of the size of X
        block = X[start : start + 4096]
        squares += w[start : start + 4096] @ (block - mean) ** 2
        constant &= np.all(block == X[0], axis=0)
    sd = np.sqrt(squares / w.sum())
    if X.shape[0]:
        sd[constant] = 0.0
    return sd


def standardize_penalty(L: FloatArray, X: FloatArray, weights: FloatArray | None) -> FloatArray:
    """``S L S`` with ``S = diag(sd_j)``, the columns' weighted standard deviations.

    Constant columns keep scale 1.
    """
    sd = column_sd(X, weights)
    sd = np.where(sd > 0, sd, 1.0)
    if L.ndim == 1:  # the diagonal of a diagonal penalty
        return sd * L * sd
    return sd[:, None] * L * sd[None, :]
