"""Results of a bounded fit: what is at a bound, and inference conditional on it.

Standard errors, tests and intervals are those of the free coefficients
with the active ones held at their bound: ``cov_params()`` is the free
block's covariance (zero for active coefficients), and a coefficient at a
bound gets no standard error, t, p or interval (NaN). This ignores the
uncertainty of which constraints are active, as any inference on a
selected model does, and is honest only away from the boundary (a
coefficient just inside its bound may have an interval that crosses it).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache, cached_property
from typing import Any

import numpy as np
import pandas as pd

from priorreg import backends
from priorreg._typing import FloatArray
from priorreg.bounded import free_reml
from priorreg.bounded_linear import SearchMemo, _loocv_at, free_data_factor
from priorreg.bounds import Bounds
from priorreg.glm_results import PriorGLMResults
from priorreg.inference import compatibility_test
from priorreg.results import PriorRidgeResults, PriorRidgeResultsWrapper

__all__ = [
    "BoundedPriorGLMResults",
    "BoundedPriorRidgeResults",
    "BoundedResultsMixin",
    "bounded_linear_results",
    "bounded_results",
    "check_cov_type",
]


class BoundedResultsMixin:
    """Adds ``bounds`` and ``active_bounds`` and conditions inference on the active set."""

    _fit: Any
    model: Any
    lam: float

    @property
    def bounds(self) -> Bounds:
        """The bounds the estimates satisfy (:class:`priorreg.bounds.Bounds`)."""
        return self.model.bounds

    @cached_property
    def _active(self) -> np.ndarray:
        return np.asarray(self._fit.active, dtype=bool)

    @cached_property
    def active_bounds(self) -> pd.Series:
        """True for each coefficient held at one of its bounds (by name)."""
        return pd.Series(self._active, index=list(self.model.exog_names), name="active_bounds")

    @cached_property
    def bse(self) -> FloatArray:
        """Standard errors of the free coefficients; NaN at a bound."""
        out = np.array(super().bse, dtype=float)  # type: ignore[misc]
        out[self._active] = np.nan
        return out

    def data_share(self) -> Any:
        """Data shares of the free coefficients; NaN for those held at a bound.

        ``overall`` is ``edf`` over the number of free coefficients.
        """
        share = super().data_share()  # type: ignore[misc]
        per = share.per_coefficient.copy()
        per[self._active] = np.nan
        n_free = int(np.count_nonzero(~self._active))
        overall = float(self.edf) / n_free if n_free else float("nan")  # type: ignore[attr-defined]
        return replace(share, per_coefficient=per, overall=overall)

    @cached_property
    def _free_memo(self) -> SearchMemo:
        """The free problem's factor from the data, built once for these results."""
        return SearchMemo()

    def _free_data(self) -> Any:
        return free_data_factor(self.model, self._fit, self._free_memo)

    def refine(self, newdata: Any, **kwargs: Any) -> PriorRidgeResultsWrapper:
        """As without bounds; the bounds are kept unless ``bounds=`` is given."""
        kwargs.setdefault("bounds", self._bounds_spec())
        return super().refine(newdata, **kwargs)  # type: ignore[misc]

    def _bounds_spec(self) -> Any:
        b = self.bounds
        return b.spec if b.spec == "nonnegative" else b.as_dict()


class _LinearBounded(BoundedResultsMixin):
    """Criteria of a bounded linear fit on its free set."""

    @cached_property
    def loocv(self) -> float:
        """Leave-one-out error with the free columns' leverages (active set held)."""
        return _loocv_at(self.model, self._fit, self._free_memo)

    @cached_property
    def reml(self) -> float:
        """REML of the free coefficients' model (see :mod:`priorreg.bounded_linear`)."""
        free = self._fit.free
        if free is None:
            return float(self.model.factor.reml(self.lam))
        return free_reml(free, self.lam, self.model.factor.n_obs, self.model.factor.log_weights)

    @cached_property
    def hat_diag(self) -> FloatArray:
        """Leverages of the free columns' hat matrix (lazy for Dask data)."""
        if self.model.exog is None:  # out of core: one lazy pass by the model's backend
            backend = backends.backend_of(self.model)
            return backend.free_hat_diag(self.model, self._fit)  # type: ignore[no-any-return]
        factor, _ = self._free_data()
        if factor is None:
            return np.zeros(int(self.model.nobs))
        return np.asarray(factor.leverage(self.lam))

    def compatibility_test(self) -> Any:
        """The two-sample test when it applies (it ignores lam and the bounds); else Theil's.

        Theil's test is that of the free coefficients' problem (the whole one
        if none is free).
        """
        two_sample = getattr(self, "_two_sample", None)
        if two_sample is not None:
            return two_sample
        free = self._fit.free
        factor = None if free is None else free.factor
        factor = self.model.factor if factor is None else factor
        return compatibility_test(factor, self.lam, self.scale)  # type: ignore[attr-defined]


class BoundedPriorRidgeResults(_LinearBounded, PriorRidgeResults):
    """:class:`PriorRidgeResults` of a bounded fit (see the module docstring)."""


class BoundedPriorGLMResults(BoundedResultsMixin, PriorGLMResults):
    """:class:`PriorGLMResults` of a bounded fit (see the module docstring)."""


_CLASSES: dict[type, type] = {
    PriorRidgeResults: BoundedPriorRidgeResults,
    PriorGLMResults: BoundedPriorGLMResults,
}


@cache
def _bounded_class(base: type, linear: bool) -> type:
    if base in _CLASSES:
        return _CLASSES[base]
    mixin = _LinearBounded if linear else BoundedResultsMixin
    return type(f"Bounded{base.__name__}", (mixin, base), {"__doc__": base.__doc__})


def check_cov_type(cov_type: str) -> None:
    """Refuse ``cov_type="unconditional"``, whose ``d b / d log(lam)`` is the unbounded one's."""
    if cov_type == "unconditional":
        raise ValueError(
            "cov_type='unconditional' is not available with bounds: the estimate's "
            "derivative in log(lam) changes with the active set; use 'bayes' or 'sandwich'"
        )


def bounded_results(
    wrapper: Any, model: Any, fit: Any, selection: Any, cov_type: str, *, linear: bool
) -> Any:
    """``wrapper`` (the model's results of ``fit``) remade with the bounded behaviour."""
    cls = _bounded_class(type(wrapper._results), linear)
    return type(wrapper)(cls(model, fit, selection=selection, cov_type=cov_type))


def bounded_linear_results(model: Any, fit: Any, selection: Any, cov_type: str) -> Any:
    """The wrapped results of a bounded linear fit (:func:`priorreg.bounded_linear.fit_bounded`)."""
    check_cov_type(cov_type)
    wrapper = model._results(fit, selection, cov_type)
    return bounded_results(wrapper, model, fit, selection, cov_type, linear=True)
