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

A resolved penalty is a :class:`Penalty`: the weights of a diagonal ``L``
or the full matrix, behind one set of methods (``quad``, ``times``,
``diagonal``, ``matrix``, ``whiten``), so that no caller branches on the
two forms.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from priorreg._typing import FloatArray
from priorreg.checks import as_float_array

__all__ = [
    "Penalty",
    "Whitening",
    "check_psd",
    "default_penalty",
    "penalty_matrix",
    "resolve_penalty",
    "resolve_penalty_matrix",
    "standardize_penalty",
]

_SYM_RTOL = 1e-10
_PSD_RTOL = 1e-10
_EPS = float(np.finfo(float).eps)


@dataclass(frozen=True)
class Whitening:
    r"""Coordinates in which a penalty is :math:`\lambda\|c\|^2`.

    With the scaled penalty :math:`L_p = D L D = U \operatorname{diag}(s) U'`,
    :math:`\delta_p = T \theta`, :math:`\theta = (a, c)`,
    :math:`T = [U_0, U_+ \operatorname{diag}(s_+^{-1/2})]` gives
    :math:`\delta_p' L_p \delta_p = \|c\|^2`; ``a`` spans the null space.

    Attributes
    ----------
    basis : ndarray or sparse array of shape (k, k)
        ``T``, the null space first (sparse, a scaled permutation, for a
        diagonal penalty).
    n_null : int
        ``k0``, the dimension of the null space.
    s_plus : ndarray of shape (k - k0,)
        The positive eigenvalues of ``L_p``, in the order of ``basis``.
    """

    basis: FloatArray | sparse.csr_array
    n_null: int
    s_plus: FloatArray


@dataclass(frozen=True, eq=False)
class Penalty:
    r"""One penalty matrix ``L``, given by its weights (a diagonal ``L``) or in full.

    The penalty term of every objective is
    :math:`\lambda\,(b - b_0)' L (b - b_0)`. A penalty of per-coefficient
    weights keeps only the weights: nothing ``k x k`` is formed or scanned
    unless :meth:`matrix` is asked for, and every method works on both
    forms.

    Parameters
    ----------
    values : ndarray of shape (k,) or (k, k)
        The weights (the diagonal of ``L``) or the symmetric positive
        semi-definite matrix ``L`` (checked by :func:`resolve_penalty`, not
        here).

    Examples
    --------
    >>> pen = Penalty(np.array([0.0, 2.0, 1.0]))
    >>> pen.quad(np.array([5.0, 1.0, 1.0]))
    3.0
    >>> pen.times(np.array([5.0, 1.0, 1.0]))
    array([0., 2., 1.])
    >>> pen.matrix()
    array([[0., 0., 0.],
           [0., 2., 0.],
           [0., 0., 1.]])
    >>> pen.rank, pen.is_diagonal
    (2, True)
    """

    values: FloatArray

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=float)
        if values.ndim not in (1, 2):
            raise ValueError(
                f"a penalty is a vector of weights or a k x k matrix; got shape {values.shape}"
            )
        object.__setattr__(self, "values", values)

    @classmethod
    def of(cls, L: Penalty | FloatArray) -> Penalty:
        """``L`` itself when it is a :class:`Penalty`, else the penalty of the array ``L``."""
        return L if isinstance(L, Penalty) else cls(L)

    @property
    def k(self) -> int:
        """Number of coefficients."""
        return int(self.values.shape[0])

    @cached_property
    def is_diagonal(self) -> bool:
        """Weights, or a matrix whose non-zeros are all on its diagonal (no copy)."""
        L = self.values
        return L.ndim == 1 or int(np.count_nonzero(L)) == int(np.count_nonzero(np.diagonal(L)))

    def diagonal(self) -> FloatArray:
        """The diagonal of ``L``: what each coefficient's penalty weighs."""
        L = self.values
        return L if L.ndim == 1 else np.diagonal(L).copy()

    @cached_property
    def _dense(self) -> FloatArray:
        L = self.values
        return np.diag(L) if L.ndim == 1 else L

    def matrix(self) -> FloatArray:
        """``L`` as a ``k x k`` matrix (formed from weights on first use, then kept)."""
        return self._dense

    def unpenalized(self, j: int | None) -> bool:
        """Column ``j`` is free of the penalty (its row and column of ``L`` are 0)."""
        if j is None:
            return False
        L = self.values
        if L.ndim == 1:
            return bool(L[j] == 0)
        return not np.any(L[j]) and not np.any(L[:, j])

    def times(self, v: FloatArray) -> FloatArray:
        """``L v`` for ``v`` of shape ``(k,)`` or ``(k, p)``."""
        L, v = self.values, np.asarray(v, dtype=float)
        if L.ndim == 2:
            return L @ v
        return L * v if v.ndim == 1 else L[:, None] * v

    def quad(self, v: FloatArray) -> float:
        """The quadratic form ``v' L v``."""
        v = np.asarray(v, dtype=float)
        return float(v @ self.times(v))

    def scaled(self, s: FloatArray) -> Penalty:
        """``S L S`` with ``S = diag(s)``, in the same form."""
        L = self.values
        if L.ndim == 1:
            return Penalty(s * L * s)
        return Penalty(s[:, None] * L * s[None, :])

    def restricted(self, keep: np.ndarray) -> Penalty:
        """``L_KK``: the penalty of the coefficients ``keep`` (a boolean mask)."""
        L = self.values
        return Penalty(L[keep] if L.ndim == 1 else L[np.ix_(keep, keep)])

    def root(self) -> FloatArray:
        """``S`` with ``S'S = L``: ``diag(sqrt(w))``, or the rows of the positive eigenvalues."""
        L = self.values
        if L.ndim == 1:
            return np.diag(np.sqrt(np.maximum(L, 0.0)))
        s, U = np.linalg.eigh(L)
        keep = s > float(np.max(s, initial=0.0)) * L.shape[0] * _EPS
        return (U[:, keep] * np.sqrt(s[keep])).T

    @cached_property
    def rank(self) -> int:
        """Numerical rank: the positive weights, or the eigenvalues above ``k eps max(s)``."""
        L = self.values
        if L.ndim == 1:
            return int(np.count_nonzero(L > 0))
        s = np.linalg.eigvalsh(L)
        return int(np.count_nonzero(s > float(np.max(s, initial=0.0)) * L.shape[0] * _EPS))

    def log_pdet(self) -> float:
        r"""Log pseudo-determinant :math:`\log|L|_+`: sum of logs of the positive eigenvalues."""
        L = self.values
        if L.size == 0:
            return 0.0
        s = self.diagonal() if self.is_diagonal else np.linalg.eigvalsh(L)
        tol = float(np.max(np.abs(s), initial=0.0)) * L.shape[0] * _EPS
        return float(np.sum(np.log(s[s > tol])))

    def whiten(self, col_scale: FloatArray) -> Whitening:
        r"""Whitening of :math:`L_p = D L D`, ``D = diag(col_scale)``.

        The rank comes from ``L`` itself, so that column scaling (which can
        spread eigenvalues over many orders of magnitude) never turns a
        penalized direction into an unpenalized one. A diagonal penalty is
        whitened exactly: its zeros are the unpenalized columns, and ``T``
        is a sparse scaled permutation.
        """
        k = self.k
        if self.is_diagonal:
            s = col_scale**2 * self.diagonal()
            null = s <= 0
            order = np.concatenate([np.flatnonzero(null), np.flatnonzero(~null)])
            s = s[order]
            k0 = int(null.sum())
            weights = np.concatenate([np.ones(k0), 1.0 / np.sqrt(s[k0:])])
            T = sparse.csr_array((weights, (order, np.arange(k))), shape=(k, k))
            return Whitening(T, k0, s[k0:])
        Lp = col_scale[:, None] * self.values * col_scale[None, :]
        s, U = np.linalg.eigh(Lp)
        k0 = k - self.rank
        s_plus = s[k0:]
        U[:, k0:] /= np.sqrt(s_plus)
        return Whitening(U, k0, s_plus)


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


def resolve_penalty_matrix(
    penalty: Any, names: Sequence[str], intercept: int | None
) -> FloatArray:
    """Resolve a penalty specification (except ``"information"``) to the matrix ``L``.

    See :func:`resolve_penalty` (this always returns the ``k x k`` matrix).

    Examples
    --------
    >>> resolve_penalty_matrix({"x": 2.0}, ["Intercept", "x", "z"], 0)
    array([[0., 0., 0.],
           [0., 2., 0.],
           [0., 0., 1.]])
    """
    return Penalty(resolve_penalty(penalty, names, intercept)).matrix()


def penalty_matrix(penalty: Any, names: Sequence[str], intercept: int | None) -> FloatArray:
    """Deprecated name of :func:`resolve_penalty_matrix`.

    Renamed because it read like the model property
    ``PriorModel.penalty_matrix``; this name warns and will be removed.
    """
    warnings.warn(
        "priorreg.penalty.penalty_matrix() is deprecated and will be removed: call "
        "priorreg.penalty.resolve_penalty_matrix() (same arguments, same result)",
        FutureWarning,
        stacklevel=2,
    )
    return resolve_penalty_matrix(penalty, names, intercept)


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
        message = f"penalty must be None, weights or a matrix; got {type(penalty).__name__}"
        arr = as_float_array(penalty, message)
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
    return Penalty(L).scaled(np.where(sd > 0, sd, 1.0)).values
