"""Array aliases and option types shared by the package."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike
Criterion = Literal["gcv", "loocv", "reml"]
CovType = Literal["bayes", "sandwich", "unconditional"]
Missing = Literal["none", "drop", "raise"]
AnyResults = Any

__all__ = ["AnyResults", "ArrayLike", "CovType", "Criterion", "FloatArray", "Missing"]
