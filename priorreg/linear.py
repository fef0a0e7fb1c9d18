r"""``PriorRidge``: least squares with a penalty centred on prior coefficients.

.. math::

    \hat b = \arg\min_b \sum_i w_i (y_i - o_i - x_i'b)^2
             + \lambda (b - b_0)' L (b - b_0)
           = (X'WX + \lambda L)^{-1} (X'W(y - o) + \lambda L b_0).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from functools import cached_property, partial
from typing import Any

import numpy as np
import pandas as pd

from priorreg import penalty as _penalty
from priorreg._typing import ArrayLike, CovType, FloatArray
from priorreg.base import PriorModel
from priorreg.bounded import ReducedProblem
from priorreg.bounded_linear import criteria_at, fit_bounded, select_bounded
from priorreg.bounded_results import bounded_linear_results
from priorreg.checks import as_grid
from priorreg.fits import LinearFit
from priorreg.linalg import PathFactor, factorize
from priorreg.multi_fit import fit_linear
from priorreg.progress import SearchStep, report_selection, reporter
from priorreg.results import PriorRidgeResults, PriorRidgeResultsWrapper
from priorreg.selection import CRITERIA, Selection, criterion_path, select_lam

__all__ = ["LinearFit", "PriorRidge"]

_EPS = float(np.finfo(float).eps)
#: Residuals and gradients for iterative refinement are accumulated in
#: extended precision when the design has at most this many entries (cheap
#: there, and it buys the last digits on ill-conditioned problems such as
#: NIST Longley, Filip and Wampler4/5).
_EXTENDED_RESIDUAL_MAX = 2_000_000
#: Large designs skip refinement when the factor's solution has a relative
#: error bound below this (``eps cond^2`` with ``cond <= 100``).
_UNREFINED_ERROR = 1e4 * _EPS


def _normalized_cov(factor: PathFactor, lam: float) -> FloatArray:
    """``(X'WX + lam L)^{-1} = K K'`` as a dense ``k x k`` matrix."""
    K = factor.cov_factor(lam)
    return K @ K.T


def _check_lam(lam: Any) -> float | str:
    if isinstance(lam, str):
        key = lam.lower()
        if key not in CRITERIA:
            raise ValueError(
                f"unknown lam criterion {lam!r}; use a number >= 0 or one of {CRITERIA}"
            )
        return key
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real):
        raise TypeError(f"lam must be a number >= 0 or one of {CRITERIA}, not {type(lam).__name__}")
    value = float(lam)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
    return value


def _check_cov_type(cov_type: Any) -> None:
    if cov_type not in ("bayes", "sandwich", "unconditional"):
        raise ValueError(
            f"cov_type must be 'bayes', 'sandwich' or 'unconditional', not {cov_type!r}"
        )


def _weighted_gradient(
    Xw: FloatArray, zw: FloatArray, delta: FloatArray, Xl: FloatArray | None
) -> FloatArray:
    """Gradient ``X'W (z - X delta)``, in extended precision when ``Xl`` is given.

    ``Xl`` is ``Xw`` as ``longdouble``. Both the residual and the product
    are accumulated in extended precision: rounding ``X'r`` to double
    costs ``eps |X|'|r|``, which dominates when the residuals are large
    (NIST Wampler4/5) or the design is ill-conditioned (Filip, Longley).
    """
    if Xl is not None:
        r = zw.astype(np.longdouble) - Xl @ delta.astype(np.longdouble)
        return np.asarray(Xl.T @ r, dtype=float)
    return Xw.T @ (zw - Xw @ delta)


def solve_refined(
    factor: PathFactor, Xw: FloatArray, zw: FloatArray, L: _penalty.Penalty, lam: float
) -> FloatArray:
    r"""``delta = b - b0`` at ``lam`` with iterative refinement.

    ``L`` is the penalty (:class:`~priorreg.penalty.Penalty`).

    Starting from the factor's solution, each step solves
    :math:`(X'WX + \lambda L) e = X'W r - \lambda L \delta` with the same
    factor (:meth:`PathFactor.cov_times`), ``r`` the current residual
    (``r`` and ``X'W r`` accumulated in extended precision for small
    designs); steps stop when they no longer reduce the gradient. This is
    corrected semi-normal equations: QR-class accuracy from a Gram-speed
    factor.
    """
    delta = factor.coef(lam)
    if Xw.size > _EXTENDED_RESIDUAL_MAX and factor.solution_error_bound(lam) <= _UNREFINED_ERROR:
        # e.g. a one-pass factor of a design with cond <= 100, or a wide
        # problem with cond(MM' + lam I) <= 1e4: accurate to ~1e-12 already
        return delta
    Xl = Xw.astype(np.longdouble) if Xw.size <= _EXTENDED_RESIDUAL_MAX else None
    best_grad = np.inf
    for _ in range(4):
        penalty_grad = L.times(delta)
        grad = _weighted_gradient(Xw, zw, delta, Xl) - lam * penalty_grad
        size = float(np.linalg.norm(grad))
        if not size < best_grad:
            break
        best_grad = size
        step = factor.cov_times(lam, grad)
        delta = delta + step
        if np.linalg.norm(step) <= 4 * _EPS * np.linalg.norm(delta):
            break
    return delta


class PriorRidge(PriorModel):  # type: ignore[misc]
    r"""Linear regression with an L2 penalty centred on prior coefficients.

    Minimises
    :math:`\sum_i w_i (y_i - o_i - x_i'b)^2 + \lambda (b - b_0)'L(b - b_0)`.

    Parameters
    ----------
    endog : array-like of shape (n_obs,)
        Response.
    exog : array-like of shape (n_obs, n_coef)
        Design matrix; a constant column is detected as the intercept
        (unpenalized by default).
    prior : None, array-like, Series, dict, results object or PriorFile
        Prior coefficients ``b0`` (default zero: ordinary ridge). Names
        are matched to the design columns.
    penalty : None, array-like, Series, dict, DataFrame or "information"
        ``L``: default identity except the intercept; per-column weights;
        a full PSD matrix; or the prior fit's information matrix.
    weights : array-like of shape (n_obs,), optional
        Positive observation weights ``w``.
    offset : array-like of shape (n_obs,), optional
        Known part of the linear predictor ``o``.
    standardize : bool
        Scale the penalty by each column's variance (units-free penalty;
        estimates stay in original units).
    missing : {"none", "drop", "raise"}
        Missing-value handling, as in statsmodels.
    bounds : None, "nonnegative", dict or sequence of pairs
        Bounds on the estimates (:mod:`priorreg.bounds`): the objective is
        minimised subject to them; inference is conditional on which are
        active (``results.active_bounds``).

    See Also
    --------
    PriorRidge.from_formula, PriorRidge.fit

    Examples
    --------
    >>> import numpy as np, priorreg as pr
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(40), rng.normal(size=(40, 2))])
    >>> y = X @ [1.0, 2.0, -1.0] + rng.normal(size=40)
    >>> res = pr.PriorRidge(y, X, prior=[1.0, 2.0, -1.0]).fit(lam=5.0)
    >>> res.params.shape, round(float(res.edf), 3) < 3
    ((3,), True)
    """

    _row_keys = ("weights", "offset")
    _positive_keys = ("weights",)

    # __init__: PriorModel's, with weights and offset (``_row_keys``) stated in its signature

    def _penalty_scale_weights(self) -> FloatArray | None:
        return self.weights

    # ---------------------------------------------------------------- fit
    @cached_property
    def _prior_residual(self) -> FloatArray:
        """``z = y - o - X b0`` (one pass; skipped for a zero prior)."""
        z = (
            self.endog
            if not np.any(self.prior_values)
            else self.endog - (self.exog @ self.prior_values)
        )
        return z if self.offset is None else z - self.offset

    @cached_property
    def _weighted_data(self) -> tuple[FloatArray, FloatArray]:
        """``(W^1/2 X, W^1/2 (y - o - X b0))``."""
        z = self._prior_residual
        if self.weights is None:
            return self.exog, z
        sw = np.sqrt(self.weights)
        return self.exog * sw[:, None], z * sw

    @cached_property
    def factor(self) -> PathFactor:
        """The one factorization behind every ``lam`` (computed once)."""
        return factorize(
            self.exog,
            self._prior_residual,
            self.penalty,
            self.weights,
            self.intercept_idx,
        )

    @cached_property
    def reduced(self) -> Any:
        """The factor as a ``2k``-row system for bounded fits (:mod:`priorreg.bounded`)."""
        return ReducedProblem.from_factor(self.factor, self.penalty.values, self.intercept_idx)

    def _rows_at(self, params: FloatArray) -> tuple[Any, Any, float | None]:
        """Fitted values, residuals and ``RSS_w`` at ``params`` (None: from the factor)."""
        fitted = self.predict(params)
        resid = self.endog - fitted
        w = 1.0 if self.weights is None else self.weights
        return fitted, resid, float(np.sum(w * resid**2))

    def solve(self, lam: float) -> LinearFit:
        """Estimates and their normalized covariance at a fixed ``lam``."""
        factor = self.factor
        Xw, zw = self._weighted_data
        delta = solve_refined(factor, Xw, zw, self.penalty, lam)
        params = self.prior_values + delta
        ncov: FloatArray | Callable[[], FloatArray]
        if factor.diagonal_penalty:  # inference on demand: diagonal in O(k r), matrix if asked
            cov_diagonal = partial(factor.cov_diagonal, lam)
            edf_params = None
            ncov = partial(_normalized_cov, factor, lam)
        else:
            K = factor.cov_factor(lam)
            ncov = K @ K.T
            cov_diagonal = None
            edf_params = 1.0 - lam * np.einsum("ij,ji->i", ncov, self.penalty_matrix)
        return self._fit_at(lam, params, ncov, edf_params, cov_diagonal)

    def _fit_at(
        self,
        lam: float,
        params: FloatArray,
        ncov: FloatArray | Callable[[], FloatArray],
        edf_params: FloatArray | None,
        cov_diagonal: Callable[[], FloatArray] | None = None,
    ) -> LinearFit:
        """The fit at ``params``: rows from ``_rows_at``, ``edf`` from the factor.

        The RSS is the rows' where they give it, else the factor's (Dask).
        """
        fitted, resid, rss = self._rows_at(params)
        return LinearFit(
            lam=lam,
            params=params,
            normalized_cov=ncov,
            edf=float(self.factor.edf(lam)),
            edf_params=edf_params,
            fittedvalues=fitted,
            resid=resid,
            rss=float(self.factor.rss(lam)) if rss is None else rss,
            cov_diagonal=cov_diagonal,
        )

    def fit(  # type: ignore[override]
        self,
        lam: float | str = "gcv",
        *,
        lams: ArrayLike | None = None,
        cov_type: CovType = "bayes",
        disp: bool | Callable[[SearchStep], Any] = False,
    ) -> PriorRidgeResultsWrapper:
        """Fit at a fixed ``lam`` or select it by a criterion.

        Parameters
        ----------
        lam : float or {"gcv", "loocv", "reml"}
            A number fixes the penalty weight; a criterion name selects it
            on ``lams`` (default: a log grid spanning the data's singular
            values) followed by a bounded search on ``log(lam)``.
        lams : array-like, optional
            Grid of positive penalty weights to search.
        cov_type : {"bayes", "sandwich", "unconditional"}
            ``scale (X'WX + lam L)^-1`` (posterior under the Gaussian prior)
            or ``scale A^-1 X'WX A^-1`` (sampling variance of the estimator);
            ``"unconditional"`` adds the uncertainty of a selected ``lam``
            (:mod:`priorreg.unconditional`; ``"bayes"`` at a fixed ``lam``).
        disp : bool or callable
            Report the search (as :meth:`priorreg.PriorGLM.fit`): one line
            per ``lam`` of the grid and search, then the chosen one. The
            whole search costs about one fit, so the steps are reported
            when it ends.

        Returns
        -------
        PriorRidgeResults

        Raises
        ------
        ValueError
            Bad ``lam``/``lams``/``cov_type`` or a singular system.

        Warns
        -----
        LamOnEdgeWarning
            When the selected ``lam`` is on the edge of the grid.
        """
        if getattr(self, "penalty_components", None) is not None:  # several penalties
            return fit_linear(self, lam, lams, cov_type, disp=disp)
        _check_cov_type(cov_type)
        lam_value = _check_lam(lam)
        selection: Selection | None = None
        if isinstance(lam_value, str):
            grid = None if lams is None else as_grid(lams)
            report = reporter(disp, lam_value)
            selection = self._select(lam_value, grid)
            if report is not None:
                report_selection(report, selection, float(self.factor.edf(selection.lam)))
            lam_value = selection.lam
        elif lams is not None:
            raise ValueError("lams= is a grid to search; it needs lam='gcv', 'loocv' or 'reml'")
        if self.bounds is not None:  # priorreg.bounded_linear: the same steps under bounds
            fit = fit_bounded(self, float(lam_value))
            return bounded_linear_results(self, fit, selection, cov_type)
        return self._results(self.solve(float(lam_value)), selection, cov_type)

    def _select(self, criterion: str, grid: FloatArray | None) -> Selection:
        """Minimise ``criterion`` over ``lam`` (:func:`priorreg.selection.select_lam`)."""
        if self.bounds is not None:
            return select_bounded(self, criterion, grid)
        return select_lam(self.factor, self._weighted_data[1], criterion, grid)

    def _results(self, fit: LinearFit, selection: Selection | None, cov_type: str) -> Any:
        """The wrapped results object of ``fit``."""
        res = PriorRidgeResults(self, fit, selection=selection, cov_type=cov_type)
        return PriorRidgeResultsWrapper(res)

    def path(self, lams: ArrayLike, criterion: str = "gcv") -> pd.DataFrame:
        """Criteria and edf on a grid of ``lam`` (one factorization)."""
        lams_arr = np.asarray(lams, dtype=float)
        if self.bounds is not None:  # the bounded fits' criteria on their free sets
            return pd.DataFrame([criteria_at(self, float(v), criterion) for v in lams_arr])
        table = criterion_path(self.factor, self._weighted_data[1], lams_arr, criterion)
        return pd.DataFrame(table)

    def coef_path(self, lams: ArrayLike) -> FloatArray:
        """Coefficients (one row per ``lam``) from the one factorization."""
        if self.bounds is not None:
            return np.array([fit_bounded(self, float(v)).params for v in np.ravel(lams)])
        return np.array([self.prior_values + self.factor.coef(float(v)) for v in np.ravel(lams)])

    def predict(  # type: ignore[override]
        self, params: ArrayLike, exog: ArrayLike | None = None, offset: ArrayLike | None = None
    ) -> FloatArray:
        """Linear prediction ``exog @ params + offset``."""
        X = self.exog if exog is None else np.asarray(exog, dtype=float)
        out = X @ np.asarray(params, dtype=float)
        if offset is not None:
            out = out + np.asarray(offset, dtype=float)
        elif exog is None and self.offset is not None:
            out = out + self.offset
        return out
