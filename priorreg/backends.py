"""Which backend serves which data: a registry at the bottom of the package.

The in-memory models and results never import a backend. A backend (the Dask
one, :mod:`priorreg.outofcore`) is registered by the path of its module and
the top-level packages whose objects it may handle, so that registering it
imports neither the backend nor its library: ``import priorreg`` stays free of
Dask. The backend's module is imported the first time an object of one of
those packages is met, and decides with its ``handles(data)``.

A backend module provides:

``handles(data) -> bool``
    Whether it serves ``data`` (e.g. a Dask DataFrame, Series or Array).
``model_class(cls) -> type``
    Its counterpart of the in-memory model class ``cls``.
``from_formula(cls, formula, data, env, **options)``
    The model of ``cls.from_formula`` on ``data``.
``predict(results, exog, **options)``, ``refine(results, newdata, **options)``
    ``results.predict`` and ``results.refine`` on its data.
``check_separation(model)``, ``free_loocv(model, fit)``, ``free_hat_diag(model, fit)``
    The passes over its data that in-memory code runs on arrays.

Options that select another model class (``bounds=`` turns ``PriorGLM`` into
the bounded GLM) are registered the same way, by module path and function
name, so the base model does not import the classes built on it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = [
    "Backend",
    "backend_for",
    "backend_of",
    "model_class",
    "register",
    "register_variant",
    "registered",
]


@dataclass(frozen=True)
class Backend:
    """A backend: its name, module path and the packages of the data it may serve.

    Parameters
    ----------
    name : str
        E.g. ``"dask"``.
    module : str
        The module implementing the backend, imported on first use.
    data_packages : tuple of str
        Top-level packages (``type(data).__module__``'s first part) of the
        objects it may serve; other objects are never shown to it, so no
        backend is imported for in-memory data.
    """

    name: str
    module: str
    data_packages: tuple[str, ...]

    def implementation(self) -> ModuleType:
        """The backend's module (imported on first use)."""
        return importlib.import_module(self.module)

    def handles(self, data: Any) -> bool:
        """Whether the backend serves ``data`` (imports it only for its own packages)."""
        package = type(data).__module__.partition(".")[0]
        if package not in self.data_packages:
            return False
        return bool(self.implementation().handles(data))

    def owns(self, obj: Any) -> bool:
        """Whether the class of ``obj`` is, or extends, a class of the backend's modules."""
        return any(
            cls.__module__ == self.module or cls.__module__.startswith(self.module + ".")
            for cls in type(obj).__mro__
        )


_BACKENDS: list[Backend] = []
_VARIANTS: dict[str, tuple[str, str]] = {}


def register(name: str, module: str, data_packages: Sequence[str]) -> Backend:
    """Register a backend by module path; nothing is imported.

    Parameters
    ----------
    name : str
        The backend's name; registering a name again replaces it.
    module : str
        Path of the module implementing the backend (see the module docstring).
    data_packages : sequence of str
        Top-level packages of the data objects it may serve.

    Returns
    -------
    Backend
    """
    backend = Backend(name, module, tuple(data_packages))
    _BACKENDS[:] = [b for b in _BACKENDS if b.name != name]
    _BACKENDS.append(backend)
    return backend


def registered() -> tuple[Backend, ...]:
    """The registered backends, in the order they are asked."""
    return tuple(_BACKENDS)


def backend_for(*data: Any) -> Backend | None:
    """The first registered backend that serves any of ``data`` (``None``: in memory)."""
    for backend in _BACKENDS:
        if any(backend.handles(obj) for obj in data if obj is not None):
            return backend
    return None


def backend_of(obj: Any) -> ModuleType:
    """The implementation of the backend whose classes built ``obj`` (a model).

    A subclass of a backend's class (e.g. a user's ``DaskPriorRidge``
    subclass) belongs to that backend too.

    Raises
    ------
    TypeError
        When no registered backend defines ``type(obj)``.
    """
    for backend in _BACKENDS:
        if backend.owns(obj):
            return backend.implementation()
    raise TypeError(
        f"{type(obj).__name__} belongs to no registered backend; pass in-memory arrays "
        "or data of a registered backend (e.g. a Dask DataFrame)"
    )


def register_variant(option: str, module: str, function: str) -> None:
    """Register ``module.function(cls, value) -> type``: the class for ``option=value``.

    E.g. ``bounds=`` maps ``PriorGLM`` to the bounded GLM; the function is
    imported when a model is first built with the option.
    """
    _VARIANTS[option] = (module, function)


def model_class(cls: type, args: Sequence[Any], kwargs: Mapping[str, Any]) -> type:
    """The class that serves ``cls(*args, **kwargs)``.

    The backend of ``endog``/``exog`` (given by position or keyword) picks its
    counterpart of ``cls``; then each registered option given in ``kwargs``
    (e.g. ``bounds``) may pick a subclass.
    """
    data = [*args[:2], kwargs.get("endog"), kwargs.get("exog")]
    backend = backend_for(*data)
    if backend is not None:
        cls = backend.implementation().model_class(cls)
    for option, (module, function) in _VARIANTS.items():
        if option in kwargs:
            variant: Callable[[type, Any], type] = getattr(
                importlib.import_module(module), function
            )
            cls = variant(cls, kwargs[option])
    return cls
