"""Which model class handles which data: detect Dask collections, pick the Dask model.

Nothing here imports Dask unless given a Dask object, nor the models: the Dask
model classes are recorded by :mod:`priorreg.outofcore` when it is imported,
which the backend registry (:mod:`priorreg.backends`) does on first meeting
Dask data.
"""

from __future__ import annotations

from typing import Any

#: In-memory model class -> its Dask counterpart; filled by :mod:`priorreg.outofcore`.
_DASK_CLASSES: dict[type, type] = {}


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


def register_model(memory_class: type, dask_class: type) -> None:
    """Record ``dask_class`` as the Dask counterpart of ``memory_class`` (and its subclasses)."""
    _DASK_CLASSES[memory_class] = dask_class


def model_class(cls: type) -> type:
    """The Dask counterpart of a model class (``PriorRidge`` or ``PriorGLM``).

    The most derived registered in-memory class that ``cls`` extends decides;
    a Dask class is its own counterpart.
    """
    if issubclass(cls, tuple(_DASK_CLASSES.values())):
        return cls
    bases = [memory for memory in _DASK_CLASSES if issubclass(cls, memory)]
    if not bases:
        raise TypeError(f"{cls.__name__} has no Dask implementation")
    return _DASK_CLASSES[max(bases, key=lambda memory: len(memory.__mro__))]


def _require_dask() -> Any:
    try:
        import dask
        import dask.dataframe
    except ImportError as exc:  # pragma: no cover - exercised without dask
        raise ImportError(
            'fitting Dask data needs dask[dataframe]: pip install "priorreg[dask]"'
        ) from exc
    return dask
