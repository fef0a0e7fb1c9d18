r"""Out-of-core fits on Dask: the same estimators, one pass over the partitions at a time.

``PriorRidge`` and ``PriorGLM`` (and their ``from_formula``) accept a
``dask.dataframe.DataFrame`` (the array interface also dask Series and
arrays) and return the results objects of the in-memory fit, with the same
numbers, summary and penalty selection. Everything runs on the active Dask
scheduler: threads, processes or a ``distributed`` cluster.

How the data are reduced
------------------------
*Design.* The patsy design is built once, on the client, from a small
template: real rows of the first partition plus every level of every
categorical factor (known categories of categorical dtypes are read from
the metadata; otherwise one parallel pass over the categorical columns
collects them). Every partition is then coded with these design infos, so
all partitions produce identical columns even when one lacks a level.

*Linear model (TSQR).* One pass: each partition reduces
``[W^1/2 X, W^1/2 (y - o)]`` to its small triangular Householder factor;
the factors are stacked and re-factorized in a tree, giving the factor
``R`` of the whole data (Demmel et al. 2012). The prior enters afterwards,
exactly, as a unit upper-triangular column operation
(``z = (y - o) - X b0``), and :func:`priorreg.linalg.factorize_triangular`
builds the same :class:`~priorreg.linalg.PathFactor` as the in-memory fit:
coefficients, edf, GCV, REML and inference for every ``lam`` follow without
touching the data again. The same pass collects what the in-memory model
reads from its arrays (number of rows, constant columns, weighted column
moments for ``standardize`` and R-squared, ``sum(log w)``). Leverages, and
so LOOCV, need one more pass for all ``lam`` of a grid at once (LOOCV
selection: a second pass on Chebyshev nodes around the grid minimum, on
whose interpolant, exact to rounding there, the zoom of
:func:`priorreg.selection.select_lam` runs).

*GLM.* One pass per penalized IRLS iteration: each partition computes the
linear predictor, the mean, the deviance and the working weights and
response at the candidate coefficients, and reduces the working problem to
its triangular factor. The IRLS steps, step halving, convergence test,
performance iteration and outer selection are those of
:func:`priorreg.irls.penalized_irls` and ``PriorGLM.fit``.

Memory is bounded by a few copies of one partition per worker thread, not
by the data. n-length results (fitted values, residuals, leverages) are
lazy Dask collections; nothing is computed until asked for.

References
----------
Demmel, Grigori, Hoemmen, Langou (2012). Communication-optimal parallel
and sequential QR and LU factorizations. SIAM J. Sci. Comput. 34(1).
"""

from __future__ import annotations

from priorreg.glm import PriorGLM
from priorreg.linear import PriorRidge
from priorreg.outofcore.bounded_linear import free_hat_diag, free_loocv
from priorreg.outofcore.dispatch import is_dask, model_class, register_model
from priorreg.outofcore.glm import DaskPriorGLM, DaskPriorGLMResults
from priorreg.outofcore.linear import DaskPriorRidge, DaskPriorRidgeResults
from priorreg.outofcore.model import from_formula
from priorreg.outofcore.prediction import predict, refine
from priorreg.outofcore.separation import dask_separation as check_separation

# The backend interface of :mod:`priorreg.backends` (``priorreg`` registers
# this module for objects of the ``dask`` packages).
handles = is_dask
register_model(PriorGLM, DaskPriorGLM)
register_model(PriorRidge, DaskPriorRidge)

__all__ = [
    "DaskPriorGLM",
    "DaskPriorGLMResults",
    "DaskPriorRidge",
    "DaskPriorRidgeResults",
    "check_separation",
    "free_hat_diag",
    "free_loocv",
    "from_formula",
    "handles",
    "is_dask",
    "model_class",
    "predict",
    "refine",
]
