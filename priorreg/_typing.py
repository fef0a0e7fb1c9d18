"""Array aliases and option types shared by the package."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # for the annotations only: pandas and dask are not imported here
    import pandas as pd
    from dask.dataframe import Series as DaskSeries

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike
Criterion = Literal["gcv", "loocv", "reml"]
CovType = Literal["bayes", "sandwich", "unconditional"]
Missing = Literal["none", "drop", "raise"]
AnyResults = Any
#: What a results object's ``predict`` gives: an array, a Series labelled by the
#: rows of a DataFrame, or a lazy Dask Series for Dask data.
Predicted = Union[FloatArray, "pd.Series", "DaskSeries"]  # strings: not imported here

__all__ = [
    "AnyResults",
    "ArrayLike",
    "CovType",
    "Criterion",
    "FloatArray",
    "Missing",
    "Predicted",
]
