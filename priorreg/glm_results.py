"""Results of a ``PriorGLM`` fit."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from scipy import stats
from statsmodels.base import wrapper as wrap
from statsmodels.base._prediction_inference import PredictionResultsMean
from statsmodels.regression._prediction import PredictionResults

from priorreg import backends
from priorreg import scale as _scale
from priorreg._sm_attributes import GLMAttributes
from priorreg._typing import ArrayLike, FloatArray, Predicted
from priorreg.compat import two_sample_for
from priorreg.degenerate import estimated_scale, exact_deviance
from priorreg.glm_search import exact_curvature, params_derivative
from priorreg.gram_irls import gram_point
from priorreg.inference import CompatibilityTest
from priorreg.results import PriorRidgeResults, PriorRidgeResultsWrapper
from priorreg.separation import model_separation
from priorreg.unconditional import reml_curvature

__all__ = ["PriorGLMResults", "PriorGLMResultsWrapper"]


class PriorGLMResults(GLMAttributes, PriorRidgeResults):
    r"""Results of :meth:`PriorGLM.fit`.

    As :class:`PriorRidgeResults`, with GLM quantities: ``deviance``,
    ``pearson_chi2``, ``converged``, ``iterations`` (IRLS iterations of the
    reported fit; at a selected ``lam`` that fit starts from a neighbouring
    fit of the search, so it is often 1 or 2: ``iterations_total`` and
    ``search_fits`` count the whole search), ``mu``,
    ``resid_response``, ``resid_deviance``, ``resid_pearson``, ``ubre``.
    ``scale`` is 1 for the binomial, Poisson and negative binomial families,
    else Pearson chi2 / (n - edf), or as chosen by ``fit(scale=...)``
    (``scaletype``; see :mod:`priorreg.scale`); tests use the normal
    distribution when the scale is known, the t distribution with
    ``df_resid`` when it is estimated. ``fittedvalues`` are the means.
    """

    def __init__(self, model: Any, fit: Any, **kwargs: Any) -> None:
        self._glm_fit = fit  # before the base class, whose covariance may refit
        super().__init__(model, fit, **kwargs)
        self.deviance = fit.deviance
        self.pearson_chi2 = fit.pearson_chi2
        self.converged = fit.converged
        self.iterations = fit.iterations
        self.mu = fit.fittedvalues
        self.family = model.family
        #: the scale option of the fit (``fit(scale=...)``; see :mod:`priorreg.scale`)
        self.scaletype = model.scaletype
        self._glm_fit = fit
        #: :class:`priorreg.separation.Separation` of the data, or None
        self.separation = model_separation(model)

    #: Step in log(lam) of the REML curvature from converged refits (to a relative
    #: deviance change of 1e-12, so the score is good to ~1e-12 |D|, ~1e-8 after
    #: dividing by h^2; the truncation error h^2 |s^(4)| / 12 is ~1e-3 relative).
    _CURVATURE_STEP = 0.1

    @cached_property
    def reml_curvature(self) -> float:
        """Second derivative of the REML score in ``log(lam)`` at the fitted ``lam``.

        Exact (:func:`priorreg.glm_search.exact_curvature`: canonical link,
        known scale); otherwise central differences of converged refits.
        """
        exact = exact_curvature(self.model, "reml", self._glm_fit)
        if exact is not None:
            return exact
        return reml_curvature(self._reml_at, self.lam, self._CURVATURE_STEP)

    def _reml_at(self, lam: float) -> float:
        """Laplace REML score of the converged fit at ``lam`` (warm-started)."""
        if lam == self.lam:
            return self.model.criterion(self._glm_fit, "reml")
        fit = self.model._irls(lam, None, 200, 1e-12, start_fit=self._glm_fit)
        return self.model.criterion(fit, "reml")

    def _params_derivative(self) -> Any:
        """``d params / d log(lam)`` of the converged fit (:mod:`priorreg.glm_search`).

        None (the working-weights formula of :mod:`priorreg.unconditional`)
        without in-memory data or where the Gram route declines.
        """
        try:
            problem = self.model.problem
        except NotImplementedError:  # out of core
            return None
        fit = self._glm_fit
        point = gram_point(problem, np.asarray(fit.params), fit.eta, fit.fittedvalues, fit.deviance)
        return None if point is None else params_derivative(problem, point, fit.lam)

    _fit_keys = ("disp", "scale", "maxiter", "tol")

    def _carried_fit_options(self) -> dict[str, Any]:
        return {"scale": self.scaletype}

    @staticmethod
    def _use_t_for(model: Any) -> bool:
        return _scale.is_estimated(model.scaletype, model.family)

    @staticmethod
    def _exact_fit(model: Any, fit: Any) -> bool:
        """A deviance of rounding size with an estimated scale (else nothing is undefined)."""
        return estimated_scale(model) and exact_deviance(model, [fit.deviance])

    @staticmethod
    def _n_effective(model: Any) -> float:
        return float(model.wnobs)

    def _scale_of(self, fit: Any) -> float:
        return float(fit.scale)

    # ------------------------------------------------------------ criteria
    @property
    def search_fits(self) -> int | None:
        """Converged fits the search for ``lam`` evaluated (1 at a fixed ``lam``).

        ``None`` where the search does not record them.
        """
        if self.selection is None:
            return 1
        path = self.lam_path
        return None if path is None or "iterations" not in path else len(path)

    @property
    def iterations_total(self) -> int | None:
        """IRLS iterations of the whole fit: summed over every fit of the search.

        ``iterations`` counts those of the reported fit alone, which a search
        warm-starts from its neighbour (as mgcv's ``outer.info`` beside
        ``iter``); this is the cost of the selection, comparable to the
        ``iterations`` of one fit at a fixed ``lam`` (which it equals then).
        ``None`` where the search does not record them.
        """
        if self.selection is None:
            return int(self.iterations)
        path = self.lam_path
        if path is None or "iterations" not in path:
            return None
        return int(path["iterations"].sum())

    @cached_property
    def gcv(self) -> float:
        """``n D / (n - edf)^2``."""
        return self.model.criterion(self._glm_fit, "gcv")

    @cached_property
    def ubre(self) -> float:
        """``D/n + 2 scale edf/n - scale`` (known scale only; else NaN)."""
        try:
            return self.model.criterion(self._glm_fit, "ubre")
        except ValueError:
            return float("nan")

    @cached_property
    def loocv(self) -> float:
        """Approximate leave-one-out mean deviance (see ``PriorGLM.criterion``)."""
        return self.model.criterion(self._glm_fit, "loocv")

    @cached_property
    def reml(self) -> float:
        """Laplace-approximate negative restricted log-likelihood."""
        return self.model.criterion(self._glm_fit, "reml")

    @cached_property
    def hat_diag(self) -> FloatArray:
        """Leverages of the working linear model at convergence."""
        return np.asarray(self._glm_fit.factor.leverage(self.lam))

    @cached_property
    def llf(self) -> float:
        """Full log-likelihood (statsmodels' families; binomial coefficients included)."""
        return float(self._glm_fit.llf)

    @cached_property
    def rsquared(self) -> float:
        """Deviance explained, ``1 - D / D_null`` (null: intercept-only mean)."""
        y = self.model.endog_response
        w = self.model.freq_weights_total * self.model.var_weights_total
        null_mu = np.full_like(y, np.sum(w * y) / np.sum(w))
        null_dev = self.model.problem.deviance(null_mu)
        return 1.0 - self.deviance / null_dev if null_dev > 0 else float("nan")

    # ------------------------------------------------------------ residuals
    @cached_property
    def resid_response(self) -> FloatArray:
        """``y - mu``."""
        return self.model.endog_response - self.mu

    @cached_property
    def resid_pearson(self) -> FloatArray:
        """``(y - mu) sqrt(var_weights / V(mu))``."""
        return self.resid_response * np.sqrt(
            self.model.var_weights_total / self.family.variance(self.mu)
        )

    @cached_property
    def resid_deviance(self) -> FloatArray:
        """Signed square roots of the unit deviances."""
        return np.asarray(
            self.family.resid_dev(
                self.model.endog_response, self.mu, var_weights=self.model.var_weights_total
            )
        )

    # ------------------------------------------------------------ tests
    @cached_property
    def _two_sample(self) -> CompatibilityTest | None:
        estimated = estimated_scale(self.model)
        return two_sample_for(self, self._unpenalized_fit, estimated_scale=estimated)

    def compatibility_test(self) -> CompatibilityTest:
        """Test whether the new data are compatible with the prior.

        The two-sample Wald comparison when the prior is a fitted model with a
        covariance and the unpenalized fit on these data exists (converges and
        identifies every coefficient; :mod:`priorreg.compat`). Otherwise
        Theil's test on the working linear model at convergence
        (approximate), with the estimated scale (chi-square form), since the
        data-only fit of a GLM has no exact F reference.
        """
        if self._two_sample is not None:
            return self._two_sample
        factor = self._glm_fit.factor
        r = int(factor.d.size)
        if self.lam <= 0 or r == 0:
            return CompatibilityTest(0.0, r, 1.0, None, "none")
        stat = self._working_delta() / self.scale
        return CompatibilityTest(stat, r, float(stats.chi2.sf(stat, r)), None, "chi2")

    def _unpenalized_fit(self) -> tuple[FloatArray, FloatArray, float]:
        """``(params, cov, df_resid)`` of the GLM on these data (same weights, offsets)."""
        fit = self.model._irls(0.0, None, 100, 1e-12)
        if not fit.converged:
            raise ValueError("the unpenalized fit did not converge")
        df = self.model.wnobs - self.model.k_params
        return fit.params, fit.scale * np.asarray(fit.normalized_cov), df

    def _working_delta(self) -> float:
        factor = self._glm_fit.factor
        lam = self.lam
        return float(np.sum(lam * factor.f**2 / (factor.d**2 + lam))) if lam > 0 else 0.0

    # ------------------------------------------------------------ prediction
    def predict(  # type: ignore[override]
        self,
        exog: Any = None,
        offset: ArrayLike | None = None,
        exposure: ArrayLike | None = None,
        which: str = "mean",
        transform: bool = True,
    ) -> Predicted:
        """Predicted mean (``which="mean"``) or linear predictor (``"linear"``).

        New data (a DataFrame through the formula) get offset 0 and exposure 1
        unless given; ``exog=None`` predicts the training rows with their
        offset and exposure. With ``transform=False`` (as in statsmodels)
        ``exog`` is taken as rows of the design matrix itself.
        """
        backend = backends.backend_for(exog)
        if backend is not None:
            return backend.implementation().predict(
                self, exog, offset=offset, exposure=exposure, which=which
            )
        X, labels = self._exog_for(exog, transform)
        pred = self.model.predict(
            self.params, None if exog is None else X, offset=offset, exposure=exposure, which=which
        )
        return self._labelled(pred, labels)

    def get_prediction(  # type: ignore[override]
        self,
        exog: Any = None,
        offset: ArrayLike | None = None,
        exposure: ArrayLike | None = None,
        *,
        transform: bool = True,
    ) -> PredictionResultsMean:
        """Mean predictions with intervals built on the linear predictor.

        ``var(eta) = x' cov_params() x``; the interval for ``eta`` is mapped
        through the inverse link, so it respects the range of the mean.
        ``exog`` and ``transform`` are as for :meth:`predict`.
        """
        X, labels = self._exog_for(exog, transform)
        eta = np.asarray(
            self.model.predict(
                self.params,
                None if exog is None else X,
                offset=offset,
                exposure=exposure,
                which="linear",
            )
        )
        cov = np.asarray(self.cov_params())
        var_eta = np.einsum("ij,jk,ik->i", X, cov, X)
        dist = "t" if self.use_t else "norm"
        rows = None if labels is None else list(labels)
        linpred = PredictionResults(
            eta, var_eta, 0.0 * eta, df=self.df_resid, dist=dist, row_labels=rows
        )
        link = self.family.link
        mean = link.inverse(eta)
        var_mean = link.inverse_deriv(eta) ** 2 * var_eta
        return PredictionResultsMean(
            mean,
            var_mean,
            var_resid=self.scale,
            df=self.df_resid,
            dist=dist,
            row_labels=rows,
            linpred=linpred,
            link=link,
        )

    def _results_wrapper(self) -> Any:
        return PriorGLMResultsWrapper(self)


class PriorGLMResultsWrapper(PriorRidgeResultsWrapper):
    """Attaches pandas labels to ``PriorGLMResults``."""

    _attrs = wrap.union_dicts(
        PriorRidgeResultsWrapper._attrs,
        {
            "resid_response": "rows",
            "resid_pearson": "rows",
            "resid_deviance": "rows",
            "resid_working": "rows",
            "resid_anscombe": "rows",
            "mu": "rows",
        },
    )
    _wrap_attrs = _attrs
    _wrap_methods = PriorRidgeResultsWrapper._wrap_methods


wrap.populate_wrapper(PriorGLMResultsWrapper, PriorGLMResults)
