"""One factorization, the whole penalty path (see :mod:`priorreg.linalg.path`)."""

from __future__ import annotations

from priorreg.linalg.path import PathFactor, SingularSystemError, factorize, factorize_triangular
from priorreg.linalg.path import _log_pdet as _log_pdet  # for priorreg.glm_search
from priorreg.linalg.path import _rank as _rank

__all__ = ["PathFactor", "SingularSystemError", "factorize", "factorize_triangular"]
