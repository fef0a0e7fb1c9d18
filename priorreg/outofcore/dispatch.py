"""Which model class handles which data: detect Dask collections, pick the Dask model.

Nothing here imports Dask unless given a Dask object, so ``import priorreg`` stays
free of it; the Dask model classes are imported when first asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from priorreg.glm import PriorGLM
from priorreg.linear import PriorRidge


def is_dask(obj: Any) -> bool:
    """``True`` for a Dask DataFrame, Series or Array (never imports Dask itself)."""
    if not type(obj).__module__.startswith("dask"):
        return False
    try:
        import dask.array as da
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - a dask object without dask
        return False
    return isinstance(obj, (dd.DataFrame, dd.Series, da.Array))


def model_class(cls: type) -> type:
    """The Dask counterpart of a model class (``PriorRidge`` or ``PriorGLM``)."""
    from priorreg.outofcore.glm import DaskPriorGLM
    from priorreg.outofcore.linear import DaskPriorRidge

    if issubclass(cls, (DaskPriorRidge, DaskPriorGLM)):
        return cls
    if issubclass(cls, PriorGLM):
        return DaskPriorGLM
    if issubclass(cls, PriorRidge):
        return DaskPriorRidge
    raise TypeError(f"{cls.__name__} has no Dask implementation")


def model_class_for(cls: type, args: Sequence[Any], kwargs: dict[str, Any]) -> type:
    """``cls``, or its Dask counterpart when ``endog`` or ``exog`` is a Dask collection.

    Used by ``PriorModel.__new__``, so that ``PriorRidge(dask_y, dask_X)``
    builds a :class:`DaskPriorRidge`.
    """
    data = [*args[:2], kwargs.get("endog"), kwargs.get("exog")]
    if any(is_dask(obj) for obj in data):
        return model_class(cls)
    return cls


def _require_dask() -> Any:
    try:
        import dask
        import dask.dataframe
    except ImportError as exc:  # pragma: no cover - exercised without dask
        raise ImportError(
            'fitting Dask data needs dask[dataframe]: pip install "priorreg[dask]"'
        ) from exc
    return dask
