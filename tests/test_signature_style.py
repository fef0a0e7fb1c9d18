"""One signature style for both models and their results (issue 13).

- ``fit``: ``lam`` first, every other option keyword-only;
- an option both models take has the same name and default in both;
- ``fit``, ``predict``, ``get_prediction``, ``summary`` and ``refine`` state
  their return type (a class, not ``Any``), and the annotation resolves.
"""

from __future__ import annotations

import inspect
import typing

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from dask.dataframe import Series as DaskSeries

import priorreg as pr
from priorreg import _typing, glm_results, results
from priorreg.bounded_glm import BoundedPriorGLM
from priorreg.outofcore import DaskPriorGLM, DaskPriorRidge

MODELS = [pr.PriorRidge, pr.PriorGLM, BoundedPriorGLM, DaskPriorRidge, DaskPriorGLM]
RESULTS = [results.PriorRidgeResults, glm_results.PriorGLMResults]
#: Names the annotations use (some are imported for type checkers only).
NAMES = {
    **vars(_typing),
    **vars(results),
    **vars(glm_results),
    "pd": pd,
    "DaskSeries": DaskSeries,
}


@pytest.mark.parametrize("cls", MODELS)
def test_fit_takes_lam_then_keyword_only_options(cls):
    params = list(inspect.signature(cls.fit).parameters.values())[1:]  # less self
    assert params[0].name == "lam"
    assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert params[1:], "fit has options after lam"
    positional = [p.name for p in params[1:] if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert positional == []


def _options(func):
    return {
        p.name: p.default
        for p in list(inspect.signature(func).parameters.values())[1:]
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    }


def test_options_both_models_take_have_one_name_and_default():
    ridge, glm = _options(pr.PriorRidge.fit), _options(pr.PriorGLM.fit)
    shared = ridge.keys() & glm.keys()
    assert shared == {"lam", "lams", "cov_type", "disp"}
    assert {k: ridge[k] for k in shared} == {k: glm[k] for k in shared}
    ridge_p, glm_p = (inspect.signature(m.fit).parameters for m in (pr.PriorRidge, pr.PriorGLM))
    assert {k: ridge_p[k].annotation for k in shared} == {k: glm_p[k].annotation for k in shared}
    # the model options: both take a prior, a penalty and bounds by the same names
    ridge, glm = _options(pr.PriorRidge.__init__), _options(pr.PriorGLM.__init__)
    assert {"prior", "penalty", "standardize", "missing", "offset", "bounds"} <= (
        ridge.keys() & glm.keys()
    )
    shared = ridge.keys() & glm.keys() - {"endog"}
    assert {k: ridge[k] for k in shared} == {k: glm[k] for k in shared}


def _returns(func):
    hint = typing.get_type_hints(func, globalns={**func.__globals__, **NAMES})
    return hint["return"]


@pytest.mark.parametrize(
    ("cls", "method"),
    [(m, "fit") for m in (pr.PriorRidge, pr.PriorGLM, DaskPriorRidge, DaskPriorGLM)]
    + [(m, "predict") for m in (pr.PriorRidge, pr.PriorGLM)]
    + [(r, name) for r in RESULTS for name in ("predict", "get_prediction", "summary", "refine")],
)
def test_public_methods_state_their_return_type(cls, method):
    func = getattr(cls, method)
    annotation = inspect.signature(func).return_annotation
    assert annotation not in (inspect.Signature.empty, "Any", typing.Any)
    resolved = _returns(func)
    assert resolved is not typing.Any
    args = typing.get_args(resolved) or (resolved,)
    assert all(a is not typing.Any for a in args)


def _classes(hint):
    """The runtime classes a resolved annotation allows."""
    return tuple(typing.get_origin(a) or a for a in (typing.get_args(hint) or (hint,)))


def test_what_the_methods_return_is_what_they_say():
    rng = np.random.default_rng(0)
    X = sm.add_constant(rng.normal(size=(40, 2)))
    y = X @ [1.0, 0.5, -0.5] + rng.normal(size=40)
    res = pr.PriorRidge(y, X).fit(lam=1.0)
    assert isinstance(res, _classes(_returns(pr.PriorRidge.fit)))
    assert isinstance(res.predict(X[:3]), _classes(_returns(results.PriorRidgeResults.predict)))
    glm = pr.PriorGLM(rng.poisson(np.exp(X @ [0.1, 0.2, -0.2])), X, sm.families.Poisson())
    gres = glm.fit(lam=1.0)
    assert isinstance(gres, _classes(_returns(pr.PriorGLM.fit)))
    assert isinstance(gres.summary(), _classes(_returns(results.PriorRidgeResults.summary)))
    assert isinstance(gres.predict(), _classes(_returns(glm_results.PriorGLMResults.predict)))
    gpred = gres.get_prediction(X[:3])
    assert isinstance(gpred, _classes(_returns(glm_results.PriorGLMResults.get_prediction)))


def test_get_prediction_takes_transform_as_predict_does_and_nothing_unknown():
    """Rows of the design matrix (transform=False) give the predictions of predict()."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=30), "z": rng.normal(size=30)})
    frame["y"] = 1.0 + frame.x - frame.z + rng.normal(size=30)
    frame["n"] = rng.poisson(np.exp(0.2 + 0.3 * frame.x))
    rows = np.array([[1.0, 0.5, -1.0], [1.0, -2.0, 0.0]])  # Intercept, x, z
    fits = [
        pr.PriorRidge.from_formula("y ~ x + z", frame).fit(lam=1.0),
        pr.PriorGLM.from_formula("n ~ x + z", frame, family=sm.families.Poisson()).fit(lam=1.0),
    ]
    for res in fits:
        pred = res.get_prediction(rows, transform=False)
        # the same rows times the same params: k-term sums, eps k |terms| ~ 1e-15; 10x margin
        np.testing.assert_allclose(
            pred.predicted_mean, res.predict(rows, transform=False), rtol=1e-13, atol=0
        )
        with pytest.raises(TypeError, match="unexpected keyword"):
            res.get_prediction(rows, which="linear")


def _kinds():
    import dask.array as da

    rng = np.random.default_rng(2)
    X = sm.add_constant(rng.normal(size=(60, 2)))
    y = X @ [1.0, 0.5, -0.5] + rng.normal(size=60)
    counts = rng.poisson(np.exp(X @ [0.2, 0.3, -0.3])).astype(float)
    two = [np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])]
    return [
        (pr.PriorRidge(y, X, bounds="nonnegative"), 1.0),
        (pr.PriorRidge(y, X, penalty=two), [1.0, 2.0]),
        (pr.PriorRidge(da.from_array(y, chunks=20), da.from_array(X, chunks=(20, 3))), 1.0),
        (pr.PriorGLM(counts, X, sm.families.Poisson(), bounds="nonnegative"), 1.0),
        (pr.PriorGLM(counts, X, sm.families.Poisson(), penalty=two), [1.0, 2.0]),
        (
            pr.PriorGLM(
                da.from_array(counts, chunks=20),
                da.from_array(X, chunks=(20, 3)),
                sm.families.Poisson(),
            ),
            1.0,
        ),
    ]


def test_every_model_kind_returns_the_wrapper_fit_names():
    for model, lam in _kinds():
        family = pr.PriorGLM if isinstance(model, pr.PriorGLM) else pr.PriorRidge
        assert isinstance(model.fit(lam=lam), _classes(_returns(family.fit))), type(model)
