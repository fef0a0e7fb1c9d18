"""Attributes of an unscanned Dask model: only the scan's own names read the data.

A ``PriorGLM.from_formula`` model on Dask data is built without a pass; its
scan rides on the first fit's first pass, or is made on first use of an
attribute it sets (``priorreg.outofcore.model.SCAN_ATTRIBUTES``). Any other
name (a typo, or what ``hasattr``, ``copy``, ``pickle``, numpy, scikit-learn
and IPython probe) must raise ``AttributeError`` without a pass.

Passes are counted by the labels of every ``dask.compute`` the models make
(``passes._compute``). Oracles: the pass labels of a fit that folds the scan
into its first IRLS pass (``tests/test_dask_first_pass.py``), pandas' count of
the complete rows, the in-memory model on the same rows, statsmodels' Newton
step for how far apart two estimates of one penalized MLE may be, and the
model's own ``__dict__`` before and after its scan.
"""

from __future__ import annotations

import copy
import pickle
import re

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from bounds import MARGIN, glm_newton_step
from sklearn.base import clone

import priorreg as pr
from priorreg.outofcore.model import SCAN_ATTRIBUTES, _DaskModel

F = sm.families
FORMULA = "y ~ x1 + x2"
PRIOR = {"Intercept": 0.1, "x1": 0.25, "x2": 0.0}  # b0 != 0: the scan rides on the start
#: a typo, then what hasattr-style probes ask: IPython's display formatters,
#: pandas' type checks, scikit-learn's clone, numpy's array conversion, sized
#: and iterable checks
PROBES = (
    "nbos",
    "exog_name",
    "_typ",
    "_repr_html_",
    "_repr_mimebundle_",
    "_ipython_display_",
    "_ipython_canary_method_should_not_exist_",
    "get_params",
    "__sklearn_clone__",
    "__array__",
    "__array_interface__",
    "__len__",
    "__iter__",
    "__setstate__",
)
#: properties computed from the scan's attributes (they make the scan through them)
SCAN_PROPERTIES = ("exog_names", "endog_names", "penalty_matrix", "penalty_weights")


pytestmark = pytest.mark.usefixtures("synchronous")  # tests/conftest.py


def _frame(n=900, seed=21):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    df["y"] = rng.poisson(np.exp(0.3 + 0.4 * df["x1"] - 0.2 * df["x2"])).astype(float)
    df.loc[[4, 333], "x2"] = np.nan  # two dropped rows
    return df


def _dask(df):
    return dd.from_pandas(df, npartitions=3, sort=False)


def _glm(data, **kw):
    return pr.PriorGLM.from_formula(FORMULA, data, family=F.Poisson(), prior=PRIOR, **kw)


def _ridge(data, **kw):
    return pr.PriorRidge.from_formula(FORMULA, data, prior=PRIOR, **kw)


def _irls_passes(res):
    """A fit's passes when the scan rides on its first: one per IRLS point."""
    return [f"IRLS pass {i}" for i in range(1, res.iterations + 2)]


def _assert_probes_read_nothing(model, labels):
    before = list(labels)
    for name in PROBES:
        assert not hasattr(model, name), name
        with pytest.raises(AttributeError, match=rf"has no attribute '{re.escape(name)}'"):
            getattr(model, name)
    assert labels == before


def _same_mle(res, ref, lam):
    """Two estimates of one penalized MLE: within 10x their Newton steps (statsmodels)."""
    memory = ref.model
    kw = {"lam": lam, "L": memory.penalty_matrix, "b0": memory.prior_values}
    radius = sum(
        float(np.linalg.norm(glm_newton_step(memory.family, memory.exog, memory.endog, b, **kw)[0]))
        for b in (np.asarray(res.params), np.asarray(ref.params))
    )
    assert np.linalg.norm(np.asarray(res.params) - np.asarray(ref.params)) <= MARGIN * radius


# ------------------------------------------------------------ unknown names
def test_an_unknown_name_on_a_formula_glm_reads_no_data(labels):
    """Before the fit, after it, and on the fit's model: AttributeError, no pass."""
    model = _glm(_dask(_frame()))
    assert labels == []  # built without a pass
    _assert_probes_read_nothing(model, labels)
    # the model is still unscanned: its fit folds the scan into its first pass
    res = model.fit(lam=1.5)
    assert labels == _irls_passes(res)
    assert not model._scanned_apart
    labels.clear()
    _assert_probes_read_nothing(model, labels)
    _assert_probes_read_nothing(res.model, labels)
    assert labels == []


def test_an_unknown_name_on_a_formula_ridge_reads_no_data(labels):
    """The linear model scans when built (its TSQR factor); then no name makes a pass."""
    model = _ridge(_dask(_frame()))
    assert len(labels) >= 1  # its scan, at construction
    labels.clear()
    _assert_probes_read_nothing(model, labels)
    res = model.fit(lam=1.5)
    labels.clear()
    _assert_probes_read_nothing(model, labels)
    _assert_probes_read_nothing(res.model, labels)
    assert labels == []


def test_library_probes_on_an_unscanned_glm_read_no_data(labels):
    """numpy, pandas, copy, deepcopy, sklearn's clone, pickle, repr: no pass, still unscanned."""
    df = _frame()
    model = _glm(_dask(df))
    assert not pd.isna(model)  # pandas probes _typ
    wrapped = np.asarray(model, dtype=object)  # numpy probes __array__, __array_interface__, ...
    assert wrapped.shape == ()
    assert wrapped.item() is model
    copies = [
        copy.copy(model),
        copy.deepcopy(model),
        clone(model, safe=False),  # probes get_params, then deep-copies
        pickle.loads(pickle.dumps(model)),
    ]
    assert type(model).__name__ in repr(model)
    assert labels == []
    # each copy is unscanned too (its fit folds the scan) and is the same model
    ref = _glm(df).fit(lam=1.5)
    for other in [model, *copies]:
        labels.clear()
        res = other.fit(lam=1.5)
        assert labels == _irls_passes(res)
        assert other.nobs == len(df.dropna())
        assert other.exog_names == ref.model.exog_names
        _same_mle(res, ref, 1.5)


# ------------------------------------------------------------ scan attributes
@pytest.mark.parametrize("name", sorted(SCAN_ATTRIBUTES) + list(SCAN_PROPERTIES))
def test_a_scan_attribute_read_before_the_fit_scans_once(labels, name):
    """One pass for the first read; none for the others; the fit then makes no scan."""
    df = _frame()
    model = _glm(_dask(df))
    getattr(model, name)
    assert labels == ["scan the data"]
    assert model._scanned_apart
    for other in sorted(SCAN_ATTRIBUTES) + list(SCAN_PROPERTIES):
        getattr(model, other)
    assert labels == ["scan the data"]
    assert model.nobs == len(df.dropna())
    assert model.n_dropped == len(df) - len(df.dropna())
    labels.clear()
    res = model.fit(lam=1.5)
    assert labels == _irls_passes(res)


def _fitted(model):
    """The model after its first fit (which folds the scan into its first pass)."""
    model.fit(lam=1.5)
    assert not model._scanned_apart
    return model


def _variants(df):
    """Models of every setup branch: deferred or not, formula or arrays, GLM or linear."""
    ddf = _dask(df)
    clean = df.dropna()
    X = sm.add_constant(clean[["x1", "x2"]].to_numpy())
    dx = dd.from_pandas(pd.DataFrame(X), npartitions=3, sort=False).to_dask_array(lengths=True)
    dy = dd.from_pandas(clean["y"], npartitions=3, sort=False).to_dask_array(lengths=True)
    several = {"first": ["x1"], "second": ["x2"]}
    return {
        "glm": lambda: _glm(ddf),
        "glm, standardized": lambda: _glm(ddf, standardize=True),
        "glm, bounds": lambda: _glm(ddf, bounds={"x1": (0.0, None)}),
        "glm, scan in its fit's first pass": lambda: _fitted(_glm(ddf)),
        "glm, information": lambda: pr.PriorGLM.from_formula(
            FORMULA, ddf, family=F.Poisson(), prior=_glm(df).fit(lam=1.0), penalty="information"
        ),
        "glm, several penalties": lambda: pr.PriorGLM.from_formula(
            FORMULA, ddf, family=F.Poisson(), penalty=several
        ),
        "glm, arrays": lambda: pr.PriorGLM(dy, dx, family=F.Poisson(), prior=[0.1, 0.25, 0.0]),
        "ridge": lambda: _ridge(ddf),
        "ridge, standardized": lambda: _ridge(ddf, standardize=True),
        "ridge, several penalties": lambda: pr.PriorRidge.from_formula(
            FORMULA, ddf, penalty=several
        ),
        "ridge, arrays": lambda: pr.PriorRidge(dy, dx, prior=[0.1, 0.25, 0.0]),
    }


def test_the_scan_sets_exactly_the_listed_attributes(monkeypatch):
    """What every scan adds to a model's ``__dict__`` is in SCAN_ATTRIBUTES; the GLM's is all of it.

    So a scan attribute added without listing it (which would read as missing
    before the scan, with no scan made) fails here, and so does a listed name
    the scan no longer sets. The linear model sets a subset: ``wnobs`` and
    ``_y_mean`` are the GLM's (its ``_scanned``), and a linear model is
    scanned when it is built, so it never scans on an attribute.
    """
    added: dict[str, set[str]] = {}
    original = _DaskModel._apply_scan
    current = [""]

    def recording(self, scan):
        before = set(self.__dict__)
        original(self, scan)
        added.setdefault(current[0], set()).update(set(self.__dict__) - before)

    monkeypatch.setattr(_DaskModel, "_apply_scan", recording)
    for name, make in _variants(_frame()).items():
        current[0] = name
        model = make()
        if model.__dict__.get("_pending") is not None:
            model._scan_now()
    assert set(added) == set(_variants(_frame()))  # every variant scanned
    for name, names in added.items():
        unlisted = sorted(names - SCAN_ATTRIBUTES)
        assert not unlisted, f"{name}: list {unlisted} in outofcore.model.SCAN_ATTRIBUTES"
    for name in ("glm", "glm, scan in its fit's first pass", "glm, several penalties"):
        stale = sorted(SCAN_ATTRIBUTES - added[name])
        assert not stale, f"{name}: the scan no longer sets {stale}"
    assert added["ridge"] == SCAN_ATTRIBUTES - {"wnobs", "_y_mean"}
