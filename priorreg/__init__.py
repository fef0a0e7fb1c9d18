"""priorreg: regression with an L2 penalty centred on prior coefficients."""

from priorreg import backends as _backends
from priorreg.exceptions import (
    ConvergenceWarning,
    DegenerateFitWarning,
    LamOnEdgeWarning,
    PenaltyUnitsWarning,
    SeparationWarning,
)
from priorreg.glm import PriorGLM
from priorreg.glm_results import PriorGLMResults
from priorreg.linear import PriorRidge
from priorreg.prior import PriorFile, load_prior
from priorreg.results import PriorRidgeResults

__version__ = "0.1.0"

# Registered by module path: nothing is imported until a model meets Dask data
# or ``bounds=`` (see priorreg.backends). Dask collections live in ``dask``, or
# in ``dask_expr`` for the dask releases that shipped it as its own package.
_backends.register("dask", "priorreg.outofcore", ["dask", "dask_expr"])
_backends.register_variant("bounds", "priorreg.bounded_glm", "model_class")

__all__ = [
    "ConvergenceWarning",
    "DegenerateFitWarning",
    "LamOnEdgeWarning",
    "PenaltyUnitsWarning",
    "PriorFile",
    "PriorGLM",
    "PriorGLMResults",
    "PriorRidge",
    "PriorRidgeResults",
    "SeparationWarning",
    "__version__",
    "load_prior",
]
