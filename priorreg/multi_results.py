r"""Results of a fit with several penalties: ``lam`` per component, edf per component.

A fit at ``lam = (lam_1, ..., lam_m)`` is the single-penalty fit with the
combined penalty ``S = sum_j lam_j P_j`` at weight 1 and the combined prior
``b0*`` (:meth:`priorreg.multi.Components.combined`); its results are those
of the single-penalty classes, with ``lam`` an array (a Series by group name
when the components are named), ``lam_path`` the Newton iterations,
:attr:`edf_components`, and a summary that lists each component.
``cov_type="unconditional"`` adds the uncertainty of the selected
``rho = log(lam)`` to first order:

.. math::

    V_b + J V_\rho J', \qquad J = \partial \hat b / \partial \rho, \qquad
    V_\rho = H_{\mathrm{REML}}^{-1},

``H_REML`` the Hessian of the REML score in ``rho`` at the fitted ``lam``
(whatever criterion selected it, as mgcv's ``Vp``/``Vc``; Wood, Pya and
Saefken 2016, section 3.1, first-order term), inverted on its positive
eigenvalues (a ``lam`` at 0 or infinity leaves a flat direction along
which ``b`` does not move, so ``J`` is 0 there). For a GLM, ``J`` is the
implicit derivative of the converged fit and ``H_REML`` the exact Hessian
of the Laplace REML (:mod:`priorreg.multi_outer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from priorreg.glm_results import PriorGLMResults
from priorreg.inference import CompatibilityTest, DataShare, compatibility_test, variance_share
from priorreg.multi import Components, component_edf
from priorreg.multi_select import MultiSelection
from priorreg.results import PriorRidgeResults
from priorreg.selection import loocv

__all__ = ["ComponentShare", "MultiGLMResults", "MultiRidgeResults", "out_of_core_class"]

#: The combined penalty ``S`` carries the lams; the single-penalty machinery sees weight 1.
_UNIT = 1.0


@dataclass(frozen=True)
class ComponentShare(DataShare):
    """:class:`DataShare` with the share of each penalty component.

    ``per_component[j] = edf_j / n_j`` (see
    :func:`priorreg.multi.component_edf`): 1 = the data alone, 0 = the prior alone.
    """

    per_component: pd.Series | None = None

    def __str__(self) -> str:
        per = self.per_component if self.per_component is not None else pd.Series(dtype=float)
        parts = ", ".join(f"{k}: {v:.3f}" for k, v in per.items())
        return f"share of information from the data: {self.overall:.3f} (overall; {parts})"


def unconditional_cov(Vb: Any, dcoef: Any, hess: Any) -> Any:
    """``V_b + J H^+ J'``: ``H^+`` the inverse of ``hess`` on its positive eigenvalues."""
    ev, vec = np.linalg.eigh(0.5 * (hess + hess.T))
    keep = ev > 1e-10 * max(float(np.max(np.abs(ev), initial=0.0)), 1e-300)
    JV = dcoef @ vec[:, keep]
    out = Vb + (JV / ev[keep]) @ JV.T
    return 0.5 * (out + out.T)


class _MultiMixin:
    """What several penalties change in a results class."""

    components: Components
    lam_values: Any
    _extra_cov: Any

    def _attach(
        self,
        components: Components,
        lams: Any,
        selection: MultiSelection | None,
        unconditional: tuple[Any, Any] | None,
    ) -> None:
        self.components = components
        self.lam_values = np.asarray(lams, dtype=float)
        self.lam = components.lam_series(self.lam_values)
        self.selection = selection
        self.lam_method = "fixed" if selection is None else selection.criterion
        self._extra_cov = None
        if unconditional is not None:
            self.cov_type = "unconditional"
            dcoef, hess = unconditional
            base = self.scale * np.asarray(self.normalized_cov_params)
            self.cov_params_default = unconditional_cov(base, dcoef, hess)
        self.model.penalty_kind = "several"

    @cached_property
    def bse(self) -> Any:
        """Standard errors (of the unconditional covariance when asked for)."""
        if self.cov_type in ("sandwich", "unconditional"):
            return np.sqrt(np.diag(self.cov_params()))
        return np.sqrt(self.scale * self._cov_diagonal)

    @cached_property
    def edf_params(self) -> Any:
        """``diag((X'WX + S)^-1 X'WX)``, summing to ``edf``."""
        if self._fit.edf_params is not None:
            return self._fit.edf_params
        return 1.0 - _UNIT * self._cov_diagonal * self.model.penalty_weights

    @cached_property
    def lam_path(self) -> pd.DataFrame | None:
        """One row per Newton step: the lams, edf and the criterion (``None`` if fixed)."""
        return None if self.selection is None else self.selection.path

    @cached_property
    def edf_components(self) -> pd.Series:
        """Effective degrees of freedom per component (:func:`priorreg.multi.component_edf`)."""
        values = component_edf(
            self.components, self.lam_values, np.asarray(self.normalized_cov_params)
        )
        return pd.Series(values, index=self.components.labels, name="edf")

    def data_share(self) -> ComponentShare:
        """Share of the information from the data, per coefficient and per component."""
        per = pd.Series(self.edf_params, index=list(self.model.exog_names), name="data_share")
        support = self.components.support()
        count = support.sum(axis=0)
        own = np.where(count > 0, support / np.maximum(count, 1), 0.0).sum(axis=1)
        comp = pd.Series(
            np.asarray(self.edf_components) / np.where(own > 0, own, np.nan),
            index=self.components.labels,
            name="data_share",
        )
        S = self.model.penalty  # the combined penalty S of this fit
        diagonal = S.is_diagonal
        spread = None
        if not diagonal:  # S carries the lams: it enters at weight 1
            names = list(self.model.exog_names)
            spread = variance_share(self.normalized_cov_params, S.matrix(), 1.0, names)
        return ComponentShare(
            per,
            float(self.edf / self.model.k_params),
            diagonal=diagonal,
            variance_share=spread,
            per_component=comp,
        )

    def _component_lines(self) -> list[str]:
        lines = [
            f"Penalty: sum_j lam_j (b - prior_j)' P_j (b - prior_j), {self.components.m} "
            "components",
            "(the prior column shows the combined prior b0*):",
        ]
        for name, lam, edf, kind in zip(
            self.components.labels,
            self.lam_values,
            self.edf_components,
            self.components.kinds,
            strict=True,
        ):
            lines.append(f"  {name} ({kind}): lam = {lam:.4g}, edf = {edf:.3f}")
        if self.cov_type == "unconditional":
            lines.append(
                "Covariance includes the uncertainty of the selected lams (first order, "
                "REML Hessian)."
            )
        elif self.selection is not None:
            lines.append(
                f"Standard errors, tests and intervals treat the lams, chosen by "
                f"{self.lam_method.upper()}, as known;"
            )
            lines.append('cov_type="unconditional" adds their uncertainty.')
        return lines

    def summary(self, *args: Any, **kwargs: Any) -> Any:
        """The single-penalty summary plus one line per penalty component."""
        smry = super().summary(*args, **kwargs)  # type: ignore[misc]
        # the single-penalty text's first line describes one penalty: replace it
        lines = [ln for ln in (smry.extra_txt or "").split("\n") if ln]
        smry.add_extra_txt(self._component_lines() + lines[1:])
        return smry


class MultiRidgeResults(_MultiMixin, PriorRidgeResults):
    """Results of :meth:`PriorRidge.fit` with several penalties."""

    @cached_property
    def loocv(self) -> float:
        """Exact leave-one-out mean squared weighted error at the fitted lams."""
        model = self.model
        return float(loocv(model.factor, model._weighted_data[1], np.array([_UNIT]))[0])

    @cached_property
    def reml(self) -> float:
        """Negative restricted log-likelihood at the fitted lams (log|S|_+ of the sum)."""
        return float(self.model.factor.reml(_UNIT))

    @cached_property
    def hat_diag(self) -> Any:
        """Leverages at the fitted lams."""
        return np.asarray(self.model.factor.leverage(_UNIT))

    def compatibility_test(self) -> CompatibilityTest:
        """Theil's test with the combined penalty and prior."""
        return compatibility_test(self.model.factor, _UNIT, self.scale)


class MultiGLMResults(_MultiMixin, PriorGLMResults):
    """Results of :meth:`PriorGLM.fit` with several penalties."""

    #: (IRLS iterations, penalized IRLS runs) of the whole ``fit`` call, set by it
    fit_counts: tuple[int, int] | None = None

    @property
    def search_fits(self) -> int | None:
        """Penalized IRLS runs of the fit: the search's and the final fit (1 at fixed lams).

        With selected lams: the performance iteration (one run, one IRLS step
        per pass), each fit at fixed lams of the outer Newton or LOOCV search,
        the fit of ``cov_type="unconditional"`` and the final fit at the
        selected lams.
        """
        return super().search_fits if self.fit_counts is None else self.fit_counts[1]

    @property
    def iterations_total(self) -> int | None:
        """IRLS iterations summed over :attr:`search_fits` (``iterations`` at fixed lams)."""
        return super().iterations_total if self.fit_counts is None else self.fit_counts[0]

    @cached_property
    def hat_diag(self) -> Any:
        """Leverages of the working model at convergence."""
        return np.asarray(self._glm_fit.factor.leverage(_UNIT))

    def compatibility_test(self) -> CompatibilityTest:
        """Theil's test on the working model with the combined penalty (approximate)."""
        factor = self._glm_fit.factor
        r = int(factor.d.size)
        if r == 0:
            return CompatibilityTest(0.0, r, 1.0, None, "none")
        delta = float(np.sum(_UNIT * factor.f**2 / (factor.d**2 + _UNIT)))
        stat = delta / self.scale
        return CompatibilityTest(stat, r, float(stats.chi2.sf(stat, r)), None, "chi2")


@cache
def out_of_core_class(base: type) -> type:
    """Several-penalty results over a Dask results class ``base`` (one class per base).

    The Dask class's own ``loocv`` (one pass) and lazy ``hat_diag`` run at
    weight 1 on the combined penalty ``S`` of the fit's model (a GLM's
    criteria, ``loocv`` among them, read the fit's own ``lam``, 1, already).
    """

    def at_unit(prop: Any) -> cached_property:
        def get(self: Any) -> Any:
            saved, self.lam = self.lam, _UNIT
            try:
                return prop.func(self)
            finally:
                self.lam = saved

        get.__doc__ = prop.__doc__
        return cached_property(get)

    namespace = {
        "__doc__": f"Results of a Dask fit with several penalties (a {base.__name__}).",
        "__module__": __name__,
        "loocv": at_unit(base.loocv),
        "hat_diag": at_unit(base.hat_diag),
        "reml": MultiRidgeResults.reml,
        "compatibility_test": MultiRidgeResults.compatibility_test,
    }
    if issubclass(base, PriorGLMResults):  # criteria read the fit's own lam, 1
        del namespace["loocv"], namespace["reml"]
        namespace["compatibility_test"] = MultiGLMResults.compatibility_test
    # pickled by its Dask base class, not by name: the class is made at run time
    namespace["__reduce_ex__"] = _reduce_out_of_core
    namespace["_dask_base"] = base
    return type(f"Multi{base.__name__}", (_MultiMixin, base), namespace)


def _reduce_out_of_core(self: Any, protocol: int) -> tuple[Any, ...]:
    """Pickle a results object of :func:`out_of_core_class` as its base class and state."""
    return _out_of_core_instance, (type(self)._dask_base,), self.__dict__.copy()


def _out_of_core_instance(base: type) -> Any:
    """An empty instance of ``out_of_core_class(base)`` (unpickling fills its state in)."""
    cls = out_of_core_class(base)
    return cls.__new__(cls)
