"""scikit-learn's own estimator checks, for every estimator with a fixed lam and a criterion."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from priorreg.sklearn import (
    PriorGLMRegressor,
    PriorLogisticClassifier,
    PriorRidgeRegressor,
)

ESTIMATORS = [
    PriorRidgeRegressor(lam=1.0),
    PriorRidgeRegressor(lam="gcv"),
    PriorRidgeRegressor(lam="reml"),
    PriorGLMRegressor(lam=1.0),
    PriorGLMRegressor(lam="gcv"),
    # the log link is not the gamma's canonical one: IRLS (Fisher scoring)
    # converges linearly, so tol=1e-8 on the penalized deviance leaves ~1e-6
    # in the predictions, above the checks' rtol=1e-7 (scikit-learn runs its
    # own GLMs through these checks with tol=1e-12 too)
    PriorGLMRegressor(family="gamma", link="log", lam=1.0, tol=1e-12),
    PriorGLMRegressor(family="gaussian", lam="gcv"),
    PriorLogisticClassifier(lam=1.0),
    PriorLogisticClassifier(lam="gcv"),
]

#: The one check a criterion cannot pass, and why. Its data have 15 rows
#: (9 distinct with a positive weight) and 30 features: on the repeated data
#: the fit interpolates as lam -> 0 and every criterion decreases towards
#: lam = 0, so there is no minimum; the lam where the search stops at the edge
#: of its range depends on the path taken. For the linear model, the weights
#: are also precision weights (PriorRidge's ``weights``: GCV's n counts rows),
#: so the weighted fit's GCV instead grows without bound as lam -> 0. With a
#: fixed lam every estimator passes the check; tests/test_sklearn.py compares
#: weights with repeated rows under a criterion on data where it has a minimum.
def expected_failed_checks(estimator):
    if not isinstance(estimator.lam, str):
        return {}
    reason = (
        "the check's data (15 rows, 30 features) give a criterion without a minimum "
        "(it decreases to lam = 0), so the selected lam is path-dependent"
    )
    if isinstance(estimator, PriorRidgeRegressor):
        reason += "; and sample_weight are precision weights for the criterion"
    return {"check_sample_weight_equivalence_on_dense_data": reason}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
