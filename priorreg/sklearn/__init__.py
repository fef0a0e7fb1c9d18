"""scikit-learn estimators over :class:`~priorreg.PriorRidge` and :class:`~priorreg.PriorGLM`.

Importing this module imports scikit-learn (``pip install "priorreg[sklearn]"``);
``import priorreg`` alone does not.

- :class:`PriorRidgeRegressor`: least squares with a prior-centred penalty;
- :class:`PriorGLMRegressor`: a generalized linear model (family and link by
  name or as statsmodels objects);
- :class:`PriorLogisticClassifier`: binary logistic regression.

Each fits the statsmodels-style model and keeps its results in
``results_`` (``summary()``, ``conf_int()``, ...).
"""

from __future__ import annotations

from priorreg.sklearn._glm import PriorGLMRegressor, PriorLogisticClassifier, resolve_family
from priorreg.sklearn._ridge import PriorRidgeRegressor

__all__ = [
    "PriorGLMRegressor",
    "PriorLogisticClassifier",
    "PriorRidgeRegressor",
    "resolve_family",
]
