"""``fit()`` never changes the model: its ``__dict__`` is the same, deep-compared, after.

A model holds data and options; every number of a fit lives in the results.
Each kind of model (linear, GLM, bounded, several penalties, Dask, from a
formula) is fitted at a fixed ``lam`` and with a criterion, and the model's
attributes are compared before and after, recursively (arrays and pandas
objects value by value, other objects attribute by attribute).

The one kind of key a fit may add is the value of a ``functools.cached_property``
of the model's class (the factorization of the data, say): computed on first
use, it is a function of the data alone, so it must equal, deep-compared,
the same property of a fresh model that was never fitted. Anything else new
(a cache of fits, a counter of passes) is a change.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import patsy
import pytest
import statsmodels.api as sm
from scipy import sparse

import priorreg as pr
from priorreg.separation import model_separation

#: Caches written by hand, not by ``functools.cached_property``, each a function
#: of the data alone formed on first use: ``_separation``, the separation check
#: of a GLM's data (priorreg.separation.model_separation).
HAND_CACHES = {"_separation"}


def _lazy(obj: Any) -> set[str]:
    """Names of the ``functools.cached_property`` attributes of ``obj``'s class."""
    return {
        name
        for klass in type(obj).__mro__
        for name, attr in vars(klass).items()
        if isinstance(attr, functools.cached_property)
    }


def _same(a: Any, b: Any, path: str, seen: set[tuple[int, int]], owner: Any = None) -> list[str]:
    """Where ``a`` (a copy taken before) and ``b`` (the object after) differ.

    ``owner`` is the object whose ``vars()`` ``b`` is: keys it gains that are
    its cached properties are not compared (the caller compares them).
    """
    if (id(a), id(b)) in seen:
        return []
    seen.add((id(a), id(b)))
    if type(a) is not type(b):
        return [f"{path}: {type(a).__name__} -> {type(b).__name__}"]
    if isinstance(a, np.ndarray):
        same = a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
        return [] if same else [f"{path}: array changed"]
    if isinstance(a, (pd.DataFrame, pd.Series, pd.Index)):
        return [] if a.equals(b) else [f"{path}: {type(a).__name__} changed"]
    if sparse.issparse(a):  # by value: scipy may sort a matrix's indices in place
        same = a.shape == b.shape and (a != b).nnz == 0
        return [] if same else [f"{path}: sparse matrix changed"]
    if isinstance(a, patsy.DesignInfo):  # a deep copy of a Design rebuilds its infos
        same = a.column_names == b.column_names and a.describe() == b.describe()
        return [] if same else [f"{path}: design info changed"]
    if isinstance(a, dict):
        new = b.keys() - a.keys() - (_lazy(owner) if owner is not None else set())
        if a.keys() - b.keys() or new:
            return [f"{path}: keys {sorted(map(str, a.keys() ^ b.keys()))} added or removed"]
        return [d for k in a for d in _same(a[k], b[k], f"{path}[{k!r}]", seen)]
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} -> {len(b)}"]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in _same(x, y, f"{path}[{i}]", seen)]
    if hasattr(a, "__dask_graph__"):  # a Dask collection: the same graph is the same data
        return [] if a.__dask_tokenize__() == b.__dask_tokenize__() else [f"{path}: changed"]
    if hasattr(a, "__dict__") and not callable(a):
        return _same(vars(a), vars(b), f"{path}.", seen, owner=b)
    if isinstance(a, (int, float, complex, str, bytes, bool, type(None))):
        return [] if a == b or (a != a and b != b) else [f"{path}: {a!r} -> {b!r}"]
    return []  # functions, classes, families' link objects: compared through their owner


def _changes(model: Any, fit: Any, fresh: Any = None) -> list[str]:
    """How ``fit(model)`` changed the model.

    Values the fit caches on the model (its cached properties, and the
    :data:`HAND_CACHES`) must equal those of ``fresh()``, an unfitted twin,
    which computes them from the data alone; inside them, further cached
    properties may be filled in.
    """
    before = copy.deepcopy(vars(model))
    fit(model)
    after = dict(vars(model))
    changes = []
    cached = (_lazy(model) | HAND_CACHES) if fresh is not None else set()
    for key in sorted(cached & after.keys()):
        if key in before and not _same(before[key], after[key], key, set()):
            continue  # unchanged: compared below
        value = after.pop(key)
        before.pop(key, None)
        twin = fresh()
        if key == "_separation":
            model_separation(twin)
        expected = vars(twin)[key] if key in HAND_CACHES else getattr(twin, key)
        changes += _same(expected, value, f"model.{key} (cached)", set(), owner=value)
    return changes + _same(before, after, "model.", set(), owner=model)


def _data(n: int = 120, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    X = sm.add_constant(rng.normal(size=(n, 3)))
    eta = X @ [0.3, 0.5, -0.4, 0.6]
    frame = pd.DataFrame(X[:, 1:], columns=["x1", "x2", "x3"])
    frame["y"] = eta + rng.normal(size=n)
    frame["count"] = rng.poisson(np.exp(eta))
    return {"X": X, "y": frame["y"].to_numpy(), "count": frame["count"].to_numpy(), "frame": frame}


D = _data()
PRIOR = [0.0, 0.4, -0.3, 0.0]
TWO = [np.array([0.0, 1, 1, 0]), np.array([0.0, 0, 0, 1])]  # two penalty components


def _dask(a: np.ndarray) -> Any:
    return da.from_array(a, chunks=(40, *a.shape[1:]))


MODELS = {
    "linear": lambda: pr.PriorRidge(D["y"], D["X"], prior=PRIOR, weights=np.linspace(1, 2, 120)),
    "linear formula": lambda: pr.PriorRidge.from_formula("y ~ x1 + x2 + x3", D["frame"]),
    "GLM": lambda: pr.PriorGLM(D["count"], D["X"], sm.families.Poisson(), prior=PRIOR),
    "GLM formula": lambda: pr.PriorGLM.from_formula(
        "count ~ x1 + x2 + x3", D["frame"], family=sm.families.Poisson()
    ),
    "bounded linear": lambda: pr.PriorRidge(D["y"], D["X"], bounds="nonnegative"),
    "bounded GLM": lambda: pr.PriorGLM(
        D["count"], D["X"], sm.families.Poisson(), bounds={"x2": (0.0, None)}
    ),
    "several penalties, linear": lambda: pr.PriorRidge(D["y"], D["X"], penalty=TWO),
    "several penalties, GLM": lambda: pr.PriorGLM(
        D["count"], D["X"], sm.families.Poisson(), penalty=TWO
    ),
    "Dask linear": lambda: pr.PriorRidge(_dask(D["y"]), _dask(D["X"]), prior=PRIOR),
    "Dask GLM": lambda: pr.PriorGLM(
        _dask(D["count"].astype(float)), _dask(D["X"]), sm.families.Poisson(), prior=PRIOR
    ),
    "Dask formula": lambda: pr.PriorRidge.from_formula(
        "y ~ x1 + x2 + x3", dd.from_pandas(D["frame"], npartitions=3, sort=False)
    ),
}
FIXED = {"several penalties, linear": [2.0, 5.0], "several penalties, GLM": [2.0, 5.0]}


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("lam", ["fixed", "gcv", "reml"])
def test_fit_leaves_the_model_as_it_was(kind, lam):
    model = MODELS[kind]()
    value = FIXED.get(kind, 3.0) if lam == "fixed" else lam
    assert _changes(model, lambda m: m.fit(lam=value), MODELS[kind]) == []


def _own_linear(x01: float | None = None) -> Any:
    """The "linear" model on a copy of the data (``x01``: a changed value of it)."""
    X = D["X"].copy()
    if x01 is not None:
        X[0, 1] = x01
    return pr.PriorRidge(D["y"], X, prior=PRIOR)


def test_the_comparison_sees_a_change():
    """The check itself can fail: a cache left on the model, a changed array or option."""
    model = _own_linear()
    assert _changes(model, lambda m: setattr(m, "_points", {})) == [
        "model.: keys ['_points'] added or removed"
    ]
    changed = _changes(model, lambda m: m.exog.__setitem__((0, 1), 9.0))
    # exog is also the statsmodels data's orig_exog: the change is seen once
    assert len(changed) == 1
    assert "exog']: array changed" in changed[0]
    assert _changes(model, lambda m: setattr(m, "standardize", True)) == [
        "model.['standardize']: False -> True"
    ]
    dmodel = MODELS["Dask linear"]()  # its partitions are Dask objects: compared by token
    assert _changes(dmodel, lambda m: m.source.parts.__setitem__(0, m.source.parts[1])) == [
        "model.['source'].['parts'][0][0]: changed",
        "model.['source'].['parts'][0][1]: changed",
    ]


def test_a_cached_property_must_equal_the_fresh_model_s():
    """A lazily computed attribute passes only as the same function of the same data."""
    assert _changes(_own_linear(), lambda m: m.factor, _own_linear) == []
    changed = _changes(_own_linear(), lambda m: m.factor, lambda: _own_linear(x01=9.0))
    assert changed, "the factor of other data must differ"
    assert any(c.startswith("model.factor (cached)") for c in changed)
    assert all(" (cached)" in c for c in changed)  # the data and options are the same


def test_bounded_loocv_and_its_results_leave_the_model_as_it_was():
    """A LOOCV search and the results' leverages build free factors: none stays on the model."""

    def fit_and_read(m):
        res = m.fit(lam="loocv")
        assert np.isfinite(res.loocv)
        assert res.hat_diag.shape == (120,)

    kind = "bounded linear"
    assert _changes(MODELS[kind](), fit_and_read, MODELS[kind]) == []
